//! Branches (paimon-format.md §1, §7.9; Java `BranchManager`, `FileSystemBranchManager`).
//!
//! A branch is `branch/branch-<name>/` with its own `snapshot/`, `tag/` and `schema/`; its
//! manifests and data files are main's. Creation, renaming and fast-forward touch only those
//! metadata files and produce exactly the files Java produces (copies are byte for byte).
//! delete-branch goes further than Java's (which deletes the directory and leaves every file only
//! the branch used to orphan cleaning): it reclaims those files, decided by the liveness model
//! as delete-tag is, planned first, journaled, and fail-closed.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, FailedDeletion, Result};
use crate::format::file_name::PaimonFile;
use crate::format::ids::{validate_branch_name, SnapshotId, TagName};
use crate::io::CreateOutcome;
use crate::ops::delete_tag::{needed_without, reclaimable, Category, PlannedFile, Tally};
use crate::ops::journal;
use crate::table::layout::{
    branch_prefix, latest_hint_key, schema_key, snapshot_key, tag_key, MAIN_BRANCH, SCHEMA_DIR,
    SNAPSHOT_DIR, TAG_DIR,
};
use crate::table::Table;

// ----- listing -----

/// Where a branch came from, as far as its files tell (Paimon records no lineage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedFrom {
    /// The tag it was created from: the branch holds a byte-identical copy of main's tag of
    /// that name, on the branch's earliest snapshot.
    pub tag: Option<String>,
    /// The snapshot it started from (its earliest snapshot, when main's snapshot or tag of that
    /// id is byte-identical to it).
    pub snapshot_id: i64,
}

/// One branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchInfo {
    /// The branch's name.
    pub name: String,
    /// Where it came from, when its files tell; `null` for an empty branch or unknown.
    pub created_from: Option<CreatedFrom>,
    /// Its earliest retained snapshot.
    pub earliest_snapshot: Option<i64>,
    /// Its latest snapshot.
    pub latest_snapshot: Option<i64>,
    /// Its retained snapshots.
    pub snapshots: usize,
    /// Its tags.
    pub tags: usize,
}

/// `branches TABLE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchesReport {
    /// Every branch but main, by name (as Java's `branches()`).
    pub branches: Vec<BranchInfo>,
}

/// The branches of a table (main excluded, as in Java).
pub async fn list(table: &Table) -> Result<BranchesReport> {
    let root = table.root_table();
    let mut out = Vec::new();
    for b in root.branches().await?.into_iter().skip(1) {
        let range = b.table.snapshot_range().await?;
        let tags = b.table.tag_names().await?;
        let created_from = match range.earliest() {
            None => None,
            Some(e) => created_from(&root, &b.table, e, &tags).await?,
        };
        out.push(BranchInfo {
            name: b.name,
            created_from,
            earliest_snapshot: range.earliest().map(|i| i.0),
            latest_snapshot: range.latest().map(|i| i.0),
            snapshots: range.ids.len(),
            tags: tags.len(),
        });
    }
    Ok(BranchesReport { branches: out })
}

async fn created_from(
    root: &Table,
    branch: &Table,
    earliest: SnapshotId,
    tags: &[TagName],
) -> Result<Option<CreatedFrom>> {
    for t in tags {
        let key = tag_key(t);
        let (mine, main) =
            futures::try_join!(branch.store().get_opt(&key), root.store().get_opt(&key))?;
        if let (Some(mine), Some(main)) = (mine, main) {
            if mine == main {
                let tag = crate::format::tag::Tag::decode(&mine, &branch.root_key(&key))?;
                if tag.snapshot.id == earliest {
                    return Ok(Some(CreatedFrom {
                        tag: Some(t.to_string()),
                        snapshot_id: earliest.0,
                    }));
                }
            }
        }
    }
    let key = snapshot_key(earliest);
    let (mine, main) =
        futures::try_join!(branch.store().get_opt(&key), root.store().get_opt(&key))?;
    Ok(match (mine, main) {
        (Some(a), Some(b)) if a == b => Some(CreatedFrom {
            tag: None,
            snapshot_id: earliest.0,
        }),
        _ => None,
    })
}

// ----- create -----

/// What a branch is created from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchSource {
    /// An empty branch: main's schemas only (Java `createBranch(name)`).
    Empty,
    /// A tag: the tag, its snapshot and the schemas up to its schema (Java
    /// `createBranch(name, tag)`).
    Tag(TagName),
    /// A retained snapshot of main: the snapshot and the schemas up to its schema (Paimon 0.8's
    /// `createBranch(name, snapshotId)`).
    Snapshot(SnapshotId),
}

