//! rollback-to (paimon-format.md §7.5): destructive, as Java ≥ 1.2 does it, or non-destructive
//! (`--as-latest`), as a new OVERWRITE snapshot whose live files equal the target's.
//!
//! Destructive order (Java's `cleanLargerThan`, with one change): when the target is a tag whose
//! snapshot expired, restore `snapshot-<id>` from the tag first (conditional create; Java does
//! it last, and a crash in between leaves no snapshot file at all — the crash sweep found it);
//! write `LATEST`, so readers stop at the target; delete newer snapshot files from the newest
//! down (a crash leaves a contiguous history, and running the same rollback again finishes
//! it); delete newer long-lived changelogs and tags newer than the target; set `EARLIEST`. Data files are
//! left for orphan cleaning, as in Java; `--purge` deletes those only the removed snapshots and
//! tags referenced, decided against every remaining snapshot and tag (by the recorded commit
//! snapshots when they decide every file, reading only the target and the removed snapshots;
//! else by the liveness model: [`unreferenced`]), and skips the purge entirely if what the
//! decision needs cannot be read (fail closed).
//!
//! `--as-latest` keeps all history: one OVERWRITE snapshot shaped as Java's
//! `rollbackToAsLatest` commits it (fresh ADD-only base manifests, a delta of exactly the
//! difference; see [`crate::write::rollback`]). Files it adds back were deleted by snapshots
//! after the target; when those expire, only a tag on the target keeps the files (Paimon PR
//! #8450), so a target given as a bare snapshot id is first protected by a tag
//! `rollback-to-as-latest-<id>` (Java appends a random UUID; a fixed name makes a re-run after a
//! crash reuse the tag instead of adding a second one).
//!
//! On a table with Iceberg-compatible metadata, a destructive rollback moves the Iceberg view
//! to the target first and deletes the Iceberg metadata of the removed snapshots after the
//! Paimon ones ([`crate::ops::iceberg_view`]); `--as-latest`, which would need a new Iceberg
//! snapshot, is refused there.
//!
//! Both modes plan once ([`plan`]: the preview) and [`execute_plan`] runs exactly that plan; if
//! the table changed in between, the run fails with a conflict instead of re-planning.
//!
//! **Journal.** A real run records its plan in `_tagkeeper/plans/rollback-to-<uuid>.json`
//! before it changes anything and removes it when done. A run killed half-way is finished by
//! the next `rollback-to` ([`resume`]), whatever that one targets: the newer snapshots and
//! tags it had started to delete go, and `--purge` reclaims what its plan recorded (checked
//! against the liveness model again), instead of leaving those files to orphan cleaning.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, FailedDeletion, Result};
use crate::format::hint::encode_hint;
use crate::format::ids::{SnapshotId, TagName};
use crate::format::manifest::FileKind;
use crate::format::manifest::ManifestEntry;
use crate::format::snapshot::Snapshot;
use crate::io::CreateOutcome;
use crate::ops::delete_tag::{needed_without, PlannedFile};
use crate::ops::journal;
use crate::ops::tag::{create_tag, CreateTag, TagSource};
use crate::table::layout::{
    earliest_hint_key, latest_hint_key, snapshot_key, tag_key, CHANGELOG_DIR,
};
use crate::table::{Table, VersionSpec};
use crate::write::rollback::{commit_rollback, RollbackCommit};

mod unreferenced;
pub use unreferenced::DecidedBy;

/// What to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// A tag.
    Tag(TagName),
    /// A snapshot id (an expired one through the first tag, by name, that keeps it).
    Snapshot(SnapshotId),
    /// The latest snapshot committed at or before this time (epoch ms).
    Timestamp(i64),
    /// The snapshot Java's `rollback_to_watermark` picks: the latest whose watermark is at or
    /// before this one ([`earlier_or_equal_watermark`]).
    Watermark(i64),
}

/// How.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackMode {
    /// Delete newer history (Java's semantics); with `purge`, also files only it referenced.
    Destructive {
        /// Delete files only the removed snapshots and tags referenced.
        purge: bool,
    },
    /// Commit a new snapshot whose live files equal the target's; keep all history.
    AsLatest,
}

/// Which kind of rollback a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeName {
    /// Newer history is deleted.
    Destructive,
    /// A new snapshot equal to the target; history is kept.
    AsLatest,
}

/// A version in the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSummary {
    /// Snapshot id.
    pub snapshot_id: i64,
    /// Commit time, epoch ms.
    pub time_millis: i64,
    /// Live records.
    pub total_record_count: Option<i64>,
    /// How it was named: `snapshot`, `tag:<name>` or `timestamp`.
    pub source: String,
}

