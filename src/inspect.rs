//! Read-only reports: the JSON documents of `tagkeeper snapshots | tags | files | schema | diff`.
//!
//! Field names are a contract with scripts; they are documented in the README and pinned by
//! tests. Every report is plain data (`serde::Serialize`), built with no printing.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::format::snapshot::Snapshot;
use crate::table::{Table, VersionSpec};

/// One snapshot in [`SnapshotsReport`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: i64,
    /// Commit time, epoch ms.
    pub time_millis: i64,
    /// `APPEND`, `COMPACT`, `OVERWRITE`, `ANALYZE`.
    pub commit_kind: String,
    /// Schema id.
    pub schema_id: i64,
    /// Live records after the commit.
    pub total_record_count: Option<i64>,
    /// Records added (negative: removed) by the commit.
    pub delta_record_count: Option<i64>,
    /// Watermark, if any.
    pub watermark: Option<i64>,
}

impl From<&Snapshot> for SnapshotInfo {
    fn from(s: &Snapshot) -> Self {
        SnapshotInfo {
            id: s.id.0,
            time_millis: s.time_millis,
            commit_kind: s.commit_kind.as_str().to_string(),
            schema_id: s.schema_id.0,
            total_record_count: s.total_record_count,
            delta_record_count: s.delta_record_count,
            watermark: s.watermark,
        }
    }
}

/// `tagkeeper snapshots`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotsReport {
    /// Earliest retained snapshot id.
    pub earliest: Option<i64>,
    /// Latest snapshot id.
    pub latest: Option<i64>,
    /// Every retained snapshot, ascending.
    pub snapshots: Vec<SnapshotInfo>,
    /// Problems with hints or gaps (also printed on stderr).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// List the retained snapshots.
pub async fn snapshots(table: &Table) -> Result<SnapshotsReport> {
    let range = table.snapshot_range().await?;
    let loaded = table.load_snapshots(&range.ids).await?;
    Ok(SnapshotsReport {
        earliest: range.earliest().map(|i| i.0),
        latest: range.latest().map(|i| i.0),
        snapshots: loaded.iter().map(SnapshotInfo::from).collect(),
        warnings: range.warnings,
    })
}

/// One tag in [`TagsReport`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TagInfo {
    /// Tag name.
    pub name: String,
    /// Tagged snapshot id.
    pub snapshot_id: i64,
    /// When the tag was created (`YYYY-MM-DDTHH:MM:SS[.f]`, local wall clock of the creator).
    pub create_time: Option<String>,
    /// Retention in seconds.
    pub time_retained_secs: Option<f64>,
    /// Commit time of the tagged snapshot, epoch ms.
    pub snapshot_time_millis: i64,
    /// When the tag expires (`create_time + time_retained`), creator's local time.
    pub expires_at: Option<String>,
    /// Past its retention now: the next expire-tags (or maintain) deletes it.
    pub expired: bool,
    /// Whether the tagged snapshot is still retained (otherwise only tags keep its files).
    pub snapshot_live: bool,
    /// With `--sizes`: bytes of the tag's data files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
    /// With `--sizes`: bytes deleting this tag alone would free (all file kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_bytes: Option<i64>,
    /// With `--sizes`: data bytes the tag shares with other tags or snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_bytes: Option<i64>,
    /// With `--sizes`: why sizes are missing, when they could not be computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sizes_note: Option<String>,
}

/// `tagkeeper tags`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TagsReport {
    /// Every tag, sorted by name.
    pub tags: Vec<TagInfo>,
}

/// List the tags.
pub async fn tags(table: &Table) -> Result<TagsReport> {
    tags_with(table, false).await
}

