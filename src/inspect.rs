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
    Ok(files_listing(table, spec).await?.into_report())
}

/// One file of a [`FilesListing`]: its partition values are shared with every file of the
/// partition (an index into [`FilesListing`]'s partitions).
#[derive(Debug, Clone)]
struct ListedFile {
    path: Box<str>,
    partition: u32,
    bucket: i32,
    level: i32,
    file_size: i64,
    row_count: i64,
    commit_snapshot: Option<i64>,
}

/// [`FilesReport`] in compact form, for tables with millions of files: each partition's values
/// are held once, and the report is serialized (`serde::Serialize`, the same JSON as
/// [`FilesReport`]'s) straight from it, so a caller can stream it to its output.
#[derive(Debug, Clone)]
pub struct FilesListing {
    snapshot_id: i64,
    tag: Option<String>,
    partitions: Vec<Map<String, Value>>,
    files: Vec<ListedFile>,
    total_bytes: i64,
    total_rows: i64,
}

impl FilesListing {
    /// The plain report (every file with its own partition map).
    pub fn into_report(self) -> FilesReport {
        let partitions = self.partitions;
        let files: Vec<FileInfo> = self
            .files
            .into_iter()
            .map(|f| FileInfo {
                path: f.path.into(),
                partition: partitions
                    .get(f.partition as usize)
                    .cloned()
                    .unwrap_or_default(),
                bucket: f.bucket,
                level: f.level,
                file_size: f.file_size,
                row_count: f.row_count,
                commit_snapshot: f.commit_snapshot,
            })
            .collect();
        FilesReport {
            snapshot_id: self.snapshot_id,
            tag: self.tag,
            total_files: files.len(),
            total_bytes: self.total_bytes,
            total_rows: self.total_rows,
            files,
        }
    }

    /// Number of files.
    pub fn total_files(&self) -> usize {
        self.files.len()
    }
}

/// One file of a [`FilesListing`], borrowed; serializes exactly as [`FileInfo`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FileRef<'a> {
    /// Relative to the table root (or a full URI for a file stored outside the table).
    pub path: &'a str,
    /// Partition column → value.
    pub partition: &'a Map<String, Value>,
    /// Which of [`FilesListing::partitions`] `partition` is (files of one partition share it).
    #[serde(skip)]
    pub partition_index: usize,
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

impl FilesListing {
    /// The snapshot whose files these are.
    pub fn snapshot_id(&self) -> i64 {
        self.snapshot_id
    }

    /// The tag, if the version was named by one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Sum of file sizes.
    pub fn total_bytes(&self) -> i64 {
        self.total_bytes
    }

    /// Sum of row counts.
    pub fn total_rows(&self) -> i64 {
        self.total_rows
    }

    /// The distinct partitions' values, each once.
    pub fn partitions(&self) -> &[Map<String, Value>] {
        &self.partitions
    }

    /// The files, sorted by path.
    pub fn files(&self) -> impl ExactSizeIterator<Item = FileRef<'_>> + '_ {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let empty = EMPTY.get_or_init(Map::new);
        self.files.iter().map(move |f| FileRef {
            path: &f.path,
            partition: self.partitions.get(f.partition as usize).unwrap_or(empty),
            partition_index: f.partition as usize,
            bucket: f.bucket,
            level: f.level,
            file_size: f.file_size,
            row_count: f.row_count,
            commit_snapshot: f.commit_snapshot,
        })
    }
}

struct FilesSeq<'a>(&'a FilesListing);

impl Serialize for FilesSeq<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.files.len()))?;
        for f in self.0.files() {
            seq.serialize_element(&f)?;
        }
        seq.end()
    }
}

impl Serialize for FilesListing {
    /// Exactly [`FilesReport`]'s fields, in its order.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("FilesReport", 5 + usize::from(self.tag.is_some()))?;
        st.serialize_field("snapshot_id", &self.snapshot_id)?;
        if let Some(tag) = &self.tag {
            st.serialize_field("tag", tag)?;
        } else {
            st.skip_field("tag")?;
        }
        st.serialize_field("files", &FilesSeq(self))?;
        st.serialize_field("total_files", &self.files.len())?;
        st.serialize_field("total_bytes", &self.total_bytes)?;
        st.serialize_field("total_rows", &self.total_rows)?;
        st.end()
    }
}

