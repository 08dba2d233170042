//! `create-table`: write `schema/schema-0` as Java Paimon does (`SchemaSerializer`).

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::format::ids::SchemaId;
use crate::format::jackson;
use crate::format::types::{DataType, TypeRoot};
use crate::io::{CreateOutcome, TableStore};
use crate::table::layout::schema_key;
use crate::table::Table;

/// A table to create.
#[derive(Debug, Clone, Default)]
pub struct TableSpec {
    /// Columns in order: name and type.
    pub columns: Vec<(String, DataType)>,
    /// Partition columns, in partition-path order.
    pub partition_keys: Vec<String>,
    /// Primary-key columns (empty: an append-only table).
    pub primary_keys: Vec<String>,
    /// Table options (Paimon `CoreOptions` keys), stored as given.
    pub options: Vec<(String, String)>,
    /// Table comment.
    pub comment: Option<String>,
}

impl TableSpec {
    /// Check the spec the way Paimon's `SchemaValidation` does for what we support.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if self.columns.is_empty() {
            return bad("a table needs at least one column (--column NAME:TYPE)".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, t) in &self.columns {
            if name.is_empty() || name.trim() != name {
                return bad(format!("invalid column name {name:?}"));
            }
            if !seen.insert(name.as_str()) {
                return bad(format!("column '{name}' is defined twice"));
            }
            if let TypeRoot::Other(raw) = &t.root {
                return bad(format!("column '{name}': unknown type {raw}"));
            }
        }
        for key in self.partition_keys.iter().chain(&self.primary_keys) {
            if !seen.contains(key.as_str()) {
                return bad(format!("key column '{key}' is not a column"));
            }
        }
        if !self.primary_keys.is_empty() {
            for p in &self.partition_keys {
                if !self.primary_keys.contains(p) {
                    return bad(format!(
                        "the primary key must include every partition column; '{p}' is missing"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The schema JSON, in Java's key order and layout. Primary-key columns become NOT NULL, as
    /// Paimon does.
    pub fn encode(&self, time_millis: i64) -> Vec<u8> {
        let fields: Vec<Value> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, t))| {
                let mut t = t.clone();
                if self.primary_keys.contains(name) {
                    t.nullable = false;
                }
                json!({"id": i, "name": name, "type": t.sql()})
            })
            .collect();
        let options: Map<String, Value> = self
            .options
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut root = Map::new();
        root.insert("version".into(), json!(3));
        root.insert("id".into(), json!(0));
        root.insert("fields".into(), Value::Array(fields));
        root.insert(
            "highestFieldId".into(),
            json!(self.columns.len() as i64 - 1),
        );
        root.insert("partitionKeys".into(), json!(self.partition_keys));
        root.insert("primaryKeys".into(), json!(self.primary_keys));
        root.insert("options".into(), Value::Object(options));
        if let Some(c) = &self.comment {
            root.insert("comment".into(), json!(c));
        }
        root.insert("timeMillis".into(), json!(time_millis));
        jackson::to_pretty_string(&Value::Object(root)).into_bytes()
    }
}

/// Create a table: `schema/schema-0` written with a conditional create. A table that exists
/// already (any schema file) is an error.
pub async fn create_table(store: TableStore, spec: &TableSpec, time_millis: i64) -> Result<Table> {
    spec.validate()?;
    let table = Table::new(store);
    if !table.schema_ids().await?.is_empty() {
        return Err(Error::AlreadyExists {
            path: format!("{} (a table exists there)", table.location()),
        });
    }
    let key = schema_key(SchemaId(0));
    match table
        .store()
        .put_create(&key, Bytes::from(spec.encode(time_millis)))
        .await?
    {
        CreateOutcome::Created => Ok(table),
        CreateOutcome::AlreadyExists => Err(Error::AlreadyExists { path: key }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::schema::TableSchema;

    fn spec() -> TableSpec {
        TableSpec {
            columns: vec![
                ("id".into(), DataType::parse("BIGINT").unwrap()),
                ("dt".into(), DataType::parse("STRING").unwrap()),
            ],
            partition_keys: vec!["dt".into()],
            primary_keys: vec![],
            options: vec![("bucket".into(), "-1".into())],
            comment: None,
        }
    }

    #[test]
    fn encodes_like_java_and_decodes() {
        let bytes = spec().encode(1_700_000_000_000);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("{\n  \"version\" : 3,\n  \"id\" : 0,\n  \"fields\" : [ {"),
            "{text}"
        );
        assert!(!text.contains("comment"));
        let s = TableSchema::decode(&bytes, "schema/schema-0").unwrap();
        assert_eq!(
            (s.highest_field_id, s.partition_keys.clone()),
            (1, vec!["dt".to_string()])
        );
    }

    #[test]
    fn validation_errors() {
        let mut s = spec();
        s.partition_keys = vec!["nope".into()];
        assert!(s.validate().unwrap_err().to_string().contains("'nope'"));
        let mut s = spec();
        s.primary_keys = vec!["id".into()];
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("'dt' is missing"));
        let mut s = spec();
        s.columns
            .push(("id".into(), DataType::parse("INT").unwrap()));
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("defined twice"));
    }

    #[tokio::test]
    async fn refuses_an_existing_table() {
        let store = TableStore::in_memory("t");
        create_table(store.clone(), &spec(), 1).await.unwrap();
        let err = create_table(store, &spec(), 2).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    }
}
