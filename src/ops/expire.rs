//! expire-snapshots (paimon-format.md §7.2; Java `ExpireSnapshotsImpl` + `SnapshotDeletion`).
//!
//! **Range.** Java's: keep at least `retain_min` and at most `retain_max` snapshots, keep
//! snapshots younger than `time_retained` (by the *successor's* commit time, as Java ≥ 2.0), never
//! past what a consumer still needs, at most `expire_limit` per run. The expired range is
//! `[earliest, end)`; snapshot `end` becomes the earliest.
//!
//! **Files.** For each snapshot `s` in `(earliest, end]`, the data files its delta deletes (net:
//! a DELETE cancelled by an ADD of the same file is a level change) are deleted unless a tag
//! keeps them. Fast path: a file committed at `c` (recorded `_COMMIT_SNAPSHOT`) and deleted at
//! `s` is kept exactly when some tag `t` has `c <= t < s` — sorted tag ids, no manifest read.
//! Fallback for files without the field: Java's rule, the nearest tag before `s` (its live
//! files, read once per tag and cached). Then changelog files of expired snapshots, and their
//! manifests, manifest lists, index and statistics files that neither a tag nor snapshot `end`
//! uses. Branches share main's data files and manifests: everything a branch version (snapshot,
//! tag or changelog of any branch) needs is protected, decided by the liveness model
//! (`crate::liveness`), which the property tests prove the fast paths equal to.
//!
//! **Fail closed.** A tag that is not a consistent copy of a snapshot (its id decides what it
//! protects) stops the run as corrupt, nothing deleted. An unreadable delta cancels the data
//! deletions of that snapshot; an unreadable tag cancels the deletions it might protect; an
//! unreadable tag or `end` snapshot cancels every manifest deletion; an unreadable branch stops
//! the run. Each skip is reported with the file and reason.
//!
//! **Order and crash safety.** The plan is written first, with a conditional create, to
//! `_tagkeeper/plans/expire-<end>.json` (Paimon's orphan cleaners only look into Paimon's own
//! directories, so they ignore it). Then `EARLIEST` moves to `end`, the expired snapshot files
//! are deleted in ascending order — so no snapshot a reader can start from ever points at
//! deleted files (Paimon issue #6978) — then the planned files, then the plan. A re-run first
//! finishes a plan it finds; if tags changed since the plan was made, its file deletions are
//! dropped (left for orphan cleaning) rather than trusted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, FailedDeletion, Result};
use crate::format::duration::parse_duration;
use crate::format::hint::encode_hint;
use crate::format::ids::SnapshotId;
use crate::format::manifest::FileKind;
use crate::format::snapshot::Snapshot;
use crate::io::{CreateOutcome, Deleted};
use crate::liveness::check_tag;
use crate::ops::delete_tag::{metadata_footprint, Category, Footprint, PlannedFile};
use crate::table::layout::{
    earliest_hint_key, manifest_key, snapshot_key, statistics_key, tag_key, CONSUMER_DIR,
};
use crate::table::{Branch, NamedTag, SnapshotRange, Table};

/// Where plans are kept, relative to the table root.
pub const PLAN_DIR: &str = "_tagkeeper/plans";

/// Retention settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireOptions {
    /// `snapshot.num-retained.min` (10); at least 1.
    pub retain_min: u64,
    /// `snapshot.num-retained.max` (unbounded).
    pub retain_max: u64,
    /// `snapshot.time-retained` (1 h), in ms.
    pub time_retained_millis: i64,
    /// `snapshot.expire.limit` (50): snapshots expired per run.
    pub expire_limit: u64,
    /// Decide every data file by Java's nearest-tag rule, ignoring `_COMMIT_SNAPSHOT` (for
    /// tests and benchmarks that compare the two; the results are the same).
    pub ignore_commit_snapshot: bool,
}

