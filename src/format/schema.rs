//! Table schema JSON (`schema/schema-N`, Java `SchemaSerializer`).

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::format::ids::SchemaId;
use crate::format::snapshot::{json_kind, Fields};
use crate::format::types::{DataType, RowField};

/// Where a table keeps its Iceberg-compatible metadata (see
/// [`TableSchema::iceberg_metadata_dir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcebergDir {
    /// `<table>/metadata`.
    Table,
    /// `<warehouse>/iceberg/<db>/<table>/metadata` (a Hadoop catalog's warehouse).
    Catalog,
}

/// A decoded table schema.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// Schema format version.
    pub version: i64,
    /// Schema id.
    pub id: SchemaId,
    /// Columns in order.
    pub fields: Vec<RowField>,
    /// Highest field id ever used.
    pub highest_field_id: i64,
    /// Partition columns, in partition-path order.
    pub partition_keys: Vec<String>,
    /// Primary-key columns (empty for append tables).
    pub primary_keys: Vec<String>,
    /// Table options, in file order.
    pub options: Vec<(String, String)>,
    /// Table comment.
    pub comment: Option<String>,
    /// When the schema was written (epoch ms), if recorded.
    pub time_millis: Option<i64>,
    raw: Map<String, Value>,
}

impl TableSchema {
    /// Decode schema JSON. `path` is used only in error messages.
    pub fn decode(bytes: &[u8], path: &str) -> Result<Self> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(path, format!("invalid JSON: {e}")))?;
        let Value::Object(raw) = value else {
            return Err(Error::corrupt(
                path,
                format!("expected a JSON object, found {}", json_kind(&value)),
            ));
        };
        let f = Fields { map: &raw, path };
        let fields = match raw.get("fields") {
            Some(Value::Array(items)) => items
                .iter()
                .map(RowField::from_json)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::corrupt(path, e))?,
            _ => return Err(Error::corrupt(path, "missing array 'fields'")),
        };
        let strings = |key: &str| -> Result<Vec<String>> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            Error::corrupt(path, format!("'{key}' must hold strings"))
                        })
                    })
                    .collect(),
                Some(_) => Err(Error::corrupt(path, format!("'{key}' must be an array"))),
            }
        };
        let options = match raw.get("options") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(o)) => o
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Ok((k.clone(), other.to_string())),
                })
                .collect::<Result<Vec<_>>>()?,
            Some(_) => return Err(Error::corrupt(path, "'options' must be an object")),
        };
        let schema = TableSchema {
            version: f.opt_i64("version")?.unwrap_or(1),
            id: SchemaId(f.req_i64("id")?),
            highest_field_id: f.opt_i64("highestFieldId")?.unwrap_or(-1),
            partition_keys: strings("partitionKeys")?,
            primary_keys: strings("primaryKeys")?,
            comment: f.opt_str("comment")?,
            time_millis: f.opt_i64("timeMillis")?,
            fields,
            options,
            raw,
        };
        for key in schema.partition_keys.iter().chain(&schema.primary_keys) {
            if schema.field(key).is_none() {
                return Err(Error::corrupt(
                    path,
                    format!("key column '{key}' is not a field of the schema"),
                ));
            }
        }
        Ok(schema)
    }

    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&RowField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Refuse `command` on a table with Iceberg-compatible metadata (`metadata.iceberg.storage`
    /// set to anything but `disabled`). Java keeps that metadata in step from its commit and tag
    /// callbacks; tagkeeper does not write it yet, and a tag, rollback or expiry it made would
    /// leave the Iceberg view stale (an Iceberg ref to an expired snapshot breaks every Iceberg
    /// query: Paimon #6425). Refusing keeps both views consistent until it does.
    pub fn refuse_iceberg_compat(&self, command: &str) -> Result<()> {
        match self.option("metadata.iceberg.storage") {
            None => Ok(()),
            Some(v) if v.eq_ignore_ascii_case("disabled") => Ok(()),
            Some(v) => Err(Error::Unsupported(format!(
                "{command}: the table keeps Iceberg-compatible metadata \
                 (metadata.iceberg.storage = {v}), which tagkeeper does not update yet; run it \
                 through Java Paimon (Flink or Spark procedures), whose callbacks keep the \
                 Iceberg metadata in step"
            ))),
        }
    }

    /// Where the table keeps Iceberg-compatible metadata that tagkeeper keeps in step (tag
    /// refs, rollback), as Java's `IcebergCommitCallback.catalogDatabasePath` places it:
    /// `None` without Iceberg metadata; the table's own `metadata/` for `metadata.iceberg.storage
    /// = table-location`; `<warehouse>/iceberg/<db>/<table>/metadata` for `hadoop-catalog`
    /// (`metadata.iceberg.storage-location` overrides either). Metadata that Java also
    /// registers in a catalog (`hive-catalog`, `rest-catalog`) is refused for `command`:
    /// tagkeeper does not update catalogs.
    pub fn iceberg_metadata_dir(&self, command: &str) -> Result<Option<IcebergDir>> {
        let Some(storage) = self.option("metadata.iceberg.storage") else {
            return Ok(None);
        };
        let default = match storage.to_ascii_lowercase().as_str() {
            "disabled" => return Ok(None),
            "table-location" => IcebergDir::Table,
            "hadoop-catalog" => IcebergDir::Catalog,
            _ => {
                return Err(Error::Unsupported(format!(
                    "{command}: the table keeps Iceberg-compatible metadata registered in a \
                     catalog (metadata.iceberg.storage = {storage}), which tagkeeper does not \
                     update (it updates table-location and hadoop-catalog metadata); run it \
                     through Java Paimon (Flink or Spark procedures), whose callbacks keep the \
                     Iceberg metadata in step"
                )))
            }
        };
        match self.option("metadata.iceberg.storage-location") {
            None => Ok(Some(default)),
            Some(l) if l.eq_ignore_ascii_case("table-location") => Ok(Some(IcebergDir::Table)),
            Some(l) if l.eq_ignore_ascii_case("catalog-location") => Ok(Some(IcebergDir::Catalog)),
            Some(l) => Err(Error::InvalidArgument(format!(
                "{command}: unknown metadata.iceberg.storage-location '{l}' (Java knows \
                 table-location and catalog-location)"
            ))),
        }
    }

    /// An option's value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Types of the partition columns, in partition order.
    pub fn partition_types(&self) -> Vec<DataType> {
        self.partition_keys
            .iter()
            .filter_map(|k| self.field(k).map(|f| f.data_type.clone()))
            .collect()
    }

    /// The JSON as read.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{
  "version" : 3,
  "id" : 0,
  "fields" : [ { "id" : 0, "name" : "dt", "type" : "STRING" }, { "id" : 1, "name" : "v", "type" : "BIGINT NOT NULL" } ],
  "highestFieldId" : 1,
  "partitionKeys" : [ "dt" ],
  "primaryKeys" : [ ],
  "options" : { "bucket" : "-1", "file.format" : "parquet" },
  "timeMillis" : 1700000000000
}"#;

    #[test]
    fn decodes_a_schema() {
        let s = TableSchema::decode(SCHEMA.as_bytes(), "schema/schema-0")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(s.id, SchemaId(0));
        assert_eq!(s.partition_keys, vec!["dt"]);
        assert_eq!(s.option("bucket"), Some("-1"));
        assert_eq!(s.partition_types().len(), 1);
        assert_eq!(s.fields[1].data_type.sql(), "BIGINT NOT NULL");
    }

    #[test]
    fn iceberg_metadata_is_placed_as_java_places_it() {
        let with = |opts: &str| {
            let json = SCHEMA.replace(
                "\"options\" : { \"bucket\" : \"-1\", \"file.format\" : \"parquet\" }",
                &format!("\"options\" : {{ {opts} }}"),
            );
            TableSchema::decode(json.as_bytes(), "s")
                .unwrap()
                .iceberg_metadata_dir("cmd")
        };
        let storage = |v: &str| format!("\"metadata.iceberg.storage\" : \"{v}\"");
        let located = |v: &str, l: &str| {
            format!(
                "{}, \"metadata.iceberg.storage-location\" : \"{l}\"",
                storage(v)
            )
        };
        assert_eq!(with("").unwrap(), None);
        assert_eq!(with(&storage("disabled")).unwrap(), None);
        assert_eq!(
            with(&storage("table-location")).unwrap(),
            Some(IcebergDir::Table)
        );
        assert_eq!(
            with(&storage("hadoop-catalog")).unwrap(),
            Some(IcebergDir::Catalog)
        );
        assert_eq!(
            with(&located("hadoop-catalog", "table-location")).unwrap(),
            Some(IcebergDir::Table)
        );
        assert_eq!(
            with(&located("table-location", "catalog-location")).unwrap(),
            Some(IcebergDir::Catalog)
        );
        for registered in ["hive-catalog", "rest-catalog"] {
            let e = with(&storage(registered)).unwrap_err().to_string();
            assert!(
                e.contains("registered in a catalog") && e.contains(registered),
                "{e}"
            );
        }
        let e = with(&located("table-location", "elsewhere"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'elsewhere'"), "{e}");
    }

    #[test]
    fn rejects_unknown_key_columns() {
        let bad = SCHEMA.replace(
            "\"partitionKeys\" : [ \"dt\" ]",
            "\"partitionKeys\" : [ \"nope\" ]",
        );
        let msg = TableSchema::decode(bad.as_bytes(), "schema/schema-0")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("'nope'"), "{msg}");
    }
}
