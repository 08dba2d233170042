//! Encode manifests and manifest lists as Java Paimon writes them: the same Avro schema (field
//! order, record names, nullable unions), codec `zstandard` at level 1, no extra header
//! metadata. DataFileMeta gains one trailing nullable field, `_COMMIT_SNAPSHOT`, which other
//! readers skip because they look fields up by name (paimon-format.md §4.1).

use std::sync::OnceLock;

use apache_avro::types::Value;
use apache_avro::{Codec, Schema, Writer, ZstandardSettings};

use crate::error::{Error, Result};
use crate::format::manifest::{
    DataFileMeta, ManifestEntry, ManifestFileMeta, SimpleStats, COMMIT_SNAPSHOT_FIELD,
    MANIFEST_VERSION,
};

const STATS_FIELDS: &str = r#"[
  {"name":"_MIN_VALUES","type":"bytes"},{"name":"_MAX_VALUES","type":"bytes"},
  {"name":"_NULL_COUNTS","type":["null",{"type":"array","items":["null","long"]}],"default":null}]"#;

fn manifest_schema_json() -> String {
    format!(
        r#"{{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
{{"name":"_VERSION","type":"int"}},{{"name":"_KIND","type":"int"}},{{"name":"_PARTITION","type":"bytes"}},
{{"name":"_BUCKET","type":"int"}},{{"name":"_TOTAL_BUCKETS","type":"int"}},
{{"name":"_FILE","type":{{"type":"record","name":"record__FILE","fields":[
 {{"name":"_FILE_NAME","type":"string"}},{{"name":"_FILE_SIZE","type":"long"}},{{"name":"_ROW_COUNT","type":"long"}},
 {{"name":"_MIN_KEY","type":"bytes"}},{{"name":"_MAX_KEY","type":"bytes"}},
 {{"name":"_KEY_STATS","type":{{"type":"record","name":"record__FILE__KEY_STATS","fields":{STATS_FIELDS}}}}},
 {{"name":"_VALUE_STATS","type":{{"type":"record","name":"record__FILE__VALUE_STATS","fields":{STATS_FIELDS}}}}},
 {{"name":"_MIN_SEQUENCE_NUMBER","type":"long"}},{{"name":"_MAX_SEQUENCE_NUMBER","type":"long"}},
 {{"name":"_SCHEMA_ID","type":"long"}},{{"name":"_LEVEL","type":"int"}},
 {{"name":"_EXTRA_FILES","type":{{"type":"array","items":"string"}}}},
 {{"name":"_CREATION_TIME","type":["null",{{"type":"long","logicalType":"timestamp-millis"}}],"default":null}},
 {{"name":"_DELETE_ROW_COUNT","type":["null","long"],"default":null}},
 {{"name":"_EMBEDDED_FILE_INDEX","type":["null","bytes"],"default":null}},
 {{"name":"_FILE_SOURCE","type":["null","int"],"default":null}},
 {{"name":"_VALUE_STATS_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}},
 {{"name":"_EXTERNAL_PATH","type":["null","string"],"default":null}},
 {{"name":"_FIRST_ROW_ID","type":["null","long"],"default":null}},
 {{"name":"_WRITE_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}},
 {{"name":"_WRITE_COLS_SEQUENCES","type":["null",{{"type":"array","items":"long"}}],"default":null}},
 {{"name":"{COMMIT_SNAPSHOT_FIELD}","type":["null","long"],"default":null}}]}}}}]}}"#
    )
}

fn manifest_list_schema_json() -> String {
    format!(
        r#"{{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
{{"name":"_VERSION","type":"int"}},{{"name":"_FILE_NAME","type":"string"}},{{"name":"_FILE_SIZE","type":"long"}},
{{"name":"_NUM_ADDED_FILES","type":"long"}},{{"name":"_NUM_DELETED_FILES","type":"long"}},
{{"name":"_PARTITION_STATS","type":{{"type":"record","name":"record__PARTITION_STATS","fields":{STATS_FIELDS}}}}},
{{"name":"_SCHEMA_ID","type":"long"}},
{{"name":"_MIN_BUCKET","type":["null","int"],"default":null}},{{"name":"_MAX_BUCKET","type":["null","int"],"default":null}},
{{"name":"_MIN_LEVEL","type":["null","int"],"default":null}},{{"name":"_MAX_LEVEL","type":["null","int"],"default":null}},
{{"name":"_MIN_ROW_ID","type":["null","long"],"default":null}},{{"name":"_MAX_ROW_ID","type":["null","long"],"default":null}}]}}"#
    )
}

