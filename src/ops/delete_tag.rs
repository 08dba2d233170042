//! delete-tag (paimon-format.md §7.4, Java `TagManager.deleteTag` + `TagDeletion`).
//!
//! If the tag's snapshot still exists, only the tag file goes: the snapshot keeps its files.
//! Otherwise the files only this tag kept are reclaimed: its data files, manifests, lists, index
//! and statistics files that no other version — snapshot, tag or long-lived changelog, of main
//! or of any branch — needs, decided by the liveness model (`crate::liveness`). Java decides
//! with the neighbouring tags only, which assumes every file is added once and deleted once;
//! the model does not, so a tag with a wrong id, a file added back by a rollback, or a branch
//! cannot make it delete what another version reads.
//!
//! **Fail closed.** A tag that is not a consistent copy of a snapshot (id out of range, or
//! manifest lists differing from the retained snapshot of its id) is refused as corrupt, with
//! nothing deleted. If any other version cannot be read completely, the tag file is deleted
//! and the data cleanup is skipped, with the reason in the report (Paimon issue #6479 deleted
//! live data by treating an unreadable neighbour as empty).
//!
//! Order: the tag file first, then data files, then manifests and lists. A crash leaves only
//! unreferenced files behind (orphan cleaning reclaims them), never a tag with missing files.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, FailedDeletion, Result};
use crate::format::ids::TagName;
use crate::format::snapshot::Snapshot;
use crate::liveness::check_tag;
use crate::liveness::gather::Version;
use crate::ops::journal;
use crate::table::layout::{index_key, manifest_key, statistics_key, tag_key};
use crate::table::{NamedTag, Table};

/// What kind of file a planned deletion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A data file or one of its extra files.
    Data,
    /// A manifest.
    Manifest,
    /// A manifest list.
    ManifestList,
    /// An index manifest or index file.
    Index,
    /// A statistics file.
    Statistics,
}

/// One file to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PlannedFile {
    /// Key relative to the table root.
    pub path: String,
    /// Its kind.
    pub category: Category,
    /// Its size in bytes (0 when unknown).
    pub bytes: i64,
}

/// What happens to one named tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagAction {
    /// There is no such tag: nothing happens.
    NotFound,
    /// Only the tag file goes (its snapshot or another tag keeps its files, or the cleanup
    /// was skipped for safety).
    TagFileOnly,
    /// The tag file goes, and the files only it kept.
    Reclaim,
}

/// The plan for one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TagDeletionPlan {
    /// The tag.
    pub name: String,
    /// Its snapshot, if the tag exists.
    pub snapshot_id: Option<i64>,
    /// What happens to it.
    pub action: TagAction,
    /// Why no data is reclaimed (snapshot still live, shared snapshot, or a safety skip).
    pub reason: Option<String>,
    /// True when the cleanup was skipped for safety (unreadable metadata, branches…).
    pub skipped_for_safety: bool,
    /// Files to delete besides the tag file.
    pub files: Vec<PlannedFile>,
}

/// The plan for a delete-tag command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeleteTagPlan {
    /// One entry per requested name, in order.
    pub tags: Vec<TagDeletionPlan>,
    /// `tag.create-success-file` is on: each deleted tag's `_SUCCESS` marker goes too, as
    /// Java's `SuccessFileTagCallback.notifyDeletion` does (quietly: a failure is only logged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub success_files: bool,
    /// The table keeps Iceberg-compatible metadata in `metadata/`: each deleted tag's Iceberg
    /// ref goes too (Java's `IcebergCommitCallback.notifyDeletion`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub iceberg_refs: bool,
}

/// Count and bytes of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tally {
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: i64,
}

/// What a delete-tag did (or, with a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeleteTagReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Tags deleted (or that would be).
    pub deleted_tags: Vec<String>,
    /// Tags that did not exist.
    pub not_found: Vec<String>,
    /// Per category, files deleted (or that would be).
    pub deleted: BTreeMap<Category, Tally>,
    /// Planned deletions that failed, each with its error (a missing file counts as deleted);
    /// the command is incomplete. A tag whose own file failed is not in `deleted_tags`, and
    /// none of its files were touched.
    pub failed: Vec<FailedDeletion>,
    /// The plan, per tag (with every file on a dry run).
    pub tags: Vec<TagDeletionPlan>,
    /// Tags whose interrupted deletion (a journal left by a killed run) this run finished.
    pub resumed: Vec<String>,
    /// Anything worth knowing that is not a failure.
    pub notes: Vec<String>,
}

