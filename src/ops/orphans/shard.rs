//! The orphan scan split into shards that can run anywhere (a Dask or Ray worker, another
//! machine with access to the store): [`plan_shards`] lists the directories only and splits
//! them (the metadata directories, then the bucket directories in partition order, as
//! contiguous runs so that each shard is a set of partition and bucket prefixes);
//! [`scan_shard`] lists one shard's files and decides them against the references, read
//! completely by the same code as the single-process scan (`read_references_replayed`, after the
//! shard's listing, as Paimon #3074 requires); [`merge`] puts the shards' results together
//! into the plan the single-process [`super::plan`] makes, as a saved plan with the table's
//! fingerprint from before the listing.
//!
//! Nothing here deletes. The merged plan is executed once, through
//! [`crate::ops::saved_plan::apply`]: a table that changed since the shards were planned (a
//! new snapshot, tag or branch) is refused, and otherwise the plan runs through the journaled
//! [`super::execute`], as `apply-plan` runs a saved orphan plan.
//!
//! Shards and their results are plain data (JSON through serde) to be shipped to workers.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    abort_on_read, aborted, list_scan_dirs, listing_notes, prepare, read_references_replayed,
    resolve_cutoff, scan_dirs, unreferenced, Listing, OrphanFile, OrphanOptions, OrphanPlan,
    ReadCounts, UnknownFile, OPERATION,
};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::format::file_name::FileDir;
use crate::ops::saved_plan::{self, Fingerprint, PlannedCommand, SavedPlan};
use crate::table::Table;

/// The kind of a directory a shard lists (how its file names are judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardDirKind {
    /// `manifest/`.
    Manifest,
    /// `index/`.
    Index,
    /// `statistics/`.
    Statistics,
    /// A bucket directory.
    Bucket,
    /// `snapshot/` or `changelog/` of a branch.
    Versioned,
    /// `tag/`, `schema/`, `consumer/` of a branch and `_tagkeeper/plans/`.
    Table,
}

impl ShardDirKind {
    fn of(d: FileDir) -> Self {
        match d {
            FileDir::Manifest => ShardDirKind::Manifest,
            FileDir::Index => ShardDirKind::Index,
            FileDir::Statistics => ShardDirKind::Statistics,
            FileDir::Bucket => ShardDirKind::Bucket,
            FileDir::Versioned => ShardDirKind::Versioned,
            FileDir::Table => ShardDirKind::Table,
        }
    }

    fn dir(self) -> FileDir {
        match self {
            ShardDirKind::Manifest => FileDir::Manifest,
            ShardDirKind::Index => FileDir::Index,
            ShardDirKind::Statistics => FileDir::Statistics,
            ShardDirKind::Bucket => FileDir::Bucket,
            ShardDirKind::Versioned => FileDir::Versioned,
            ShardDirKind::Table => FileDir::Table,
        }
    }
}

/// One directory of a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardDir {
    /// Relative to the table root.
    pub path: String,
    /// How its files are judged.
    pub kind: ShardDirKind,
}

/// One shard: directories to list, with the scan's cutoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanShard {
    /// Its position, from 0.
    pub index: usize,
    /// How many shards the scan has.
    pub of: usize,
    /// Files modified before this time (epoch ms) are candidates.
    pub cutoff_millis: i64,
    /// The directories, in the single-process scan's order.
    pub dirs: Vec<ShardDir>,
}

/// A scan split into shards: what [`merge`] needs besides the shards' results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardedScan {
    /// Files modified before this time (epoch ms) are candidates.
    pub cutoff_millis: i64,
    /// When the scan was planned (epoch ms).
    pub started_millis: i64,
    /// The table's state before anything was listed: executing the merged plan refuses a
    /// table that changed since.
    pub fingerprint: Fingerprint,
    /// The branches whose references are read (`main` first).
    pub branches: Vec<String>,
    /// Partition directories found empty while the directories were walked.
    pub empty_dirs: Vec<String>,
    /// Notes of the planning (e.g. external data paths, which are not scanned).
    pub notes: Vec<String>,
    /// The shards.
    pub shards: Vec<OrphanShard>,
}

