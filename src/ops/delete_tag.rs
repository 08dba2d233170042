//! delete-tag (paimon-format.md §7.4, Java `TagManager.deleteTag` + `TagDeletion`).
//!
//! If the tag's snapshot still exists, only the tag file goes: the snapshot chain protects its
//! files. Otherwise the files only this tag kept are reclaimed, decided against two protectors:
//! the nearest earlier tag (left) and the earlier of the earliest snapshot and the next tag
//! (right). By the contiguity of a file's life (added once, deleted once), anything a later
//! snapshot or tag needs is in the right protector, anything an earlier tag needs is in the
//! left one. A file whose recorded `_COMMIT_SNAPSHOT` is after the left protector cannot be in
//! it, so when that holds for every candidate the left protector is not read at all.
//!
//! **Fail closed.** If a protector, or the tag's own manifests, cannot be read completely, the
//! tag file is deleted and the data cleanup is skipped, with the reason in the report (Paimon
//! issue #6479 deleted live data by treating an unreadable neighbour as empty). Tables with
//! branches or long-lived changelogs also reference data outside this picture; for them the
//! cleanup is skipped too.
//!
//! Order: the tag file first, then data files, then manifests and lists. A crash leaves only
//! unreferenced files behind (orphan cleaning reclaims them), never a tag with missing files.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, FailedDeletion, Result};
use crate::format::ids::{SnapshotId, TagName};
use crate::format::snapshot::Snapshot;
use crate::table::layout::{
    index_key, manifest_key, snapshot_key, statistics_key, tag_key, BRANCH_DIR, CHANGELOG_DIR,
};
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

/// The plan for one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagDeletionPlan {
    /// The tag.
    pub name: String,
    /// Its snapshot, if the tag exists.
    pub snapshot_id: Option<i64>,
    /// `not_found`, `tag_file_only` or `reclaim`.
    pub action: &'static str,
    /// Why no data is reclaimed (snapshot still live, shared snapshot, or a safety skip).
    pub reason: Option<String>,
    /// True when the cleanup was skipped for safety (unreadable metadata, branches…).
    pub skipped_for_safety: bool,
    /// Files to delete besides the tag file.
    pub files: Vec<PlannedFile>,
}

/// The plan for a delete-tag command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteTagPlan {
    /// One entry per requested name, in order.
    pub tags: Vec<TagDeletionPlan>,
}

/// Count and bytes of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
}

/// Build the plan: no changes.
pub async fn plan(table: &Table, names: &[TagName]) -> Result<DeleteTagPlan> {
    let mut all: Vec<NamedTag> = table.tags().await?;
    let range = table.snapshot_range().await?;
    let hazards = structural_hazards(table).await?;
    let mut plans = Vec::new();
    for name in names {
        let Some(pos) = all.iter().position(|t| &t.name == name) else {
            plans.push(TagDeletionPlan {
                name: name.to_string(),
                snapshot_id: None,
                action: "not_found",
                reason: Some("no such tag".into()),
                skipped_for_safety: false,
                files: Vec::new(),
            });
            continue;
        };
        let victim = all.remove(pos);
        let id = victim.tag.snapshot.id;
        let only_tag_file = |reason: String, safety: bool| TagDeletionPlan {
            name: name.to_string(),
            snapshot_id: Some(id.0),
            action: "tag_file_only",
            reason: Some(reason),
            skipped_for_safety: safety,
            files: Vec::new(),
        };
        if table.store().head_opt(&snapshot_key(id)).await?.is_some() {
            plans.push(only_tag_file(
                format!("snapshot {id} still exists and keeps its files"),
                false,
            ));
            continue;
        }
        if let Some(other) = all.iter().find(|t| t.tag.snapshot.id == id) {
            plans.push(only_tag_file(
                format!("tag '{}' points at the same snapshot {id}", other.name),
                false,
            ));
            continue;
        }
        if let Some(h) = &hazards {
            plans.push(only_tag_file(h.clone(), true));
            continue;
        }
        match reclaimable(table, &victim, &all, range.earliest()).await {
            Ok(files) => plans.push(TagDeletionPlan {
                name: name.to_string(),
                snapshot_id: Some(id.0),
                action: "reclaim",
                reason: None,
                skipped_for_safety: false,
                files,
            }),
            Err(e) => plans.push(only_tag_file(
                format!("data cleanup skipped, metadata unreadable: {e}"),
                true,
            )),
        }
    }
    Ok(DeleteTagPlan { tags: plans })
}