/// The preview (`--dry-run`) and the report of a real run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// `destructive` or `as_latest`.
    pub mode: ModeName,
    /// The latest snapshot before the rollback.
    pub current: VersionSummary,
    /// The target.
    pub target: VersionSummary,
    /// Destructive: snapshots removed (newest first).
    pub snapshots_removed: Vec<i64>,
    /// Destructive: tags removed (their snapshot is newer than the target).
    pub tags_removed: Vec<String>,
    /// Destructive: long-lived changelogs removed.
    pub changelogs_removed: Vec<i64>,
    /// Destructive: the target's snapshot file is restored from its tag.
    pub restores_snapshot: bool,
    /// Destructive: `snapshot/EARLIEST` is set to the target, because the target is restored
    /// or because an interrupted run restored it but did not get to the hint.
    pub sets_earliest: bool,
    /// Destructive: files only the removed snapshots and tags referenced (deleted with
    /// `--purge`, otherwise left for orphan cleaning).
    pub unreferenced: Vec<PlannedFile>,
    /// Their total size.
    pub unreferenced_bytes: i64,
    /// Whether they are deleted.
    pub purge: bool,
    /// Destructive: how `unreferenced` was decided (`model`: every remaining version read;
    /// `commit_snapshot`: the recorded commit snapshots, only the target and the removed
    /// snapshots read). Absent when it was not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreferenced_decided_by: Option<DecidedBy>,
    /// As-latest: live files the new snapshot deletes, and their bytes.
    pub files_deleted: usize,
    /// As-latest: bytes of those files.
    pub bytes_deleted: i64,
    /// As-latest: files added back (live in the target, not in the latest), and their bytes.
    pub files_added_back: usize,
    /// As-latest: bytes of those files.
    pub bytes_added_back: i64,
    /// As-latest: the protection tag created for a bare snapshot target.
    pub protection_tag: Option<String>,
    /// Destructive, on a table with Iceberg-compatible metadata: how the Iceberg view follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iceberg: Option<crate::ops::iceberg_view::IcebergRollback>,
    /// Notes (e.g. which of several tags was used, a purge skipped for safety, a wrong hint
    /// rewritten).
    pub notes: Vec<String>,
    /// What executing this plan does beyond the summary above (not printed; a plan read back
    /// from a file gets it again from [`from_saved`]).
    #[serde(skip)]
    work: Option<Work>,
}

/// What a rollback did (or, on a dry run, would do): its plan and the outcome. The JSON form
/// has the plan's fields at the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The plan carried out.
    #[serde(flatten)]
    pub plan: RollbackPlan,
    /// As-latest: the new snapshot (after a real run).
    pub new_snapshot_id: Option<i64>,
    /// `--purge`: files whose deletion failed, each with its error (the command is
    /// incomplete; the files are unreferenced, so orphan cleaning or a re-run reclaims them).
    pub failed: Vec<FailedDeletion>,
    /// Interrupted rollbacks this run finished first (their journals).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<String>,
}

impl RollbackReport {
    /// The report of a plan before anything is done (a dry run's, with `dry_run`).
    pub fn of(plan: RollbackPlan, dry_run: bool) -> Self {
        RollbackReport {
            dry_run,
            plan,
            new_snapshot_id: None,
            failed: Vec::new(),
            resumed: Vec::new(),
        }
    }
}

/// The parts of a plan that execution needs and the preview does not print.
#[derive(Debug, Clone, PartialEq)]
enum Work {
    /// The commit, exactly as planned.
    AsLatest(Box<RollbackCommit>),
    /// The target snapshot (restored from its tag when expired).
    Destructive(Box<Snapshot>),
}

#[derive(Clone)]
struct Resolved {
    snapshot: Snapshot,
    source: String,
    /// A bare snapshot id (not a tag): as-latest protects it with a tag.
    bare: bool,
}

async fn resolve(
    table: &Table,
    target: &RollbackTarget,
    notes: &mut Vec<String>,
) -> Result<Resolved> {
    match target {
        RollbackTarget::Tag(name) => {
            let tag = table.load_tag(name).await?;
            Ok(Resolved {
                snapshot: tag.snapshot,
                source: format!("tag:{name}"),
                bare: false,
            })
        }
        RollbackTarget::Snapshot(id) => {
            if let Some(s) = table.try_load_snapshot(*id).await? {
                return Ok(Resolved {
                    snapshot: s,
                    source: "snapshot".into(),
                    bare: true,
                });
            }
            let tags: Vec<_> = table
                .tags()
                .await?
                .into_iter()
                .filter(|t| t.tag.snapshot.id == *id)
                .collect();
            match tags.first() {
                Some(first) => {
                    if tags.len() > 1 {
                        let names: Vec<String> =
                            tags.iter().map(|t| format!("'{}'", t.name)).collect();
                        notes.push(format!(
                            "snapshot {id} expired and is kept by tags {}; using the first by name, '{}', as Java does",
                            names.join(", "),
                            first.name
                        ));
                    }
                    Ok(Resolved {
                        snapshot: first.tag.snapshot.clone(),
                        source: format!("tag:{}", first.name),
                        bare: false,
                    })
                }
                None => {
                    let range = table.snapshot_range().await?;
                    Err(Error::SnapshotNotFound {
                        id: id.0,
                        available: format!("{}, and no tag keeps it", range.describe()),
                    })
                }
            }
        }
        RollbackTarget::Timestamp(ts) => {
            let v = table.resolve(&VersionSpec::Timestamp(*ts)).await?;
            Ok(Resolved {
                snapshot: v.snapshot,
                source: "timestamp".into(),
                bare: true,
            })
        }
        RollbackTarget::Watermark(w) => match earlier_or_equal_watermark(table, *w).await? {
            Some(snapshot) => Ok(Resolved {
                snapshot,
                source: "watermark".into(),
                bare: true,
            }),
            None => Err(Error::InvalidArgument(format!(
                "no retained snapshot has a watermark at or before {w} ({})",
                table.snapshot_range().await?.describe()
            ))),
        },
    }
}

