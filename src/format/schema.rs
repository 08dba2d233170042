//! Table schema JSON (`schema/schema-N`, Java `SchemaSerializer`).

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::format::ids::SchemaId;
use crate::format::snapshot::{json_kind, Fields};
use crate::format::types::{DataType, RowField};

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

    /// For the tag commands (create, replace, delete, expire, auto-tag), which mirror tags as
    /// Iceberg refs the way Java's `IcebergCommitCallback` does: `true` when the table keeps
    /// Iceberg-compatible metadata in its own `metadata/` (`metadata.iceberg.storage =
    /// table-location`), so each tag change must edit it; `false` without Iceberg metadata.
    /// Metadata kept elsewhere (a catalog's location) is refused as
    /// [`refuse_iceberg_compat`](Self::refuse_iceberg_compat) does.
    pub fn iceberg_tag_refs(&self, command: &str) -> Result<bool> {
        let storage = self.option("metadata.iceberg.storage");
        let location = self.option("metadata.iceberg.storage-location");
        match (storage, location) {
            (None, _) => Ok(false),
            (Some(v), _) if v.eq_ignore_ascii_case("disabled") => Ok(false),
            (Some(v), None) if v.eq_ignore_ascii_case("table-location") => Ok(true),
            (Some(v), Some(l))
                if v.eq_ignore_ascii_case("table-location")
                    && l.eq_ignore_ascii_case("table-location") =>
            {
                Ok(true)
            }
            (Some(v), _) => Err(Error::Unsupported(format!(
                "{command}: the table keeps Iceberg-compatible metadata outside the table \
                 (metadata.iceberg.storage = {v}); tagkeeper updates only metadata kept in the \
                 table's own metadata/ (table-location); run it through Java Paimon (Flink or \
                 Spark procedures), whose callbacks keep the Iceberg metadata in step"
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