/// What create-branch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateBranchReport {
    /// The branch.
    pub name: String,
    /// The tag it was created from.
    pub tag: Option<String>,
    /// The snapshot it starts at (none for an empty branch).
    pub snapshot_id: Option<i64>,
    /// The files written, relative to the table root.
    pub files: Vec<String>,
    /// True when this run finished a create-branch that had been interrupted.
    pub resumed: bool,
}

/// Every file under a branch's directory (recursively), relative to the branch root.
async fn branch_files(table: &Table, name: &str) -> Result<Vec<crate::io::ObjectInfo>> {
    let root = table.root_store();
    let prefix = branch_prefix(name);
    let mut files = root.list(&prefix).await?;
    for f in &mut files {
        f.key = f
            .key
            .strip_prefix(&format!("{prefix}/"))
            .unwrap_or(&f.key)
            .to_string();
    }
    Ok(files)
}

/// Create branch `name` from `source`, as Java does: the tag file and the snapshot file copied
/// byte for byte (the snapshot written from the tag when it has expired), then main's schemas up
/// to the version's schema. The schemas are written first, so that an interrupted run leaves a
/// readable (empty) branch; running it again finishes it. After writing, the source is checked
/// to still exist: if an expiration removed it meanwhile (its files may be gone), the branch is
/// removed again and the command fails with `conflict`.
pub async fn create(
    table: &Table,
    name: &str,
    source: &BranchSource,
) -> Result<CreateBranchReport> {
    validate_branch_name(name)?;
    let main = table.root_table();
    let mut files: Vec<(String, Bytes)> = Vec::new();
    let (schema_id, tag, snapshot_id) = match source {
        BranchSource::Empty => (main.latest_schema().await?.id, None, None),
        BranchSource::Tag(t) => {
            let key = tag_key(t);
            let bytes = main
                .store()
                .get_opt(&key)
                .await?
                .ok_or_else(|| Error::TagNotFound {
                    name: t.to_string(),
                })?;
            let tag = crate::format::tag::Tag::decode(&bytes, &key)?;
            let id = tag.snapshot.id;
            files.push((key, bytes));
            let snap = match main.store().get_opt(&snapshot_key(id)).await? {
                Some(b) => b,
                // Expired while the tag kept its content: Java writes it from the tag.
                None => Bytes::from(tag.snapshot.encode()),
            };
            files.push((snapshot_key(id), snap));
            (tag.snapshot.schema_id, Some(t.to_string()), Some(id))
        }
        BranchSource::Snapshot(id) => {
            let key = snapshot_key(*id);
            let bytes =
                main.store()
                    .get_opt(&key)
                    .await?
                    .ok_or_else(|| Error::SnapshotNotFound {
                        id: id.0,
                        available: "create-branch --snapshot needs a retained snapshot of main; \
                                use --tag for an expired one"
                            .to_string(),
                    })?;
            let s = crate::format::snapshot::Snapshot::decode(&bytes, &key)?;
            files.push((key, bytes));
            (s.schema_id, None, Some(*id))
        }
    };
    let mut schemas = Vec::new();
    for id in main.schema_ids().await? {
        if id.0 <= schema_id.0 {
            let key = schema_key(id);
            let bytes = main
                .store()
                .get_opt(&key)
                .await?
                .ok_or_else(|| Error::MissingFile {
                    path: key.clone(),
                    referenced_by: "the table's schema listing".to_string(),
                })?;
            schemas.push((key, bytes));
        }
    }
    // Schemas first, then the snapshot, then the tag: every prefix of this order is a readable
    // branch.
    schemas.extend(files.drain(..).rev());
    let files = schemas;

    let step = Step {
        command: "create-branch".into(),
        branch: name.to_string(),
        to: None,
        source: format!("{source:?}"),
    };
    let existing = branch_files(table, name).await?;
    // An interrupted create of the very same branch (its journal says so) is finished, also
    // when it was killed before its first file (its journal is then taken over, not left).
    let journal_key = pending_step(&main, &step).await?;
    let resumed = journal_key.is_some();
    if !existing.is_empty() {
        // Anything else exists.
        let exists = || Error::AlreadyExists {
            path: format!("{}/ (branch '{name}' already exists)", branch_prefix(name)),
        };
        if journal_key.is_none() {
            return Err(exists());
        }
        let branch = main.branch_unchecked(name)?;
        // A killed write's hidden staging file is no part of the branch (orphan cleaning
        // reclaims it).
        let staged = |k: &str| {
            matches!(
                PaimonFile::parse(k.rsplit('/').next().unwrap_or(k)),
                PaimonFile::Temporary
            )
        };
        for f in existing.iter().filter(|f| !staged(&f.key)) {
            let want = files.iter().find(|(k, _)| k == &f.key).ok_or_else(exists)?;
            let have = branch.store().get_opt(&f.key).await?;
            if have.as_ref() != Some(&want.1) {
                return Err(exists());
            }
        }
    }
    let journal_key = match journal_key {
        Some(k) => k,
        None => journal::record(&main, STEPS, &step).await?,
    };
    let branch = main.branch_unchecked(name)?;
    for (key, bytes) in &files {
        if let CreateOutcome::AlreadyExists = branch.store().put_create(key, bytes.clone()).await? {
            if branch.store().get_opt(key).await?.as_ref() != Some(bytes) {
                return Err(Error::AlreadyExists {
                    path: branch.root_key(key),
                });
            }
        }
    }
    // The source must still exist: else an expiration may have deleted the files the branch
    // now references.
    let still = match (source, snapshot_id) {
        (BranchSource::Empty, _) | (_, None) => true,
        (BranchSource::Tag(t), Some(_)) => main.store().head_opt(&tag_key(t)).await?.is_some(),
        (BranchSource::Snapshot(_), Some(id)) => {
            main.store().head_opt(&snapshot_key(id)).await?.is_some()
        }
    };
    if !still {
        let keys: Vec<String> = files.iter().rev().map(|(k, _)| k.clone()).collect();
        let _ = branch.store().delete_many(&keys).await;
        let _ = journal::finish(&main, &journal_key).await;
        return Err(Error::Conflict(format!(
            "the source of branch '{name}' was deleted while the branch was created (an \
             expiration?); the branch was removed again, run again with a retained version"
        )));
    }
    let _ = journal::finish(&main, &journal_key).await;
    Ok(CreateBranchReport {
        name: name.to_string(),
        tag,
        snapshot_id: snapshot_id.map(|i| i.0),
        files: files.iter().map(|(k, _)| branch.root_key(k)).collect(),
        resumed,
    })
}

