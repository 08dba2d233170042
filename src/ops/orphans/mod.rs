//! remove-orphan-files (paimon-format.md §7.8; Java `OrphanFilesClean` + `LocalOrphanFilesClean`).
//!
//! Orphans are files in Paimon's directories that no version references: leftovers of failed
//! writes, crashed jobs and rollbacks. Deleting one that *is* referenced loses data for good, and
//! that is where the field's worst bugs happened (Paimon #7710, #3074, #3970, #4779; Iceberg
//! #4194), so every rule here errs towards keeping a file.
//!
//! 1. **Cutoff.** Only files last modified strictly before the cutoff are candidates (default:
//!    one day before now). It is the only protection of files an in-flight commit has written
//!    but not yet committed, so a cutoff in the future or less than an hour old is refused
//!    unless forced (Paimon PR #4779).
//! 2. **Candidates first** (Paimon #3074): `manifest/`, `index/`, `statistics/`, the bucket
//!    directories under the partition directories, and the temporary files of crashed writes
//!    there and in every branch's `snapshot/`, `changelog/`, `tag/`, `schema/` and `consumer/`
//!    and in `_tagkeeper/plans/`: `.NAME.<uuid>.tmp` (Java, pypaimon, tagkeeper) and, on a
//!    local filesystem, object_store's `NAME#N` (which Paimon readers list as tags and
//!    snapshots). Only names Paimon writes in that directory are candidates; anything else is
//!    reported as unknown and never deleted. Plans themselves and every other directory are
//!    never looked into.
//! 3. **References, read completely**: the union over main and every `branch/branch-*` of all
//!    snapshots, tags, long-lived changelogs (and consumers, which are read and validated) —
//!    manifest lists, manifests, index manifests and files, statistics, and the data files
//!    (with their extra files) live in some version by the liveness model (`crate::liveness`):
//!    a file that only DELETE entries mention is needed by no version and is an orphan like any
//!    other (Java keeps it forever; tagkeeper's expiration would have deleted it). Any failure to read aborts
//!    the run with nothing deleted. The one exception: a version whose file vanished between
//!    listing and reading (a concurrent expiration, rollback or tag deletion) is skipped — and
//!    a missing manifest is only blamed on that when every version naming it is gone too. A
//!    missing manifest of a live version aborts (Java reads it as empty and deletes live data).
//!    A table with snapshot files but no readable reference aborts too.
//! 4. **Then the latest snapshot again**: each branch's latest snapshot is re-read after the
//!    references, and anything newer is added (a commit that landed meanwhile may reference old
//!    files listed in step 2). Only snapshots that exist are read: ids come from file names and
//!    may be anything up to `i64::MAX`, so beyond a few probes a new listing decides.
//! 5. Candidates whose name is not referenced are deleted in bulk (bounded concurrency), data
//!    first. On a local filesystem the bucket and partition directories left empty are removed
//!    (never the table root or the data directory); a directory that cannot be removed is
//!    reported with the deletions, never an error that would lose the report.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::error::{Error, FailedDeletion, Result};
use crate::format::file_name::{FileDir, OrphanRole, PaimonFile};
use crate::io::{ObjectInfo, TableStore};
use crate::ops::delete_tag::Tally;
use crate::ops::expire::PLAN_DIR;
use crate::table::layout::{
    CHANGELOG_DIR, CONSUMER_DIR, INDEX_DIR, MANIFEST_DIR, SCHEMA_DIR, SNAPSHOT_DIR, STATISTICS_DIR,
    TAG_DIR,
};
use crate::table::{Branch, Table};

use crate::liveness::gather::read_references_replayed;

pub mod shard;

const OPERATION: &str = "remove-orphan-files";

/// The default cutoff: files modified more than a day ago.
pub const DEFAULT_OLDER_THAN_MILLIS: i64 = 86_400_000;

/// Without `force`, the cutoff must lie at least this far in the past.
pub const MIN_AGE_MILLIS: i64 = 3_600_000;

/// tagkeeper's own directory (persisted expiration plans). Never listed, never touched.
pub const TAGKEEPER_DIR: &str = "_tagkeeper";

/// What to clean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanOptions {
    /// Only files last modified before this time (epoch ms) are deleted; `None` is one day
    /// before now.
    pub older_than_millis: Option<i64>,
    /// Accept a cutoff in the future or less than [`MIN_AGE_MILLIS`] old.
    pub force: bool,
}

/// The kind of an orphan, for the report.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OrphanCategory {
    /// Data and changelog files and their extra files (bucket directories).
    Data,
    /// Manifests.
    Manifest,
    /// Manifest lists.
    ManifestList,
    /// Index manifests and index files.
    Index,
    /// Statistics files.
    Statistics,
    /// Temporary and staging files of crashed writes: `.NAME.<uuid>.tmp` (Java, pypaimon,
    /// tagkeeper) anywhere it looks, and object_store's `NAME#N` on a local filesystem.
    Temporary,
}

