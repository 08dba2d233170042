//! Manifest lists (`ManifestFileMeta`), manifests (`ManifestEntry` / `DataFileMeta`) and index
//! manifests (`IndexManifestEntry`), decoded from Avro bytes. paimon-format.md §4 and §5.

use crate::error::{Error, Result};
use crate::format::avro::{read_records, read_records_parallel, Rec};

/// The only `_VERSION` Paimon writes for manifests and manifest lists.
pub const MANIFEST_VERSION: i32 = 2;
/// The only `_VERSION` Paimon writes for index manifests.
pub const INDEX_MANIFEST_VERSION: i32 = 1;

/// Name of the optional DataFileMeta field in which tagkeeper records the committing snapshot.
pub const COMMIT_SNAPSHOT_FIELD: &str = "_COMMIT_SNAPSHOT";

/// ADD or DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `_KIND = 0`.
    Add,
    /// `_KIND = 1`.
    Delete,
}

impl FileKind {
    fn from_code(code: i32, path: &str) -> Result<Self> {
        match code {
            0 => Ok(FileKind::Add),
            1 => Ok(FileKind::Delete),
            other => Err(Error::corrupt(path, format!("unknown file kind {other}"))),
        }
    }

    /// The `_KIND` value.
    pub fn code(self) -> i32 {
        match self {
            FileKind::Add => 0,
            FileKind::Delete => 1,
        }
    }
}

/// Min/max rows and null counts (`SimpleStats`), kept opaque.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleStats {
    /// Serialized BinaryRow of minimum values.
    pub min_values: Vec<u8>,
    /// Serialized BinaryRow of maximum values.
    pub max_values: Vec<u8>,
    /// Null count per column, if recorded.
    pub null_counts: Option<Vec<Option<i64>>>,
}

impl SimpleStats {
    /// Paimon's `EMPTY_STATS`: empty min and max rows and an empty null-count array.
    pub fn empty() -> Self {
        SimpleStats {
            min_values: crate::format::binary_row::EMPTY_ROW.to_vec(),
            max_values: crate::format::binary_row::EMPTY_ROW.to_vec(),
            null_counts: Some(Vec::new()),
        }
    }

    fn decode(rec: Rec<'_>) -> Result<Self> {
        Ok(SimpleStats {
            min_values: rec.bytes("_MIN_VALUES")?,
            max_values: rec.bytes("_MAX_VALUES")?,
            null_counts: rec.opt_long_array("_NULL_COUNTS")?,
        })
    }
}

/// One entry of a manifest list: a manifest file and its summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFileMeta {
    /// Manifest file name (in `manifest/`).
    pub file_name: String,
    /// Its size in bytes.
    pub file_size: i64,
    /// Number of ADD entries.
    pub num_added_files: i64,
    /// Number of DELETE entries.
    pub num_deleted_files: i64,
    /// Partition value ranges.
    pub partition_stats: SimpleStats,
    /// Schema id the manifest was written with.
    pub schema_id: i64,
    /// Bucket range (Paimon ≥ 1.1).
    pub min_bucket: Option<i32>,
    /// Bucket range (Paimon ≥ 1.1).
    pub max_bucket: Option<i32>,
    /// Level range (Paimon ≥ 1.1).
    pub min_level: Option<i32>,
    /// Level range (Paimon ≥ 1.1).
    pub max_level: Option<i32>,
    /// Row-id range (Paimon ≥ 1.4).
    pub min_row_id: Option<i64>,
    /// Row-id range (Paimon ≥ 1.4).
    pub max_row_id: Option<i64>,
    /// Files that share the manifest's lifecycle (e.g. `.avro.sidecar`), if any.
    pub extra_files: Vec<String>,
}