/// The journal name of delete-tag runs.
const JOURNAL: &str = "delete-tag";

/// Build the plan: no changes.
///
/// A tag whose snapshot is retained only loses its file (the snapshot keeps everything). For
/// the others, the files only they keep are reclaimed: their files minus everything any other
/// version of any branch needs, by the liveness model (`crate::liveness`). A tag that is not a
/// consistent copy of a snapshot is refused as corrupt before anything is decided.
pub async fn plan(table: &Table, names: &[TagName]) -> Result<DeleteTagPlan> {
    let (iceberg_refs, success_files) = crate::ops::tag::tag_callbacks(table, "delete-tag").await?;
    let all: Vec<NamedTag> = table.tags().await?;
    let range = table.snapshot_range().await?;
    let mut victims: Vec<&NamedTag> = Vec::new();
    let mut plans = Vec::new();
    for name in names {
        let Some(victim) = all.iter().find(|t| &t.name == name) else {
            plans.push(TagDeletionPlan {
                name: name.to_string(),
                snapshot_id: None,
                action: TagAction::NotFound,
                reason: Some("no such tag".into()),
                skipped_for_safety: false,
                files: Vec::new(),
            });
            continue;
        };
        let id = victim.tag.snapshot.id;
        // Deciding what the tag alone keeps depends on its id naming its snapshot.
        let retained = if range.ids.binary_search(&id).is_ok() {
            table.try_load_snapshot(id).await?
        } else {
            None
        };
        check_tag(
            &tag_key(&victim.name),
            &victim.tag.snapshot,
            range.latest(),
            retained.as_ref(),
        )?;
        let only_tag_file = |reason: String| TagDeletionPlan {
            name: name.to_string(),
            snapshot_id: Some(id.0),
            action: TagAction::TagFileOnly,
            reason: Some(reason),
            skipped_for_safety: false,
            files: Vec::new(),
        };
        if retained.is_some() {
            plans.push(only_tag_file(format!(
                "snapshot {id} still exists and keeps its files"
            )));
            continue;
        }
        let deleted_here = |t: &NamedTag| names.contains(&t.name);
        if let Some(other) = all
            .iter()
            .find(|t| t.tag.snapshot.id == id && !deleted_here(t))
        {
            plans.push(only_tag_file(format!(
                "tag '{}' points at the same snapshot {id}",
                other.name
            )));
            continue;
        }
        victims.push(victim);
        plans.push(TagDeletionPlan {
            name: name.to_string(),
            snapshot_id: Some(id.0),
            action: TagAction::Reclaim,
            reason: None,
            skipped_for_safety: false,
            files: Vec::new(),
        });
    }
    if victims.is_empty() {
        return Ok(DeleteTagPlan {
            tags: plans,
            success_files,
            iceberg_refs,
        });
    }
    // What every other version of every branch needs (the tags deleted here are not roots).
    let victim_keys: Vec<String> = victims.iter().map(|t| tag_key(&t.name)).collect();
    let needed = needed_without(table, "delete-tag", &victim_keys).await;
    let mut planned: BTreeSet<String> = BTreeSet::new();
    for victim in victims {
        let Some(p) = plans
            .iter_mut()
            .find(|p| p.name == victim.name.as_str() && p.action == TagAction::Reclaim)
        else {
            continue;
        };
        let files = match &needed {
            Ok(needed) => {
                let owner = format!("tag '{}'", victim.name);
                reclaimable(table, &victim.tag.snapshot, &owner, needed).await
            }
            Err(e) => Err(Error::InvalidArgument(e.to_string())),
        };
        match files {
            Ok(files) => {
                p.files = files
                    .into_iter()
                    .filter(|f| planned.insert(f.path.clone()))
                    .collect()
            }
            Err(e) => {
                p.action = TagAction::TagFileOnly;
                p.skipped_for_safety = true;
                p.reason = Some(format!("data cleanup skipped, metadata unreadable: {e}"));
            }
        }
    }
    Ok(DeleteTagPlan {
        tags: plans,
        success_files,
        iceberg_refs,
    })
}