// ----- rename -----

/// What rename-branch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenameBranchReport {
    /// The old name.
    pub from: String,
    /// The new name.
    pub to: String,
    /// Files moved.
    pub files: usize,
    /// True when this run finished an interrupted rename.
    pub resumed: bool,
    /// Deletions of the old branch's files that failed (run again to finish).
    pub failed: Vec<FailedDeletion>,
}

/// Rename a branch. Java renames the directory (atomic on HDFS and local disks); object stores
/// have no rename, so every file is copied byte for byte (conditional creates), then the old
/// files are deleted, schemas last. A run killed in between leaves both branches with the same
/// versions (which protects more, never less); running the same command again finishes it.
pub async fn rename(table: &Table, from: &str, to: &str) -> Result<RenameBranchReport> {
    if from == MAIN_BRANCH {
        return Err(Error::InvalidArgument(
            "cannot rename the main branch".to_string(),
        ));
    }
    validate_branch_name(to)?;
    let main = table.root_table();
    let step = Step {
        command: "rename-branch".into(),
        branch: from.to_string(),
        to: Some(to.to_string()),
        source: String::new(),
    };
    let interrupted = pending_step(&main, &step).await?;
    let old = branch_files(table, from).await?;
    if old.is_empty() {
        if let Some(k) = interrupted {
            // Interrupted after the last deletion: only the journal was left.
            let _ = journal::finish(&main, &k).await;
            return Ok(RenameBranchReport {
                from: from.to_string(),
                to: to.to_string(),
                files: 0,
                resumed: true,
                failed: Vec::new(),
            });
        }
        return Err(not_found(&main, from).await);
    }
    let (src, dst) = (main.branch_unchecked(from)?, main.branch_unchecked(to)?);
    let new = branch_files(table, to).await?;
    let resumed = interrupted.is_some();
    if !new.is_empty() && !resumed {
        return Err(Error::AlreadyExists {
            path: format!("{}/ (branch '{to}' already exists)", branch_prefix(to)),
        });
    }
    let journal_key = match interrupted {
        Some(k) => k,
        None => journal::record(&main, STEPS, &step).await?,
    };
    // Copy, then copy what a commit to the old branch added meanwhile (up to three rounds);
    // hints (rewritten in place by commits) are copied again last.
    let is_hint = |k: &str| k.ends_with("/LATEST") || k.ends_with("/EARLIEST");
    let mut copied: BTreeSet<String> = BTreeSet::new();
    let mut round: Vec<String> = old.iter().map(|f| f.key.clone()).collect();
    for _ in 0..3 {
        for key in &round {
            copy_file(&src, &dst, key, is_hint(key)).await?;
            copied.insert(key.clone());
        }
        round = branch_files(table, from)
            .await?
            .into_iter()
            .map(|f| f.key)
            .filter(|k| !copied.contains(k))
            .collect();
        if round.is_empty() {
            break;
        }
    }
    if !round.is_empty() {
        return Err(Error::Conflict(format!(
            "branch '{from}' kept changing while it was renamed ({} new files); stop writing \
             to it and run the same command again to finish",
            round.len()
        )));
    }
    for key in copied.iter().filter(|k| is_hint(k)) {
        copy_file(&src, &dst, key, true).await?;
    }
    let mut keys: Vec<String> = copied.into_iter().collect();
    keys.sort_by_key(|k| k.starts_with(&format!("{SCHEMA_DIR}/")));
    let failed = delete_keys(&src, &keys).await;
    if failed.is_empty() {
        remove_empty_dirs(&main, from, &keys).await;
        let _ = journal::finish(&main, &journal_key).await;
    }
    Ok(RenameBranchReport {
        from: from.to_string(),
        to: to.to_string(),
        files: keys.len(),
        resumed,
        failed,
    })
}