/// Branches and long-lived changelogs reference files this algorithm does not look at.
async fn structural_hazards(table: &Table) -> Result<Option<String>> {
    let (_, branches) = table.store().list_dir(BRANCH_DIR).await?;
    if !branches.is_empty() {
        return Ok(Some(format!(
            "the table has {} branch(es), whose files are not checked here: data cleanup skipped",
            branches.len()
        )));
    }
    let (changelogs, _) = table.store().list_dir(CHANGELOG_DIR).await?;
    if changelogs.iter().any(|f| {
        f.key
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("changelog-"))
    }) {
        return Ok(Some("the table has long-lived changelogs, which may reference data files: data cleanup skipped".into()));
    }
    Ok(None)
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

pub(crate) async fn footprint(table: &Table, s: &Snapshot, owner: &str) -> Result<Footprint> {
    let mut f = metadata_footprint(table, s, owner).await?;
    let live = table.data_files(s, owner).await?;
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

/// The metadata a version uses — manifest lists, manifest names, index manifest and files,
/// statistics — without its data files: manifest lists and the index manifest are read, the
/// manifests themselves are not.
pub(crate) async fn metadata_footprint(
    table: &Table,
    s: &Snapshot,
    owner: &str,
) -> Result<Footprint> {
    let mut manifests = BTreeMap::new();
    for list in [&s.base_manifest_list, &s.delta_manifest_list] {
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
        lists: [s.base_manifest_list.clone(), s.delta_manifest_list.clone()]
            .into_iter()
            .collect(),
        index,
        statistics: s.statistics.clone(),
    })
}