/// Decode a manifest list.
pub fn decode_manifest_list(bytes: &[u8], path: &str) -> Result<Vec<ManifestFileMeta>> {
    read_records(bytes, path, |r| {
        check_version(&r, MANIFEST_VERSION)?;
        Ok(ManifestFileMeta {
            file_name: r.file_name("_FILE_NAME")?,
            file_size: r.long("_FILE_SIZE")?,
            num_added_files: r.long("_NUM_ADDED_FILES")?,
            num_deleted_files: r.long("_NUM_DELETED_FILES")?,
            partition_stats: match r.opt_rec("_PARTITION_STATS")? {
                Some(s) => SimpleStats::decode(s)?,
                None => SimpleStats::default(),
            },
            schema_id: r.long("_SCHEMA_ID")?,
            min_bucket: r.opt_int("_MIN_BUCKET")?,
            max_bucket: r.opt_int("_MAX_BUCKET")?,
            min_level: r.opt_int("_MIN_LEVEL")?,
            max_level: r.opt_int("_MAX_LEVEL")?,
            min_row_id: r.opt_long("_MIN_ROW_ID")?,
            max_row_id: r.opt_long("_MAX_ROW_ID")?,
            extra_files: r.opt_file_names("_EXTRA_FILES")?.unwrap_or_default(),
        })
    })
}

/// A data file's metadata (`DataFileMeta`, the `_FILE` record of a manifest entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileMeta {
    /// Bare file name.
    pub file_name: String,
    /// Size in bytes.
    pub file_size: i64,
    /// Rows in the file (adds plus deletes for primary-key tables).
    pub row_count: i64,
    /// Serialized BinaryRow of the smallest key.
    pub min_key: Vec<u8>,
    /// Serialized BinaryRow of the largest key.
    pub max_key: Vec<u8>,
    /// Key statistics.
    pub key_stats: SimpleStats,
    /// Value statistics.
    pub value_stats: SimpleStats,
    /// Smallest sequence number.
    pub min_sequence_number: i64,
    /// Largest sequence number.
    pub max_sequence_number: i64,
    /// Schema the file was written with.
    pub schema_id: i64,
    /// LSM level.
    pub level: i32,
    /// Files that live and die with this one (e.g. `<name>.index`).
    pub extra_files: Vec<String>,
    /// Writer's local wall-clock time stored as if UTC, epoch ms.
    pub creation_time: Option<i64>,
    /// Deleted rows in the file (Paimon ≥ 0.8).
    pub delete_row_count: Option<i64>,
    /// Small inline file index (Paimon ≥ 0.8).
    pub embedded_index: Option<Vec<u8>>,
    /// 0 = APPEND, 1 = COMPACT (Paimon ≥ 0.9).
    pub file_source: Option<i32>,
    /// Columns with value statistics; `None` = all (Paimon ≥ 1.0).
    pub value_stats_cols: Option<Vec<String>>,
    /// Full URI when the file lives outside the table (Paimon ≥ 1.0).
    pub external_path: Option<String>,
    /// Row tracking (Paimon ≥ 1.3).
    pub first_row_id: Option<i64>,
    /// Data evolution (Paimon ≥ 1.3).
    pub write_cols: Option<Vec<String>>,
    /// Sequence per written column (newer than Paimon 2.0).
    pub write_cols_sequences: Option<Vec<Option<i64>>>,
    /// The snapshot that committed the file, recorded by tagkeeper's writer
    /// (`_COMMIT_SNAPSHOT`); absent in files written by other engines.
    pub commit_snapshot: Option<i64>,
}