/// The journal kind of create-branch and rename-branch: which branch operation is under way,
/// so that a re-run finishes it (and only it: an existing branch is otherwise an error, as in
/// Java).
const STEPS: &str = "branch-step";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Step {
    command: String,
    branch: String,
    to: Option<String>,
    source: String,
}

/// The key of a journal recording exactly `step`, if one is pending.
async fn pending_step(main: &Table, step: &Step) -> Result<Option<String>> {
    let pending: Vec<(String, Step)> = journal::pending(main, STEPS).await?;
    Ok(pending.into_iter().find(|(_, s)| s == step).map(|(k, _)| k))
}

/// Copy one file of a branch byte for byte: a conditional create (an existing, different file
/// is an error), or an overwrite for hints.
async fn copy_file(src: &Table, dst: &Table, key: &str, overwrite: bool) -> Result<()> {
    let Some(bytes) = src.store().get_opt(key).await? else {
        return Ok(());
    };
    if overwrite {
        return dst.store().put_overwrite(key, bytes).await;
    }
    if let CreateOutcome::AlreadyExists = dst.store().put_create(key, bytes.clone()).await? {
        if dst.store().get_opt(key).await?.as_ref() != Some(&bytes) {
            return Err(Error::AlreadyExists {
                path: dst.root_key(key),
            });
        }
    }
    Ok(())
}

/// Remove the emptied directories of a local branch root (Java's `branchExists` is "the
/// directory exists"; object stores have no directories).
async fn remove_empty_dirs(main: &Table, name: &str, keys: &[String]) {
    let prefix = branch_prefix(name);
    let dirs: BTreeSet<String> = keys
        .iter()
        .filter_map(|k| k.rsplit_once('/').map(|(d, _)| format!("{prefix}/{d}")))
        .collect();
    for d in dirs.iter().rev().chain(std::iter::once(&prefix)) {
        let _ = main.root_store().remove_empty_dir(d, None).await;
    }
}

async fn delete_keys(t: &Table, keys: &[String]) -> Vec<FailedDeletion> {
    t.store()
        .delete_many(keys)
        .await
        .into_iter()
        .filter_map(|(k, r)| r.err().map(|e| FailedDeletion::new(t.root_key(&k), &e)))
        .collect()
}

async fn not_found(main: &Table, name: &str) -> Error {
    let available = match main.branches().await {
        Ok(b) => b.into_iter().map(|b| b.name).collect::<Vec<_>>().join(", "),
        Err(e) => format!("unknown: {e}"),
    };
    Error::BranchNotFound {
        name: name.to_string(),
        available,
    }
}

// ----- fast-forward -----

/// What fast-forward did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FastForwardReport {
    /// The branch main now follows.
    pub branch: String,
    /// The branch's earliest snapshot: main's snapshots and tags from there on were replaced.
    pub from_snapshot: i64,
    /// Main's snapshot files deleted.
    pub deleted_snapshots: Vec<i64>,
    /// Main's schema files deleted.
    pub deleted_schemas: Vec<i64>,
    /// Main's tags deleted.
    pub deleted_tags: Vec<String>,
    /// Files copied from the branch into main (snapshot, schema and tag directories).
    pub copied: Vec<String>,
}