/// [`FilesListing`]'s JSON report in pieces that can be formatted independently (on several
/// threads) and written in order: piece 0 is the head, then the files a chunk at a time, then
/// the tail. Together they are byte for byte `serde_json::to_writer_pretty` of the listing
/// followed by a newline, and every piece ends at a line break (so each can be redacted on its
/// own: pretty JSON keeps every string on one line). A million-file report is ~270 MB of JSON,
/// and formatting it was a fifth of `tagkeeper files --json`.
#[derive(Debug)]
pub struct FilesJson<'a> {
    listing: &'a FilesListing,
    per_piece: usize,
    /// Each partition's map as it appears in a file's element (pretty, indented for its depth).
    partitions: Vec<Vec<u8>>,
}

impl FilesListing {
    /// The JSON report in pieces of up to `files_per_piece` files (see [`FilesJson`]).
    pub fn json_pieces(&self, files_per_piece: usize) -> FilesJson<'_> {
        let partitions = self
            .partitions
            .iter()
            .map(|p| {
                // A file's partition map is at depth 3: its inner lines are indented by 6 more
                // spaces than at the top level. Strings never hold a raw line break.
                let pretty = serde_json::to_vec_pretty(p).unwrap_or_else(|_| b"{}".to_vec());
                let mut indented = Vec::with_capacity(pretty.len() + 64);
                for &b in &pretty {
                    indented.push(b);
                    if b == b'\n' {
                        indented.extend_from_slice(b"      ");
                    }
                }
                indented
            })
            .collect();
        FilesJson {
            listing: self,
            per_piece: files_per_piece.max(1),
            partitions,
        }
    }
}