impl OrphanCategory {
    fn of(file: &PaimonFile) -> Self {
        match file {
            PaimonFile::Manifest => OrphanCategory::Manifest,
            PaimonFile::ManifestList => OrphanCategory::ManifestList,
            PaimonFile::IndexManifest | PaimonFile::IndexFile => OrphanCategory::Index,
            PaimonFile::Statistics => OrphanCategory::Statistics,
            PaimonFile::Temporary => OrphanCategory::Temporary,
            _ => OrphanCategory::Data,
        }
    }
}

/// A file to delete (or deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OrphanFile {
    /// Key relative to the table root.
    pub path: String,
    /// Its kind.
    pub category: OrphanCategory,
    /// Size in bytes, from the listing.
    pub bytes: u64,
    /// Last modification time, from the listing.
    pub last_modified: DateTime<Utc>,
}

/// A file whose name Paimon does not write where it was found: reported, never deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UnknownFile {
    /// Key relative to the table root.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What the listing found, before any reference is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Files with Paimon names, old enough.
    pub candidates: Vec<OrphanFile>,
    /// Files with Paimon names modified at or after the cutoff: not considered.
    pub too_young: u64,
    /// Files with other names.
    pub unknown: Vec<UnknownFile>,
    /// Bucket and partition directories found empty.
    pub empty_dirs: Vec<String>,
    /// Files with Paimon names reached through a symbolic link (moved to `unknown`).
    pub symlinked: u64,
}

impl Listing {
    /// Sort the files found in one directory (pure). The keys are moved, not copied: a
    /// million copies were churn the allocator kept resident.
    pub fn add(&mut self, dir: FileDir, found: Vec<ObjectInfo>, cutoff_millis: i64) {
        for f in found {
            let kind = PaimonFile::parse(name_of(&f.key));
            // tagkeeper's own directory: only the temporaries of its crashed writes.
            if f.key.starts_with(TAGKEEPER_DIR) && kind != PaimonFile::Temporary {
                continue;
            }
            match PaimonFile::orphan_role_of(name_of(&f.key), dir) {
                OrphanRole::Kept => {}
                OrphanRole::Unknown => self.unknown.push(UnknownFile {
                    path: f.key,
                    bytes: f.size,
                }),
                OrphanRole::Candidate if f.last_modified.timestamp_millis() < cutoff_millis => {
                    self.candidates.push(OrphanFile {
                        path: f.key,
                        category: OrphanCategory::of(&kind),
                        bytes: f.size,
                        last_modified: f.last_modified,
                    })
                }
                OrphanRole::Candidate => self.too_young += 1,
            }
        }
    }

    /// Add object_store's staging leftovers (`NAME#N`, found by a local directory walk): each
    /// is a temporary of a crashed write, a candidate when older than the cutoff (pure).
    pub fn add_store_leftovers(&mut self, found: &[ObjectInfo], cutoff_millis: i64) {
        for f in found {
            if f.last_modified.timestamp_millis() < cutoff_millis {
                self.candidates.push(OrphanFile {
                    path: f.key.clone(),
                    category: OrphanCategory::Temporary,
                    bytes: f.size,
                    last_modified: f.last_modified,
                });
            } else {
                self.too_young += 1;
            }
        }
    }
}

/// What a run will delete: the plan (`--plan-out` saves it, the journal records it, `execute`
/// carries it out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OrphanPlan {
    /// Files modified before this time (epoch ms) were considered.
    pub cutoff_millis: i64,
    /// The branches whose references were read (`main` first).
    pub branches: Vec<String>,
    /// What was read to decide (for the report).
    pub read: ReadCounts,
    /// Versions skipped because they vanished while being read (concurrent expiration).
    pub vanished: Vec<String>,
    /// Snapshots committed during the planning, found by the final re-read.
    pub newer_snapshots: Vec<String>,
    /// Old files with Paimon names considered.
    pub candidates: u64,
    /// Files with Paimon names newer than the cutoff, not considered.
    pub too_young: u64,
    /// The orphans to delete, data first.
    pub files: Vec<OrphanFile>,
    /// Files with names Paimon does not write there: left alone.
    pub unknown_files: Vec<UnknownFile>,
    /// Bucket and partition directories found empty (removed on a local filesystem when older
    /// than the cutoff).
    pub empty_dirs: Vec<String>,
    /// Things worth knowing.
    pub notes: Vec<String>,
    /// How long planning took, ms.
    pub planning_millis: i64,
}