/// The names of every file the versions of every branch need, except the versions whose files
/// (keys relative to `table`'s own root: the branch's, when it is a branch) are in `removed`:
/// the liveness model's answer for a command that removes those versions. Consecutive
/// snapshots are read by delta replay ([`crate::liveness::chain_union`]: the same answer from
/// one full read per chain).
pub(crate) async fn needed_without(
    table: &Table,
    operation: &'static str,
    removed: &[String],
) -> Result<crate::liveness::NeededNames> {
    let removed: Vec<String> = removed.iter().map(|k| table.root_key(k)).collect();
    let removed = removed.as_slice();
    let branches = table.branches().await?;
    let removed = |v: &Version| removed.contains(&v.key);
    let refs =
        crate::liveness::gather::read_references_replayed(table, &branches, operation, &removed)
            .await?;
    Ok(refs.names)
}

/// Files and metadata of one version: data paths (with sizes) and metadata names.
pub(crate) struct Footprint {
    pub(crate) data: BTreeMap<String, (i64, Option<i64>)>,
    pub(crate) extra: Vec<String>,
    pub(crate) manifests: BTreeMap<String, i64>,
    pub(crate) lists: BTreeSet<String>,
    pub(crate) index: BTreeMap<String, i64>,
    pub(crate) statistics: Option<String>,
}

impl Footprint {
    /// Every file name of the footprint, as the liveness model names files.
    pub(crate) fn names(&self) -> impl Iterator<Item = String> + '_ {
        let name = |p: &String| p.rsplit('/').next().unwrap_or(p).to_string();
        self.data
            .keys()
            .map(name)
            .chain(self.extra.iter().map(name))
            .chain(self.manifests.keys().cloned())
            .chain(self.lists.iter().cloned())
            .chain(self.index.keys().map(name))
            .chain(self.statistics.iter().cloned())
    }
}

pub(crate) async fn footprint(table: &Table, s: &Snapshot, owner: &str) -> Result<Footprint> {
    let mut f = metadata_footprint(table, s, owner).await?;
    // A version needs its changelog files as much as its data files (the liveness model).
    let mut live = table.data_files(s, owner).await?;
    live.extend(table.changelog_files(s, owner).await?);
    for file in live {
        if file.external {
            continue;
        }
        let dir = file
            .path
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        for x in &file.entry.file.extra_files {
            f.extra.push(format!("{dir}/{x}"));
        }
        f.data.insert(
            file.path,
            (file.entry.file.file_size, file.entry.file.commit_snapshot),
        );
    }
    Ok(f)
}

/// The names of every file a version needs (what [`footprint`]'s names are), read without
/// its data files' full entries: for the callers that only ask whether a name is needed.
pub(crate) async fn footprint_names(
    table: &Table,
    s: &Snapshot,
    owner: &str,
) -> Result<std::collections::HashSet<String>> {
    // Both read the version's manifest lists (two or three small GETs, read twice as
    // `footprint` reads them); run together, those reads overlap.
    let (mut names, metadata) = futures::try_join!(
        table.live_names_of(s, owner),
        metadata_footprint(table, s, owner)
    )?;
    names.extend(metadata.names());
    Ok(names)
}

/// The metadata a version uses — manifest lists, manifest names, index manifest and files,
/// statistics — without its data files: manifest lists and the index manifest are read, the
/// manifests themselves are not.
pub(crate) async fn metadata_footprint(
    table: &Table,
    s: &Snapshot,
    owner: &str,
) -> Result<Footprint> {
    let mut manifests = BTreeMap::new();
    let mut lists: BTreeSet<String> = [s.base_manifest_list.clone(), s.delta_manifest_list.clone()]
        .into_iter()
        .collect();
    // The changelog list is the version's too: a tag of a snapshot that produced changelog
    // names it, and the liveness model counts its files live in that tag.
    lists.extend(s.changelog_manifest_list.iter().cloned());
    for list in &lists {
        for m in table.manifest_list(list, owner).await? {
            manifests.insert(m.file_name, m.file_size);
        }
    }
    let mut index = BTreeMap::new();
    if let Some(im) = &s.index_manifest {
        index.insert(manifest_key(im), 0);
        for e in table.index_files(s, owner).await? {
            if e.external_path.is_none() {
                index.insert(index_key(&e.file_name), e.file_size);
            }
        }
    }
    Ok(Footprint {
        data: BTreeMap::new(),
        extra: Vec::new(),
        manifests,
        lists,
        index,
        statistics: s.statistics.clone(),
    })
}