/// What one shard found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardResult {
    /// The shard's index.
    pub index: usize,
    /// How many shards the scan has.
    pub of: usize,
    /// The cutoff the shard used.
    pub cutoff_millis: i64,
    /// Old files with Paimon names considered.
    pub candidates: u64,
    /// Files with Paimon names newer than the cutoff.
    pub too_young: u64,
    /// The shard's orphans (no version references them).
    pub files: Vec<OrphanFile>,
    /// Files with names Paimon does not write there.
    pub unknown_files: Vec<UnknownFile>,
    /// Bucket directories found empty.
    pub empty_dirs: Vec<String>,
    /// Files with Paimon names reached through a symbolic link (among the unknown files).
    pub symlinked: u64,
    /// What the shard's reading of the references read.
    pub read: ReadCounts,
    /// Versions that vanished while being read.
    pub vanished: Vec<String>,
    /// Snapshots committed while the references were read.
    pub newer_snapshots: Vec<String>,
    /// Data files deleted by an entry no earlier entry added (kept).
    pub unmatched: BTreeSet<String>,
}

/// List the directories (not their files) and split them into at most `shards` shards: the
/// metadata directories and the first bucket directories in shard 0, the bucket directories
/// in contiguous runs of partition order. Deletes nothing.
pub async fn plan_shards(
    table: &Table,
    opts: &OrphanOptions,
    shards: usize,
    clock: &dyn Clock,
) -> Result<ShardedScan> {
    if shards == 0 {
        return Err(Error::InvalidArgument(
            "the number of shards must be at least 1".into(),
        ));
    }
    if table.is_branch() {
        // The scan covers the whole table (every branch's references); a saved plan is main's.
        return Err(Error::InvalidArgument(format!(
            "a sharded orphan scan covers the whole table: open it without branch {}",
            table.branch_name()
        )));
    }
    let started = clock.now_millis();
    let cutoff = resolve_cutoff(opts, started)?;
    let fingerprint = saved_plan::fingerprint(table).await?;
    let prep = prepare(table).await?;
    let (dirs, empty_dirs) =
        scan_dirs(table, &prep.branches, &prep.data_dir, prep.partition_depth).await?;
    let (fixed, buckets): (Vec<_>, Vec<_>) =
        dirs.into_iter().partition(|(_, k)| *k != FileDir::Bucket);
    let per = buckets.len().div_ceil(shards).max(1);
    let mut chunks: Vec<Vec<(String, FileDir)>> = buckets.chunks(per).map(<[_]>::to_vec).collect();
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    if let Some(first) = chunks.first_mut() {
        let mut with_fixed = fixed;
        with_fixed.append(first);
        *first = with_fixed;
    }
    let of = chunks.len();
    let shards = chunks
        .into_iter()
        .enumerate()
        .map(|(index, dirs)| OrphanShard {
            index,
            of,
            cutoff_millis: cutoff,
            dirs: dirs
                .into_iter()
                .map(|(path, kind)| ShardDir {
                    path,
                    kind: ShardDirKind::of(kind),
                })
                .collect(),
        })
        .collect();
    Ok(ShardedScan {
        cutoff_millis: cutoff,
        started_millis: started,
        fingerprint,
        branches: prep.branches.iter().map(|b| b.name.clone()).collect(),
        empty_dirs,
        notes: prep.notes,
        shards,
    })
}