impl DataFileMeta {
    fn decode(r: Rec<'_>) -> Result<Self> {
        Ok(DataFileMeta {
            file_name: r.file_name("_FILE_NAME")?,
            file_size: r.long("_FILE_SIZE")?,
            row_count: r.long("_ROW_COUNT")?,
            min_key: r.bytes("_MIN_KEY")?,
            max_key: r.bytes("_MAX_KEY")?,
            key_stats: SimpleStats::decode(r.rec("_KEY_STATS")?)?,
            value_stats: SimpleStats::decode(r.rec("_VALUE_STATS")?)?,
            min_sequence_number: r.long("_MIN_SEQUENCE_NUMBER")?,
            max_sequence_number: r.long("_MAX_SEQUENCE_NUMBER")?,
            schema_id: r.long("_SCHEMA_ID")?,
            level: r.int("_LEVEL")?,
            extra_files: r.opt_file_names("_EXTRA_FILES")?.unwrap_or_default(),
            creation_time: r.opt_long("_CREATION_TIME")?,
            delete_row_count: r.opt_long("_DELETE_ROW_COUNT")?,
            embedded_index: r.opt_bytes("_EMBEDDED_FILE_INDEX")?,
            file_source: r.opt_int("_FILE_SOURCE")?,
            value_stats_cols: r.opt_str_array("_VALUE_STATS_COLS")?,
            external_path: r.opt_str("_EXTERNAL_PATH")?,
            first_row_id: r.opt_long("_FIRST_ROW_ID")?,
            write_cols: r.opt_str_array("_WRITE_COLS")?,
            write_cols_sequences: r.opt_long_array("_WRITE_COLS_SEQUENCES")?,
            commit_snapshot: r.opt_long(COMMIT_SNAPSHOT_FIELD)?,
        })
    }
}

/// One entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// ADD or DELETE.
    pub kind: FileKind,
    /// Serialized BinaryRow of the partition values.
    pub partition: Vec<u8>,
    /// Bucket id.
    pub bucket: i32,
    /// Bucket count at write time.
    pub total_buckets: i32,
    /// The file.
    pub file: DataFileMeta,
}

/// Decode a manifest.
pub fn decode_manifest(bytes: &[u8], path: &str) -> Result<Vec<ManifestEntry>> {
    read_records_parallel(bytes, path, |r| decode_entry(r, path))
}

/// What listing a version's files needs of a manifest entry: its identity (kind, partition,
/// bucket, level, name, extra files, embedded index, external path, as [`crate::reach`] merges
/// by) and what the `files` report shows. A [`ManifestEntry`] is ~570 bytes before its heap
/// parts (keys, statistics, column lists); this is a fifth of that, which is what keeps a
/// 1,000,000-file listing within a few hundred MB. Never written back nor used for deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingEntry {
    /// ADD or DELETE.
    pub kind: FileKind,
    /// Bucket id.
    pub bucket: i32,
    /// LSM level.
    pub level: i32,
    /// Serialized BinaryRow of the partition values.
    pub partition: Box<[u8]>,
    /// Data file name.
    pub file_name: Box<str>,
    /// Extra files of the data file.
    pub extra_files: Vec<String>,
    /// Embedded file index, if any.
    pub embedded_index: Option<Box<[u8]>>,
    /// Full URI when stored outside the table.
    pub external_path: Option<Box<str>>,
    /// Size in bytes.
    pub file_size: i64,
    /// Rows in the file.
    pub row_count: i64,
    /// `_COMMIT_SNAPSHOT`, when recorded.
    pub commit_snapshot: Option<i64>,
}

/// Decode a manifest into [`ListingEntry`]s, with the same checks as [`decode_manifest`].
pub fn decode_manifest_listing(bytes: &[u8], path: &str) -> Result<Vec<ListingEntry>> {
    read_records_parallel(bytes, path, |r| {
        check_version(&r, MANIFEST_VERSION)?;
        let f = r.rec("_FILE")?;
        Ok(ListingEntry {
            kind: FileKind::from_code(r.int("_KIND")?, path)?,
            bucket: r.int("_BUCKET")?,
            level: f.int("_LEVEL")?,
            partition: partition_of(&r, path)?.into_boxed_slice(),
            file_name: f.file_name("_FILE_NAME")?.into_boxed_str(),
            extra_files: f.opt_file_names("_EXTRA_FILES")?.unwrap_or_default(),
            embedded_index: f
                .opt_bytes("_EMBEDDED_FILE_INDEX")?
                .map(Vec::into_boxed_slice),
            external_path: f.opt_str("_EXTERNAL_PATH")?.map(String::into_boxed_str),
            file_size: f.long("_FILE_SIZE")?,
            row_count: f.long("_ROW_COUNT")?,
            commit_snapshot: f.opt_long(COMMIT_SNAPSHOT_FIELD)?,
        })
    })
}