fn schema(cell: &'static OnceLock<Schema>, json: fn() -> String) -> &'static Schema {
    cell.get_or_init(|| match Schema::parse_str(&json()) {
        Ok(s) => s,
        // The schemas are constants checked by the unit tests below.
        Err(e) => unreachable!("built-in Avro schema is invalid: {e}"),
    })
}

fn manifest_schema() -> &'static Schema {
    static CELL: OnceLock<Schema> = OnceLock::new();
    schema(&CELL, manifest_schema_json)
}

fn manifest_list_schema() -> &'static Schema {
    static CELL: OnceLock<Schema> = OnceLock::new();
    schema(&CELL, manifest_list_schema_json)
}

fn null() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

fn opt<T>(v: &Option<T>, f: impl Fn(&T) -> Value) -> Value {
    v.as_ref().map_or_else(null, |x| some(f(x)))
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

fn rec(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn stats(s: &SimpleStats) -> Value {
    rec(vec![
        ("_MIN_VALUES", Value::Bytes(s.min_values.clone())),
        ("_MAX_VALUES", Value::Bytes(s.max_values.clone())),
        (
            "_NULL_COUNTS",
            opt(&s.null_counts, |v| {
                Value::Array(v.iter().map(|c| opt(c, |x| Value::Long(*x))).collect())
            }),
        ),
    ])
}

fn file_meta(f: &DataFileMeta) -> Value {
    rec(vec![
        ("_FILE_NAME", Value::String(f.file_name.clone())),
        ("_FILE_SIZE", Value::Long(f.file_size)),
        ("_ROW_COUNT", Value::Long(f.row_count)),
        ("_MIN_KEY", Value::Bytes(f.min_key.clone())),
        ("_MAX_KEY", Value::Bytes(f.max_key.clone())),
        ("_KEY_STATS", stats(&f.key_stats)),
        ("_VALUE_STATS", stats(&f.value_stats)),
        ("_MIN_SEQUENCE_NUMBER", Value::Long(f.min_sequence_number)),
        ("_MAX_SEQUENCE_NUMBER", Value::Long(f.max_sequence_number)),
        ("_SCHEMA_ID", Value::Long(f.schema_id)),
        ("_LEVEL", Value::Int(f.level)),
        ("_EXTRA_FILES", strings(&f.extra_files)),
        (
            "_CREATION_TIME",
            opt(&f.creation_time, |t| Value::TimestampMillis(*t)),
        ),
        (
            "_DELETE_ROW_COUNT",
            opt(&f.delete_row_count, |v| Value::Long(*v)),
        ),
        (
            "_EMBEDDED_FILE_INDEX",
            opt(&f.embedded_index, |v| Value::Bytes(v.clone())),
        ),
        ("_FILE_SOURCE", opt(&f.file_source, |v| Value::Int(*v))),
        (
            "_VALUE_STATS_COLS",
            opt(&f.value_stats_cols, |v| strings(v)),
        ),
        (
            "_EXTERNAL_PATH",
            opt(&f.external_path, |v| Value::String(v.clone())),
        ),
        ("_FIRST_ROW_ID", opt(&f.first_row_id, |v| Value::Long(*v))),
        ("_WRITE_COLS", opt(&f.write_cols, |v| strings(v))),
        (
            "_WRITE_COLS_SEQUENCES",
            opt(&f.write_cols_sequences, |v| {
                Value::Array(v.iter().map(|x| Value::Long(x.unwrap_or(0))).collect())
            }),
        ),
        (
            COMMIT_SNAPSHOT_FIELD,
            opt(&f.commit_snapshot, |v| Value::Long(*v)),
        ),
    ])
}

fn encode(schema: &Schema, records: impl Iterator<Item = Value>) -> Result<Vec<u8>> {
    let codec = Codec::Zstandard(ZstandardSettings::new(1));
    let mut w = Writer::with_codec(schema, Vec::new(), codec);
    for r in records {
        w.append(r)
            .map_err(|e| Error::Unsupported(format!("cannot encode Avro record: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| Error::Unsupported(format!("cannot finish Avro file: {e}")))
}

/// Encode manifest entries.
pub fn encode_manifest(entries: &[ManifestEntry]) -> Result<Vec<u8>> {
    encode(
        manifest_schema(),
        entries.iter().map(|e| {
            rec(vec![
                ("_VERSION", Value::Int(MANIFEST_VERSION)),
                ("_KIND", Value::Int(e.kind.code())),
                ("_PARTITION", Value::Bytes(e.partition.clone())),
                ("_BUCKET", Value::Int(e.bucket)),
                ("_TOTAL_BUCKETS", Value::Int(e.total_buckets)),
                ("_FILE", file_meta(&e.file)),
            ])
        }),
    )
}

/// Encode a manifest list.
pub fn encode_manifest_list(metas: &[ManifestFileMeta]) -> Result<Vec<u8>> {
    encode(
        manifest_list_schema(),
        metas.iter().map(|m| {
            rec(vec![
                ("_VERSION", Value::Int(MANIFEST_VERSION)),
                ("_FILE_NAME", Value::String(m.file_name.clone())),
                ("_FILE_SIZE", Value::Long(m.file_size)),
                ("_NUM_ADDED_FILES", Value::Long(m.num_added_files)),
                ("_NUM_DELETED_FILES", Value::Long(m.num_deleted_files)),
                ("_PARTITION_STATS", stats(&m.partition_stats)),
                ("_SCHEMA_ID", Value::Long(m.schema_id)),
                ("_MIN_BUCKET", opt(&m.min_bucket, |v| Value::Int(*v))),
                ("_MAX_BUCKET", opt(&m.max_bucket, |v| Value::Int(*v))),
                ("_MIN_LEVEL", opt(&m.min_level, |v| Value::Int(*v))),
                ("_MAX_LEVEL", opt(&m.max_level, |v| Value::Int(*v))),
                ("_MIN_ROW_ID", opt(&m.min_row_id, |v| Value::Long(*v))),
                ("_MAX_ROW_ID", opt(&m.max_row_id, |v| Value::Long(*v))),
            ])
        }),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::manifest::{decode_manifest, decode_manifest_list, FileKind};

    pub(crate) fn sample_entry(name: &str, commit: Option<i64>) -> ManifestEntry {
        let empty = vec![0u8; 12];
        ManifestEntry {
            kind: FileKind::Add,
            partition: empty.clone(),
            bucket: 0,
            total_buckets: -1,
            file: DataFileMeta {
                file_name: name.into(),
                file_size: 10,
                row_count: 3,
                min_key: empty.clone(),
                max_key: empty.clone(),
                key_stats: SimpleStats {
                    min_values: empty.clone(),
                    max_values: empty.clone(),
                    null_counts: Some(vec![]),
                },
                value_stats: SimpleStats {
                    min_values: empty.clone(),
                    max_values: empty,
                    null_counts: Some(vec![Some(0), None]),
                },
                min_sequence_number: 0,
                max_sequence_number: 2,
                schema_id: 0,
                level: 0,
                extra_files: vec![],
                creation_time: Some(1_700_000_000_000),
                delete_row_count: Some(0),
                embedded_index: None,
                file_source: Some(0),
                value_stats_cols: None,
                external_path: None,
                first_row_id: None,
                write_cols: None,
                write_cols_sequences: None,
                commit_snapshot: commit,
            },
        }
    }

    #[test]
    fn manifests_round_trip_with_and_without_commit_snapshot() {
        let entries = vec![
            sample_entry("data-a-0.parquet", Some(7)),
            sample_entry("data-b-0.parquet", None),
        ];
        let bytes = encode_manifest(&entries).unwrap();
        assert_eq!(&bytes[..4], b"Obj\x01");
        assert_eq!(decode_manifest(&bytes, "m").unwrap(), entries);
    }

    #[test]
    fn manifest_lists_round_trip() {
        let metas = vec![ManifestFileMeta {
            file_name: "manifest-x-0".into(),
            file_size: 123,
            num_added_files: 2,
            num_deleted_files: 1,
            partition_stats: SimpleStats {
                min_values: vec![0; 12],
                max_values: vec![0; 12],
                null_counts: Some(vec![]),
            },
            schema_id: 0,
            min_bucket: Some(0),
            max_bucket: Some(0),
            min_level: Some(0),
            max_level: Some(0),
            min_row_id: None,
            max_row_id: None,
            extra_files: vec![],
        }];
        let bytes = encode_manifest_list(&metas).unwrap();
        assert_eq!(decode_manifest_list(&bytes, "l").unwrap(), metas);
        // Empty lists are valid (header-only) files.
        assert!(
            decode_manifest_list(&encode_manifest_list(&[]).unwrap(), "l")
                .unwrap()
                .is_empty()
        );
    }
}
