//! The Iceberg view of a table with Iceberg-compatible metadata (`metadata.iceberg.storage =
//! table-location`) through a destructive `rollback-to`.
//!
//! Java keeps the view in step from its commit callback only: its rollback leaves the view at
//! the rolled-back snapshot, and Java 1.4's next commit, which reuses the removed snapshot id,
//! finds the old `v<N>.metadata.json` and writes nothing, so Iceberg readers keep the abandoned
//! rows (fixed in Paimon by apache/paimon#9036, which rebuilds the metadata on the next commit).
//! tagkeeper moves the view with the rollback instead:
//!
//! 1. `metadata/v<target>.metadata.json` is written from the current metadata (the one
//!    `version-hint.text` names) with only the snapshots up to the target, the target current
//!    and the refs of removed tags gone ([`crate::format::iceberg::roll_back`]), then
//!    `version-hint.text` names it. Iceberg readers switch to the target at that moment.
//! 2. After the Paimon snapshots and tags are gone: the Iceberg manifests only removed Iceberg
//!    snapshots named, their manifest lists, and the metadata files newer than the target (last,
//!    so that an interrupted run still finds what to delete; a re-run finishes the job). Java's
//!    next commit then builds on `v<target>` as on any base.
//!
//! The view can only move to a snapshot it still has: when the target is not an Iceberg
//! snapshot (Iceberg dropped it when Paimon expired it), the rollback is refused before
//! anything changes, since a view at the target would need new Iceberg manifests.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::iceberg;
use crate::format::ids::SnapshotId;
use crate::io::TableStore;
use crate::table::Table;

const DIR: &str = "metadata";
const HINT: &str = "metadata/version-hint.text";

/// What a destructive rollback does to the Iceberg view (part of the rollback plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcebergRollback {
    /// Where the Iceberg table is (the Paimon table, or its directory in a Hadoop catalog's
    /// warehouse); the keys below are relative to it.
    pub location: String,
    /// The metadata the view is at (`version-hint.text` names it).
    pub metadata_from: String,
    /// The metadata written for the target, which `version-hint.text` then names.
    pub metadata_to: String,
    /// Metadata files of versions newer than the target.
    pub metadata_removed: Vec<String>,
    /// Manifest lists of the Iceberg snapshots newer than the target.
    pub manifest_lists_removed: Vec<String>,
    /// Iceberg manifests that only those lists named.
    pub manifests_removed: Vec<String>,
}

impl IcebergRollback {
    /// The view is at the target already and nothing is left to delete.
    pub fn changes_nothing(&self) -> bool {
        self.metadata_from == self.metadata_to
            && self.metadata_removed.is_empty()
            && self.manifest_lists_removed.is_empty()
            && self.manifests_removed.is_empty()
    }
}

fn metadata_key(version: i64) -> String {
    format!("{DIR}/v{version}.metadata.json")
}

/// Plan the view's rollback to `target` (`None`: the table has no Iceberg view to move).
/// Everything the view needs must be readable, or the rollback fails closed; manifests whose
/// lists cannot be read are left (named in `notes`), as deleting them is only a cleanup.
pub(crate) async fn plan_rollback(
    store: &TableStore,
    target: SnapshotId,
    notes: &mut Vec<String>,
) -> Result<Option<IcebergRollback>> {
    let (files, _) = store.list_dir(DIR).await?;
    let versions: BTreeMap<i64, String> = files
        .iter()
        .filter_map(|f| {
            let name = f.key.rsplit('/').next()?;
            Some((iceberg::metadata_version(name)?, f.key.clone()))
        })
        .collect();
    let Some(newest) = versions.keys().next_back().copied() else {
        notes.push(
            "the table has no Iceberg metadata yet: the Iceberg view is written by Java's next \
             commit"
                .into(),
        );
        return Ok(None);
    };
    let current = match store.get_opt(HINT).await? {
        Some(b) => String::from_utf8_lossy(&b)
            .trim()
            .parse::<i64>()
            .map_err(|_| Error::corrupt(HINT, "not a version number"))?,
        None => newest,
    };
    let from = metadata_key(current);
    let source = store
        .get_opt(&from)
        .await?
        .ok_or_else(|| Error::MissingFile {
            path: from.clone(),
            referenced_by: HINT.into(),
        })?;
    if current < target.0 {
        notes.push(format!(
            "the Iceberg view is at snapshot {current}, older than the target: left as it is"
        ));
        return Ok(None);
    }
    let Some(rolled) = iceberg::roll_back(&source, target.0, 0, &from)? else {
        return Err(Error::Unsupported(format!(
            "rollback-to: snapshot {target} is not in the Iceberg metadata {from} (Iceberg drops \
             the snapshots Paimon expired), so the Iceberg view cannot be moved to it without new \
             Iceberg manifests, which tagkeeper does not write; nothing was changed"
        )));
    };
    let location = iceberg::location(&source, &from)?;
    // Manifest lists of snapshots newer than the target, as any metadata at or above the target
    // names them (an interrupted run has already rewritten the current one).
    let kept_lists: BTreeSet<String> = rolled.kept_lists.iter().cloned().collect();
    let mut removed_lists = BTreeSet::new();
    for (version, key) in versions.range(target.0..) {
        let bytes = if *version == current {
            source.clone()
        } else {
            match store.get_opt(key).await? {
                Some(b) => b,
                None => continue,
            }
        };
        for (id, list) in iceberg::snapshots(&bytes, key)? {
            if id > target.0 && !kept_lists.contains(&list) {
                removed_lists.insert(list);
            }
        }
    }
    let mut outside = Vec::new();
    let mut key_of = |path: &str| {
        let k = iceberg::relative_key(&location, path);
        if k.is_none() {
            outside.push(path.to_string());
        }
        k
    };
    let manifest_lists_removed: Vec<String> =
        removed_lists.iter().filter_map(|l| key_of(l)).collect();
    let manifests_removed =
        match manifests_only_in(store, &location, &kept_lists, &removed_lists).await {
            Ok(paths) => paths.iter().filter_map(|p| key_of(p)).collect(),
            Err(e) => {
                notes.push(format!(
                "the Iceberg manifests of the removed snapshots are left (a manifest list could \
                 not be read: {e})"
            ));
                Vec::new()
            }
        };
    if !outside.is_empty() {
        notes.push(format!(
            "{} Iceberg file(s) outside the table location {location} are left, e.g. {}",
            outside.len(),
            outside[0]
        ));
    }
    Ok(Some(IcebergRollback {
        location: store.location().to_string(),
        metadata_from: from,
        metadata_to: metadata_key(target.0),
        metadata_removed: versions
            .range(target.0 + 1..)
            .map(|(_, k)| k.clone())
            .collect(),
        manifest_lists_removed,
        manifests_removed,
    }))
}

