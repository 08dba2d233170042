//! expire-changelogs: the long-lived changelogs (`changelog/changelog-N`) a decoupled
//! lifecycle leaves, expired as Java's `ExpireChangelogImpl` (and the `expire_changelogs`
//! procedure) does.
//!
//! **Range.** Java's `expire()`, counted against the *snapshot* ids: keep changelogs from
//! `latest snapshot - retain_max + 1` on; never expire past `latest snapshot - retain_min + 1`,
//! past the smallest consumer's next snapshot, past `earliest changelog + max_deletes`, nor
//! the latest changelog; stop at the first changelog (from the `retain_max` bound on) not older
//! than the time retention. `delete_all` (Java `expireAll`) expires every changelog, which Java
//! allows only when the latest changelog is older than the earliest snapshot, and removes the
//! changelog hints.
//!
//! **Files.** Java's `ChangelogDeletion` names the candidates: for a changelog with a changelog
//! list, the files its changelog manifests add, the list and its manifests; for one without
//! (no changelog producer: its changelog is the delta), the files its delta deletes, and its
//! delta and base lists with their manifests. What is deleted is decided by the liveness model:
//! a candidate goes only when no remaining version (snapshot, tag, changelog of any branch)
//! needs it ([`crate::ops::delete_tag::needed_without`]). Index and statistics files are the
//! snapshot expiration's.
//!
//! **Order.** The plan is journaled (`_tagkeeper/plans/expire-changelogs-<uuid>.json`), then
//! `changelog/EARLIEST` moves to the new earliest, the changelog files are deleted in ascending
//! order, then the needed set is read again (a tag created meanwhile keeps its files) and the
//! planned files that nothing needs are deleted, data first. A re-run finishes a journal it
//! finds, through the same re-check.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, FailedDeletion, Result};
use crate::format::file_name::PaimonFile;
use crate::format::hint::encode_hint;
use crate::format::ids::SnapshotId;
use crate::format::snapshot::Snapshot;
use crate::io::Deleted;
use crate::ops::delete_tag::{needed_without, Category, PlannedFile};
use crate::ops::expire::{changelog_key, delta_events, DataLayout, ExpireOptions};
use crate::table::layout::{manifest_key, CHANGELOG_DIR};
use crate::table::Table;

const JOURNAL: &str = "expire-changelogs";
const OPERATION: &str = "expire-changelogs";

/// Changelog retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogOptions {
    /// `changelog.num-retained.min`: at least 1.
    pub retain_min: u64,
    /// `changelog.num-retained.max`.
    pub retain_max: u64,
    /// `changelog.time-retained` in ms; `i64::MAX`: no time limit.
    pub time_retained_millis: i64,
    /// Changelogs expired per run (Java: `snapshot.expire.limit`).
    pub max_deletes: u64,
    /// Expire every changelog (Java `expireAll`, `delete_all => true`).
    pub delete_all: bool,
}

impl ChangelogOptions {
    /// The `expire_changelogs` procedure's defaults (Java's `ExpireConfig.builder()`): keep at
    /// least 1, no maximum, no time limit, no per-run limit. Without a flag nothing expires.
    pub fn procedure_defaults() -> Self {
        ChangelogOptions {
            retain_min: 1,
            retain_max: i32::MAX as u64,
            time_retained_millis: i64::MAX,
            max_deletes: i32::MAX as u64,
            delete_all: false,
        }
    }

    /// From a table's options as Java's commit reads them (`CoreOptions.expireConfig()`): each
    /// `changelog.*` setting defaults to the snapshot's.
    pub fn from_table(options: &[(String, String)], snapshots: &ExpireOptions) -> Result<Self> {
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
        let time = match get("changelog.time-retained") {
            None => snapshots.time_retained_millis,
            Some(v) => crate::format::duration::parse_duration(v)
                .map_err(|e| {
                    Error::InvalidArgument(format!("table option changelog.time-retained: {e}"))
                })?
                .as_millis() as i64,
        };
        Ok(ChangelogOptions {
            retain_min: num("changelog.num-retained.min", snapshots.retain_min)?,
            retain_max: num("changelog.num-retained.max", snapshots.retain_max)?,
            time_retained_millis: time,
            max_deletes: snapshots.expire_limit,
            delete_all: false,
        })
    }