/// How much metadata a plan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReadCounts {
    /// Snapshots, over all branches (including those found by the final re-read).
    pub snapshots: u64,
    /// Tags.
    pub tags: u64,
    /// Long-lived changelogs.
    pub changelogs: u64,
    /// Consumers.
    pub consumers: u64,
    /// Manifests.
    pub manifests: u64,
}

/// What a run did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OrphanReport {
    /// Nothing was deleted.
    pub dry_run: bool,
    /// Files modified before this time (epoch ms) were considered.
    pub cutoff_millis: i64,
    /// The same, readable (UTC).
    pub cutoff: String,
    /// The branches whose references were read (`main` first).
    pub branches: Vec<String>,
    /// Snapshots read, over all branches (including those found by the final re-read).
    pub snapshots_read: u64,
    /// Tags read.
    pub tags_read: u64,
    /// Long-lived changelogs read.
    pub changelogs_read: u64,
    /// Consumers read.
    pub consumers_read: u64,
    /// Manifests read.
    pub manifests_read: u64,
    /// Versions skipped because they vanished while being read (concurrent expiration).
    pub vanished: Vec<String>,
    /// Snapshots committed during the run, found by the final re-read.
    pub newer_snapshots: Vec<String>,
    /// Old files with Paimon names considered.
    pub candidates: u64,
    /// Files with Paimon names newer than the cutoff, not considered.
    pub too_young: u64,
    /// Orphans deleted (or, on a dry run, that would be), per category.
    pub deleted: BTreeMap<OrphanCategory, Tally>,
    /// Every orphan, data first.
    pub files: Vec<OrphanFile>,
    /// Files with names Paimon does not write there: left alone.
    pub unknown_files: Vec<UnknownFile>,
    /// Empty bucket and partition directories removed (local filesystems only).
    pub removed_dirs: Vec<String>,
    /// Deletions that failed, each with its error (a missing file counts as deleted), and
    /// empty directories that could not be removed (path `<dir>/`); the run is incomplete.
    pub failed: Vec<FailedDeletion>,
    /// Things worth knowing (e.g. external data paths, which are not scanned).
    pub notes: Vec<String>,
    /// Wall-clock duration of the run, ms.
    pub duration_millis: i64,
    /// Interrupted runs (their journals) this run finished first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<String>,
}

impl OrphanReport {
    /// The report of a plan before anything is deleted (a dry run's, with `dry_run`).
    pub fn of(plan: &OrphanPlan, dry_run: bool) -> Self {
        let mut deleted: BTreeMap<OrphanCategory, Tally> = BTreeMap::new();
        for f in &plan.files {
            let t = deleted.entry(f.category).or_default();
            t.files += 1;
            t.bytes += f.bytes as i64;
        }
        OrphanReport {
            dry_run,
            cutoff_millis: plan.cutoff_millis,
            cutoff: render_millis(plan.cutoff_millis),
            branches: plan.branches.clone(),
            snapshots_read: plan.read.snapshots,
            tags_read: plan.read.tags,
            changelogs_read: plan.read.changelogs,
            consumers_read: plan.read.consumers,
            manifests_read: plan.read.manifests,
            vanished: plan.vanished.clone(),
            newer_snapshots: plan.newer_snapshots.clone(),
            candidates: plan.candidates,
            too_young: plan.too_young,
            deleted,
            files: plan.files.clone(),
            unknown_files: plan.unknown_files.clone(),
            removed_dirs: Vec::new(),
            failed: Vec::new(),
            notes: plan.notes.clone(),
            duration_millis: plan.planning_millis,
            resumed: Vec::new(),
        }
    }
}

/// The cutoff for `opts` at `now` (pure): refuses one in the future or less than an hour old
/// unless forced.
pub fn resolve_cutoff(opts: &OrphanOptions, now_millis: i64) -> Result<i64> {
    let cutoff = opts
        .older_than_millis
        .unwrap_or(now_millis - DEFAULT_OLDER_THAN_MILLIS);
    if opts.force {
        return Ok(cutoff);
    }
    if cutoff > now_millis {
        return Err(Error::InvalidArgument(format!(
            "the cutoff {} is in the future: every file written by a commit in flight would be deleted \
             (Paimon PR #4779); pass --force if no writer is running",
            render_millis(cutoff)
        )));
    }
    if now_millis - cutoff < MIN_AGE_MILLIS {
        return Err(Error::InvalidArgument(format!(
            "the cutoff {} is less than an hour ago: files a running commit has written but not yet \
             committed could be deleted; use an older cutoff, or --force if no writer is running",
            render_millis(cutoff)
        )));
    }
    Ok(cutoff)
}