/// Java's `fastForward`: main's snapshots and tags at or after the branch's earliest snapshot,
/// and its schemas at or after that snapshot's schema, are deleted (the `LATEST` hint first),
/// then the branch's `snapshot/`, `schema/` and `tag/` files are copied over main's, byte for
/// byte. The result is Java's, file for file; one difference in the order: a main file that
/// the branch has too (a schema, say) is overwritten rather than deleted first, so that a
/// crash never leaves main without a schema, and running it again finishes it. Like Java, no
/// data file is deleted: files only the deleted main versions used are left for orphan
/// cleaning.
pub async fn fast_forward(table: &Table, name: &str) -> Result<FastForwardReport> {
    if name == MAIN_BRANCH {
        return Err(Error::InvalidArgument(format!(
            "branch name '{name}' cannot be used in fast-forward"
        )));
    }
    if name.trim().is_empty() {
        return Err(Error::InvalidArgument(format!(
            "branch name '{name}' is blank"
        )));
    }
    let main = table.root_table();
    let branch = main.branch(name).await?;
    let range = branch.snapshot_range().await?;
    let Some(earliest) = range.earliest() else {
        return Err(Error::InvalidArgument(format!(
            "cannot fast forward branch {name}, because it does not have snapshot"
        )));
    };
    let first = branch
        .try_load_snapshot(earliest)
        .await?
        .ok_or_else(|| Error::MissingFile {
            path: branch.root_key(&snapshot_key(earliest)),
            referenced_by: format!("branch '{name}' snapshot listing"),
        })?;
    let schema_from = first.schema_id;

    let main_range = main.snapshot_range().await?;
    let snaps: Vec<SnapshotId> = main_range
        .ids
        .iter()
        .copied()
        .filter(|id| *id >= earliest)
        .collect();
    let schemas: Vec<_> = main
        .schema_ids()
        .await?
        .into_iter()
        .filter(|id| *id >= schema_from)
        .collect();
    let mut tags = Vec::new();
    for t in main.tags().await? {
        if t.tag.snapshot.id >= earliest {
            tags.push(t.name);
        }
    }
    // What the branch brings: main's files of the same names are overwritten, not deleted, so
    // that main is never without a schema (a crash there would leave no table to re-run on).
    let mut incoming: Vec<(String, String)> = Vec::new(); // (branch key, main key)
    for dir in [SCHEMA_DIR, SNAPSHOT_DIR, TAG_DIR] {
        let (files, _) = branch.store().list_dir(dir).await?;
        for f in files {
            let file_name = f.key.rsplit('/').next().unwrap_or(&f.key).to_string();
            // Temporaries of writes in flight are not the branch's files.
            if file_name.starts_with('.') {
                continue;
            }
            incoming.push((f.key.clone(), format!("{dir}/{file_name}")));
        }
    }
    let replaced = |k: &String| incoming.iter().any(|(_, m)| m == k);
    // The LATEST hint first (Java `deleteLatestHint`), then main's versions from the branch's
    // earliest snapshot on (tags, then snapshots newest first), then schemas.
    let mut failed = delete_keys(&main, &[latest_hint_key()]).await;
    let mut keys: Vec<String> = tags.iter().map(tag_key).collect();
    keys.extend(snaps.iter().rev().map(|i| snapshot_key(*i)));
    keys.extend(schemas.iter().map(|i| schema_key(*i)));
    keys.retain(|k| !replaced(k));
    failed.extend(delete_keys(&main, &keys).await);
    if let Some(f) = failed.first() {
        return Err(Error::Incomplete(format!(
            "fast-forward could not delete {} ({}); nothing was copied, run again",
            f.path, f.message
        )));
    }
    // Schemas, then snapshots, then tags, byte for byte.
    let mut copied = Vec::new();
    for (from, to) in incoming {
        let Some(bytes) = branch.store().get_opt(&from).await? else {
            continue;
        };
        main.store().put_overwrite(&to, bytes).await?;
        copied.push(to);
    }
    Ok(FastForwardReport {
        branch: name.to_string(),
        from_snapshot: earliest.0,
        deleted_snapshots: snaps.iter().map(|i| i.0).collect(),
        deleted_schemas: schemas.iter().map(|i| i.0).collect(),
        deleted_tags: tags.iter().map(|t| t.to_string()).collect(),
        copied,
    })
}