impl FilesJson<'_> {
    fn chunks(&self) -> usize {
        self.listing.files.len().div_ceil(self.per_piece)
    }

    /// How many pieces there are (at least the head and the tail).
    pub fn len(&self) -> usize {
        self.chunks() + 2
    }

    /// Never: there is always a head and a tail.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Append piece `i` (`0..len()`) to `out`; an `i` out of range appends nothing.
    pub fn write(&self, i: usize, out: &mut Vec<u8>) {
        let l = self.listing;
        let mut n = itoa::Buffer::new();
        if i == 0 {
            out.extend_from_slice(b"{\n  \"snapshot_id\": ");
            out.extend_from_slice(n.format(l.snapshot_id).as_bytes());
            out.extend_from_slice(b",\n");
            if let Some(tag) = &l.tag {
                out.extend_from_slice(b"  \"tag\": ");
                json_string(tag, out);
                out.extend_from_slice(b",\n");
            }
            let open: &[u8] = if l.files.is_empty() { b"[],\n" } else { b"[\n" };
            out.extend_from_slice(b"  \"files\": ");
            out.extend_from_slice(open);
        } else if i <= self.chunks() {
            let from = (i - 1) * self.per_piece;
            let to = (from + self.per_piece).min(l.files.len());
            // About what the piece takes (the fixed text of an element is ~170 bytes), so the
            // buffer is not grown and copied while it is filled.
            let about: usize = l.files[from..to]
                .iter()
                .map(|f| {
                    let p = self
                        .partitions
                        .get(f.partition as usize)
                        .map_or(2, Vec::len);
                    f.path.len() + p + 200
                })
                .sum();
            out.reserve(about);
            for (at, f) in l.files[from..to].iter().enumerate() {
                out.extend_from_slice(b"    {\n      \"path\": ");
                json_string(&f.path, out);
                out.extend_from_slice(b",\n      \"partition\": ");
                match self.partitions.get(f.partition as usize) {
                    Some(p) => out.extend_from_slice(p),
                    None => out.extend_from_slice(b"{}"),
                }
                out.extend_from_slice(b",\n      \"bucket\": ");
                out.extend_from_slice(n.format(f.bucket).as_bytes());
                out.extend_from_slice(b",\n      \"level\": ");
                out.extend_from_slice(n.format(f.level).as_bytes());
                out.extend_from_slice(b",\n      \"file_size\": ");
                out.extend_from_slice(n.format(f.file_size).as_bytes());
                out.extend_from_slice(b",\n      \"row_count\": ");
                out.extend_from_slice(n.format(f.row_count).as_bytes());
                if let Some(c) = f.commit_snapshot {
                    out.extend_from_slice(b",\n      \"commit_snapshot\": ");
                    out.extend_from_slice(n.format(c).as_bytes());
                }
                let last = from + at + 1 == l.files.len();
                out.extend_from_slice(if last { b"\n    }\n" } else { b"\n    },\n" });
            }
        } else if i == self.chunks() + 1 {
            if !l.files.is_empty() {
                out.extend_from_slice(b"  ],\n");
            }
            out.extend_from_slice(b"  \"total_files\": ");
            out.extend_from_slice(n.format(l.files.len()).as_bytes());
            out.extend_from_slice(b",\n  \"total_bytes\": ");
            out.extend_from_slice(n.format(l.total_bytes).as_bytes());
            out.extend_from_slice(b",\n  \"total_rows\": ");
            out.extend_from_slice(n.format(l.total_rows).as_bytes());
            out.extend_from_slice(b"\n}\n");
        }
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
fn json_string(s: &str, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and a `str` always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// List the live data files of a version in compact form (see [`FilesListing`]). Manifests
/// are decoded into compact entries ([`ListingEntry`](crate::format::manifest::ListingEntry)),
/// merged by the one [`crate::reach::live_entries`], and converted one at a time.
pub async fn files_listing(table: &Table, spec: &VersionSpec) -> Result<FilesListing> {
    use crate::format::binary_row;
    use crate::table::layout::bucket_dir;
    use std::collections::HashMap;

    let version = table.resolve(spec).await?;
    let schema = table.latest_schema().await?;
    let spec_p = crate::format::partition::PartitionSpec::new(
        schema.partition_keys.clone(),
        schema.partition_types(),
        &schema.options,
    );
    let data_dir = schema.option("data-file.path-directory");
    let entries = table
        .live_listing_of(&version.snapshot, &version.describe())
        .await?;
    let mut partitions: Vec<Map<String, Value>> = Vec::new();
    // Partition bytes → (index into `partitions`, partition path).
    let mut seen: HashMap<Box<[u8]>, (u32, String)> = HashMap::new();
    // The partition of the previous file, its index and its path.
    let mut last: Option<Box<[u8]>> = None;
    let (mut index, mut partition_path) = (0u32, String::new());
    // The previous file's (partition index, bucket) and its bucket directory with a `/`.
    let (mut dir, mut prefix): (Option<(u32, i32)>, String) = (None, String::new());
    let mut files = Vec::with_capacity(entries.len());
    let (mut total_bytes, mut total_rows) = (0i64, 0i64);
    for e in entries {
        // Files of one partition mostly come together: the previous file's partition is
        // compared before the map is hashed (and its path is not cloned per file).
        if last.as_deref() != Some(&*e.partition) {
            (index, partition_path) = match seen.get(&e.partition) {
                Some((index, path)) => (*index, path.clone()),
                None => {
                    let values =
                        binary_row::decode(&e.partition, &spec_p.types).map_err(|err| {
                            crate::error::Error::corrupt(
                                format!("manifest entry for {}", e.file_name),
                                format!("partition bytes: {err}"),
                            )
                        })?;
                    let index = u32::try_from(partitions.len()).map_err(|_| {
                        crate::error::Error::InvalidArgument("more than 2^32 partitions".into())
                    })?;
                    partitions.push(spec_p.json_values(&values));
                    let path = spec_p.path(&values);
                    seen.insert(e.partition.clone(), (index, path.clone()));
                    (index, path)
                }
            };
            last = Some(e.partition.clone());
        }
        let path: Box<str> = match e.external_path {
            Some(uri) => uri,
            None => {
                // Likewise the bucket directory: built when partition or bucket changes.
                if dir != Some((index, e.bucket)) {
                    prefix = bucket_dir(data_dir, &partition_path, e.bucket);
                    prefix.push('/');
                    dir = Some((index, e.bucket));
                }
                let mut key = String::with_capacity(prefix.len() + e.file_name.len());
                key.push_str(&prefix);
                key.push_str(&e.file_name);
                crate::io::check_key(&key)?;
                key.into_boxed_str()
            }
        };
        total_bytes += e.file_size;
        total_rows += e.row_count;
        files.push(ListedFile {
            path,
            partition: index,
            bucket: e.bucket,
            level: e.level,
            file_size: e.file_size,
            row_count: e.row_count,
            commit_snapshot: e.commit_snapshot,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(FilesListing {
        snapshot_id: version.snapshot.id.0,
        tag: version.tag.as_ref().map(|(n, _)| n.to_string()),
        partitions,
        files,
        total_bytes,
        total_rows,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(tag: Option<&str>, n: usize) -> FilesListing {
        let mut p0 = Map::new();
        p0.insert("dt".into(), Value::String("2024-01-01".into()));
        p0.insert("hr".into(), serde_json::json!(7));
        let mut p1 = Map::new();
        p1.insert("dt".into(), Value::Null);
        p1.insert("hr".into(), serde_json::json!(-1));
        FilesListing {
            snapshot_id: 42,
            tag: tag.map(str::to_string),
            partitions: vec![p0, p1],
            files: (0..n)
                .map(|i| ListedFile {
                    path: format!("dt=x/bucket-{i}/data-{i}.parquet").into(),
                    partition: (i % 2) as u32,
                    bucket: i as i32,
                    level: 0,
                    file_size: 1000 + i as i64,
                    row_count: 10 * i as i64,
                    commit_snapshot: (i % 3 != 0).then_some(i as i64),
                })
                .collect(),
            total_bytes: (0..n).map(|i| 1000 + i as i64).sum(),
            total_rows: (0..n).map(|i| 10 * i as i64).sum(),
        }
    }

    /// The streamed JSON of a listing is byte for byte the document the report printed before
    /// (`serde_json::to_value` of [`FilesReport`], pretty-printed).
    #[test]
    fn listing_serializes_exactly_as_the_report() {
        for (tag, n) in [(None, 0), (Some("t1"), 1), (None, 7), (Some("x"), 100)] {
            let l = listing(tag, n);
            let streamed = serde_json::to_string_pretty(&l).unwrap();
            let report = serde_json::to_value(l.into_report()).unwrap();
            assert_eq!(streamed, format!("{report:#}"));
        }
    }

    /// The pieces, joined, at every piece size.
    fn joined(l: &FilesListing, per_piece: usize) -> String {
        let json = l.json_pieces(per_piece);
        let mut out = Vec::new();
        for i in 0..json.len() {
            let before = out.len();
            json.write(i, &mut out);
            assert!(out.len() > before, "piece {i} is empty");
            assert_eq!(
                out.last(),
                Some(&b'\n'),
                "piece {i} does not end at a line break"
            );
        }
        // Past the end: nothing.
        let end = out.len();
        json.write(json.len(), &mut out);
        assert_eq!(out.len(), end);
        String::from_utf8(out).unwrap()
    }

    /// The pieces of the JSON report are, joined, exactly serde_json's pretty document and a
    /// newline (what `tagkeeper files --json` printed before it formatted pieces in parallel).
    #[test]
    fn json_pieces_join_to_the_pretty_document() {
        for (tag, n) in [
            (None, 0),
            (Some("t1"), 0),
            (Some("t1"), 1),
            (None, 7),
            (Some("x"), 100),
        ] {
            let l = listing(tag, n);
            let want = format!("{}\n", serde_json::to_string_pretty(&l).unwrap());
            for per_piece in [0, 1, 2, 3, 7, 99, 100, 101, 4096] {
                assert_eq!(
                    joined(&l, per_piece),
                    want,
                    "tag {tag:?}, {n} files, {per_piece} per piece"
                );
            }
        }
    }

    use proptest::prelude::*;

    proptest::proptest! {
        /// Any path, tag and partition values (quotes, backslashes, control and non-ASCII
        /// characters, empty and missing partitions, numbers of every size) come out as
        /// serde_json writes them.
        #[test]
        fn json_pieces_escape_as_serde_json_does(
            tag in proptest::option::of(".{0,12}"),
            paths in proptest::collection::vec("\\PC{0,20}|[\"\\\\\u{0}-\u{1f}\u{7f}é€𝄞/]{0,8}", 0..12),
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    ".{0,6}".prop_map(Value::String),
                    proptest::num::i64::ANY.prop_map(|v| serde_json::json!(v)),
                    proptest::strategy::Just(Value::Null),
                ],
                0..3,
            ),
            numbers in proptest::collection::vec(proptest::num::i64::ANY, 4),
            per_piece in 1usize..5,
        ) {
            let mut partition = Map::new();
            for (i, v) in values.into_iter().enumerate() {
                partition.insert(format!("k{i}\"\\\n"), v);
            }
            let l = FilesListing {
                snapshot_id: numbers[0],
                tag,
                partitions: vec![partition, Map::new()],
                files: paths
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ListedFile {
                        path: p.as_str().into(),
                        // 2 is no partition at all: an empty map, as `files()` gives.
                        partition: (i % 3) as u32,
                        bucket: numbers[1] as i32,
                        level: i32::MIN,
                        file_size: numbers[2],
                        row_count: numbers[3],
                        commit_snapshot: (i % 2 == 0).then_some(numbers[i % 4]),
                    })
                    .collect(),
                total_bytes: numbers[3],
                total_rows: i64::MIN,
            };
            let want = format!("{}\n", serde_json::to_string_pretty(&l).unwrap());
            prop_assert_eq!(joined(&l, per_piece), want);
        }
    }
}