fn partition_of(r: &Rec<'_>, path: &str) -> Result<Vec<u8>> {
    let row = r.bytes("_PARTITION")?;
    crate::format::binary_row::check_frame(&row)
        .map_err(|e| Error::corrupt(path, format!("_PARTITION: {e}")))?;
    Ok(row)
}

fn decode_entry(r: Rec<'_>, path: &str) -> Result<ManifestEntry> {
    check_version(&r, MANIFEST_VERSION)?;
    Ok(ManifestEntry {
        kind: FileKind::from_code(r.int("_KIND")?, path)?,
        partition: partition_of(&r, path)?,
        bucket: r.int("_BUCKET")?,
        total_buckets: r.opt_int("_TOTAL_BUCKETS")?.unwrap_or(-1),
        file: DataFileMeta::decode(r.rec("_FILE")?)?,
    })
}

/// A deletion vector's place inside an index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionVectorMeta {
    /// The data file the vector applies to.
    pub data_file_name: String,
    /// Byte offset in the index file.
    pub offset: i32,
    /// Byte length.
    pub length: i32,
    /// Number of deleted rows, if recorded.
    pub cardinality: Option<i64>,
}

/// One entry of an index manifest (all entries of a stored index manifest are ADDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexManifestEntry {
    /// ADD or DELETE.
    pub kind: FileKind,
    /// Serialized BinaryRow of the partition values.
    pub partition: Vec<u8>,
    /// Bucket id.
    pub bucket: i32,
    /// `HASH`, `DELETION_VECTORS` or a global index type.
    pub index_type: String,
    /// Index file name (in `index/` unless `external_path` is set).
    pub file_name: String,
    /// Size in bytes.
    pub file_size: i64,
    /// Rows covered.
    pub row_count: i64,
    /// Deletion vectors stored in the file, for `DELETION_VECTORS` entries.
    pub deletion_vectors: Option<Vec<DeletionVectorMeta>>,
    /// Full URI when stored outside the table.
    pub external_path: Option<String>,
}

