//! Which files only the versions a destructive rollback removes referenced: the preview's
//! "left unreferenced" list, and what `--purge` deletes.
//!
//! **The model** ([`by_model`]): every remaining version of every branch is read (consecutive
//! snapshots by delta replay) and a removed version's file is unreferenced when none of them
//! needs it (`crate::liveness`). Exact for any history; its cost grows with the snapshots kept.
//!
//! **The fast path** ([`by_commit_snapshot`]) reads only the target and the removed
//! snapshots. It rests on two facts of how tables are written, the same two expiration's fast
//! path and Java's `SnapshotDeletion` rest on:
//! - a data or changelog file whose recorded `_COMMIT_SNAPSHOT` is `c` is in no version older
//!   than `c` (a version cannot name a file committed after it; tagkeeper's writers record the
//!   first commit and keep it when a file is upgraded or added back);
//! - each commit writes its own manifest lists, and a manifest that leaves a branch's history
//!   never comes back into it, so metadata the target does not name was named by no older
//!   snapshot either.
//!
//! So a removed version's file is unreferenced when the target does not name it, no kept tag
//! or long-lived changelog names it (their metadata is read: they are few), and, for a data or
//! changelog file, its recorded commit is after the target. Every removed snapshot's files are
//! the target's plus what the removed deltas add, so the deltas are all that is read of them.
//! Anything the facts do not decide — a file without `_COMMIT_SNAPSHOT` (another engine wrote
//! it) or committed at or before the target (added back), a removed tag that is not a copy of a
//! removed snapshot, a removed long-lived changelog, any branch — sends the whole decision to
//! the model. The property tests hold the two equal on random histories
//! (`tests/it/liveness_props.rs`).
//!
//! Fail closed: what the fast path cannot read sends the decision to the model, which reads it
//! again and stops the purge if the deletion depends on it. Snapshots older than the target are
//! not read, so damage to one of them does not stop a fast purge: by the first fact it cannot
//! need a file committed after the target, the only data files the fast path deletes.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::ids::SnapshotId;
use crate::format::manifest::FileKind;
use crate::format::snapshot::Snapshot;
use crate::ops::delete_tag::{
    footprint_names, metadata_footprint, needed_without, planned_files, reclaimable, Footprint,
    PlannedFile,
};
use crate::ops::expire::DataLayout;
use crate::reach::live_entries;
use crate::table::layout::{snapshot_key, tag_key, CHANGELOG_DIR};
use crate::table::{NamedTag, Table};

/// How a rollback's unreferenced files were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The liveness model over every remaining version.
    Model,
    /// Recorded commit snapshots: only the target and the removed snapshots were read.
    CommitSnapshot,
}

/// What a destructive rollback removes, as the planner found it.
pub(super) struct Removed<'a> {
    /// The rollback's target (restored from its tag when its snapshot expired).
    pub target: &'a Snapshot,
    /// Every snapshot id of the branch, ascending.
    pub ids: &'a [SnapshotId],
    /// Every tag of the branch.
    pub tags: &'a [NamedTag],
    /// Long-lived changelogs removed (ids newer than the target).
    pub changelogs: &'a [i64],
    /// Every long-lived changelog id, ascending.
    pub all_changelogs: &'a [i64],
}

impl Removed<'_> {
    fn snapshot_ids(&self) -> Vec<SnapshotId> {
        let target = self.target.id;
        self.ids.iter().copied().filter(|id| *id > target).collect()
    }

    fn tags(&self) -> impl Iterator<Item = &NamedTag> {
        let target = self.target.id;
        self.tags.iter().filter(move |t| t.tag.snapshot.id > target)
    }
}

/// The files only the removed versions referenced, sorted by category and path, and how that
/// was decided: by the fast path when its facts decide every file and it could read all it
/// needs (and `ignore_commit_snapshot` is off), else by the model. The model's read errors are
/// returned: a purge fails closed.
pub(super) async fn unreferenced(
    table: &Table,
    r: &Removed<'_>,
    ignore_commit_snapshot: bool,
) -> Result<(Vec<PlannedFile>, DecidedBy)> {
    if !ignore_commit_snapshot {
        // What the fast path cannot read, the model reads again and decides (failing closed
        // when a deletion depends on it).
        if let Ok(Some(files)) = by_commit_snapshot(table, r).await {
            return Ok((sorted(files), DecidedBy::CommitSnapshot));
        }
    }
    Ok((sorted(by_model(table, r).await?), DecidedBy::Model))
}