/// The orphans among `candidates` (pure): those whose name no version references. Names are
/// unique (UUIDs), so Paimon and tagkeeper match by name alone.
pub fn unreferenced<S>(candidates: &[OrphanFile], referenced: &HashSet<S>) -> Vec<OrphanFile>
where
    S: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    let mut out: Vec<OrphanFile> = candidates
        .iter()
        .filter(|c| !c.path.starts_with(TAGKEEPER_DIR) || c.category == OrphanCategory::Temporary)
        .filter(|c| !referenced.contains(name_of(&c.path)))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.category.cmp(&b.category).then(a.path.cmp(&b.path)));
    out
}

/// What planning needs before it lists: the branches (each with a schema, or the run aborts),
/// where data lives, and the notes about what is not scanned.
pub(crate) struct Prepared {
    pub(crate) branches: Vec<Branch>,
    pub(crate) data_dir: String,
    pub(crate) partition_depth: usize,
    pub(crate) notes: Vec<String>,
}

pub(crate) async fn prepare(table: &Table) -> Result<Prepared> {
    let schema = table.latest_schema().await?;
    let branches = table.branches().await?;
    let mut notes = Vec::new();
    for b in branches.iter().skip(1) {
        if b.table.schema_ids().await?.is_empty() {
            return Err(aborted(format!(
                "branch '{}' ({}/) has no schema; check it by hand (Java aborts here too)",
                b.name, b.prefix
            )));
        }
    }
    if schema.option("data-file.external-paths").is_some() {
        notes.push(
            "data-file.external-paths is set: files under the external roots are not scanned"
                .into(),
        );
    }
    let data_dir = schema
        .option("data-file.path-directory")
        .map(|d| d.trim_matches('/').to_string())
        .unwrap_or_default();
    Ok(Prepared {
        branches,
        data_dir,
        partition_depth: schema.partition_keys.len(),
        notes,
    })
}

/// The notes a listing and its references add to a plan: files set aside as reached through a
/// symbolic link, and data files deleted by an entry no earlier entry added.
pub(crate) fn listing_notes(symlinked: u64, unmatched: &BTreeSet<String>) -> Vec<String> {
    let mut notes = Vec::new();
    if symlinked > 0 {
        notes.push(format!(
            "{} file(s) with Paimon names are reached through a symbolic link: never deleted, \
             listed with the unknown files",
            symlinked
        ));
    }
    if !unmatched.is_empty() {
        let shown: Vec<&String> = unmatched.iter().take(10).collect();
        notes.push(format!(
            "{} data file(s) are deleted by a manifest entry that no earlier entry added              (inconsistent metadata; `check` looks into it): kept, e.g. {shown:?}",
            unmatched.len()
        ));
    }
    notes
}

/// Plan: list, read references, decide. Deletes nothing.
pub async fn plan(table: &Table, opts: &OrphanOptions, clock: &dyn Clock) -> Result<OrphanPlan> {
    let started = clock.now_millis();
    let cutoff = resolve_cutoff(opts, started)?;
    let Prepared {
        branches,
        data_dir,
        partition_depth,
        mut notes,
    } = prepare(table).await?;

    // Step 2: candidates, before any reference is read (Paimon #3074).
    let listing = list_candidates(table, &branches, &data_dir, partition_depth, cutoff).await?;

    // Steps 3 and 4: every reference, completely, then the latest snapshot again.
    let refs = read_references_replayed(table, &branches, OPERATION, &|_| false)
        .await
        .map_err(abort_on_read)?;

    notes.extend(listing_notes(listing.symlinked, &refs.unmatched));
    let files = unreferenced(&listing.candidates, &refs.names);
    Ok(OrphanPlan {
        cutoff_millis: cutoff,
        branches: branches.iter().map(|b| b.name.clone()).collect(),
        read: ReadCounts {
            snapshots: refs.snapshots,
            tags: refs.tags,
            changelogs: refs.changelogs,
            consumers: refs.consumers,
            manifests: refs.manifests,
        },
        vanished: refs.vanished.into_iter().collect(),
        newer_snapshots: refs.newer,
        candidates: listing.candidates.len() as u64,
        too_young: listing.too_young,
        files,
        unknown_files: listing.unknown,
        empty_dirs: listing.empty_dirs,
        notes,
        planning_millis: clock.now_millis() - started,
    })
}

/// The journal name of orphan cleaning runs.
const JOURNAL: &str = "remove-orphan-files";

/// Carry out a plan (now or saved earlier): journal it, delete the orphans data first, in
/// bulk; then, on a local filesystem, the bucket and partition directories left empty; then
/// remove the journal. A run killed half-way is finished by the next run ([`resume`]).
pub async fn execute(table: &Table, plan: OrphanPlan, clock: &dyn Clock) -> Result<OrphanReport> {
    let key = if plan.files.is_empty() {
        None
    } else {
        Some(crate::ops::journal::record(table, JOURNAL, &plan).await?)
    };
    let report = delete_planned(table, &plan, clock).await;
    if let (Some(key), true) = (key, report.failed.is_empty()) {
        let mut report = report;
        report
            .notes
            .extend(crate::ops::journal::finish(table, &key).await);
        return Ok(report);
    }
    Ok(report)
}