/// List the tags; with `sizes`, also what each holds exclusively and shares (one delete-tag
/// plan per tag, so this reads the manifests of each tag and its neighbours).
pub async fn tags_with(table: &Table, sizes: bool) -> Result<TagsReport> {
    let tags = table.tags().await?;
    let live: std::collections::BTreeSet<i64> = table
        .snapshot_range()
        .await?
        .ids
        .iter()
        .map(|i| i.0)
        .collect();
    let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S%.f").to_string();
    let now_local = crate::clock::Clock::now_local(&crate::clock::SystemClock);
    let mut out = Vec::with_capacity(tags.len());
    for t in &tags {
        let mut info = TagInfo {
            name: t.name.to_string(),
            snapshot_id: t.tag.snapshot.id.0,
            create_time: t.tag.create_time.map(fmt),
            time_retained_secs: t.tag.time_retained.map(|d| d.as_secs_f64()),
            snapshot_time_millis: t.tag.snapshot.time_millis,
            expires_at: t.tag.expires_at().map(fmt),
            expired: t.tag.is_expired_at(now_local),
            snapshot_live: live.contains(&t.tag.snapshot.id.0),
            total_bytes: None,
            exclusive_bytes: None,
            shared_bytes: None,
            sizes_note: None,
        };
        if sizes {
            let total: i64 = table
                .data_files(&t.tag.snapshot, &format!("tag '{}'", t.name))
                .await?
                .iter()
                .map(|f| f.entry.file.file_size)
                .sum();
            let plan = crate::ops::delete_tag::plan(table, std::slice::from_ref(&t.name)).await?;
            let p = &plan.tags[0];
            if p.skipped_for_safety {
                info.sizes_note = p.reason.clone();
            } else {
                let exclusive: i64 = p.files.iter().map(|f| f.bytes).sum();
                let exclusive_data: i64 = p
                    .files
                    .iter()
                    .filter(|f| f.category == crate::ops::delete_tag::Category::Data)
                    .map(|f| f.bytes)
                    .sum();
                info.total_bytes = Some(total);
                info.exclusive_bytes = Some(exclusive);
                info.shared_bytes = Some(total - exclusive_data);
            }
        }
        out.push(info);
    }
    Ok(TagsReport { tags: out })
}

/// One data file in [`FilesReport`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileInfo {
    /// Relative to the table root (or a full URI for a file stored outside the table).
    pub path: String,
    /// Partition column → value.
    pub partition: Map<String, Value>,
    /// Bucket.
    pub bucket: i32,
    /// LSM level.
    pub level: i32,
    /// Size in bytes.
    pub file_size: i64,
    /// Rows in the file.
    pub row_count: i64,
    /// Snapshot that committed the file, when recorded (`_COMMIT_SNAPSHOT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_snapshot: Option<i64>,
}

/// `tagkeeper files`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FilesReport {
    /// The snapshot whose files these are.
    pub snapshot_id: i64,
    /// The tag, if the version was named by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Live data files, sorted by path.
    pub files: Vec<FileInfo>,
    /// Number of files.
    pub total_files: usize,
    /// Sum of file sizes.
    pub total_bytes: i64,
    /// Sum of row counts (before any merge of primary-key rows).
    pub total_rows: i64,
}

