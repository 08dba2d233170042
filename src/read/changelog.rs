//! Changelog read: the changelog rows the commits after one version up to another produced,
//! each with its row kind, as Java's batch incremental read with `incremental-between = A,B`
//! and `incremental-between-scan-mode = changelog` returns them.
//!
//! The rules, from Java's `IncrementalDeltaStartingScanner` (ScanMode.CHANGELOG) and
//! `AbstractDataTableScan.createIncrementalStartingScanner`:
//!
//! * The range is left-open, right-closed: snapshots `A+1 ..= B`. A tag stands for its snapshot
//!   (`incremental-between-tag-to-snapshot`). `A = B` reads nothing; `B < A` is refused.
//! * Each snapshot contributes the ADD entries of its `changelogManifestList`; OVERWRITE commits
//!   are skipped (their changelog is not a change stream). A snapshot whose file expired while
//!   its changelog is kept (`changelog.num-retained.*` longer than snapshots: the decoupled
//!   lifecycle) is read from `changelog/changelog-N`, which records the same lists, as Java's
//!   streaming `ChangelogManager` does.
//! * Changelog files are key-value files; rows are read as stored (no merge), each with the
//!   `_VALUE_KIND` the writer recorded, shown as `RowKind.shortString()` (`+I`, `-U`, `+U`,
//!   `-D`) in a leading `_ROW_KIND` column.
//! * The rows are in commit order: snapshot by snapshot, and within a snapshot in manifest
//!   order. Java groups the files by partition and bucket (a hash map, so its order of buckets
//!   is arbitrary) and keeps commit order within a bucket; per bucket the two orders agree.
//! * The rows are in the table's current schema (Java reads with the table's row type); files
//!   of older schemas are evolved by field id like any read.
//! * A table without `changelog-producer` (or `none`) writes no changelog files: Java's
//!   changelog scan returns nothing for it; tagkeeper refuses, pointing at `diff --rows`.
//!
//! Memory: one file is read at a time (a few footers ahead), as for an append-table read.

use std::collections::HashMap;

use super::{
    check_file, finish_plan, matches_filter, partition_filter, Layout, Planned, ReadOptions,
    ReadPlan, RowKinds, DEFAULT_BATCH_SIZE,
};
use crate::error::{Error, Result};
use crate::format::ids::SnapshotId;
use crate::format::partition::PartitionSpec;
use crate::format::snapshot::{CommitKind, Snapshot};
use crate::table::{LiveFile, Table, VersionSpec};

/// What to read of a changelog.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangelogOptions {
    /// The version after which the changelog starts (exclusive).
    pub from: VersionSpec,
    /// The version up to which it is read (inclusive).
    pub to: VersionSpec,
    /// Columns to return after `_ROW_KIND`, in this order (default: all).
    pub columns: Option<Vec<String>>,
    /// Partition filter, as in [`ReadOptions::partitions`].
    pub partitions: Vec<(String, String)>,
    /// Stop after this many rows.
    pub limit: Option<u64>,
    /// Rows per batch.
    pub batch_size: usize,
}