/// Java's `SnapshotManager.earlierOrEqualWatermark`, step for step (so that the same table
/// gives the same target as `rollback_to_watermark`): skip the leading snapshots without a
/// watermark; none left, or the first watermark beyond `watermark`: none. Then a binary search
/// over the ids in which a snapshot without a watermark takes the position of the nearest
/// earlier one that has one. Watermarks only grow in a table Flink writes, which makes this the
/// latest snapshot whose watermark is at or before `watermark`. Reads O(log n) snapshots.
pub async fn earlier_or_equal_watermark(table: &Table, watermark: i64) -> Result<Option<Snapshot>> {
    let range = table.snapshot_range().await?;
    let (Some(SnapshotId(mut earliest)), Some(SnapshotId(mut latest))) =
        (range.earliest(), range.latest())
    else {
        return Ok(None);
    };
    let load = |id: i64| async move {
        table
            .try_load_snapshot(SnapshotId(id))
            .await?
            .ok_or_else(|| Error::SnapshotNotFound {
                id,
                available: "it expired during the search; run again".into(),
            })
    };
    let mut earliest_watermark = load(earliest).await?.watermark;
    while earliest_watermark.is_none() && earliest < latest {
        earliest += 1;
        earliest_watermark = load(earliest).await?.watermark;
    }
    match earliest_watermark {
        Some(w) if w <= watermark => {}
        _ => return Ok(None),
    }
    let mut found = None;
    while earliest <= latest {
        let mid = earliest + (latest - earliest) / 2;
        let mut pos = mid;
        let mut snapshot = load(pos).await?;
        while snapshot.watermark.is_none() && pos > earliest {
            pos -= 1;
            snapshot = load(pos).await?;
        }
        match snapshot.watermark {
            None => earliest = mid + 1,
            Some(w) if w > watermark => latest = pos - 1,
            Some(w) if w < watermark => {
                earliest = mid + 1;
                found = Some(snapshot);
            }
            Some(_) => {
                found = Some(snapshot);
                break;
            }
        }
    }
    Ok(found)
}

fn summary(s: &Snapshot, source: &str) -> VersionSummary {
    VersionSummary {
        snapshot_id: s.id.0,
        time_millis: s.time_millis,
        total_record_count: s.total_record_count,
        source: source.into(),
    }
}

/// Plan a rollback. Changes nothing. The plan is the preview (`--dry-run` prints it) and, given
/// to [`execute_plan`], exactly what runs.
pub async fn plan(
    table: &Table,
    target: &RollbackTarget,
    mode: RollbackMode,
) -> Result<RollbackPlan> {
    plan_with(table, target, mode, false).await
}