/// List the live data files of a version.
pub async fn files(table: &Table, spec: &VersionSpec) -> Result<FilesReport> {
    let version = table.resolve(spec).await?;
    let spec_p = table.partition_spec().await?;
    let live = table
        .data_files(&version.snapshot, &version.describe())
        .await?;
    let mut files: Vec<FileInfo> = live
        .iter()
        .map(|f| FileInfo {
            path: f.path.clone(),
            partition: spec_p.json_values(&f.partition),
            bucket: f.entry.bucket,
            level: f.entry.file.level,
            file_size: f.entry.file.file_size,
            row_count: f.entry.file.row_count,
            commit_snapshot: f.entry.file.commit_snapshot,
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(FilesReport {
        snapshot_id: version.snapshot.id.0,
        tag: version.tag.as_ref().map(|(n, _)| n.to_string()),
        total_files: files.len(),
        total_bytes: files.iter().map(|f| f.file_size).sum(),
        total_rows: files.iter().map(|f| f.row_count).sum(),
        files,
    })
}

/// One version in [`DiffReport`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffSide {
    /// The snapshot.
    pub snapshot_id: i64,
    /// The tag, if the version was named by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Its live data files.
    pub total_files: usize,
    /// Their bytes.
    pub total_bytes: i64,
    /// Their row counts summed (before any merge of primary-key rows).
    pub total_rows: i64,
}

/// `tagkeeper diff`: the data files one version has and the other has not.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffReport {
    /// The older side (as given; it need not be older).
    pub from: DiffSide,
    /// The newer side.
    pub to: DiffSide,
    /// Files live in `to` but not in `from`, sorted by path.
    pub added: Vec<FileInfo>,
    /// Files live in `from` but not in `to`, sorted by path.
    pub removed: Vec<FileInfo>,
    /// Files live in both.
    pub unchanged_files: usize,
    /// Rows of the added files.
    pub added_rows: i64,
    /// Rows of the removed files.
    pub removed_rows: i64,
    /// Bytes of the added files.
    pub added_bytes: i64,
    /// Bytes of the removed files.
    pub removed_bytes: i64,
}

/// Compare the data files of two versions, from metadata only (no data file is read).
pub async fn diff(table: &Table, from: &VersionSpec, to: &VersionSpec) -> Result<DiffReport> {
    let (a, b) = futures::try_join!(files(table, from), files(table, to))?;
    Ok(diff_files(&a, &b))
}

/// The difference of two file listings. A file is the same file in both when its path is
/// (data file names are unique; a file compacted to another level in place keeps its path).
pub fn diff_files(from: &FilesReport, to: &FilesReport) -> DiffReport {
    let paths = |r: &FilesReport| -> std::collections::BTreeSet<String> {
        r.files.iter().map(|f| f.path.clone()).collect()
    };
    let (in_from, in_to) = (paths(from), paths(to));
    let added: Vec<FileInfo> = to
        .files
        .iter()
        .filter(|f| !in_from.contains(&f.path))
        .cloned()
        .collect();
    let removed: Vec<FileInfo> = from
        .files
        .iter()
        .filter(|f| !in_to.contains(&f.path))
        .cloned()
        .collect();
    let side = |r: &FilesReport| DiffSide {
        snapshot_id: r.snapshot_id,
        tag: r.tag.clone(),
        total_files: r.total_files,
        total_bytes: r.total_bytes,
        total_rows: r.total_rows,
    };
    DiffReport {
        from: side(from),
        to: side(to),
        unchanged_files: in_from.intersection(&in_to).count(),
        added_rows: added.iter().map(|f| f.row_count).sum(),
        removed_rows: removed.iter().map(|f| f.row_count).sum(),
        added_bytes: added.iter().map(|f| f.file_size).sum(),
        removed_bytes: removed.iter().map(|f| f.file_size).sum(),
        added,
        removed,
    }
}

/// One column in [`SchemaReport`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnInfo {
    /// Field id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Paimon SQL type, e.g. `BIGINT NOT NULL`.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// `tagkeeper schema`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SchemaReport {
    /// Schema id (the newest).
    pub id: i64,
    /// Columns in order.
    pub fields: Vec<ColumnInfo>,
    /// Partition columns.
    pub partition_keys: Vec<String>,
    /// Primary-key columns.
    pub primary_keys: Vec<String>,
    /// Table options.
    pub options: Map<String, Value>,
    /// Table comment.
    pub comment: Option<String>,
}

/// Describe the newest schema.
pub async fn schema(table: &Table) -> Result<SchemaReport> {
    let s = table.latest_schema().await?;
    Ok(SchemaReport {
        id: s.id.0,
        fields: s
            .fields
            .iter()
            .map(|f| ColumnInfo {
                id: f.id,
                name: f.name.clone(),
                data_type: f.data_type.sql(),
            })
            .collect(),
        partition_keys: s.partition_keys.clone(),
        primary_keys: s.primary_keys.clone(),
        options: s
            .options
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
        comment: s.comment.clone(),
    })
}