impl ExpireOptions {
    /// From a table's options, with Paimon's defaults.
    pub fn from_table(options: &[(String, String)]) -> Result<Self> {
        let get = |k: &str| {
            options
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let num = |k: &str, d: u64| -> Result<u64> {
            get(k).map_or(Ok(d), |v| {
                v.trim().parse().map_err(|_| {
                    Error::InvalidArgument(format!("table option {k} = {v:?} is not a number"))
                })
            })
        };
        let retained = match get("snapshot.time-retained") {
            None => 3_600_000,
            Some(v) => parse_duration(v)
                .map_err(|e| {
                    Error::InvalidArgument(format!("table option snapshot.time-retained: {e}"))
                })?
                .as_millis() as i64,
        };
        Ok(ExpireOptions {
            retain_min: num("snapshot.num-retained.min", 10)?,
            retain_max: num("snapshot.num-retained.max", i32::MAX as u64)?,
            time_retained_millis: retained,
            expire_limit: num("snapshot.expire.limit", 50)?,
            ignore_commit_snapshot: false,
        })
    }

    /// Java's `ExpireConfig.isChangelogDecoupled`: `changelog.num-retained.*` or
    /// `changelog.time-retained` beyond this (effective) snapshot retention. Then expired
    /// snapshots are kept as long-lived changelogs (`changelog/changelog-N`).
    pub fn changelog_decoupled(&self, options: &[(String, String)]) -> bool {
        let get = |k: &str| {
            options
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let num = |k: &str| get(k).and_then(|v| v.trim().parse::<u64>().ok());
        let longer_count = num("changelog.num-retained.min").is_some_and(|v| v > self.retain_min)
            || num("changelog.num-retained.max").is_some_and(|v| v > self.retain_max);
        let longer_time = get("changelog.time-retained")
            .and_then(|v| parse_duration(v).ok())
            .is_some_and(|d| d.as_millis() as i64 > self.time_retained_millis);
        longer_count || longer_time
    }

    fn validate(&self) -> Result<()> {
        if self.retain_min < 1 {
            return Err(Error::InvalidArgument("retain-min must be at least 1 (Paimon issue #10088: 0 deletes files of retained snapshots)".into()));
        }
        if self.retain_max < self.retain_min {
            return Err(Error::InvalidArgument(format!(
                "retain-max ({}) must be at least retain-min ({})",
                self.retain_max, self.retain_min
            )));
        }
        if self.expire_limit < 1 {
            return Err(Error::InvalidArgument(
                "max-deletes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The plan: what an expiration deletes. Persisted (the journal, `--plan-out`) before
/// anything is deleted; [`execute`] carries out exactly this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpirePlan {
    /// Snapshot ids expired, ascending.
    pub expired_snapshots: Vec<i64>,
    /// The new earliest snapshot.
    pub new_earliest: Option<i64>,
    /// Files to delete.
    pub files: Vec<PlannedFile>,
    /// Per category: count and bytes.
    pub totals: BTreeMap<Category, (u64, i64)>,
    /// Deletions skipped for safety, with the reason (execution may add one: tags changed).
    pub skipped: Vec<String>,
    /// How many data files the fast path decided without reading a tag.
    pub decided_by_commit_snapshot: u64,
    /// How many fell back to the nearest-tag rule.
    pub decided_by_nearest_tag: u64,
    /// Tags (name → snapshot id) when the plan was made; a resumed plan checks them.
    pub tags: BTreeMap<String, i64>,
    /// The decoupled changelog lifecycle (Java's `changelogDecoupled`): each expired snapshot
    /// is written as `changelog/changelog-N` before its snapshot file is deleted, and its
    /// changelog list, manifests and files stay (for `expire-changelogs`).
    #[serde(default)]
    pub changelog_decoupled: bool,
    /// The run stopped at `snapshot.expire.limit` (`--max-deletes`) while older snapshots
    /// are still due: another run (or a larger limit) expires more.
    #[serde(default)]
    pub limit_reached: bool,
}

/// What an expiration did (or, on a dry run, would do): its plan and the outcome. The JSON
/// form has the plan's fields at the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpireReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The plan carried out.
    #[serde(flatten)]
    pub plan: ExpirePlan,
    /// Planned files whose deletion failed, each with its error (the command is incomplete).
    pub failed: Vec<FailedDeletion>,
    /// Planned files that were already gone (deleted by an earlier, interrupted run, or by
    /// someone else). Only where the store tells: S3 reports such deletes as successful.
    pub already_gone: Vec<String>,
    /// True when this run finished a plan an earlier, interrupted run had written.
    pub resumed: bool,
    /// `EARLIEST`/`LATEST` hints that were wrong after the run and were rewritten (or could
    /// not be), as Java's expiration rewrites `EARLIEST`.
    pub hints_rewritten: Vec<String>,
}

impl ExpireReport {
    /// The report of a plan before anything is done (a dry run's, with `dry_run`).
    pub fn of(plan: ExpirePlan, dry_run: bool) -> Self {
        ExpireReport {
            dry_run,
            plan,
            failed: Vec::new(),
            already_gone: Vec::new(),
            resumed: false,
            hints_rewritten: Vec::new(),
        }
    }
}

/// Compute the range and the files. Changes nothing.
pub async fn plan(table: &Table, opts: &ExpireOptions, now_millis: i64) -> Result<ExpirePlan> {
    opts.validate()?;
    let range = table.snapshot_range().await?;
    match plan_range(table, opts, now_millis, &range).await {
        // A listed snapshot (or what it names) that is gone by the time it is read: if the
        // earliest snapshot moved meanwhile, another expiration ran concurrently. That is a
        // conflict to retry, not damage; otherwise the error stands as it is.
        Err(e @ (Error::SnapshotNotFound { .. } | Error::MissingFile { .. })) => {
            let again = table.snapshot_range().await?;
            if again.earliest() != range.earliest() {
                Err(Error::Conflict(format!(
                    "another expiration ran while this one was planning ({e}); run again"
                )))
            } else {
                Err(e)
            }
        }
        other => other,
    }
}

async fn plan_range(
    table: &Table,
    opts: &ExpireOptions,
    now_millis: i64,
    range: &SnapshotRange,
) -> Result<ExpirePlan> {
    let tags = table.tags().await?;
    let schema = table.latest_schema().await?;
    // Java's expiration leaves Iceberg metadata alone (its next commit expires the Iceberg
    // snapshots): the Iceberg view keeps reading its current snapshot, whose files are the
    // latest snapshot's, and its tag refs, whose files the tags keep. The same here, for
    // metadata in the table's own `metadata/` (never deleted: it is not Paimon's).
    schema.iceberg_metadata_dir("expire-snapshots")?;
    let schema_options = schema.options.clone();
    let decoupled = opts.changelog_decoupled(&schema_options);
    // Java's `produceChangelog`: `changelog-producer` other than `none`.
    let produce_changelog = schema_options
        .iter()
        .find(|(k, _)| k == "changelog-producer")
        .is_some_and(|(_, v)| !v.trim().eq_ignore_ascii_case("none"));
    let mut p = ExpirePlan {
        changelog_decoupled: decoupled,
        limit_reached: false,
        expired_snapshots: Vec::new(),
        new_earliest: range.earliest().map(|e| e.0),
        files: Vec::new(),
        totals: BTreeMap::new(),
        skipped: Vec::new(),
        decided_by_commit_snapshot: 0,
        decided_by_nearest_tag: 0,
        tags: tags
            .iter()
            .map(|t| (t.name.to_string(), t.tag.snapshot.id.0))
            .collect(),
    };
    let (Some(earliest), Some(latest)) = (range.earliest(), range.latest()) else {
        return Ok(p);
    };
    // Java's `consumerChangelogOnly`: `consumer.changelog-only` with the decoupled lifecycle
    // makes consumers hold back changelog expiry only, not snapshot expiry.
    let changelog_only = decoupled
        && schema_options
            .iter()
            .find(|(k, _)| k == "consumer.changelog-only")
            .is_some_and(|(_, v)| v.trim().eq_ignore_ascii_case("true"));
    let (end, limit_reached) = expire_end(
        table,
        opts,
        earliest.0,
        latest.0,
        now_millis,
        changelog_only,
    )
    .await?;
    p.limit_reached = limit_reached;
    if end <= earliest.0 {
        return Ok(p);
    }
    let expired: Vec<i64> = range.ids.iter().map(|i| i.0).filter(|i| *i < end).collect();
    p.expired_snapshots = expired.clone();
    p.new_earliest = Some(end);
    let end_snapshot = table
        .try_load_snapshot(SnapshotId(end))
        .await?
        .ok_or_else(|| Error::MissingFile {
            path: snapshot_key(SnapshotId(end)),
            referenced_by: "the snapshot listing (it is the new earliest)".into(),
        })?;
    let mut tag_ids: Vec<i64> = tags.iter().map(|t| t.tag.snapshot.id.0).collect();
    tag_ids.sort();
    let mut files: BTreeMap<String, (Category, i64)> = BTreeMap::new();

    // Every expired snapshot, read once (in parallel).
    let ids: Vec<SnapshotId> = expired.iter().map(|i| SnapshotId(*i)).collect();
    let loaded: Vec<Snapshot> = table.load_snapshots(&ids).await?;
    let by_id: HashMap<i64, &Snapshot> = loaded
        .iter()
        .map(|s| (s.id.0, s))
        .chain(std::iter::once((end, &end_snapshot)))
        .collect();
    // The fast paths decide by tag ids: every tag must be a consistent copy of its snapshot.
    // The retained snapshots of tags are read concurrently, then checked in tag order.
    let futures: Vec<_> = tags
        .iter()
        .map(|t| {
            let id = t.tag.snapshot.id;
            let by_id = &by_id;
            async move {
                match by_id.get(&id.0) {
                    Some(s) => Ok(Some((*s).clone())),
                    None if range.ids.binary_search(&id).is_ok() => {
                        table.try_load_snapshot(id).await
                    }
                    None => Ok(None),
                }
            }
        })
        .collect();
    let retained_of = crate::table::ordered(futures).await?;
    for (t, retained) in tags.iter().zip(retained_of) {
        check_tag(
            &tag_key(&t.name),
            &t.tag.snapshot,
            range.latest(),
            retained.as_ref(),
        )?;
    }
    // Branch versions and main's long-lived changelogs (left by a decoupled lifecycle that
    // is no longer configured) share main's data files and manifests: what they need is
    // protected, decided by the liveness model (each such version read completely). Main's
    // snapshots and tags are decided by the fast paths below.
    // With the decoupled lifecycle, the expired snapshots become such changelogs: roots too.
    // Java deletes their base and delta lists (index, statistics) with the snapshot when a
    // changelog producer writes changelog files, and keeps them without one (the changelog is
    // then the delta's level-0 files).
    // On a branch (`--branch`), the branch is "this" table and main is one of the others.
    let mut branches: Vec<Branch> = table.branches().await?;
    let own_changelogs = decoupled || has_changelogs(table).await?;
    let me = table.branch_name().to_string();
    branches.retain(|b| b.name != me || own_changelogs);
    let to_be: Vec<crate::liveness::gather::Version> = if decoupled {
        loaded
            .iter()
            .map(|s| crate::liveness::gather::Version {
                owner: format!("changelog {} (written by this expiration)", s.id),
                key: table.root_key(&changelog_key(s.id.0)),
                snapshot: s.clone(),
                changelog: true,
                data_lists: !produce_changelog,
            })
            .collect()
    } else {
        Vec::new()
    };
    let branch_needs: crate::liveness::NeededNames = if branches.is_empty() {
        HashSet::new()
    } else {
        // This branch's version files: main's are the keys outside `branch/`.
        let own_prefix = format!("{}/", table.root_key("").trim_end_matches('/'));
        let is_main = !table.is_branch();
        let own_non_changelog = |v: &crate::liveness::gather::Version| {
            !v.changelog
                && if is_main {
                    !v.key.starts_with("branch/")
                } else {
                    v.key.starts_with(&own_prefix)
                }
        };
        crate::liveness::gather::read_references_with(
            table,
            &branches,
            "expire-snapshots",
            &own_non_changelog,
            to_be,
        )
        .await?
        .names
    };
    // Java's `SnapshotDeletion` without a changelog producer: data files written by APPEND
    // (or of unknown source) are the changelog; `expire-changelogs` deletes them.
    let keep_appended = decoupled && !produce_changelog;
    let layout = DataLayout {
        spec: table.partition_spec().await?,
        data_dir: table
            .latest_schema()
            .await?
            .option("data-file.path-directory")
            .map(str::to_string),
    };

    // Data files deleted by the deltas of (earliest, end].
    let mut skippers: HashMap<i64, Option<BTreeSet<String>>> = HashMap::new();
    let mut chain = Chain::default();
    // The deltas are read a window at a time, concurrently, and decided in commit order.
    let chain_of: Vec<&Snapshot> = expired
        .iter()
        .skip(1)
        .copied()
        .chain(std::iter::once(end))
        .filter_map(|id| by_id.get(&id).copied())
        .collect();
    for window in chain_of.chunks(DELTA_WINDOW) {
        let futures: Vec<_> = window
            .iter()
            .map(|s| async move {
                let owner = format!("snapshot {}", s.id);
                Ok::<_, Error>(table.entries_of_list(&s.delta_manifest_list, &owner).await)
            })
            .collect();
        for (s, delta) in window.iter().zip(crate::table::ordered(futures).await?) {
            plan_deleted_data(
                table,
                s,
                delta,
                &layout,
                &tags,
                &tag_ids,
                opts.ignore_commit_snapshot,
                keep_appended,
                &mut skippers,
                &mut chain,
                &mut p,
            )
            .await?;
        }
    }
    let later: Vec<SnapshotId> = range.ids.iter().copied().filter(|i| i.0 > end).collect();
    keep_files_added_back(table, &later, &layout, &mut chain, &mut p).await?;
    for (path, (bytes, extra)) in chain.candidates {
        files.insert(path, (Category::Data, bytes));
        for x in extra {
            files.insert(x, (Category::Data, 0));
        }
    }

    // Changelog files, manifests, lists, index and statistics of expired snapshots.
    let mut keep: Vec<Footprint> = Vec::new();
    let mut manifests_ok = true;
    let futures: Vec<_> = tags
        .iter()
        .map(|t| async move {
            let owner = format!("tag '{}'", t.name);
            Ok::<_, Error>(metadata_footprint(table, &t.tag.snapshot, &owner).await)
        })
        .collect();
    for (t, footprint) in tags.iter().zip(crate::table::ordered(futures).await?) {
        match footprint {
            Ok(f) => keep.push(f),
            Err(e) => {
                manifests_ok = false;
                p.skipped.push(format!(
                    "manifests: tag '{}' is unreadable ({e}); no manifest is deleted",
                    t.name
                ));
            }
        }
    }
    match metadata_footprint(table, &end_snapshot, &format!("snapshot {end}")).await {
        Ok(f) => keep.push(f),
        Err(e) => {
            manifests_ok = false;
            p.skipped.push(format!(
                "manifests: snapshot {end} is unreadable ({e}); no manifest is deleted"
            ));
        }
    }
    if manifests_ok {
        let scope = MetadataScope {
            changelog: !decoupled,
            data_lists: !decoupled || produce_changelog,
        };
        // Read concurrently; applied in snapshot order, as one loop would.
        let futures: Vec<_> = loaded
            .iter()
            .map(|s| {
                let keep = &keep;
                async move {
                    let (mut inserts, mut out) = (Inserts::default(), Skipped::default());
                    plan_metadata(table, s, keep, scope, &mut inserts, &mut out).await;
                    Ok::<_, Error>((inserts, out))
                }
            })
            .collect();
        for (inserts, out) in crate::table::ordered(futures).await? {
            for (path, v) in inserts.0 {
                files.insert(path, v);
            }
            p.skipped.extend(out.skipped);
        }
    }
    if !branch_needs.is_empty() {
        files.retain(|path, _| !branch_needs.contains(path.rsplit('/').next().unwrap_or(path)));
    }
    p.files = files
        .into_iter()
        .map(|(path, (category, bytes))| PlannedFile {
            path,
            category,
            bytes,
        })
        .collect();
    for f in &p.files {
        let e = p.totals.entry(f.category).or_default();
        e.0 += 1;
        e.1 += f.bytes;
    }
    Ok(p)
}

/// Expired deltas read at once (their entries are held until decided).
const DELTA_WINDOW: usize = 64;

/// Successor snapshots read at once while looking for the end of the expired range.
const SUCCESSOR_WINDOW: usize = 32;

/// Java's `expire()` range computation: the exclusive end of the expired range, and whether
/// `expire_limit` cut it short (the snapshot at the end would expire too without the limit).
async fn expire_end(
    table: &Table,
    o: &ExpireOptions,
    earliest: i64,
    latest: i64,
    now: i64,
    consumer_changelog_only: bool,
) -> Result<(i64, bool)> {
    let min = (latest - o.retain_max as i64 + 1).max(earliest);
    let mut max_exclusive = latest - o.retain_min as i64 + 1;
    if !consumer_changelog_only {
        if let Some(c) = min_consumer(table).await? {
            max_exclusive = max_exclusive.min(c);
        }
    }
    let unlimited = max_exclusive;
    max_exclusive = max_exclusive.min(earliest.saturating_add(o.expire_limit as i64));
    let older_than = now - o.time_retained_millis;
    // Java ≥ 2.0 checks the successor's time: a snapshot stays while the next one is young.
    let young = |next: Option<Snapshot>| next.is_some_and(|n| older_than <= n.time_millis);
    // Successors are read a window at a time, concurrently (one at a time, each request's
    // latency added up: 1,000 expired snapshots took 20 s at 20 ms a request); the decision
    // is still the first young successor in id order.
    let ids: Vec<i64> = (min..max_exclusive).collect();
    for window in ids.chunks(SUCCESSOR_WINDOW) {
        let futures: Vec<_> = window
            .iter()
            .map(|id| table.try_load_snapshot(SnapshotId(id + 1)))
            .collect();
        for (id, next) in window.iter().zip(crate::table::ordered(futures).await?) {
            if young(next) {
                return Ok((*id, false));
            }
        }
    }
    let limited = max_exclusive < unlimited
        && max_exclusive >= min
        && !young(
            table
                .try_load_snapshot(SnapshotId(max_exclusive + 1))
                .await?,
        );
    Ok((max_exclusive, limited))
}

/// Whether main has long-lived changelogs (`changelog/changelog-N`).
async fn has_changelogs(table: &Table) -> Result<bool> {
    let (files, _) = table
        .store()
        .list_dir(crate::table::layout::CHANGELOG_DIR)
        .await?;
    Ok(files.iter().any(|f| {
        matches!(
            crate::format::file_name::PaimonFile::parse(f.key.rsplit('/').next().unwrap_or(&f.key)),
            crate::format::file_name::PaimonFile::ChangelogMeta(_)
        )
    }))
}

/// The smallest `nextSnapshot` of `consumer/consumer-*`.
async fn min_consumer(table: &Table) -> Result<Option<i64>> {
    let (files, _) = table.store().list_dir(CONSUMER_DIR).await?;
    let mut min: Option<i64> = None;
    for f in files.iter().filter(|f| {
        f.key
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("consumer-"))
    }) {
        let Some(bytes) = table.store().get_opt(&f.key).await? else {
            continue;
        };
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&f.key, e))?;
        let next = v
            .get("nextSnapshot")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| Error::corrupt(&f.key, "missing 'nextSnapshot'"))?;
        min = Some(min.map_or(next, |m: i64| m.min(next)));
    }
    Ok(min)
}

/// How data file paths are built (read once per run).
pub(crate) struct DataLayout {
    spec: crate::format::partition::PartitionSpec,
    data_dir: Option<String>,
}

impl DataLayout {
    /// The table's.
    pub(crate) async fn of(table: &Table) -> Result<Self> {
        // One read of the schema (a LIST and a GET), not one per field.
        let schema = table.latest_schema().await?;
        Ok(DataLayout {
            spec: crate::format::partition::PartitionSpec::new(
                schema.partition_keys.clone(),
                schema.partition_types(),
                &schema.options,
            ),
            data_dir: schema
                .option("data-file.path-directory")
                .map(str::to_string),
        })
    }