// ----- delete -----

/// What happens to one named branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchAction {
    /// No such branch: nothing happens.
    NotFound,
    /// The branch's directory goes; no other file (nothing only it kept, or the cleanup was
    /// skipped for safety).
    BranchOnly,
    /// The branch's directory goes, and the files only it kept.
    Reclaim,
}

/// The plan for one branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchDeletionPlan {
    /// The branch.
    pub name: String,
    /// What happens to it.
    pub action: BranchAction,
    /// Why no file beyond the branch's directory is reclaimed, if none is.
    pub reason: Option<String>,
    /// True when the cleanup was skipped for safety (unreadable metadata).
    pub skipped_for_safety: bool,
    /// Every file under `branch/branch-<name>/` at planning time, relative to the table root.
    pub branch_files: Vec<String>,
    /// Files outside the branch's directory that only it kept.
    pub files: Vec<PlannedFile>,
}

/// The plan of a delete-branch command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteBranchPlan {
    /// One entry per requested name, in order.
    pub branches: Vec<BranchDeletionPlan>,
}

/// What a delete-branch did (or, with a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeleteBranchReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Branches deleted (or that would be).
    pub deleted_branches: Vec<String>,
    /// Branches that did not exist.
    pub not_found: Vec<String>,
    /// Files of the branches' directories deleted (or that would be).
    pub branch_files: u64,
    /// Per category, the files reclaimed outside the branches' directories.
    pub deleted: BTreeMap<Category, Tally>,
    /// Planned deletions that failed (the command is incomplete; run again).
    pub failed: Vec<FailedDeletion>,
    /// The plan, per branch (with every file on a dry run).
    pub branches: Vec<BranchDeletionPlan>,
    /// Branches whose interrupted deletion (a journal) this run finished.
    pub resumed: Vec<String>,
    /// Anything worth knowing that is not a failure.
    pub notes: Vec<String>,
}

const JOURNAL: &str = "delete-branch";

/// Build the plan: no changes. For each existing branch, every file under its directory goes;
/// of the files its versions (snapshots and tags) use, those that no version of main or of
/// any other branch needs are reclaimed, by the liveness model. If anything cannot be read
/// completely, the branch's directory is still deleted but nothing else (fail closed).
pub async fn plan(table: &Table, names: &[String]) -> Result<DeleteBranchPlan> {
    let main = table.root_table();
    let mut plans = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for name in names {
        if name == MAIN_BRANCH {
            return Err(Error::InvalidArgument(
                "the main branch cannot be deleted".to_string(),
            ));
        }
        validate_branch_name(name)?;
        let files = branch_files(&main, name).await?;
        if files.is_empty() {
            plans.push(BranchDeletionPlan {
                name: name.clone(),
                action: BranchAction::NotFound,
                reason: Some("no such branch".into()),
                skipped_for_safety: false,
                branch_files: Vec::new(),
                files: Vec::new(),
            });
            continue;
        }
        let prefix = branch_prefix(name);
        let keys: Vec<String> = files
            .iter()
            .map(|f| format!("{prefix}/{}", f.key))
            .collect();
        removed.extend(keys.iter().cloned());
        plans.push(BranchDeletionPlan {
            name: name.clone(),
            action: BranchAction::Reclaim,
            reason: None,
            skipped_for_safety: false,
            branch_files: keys,
            files: Vec::new(),
        });
    }
    if removed.is_empty() {
        return Ok(DeleteBranchPlan { branches: plans });
    }
    let needed = needed_without(&main, "delete-branch", &removed).await;
    let mut planned: BTreeSet<String> = BTreeSet::new();
    for p in plans
        .iter_mut()
        .filter(|p| p.action == BranchAction::Reclaim)
    {
        let files = match &needed {
            Ok(needed) => branch_reclaimable(&main, &p.name, needed).await,
            Err(e) => Err(Error::InvalidArgument(e.to_string())),
        };
        match files {
            Ok(files) => {
                p.files = files
                    .into_iter()
                    .filter(|f| planned.insert(f.path.clone()))
                    .collect();
                if p.files.is_empty() {
                    p.action = BranchAction::BranchOnly;
                    p.reason = Some("every file its versions use is needed elsewhere".into());
                }
            }
            Err(e) => {
                p.action = BranchAction::BranchOnly;
                p.skipped_for_safety = true;
                p.reason = Some(format!("data cleanup skipped, metadata unreadable: {e}"));
            }
        }
    }
    Ok(DeleteBranchPlan { branches: plans })
}