/// The files of a removed version (`owner`, for messages) that no retained version needs
/// (`needed`: names, as the liveness model reports them), with sizes.
pub(crate) async fn reclaimable(
    table: &Table,
    removed: &Snapshot,
    owner: &str,
    needed: &crate::liveness::NeededNames,
) -> Result<Vec<PlannedFile>> {
    let mine = footprint(table, removed, owner).await?;
    planned_files(table, &mine, |name| !needed.contains(name)).await
}

/// The files of a footprint that `free` (given a file's name) allows to delete, with sizes
/// (manifest lists' from a HEAD: their size is recorded nowhere).
pub(crate) async fn planned_files(
    table: &Table,
    mine: &Footprint,
    free: impl Fn(&str) -> bool,
) -> Result<Vec<PlannedFile>> {
    let free = |path: &str| free(path.rsplit('/').next().unwrap_or(path));
    let mut out = Vec::new();
    for (path, (bytes, _)) in &mine.data {
        if free(path) {
            out.push(PlannedFile {
                path: path.clone(),
                category: Category::Data,
                bytes: *bytes,
            });
        }
    }
    for path in &mine.extra {
        if free(path) {
            out.push(PlannedFile {
                path: path.clone(),
                category: Category::Data,
                bytes: 0,
            });
        }
    }
    for (name, bytes) in &mine.manifests {
        if free(name) {
            out.push(PlannedFile {
                path: manifest_key(name),
                category: Category::Manifest,
                bytes: *bytes,
            });
        }
    }
    // One HEAD per list, all in flight together (at 20 ms a request, one after another they
    // were most of a purge's time).
    let heads: Vec<_> = mine
        .lists
        .iter()
        .filter(|name| free(name))
        .map(|name| async move {
            let key = manifest_key(name);
            let size = table.root_store().head_opt(&key).await?;
            Ok(PlannedFile {
                path: key,
                category: Category::ManifestList,
                bytes: size.map_or(0, |o| o.size as i64),
            })
        })
        .collect();
    out.extend(crate::table::ordered(heads).await?);
    for (path, bytes) in &mine.index {
        if free(path) {
            out.push(PlannedFile {
                path: path.clone(),
                category: Category::Index,
                bytes: *bytes,
            });
        }
    }
    if let Some(st) = &mine.statistics {
        if free(st) {
            out.push(PlannedFile {
                path: statistics_key(st),
                category: Category::Statistics,
                bytes: 0,
            });
        }
    }
    Ok(out)
}

/// Carry out a plan: journal it, then each tag file first, then its files (data before
/// metadata), then remove the journal. A run killed half-way is finished by [`resume`].
pub async fn execute(table: &Table, plan: DeleteTagPlan) -> Result<DeleteTagReport> {
    if plan.tags.iter().all(|t| t.action == TagAction::NotFound) {
        return Ok(summarize(&plan, false));
    }
    let key = journal::record(table, JOURNAL, &plan).await?;
    let mut report = run_plan(table, &plan).await?;
    if report.failed.is_empty() {
        report.notes.extend(journal::finish(table, &key).await);
    }
    Ok(report)
}