pub(crate) async fn reclaimable(
    table: &Table,
    victim: &NamedTag,
    others: &[NamedTag],
    earliest: Option<SnapshotId>,
) -> Result<Vec<PlannedFile>> {
    let id = victim.tag.snapshot.id;
    let mine = footprint(
        table,
        &victim.tag.snapshot,
        &format!("tag '{}'", victim.name),
    )
    .await?;
    let left = others
        .iter()
        .filter(|t| t.tag.snapshot.id < id)
        .max_by_key(|t| t.tag.snapshot.id);
    let next_tag = others
        .iter()
        .filter(|t| t.tag.snapshot.id > id)
        .min_by_key(|t| t.tag.snapshot.id);
    // The right protector: the earlier of the earliest snapshot and the next tag.
    let right: Option<(Snapshot, String)> = match (earliest, next_tag) {
        (Some(e), Some(t)) if t.tag.snapshot.id < e => {
            Some((t.tag.snapshot.clone(), format!("tag '{}'", t.name)))
        }
        (Some(e), _) => {
            let s = table
                .try_load_snapshot(e)
                .await?
                .ok_or_else(|| Error::MissingFile {
                    path: snapshot_key(e),
                    referenced_by: "the earliest snapshot (the right protector)".into(),
                })?;
            Some((s, format!("snapshot {e}")))
        }
        (None, Some(t)) => Some((t.tag.snapshot.clone(), format!("tag '{}'", t.name))),
        (None, None) => None,
    };
    let mut protectors = Vec::new();
    if let Some((s, owner)) = &right {
        protectors.push(footprint(table, s, owner).await?);
    }
    if let Some(l) = left {
        // A file committed after the left protector's snapshot cannot be in it.
        let needs_left = mine
            .data
            .values()
            .any(|(_, c)| c.is_none_or(|c| c <= l.tag.snapshot.id.0));
        if needs_left {
            protectors.push(footprint(table, &l.tag.snapshot, &format!("tag '{}'", l.name)).await?);
        } else {
            // Its manifests may still be shared with ours: their names are in its lists.
            let mut lite = Footprint {
                data: BTreeMap::new(),
                extra: Vec::new(),
                manifests: BTreeMap::new(),
                lists: BTreeSet::new(),
                index: BTreeMap::new(),
                statistics: l.tag.snapshot.statistics.clone(),
            };
            let owner = format!("tag '{}'", l.name);
            for list in [
                &l.tag.snapshot.base_manifest_list,
                &l.tag.snapshot.delta_manifest_list,
            ] {
                lite.lists.insert(list.clone());
                for m in table.manifest_list(list, &owner).await? {
                    lite.manifests.insert(m.file_name, m.file_size);
                }
            }
            if let Some(im) = &l.tag.snapshot.index_manifest {
                lite.index.insert(manifest_key(im), 0);
                for e in table.index_files(&l.tag.snapshot, &owner).await? {
                    lite.index.insert(index_key(&e.file_name), e.file_size);
                }
            }
            protectors.push(lite);
        }
    }
    let kept = |f: &dyn Fn(&Footprint) -> bool| protectors.iter().any(f);
    let mut out = Vec::new();
    for (path, (bytes, _)) in &mine.data {
        if !kept(&|p: &Footprint| p.data.contains_key(path)) {
            out.push(PlannedFile {
                path: path.clone(),
                category: Category::Data,
                bytes: *bytes,
            });
        }
    }
    for path in &mine.extra {
        if !kept(&|p: &Footprint| p.extra.contains(path)) {
            out.push(PlannedFile {
                path: path.clone(),
                category: Category::Data,
                bytes: 0,
            });
        }
    }
    for (name, bytes) in &mine.manifests {
        if !kept(&|p: &Footprint| p.manifests.contains_key(name)) {
            out.push(PlannedFile {
                path: manifest_key(name),
                category: Category::Manifest,
                bytes: *bytes,
            });
        }
    }
    for name in &mine.lists {
        if !kept(&|p: &Footprint| p.lists.contains(name)) {
            let size = table
                .store()
                .head_opt(&manifest_key(name))
                .await?
                .map_or(0, |o| o.size as i64);
            out.push(PlannedFile {
                path: manifest_key(name),
                category: Category::ManifestList,
                bytes: size,
            });
        }
    }
    for (path, bytes) in &mine.index {
        if !kept(&|p: &Footprint| p.index.contains_key(path)) {
            out.push(PlannedFile {
                path: path.clone(),
                category: Category::Index,
                bytes: *bytes,
            });
        }
    }
    if let Some(st) = &mine.statistics {
        if !kept(&|p: &Footprint| p.statistics.as_ref() == Some(st)) {
            out.push(PlannedFile {
                path: statistics_key(st),
                category: Category::Statistics,
                bytes: 0,
            });
        }
    }
    Ok(out)
}

/// Carry out a plan: each tag file first, then its files (data before metadata). A deletion
/// that fails is recorded in the report with its error and the run goes on with the next tag
/// (a tag whose own file could not be deleted still protects its files, so those are left).
pub async fn execute(table: &Table, plan: DeleteTagPlan) -> Result<DeleteTagReport> {
    let mut report = summarize(&plan, false);
    for t in &plan.tags {
        if t.action == "not_found" {
            continue;
        }
        let name = TagName::from_listing(&t.name).ok_or_else(|| Error::InvalidTagName {
            name: t.name.clone(),
            reason: "not a tag name".into(),
        })?;
        let tag_file = tag_key(&name);
        let removed = table
            .store()
            .delete_many(std::slice::from_ref(&tag_file))
            .await;
        if let Some(e) = removed.into_iter().find_map(|(_, r)| r.err()) {
            report.failed.push(FailedDeletion::new(tag_file, &e));
            report.deleted_tags.retain(|n| n != &t.name);
            for f in &t.files {
                untally(&mut report.deleted, f);
            }
            continue;
        }
        let mut ordered: Vec<&PlannedFile> = t.files.iter().collect();
        ordered.sort_by_key(|f| f.category);
        let keys: Vec<String> = ordered.iter().map(|f| f.path.clone()).collect();
        for (key, r) in table.store().delete_many(&keys).await {
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
            .filter(|t| t.action != "not_found")
            .map(|t| t.name.clone())
            .collect(),
        not_found: plan
            .tags
            .iter()
            .filter(|t| t.action == "not_found")
            .map(|t| t.name.clone())
            .collect(),
        deleted,
        failed: Vec::new(),
        tags: plan.tags.clone(),
    }
}