/// Finish the runs that were interrupted (their journals): their planned orphans that nothing
/// needs now (the references are read again; any failure to read aborts, as planning does).
/// `None` when there was nothing to finish.
pub async fn resume(table: &Table, clock: &dyn Clock) -> Result<Option<OrphanReport>> {
    let pending: Vec<(String, OrphanPlan)> = crate::ops::journal::pending(table, JOURNAL).await?;
    if pending.is_empty() {
        return Ok(None);
    }
    let branches = table.branches().await?;
    let refs = read_references_replayed(table, &branches, OPERATION, &|_| false)
        .await
        .map_err(abort_on_read)?;
    let mut merged: Option<OrphanReport> = None;
    for (key, mut plan) in pending {
        plan.files
            .retain(|f| !refs.names.contains(name_of(&f.path)));
        let mut report = delete_planned(table, &plan, clock).await;
        if report.failed.is_empty() {
            report
                .notes
                .extend(crate::ops::journal::finish(table, &key).await);
        }
        report.resumed.push(key);
        merged = Some(match merged {
            None => report,
            Some(mut m) => {
                m.absorb(report);
                m
            }
        });
    }
    Ok(merged)
}

impl OrphanReport {
    /// Add the deletions of another run (a finished journal) to this report.
    pub fn absorb(&mut self, other: OrphanReport) {
        for (c, t) in other.deleted {
            let e = self.deleted.entry(c).or_default();
            e.files += t.files;
            e.bytes += t.bytes;
        }
        self.files.extend(other.files);
        self.files
            .sort_by(|a, b| a.category.cmp(&b.category).then(a.path.cmp(&b.path)));
        self.removed_dirs.extend(other.removed_dirs);
        self.failed.extend(other.failed);
        self.notes.extend(other.notes);
        self.resumed.extend(other.resumed);
    }
}

/// The deletions of a plan, without the journal.
async fn delete_planned(table: &Table, plan: &OrphanPlan, clock: &dyn Clock) -> OrphanReport {
    let started = clock.now_millis() - plan.planning_millis;
    let mut report = OrphanReport::of(plan, false);
    let mut ordered: Vec<&OrphanFile> = plan.files.iter().collect();
    ordered.sort_by_key(|f| f.category);
    let keys: Vec<String> = ordered.iter().map(|f| f.path.clone()).collect();
    let mut failed: HashSet<String> = HashSet::new();
    for (key, r) in table
        .store()
        .delete_all(&keys, "deleting orphan files")
        .await
    {
        if let Err(e) = r {
            report.failed.push(FailedDeletion::new(&key, &e));
            failed.insert(key);
        }
    }
    for f in report.files.iter().filter(|f| failed.contains(&f.path)) {
        if let Some(t) = report.deleted.get_mut(&f.category) {
            t.files = t.files.saturating_sub(1);
            t.bytes -= f.bytes as i64;
        }
    }
    // A run that failed to delete stops here: the next run tidies directories. Files are
    // gone by now, so a directory that cannot be removed is reported, never an error that
    // would lose the report of what was deleted.
    if failed.is_empty() && table.store().is_local() {
        let (removed, errors) = remove_empty_dirs(table, plan).await;
        report.removed_dirs = removed;
        report.failed.extend(errors);
    }
    report.duration_millis = clock.now_millis() - started;
    report
}

/// Finish interrupted runs (unless `dry_run`), plan, then (unless `dry_run`) execute.
pub async fn remove_orphan_files(
    table: &Table,
    opts: &OrphanOptions,
    dry_run: bool,
    clock: &dyn Clock,
) -> Result<OrphanReport> {
    let resumed = if dry_run {
        None
    } else {
        resume(table, clock).await?
    };
    let plan = plan(table, opts, clock).await?;
    let report = if dry_run {
        OrphanReport::of(&plan, true)
    } else {
        execute(table, plan, clock).await?
    };
    Ok(match resumed {
        None => report,
        Some(mut r) => {
            let mut report = report;
            r.dry_run = false;
            std::mem::swap(&mut report.resumed, &mut r.resumed);
            report.absorb(r);
            report
        }
    })
}

// ----- listing -----

async fn list_candidates(
    table: &Table,
    branches: &[Branch],
    data_dir: &str,
    partition_depth: usize,
    cutoff: i64,
) -> Result<Listing> {
    let (dirs, empty_dirs) = scan_dirs(table, branches, data_dir, partition_depth).await?;
    let mut listing = Listing {
        empty_dirs,
        ..Listing::default()
    };
    list_scan_dirs(table, &dirs, cutoff, &mut listing).await?;
    Ok(listing)
}