/// Finish the delete-tag runs that were interrupted (their journals): their tag files, if
/// still the same tags, and their planned files that no version needs now. `None` when there
/// was nothing to finish.
pub async fn resume(table: &Table) -> Result<Option<DeleteTagReport>> {
    let pending: Vec<(String, DeleteTagPlan)> = journal::pending(table, JOURNAL).await?;
    let mut merged: Option<DeleteTagReport> = None;
    for (key, mut plan) in pending {
        // The planned tags that are still there unchanged go now; the rest of the table is
        // asked again what it needs (something may have come to need a planned file).
        let mut going = Vec::new();
        for t in plan.tags.iter().filter(|t| t.action != TagAction::NotFound) {
            if let Some(name) = TagName::from_listing(&t.name) {
                if let Some(tag) = table.try_load_tag(&name).await? {
                    if Some(tag.snapshot.id.0) == t.snapshot_id {
                        going.push(tag_key(&name));
                    }
                }
            }
        }
        let needed = needed_without(table, "delete-tag", &going).await?;
        for t in &mut plan.tags {
            t.files
                .retain(|f| !needed.contains(f.path.rsplit('/').next().unwrap_or(&f.path)));
        }
        let mut report = run_plan(table, &plan).await?;
        if report.failed.is_empty() {
            report.notes.extend(journal::finish(table, &key).await);
        }
        report.resumed = report.deleted_tags.clone();
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

/// delete-tag as the CLI runs it: finish interrupted runs first (unless `dry_run`), then
/// plan the named tags and (unless `dry_run`) execute the plan. A tag whose deletion an
/// interrupted run had started counts as deleted by this run.
pub async fn delete_tags(
    table: &Table,
    names: &[TagName],
    dry_run: bool,
) -> Result<DeleteTagReport> {
    let resumed = if dry_run { None } else { resume(table).await? };
    let plan = plan(table, names).await?;
    if dry_run {
        return Ok(summarize(&plan, true));
    }
    let report = execute(table, plan).await?;
    Ok(match resumed {
        None => report,
        Some(mut r) => {
            // Only the tags asked about and found by neither run are "not found".
            r.not_found.clear();
            let asked_done = r.resumed.clone();
            let mut report = report;
            report.not_found.retain(|n| !asked_done.contains(n));
            r.absorb(report);
            r
        }
    })
}

/// The deletions of a plan, without the journal.
async fn run_plan(table: &Table, plan: &DeleteTagPlan) -> Result<DeleteTagReport> {
    let mut report = summarize(plan, false);
    for t in &plan.tags {
        if t.action == TagAction::NotFound {
            continue;
        }
        let name = TagName::from_listing(&t.name).ok_or_else(|| Error::InvalidTagName {
            name: t.name.clone(),
            reason: "not a tag name".into(),
        })?;
        // A tag of that name pointing elsewhere now was replaced after the plan: it stays.
        if let Some(now) = table.try_load_tag(&name).await? {
            if Some(now.snapshot.id.0) != t.snapshot_id {
                report.notes.push(format!(
                    "tag '{name}' points at snapshot {} now, not {}: it was replaced after the plan and is kept",
                    now.snapshot.id,
                    t.snapshot_id.unwrap_or_default()
                ));
                report.deleted_tags.retain(|n| n != &t.name);
                for f in &t.files {
                    untally(&mut report.deleted, f);
                }
                continue;
            }
        }
        let tag_file = tag_key(&name);
        let removed = table
            .store()
            .delete_many(std::slice::from_ref(&tag_file))
            .await;
        if let Some(e) = removed.into_iter().find_map(|(_, r)| r.err()) {
            report
                .failed
                .push(FailedDeletion::new(table.root_key(&tag_file), &e));
            report.deleted_tags.retain(|n| n != &t.name);
            for f in &t.files {
                untally(&mut report.deleted, f);
            }
            continue;
        }
        if plan.iceberg_refs {
            match crate::ops::tag::iceberg_tag_deleted(table, name.as_str()).await {
                Ok(note) => report.notes.extend(note),
                // The tag is gone; its ref stays until a re-run of the same deletion (the
                // journal is kept: `failed` is not empty) or Java's next tag change.
                Err(e) => report.failed.push(FailedDeletion::new(
                    format!("metadata (Iceberg ref of tag '{name}')"),
                    &e,
                )),
            }
        }
        if plan.success_files {
            let marker = crate::format::tag::success_file_key(name.as_str());
            if let Some((_, Err(e))) = table
                .store()
                .delete_many(std::slice::from_ref(&marker))
                .await
                .into_iter()
                .next()
            {
                tracing::warn!("could not delete {}: {e}", table.root_key(&marker));
            }
        }
        let mut ordered: Vec<&PlannedFile> = t.files.iter().collect();
        ordered.sort_by_key(|f| f.category);
        let keys: Vec<String> = ordered.iter().map(|f| f.path.clone()).collect();
        let deleted = table
            .root_store()
            .delete_all(&keys, "deleting the tag's files")
            .await;
        for (key, r) in deleted {
            if let Err(e) = r {
                if let Some(f) = t.files.iter().find(|f| f.path == key) {
                    untally(&mut report.deleted, f);
                }
                report.failed.push(FailedDeletion::new(key, &e));
            }
        }
    }
    for t in &mut report.tags {
        t.files.clear();
    }
    Ok(report)
}

impl DeleteTagReport {
    /// Add another run's report to this one (a resumed journal and the run after it).
    pub fn absorb(&mut self, other: DeleteTagReport) {
        for name in other.deleted_tags {
            if !self.deleted_tags.contains(&name) {
                self.deleted_tags.push(name);
            }
        }
        self.not_found.retain(|n| !other.resumed.contains(n));
        for (c, t) in other.deleted {
            let e = self.deleted.entry(c).or_default();
            e.files += t.files;
            e.bytes += t.bytes;
        }
        self.failed.extend(other.failed);
        self.tags.extend(other.tags);
        self.resumed.extend(other.resumed);
        self.notes.extend(other.notes);
    }
}

/// Take a file that was not deleted out of the per-category totals.
fn untally(deleted: &mut BTreeMap<Category, Tally>, f: &PlannedFile) {
    if let Some(t) = deleted.get_mut(&f.category) {
        t.files = t.files.saturating_sub(1);
        t.bytes -= f.bytes;
    }
}

/// The report of a plan (a dry run keeps the file lists).
pub fn summarize(plan: &DeleteTagPlan, dry_run: bool) -> DeleteTagReport {
    let mut deleted: BTreeMap<Category, Tally> = BTreeMap::new();
    for f in plan.tags.iter().flat_map(|t| &t.files) {
        let e = deleted.entry(f.category).or_default();
        e.files += 1;
        e.bytes += f.bytes;
    }
    DeleteTagReport {
        dry_run,
        deleted_tags: plan
            .tags
            .iter()
            .filter(|t| t.action != TagAction::NotFound)
            .map(|t| t.name.clone())
            .collect(),
        not_found: plan
            .tags
            .iter()
            .filter(|t| t.action == TagAction::NotFound)
            .map(|t| t.name.clone())
            .collect(),
        deleted,
        failed: Vec::new(),
        tags: plan.tags.clone(),
        resumed: Vec::new(),
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::HashSet;

    use super::{footprint, footprint_names};
    use crate::io::StoreOptions;
    use crate::table::Table;

    /// The names read through the compact listing are exactly the full footprint's names, for
    /// every snapshot and tag of every fixture table (Java's and pypaimon's: changelogs,
    /// deletion vectors, index files, partitions, buckets, statistics).
    #[tokio::test]
    async fn footprint_names_equal_the_full_footprints_names_on_every_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let mut versions = 0;
        for db in ["warehouse/default.db", "java/warehouse/default.db"] {
            let mut tables: Vec<_> = std::fs::read_dir(root.join(db))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.join("snapshot").is_dir())
                .collect();
            tables.sort();
            for dir in tables {
                let table = Table::open(&dir.display().to_string(), &StoreOptions::default())
                    .await
                    .unwrap();
                let mut snapshots = Vec::new();
                for id in table.snapshot_range().await.unwrap().ids {
                    snapshots.push(table.try_load_snapshot(id).await.unwrap().unwrap());
                }
                for t in table.tags().await.unwrap() {
                    snapshots.push(t.tag.snapshot);
                }
                for s in snapshots {
                    let what = format!("{} snapshot {}", dir.display(), s.id);
                    let full: HashSet<String> = footprint(&table, &s, &what)
                        .await
                        .unwrap()
                        .names()
                        .collect();
                    let names = footprint_names(&table, &s, &what).await.unwrap();
                    assert_eq!(names, full, "{what}");
                    versions += 1;
                }
            }
        }
        assert!(versions >= 100, "only {versions} fixture versions compared");
    }
}