    fn validate(&self) -> Result<()> {
        if self.retain_min < 1 {
            return Err(Error::InvalidArgument(
                "retain-min must be at least 1".into(),
            ));
        }
        if self.retain_max < self.retain_min {
            return Err(Error::InvalidArgument(format!(
                "retain-max ({}) must be at least retain-min ({})",
                self.retain_max, self.retain_min
            )));
        }
        if self.max_deletes < 1 {
            return Err(Error::InvalidArgument(
                "max-deletes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What an expire-changelogs run deletes. Journaled before anything is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpireChangelogsPlan {
    /// Changelog ids expired (`changelog/changelog-N` deleted), ascending.
    pub expired_changelogs: Vec<i64>,
    /// The earliest changelog left (`changelog/EARLIEST`), if any is left.
    pub new_earliest: Option<i64>,
    /// Every changelog, with the hints (Java `expireAll`).
    pub delete_all: bool,
    /// Files to delete: those of the candidates that no remaining version needs.
    pub files: Vec<PlannedFile>,
    /// Per category: count and bytes.
    pub totals: BTreeMap<Category, (u64, i64)>,
    /// Candidates kept because a remaining version needs them (by the liveness model).
    pub kept_needed: u64,
    /// Deletions skipped for safety, with the reason.
    pub skipped: Vec<String>,
}

/// What an expire-changelogs run did (or would do). The JSON form has the plan's fields at
/// the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpireChangelogsReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The plan carried out.
    #[serde(flatten)]
    pub plan: ExpireChangelogsPlan,
    /// Planned deletions that failed.
    pub failed: Vec<FailedDeletion>,
    /// Planned files already gone.
    pub already_gone: Vec<String>,
    /// True when this run finished a journal an earlier, interrupted run left.
    pub resumed: bool,
}

impl ExpireChangelogsReport {
    /// The report of a plan before anything is done.
    pub fn of(plan: ExpireChangelogsPlan, dry_run: bool) -> Self {
        ExpireChangelogsReport {
            dry_run,
            plan,
            failed: Vec::new(),
            already_gone: Vec::new(),
            resumed: false,
        }
    }
}

/// The ids of main's long-lived changelogs, ascending.
pub async fn changelog_ids(table: &Table) -> Result<Vec<i64>> {
    let (files, _) = table.store().list_dir(CHANGELOG_DIR).await?;
    let mut ids: Vec<i64> = files
        .iter()
        .filter_map(
            |f| match PaimonFile::parse(f.key.rsplit('/').next().unwrap_or(&f.key)) {
                PaimonFile::ChangelogMeta(id) => Some(id.0),
                _ => None,
            },
        )
        .collect();
    ids.sort();
    Ok(ids)
}

async fn load_changelog(table: &Table, id: i64) -> Result<Option<Snapshot>> {
    let key = changelog_key(id);
    match table.store().get_opt(&key).await? {
        None => Ok(None),
        Some(b) => Ok(Some(Snapshot::decode(&b, &key)?)),
    }
}

/// Compute what to expire and which files go. Changes nothing.
pub async fn plan(
    table: &Table,
    opts: &ChangelogOptions,
    now_millis: i64,
) -> Result<ExpireChangelogsPlan> {
    opts.validate()?;
    // Changelogs are not in the Iceberg view; an unreadable schema is left to planning.
    if let Ok(schema) = table.latest_schema().await {
        schema.iceberg_metadata_dir("expire-changelogs")?;
    }
    let mut p = ExpireChangelogsPlan {
        expired_changelogs: Vec::new(),
        new_earliest: None,
        delete_all: opts.delete_all,
        files: Vec::new(),
        totals: BTreeMap::new(),
        kept_needed: 0,
        skipped: Vec::new(),
    };
    let ids = changelog_ids(table).await?;
    p.new_earliest = ids.first().copied();
    let range = table.snapshot_range().await?;
    let (Some(earliest_snapshot), Some(latest)) = (range.earliest(), range.latest()) else {
        return Ok(p);
    };
    let (Some(&earliest_cl), Some(&latest_cl)) = (ids.first(), ids.last()) else {
        return Ok(p);
    };
    let latest = latest.0;
    let expired: Vec<i64> = if opts.delete_all {
        if latest_cl >= earliest_snapshot.0 {
            return Err(Error::InvalidArgument(format!(
                "changelog/changelog-{latest_cl} is not older than the earliest snapshot \
                 (snapshot/snapshot-{}): Java's expire_changelogs refuses delete-all then \
                 (the latest changelog id must be less than the earliest snapshot id)",
                earliest_snapshot.0
            )));
        }
        p.new_earliest = None;
        ids.clone()
    } else {
        let min = (latest - opts.retain_max as i64 + 1).max(earliest_cl);
        let mut max_exclusive = latest - opts.retain_min as i64 + 1;
        if let Some(c) = crate::ops::consumers::min_next_snapshot(table).await? {
            max_exclusive = max_exclusive.min(c);
        }
        max_exclusive = max_exclusive.min(earliest_cl.saturating_add(opts.max_deletes as i64));
        max_exclusive = max_exclusive.min(latest_cl);
        if max_exclusive <= earliest_cl {
            return Ok(p);
        }
        let older_than = now_millis.saturating_sub(opts.time_retained_millis);
        let mut end = max_exclusive;
        for id in min..=max_exclusive {
            if let Some(c) = load_changelog(table, id).await? {
                if older_than <= c.time_millis {
                    end = id;
                    break;
                }
            }
        }
        if load_changelog(table, end).await?.is_none() {
            p.skipped.push(format!(
                "changelog/changelog-{end} (the end of the range) does not exist: nothing expired \
                 (as Java; --delete-all removes separated changelogs)"
            ));
            return Ok(p);
        }
        p.new_earliest = Some(end);
        ids.iter().copied().filter(|i| *i < end).collect()
    };
    if expired.is_empty() {
        return Ok(p);
    }
    p.expired_changelogs = expired.clone();

    // Java's candidates.
    let layout = DataLayout::of(table).await?;
    let mut candidates: BTreeMap<String, (Category, i64)> = BTreeMap::new();
    for id in &expired {
        let Some(c) = load_changelog(table, *id).await? else {
            continue; // vanished meanwhile: nothing of it to plan
        };
        let owner = format!("changelog {id}");
        if let Some(list) = &c.changelog_manifest_list {
            match table.changelog_files(&c, &owner).await {
                Ok(files) => {
                    for f in files.into_iter().filter(|f| !f.external) {
                        candidates.insert(f.path, (Category::Data, f.entry.file.file_size));
                    }
                }
                Err(e) => p.skipped.push(format!(
                    "changelog files of changelog {id}: unreadable ({e}); they are kept"
                )),
            }
            list_candidates(table, list, &owner, &mut candidates).await;
        } else {
            match delta_events(table, &c, &layout).await {
                Ok(ev) => {
                    for (path, (bytes, _, extra, _)) in ev.deleted {
                        candidates.insert(path, (Category::Data, bytes));
                        for x in extra {
                            candidates.insert(x, (Category::Data, 0));
                        }
                    }
                }
                Err(e) => p.skipped.push(format!(
                    "data files deleted by changelog {id}: its delta is unreadable ({e}); they are kept"
                )),
            }
            list_candidates(table, &c.delta_manifest_list, &owner, &mut candidates).await;
            list_candidates(table, &c.base_manifest_list, &owner, &mut candidates).await;
        }
        // Everything else the expired changelog still references (its base and delta lists
        // and their live files when Java kept them, an index or statistics file left behind):
        // candidates too, so that nothing only it needed is left for orphan cleaning. The
        // model below keeps whatever a remaining version needs, as for delete-tag.
        footprint_candidates(table, &c, &owner, &mut candidates).await;
    }

    // The liveness model decides.
    let removed: Vec<String> = expired.iter().map(|i| changelog_key(*i)).collect();
    let needed = needed_without(table, OPERATION, &removed).await?;
    for (path, (category, bytes)) in candidates {
        if needed.contains(name_of(&path)) {
            p.kept_needed += 1;
            continue;
        }
        p.files.push(PlannedFile {
            path,
            category,
            bytes,
        });
    }
    totals(&mut p);
    Ok(p)
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn totals(p: &mut ExpireChangelogsPlan) {
    p.totals.clear();
    for f in &p.files {
        let e = p.totals.entry(f.category).or_default();
        e.0 += 1;
        e.1 += f.bytes;
    }
}

/// A manifest list and its manifests, if the list can be read (Java's `tryReadManifestList`:
/// a list already gone names nothing).
async fn list_candidates(
    table: &Table,
    list: &str,
    owner: &str,
    out: &mut BTreeMap<String, (Category, i64)>,
) {
    if let Ok(metas) = table.manifest_list(list, owner).await {
        for m in metas {
            out.insert(
                manifest_key(&m.file_name),
                (Category::Manifest, m.file_size),
            );
        }
        out.insert(manifest_key(list), (Category::ManifestList, 0));
    }
}

/// What a changelog references beyond Java's candidates, as far as it can be read (a part
/// already gone names nothing).
async fn footprint_candidates(
    table: &Table,
    c: &Snapshot,
    owner: &str,
    out: &mut BTreeMap<String, (Category, i64)>,
) {
    let base = table
        .manifest_list(&c.base_manifest_list, owner)
        .await
        .is_ok();
    let delta = table
        .manifest_list(&c.delta_manifest_list, owner)
        .await
        .is_ok();
    if base && delta {
        list_candidates(table, &c.base_manifest_list, owner, out).await;
        list_candidates(table, &c.delta_manifest_list, owner, out).await;
        if let Ok(files) = table.data_files(c, owner).await {
            for f in files.into_iter().filter(|f| !f.external) {
                let dir = f
                    .path
                    .rsplit_once('/')
                    .map(|(d, _)| d.to_string())
                    .unwrap_or_default();
                for x in &f.entry.file.extra_files {
                    out.insert(format!("{dir}/{x}"), (Category::Data, 0));
                }
                out.insert(f.path, (Category::Data, f.entry.file.file_size));
            }
        }
    }
    if let Some(list) = &c.changelog_manifest_list {
        list_candidates(table, list, owner, out).await;
        if let Ok(files) = table.changelog_files(c, owner).await {
            for f in files.into_iter().filter(|f| !f.external) {
                out.insert(f.path, (Category::Data, f.entry.file.file_size));
            }
        }
    }
    if let Some(im) = &c.index_manifest {
        if let Ok(entries) = table.index_files(c, owner).await {
            for e in entries.into_iter().filter(|e| e.external_path.is_none()) {
                out.insert(
                    crate::table::layout::index_key(&e.file_name),
                    (Category::Index, e.file_size),
                );
            }
            out.insert(manifest_key(im), (Category::Index, 0));
        }
    }
    if let Some(st) = &c.statistics {
        let key = crate::table::layout::statistics_key(st);
        if table.store().head_opt(&key).await.ok().flatten().is_some() {
            out.insert(key, (Category::Statistics, 0));
        }
    }
}

/// Finish any journal an interrupted run left, then plan and carry out a new expiration.
pub async fn expire(
    table: &Table,
    opts: &ChangelogOptions,
    now_millis: i64,
) -> Result<ExpireChangelogsReport> {
    let pending: Vec<(String, ExpireChangelogsPlan)> =
        crate::ops::journal::pending(table, JOURNAL).await?;
    let mut resumed = None;
    for (key, old) in pending {
        let mut done = run(table, old, &key).await?;
        done.resumed = true;
        resumed = Some(done);
    }
    let p = plan(table, opts, now_millis).await?;
    if p.expired_changelogs.is_empty() {
        return Ok(resumed.unwrap_or_else(|| ExpireChangelogsReport::of(p, false)));
    }
    execute(table, p).await
}

/// Carry out a plan: journal it, delete, remove the journal.
pub async fn execute(table: &Table, p: ExpireChangelogsPlan) -> Result<ExpireChangelogsReport> {
    if p.expired_changelogs.is_empty() {
        return Ok(ExpireChangelogsReport::of(p, false));
    }
    let key = crate::ops::journal::record(table, JOURNAL, &p).await?;
    run(table, p, &key).await
}

async fn run(table: &Table, p: ExpireChangelogsPlan, key: &str) -> Result<ExpireChangelogsReport> {
    let mut r = ExpireChangelogsReport::of(p, false);
    let earliest_hint = format!("{CHANGELOG_DIR}/EARLIEST");
    let latest_hint = format!("{CHANGELOG_DIR}/LATEST");
    // 1. The hint first, then the changelog files in ascending order: a reader never starts
    //    from a changelog whose files are gone.
    if let Some(e) = r.plan.new_earliest.filter(|_| !r.plan.delete_all) {
        let current = table.store().get_opt(&earliest_hint).await?;
        let behind = current
            .as_deref()
            .and_then(crate::format::hint::parse_hint)
            .is_some_and(|h| h.0 >= e);
        if !behind {
            table
                .store()
                .put_overwrite(&earliest_hint, Bytes::from(encode_hint(SnapshotId(e))))
                .await?;
        }
    }
    for id in &r.plan.expired_changelogs {
        for (_, res) in table.store().delete_many(&[changelog_key(*id)]).await {
            res?;
        }
    }
    if r.plan.delete_all {
        for (_, res) in table
            .store()
            .delete_many(&[earliest_hint.clone(), latest_hint.clone()])
            .await
        {
            res?;
        }
    }
    // 2. What the remaining versions need now (a tag or commit since the plan may use a
    //    planned file): those files stay.
    let needed = needed_without(table, OPERATION, &[]).await?;
    let before = r.plan.files.len();
    r.plan.files.retain(|f| !needed.contains(name_of(&f.path)));
    let dropped = before - r.plan.files.len();
    if dropped > 0 {
        r.plan.kept_needed += dropped as u64;
        r.plan.skipped.push(format!(
            "{dropped} planned file(s) became needed since the plan was made: kept"
        ));
        totals(&mut r.plan);
    }
    // 3. Data first, then metadata.
    let mut ordered = r.plan.files.clone();
    ordered.sort_by_key(|f| f.category);
    let keys: Vec<String> = ordered.into_iter().map(|f| f.path).collect();
    for batch in keys.chunks(1000) {
        for (k, res) in table.store().delete_many_detailed(batch).await {
            match res {
                Ok(Deleted::Now) => {}
                Ok(Deleted::AlreadyGone) => r.already_gone.push(k),
                Err(e) => r.failed.push(FailedDeletion::new(k, &e)),
            }
        }
    }
    // 4. Done.
    if r.failed.is_empty() {
        if let Some(note) = crate::ops::journal::finish(table, key).await {
            r.plan.skipped.push(note);
        }
    }
    Ok(r)
}

/// The changelog ids left after `plan` (for reports and tests).
pub fn remaining(ids: &[i64], p: &ExpireChangelogsPlan) -> BTreeSet<i64> {
    let gone: BTreeSet<i64> = p.expired_changelogs.iter().copied().collect();
    ids.iter().copied().filter(|i| !gone.contains(i)).collect()
}