/// The directories a scan lists (the fixed metadata directories of every branch first, then
/// every bucket directory under the partition directories, in listing order), and the
/// partition directories found empty on the way. Only directories are listed here.
pub(crate) async fn scan_dirs(
    table: &Table,
    branches: &[Branch],
    data_dir: &str,
    partition_depth: usize,
) -> Result<(Vec<(String, FileDir)>, Vec<String>)> {
    let mut empty_dirs = Vec::new();
    let mut dirs: Vec<(String, FileDir)> = vec![
        (MANIFEST_DIR.to_string(), FileDir::Manifest),
        (INDEX_DIR.to_string(), FileDir::Index),
        (STATISTICS_DIR.to_string(), FileDir::Statistics),
        (PLAN_DIR.to_string(), FileDir::Table),
    ];
    for b in branches {
        for dir in [SNAPSHOT_DIR, CHANGELOG_DIR] {
            dirs.push((b.key(dir), FileDir::Versioned));
        }
        for dir in [TAG_DIR, SCHEMA_DIR, CONSUMER_DIR] {
            dirs.push((b.key(dir), FileDir::Table));
        }
    }
    // Partition directories, level by level (`k=v`), then `bucket-*` below the last level.
    let mut level: Vec<String> = vec![data_dir.to_string()];
    for _ in 0..partition_depth {
        let listed = list_dirs(table, &level).await?;
        let mut next = Vec::new();
        for (dir, (files, subdirs)) in level.iter().zip(listed) {
            let parts: Vec<String> = subdirs
                .into_iter()
                .filter(|d| name_of(d).contains('='))
                .collect();
            if parts.is_empty() && files.is_empty() && !dir.is_empty() && dir != data_dir {
                empty_dirs.push(dir.clone());
            }
            next.extend(parts);
        }
        level = next;
    }
    let listed = list_dirs(table, &level).await?;
    for (dir, (_, subdirs)) in level.iter().zip(listed) {
        let found: Vec<String> = subdirs
            .into_iter()
            .filter(|d| name_of(d).starts_with("bucket-"))
            .collect();
        if found.is_empty() && partition_depth > 0 {
            empty_dirs.push(dir.clone());
        }
        dirs.extend(found.into_iter().map(|d| (d, FileDir::Bucket)));
    }
    Ok((dirs, empty_dirs))
}

/// List `dirs` (as [`scan_dirs`] gives them, or a shard of them) into `listing`: their files
/// sorted by role, the bucket directories found empty, object_store's staging leftovers in
/// them, and the files reached through a symbolic link set aside.
pub(crate) async fn list_scan_dirs(
    table: &Table,
    dirs: &[(String, FileDir)],
    cutoff: i64,
    listing: &mut Listing,
) -> Result<()> {
    let store = table.store();
    let mut scanned: HashSet<String> = HashSet::new();
    // The metadata directories, listed concurrently and sorted in order.
    let fixed: Vec<&(String, FileDir)> =
        dirs.iter().filter(|(_, k)| *k != FileDir::Bucket).collect();
    let names: Vec<String> = fixed.iter().map(|(d, _)| d.clone()).collect();
    for ((dir, kind), (files, _)) in fixed.into_iter().zip(list_dirs(table, &names).await?) {
        listing.add(*kind, files, cutoff);
        scanned.insert(dir.clone());
    }
    let buckets: Vec<String> = dirs
        .iter()
        .filter(|(_, k)| *k == FileDir::Bucket)
        .map(|(d, _)| d.clone())
        .collect();
    // Each bucket directory sorted as its listing arrives: a million files' listings held at
    // once were as large as the candidates themselves.
    for_each_dir_listed(table, &buckets, |dir, (files, subdirs)| {
        if files.is_empty() && subdirs.is_empty() {
            listing.empty_dirs.push(dir.clone());
        }
        listing.add(FileDir::Bucket, files, cutoff);
        scanned.insert(dir.clone());
    })
    .await?;
    listing.candidates.shrink_to_fit();
    // object_store's staging files (`NAME#N`) next to the files it was writing (local
    // filesystems only; elsewhere nothing is found).
    let leftovers: Vec<ObjectInfo> = store
        .list_store_leftovers("")
        .await?
        .into_iter()
        .filter(|f| scanned.contains(parent_of(&f.key)))
        .collect();
    listing.add_store_leftovers(&leftovers, cutoff);
    set_aside_symlinked(store, listing).await
}