fn sorted(files: Vec<PlannedFile>) -> Vec<PlannedFile> {
    let mut out: BTreeMap<String, PlannedFile> = BTreeMap::new();
    for f in files {
        out.entry(f.path.clone()).or_insert(f);
    }
    let mut files: Vec<PlannedFile> = out.into_values().collect();
    files.sort_by(|a, b| a.category.cmp(&b.category).then(a.path.cmp(&b.path)));
    files
}

/// The model: every remaining version read.
async fn by_model(table: &Table, r: &Removed<'_>) -> Result<Vec<PlannedFile>> {
    let removed_ids = r.snapshot_ids();
    let mut removed_keys: Vec<String> = removed_ids.iter().map(|id| snapshot_key(*id)).collect();
    removed_keys.extend(r.tags().map(|t| tag_key(&t.name)));
    removed_keys.extend(r.changelogs.iter().map(|id| changelog_key(*id)));
    // The remaining snapshots are consecutive: read by delta replay (one full read per
    // branch chain, then each delta), tags and changelogs completely.
    let needed = needed_without(table, "rollback-to", &removed_keys).await?;
    let mut out = Vec::new();
    for id in &removed_ids {
        let s = load(table, *id).await?;
        out.extend(reclaimable(table, &s, &format!("snapshot {id}"), &needed).await?);
    }
    for t in r.tags() {
        let owner = format!("tag '{}'", t.name);
        out.extend(reclaimable(table, &t.tag.snapshot, &owner, &needed).await?);
    }
    for id in r.changelogs {
        let key = changelog_key(*id);
        let Some(bytes) = table.store().get_opt(&key).await? else {
            continue;
        };
        let c = Snapshot::decode(&bytes, &key)?;
        match reclaimable(table, &c, &format!("changelog {id}"), &needed).await {
            Ok(files) => out.extend(files),
            // Java deletes a changelog's base and delta lists with its snapshot: what such a
            // changelog used cannot all be named, so its files are left to orphan cleaning.
            Err(Error::MissingFile { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The fast path (module docs), or `None` when its facts do not decide every file.
async fn by_commit_snapshot(table: &Table, r: &Removed<'_>) -> Result<Option<Vec<PlannedFile>>> {
    let branches = table.branches().await?;
    if !r.changelogs.is_empty() || branches.len() > 1 {
        return Ok(None);
    }
    // Consumers hold no files; the model reads them so that a corrupt one stops a deletion,
    // and so does this.
    for b in &branches {
        crate::liveness::gather::read_consumers(b).await?;
    }
    let target = r.target;
    let removed_ids = r.snapshot_ids();
    let removed = table.load_snapshots(&removed_ids).await?;
    // A removed tag adds nothing when it is a copy of a removed snapshot (same lists, same
    // index and statistics); any other is decided by the model.
    for t in r.tags() {
        let copy_of_removed = removed.iter().any(|s| same_metadata(s, &t.tag.snapshot));
        if !copy_of_removed {
            return Ok(None);
        }
    }
    // What the removed snapshots name beyond the target: their metadata, and the files their
    // deltas and changelogs add. Read first: a delta adding a file that records no commit
    // snapshot (every file Java writes) means the model decides, and the target need not be
    // read for that.
    let layout = DataLayout::of(table).await?;
    // A removed snapshot whose predecessor is neither the target nor removed (the target was
    // restored from a tag after the snapshots in between expired, or history has a gap) adds
    // to a version that cannot be read: it is read completely.
    let follows = |s: &Snapshot| {
        let before = SnapshotId(s.id.0 - 1);
        before == target.id || removed_ids.binary_search(&before).is_ok()
    };
    let reads: Vec<_> = removed
        .iter()
        .map(|s| added(table, &layout, s, !follows(s)))
        .collect();
    let added_all = crate::table::ordered(reads).await?;
    if added_all.iter().any(|a| a.new_unrecorded) {
        return Ok(None);
    }
    // What the kept versions other than main's older snapshots name: the target completely,
    // kept tags and long-lived changelogs by their metadata.
    // Names only: the target's files are never planned here, and its full entries would be
    // most of the memory of a rollback on a large table.
    let mut kept: HashSet<String> =
        footprint_names(table, target, &format!("snapshot {}", target.id)).await?;
    let tags: Vec<_> = r
        .tags
        .iter()
        .filter(|t| t.tag.snapshot.id <= target.id)
        .map(|t| async move {
            let owner = format!("tag '{}'", t.name);
            metadata_footprint(table, &t.tag.snapshot, &owner).await
        })
        .collect();
    let changelogs: Vec<_> = r
        .all_changelogs
        .iter()
        .map(|id| async move {
            let key = changelog_key(*id);
            let Some(bytes) = table.store().get_opt(&key).await? else {
                return Ok(None);
            };
            let c = Snapshot::decode(&bytes, &key)?;
            let owner = format!("changelog {id}");
            metadata_footprint(table, &c, &owner).await.map(Some)
        })
        .collect();
    for f in crate::table::ordered(tags).await? {
        kept.extend(f.names());
    }
    for f in crate::table::ordered(changelogs)
        .await?
        .into_iter()
        .flatten()
    {
        kept.extend(f.names());
    }
    let mut footprints = Vec::new();
    for (
        s,
        Added {
            mut mine, files, ..
        },
    ) in removed.iter().zip(added_all)
    {
        for file in files {
            let name = &file.entry.file.file_name;
            let dir = file.path.rsplit_once('/').map_or("", |(d, _)| d);
            let extra = file.entry.file.extra_files.iter();
            if kept.contains(name.as_str()) {
                // Live in the target: so are its extra files, unless the target's entry names
                // others, which only the model decides.
                if extra.clone().any(|x| !kept.contains(x.as_str())) {
                    return Ok(None);
                }
                continue;
            }
            // Decided only when recorded, after the target, and not after the delta that
            // adds it (a later one is inconsistent metadata).
            let commit = file.entry.file.commit_snapshot;
            if !commit.is_some_and(|c| c > target.id.0 && c <= s.id.0) {
                return Ok(None);
            }
            mine.extra.extend(extra.map(|x| format!("{dir}/{x}")));
            mine.data
                .insert(file.path.clone(), (file.entry.file.file_size, commit));
        }
        footprints.push(mine);
    }
    let free = |name: &str| !kept.contains(name);
    let plans: Vec<_> = footprints
        .iter()
        .map(|mine| planned_files(table, mine, free))
        .collect();
    let planned = crate::table::ordered(plans).await?;
    Ok(Some(planned.into_iter().flatten().collect()))
}

/// What a removed snapshot names beyond its predecessor.
struct Added {
    /// Its metadata (lists, manifests, index, statistics).
    mine: Footprint,
    /// The live entries of its delta and of its changelog (external files are not the table's
    /// to delete); read `complete`ly, all its live files and its changelog's.
    files: Vec<crate::table::LiveFile>,
    /// A delta or changelog entry adds a new file (not a level change of a file the same list
    /// deletes) that records no commit snapshot: one the fast path never decides.
    new_unrecorded: bool,
}

async fn added(table: &Table, layout: &DataLayout, s: &Snapshot, complete: bool) -> Result<Added> {
    let owner = format!("snapshot {}", s.id);
    let mine = metadata_footprint(table, s, &owner).await?;
    let mut files = Vec::new();
    let mut lists: Vec<&String> = s.changelog_manifest_list.iter().collect();
    if complete {
        files.extend(table.data_files(s, &owner).await?);
    } else {
        lists.push(&s.delta_manifest_list);
    }
    let mut new_unrecorded = false;
    for list in lists {
        let entries = table.entries_of_list(list, &owner).await?;
        let deleted: HashSet<&str> = entries
            .iter()
            .filter(|e| e.kind == FileKind::Delete)
            .map(|e| e.file.file_name.as_str())
            .collect();
        new_unrecorded |= entries.iter().any(|e| {
            e.kind == FileKind::Add
                && e.file.commit_snapshot.is_none()
                && !deleted.contains(e.file.file_name.as_str())
        });
        files.extend(layout.locate(live_entries(entries))?);
    }
    files.retain(|f| !f.external);
    Ok(Added {
        mine,
        files,
        new_unrecorded,
    })
}

/// Same lists, index manifest and statistics: a tag that is a copy of this snapshot.
fn same_metadata(s: &Snapshot, t: &Snapshot) -> bool {
    s.id == t.id
        && s.base_manifest_list == t.base_manifest_list
        && s.delta_manifest_list == t.delta_manifest_list
        && s.changelog_manifest_list == t.changelog_manifest_list
        && s.index_manifest == t.index_manifest
        && s.statistics == t.statistics
}

async fn load(table: &Table, id: SnapshotId) -> Result<Snapshot> {
    table
        .try_load_snapshot(id)
        .await?
        .ok_or_else(|| Error::MissingFile {
            path: snapshot_key(id),
            referenced_by: "the snapshot listing".into(),
        })
}

fn changelog_key(id: i64) -> String {
    format!("{CHANGELOG_DIR}/changelog-{id}")
}
