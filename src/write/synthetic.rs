//! Synthetic tables for benchmarks and property tests: S snapshots over F files with T tags,
//! committed through the real commit path (so manifests have the shapes merging gives them),
//! but without Parquet contents — data files are empty placeholders, or absent.

use std::sync::Arc;

use bytes::Bytes;

use crate::clock::{Clock, ManualClock};
use crate::error::Result;
use crate::format::binary_row::{self, Datum};
use crate::format::ids::{SnapshotId, TagName};
use crate::format::manifest::{DataFileMeta, SimpleStats};
use crate::format::types::DataType;
use crate::io::TableStore;
use crate::ops::tag::{create_tag, CreateTag, TagSource};
use crate::table::Table;
use crate::write::commit::{commit, CommitOptions, CommitRequest, OverwriteScope};
use crate::write::data_file::{NewFile, EMPTY_ROW};
use crate::write::merge::MergeOptions;
use crate::write::schema::{create_table, TableSpec};

/// The shape of a synthetic table.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    /// Snapshots to commit.
    pub snapshots: usize,
    /// Data files in all (spread evenly over the commits).
    pub files: usize,
    /// Tags, spread evenly over the snapshots.
    pub tags: usize,
    /// Partitions (a `dt STRING` column), commits cycle through them.
    pub partitions: usize,
    /// Every n-th commit overwrites its partition (0: never).
    pub overwrite_every: usize,
    /// Overwrites happen only up to this snapshot (0: throughout). An overwrite reads the live
    /// entries of its partition, so benchmarks that need deletions only in an early range
    /// (the snapshots they expire) build much faster with this set.
    pub overwrite_until: usize,
    /// Record `_COMMIT_SNAPSHOT` (false simulates files written by other engines).
    pub record_commit_snapshot: bool,
    /// Write an empty object per data file (so deletions and existence checks see them).
    pub write_placeholders: bool,
    /// Manifest merging.
    pub merge: MergeOptions,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            snapshots: 100,
            files: 1000,
            tags: 5,
            partitions: 10,
            overwrite_every: 0,
            overwrite_until: 0,
            record_commit_snapshot: true,
            write_placeholders: false,
            merge: MergeOptions::default(),
        }
    }
}

/// A built table and its tags.
#[derive(Debug, Clone)]
pub struct SyntheticTable {
    /// The table.
    pub table: Table,
    /// Tags created, with their snapshots.
    pub tags: Vec<(TagName, SnapshotId)>,
}

/// Build a synthetic table in `store` (which must be empty).
pub async fn build(store: TableStore, spec: &SyntheticSpec) -> Result<SyntheticTable> {
    let string = DataType::parse("STRING").map_err(crate::Error::InvalidArgument)?;
    let table_spec = TableSpec {
        columns: vec![
            (
                "id".into(),
                DataType::parse("BIGINT").map_err(crate::Error::InvalidArgument)?,
            ),
            ("dt".into(), string.clone()),
        ],
        partition_keys: vec!["dt".into()],
        ..TableSpec::default()
    };
    let clock = Arc::new(ManualClock::new(1_704_067_200_000));
    let table = create_table(store, &table_spec, clock.now_millis()).await?;
    let opts = CommitOptions {
        merge: Some(spec.merge),
        ..CommitOptions::default()
    };
    let per_commit = (spec.files / spec.snapshots.max(1)).max(1);
    let tag_every = spec
        .snapshots
        .checked_div(spec.tags)
        .map_or(usize::MAX, |n| n.max(1));
    let uuid = uuid::Uuid::new_v4();
    let mut tags = Vec::new();
    let mut counter = 0u64;
    for s in 1..=spec.snapshots {
        let p = (s - 1) % spec.partitions.max(1);
        let values = vec![Datum::String(format!("p{p:05}"))];
        let partition = binary_row::encode(&values, std::slice::from_ref(&string))
            .map_err(|e| crate::Error::InvalidArgument(e.to_string()))?;
        let mut files = Vec::with_capacity(per_commit);
        for _ in 0..per_commit {
            let name = format!("data-{uuid}-{counter}.parquet");
            counter += 1;
            let key = format!("dt=p{p:05}/bucket-0/{name}");
            if spec.write_placeholders {
                table.store().put_overwrite(&key, Bytes::new()).await?;
            }
            files.push(NewFile {
                partition: partition.clone(),
                partition_values: values.clone(),
                bucket: 0,
                key,
                meta: meta(name, s as i64),
            });
        }
        let overwrite = (spec.overwrite_every > 0
            && s % spec.overwrite_every == 0
            && (spec.overwrite_until == 0 || s <= spec.overwrite_until))
            .then_some(OverwriteScope::Dynamic);
        let request = CommitRequest {
            files,
            overwrite,
            record_commit_snapshot: spec.record_commit_snapshot,
        };
        commit(&table, request, clock.as_ref(), &opts).await?;
        clock.advance_millis(60_000);
        if s % tag_every == 0 && tags.len() < spec.tags {
            let name = TagName::new(&format!("t{s:06}"))?;
            let req = CreateTag {
                name: name.clone(),
                source: TagSource::Snapshot(SnapshotId(s as i64)),
                time_retained: None,
                if_not_exists: false,
            };
            create_tag(&table, &req, clock.as_ref()).await?;
            tags.push((name, SnapshotId(s as i64)));
        }
    }
    Ok(SyntheticTable { table, tags })
}

fn meta(file_name: String, seq: i64) -> DataFileMeta {
    DataFileMeta {
        file_name,
        file_size: 1 << 20,
        row_count: 1000,
        min_key: EMPTY_ROW.to_vec(),
        max_key: EMPTY_ROW.to_vec(),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats::empty(),
        min_sequence_number: seq,
        max_sequence_number: seq,
        schema_id: 0,
        level: 0,
        extra_files: Vec::new(),
        creation_time: None,
        delete_row_count: Some(0),
        embedded_index: None,
        file_source: Some(0),
        value_stats_cols: Some(Vec::new()),
        external_path: None,
        first_row_id: None,
        write_cols: None,
        write_cols_sequences: None,
        commit_snapshot: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::VersionSpec;

    #[tokio::test]
    async fn builds_the_requested_shape() {
        let spec = SyntheticSpec {
            snapshots: 40,
            files: 200,
            tags: 4,
            partitions: 3,
            overwrite_every: 10,
            ..Default::default()
        };
        let t = build(TableStore::in_memory("t"), &spec).await.unwrap();
        assert_eq!(t.tags.len(), 4);
        let range = t.table.snapshot_range().await.unwrap();
        assert_eq!(range.ids.len(), 40);
        let latest = t
            .table
            .resolve(&VersionSpec::Latest)
            .await
            .unwrap()
            .snapshot;
        let live = t.table.data_files(&latest, "latest").await.unwrap();
        // Commits cycle p0, p1, p2 with 5 files each; overwrites at 10 (p0), 20 (p1), 30 (p2)
        // and 40 (p0) keep p0: {40}, p1: {20..=38 step 3}, p2: {30..=39 step 3} → 5 + 35 + 20.
        assert_eq!(live.len(), 60);
        assert!(live.iter().all(|f| f.entry.file.commit_snapshot.is_some()));
    }
}