/// On a local filesystem, files and directories reached through a symbolic link are never
/// deleted: the listing follows links, so such a name may belong to a file outside the table,
/// or be a second name of a file the table references under its real path. They are reported
/// with the unknown files instead.
async fn set_aside_symlinked(store: &TableStore, listing: &mut Listing) -> Result<()> {
    if !store.is_local() {
        return Ok(());
    }
    // In chunks, and filtered in place: a copy of a million keys, or a second candidate
    // list, would double the listing's memory.
    let mut linked: Vec<bool> = Vec::with_capacity(listing.candidates.len());
    for chunk in listing.candidates.chunks(SYMLINK_CHECK_CHUNK) {
        let keys: Vec<String> = chunk.iter().map(|f| f.path.clone()).collect();
        linked.extend(store.through_symlink(keys).await?);
    }
    let mut linked = linked.into_iter();
    let mut set_aside = Vec::new();
    listing.candidates.retain(|f| {
        let keep = !linked.next().unwrap_or(true);
        if !keep {
            set_aside.push(UnknownFile {
                path: f.path.clone(),
                bytes: f.bytes,
            });
        }
        keep
    });
    listing.symlinked += set_aside.len() as u64;
    listing.unknown.extend(set_aside);
    let linked = store.through_symlink(listing.empty_dirs.clone()).await?;
    let dirs = std::mem::take(&mut listing.empty_dirs);
    listing.empty_dirs = dirs
        .into_iter()
        .zip(linked)
        .filter_map(|(d, linked)| (!linked).then_some(d))
        .collect();
    Ok(())
}

type DirListing = (Vec<ObjectInfo>, Vec<String>);

/// List `dirs` concurrently and hand each listing, in order, to `each` as it arrives (only the
/// listings in flight are held).
async fn for_each_dir_listed(
    table: &Table,
    dirs: &[String],
    mut each: impl FnMut(&String, DirListing),
) -> Result<()> {
    use futures::StreamExt;
    let phase = crate::progress::Phase::start("listing directories", dirs.len() as u64);
    // Collected first: a stream mapping a closure over borrowed names is not `Send`.
    let futures: Vec<_> = dirs
        .iter()
        .map(|d| {
            let phase = &phase;
            async move {
                let listed = table.store().list_dir(d).await;
                phase.add(1);
                (d, listed)
            }
        })
        .collect();
    let mut listed = futures::stream::iter(futures).buffered(DIR_LIST_AHEAD);
    while let Some((dir, found)) = listed.next().await {
        each(dir, found?);
    }
    Ok(())
}

/// Candidates checked for symbolic links per call.
const SYMLINK_CHECK_CHUNK: usize = 8192;

/// Directory listings in flight at once.
const DIR_LIST_AHEAD: usize = 64;

/// Every listing of `dirs`, in order.
async fn list_dirs(table: &Table, dirs: &[String]) -> Result<Vec<DirListing>> {
    let mut all = Vec::with_capacity(dirs.len());
    for_each_dir_listed(table, dirs, |_, listed| all.push(listed)).await?;
    Ok(all)
}

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

fn parent_of(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(p, _)| p)
}

fn aborted(reason: String) -> Error {
    Error::Aborted {
        operation: OPERATION,
        reason,
    }
}

/// Reading references failed: nothing may be deleted.
fn abort_on_read(e: Error) -> Error {
    match e {
        e @ Error::Aborted { .. } => e,
        e => aborted(format!("the references could not be read completely: {e}")),
    }
}

// ----- empty directories -----

/// The directories removed, and each removal that failed (path `<dir>/`).
async fn remove_empty_dirs(
    table: &Table,
    report: &OrphanPlan,
) -> (Vec<String>, Vec<FailedDeletion>) {
    let store = table.store();
    let mut removed = BTreeSet::new();
    let mut errors = Vec::new();
    // The bucket directories this run emptied (their modification time is now: no age check).
    let mut level: BTreeSet<String> = report
        .files
        .iter()
        .map(|f| parent_of(&f.path))
        .filter(|d| name_of(d).starts_with("bucket-"))
        .map(str::to_string)
        .collect();
    // Directories found empty while listing, only if older than the cutoff: a writer may
    // have just made one.
    for d in &report.empty_dirs {
        match store.remove_empty_dir(d, Some(report.cutoff_millis)).await {
            Ok(true) => {
                removed.insert(d.clone());
                if name_of(parent_of(d)).contains('=') {
                    level.insert(parent_of(d).to_string());
                }
            }
            Ok(false) => {}
            Err(e) => errors.push(dir_failure(d, &e)),
        }
    }
    // Bottom up, while directories empty: buckets, then partitions. A parent without `=` in its
    // name is the table root or the data directory, which stay.
    while !level.is_empty() {
        let mut next = BTreeSet::new();
        for d in level.iter().filter(|d| !d.is_empty()) {
            match store.remove_empty_dir(d, None).await {
                Ok(true) => {
                    removed.insert(d.clone());
                    let p = parent_of(d);
                    if name_of(p).contains('=') {
                        next.insert(p.to_string());
                    }
                }
                Ok(false) => {}
                Err(e) => errors.push(dir_failure(d, &e)),
            }
        }
        level = next;
    }
    (removed.into_iter().collect(), errors)
}