/// [`plan`], choosing how the files left unreferenced are decided: with
/// `ignore_commit_snapshot`, always by reading every remaining version (the liveness model),
/// never by the recorded commit snapshots ([`DecidedBy`]; for comparing the two, or when
/// `_COMMIT_SNAPSHOT` values are not trusted).
pub async fn plan_with(
    table: &Table,
    target: &RollbackTarget,
    mode: RollbackMode,
    ignore_commit_snapshot: bool,
) -> Result<RollbackPlan> {
    // An unreadable schema is not this check's to report: planning fails closed on what it
    // cannot read. The Iceberg view mirrors main only.
    let iceberg = match table.latest_schema().await {
        Ok(schema) if !table.is_branch() => {
            crate::ops::tag::iceberg_store(table, &schema, "rollback-to")?
        }
        _ => None,
    };
    if iceberg.is_some() && mode == RollbackMode::AsLatest {
        return Err(Error::Unsupported(
            "rollback-to --as-latest: the table keeps Iceberg-compatible metadata, and the new \
             snapshot would need new Iceberg manifests, which tagkeeper does not write; a plain \
             (destructive) rollback-to moves the Iceberg view with the table"
                .into(),
        ));
    }
    let mut notes = Vec::new();
    let resolved = resolve(table, target, &mut notes).await?;
    let range = table.snapshot_range().await?;
    let latest_id = range.latest().ok_or_else(|| Error::NoSnapshots {
        table: table.location().into(),
    })?;
    let latest =
        table
            .try_load_snapshot(latest_id)
            .await?
            .ok_or_else(|| Error::SnapshotNotFound {
                id: latest_id.0,
                available: "the latest snapshot vanished while planning".into(),
            })?;
    let target_id = resolved.snapshot.id;
    if target_id > latest_id {
        return Err(Error::InvalidArgument(format!(
            "the target, snapshot {target_id}, is newer than the latest snapshot {latest_id}"
        )));
    }
    let mut p = RollbackPlan {
        mode: match mode {
            RollbackMode::AsLatest => ModeName::AsLatest,
            RollbackMode::Destructive { .. } => ModeName::Destructive,
        },
        current: summary(&latest, "latest"),
        target: summary(&resolved.snapshot, &resolved.source),
        snapshots_removed: Vec::new(),
        tags_removed: Vec::new(),
        changelogs_removed: Vec::new(),
        restores_snapshot: false,
        sets_earliest: false,
        unreferenced: Vec::new(),
        unreferenced_bytes: 0,
        purge: matches!(mode, RollbackMode::Destructive { purge: true }),
        unreferenced_decided_by: None,
        files_deleted: 0,
        bytes_deleted: 0,
        files_added_back: 0,
        bytes_added_back: 0,
        protection_tag: None,
        iceberg: None,
        notes,
        work: Some(Work::Destructive(Box::new(resolved.snapshot.clone()))),
    };
    match mode {
        RollbackMode::AsLatest => {
            let commit =
                as_latest_commit(table, latest, &resolved.snapshot, &resolved.source).await?;
            for e in commit.deleted() {
                p.files_deleted += 1;
                p.bytes_deleted += e.file.file_size;
            }
            for e in commit.added_back() {
                p.files_added_back += 1;
                p.bytes_added_back += e.file.file_size;
            }
            if resolved.bare {
                p.protection_tag = Some(protection_tag_name(target_id));
            }
            p.work = Some(Work::AsLatest(Box::new(commit)));
        }
        RollbackMode::Destructive { .. } => {
            p.snapshots_removed = range
                .ids
                .iter()
                .rev()
                .filter(|i| **i > target_id)
                .map(|i| i.0)
                .collect();
            let tags = table.tags().await?;
            p.tags_removed = tags
                .iter()
                .filter(|t| t.tag.snapshot.id > target_id)
                .map(|t| t.name.to_string())
                .collect();
            let all_changelogs = changelog_ids(table).await?;
            p.changelogs_removed = all_changelogs
                .iter()
                .rev()
                .copied()
                .filter(|i| *i > target_id.0)
                .collect();
            p.restores_snapshot = !range.ids.contains(&target_id);
            // Nothing older than the target is left, yet the hint is missing or names another
            // snapshot: a run that restored the target was interrupted before step 5 below
            // (the hint may be missing when expiration never wrote one).
            let target_is_earliest = range.earliest().is_none_or(|e| e >= target_id);
            p.sets_earliest = p.restores_snapshot
                || (target_is_earliest && range.earliest_hint != Some(target_id));
            // Which tags stay is decided by their ids: each kept one must be a consistent
            // copy of its snapshot. Tags newer than the target go whatever they hold (the
            // purge keeps all the rest needs); one beyond the latest snapshot is what an
            // interrupted rollback leaves (newer snapshots go before newer tags).
            for t in &tags {
                let id = t.tag.snapshot.id;
                if id > target_id {
                    crate::liveness::check_tag(&tag_key(&t.name), &t.tag.snapshot, None, None)?;
                    continue;
                }
                let retained = if range.ids.binary_search(&id).is_ok() {
                    table.try_load_snapshot(id).await?
                } else {
                    None
                };
                crate::liveness::check_tag(
                    &tag_key(&t.name),
                    &t.tag.snapshot,
                    range.latest(),
                    retained.as_ref(),
                )?;
            }
            if let Some(store) = &iceberg {
                p.iceberg =
                    crate::ops::iceberg_view::plan_rollback(store, target_id, &mut p.notes).await?;
            }
            let removed = unreferenced::Removed {
                target: &resolved.snapshot,
                ids: &range.ids,
                tags: &tags,
                changelogs: &p.changelogs_removed,
                all_changelogs: &all_changelogs,
            };
            match unreferenced::unreferenced(table, &removed, ignore_commit_snapshot).await {
                Ok((files, by)) => {
                    p.unreferenced_bytes = files.iter().map(|f| f.bytes).sum();
                    p.unreferenced = files;
                    p.unreferenced_decided_by = Some(by);
                }
                Err(e) => {
                    if p.purge {
                        p.purge = false;
                        p.notes.push(format!("--purge skipped for safety: metadata unreadable ({e}); nothing but metadata will be deleted"));
                    } else {
                        p.notes.push(format!(
                            "could not compute the files left unreferenced: {e}"
                        ));
                    }
                }
            }
        }
    }
    Ok(p)
}