/// Scan one shard: list its directories, then read every reference (all branches, completely,
/// by the one reachability code), then decide. Deletes nothing; any failure to read aborts.
pub async fn scan_shard(table: &Table, shard: &OrphanShard) -> Result<ShardResult> {
    let dirs: Vec<(String, FileDir)> = shard
        .dirs
        .iter()
        .map(|d| (d.path.clone(), d.kind.dir()))
        .collect();
    let mut listing = Listing::default();
    list_scan_dirs(table, &dirs, shard.cutoff_millis, &mut listing).await?;
    let branches = table.branches().await?;
    let refs = read_references_replayed(table, &branches, OPERATION, &|_| false)
        .await
        .map_err(abort_on_read)?;
    Ok(ShardResult {
        index: shard.index,
        of: shard.of,
        cutoff_millis: shard.cutoff_millis,
        candidates: listing.candidates.len() as u64,
        too_young: listing.too_young,
        files: unreferenced(&listing.candidates, &refs.names),
        unknown_files: listing.unknown,
        empty_dirs: listing.empty_dirs,
        symlinked: listing.symlinked,
        read: ReadCounts {
            snapshots: refs.snapshots,
            tags: refs.tags,
            changelogs: refs.changelogs,
            consumers: refs.consumers,
            manifests: refs.manifests,
        },
        vanished: refs.vanished.into_iter().collect(),
        newer_snapshots: refs.newer,
        unmatched: refs.unmatched,
    })
}

/// Put the shards' results together (in any order; every shard exactly once, or the merge
/// refuses) into the plan the single-process scan makes, saved with the fingerprint taken
/// before the listing. Pure.
pub fn merge(
    scan: &ShardedScan,
    results: Vec<ShardResult>,
    location: &str,
    clock: &dyn Clock,
) -> Result<SavedPlan> {
    let of = scan.shards.len();
    let mut results = results;
    results.sort_by_key(|r| r.index);
    let indexes: Vec<usize> = results.iter().map(|r| r.index).collect();
    if indexes != (0..of).collect::<Vec<_>>() {
        return Err(aborted(format!(
            "the sharded scan has {of} shard(s), but results came for shards {indexes:?}: \
             every shard exactly once"
        )));
    }
    if let Some(r) = results
        .iter()
        .find(|r| r.of != of || r.cutoff_millis != scan.cutoff_millis)
    {
        return Err(aborted(format!(
            "the result of shard {} belongs to another scan ({} shard(s), cutoff {})",
            r.index, r.of, r.cutoff_millis
        )));
    }
    let mut files = Vec::new();
    let mut unknown_files = Vec::new();
    let mut empty_dirs = scan.empty_dirs.clone();
    let mut vanished = BTreeSet::new();
    let mut newer = BTreeSet::new();
    let mut unmatched = BTreeSet::new();
    let (mut candidates, mut too_young, mut symlinked) = (0, 0, 0);
    let mut read = ReadCounts::default();
    for r in results {
        candidates += r.candidates;
        too_young += r.too_young;
        symlinked += r.symlinked;
        files.extend(r.files);
        unknown_files.extend(r.unknown_files);
        empty_dirs.extend(r.empty_dirs);
        vanished.extend(r.vanished);
        newer.extend(r.newer_snapshots);
        unmatched.extend(r.unmatched);
        // Every shard read all references; a later one may have seen more (a commit
        // meanwhile, found by its re-read).
        read.snapshots = read.snapshots.max(r.read.snapshots);
        read.tags = read.tags.max(r.read.tags);
        read.changelogs = read.changelogs.max(r.read.changelogs);
        read.consumers = read.consumers.max(r.read.consumers);
        read.manifests = read.manifests.max(r.read.manifests);
    }
    // The single-process scan's order: data first, then by path.
    files.sort_by(|a, b| a.category.cmp(&b.category).then(a.path.cmp(&b.path)));
    let mut notes = scan.notes.clone();
    notes.extend(listing_notes(symlinked, &unmatched));
    let plan = OrphanPlan {
        cutoff_millis: scan.cutoff_millis,
        branches: scan.branches.clone(),
        read,
        vanished: vanished.into_iter().collect(),
        newer_snapshots: newer.into_iter().collect(),
        candidates,
        too_young,
        files,
        unknown_files,
        empty_dirs,
        notes,
        planning_millis: clock.now_millis() - scan.started_millis,
    };
    Ok(SavedPlan {
        format: saved_plan::FORMAT.to_string(),
        table: crate::redact::redact(location),
        created_at_millis: scan.started_millis,
        fingerprint: scan.fingerprint.clone(),
        command: PlannedCommand::RemoveOrphanFiles(plan),
    })
}