fn dir_failure(dir: &str, e: &Error) -> FailedDeletion {
    FailedDeletion::new(format!("{dir}/"), e)
}

fn render_millis(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| millis.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "4ccc4a25-2b29-4d42-b9a8-8a2fba47ae7a";
    const NOW: i64 = 1_800_000_000_000;

    fn info(key: &str, age_millis: i64) -> ObjectInfo {
        ObjectInfo {
            key: key.to_string(),
            size: 10,
            last_modified: DateTime::from_timestamp_millis(NOW - age_millis).unwrap_or_default(),
        }
    }

    #[test]
    fn cutoff_rules() {
        let day = DEFAULT_OLDER_THAN_MILLIS;
        let o = |older: Option<i64>, force| OrphanOptions {
            older_than_millis: older,
            force,
        };
        assert_eq!(resolve_cutoff(&o(None, false), NOW).ok(), Some(NOW - day));
        assert_eq!(
            resolve_cutoff(&o(Some(NOW - MIN_AGE_MILLIS), false), NOW).ok(),
            Some(NOW - MIN_AGE_MILLIS)
        );
        for bad in [NOW + 1, NOW, NOW - MIN_AGE_MILLIS + 1] {
            assert!(matches!(
                resolve_cutoff(&o(Some(bad), false), NOW),
                Err(Error::InvalidArgument(_))
            ));
            assert_eq!(resolve_cutoff(&o(Some(bad), true), NOW).ok(), Some(bad));
        }
    }

    #[test]
    fn listing_sorts_candidates_young_and_unknown_files() {
        let cutoff = NOW - DEFAULT_OLDER_THAN_MILLIS;
        let old = 2 * DEFAULT_OLDER_THAN_MILLIS;
        let mut l = Listing::default();
        l.add(
            FileDir::Bucket,
            vec![
                info(&format!("dt=1/bucket-0/data-{U}-0.parquet"), old),
                info(&format!("dt=1/bucket-0/data-{U}-1.parquet"), 1000),
                info("dt=1/bucket-0/notes.txt", old),
                info(&format!("dt=1/bucket-0/manifest-{U}-0"), old),
            ],
            cutoff,
        );
        l.add(
            FileDir::Versioned,
            vec![
                info("snapshot/snapshot-1", old),
                info("snapshot/LATEST", old),
                info(&format!("snapshot/.snapshot-2.{U}.tmp"), old),
                info("snapshot/snapshot-2.tmp", old),
            ],
            cutoff,
        );
        let got: Vec<(&str, OrphanCategory)> = l
            .candidates
            .iter()
            .map(|c| (c.path.as_str(), c.category))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    format!("dt=1/bucket-0/data-{U}-0.parquet").as_str(),
                    OrphanCategory::Data
                ),
                (
                    format!("snapshot/.snapshot-2.{U}.tmp").as_str(),
                    OrphanCategory::Temporary
                ),
            ]
        );
        assert_eq!(l.too_young, 1);
        let unknown: Vec<&str> = l.unknown.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            unknown,
            vec![
                "dt=1/bucket-0/notes.txt",
                format!("dt=1/bucket-0/manifest-{U}-0").as_str(),
                "snapshot/snapshot-2.tmp"
            ]
        );
    }

    #[test]
    fn a_file_modified_exactly_at_the_cutoff_is_kept() {
        let mut l = Listing::default();
        l.add(
            FileDir::Manifest,
            vec![info(&format!("manifest/manifest-{U}-0"), 5000)],
            NOW - 5000,
        );
        assert!(l.candidates.is_empty());
        assert_eq!(l.too_young, 1);
    }

    #[test]
    fn only_unreferenced_names_go_and_never_tagkeepers_own() {
        let file = |path: &str, category| OrphanFile {
            path: path.to_string(),
            category,
            bytes: 1,
            last_modified: DateTime::from_timestamp_millis(0).unwrap_or_default(),
        };
        let candidates = vec![
            file("manifest/manifest-a-0", OrphanCategory::Manifest),
            file("bucket-0/data-b-0.parquet", OrphanCategory::Data),
            file("bucket-0/data-c-0.parquet", OrphanCategory::Data),
            file("_tagkeeper/plans/manifest-d-0", OrphanCategory::Manifest),
        ];
        let referenced: HashSet<String> = ["data-b-0.parquet".to_string()].into_iter().collect();
        let got: Vec<String> = unreferenced(&candidates, &referenced)
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(
            got,
            vec!["bucket-0/data-c-0.parquet", "manifest/manifest-a-0"]
        );
    }
}