/// Decode an index manifest.
pub fn decode_index_manifest(bytes: &[u8], path: &str) -> Result<Vec<IndexManifestEntry>> {
    read_records(bytes, path, |r| {
        check_version(&r, INDEX_MANIFEST_VERSION)?;
        let deletion_vectors = match r.opt_rec_array("_DELETIONS_VECTORS_RANGES")? {
            None => None,
            Some(items) => Some(
                items
                    .into_iter()
                    .map(|d| {
                        Ok(DeletionVectorMeta {
                            data_file_name: d.str("f0")?,
                            offset: d.int("f1")?,
                            length: d.int("f2")?,
                            cardinality: d.opt_long("_CARDINALITY")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(IndexManifestEntry {
            kind: FileKind::from_code(r.int("_KIND")?, path)?,
            partition: r.bytes("_PARTITION")?,
            bucket: r.int("_BUCKET")?,
            index_type: r.str("_INDEX_TYPE")?,
            file_name: r.file_name("_FILE_NAME")?,
            file_size: r.long("_FILE_SIZE")?,
            row_count: r.long("_ROW_COUNT")?,
            deletion_vectors,
            external_path: r.opt_str("_EXTERNAL_PATH")?,
        })
    })
}

/// `_VERSION` is a permanent format identifier: a different value means a format this tool
/// cannot interpret safely (paimon-format.md §4.1). Files older than 0.4 lack the field.
fn check_version(r: &Rec<'_>, want: i32) -> Result<()> {
    match r.opt_int("_VERSION")? {
        None => Ok(()),
        Some(v) if v == want => Ok(()),
        Some(v) => Err(Error::corrupt(
            r.path(),
            format!("unsupported _VERSION {v} (expected {want})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use apache_avro::types::Value as AvroValue;
    use apache_avro::{Codec, Schema, Writer};

    use super::*;

    /// A 0.8-era manifest list: the top level and nested records are `["null", record]` unions
    /// and only the first seven fields exist (paimon-format.md §4).
    const OLD_LIST_SCHEMA: &str = r#"["null", {"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
      {"name":"_VERSION","type":"int"},
      {"name":"_FILE_NAME","type":"string"},
      {"name":"_FILE_SIZE","type":"long"},
      {"name":"_NUM_ADDED_FILES","type":"long"},
      {"name":"_NUM_DELETED_FILES","type":"long"},
      {"name":"_PARTITION_STATS","type":["null",{"type":"record","name":"record__PARTITION_STATS","fields":[
        {"name":"_MIN_VALUES","type":"bytes"},{"name":"_MAX_VALUES","type":"bytes"},
        {"name":"_NULL_COUNTS","type":["null",{"type":"array","items":["null","long"]}],"default":null}]}]},
      {"name":"_SCHEMA_ID","type":"long"}]}]"#;

    /// A 0.5-era manifest: no `_TOTAL_BUCKETS`-era extras, DataFileMeta up to `_CREATION_TIME`.
    const OLD_MANIFEST_SCHEMA: &str = r#"["null", {"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
      {"name":"_VERSION","type":"int"},
      {"name":"_KIND","type":"int"},
      {"name":"_PARTITION","type":"bytes"},
      {"name":"_BUCKET","type":"int"},
      {"name":"_TOTAL_BUCKETS","type":"int"},
      {"name":"_FILE","type":["null",{"type":"record","name":"record__FILE","fields":[
        {"name":"_FILE_NAME","type":"string"},{"name":"_FILE_SIZE","type":"long"},
        {"name":"_ROW_COUNT","type":"long"},{"name":"_MIN_KEY","type":"bytes"},{"name":"_MAX_KEY","type":"bytes"},
        {"name":"_KEY_STATS","type":["null",{"type":"record","name":"record__FILE__KEY_STATS","fields":[
          {"name":"_MIN_VALUES","type":"bytes"},{"name":"_MAX_VALUES","type":"bytes"},
          {"name":"_NULL_COUNTS","type":["null",{"type":"array","items":["null","long"]}],"default":null}]}]},
        {"name":"_VALUE_STATS","type":["null",{"type":"record","name":"record__FILE__VALUE_STATS","fields":[
          {"name":"_MIN_VALUES","type":"bytes"},{"name":"_MAX_VALUES","type":"bytes"},
          {"name":"_NULL_COUNTS","type":["null",{"type":"array","items":["null","long"]}],"default":null}]}]},
        {"name":"_MIN_SEQUENCE_NUMBER","type":"long"},{"name":"_MAX_SEQUENCE_NUMBER","type":"long"},
        {"name":"_SCHEMA_ID","type":"long"},{"name":"_LEVEL","type":"int"},
        {"name":"_EXTRA_FILES","type":{"type":"array","items":"string"}},
        {"name":"_CREATION_TIME","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null}]}]},
      {"name":"_FUTURE_FIELD","type":["null","string"],"default":null}]}]"#;

    fn u(v: AvroValue) -> AvroValue {
        AvroValue::Union(1, Box::new(v))
    }

    fn rec(fields: Vec<(&str, AvroValue)>) -> AvroValue {
        AvroValue::Record(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    fn stats() -> AvroValue {
        u(rec(vec![
            (
                "_MIN_VALUES",
                AvroValue::Bytes(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ),
            (
                "_MAX_VALUES",
                AvroValue::Bytes(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ),
            (
                "_NULL_COUNTS",
                AvroValue::Union(0, Box::new(AvroValue::Null)),
            ),
        ]))
    }

    fn write(schema: &str, codec: Codec, records: Vec<AvroValue>) -> Vec<u8> {
        let schema = Schema::parse_str(schema).unwrap();
        let mut w = Writer::with_codec(&schema, Vec::new(), codec);
        for r in records {
            w.append(u(r)).unwrap();
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn reads_old_union_wrapped_manifest_lists_with_every_codec() {
        for codec in [
            Codec::Null,
            Codec::Deflate(Default::default()),
            Codec::Snappy,
        ] {
            let bytes = write(
                OLD_LIST_SCHEMA,
                codec,
                vec![rec(vec![
                    ("_VERSION", AvroValue::Int(2)),
                    ("_FILE_NAME", AvroValue::String("manifest-a-0".into())),
                    ("_FILE_SIZE", AvroValue::Long(100)),
                    ("_NUM_ADDED_FILES", AvroValue::Long(3)),
                    ("_NUM_DELETED_FILES", AvroValue::Long(1)),
                    ("_PARTITION_STATS", stats()),
                    ("_SCHEMA_ID", AvroValue::Long(0)),
                ])],
            );
            let list = decode_manifest_list(&bytes, "manifest/manifest-list-x-0").unwrap();
            assert_eq!(list.len(), 1, "{codec:?}");
            assert_eq!(list[0].file_name, "manifest-a-0");
            assert_eq!((list[0].num_added_files, list[0].num_deleted_files), (3, 1));
            assert_eq!((list[0].min_bucket, list[0].max_row_id), (None, None));
            assert!(list[0].extra_files.is_empty());
        }
    }

    #[test]
    fn reads_old_manifests_ignoring_unknown_fields() {
        let bytes = write(
            OLD_MANIFEST_SCHEMA,
            Codec::Snappy,
            vec![rec(vec![
                ("_VERSION", AvroValue::Int(2)),
                ("_KIND", AvroValue::Int(1)),
                (
                    "_PARTITION",
                    AvroValue::Bytes(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                ),
                ("_BUCKET", AvroValue::Int(3)),
                ("_TOTAL_BUCKETS", AvroValue::Int(4)),
                (
                    "_FILE",
                    u(rec(vec![
                        ("_FILE_NAME", AvroValue::String("data-a-0.orc".into())),
                        ("_FILE_SIZE", AvroValue::Long(10)),
                        ("_ROW_COUNT", AvroValue::Long(2)),
                        (
                            "_MIN_KEY",
                            AvroValue::Bytes(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                        ),
                        (
                            "_MAX_KEY",
                            AvroValue::Bytes(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                        ),
                        ("_KEY_STATS", stats()),
                        ("_VALUE_STATS", stats()),
                        ("_MIN_SEQUENCE_NUMBER", AvroValue::Long(5)),
                        ("_MAX_SEQUENCE_NUMBER", AvroValue::Long(6)),
                        ("_SCHEMA_ID", AvroValue::Long(0)),
                        ("_LEVEL", AvroValue::Int(1)),
                        (
                            "_EXTRA_FILES",
                            AvroValue::Array(vec![AvroValue::String("data-a-0.orc.index".into())]),
                        ),
                        (
                            "_CREATION_TIME",
                            u(AvroValue::TimestampMillis(1_700_000_000_000)),
                        ),
                    ])),
                ),
                ("_FUTURE_FIELD", u(AvroValue::String("ignored".into()))),
            ])],
        );
        let entries = decode_manifest(&bytes, "manifest/manifest-x-0").unwrap();
        let e = &entries[0];
        assert_eq!(
            (e.kind, e.bucket, e.total_buckets, e.file.level),
            (FileKind::Delete, 3, 4, 1)
        );
        assert_eq!(e.file.extra_files, vec!["data-a-0.orc.index"]);
        assert_eq!(e.file.creation_time, Some(1_700_000_000_000));
        assert_eq!(
            (
                e.file.file_source,
                e.file.external_path.as_ref(),
                e.file.commit_snapshot
            ),
            (None, None, None)
        );
    }

    #[test]
    fn rejects_an_unknown_format_version() {
        let bytes = write(
            OLD_LIST_SCHEMA,
            Codec::Null,
            vec![rec(vec![
                ("_VERSION", AvroValue::Int(1)),
                ("_FILE_NAME", AvroValue::String("m".into())),
                ("_FILE_SIZE", AvroValue::Long(1)),
                ("_NUM_ADDED_FILES", AvroValue::Long(1)),
                ("_NUM_DELETED_FILES", AvroValue::Long(0)),
                ("_PARTITION_STATS", stats()),
                ("_SCHEMA_ID", AvroValue::Long(0)),
            ])],
        );
        let err = decode_manifest_list(&bytes, "manifest/l")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported _VERSION 1"), "{err}");
    }
}