/// The files of every snapshot and tag of branch `name` that nothing in `needed` names.
/// Long-lived changelogs are not reclaimed from (their base lists may be gone): files only they
/// kept are left for orphan cleaning.
async fn branch_reclaimable(
    main: &Table,
    name: &str,
    needed: &crate::liveness::NeededNames,
) -> Result<Vec<PlannedFile>> {
    let branch = main.branch_unchecked(name)?;
    let mut out: BTreeMap<String, PlannedFile> = BTreeMap::new();
    let range = branch.snapshot_range().await?;
    for id in &range.ids {
        let owner = format!("branch '{name}' snapshot {id}");
        let s = branch
            .try_load_snapshot(*id)
            .await?
            .ok_or_else(|| Error::MissingFile {
                path: branch.root_key(&snapshot_key(*id)),
                referenced_by: format!("branch '{name}' snapshot listing"),
            })?;
        for f in reclaimable(main, &s, &owner, needed).await? {
            out.insert(f.path.clone(), f);
        }
    }
    for t in branch.tags().await? {
        let owner = format!("branch '{name}' tag '{}'", t.name);
        for f in reclaimable(main, &t.tag.snapshot, &owner, needed).await? {
            out.insert(f.path.clone(), f);
        }
    }
    Ok(out.into_values().collect())
}

/// Carry out a plan: journal it, delete each branch's directory (tags, snapshots and hints
/// first, schemas last), then the files only it kept (data before metadata), then remove the
/// journal. A run killed half-way is finished by [`resume`].
pub async fn execute(table: &Table, plan: DeleteBranchPlan) -> Result<DeleteBranchReport> {
    if plan
        .branches
        .iter()
        .all(|b| b.action == BranchAction::NotFound)
    {
        return Ok(summarize(&plan, false));
    }
    let main = table.root_table();
    let key = journal::record(&main, JOURNAL, &plan).await?;
    let mut report = run_plan(&main, &plan).await;
    if report.failed.is_empty() {
        report.notes.extend(journal::finish(&main, &key).await);
    }
    Ok(report)
}