impl ChangelogOptions {
    /// The changelog after `from` up to `to`, all columns.
    pub fn between(from: VersionSpec, to: VersionSpec) -> Self {
        ChangelogOptions {
            from,
            to,
            columns: None,
            partitions: Vec::new(),
            limit: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// Plan a changelog read: the changelog files of the snapshots after `from` up to `to`, in
/// commit order. No data file is opened; [`ReadPlan::stream`] reads them.
pub async fn plan(table: &Table, options: &ChangelogOptions) -> Result<ReadPlan> {
    let read = ReadOptions {
        version: options.to.clone(),
        columns: options.columns.clone(),
        partitions: options.partitions.clone(),
        limit: options.limit,
        batch_size: options.batch_size,
    };
    if read.batch_size == 0 {
        return Err(Error::InvalidArgument(
            "the batch size must be at least 1".into(),
        ));
    }
    let schema = table.latest_schema().await?;
    if schema.primary_keys.is_empty() {
        return Err(Error::Unsupported(
            "the table has no primary key, so it writes no changelog (changelog-producer \
             applies to primary-key tables): use diff --rows"
                .into(),
        ));
    }
    let producer = schema.option("changelog-producer").unwrap_or("none");
    if producer.eq_ignore_ascii_case("none") {
        return Err(Error::Unsupported(
            "the table writes no changelog (changelog-producer none): use diff --rows".into(),
        ));
    }
    let (from, from_tag) = snapshot_of(table, &options.from).await?;
    let (to, to_tag) = snapshot_of(table, &options.to).await?;
    if to < from {
        // Java's check: "Ending snapshotId should >= starting snapshotId".
        return Err(Error::InvalidArgument(format!(
            "--to (snapshot {to}) is before --from (snapshot {from})"
        )));
    }
    let spec = PartitionSpec::new(
        schema.partition_keys.clone(),
        schema.partition_types(),
        &schema.options,
    );
    let filter = partition_filter(&spec, &read.partitions)?;
    let layout = Layout::new(&schema, read.columns.as_deref())?;

    let mut chosen: Vec<LiveFile> = Vec::new();
    let mut total_files = 0;
    for id in from + 1..=to {
        let Some((snapshot, owner)) = commit(table, id).await? else {
            return Err(Error::SnapshotNotFound {
                id,
                available: format!(
                    "neither snapshot/snapshot-{id} nor changelog/changelog-{id} exists, so the \
                     changelog after snapshot {from} up to snapshot {to} is not complete"
                ),
            });
        };
        if snapshot.commit_kind == CommitKind::Overwrite {
            continue;
        }
        let files = table.changelog_files(&snapshot, &owner).await?;
        total_files += files.len();
        for f in files {
            if matches_filter(&filter, &f.partition) {
                check_file(&f)?;
                chosen.push(f);
            }
        }
    }
    let version_label = format!("the changelog of snapshots {}..={to}", from + 1);
    let mut plan = finish_plan(
        table,
        Planned {
            schema: &schema,
            layout,
            merging: None,
            chosen,
            deletes: HashMap::new(),
            version_label,
            row_kind: Some(RowKinds::FromFile),
        },
        &read,
    )
    .await?;
    plan.total_files = total_files;
    plan.snapshot_id = Some(to);
    plan.tag = to_tag.clone();
    let side = |id: i64, tag: &Option<String>| match tag {
        Some(t) => format!("tag '{t}' (snapshot {id})"),
        None => format!("snapshot {id}"),
    };
    plan.description = Some(format!(
        "the changelog after {} up to {}",
        side(from, &from_tag),
        side(to, &to_tag)
    ));
    Ok(plan)
}

/// The snapshot id a version names (a tag: its snapshot), and the tag name. A snapshot id is
/// taken as given: its snapshot may have expired while its changelog is kept.
async fn snapshot_of(table: &Table, version: &VersionSpec) -> Result<(i64, Option<String>)> {
    match version {
        VersionSpec::Snapshot(SnapshotId(id)) => Ok((*id, None)),
        other => {
            let v = table.resolve(other).await?;
            Ok((v.snapshot.id.0, v.tag.map(|(n, _)| n.to_string())))
        }
    }
}

/// The commit `id`: its snapshot, else its long-lived changelog (`changelog/changelog-N`, which
/// Java's `ChangelogManager` keeps when snapshots expire first), with a label for messages.
async fn commit(table: &Table, id: i64) -> Result<Option<(Snapshot, String)>> {
    if let Some(s) = table.try_load_snapshot(SnapshotId(id)).await? {
        return Ok(Some((s, format!("snapshot {id}"))));
    }
    let key = format!("{}/changelog-{id}", crate::table::layout::CHANGELOG_DIR);
    match table.store().get_opt(&key).await? {
        None => Ok(None),
        Some(bytes) => Ok(Some((Snapshot::decode(&bytes, &key)?, key))),
    }
}