async fn changelog_ids(table: &Table) -> Result<Vec<i64>> {
    let (files, _) = table.store().list_dir(CHANGELOG_DIR).await?;
    let mut ids: Vec<i64> = files
        .iter()
        .filter_map(|f| {
            match crate::format::file_name::PaimonFile::parse(
                f.key.rsplit('/').next().unwrap_or_default(),
            ) {
                crate::format::file_name::PaimonFile::ChangelogMeta(id) => Some(id.0),
                _ => None,
            }
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// rollback-to as the CLI runs it: finish interrupted rollbacks first ([`resume`]), then plan
/// this one ([`plan`]) and execute the plan ([`execute_plan`]). When an interrupted run was this very rollback (same mode,
/// target and purge), finishing it is the whole job: it is not done twice (an as-latest
/// rollback would otherwise commit a second snapshot). The finished runs' notes and failures
/// are part of the report.
pub async fn execute(
    table: &Table,
    target: &RollbackTarget,
    mode: RollbackMode,
    clock: &dyn Clock,
) -> Result<RollbackReport> {
    let mut resumed = resume(table, clock).await?;
    let planned = plan(table, target, mode).await?;
    let same = resumed.iter().position(|r| {
        r.plan.mode == planned.mode
            && r.plan.target.snapshot_id == planned.target.snapshot_id
            && r.plan.purge == planned.purge
            // An as-latest journal that was never committed is dropped, not finished.
            && (r.plan.mode == ModeName::Destructive || r.new_snapshot_id.is_some())
    });
    let mut report = match same {
        Some(i) => resumed.remove(i),
        None => execute_plan(table, planned, clock).await?,
    };
    for r in resumed.into_iter().rev() {
        for n in r.plan.notes.into_iter().rev() {
            report.plan.notes.insert(0, n);
        }
        report.failed.extend(r.failed);
        report.resumed.extend(r.resumed);
    }
    Ok(report)
}

/// The journal name of rollback-to runs.
const JOURNAL: &str = "rollback-to";

/// A rollback plan in a form that is written to a file and read back (the journal, and
/// `--plan-out`): the printed plan, the target snapshot (a destructive rollback restores it
/// from this when it expired), and for `--as-latest` the delta of the planned commit, which
/// the plan read back must reproduce exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedRollback {
    /// The plan as previewed.
    pub plan: RollbackPlan,
    /// The target snapshot, as Paimon JSON.
    pub target_snapshot: serde_json::Value,
    /// As-latest: the planned commit's delta, one line per entry (`+`/`-`, bucket, level, file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delta: Vec<String>,
}

/// The delta of an as-latest commit, as [`SavedRollback::delta`] records it.
fn delta_lines(commit: &RollbackCommit) -> Vec<String> {
    commit
        .delta
        .iter()
        .map(|e| {
            let sign = if e.kind == FileKind::Add { '+' } else { '-' };
            format!(
                "{sign} bucket {} level {} {}",
                e.bucket, e.file.level, e.file.file_name
            )
        })
        .collect()
}

impl RollbackPlan {
    /// This plan in its saved form.
    pub fn to_saved(&self) -> Result<SavedRollback> {
        let (target, delta) = match &self.work {
            Some(Work::Destructive(t)) => (t.as_ref(), Vec::new()),
            Some(Work::AsLatest(c)) => (&c.target, delta_lines(c)),
            None => {
                return Err(Error::InvalidArgument(
                    "a rollback plan read back from a file must go through from_saved first".into(),
                ))
            }
        };
        let target_snapshot = serde_json::from_slice(&target.encode()).map_err(|e| {
            Error::InvalidArgument(format!("cannot encode the target snapshot: {e}"))
        })?;
        // The work is what the rest of the saved form records.
        let mut plan = self.clone();
        plan.work = None;
        Ok(SavedRollback {
            plan,
            target_snapshot,
            delta,
        })
    }
}

/// A saved plan, ready to execute: the target snapshot decoded, and for `--as-latest` the
/// commit derived again from the table (its latest snapshot and the target are unchanged, or
/// this fails with a conflict), which must have exactly the saved delta.
pub async fn from_saved(table: &Table, saved: SavedRollback, origin: &str) -> Result<RollbackPlan> {
    let mut p = saved.plan;
    let bytes = serde_json::to_vec(&saved.target_snapshot)
        .map_err(|e| Error::corrupt(origin, format!("the target snapshot: {e}")))?;
    let target = Snapshot::decode(&bytes, origin)?;
    if target.id.0 != p.target.snapshot_id {
        return Err(Error::corrupt(
            origin,
            format!(
                "the plan targets snapshot {} but records snapshot {}",
                p.target.snapshot_id, target.id
            ),
        ));
    }
    match p.mode {
        ModeName::Destructive => p.work = Some(Work::Destructive(Box::new(target))),
        ModeName::AsLatest => {
            let latest_id = table.latest_snapshot_id().await?;
            if latest_id.map(|l| l.0) != Some(p.current.snapshot_id) {
                return Err(changed_since_planned(&p, latest_id));
            }
            let latest = table
                .try_load_snapshot(SnapshotId(p.current.snapshot_id))
                .await?
                .ok_or_else(|| changed_since_planned(&p, None))?;
            let commit = as_latest_commit(table, latest, &target, &p.target.source).await?;
            if delta_lines(&commit) != saved.delta {
                return Err(Error::Conflict(format!(
                    "{origin}: the files of snapshot {} or {} differ from when the rollback was                      planned: nothing was changed; plan it again",
                    p.current.snapshot_id, p.target.snapshot_id
                )));
            }
            p.work = Some(Work::AsLatest(Box::new(commit)));
        }
    }
    Ok(p)
}

/// The as-latest commit from the latest snapshot to `target` (`source` names it in errors).
async fn as_latest_commit(
    table: &Table,
    latest: Snapshot,
    target: &Snapshot,
    source: &str,
) -> Result<RollbackCommit> {
    let entries = |files: Vec<crate::table::LiveFile>| -> Vec<ManifestEntry> {
        files.into_iter().map(|f| f.entry).collect()
    };
    let target_live = entries(table.data_files(target, source).await?);
    let latest_live = entries(table.data_files(&latest, "the latest snapshot").await?);
    // No tag can be older than this, nor any snapshot (see RollbackCommit::plan).
    let range = table.snapshot_range().await?;
    let tags = table.tags().await?;
    let floor = tags
        .iter()
        .map(|t| t.tag.snapshot.id.0)
        .chain(range.earliest().map(|e| e.0))
        .chain(std::iter::once(target.id.0))
        .min()
        .unwrap_or(target.id.0);
    RollbackCommit::plan(latest, latest_live, target.clone(), target_live, floor)
}

/// Carry out exactly this plan; returns it, marked as executed. If the table changed since it
/// was planned (a new latest snapshot, or for a destructive rollback other tags to remove), it
/// fails with [`Error::Conflict`] rather than doing something other than what was previewed.
/// The plan is journaled before anything changes (see the module documentation).
pub async fn execute_plan(
    table: &Table,
    plan: RollbackPlan,
    clock: &dyn Clock,
) -> Result<RollbackReport> {
    let work = plan.work.clone().ok_or_else(|| {
        Error::InvalidArgument(
            "a rollback plan read back from a file must go through from_saved first".into(),
        )
    })?;
    let mut r = RollbackReport::of(plan, false);
    match work {
        Work::AsLatest(commit) => {
            // Checked before the protection tag is created, and again by the commit itself.
            let latest = table.latest_snapshot_id().await?;
            if latest != Some(commit.previous.id) {
                return Err(changed_since_planned(&r.plan, latest));
            }
            let key = journal::record(table, JOURNAL, &r.plan.to_saved()?).await?;
            match commit_as_latest(table, &mut r, &commit, clock).await {
                Ok(()) => r.plan.notes.extend(journal::finish(table, &key).await),
                // Nothing was committed: there is nothing to finish.
                Err(e @ Error::Conflict(_)) => {
                    journal::finish(table, &key).await;
                    return Err(e);
                }
                // Unknown whether the commit landed: the next rollback-to finds out.
                Err(e) => return Err(e),
            }
        }
        Work::Destructive(target) => {
            if check_unchanged(table, &mut r.plan, &target).await? {
                let key = journal::record(table, JOURNAL, &r.plan.to_saved()?).await?;
                destructive(table, &mut r, &target, clock.now_millis()).await?;
                if r.failed.is_empty() {
                    r.plan.notes.extend(journal::finish(table, &key).await);
                }
            }
        }
    }
    Ok(r)
}

/// The protection tag (for a bare snapshot target), then the commit.
async fn commit_as_latest(
    table: &Table,
    r: &mut RollbackReport,
    commit: &RollbackCommit,
    clock: &dyn Clock,
) -> Result<()> {
    let target_id = SnapshotId(r.plan.target.snapshot_id);
    if let Some(name) = &r.plan.protection_tag {
        let name = TagName::new(name)?;
        let req = CreateTag {
            name: name.clone(),
            source: TagSource::Snapshot(target_id),
            time_retained: None,
            if_not_exists: true,
        };
        let made = create_tag(table, &req, clock).await?;
        if made.snapshot_id != target_id.0 {
            return Err(Error::Conflict(format!(
                "tag '{name}' exists but keeps snapshot {}, not the target {target_id}: \
                 delete or rename it, then run the rollback again",
                made.snapshot_id
            )));
        }
    }
    let outcome = commit_rollback(table, commit, clock).await?;
    r.new_snapshot_id = Some(outcome.snapshot_id);
    Ok(())
}

/// The rollbacks that were interrupted (their journals), finished: a destructive one by rolling
/// back to its target again (what it had not yet removed, and with `--purge` the files its plan
/// recorded that no remaining version needs); an as-latest one by recognising its commit if it
/// landed, and otherwise dropping it with a note (it committed nothing; running it again plans
/// it on the table as it is now).
/// Returns one finished plan per journal.
pub async fn resume(table: &Table, clock: &dyn Clock) -> Result<Vec<RollbackReport>> {
    let pending: Vec<(String, SavedRollback)> = journal::pending(table, JOURNAL).await?;
    let mut out = Vec::new();
    for (key, saved) in pending {
        let done = match saved.plan.mode {
            ModeName::Destructive => resume_destructive(table, &key, saved, clock).await?,
            ModeName::AsLatest => resume_as_latest(table, &key, saved).await?,
        };
        let mut done = done;
        if done.failed.is_empty() {
            done.plan.notes.extend(journal::finish(table, &key).await);
        }
        done.resumed.push(key);
        out.push(done);
    }
    Ok(out)
}

/// The keys of unfinished rollback journals (for a dry run to mention them).
pub async fn pending_journals(table: &Table) -> Result<Vec<String>> {
    let pending: Vec<(String, SavedRollback)> = journal::pending(table, JOURNAL).await?;
    Ok(pending.into_iter().map(|(k, _)| k).collect())
}

async fn resume_destructive(
    table: &Table,
    key: &str,
    saved: SavedRollback,
    clock: &dyn Clock,
) -> Result<RollbackReport> {
    let target = SnapshotId(saved.plan.target.snapshot_id);
    let mode = RollbackMode::Destructive {
        purge: saved.plan.purge,
    };
    let again = plan(table, &RollbackTarget::Snapshot(target), mode)
        .await
        .map_err(|e| Error::Aborted {
            operation: "rollback-to",
            reason: format!(
                "cannot finish the interrupted rollback to snapshot {target} ({key}): {e}; \
                     fix that, or remove {key} to give the rollback up"
            ),
        })?;
    let mut done = execute_plan_unjournaled(table, again, clock).await?;
    if saved.plan.purge && done.plan.purge {
        // The files of versions the interrupted run already removed are in its plan only.
        match needed_without(table, "rollback-to", &[]).await {
            Ok(needed) => {
                let left: Vec<&PlannedFile> = saved
                    .plan
                    .unreferenced
                    .iter()
                    .filter(|f| !needed.contains(f.path.rsplit('/').next().unwrap_or(&f.path)))
                    .filter(|f| !done.plan.unreferenced.iter().any(|d| d.path == f.path))
                    .collect();
                let keys: Vec<String> = left.iter().map(|f| f.path.clone()).collect();
                for (k, r) in table.root_store().delete_many(&keys).await {
                    if let Err(e) = r {
                        done.failed.push(FailedDeletion::new(k, &e));
                    }
                }
                for f in left {
                    done.plan.unreferenced_bytes += f.bytes;
                    done.plan.unreferenced.push(f.clone());
                }
            }
            Err(e) => done.plan.notes.push(format!(
                "the files the interrupted rollback planned to purge were left for orphan \
                 cleaning: metadata unreadable ({e})"
            )),
        }
    }
    done.plan.notes.insert(
        0,
        format!("finished an interrupted rollback to snapshot {target} ({key})"),
    );
    Ok(done)
}

async fn resume_as_latest(
    table: &Table,
    key: &str,
    saved: SavedRollback,
) -> Result<RollbackReport> {
    let mut done = RollbackReport::of(saved.plan, false);
    let new_id = SnapshotId(done.plan.current.snapshot_id + 1);
    let ours = table.try_load_snapshot(new_id).await?.is_some_and(|s| {
        s.commit_user
            .starts_with(crate::write::rollback::ROLLBACK_COMMIT_USER_PREFIX)
    });
    if ours {
        done.new_snapshot_id = Some(new_id.0);
        done.plan.notes.push(format!(
            "an interrupted --as-latest rollback ({key}) had committed snapshot {new_id}"
        ));
        // Killed between the commit and the hint: LATEST may still name the snapshot before.
        done.plan
            .notes
            .extend(crate::ops::hints::repair(table).await);
    } else {
        // Never committed. It is not committed now either: the table may have changed since
        // (an expiration of its target, say), and planning again is what checks that. A
        // re-run of the same rollback does exactly that; what the killed run wrote (the
        // protection tag, unreferenced manifests) is reused or left to orphan cleaning.
        done.plan.notes.push(format!(
            "an interrupted --as-latest rollback to snapshot {} ({key}) was never committed: \
             dropped (run it again if it is still wanted)",
            done.plan.target.snapshot_id
        ));
    }
    Ok(done)
}

/// [`execute_plan`] without a journal of its own (finishing a journaled run).
async fn execute_plan_unjournaled(
    table: &Table,
    plan: RollbackPlan,
    clock: &dyn Clock,
) -> Result<RollbackReport> {
    let work = plan.work.clone();
    let mut r = RollbackReport::of(plan, false);
    match work {
        Some(Work::AsLatest(commit)) => commit_as_latest(table, &mut r, &commit, clock).await?,
        Some(Work::Destructive(target)) => {
            if check_unchanged(table, &mut r.plan, &target).await? {
                destructive(table, &mut r, &target, clock.now_millis()).await?;
            }
        }
        None => {
            return Err(Error::InvalidArgument(
                "a rollback plan read back from a file must go through from_saved first".into(),
            ))
        }
    }
    Ok(r)
}

fn changed_since_planned(p: &RollbackPlan, latest: Option<SnapshotId>) -> Error {
    Error::Conflict(format!(
        "the table changed after the rollback was planned (latest snapshot {}, planned on {}): \
         nothing was changed; plan and run the rollback again",
        latest.map_or("none".to_string(), |l| l.to_string()),
        p.current.snapshot_id
    ))
}

/// The table must still be what was planned: same latest snapshot, same tags to remove.
/// Returns false (with a note) when there is nothing to do.
async fn check_unchanged(table: &Table, p: &mut RollbackPlan, target: &Snapshot) -> Result<bool> {
    let target_id = target.id;
    let range = table.snapshot_range().await?;
    if range.latest().map(|l| l.0) != Some(p.current.snapshot_id) {
        return Err(changed_since_planned(p, range.latest()));
    }
    let newer_tags: BTreeSet<String> = table
        .tags()
        .await?
        .iter()
        .filter(|t| t.tag.snapshot.id > target_id)
        .map(|t| t.name.to_string())
        .collect();
    if newer_tags != p.tags_removed.iter().cloned().collect() {
        return Err(Error::Conflict(format!(
            "tags changed after the rollback was planned (tags newer than the target now: {}; \
             planned: {}): nothing was changed; plan and run the rollback again",
            newer_tags.into_iter().collect::<Vec<_>>().join(", "),
            p.tags_removed.join(", ")
        )));
    }
    if p.current.snapshot_id == target_id.0
        && !p.restores_snapshot
        && !p.sets_earliest
        && p.tags_removed.is_empty()
        && p.changelogs_removed.is_empty()
        && p.iceberg.as_ref().is_none_or(|i| i.changes_nothing())
    {
        p.notes
            .push("the target is the latest snapshot: nothing to do".into());
        return Ok(false);
    }
    Ok(true)
}

/// Java's `cleanLargerThan`, in the order the module documentation gives.
async fn destructive(
    table: &Table,
    r: &mut RollbackReport,
    target: &Snapshot,
    now_ms: i64,
) -> Result<()> {
    let failed = &mut r.failed;
    let p = &mut r.plan;
    let target_id = target.id;
    // 0. An expired target is restored from its tag before anything is deleted (Java restores
    //    it last, which leaves a window with no snapshot file at all).
    if p.restores_snapshot {
        let key = snapshot_key(target_id);
        match table
            .store()
            .put_create(&key, Bytes::from(target.encode()))
            .await?
        {
            CreateOutcome::Created | CreateOutcome::AlreadyExists => {}
        }
    }
    // 0b. The Iceberg view moves to the target (Iceberg readers stop there), before any file
    //     a newer Iceberg snapshot names can go.
    let iceberg = match &p.iceberg {
        Some(view) => Some((crate::ops::iceberg_view::store_of(table, view).await?, view)),
        None => None,
    };
    if let Some((store, view)) = &iceberg {
        crate::ops::iceberg_view::switch_view(store, view, target_id, now_ms).await?;
    }
    // 1. LATEST next: readers stop at the target.
    table
        .store()
        .put_overwrite(&latest_hint_key(), Bytes::from(encode_hint(target_id)))
        .await?;
    // 2. Newer snapshots, newest first, one at a time (a crash leaves a contiguous history).
    for id in &p.snapshots_removed {
        delete_one(table, &snapshot_key(SnapshotId(*id))).await?;
    }
    // 3. Newer long-lived changelogs, then the changelog hint.
    for id in &p.changelogs_removed {
        delete_one(table, &format!("{CHANGELOG_DIR}/changelog-{id}")).await?;
    }
    if !p.changelogs_removed.is_empty() {
        let remaining = changelog_ids(table).await?;
        let hint = remaining
            .last()
            .map_or(b"-1".to_vec(), |l| l.to_string().into_bytes());
        table
            .store()
            .put_overwrite(&format!("{CHANGELOG_DIR}/LATEST"), Bytes::from(hint))
            .await?;
    }
    // 4. Tags newer than the target.
    for name in &p.tags_removed {
        if let Some(n) = TagName::from_listing(name) {
            delete_one(table, &tag_key(&n)).await?;
        }
    }
    // 4b. The Iceberg metadata only the removed snapshots used.
    if let Some((store, view)) = &iceberg {
        for (key, r) in crate::ops::iceberg_view::remove_rolled_back(store, view).await {
            if let Err(e) = r {
                failed.push(FailedDeletion::new(key, &e));
            }
        }
    }
    // 5. EARLIEST, when the target was restored (everything older had expired).
    if p.sets_earliest {
        table
            .store()
            .put_overwrite(&earliest_hint_key(), Bytes::from(encode_hint(target_id)))
            .await?;
    }
    // 6. A commit that landed meanwhile (writers must be stopped) is reported loudly.
    let now = table.snapshot_range().await?;
    if let Some(l) = now.latest().filter(|l| *l > target_id) {
        return Err(Error::Conflict(format!(
            "snapshot {l} was committed while rolling back to snapshot {target_id}: stop all \
             writers, then run the same rollback again to finish it"
        )));
    }
    // 7. Purge: files only the removed versions referenced.
    if p.purge {
        let keys: Vec<String> = {
            let mut files = p.unreferenced.clone();
            files.sort_by_key(|f| f.category);
            files.into_iter().map(|f| f.path).collect()
        };
        let deleted = table
            .root_store()
            .delete_all(&keys, "purging unreferenced files")
            .await;
        for (key, r) in deleted {
            if let Err(e) = r {
                failed.push(FailedDeletion::new(key, &e));
            }
        }
    }
    // 8. A hint that was wrong before (e.g. EARLIEST above the real earliest) and that the
    //    steps above did not set is rewritten from the listing, as Java's rollback rewrites
    //    LATEST.
    p.notes.extend(crate::ops::hints::repair(table).await);
    Ok(())
}

fn protection_tag_name(id: SnapshotId) -> String {
    format!("rollback-to-as-latest-{id}")
}

/// Delete one version file; a failure stops the rollback with the store's error as it is
/// (kind `storage`): the versions must go newest first, so nothing after it may be deleted.
/// Running the same rollback again finishes it.
async fn delete_one(table: &Table, key: &str) -> Result<()> {
    for (_, r) in table.store().delete_many(&[key.to_string()]).await {
        r?;
    }
    Ok(())
}