/// Finish interrupted delete-branch runs (their journals): what is left of each planned
/// branch's directory, then the planned files that no version needs now (asked again).
pub async fn resume(table: &Table) -> Result<Option<DeleteBranchReport>> {
    let main = table.root_table();
    let pending: Vec<(String, DeleteBranchPlan)> = journal::pending(&main, JOURNAL).await?;
    let mut merged: Option<DeleteBranchReport> = None;
    for (key, mut plan) in pending {
        // What is left of each planned branch's directory goes first: the plan decided it
        // goes, and a half-deleted branch is no version to ask (its hints may name deleted
        // snapshots). A failure here is retried and reported by `run_plan` below.
        for b in plan
            .branches
            .iter()
            .filter(|b| b.action != BranchAction::NotFound)
        {
            let mut keys = b.branch_files.clone();
            keys.sort_by_key(|k| deletion_rank(k));
            let _ = delete_keys(&main, &keys).await;
        }
        let removed: Vec<String> = plan
            .branches
            .iter()
            .flat_map(|b| b.branch_files.iter().cloned())
            .collect();
        let needed = needed_without(&main, "delete-branch", &removed).await?;
        for b in &mut plan.branches {
            b.files
                .retain(|f| !needed.contains(f.path.rsplit('/').next().unwrap_or(&f.path)));
        }
        let mut report = run_plan(&main, &plan).await;
        if report.failed.is_empty() {
            report.notes.extend(journal::finish(&main, &key).await);
        }
        report.resumed = report.deleted_branches.clone();
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

/// delete-branch as the CLI runs it: finish interrupted runs first (unless `dry_run`), then
/// plan and (unless `dry_run`) execute.
pub async fn delete_branches(
    table: &Table,
    names: &[String],
    dry_run: bool,
) -> Result<DeleteBranchReport> {
    let resumed = if dry_run { None } else { resume(table).await? };
    let plan = plan(table, names).await?;
    if dry_run {
        return Ok(summarize(&plan, true));
    }
    let report = execute(table, plan).await?;
    Ok(match resumed {
        None => report,
        Some(mut r) => {
            r.not_found.clear();
            let done = r.resumed.clone();
            let mut report = report;
            report.not_found.retain(|n| !done.contains(n));
            r.absorb(report);
            r
        }
    })
}

/// Version files first (so that no reader sees a branch whose schema is gone while its
/// snapshots remain), schemas last.
fn deletion_rank(key: &str) -> u8 {
    let rel = key.splitn(3, '/').nth(2).unwrap_or(key);
    let name = rel.rsplit('/').next().unwrap_or(rel);
    // Hints before the snapshots they name: a run killed in between leaves no LATEST naming
    // a deleted snapshot (listing the rest still works).
    match PaimonFile::parse(name) {
        PaimonFile::Tag(_) => 0,
        _ if name == "LATEST" || name == "EARLIEST" => 1,
        _ if rel.starts_with(&format!("{SNAPSHOT_DIR}/")) => 2,
        _ if rel.starts_with(&format!("{SCHEMA_DIR}/")) => 4,
        _ => 3,
    }
}

async fn run_plan(main: &Table, plan: &DeleteBranchPlan) -> DeleteBranchReport {
    let mut report = summarize(plan, false);
    for b in plan
        .branches
        .iter()
        .filter(|b| b.action != BranchAction::NotFound)
    {
        let mut keys = b.branch_files.clone();
        keys.sort_by_key(|k| deletion_rank(k));
        let failed = delete_keys(main, &keys).await;
        if !failed.is_empty() {
            // The branch is still (partly) there: its versions keep their files.
            report.failed.extend(failed);
            report.deleted_branches.retain(|n| n != &b.name);
            for f in &b.files {
                untally(&mut report.deleted, f);
            }
            continue;
        }
        let rel: Vec<String> = keys
            .iter()
            .map(|k| {
                k.strip_prefix(&format!("{}/", branch_prefix(&b.name)))
                    .unwrap_or(k)
                    .to_string()
            })
            .collect();
        remove_empty_dirs(main, &b.name, &rel).await;
        let mut ordered: Vec<&PlannedFile> = b.files.iter().collect();
        ordered.sort_by_key(|f| f.category);
        let keys: Vec<String> = ordered.iter().map(|f| f.path.clone()).collect();
        for (key, r) in main.store().delete_many(&keys).await {
            if let Err(e) = r {
                if let Some(f) = b.files.iter().find(|f| f.path == key) {
                    untally(&mut report.deleted, f);
                }
                report.failed.push(FailedDeletion::new(key, &e));
            }
        }
    }
    for b in &mut report.branches {
        b.files.clear();
        b.branch_files.clear();
    }
    report
}

fn untally(deleted: &mut BTreeMap<Category, Tally>, f: &PlannedFile) {
    if let Some(t) = deleted.get_mut(&f.category) {
        t.files = t.files.saturating_sub(1);
        t.bytes -= f.bytes;
    }
}

impl DeleteBranchReport {
    /// Add another run's report to this one.
    pub fn absorb(&mut self, other: DeleteBranchReport) {
        for name in other.deleted_branches {
            if !self.deleted_branches.contains(&name) {
                self.deleted_branches.push(name);
            }
        }
        self.not_found.retain(|n| !other.resumed.contains(n));
        self.branch_files += other.branch_files;
        for (c, t) in other.deleted {
            let e = self.deleted.entry(c).or_default();
            e.files += t.files;
            e.bytes += t.bytes;
        }
        self.failed.extend(other.failed);
        self.branches.extend(other.branches);
        self.resumed.extend(other.resumed);
        self.notes.extend(other.notes);
    }
}

/// The report of a plan (a dry run keeps the file lists).
pub fn summarize(plan: &DeleteBranchPlan, dry_run: bool) -> DeleteBranchReport {
    let mut deleted: BTreeMap<Category, Tally> = BTreeMap::new();
    for f in plan.branches.iter().flat_map(|b| &b.files) {
        let e = deleted.entry(f.category).or_default();
        e.files += 1;
        e.bytes += f.bytes;
    }
    let found = |b: &&BranchDeletionPlan| b.action != BranchAction::NotFound;
    DeleteBranchReport {
        dry_run,
        deleted_branches: plan
            .branches
            .iter()
            .filter(found)
            .map(|b| b.name.clone())
            .collect(),
        not_found: plan
            .branches
            .iter()
            .filter(|b| b.action == BranchAction::NotFound)
            .map(|b| b.name.clone())
            .collect(),
        branch_files: plan
            .branches
            .iter()
            .map(|b| b.branch_files.len() as u64)
            .sum(),
        deleted,
        failed: Vec::new(),
        branches: plan.branches.clone(),
        resumed: Vec::new(),
        notes: Vec::new(),
    }
}