    /// Resolve paths and partition values of entries (no I/O: [`Table::locate`] without
    /// reading the schema again).
    pub(crate) fn locate(
        &self,
        entries: Vec<crate::format::manifest::ManifestEntry>,
    ) -> Result<Vec<crate::table::LiveFile>> {
        crate::table::locate_entries(&self.spec, self.data_dir.as_deref(), entries)
    }
}

/// What the expired deltas do to data files, in commit order: the files they delete that no tag
/// keeps (the candidates), and the last event of every file they touch.
#[derive(Default)]
struct Chain {
    /// Path → (bytes, extra files): deleted by an expired delta and kept by no tag.
    candidates: BTreeMap<String, (i64, Vec<String>)>,
    /// Path → (snapshot of its last net ADD, snapshot of its last net DELETE) in the deltas read.
    last: HashMap<String, (i64, i64)>,
}

/// A deleted file: bytes, `_COMMIT_SNAPSHOT`, extra files, `_FILE_SOURCE` (0 APPEND, 1 COMPACT).
pub(crate) type Deleted3 = (i64, Option<i64>, Vec<String>, Option<i32>);

/// The net events of one delta: deletions (path → bytes, `_COMMIT_SNAPSHOT`, extra files) and
/// additions (paths). An ADD and a DELETE of the same path cancel (a level change).
pub(crate) struct DeltaEvents {
    pub(crate) deleted: BTreeMap<String, Deleted3>,
    pub(crate) added: BTreeSet<String>,
}

pub(crate) async fn delta_events(
    table: &Table,
    s: &Snapshot,
    layout: &DataLayout,
) -> Result<DeltaEvents> {
    let owner = format!("snapshot {}", s.id);
    let entries = table
        .entries_of_list(&s.delta_manifest_list, &owner)
        .await?;
    events_of(&entries, s, layout)
}

/// [`delta_events`] of entries already read (pure).
fn events_of(
    entries: &[crate::format::manifest::ManifestEntry],
    s: &Snapshot,
    layout: &DataLayout,
) -> Result<DeltaEvents> {
    let owner = format!("snapshot {}", s.id);
    let (spec, data_dir) = (&layout.spec, &layout.data_dir);
    let mut deleted: BTreeMap<String, Deleted3> = BTreeMap::new();
    let mut added: BTreeSet<String> = BTreeSet::new();
    for e in entries {
        if e.file.external_path.is_some() {
            continue;
        }
        let values =
            crate::format::binary_row::decode(&e.partition, &spec.types).map_err(|err| {
                Error::corrupt(
                    format!("manifest/{}", s.delta_manifest_list),
                    format!(
                        "partition of {} (delta of {owner}): {err}",
                        e.file.file_name
                    ),
                )
            })?;
        let dir =
            crate::table::layout::bucket_dir(data_dir.as_deref(), &spec.path(&values), e.bucket);
        let path = format!("{dir}/{}", e.file.file_name);
        match e.kind {
            FileKind::Delete => {
                let extra = e
                    .file
                    .extra_files
                    .iter()
                    .map(|x| format!("{dir}/{x}"))
                    .collect();
                deleted.insert(
                    path,
                    (
                        e.file.file_size,
                        e.file.commit_snapshot,
                        extra,
                        e.file.file_source,
                    ),
                );
            }
            FileKind::Add => {
                added.insert(path);
            }
        }
    }
    // A path both added and deleted by one commit changed level: no event.
    let both: Vec<String> = added
        .iter()
        .filter(|p| deleted.contains_key(*p))
        .cloned()
        .collect();
    for p in both {
        added.remove(&p);
        deleted.remove(&p);
    }
    Ok(DeltaEvents { deleted, added })
}

/// The liveness model's guard over the fast paths: a candidate that a later delta adds back
/// (`rollback-to --as-latest` does) is live in a retained snapshot, whatever the tags say.
/// Paimon's writers add a file once and delete it once, and then this removes nothing; the
/// fast paths alone would delete such a file once the tag protecting the rollback target is
/// gone. A file whose last event in the expired deltas is an ADD is live in the new earliest
/// snapshot; one that a retained delta adds is live in that snapshot. Unreadable retained
/// deltas cancel every data deletion (fail closed).
async fn keep_files_added_back(
    table: &Table,
    later: &[SnapshotId],
    layout: &DataLayout,
    chain: &mut Chain,
    p: &mut ExpirePlan,
) -> Result<()> {
    let last = std::mem::take(&mut chain.last);
    chain
        .candidates
        .retain(|path, _| last.get(path).is_none_or(|(add, del)| add < del));
    if chain.candidates.is_empty() {
        return Ok(());
    }
    let snapshots = table.load_snapshots(later).await?;
    let futures: Vec<_> = snapshots
        .iter()
        .map(|s| delta_events(table, s, layout))
        .collect();
    match crate::table::ordered(futures).await {
        Ok(events) => {
            for e in events {
                for path in e.added {
                    chain.candidates.remove(&path);
                }
            }
        }
        Err(e) => {
            p.skipped.push(format!(
                "data files: a retained snapshot's delta is unreadable ({e}); files it may add back are not checked, so no data file is deleted"
            ));
            chain.candidates.clear();
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn plan_deleted_data(
    table: &Table,
    s: &Snapshot,
    delta: Result<Vec<crate::format::manifest::ManifestEntry>>,
    layout: &DataLayout,
    tags: &[NamedTag],
    tag_ids: &[i64],
    ignore_commit_snapshot: bool,
    keep_appended: bool,
    skippers: &mut HashMap<i64, Option<BTreeSet<String>>>,
    chain: &mut Chain,
    p: &mut ExpirePlan,
) -> Result<()> {
    let events = match delta {
        Ok(entries) => events_of(&entries, s, layout)?,
        Err(e) => {
            p.skipped.push(format!(
                "data files deleted by snapshot {}: its delta is unreadable ({e})",
                s.id
            ));
            // What it adds back is unknown: nothing deleted so far may go.
            chain.candidates.clear();
            return Ok(());
        }
    };
    let d = s.id.0;
    for path in &events.added {
        chain
            .last
            .entry(path.clone())
            .or_insert((i64::MIN, i64::MIN))
            .0 = d;
    }
    for (path, (bytes, commit, extra, source)) in events.deleted {
        chain
            .last
            .entry(path.clone())
            .or_insert((i64::MIN, i64::MIN))
            .1 = d;
        if keep_appended && source.unwrap_or(0) == 0 {
            continue;
        }
        let protected = match commit.filter(|_| !ignore_commit_snapshot) {
            Some(c) => {
                p.decided_by_commit_snapshot += 1;
                // Some tag t with c <= t < d.
                let i = tag_ids.partition_point(|t| *t < c);
                tag_ids.get(i).is_some_and(|t| *t < d)
            }
            None => {
                p.decided_by_nearest_tag += 1;
                match tags
                    .iter()
                    .filter(|t| t.tag.snapshot.id.0 < d)
                    .max_by_key(|t| t.tag.snapshot.id)
                {
                    None => false,
                    Some(t) => {
                        let id = t.tag.snapshot.id.0;
                        if let std::collections::hash_map::Entry::Vacant(slot) = skippers.entry(id)
                        {
                            let live = table
                                .data_files(&t.tag.snapshot, &format!("tag '{}'", t.name))
                                .await;
                            slot.insert(match live {
                                Ok(l) => Some(l.into_iter().map(|f| f.path).collect()),
                                Err(e) => {
                                    p.skipped.push(format!(
                                        "data files tag '{}' may keep: the tag is unreadable ({e})",
                                        t.name
                                    ));
                                    None
                                }
                            });
                        }
                        // An unreadable protector protects everything (fail closed).
                        skippers
                            .get(&id)
                            .and_then(Option::as_ref)
                            .is_none_or(|set| set.contains(&path))
                    }
                }
            }
        };
        if !protected {
            chain.candidates.insert(path, (bytes, extra));
        }
    }
    Ok(())
}

/// What of an expired snapshot's metadata an expiration deletes (Java's
/// `planManifestsCleaner` flags).
#[derive(Debug, Clone, Copy)]
struct MetadataScope {
    /// Its changelog list, manifests and files (not with the decoupled lifecycle).
    changelog: bool,
    /// Its base and delta lists and their manifests (not with the decoupled lifecycle
    /// without a changelog producer).
    data_lists: bool,
}

/// What [`plan_metadata`] skipped for one snapshot, and why.
#[derive(Default)]
struct Skipped {
    skipped: Vec<String>,
}

/// Files to plan, in order (a later insert of the same path wins, as in a map).
#[derive(Default)]
struct Inserts(Vec<(String, (Category, i64))>);

impl Inserts {
    fn insert(&mut self, path: String, v: (Category, i64)) {
        self.0.push((path, v));
    }
}

async fn plan_metadata(
    table: &Table,
    s: &Snapshot,
    keep: &[Footprint],
    scope: MetadataScope,
    files: &mut Inserts,
    p: &mut Skipped,
) {
    let owner = format!("snapshot {}", s.id);
    let kept = |f: &dyn Fn(&Footprint) -> bool| keep.iter().any(f);
    // Changelog files (unless the changelog lifecycle is decoupled: then they stay with the
    // changelog this expiration writes). A tag of this snapshot names the same changelog list: then every file of it is live in
    // that tag (the liveness model), and the list, its manifests and files all stay.
    if let Some(list) = s
        .changelog_manifest_list
        .as_ref()
        .filter(|_| scope.changelog)
        .filter(|l| !kept(&|k: &Footprint| k.lists.contains(*l)))
    {
        match table.changelog_files(s, &owner).await {
            Ok(cl) => {
                for f in cl.into_iter().filter(|f| !f.external) {
                    files.insert(f.path, (Category::Data, f.entry.file.file_size));
                }
                files.insert(manifest_key(list), (Category::ManifestList, 0));
                if let Ok(metas) = table.manifest_list(list, &owner).await {
                    for m in metas {
                        files.insert(
                            manifest_key(&m.file_name),
                            (Category::Manifest, m.file_size),
                        );
                    }
                }
            }
            Err(e) => p.skipped.push(format!(
                "changelog files of snapshot {}: unreadable ({e})",
                s.id
            )),
        }
    }
    let data_lists = [
        (&s.base_manifest_list, "baseManifestListSize"),
        (&s.delta_manifest_list, "deltaManifestListSize"),
    ];
    for (list, size_field) in data_lists.into_iter().filter(|_| scope.data_lists) {
        match table.manifest_list(list, &owner).await {
            Ok(metas) => {
                for m in metas {
                    if !kept(&|k: &Footprint| k.manifests.contains_key(&m.file_name)) {
                        files.insert(
                            manifest_key(&m.file_name),
                            (Category::Manifest, m.file_size),
                        );
                    }
                }
            }
            Err(e) => p.skipped.push(format!(
                "manifests of {list} (snapshot {}): unreadable ({e}); only the list itself goes",
                s.id
            )),
        }
        if !kept(&|k: &Footprint| k.lists.contains(list)) {
            let recorded = s.raw().get(size_field).and_then(serde_json::Value::as_i64);
            let size = match recorded {
                Some(n) => n,
                None => table
                    .root_store()
                    .head_opt(&manifest_key(list))
                    .await
                    .ok()
                    .flatten()
                    .map_or(0, |o| o.size as i64),
            };
            files.insert(manifest_key(list), (Category::ManifestList, size));
        }
    }
    if let Some(im) = &s.index_manifest {
        let key = manifest_key(im);
        if !kept(&|k: &Footprint| k.index.contains_key(&key)) {
            match table.index_files(s, &owner).await {
                Ok(entries) => {
                    for e in entries.into_iter().filter(|e| e.external_path.is_none()) {
                        let ik = crate::table::layout::index_key(&e.file_name);
                        if !kept(&|k: &Footprint| k.index.contains_key(&ik)) {
                            files.insert(ik, (Category::Index, e.file_size));
                        }
                    }
                    files.insert(key, (Category::Index, 0));
                }
                Err(e) => p.skipped.push(format!(
                    "index files of snapshot {}: unreadable ({e})",
                    s.id
                )),
            }
        }
    }
    if let Some(st) = &s.statistics {
        if !kept(&|k: &Footprint| k.statistics.as_ref() == Some(st)) {
            files.insert(statistics_key(st), (Category::Statistics, 0));
        }
    }
}

/// `changelog/changelog-N`.
pub(crate) fn changelog_key(id: i64) -> String {
    format!("{}/changelog-{id}", crate::table::layout::CHANGELOG_DIR)
}

fn plan_key(end: i64) -> String {
    format!("{PLAN_DIR}/expire-{end}.json")
}

/// Progress of a long run: `(files done, files planned)`, called after each batch.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Files deleted per batch (S3's bulk-delete size), between progress reports.
const DELETE_BATCH: usize = 1000;

/// Finish any plan an interrupted run left, then plan and carry out a new expiration.
pub async fn expire(table: &Table, opts: &ExpireOptions, now_millis: i64) -> Result<ExpireReport> {
    expire_with_progress(table, opts, now_millis, &|_, _| {}).await
}

/// [`expire`], reporting progress through the file deletions.
pub async fn expire_with_progress(
    table: &Table,
    opts: &ExpireOptions,
    now_millis: i64,
    progress: Progress<'_>,
) -> Result<ExpireReport> {
    // Only expiration journals: other commands journal into the same directory.
    let pending: Vec<(String, ExpirePlan)> = crate::ops::journal::pending(table, "expire").await?;
    let mut resumed = None;
    for (key, old) in pending {
        let mut done = run_plan(table, old, &key, progress).await?;
        done.resumed = true;
        resumed = Some(done);
    }
    let p = plan(table, opts, now_millis).await?;
    if p.expired_snapshots.is_empty() {
        let mut done = resumed.unwrap_or_else(|| ExpireReport::of(p, false));
        done.hints_rewritten = crate::ops::hints::repair(table).await;
        return Ok(done);
    }
    execute(table, p, progress).await
}

/// Carry out a plan made by [`plan`] (now or earlier, as `apply-plan` does): journal it, then
/// delete, then remove the journal.
pub async fn execute(table: &Table, p: ExpirePlan, progress: Progress<'_>) -> Result<ExpireReport> {
    let Some(end) = p.new_earliest.filter(|_| !p.expired_snapshots.is_empty()) else {
        return Ok(ExpireReport::of(p, false));
    };
    let key = plan_key(end);
    let body = Bytes::from(
        serde_json::to_vec_pretty(&p).map_err(|e| Error::InvalidArgument(e.to_string()))?,
    );
    if table.store().put_create(&key, body).await? == CreateOutcome::AlreadyExists {
        return Err(Error::Conflict(format!(
            "another expiration is running ({key} exists); run again when it is done"
        )));
    }
    let mut done = run_plan(table, p, &key, progress).await?;
    // A wrong EARLIEST (e.g. ahead of the real earliest, which made step 1 leave it alone) or
    // LATEST is rewritten now that the snapshot files are final.
    done.hints_rewritten = crate::ops::hints::repair(table).await;
    Ok(done)
}

async fn run_plan(
    table: &Table,
    p: ExpirePlan,
    key: &str,
    progress: Progress<'_>,
) -> Result<ExpireReport> {
    let mut r = ExpireReport::of(p, false);
    let Some(end) = r.plan.new_earliest else {
        return Ok(r);
    };
    let p = &mut r.plan;
    // 1. EARLIEST first (never backwards: a resumed old plan may be behind a later run),
    //    then the expired snapshot files in ascending order.
    let current = table.store().get_opt(&earliest_hint_key()).await?;
    let behind = current
        .as_deref()
        .and_then(crate::format::hint::parse_hint)
        .is_some_and(|h| h.0 >= end);
    if !behind {
        table
            .store()
            .put_overwrite(
                &earliest_hint_key(),
                Bytes::from(encode_hint(SnapshotId(end))),
            )
            .await?;
    }
    for id in &p.expired_snapshots {
        if p.changelog_decoupled {
            // Java's `commitChangelog(new Changelog(snapshot))`: the changelog is the snapshot
            // file's content, written before the snapshot file goes (a re-run finds it).
            if let Some(bytes) = table
                .store()
                .get_opt(&snapshot_key(SnapshotId(*id)))
                .await?
            {
                table.store().put_create(&changelog_key(*id), bytes).await?;
                table
                    .store()
                    .put_overwrite(
                        &format!("{}/LATEST", crate::table::layout::CHANGELOG_DIR),
                        Bytes::from(encode_hint(SnapshotId(*id))),
                    )
                    .await?;
            }
        }
        for (_, r) in table
            .store()
            .delete_many(&[snapshot_key(SnapshotId(*id))])
            .await
        {
            // The store's error as it is (kind `storage`): the run stops here, before any file
            // is deleted, and a re-run finishes the plan.
            r?;
        }
    }
    // 2. The handshake with create-tag: a tag created since the plan was made may keep files
    //    the plan would delete. Then the files are left for orphan cleaning instead.
    let now: BTreeMap<String, i64> = table
        .tags()
        .await?
        .iter()
        .map(|t| (t.name.to_string(), t.tag.snapshot.id.0))
        .collect();
    let new_tags: Vec<&String> = now
        .iter()
        .filter(|(n, id)| p.tags.get(*n) != Some(*id))
        .map(|(n, _)| n)
        .collect();
    if !new_tags.is_empty() {
        p.skipped.push(format!(
            "tags changed while expiring ({}): the planned file deletions were dropped and are left for orphan cleaning",
            new_tags.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        ));
        p.files.clear();
        p.totals.clear();
    }
    // 3. Data first, then metadata, in bulk.
    let mut ordered = p.files.clone();
    ordered.sort_by_key(|f| f.category);
    let keys: Vec<String> = ordered.into_iter().map(|f| f.path).collect();
    let total = keys.len() as u64;
    let mut done = 0u64;
    let phase = crate::progress::Phase::start("deleting expired files", total);
    for batch in keys.chunks(DELETE_BATCH) {
        for (k, res) in table.root_store().delete_many_detailed(batch).await {
            match res {
                Ok(Deleted::Now) => {}
                Ok(Deleted::AlreadyGone) => r.already_gone.push(k),
                Err(e) => r.failed.push(FailedDeletion::new(k, &e)),
            }
        }
        done += batch.len() as u64;
        phase.add(batch.len() as u64);
        progress(done, total);
    }
    drop(phase);
    // 4. The plan is done.
    if r.failed.is_empty() {
        for (k, res) in table.store().delete_many(&[key.to_string()]).await {
            if let Err(e) = res {
                r.plan.skipped.push(format!(
                    "could not remove the finished plan {k} ({e}); the next run finds it done"
                ));
            }
        }
    }
    Ok(r)
}