/// Manifests named by a removed list and by no kept one. A removed list already deleted (an
/// interrupted run) names nothing; a kept list that cannot be read is an error, since a
/// manifest it may name must not go.
async fn manifests_only_in(
    store: &TableStore,
    location: &str,
    kept: &BTreeSet<String>,
    removed: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    let read = |path: &String| {
        let path = path.clone();
        async move {
            let Some(key) = iceberg::relative_key(location, &path) else {
                return Err(Error::Unsupported(format!(
                    "the Iceberg manifest list {path} is outside the table location {location}"
                )));
            };
            match store.get_opt(&key).await? {
                Some(b) => iceberg::manifest_paths(&b, &key).map(Some),
                None => Ok(None),
            }
        }
    };
    let mut needed = BTreeSet::new();
    for list in kept {
        let paths = read(list).await?.ok_or_else(|| Error::MissingFile {
            path: list.clone(),
            referenced_by: "the rolled-back Iceberg metadata".into(),
        })?;
        needed.extend(paths);
    }
    let mut only = BTreeSet::new();
    for list in removed {
        for path in read(list).await?.unwrap_or_default() {
            if !needed.contains(&path) {
                only.insert(path);
            }
        }
    }
    Ok(only)
}

/// The Iceberg store a plan was made for, found again from the table's schema at execution.
pub(crate) async fn store_of(table: &Table, plan: &IcebergRollback) -> Result<TableStore> {
    let schema = table.latest_schema().await?;
    match crate::ops::tag::iceberg_store(table, &schema, "rollback-to")? {
        Some(store) if store.location() == plan.location => Ok(store),
        _ => Err(Error::Conflict(format!(
            "the table's Iceberg metadata is no longer kept at {} as when the rollback was \
             planned: nothing was changed; plan it again",
            plan.location
        ))),
    }
}

/// Step 1: write the target's metadata from the current one and point `version-hint.text` at
/// it. Fails with a conflict when the current metadata no longer has the target.
pub(crate) async fn switch_view(
    store: &TableStore,
    plan: &IcebergRollback,
    target: SnapshotId,
    now_ms: i64,
) -> Result<()> {
    let Some(source) = store.get_opt(&plan.metadata_from).await? else {
        // An interrupted run of this plan got as far as deleting the newer metadata: the view
        // was switched before that.
        let hint = store.get_opt(HINT).await?;
        if hint.as_deref() == Some(target.0.to_string().as_bytes())
            && store.get_opt(&plan.metadata_to).await?.is_some()
        {
            return Ok(());
        }
        return Err(Error::MissingFile {
            path: plan.metadata_from.clone(),
            referenced_by: "the rollback plan".into(),
        });
    };
    let rolled =
        iceberg::roll_back(&source, target.0, now_ms, &plan.metadata_from)?.ok_or_else(|| {
            Error::Conflict(format!(
                "{} no longer has snapshot {target}: nothing was changed; plan the rollback again",
                plan.metadata_from
            ))
        })?;
    store
        .put_overwrite(&plan.metadata_to, Bytes::from(rolled.metadata))
        .await?;
    store
        .put_overwrite(HINT, Bytes::from(target.0.to_string()))
        .await
}

/// Step 2: delete what only the removed Iceberg snapshots used; each failure is returned with
/// its key (a re-run deletes it).
pub(crate) async fn remove_rolled_back(
    store: &TableStore,
    plan: &IcebergRollback,
) -> Vec<(String, Result<()>)> {
    // In this order: a metadata file names the lists, a list the manifests.
    let mut out = Vec::new();
    for keys in [
        &plan.manifests_removed,
        &plan.manifest_lists_removed,
        &plan.metadata_removed,
    ] {
        if !keys.is_empty() {
            out.extend(
                store
                    .delete_all(keys, "deleting rolled-back Iceberg metadata")
                    .await,
            );
        }
    }
    out
}
