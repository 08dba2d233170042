//! The commit of `rollback-to --as-latest`, shaped as Java's
//! `FileStoreCommitImpl.rollbackToAsLatest` (Paimon ≥ 1.3):
//!
//! * base manifests: the previous latest snapshot's live entries, rewritten as fresh ADD-only
//!   manifests (a full manifest compaction), so no stale DELETE entry survives;
//! * delta manifests: a DELETE for each file live at the previous latest but not at the target,
//!   an ADD for each file live at the target but not at the previous latest;
//! * schema id, index manifest, statistics, watermark and properties of the target; `nextRowId`
//!   never moves backwards.
//!
//! Why the fresh base: Paimon assumes a file is added once and deleted once. A re-added file
//! whose old DELETE entry stays in a kept manifest is read right only by readers that merge
//! entries in order (Java); pypaimon drops every file with a DELETE anywhere in the snapshot and
//! read 0 of 149 rows. With this shape every file has at most one ADD and one DELETE across the
//! new snapshot's base and delta, and the delta holds exactly what the rollback changed, so
//! expiring the new snapshot later deletes exactly the files the rollback dropped.
//!
//! The commit is planned once ([`RollbackCommit::plan`], pure) and committed as planned
//! ([`commit_rollback`]): if the table moved past the planned latest snapshot, it fails with
//! [`Error::Conflict`] instead of silently re-planning (Java fails the procedure too).

use std::collections::HashSet;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::format::hint::encode_hint;
use crate::format::ids::SnapshotId;
use crate::format::jackson;
use crate::format::manifest::{FileKind, ManifestEntry};
use crate::format::snapshot::Snapshot;
use crate::io::CreateOutcome;
use crate::reach::EntryIdentity;
use crate::table::layout::{latest_hint_key, snapshot_key};
use crate::table::Table;
use crate::write::commit::{remove, CommitOutcome, BATCH_COMMIT_IDENTIFIER};
use crate::write::manifests::ManifestWriter;
use crate::write::merge::MergeOptions;

/// Java's commit-user prefix for this commit (`RollbackToAsLatestProcedure`).
pub const ROLLBACK_COMMIT_USER_PREFIX: &str = "rollback-to-as-latest-";

/// A planned as-latest rollback commit: exactly what [`commit_rollback`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackCommit {
    /// The latest snapshot when planned; the commit is `previous.id + 1` or nothing.
    pub previous: Snapshot,
    /// The snapshot rolled back to.
    pub target: Snapshot,
    /// The new base: the previous latest's live entries (ADD only), as they are.
    pub base: Vec<ManifestEntry>,
    /// DELETE entries for files only the previous latest has, then ADD entries for files only
    /// the target has.
    pub delta: Vec<ManifestEntry>,
}

impl RollbackCommit {
    /// Plan the commit from the live entries of the latest snapshot and of the target.
    ///
    /// `_COMMIT_SNAPSHOT` of a re-added file: its recorded value is kept (the start of its first
    /// life), not the new snapshot id. Expiration keeps a file committed at `c` and deleted at
    /// `d` for tags `c <= t < d`; a re-added file that is deleted again later must still be kept
    /// for the tags of its earlier lives (the target's own tag among them), and `[c, d)` covers
    /// them all, while `[new id, d)` does not. A file without a recorded value (written by
    /// another engine) gets `unknown_commit_floor`, which the caller sets to no more than the
    /// smallest snapshot or tag id the table still has: every tag that can exist is then in
    /// range (it may keep such a file longer than needed, never shorter).
    pub fn plan(
        previous: Snapshot,
        previous_live: Vec<ManifestEntry>,
        target: Snapshot,
        target_live: Vec<ManifestEntry>,
        unknown_commit_floor: i64,
    ) -> Result<Self> {
        let owner = |s: &Snapshot| format!("snapshot {}", s.id);
        let ids = |live: &[ManifestEntry], s: &Snapshot| -> Result<HashSet<EntryIdentity>> {
            let mut set = HashSet::with_capacity(live.len());
            for e in live {
                // A live set holds each file once, as an ADD; anything else means the caller
                // passed something else, and a commit built from it would corrupt the table.
                if e.kind != FileKind::Add || !set.insert(EntryIdentity::of(e)) {
                    return Err(Error::corrupt(
                        snapshot_key(s.id),
                        format!(
                            "live files of {} list {} twice or as a DELETE",
                            owner(s),
                            e.file.file_name
                        ),
                    ));
                }
            }
            Ok(set)
        };
        let previous_ids = ids(&previous_live, &previous)?;
        let target_ids = ids(&target_live, &target)?;
        let mut delta: Vec<ManifestEntry> = previous_live
            .iter()
            .filter(|e| !target_ids.contains(&EntryIdentity::of(e)))
            .map(|e| ManifestEntry {
                kind: FileKind::Delete,
                ..e.clone()
            })
            .collect();
        for e in target_live
            .into_iter()
            .filter(|e| !previous_ids.contains(&EntryIdentity::of(e)))
        {
            let mut e = e;
            e.file.commit_snapshot = Some(e.file.commit_snapshot.unwrap_or(unknown_commit_floor));
            delta.push(e);
        }
        Ok(RollbackCommit {
            previous,
            target,
            base: previous_live,
            delta,
        })
    }

    /// DELETE entries of the delta: files live now that the rollback drops.
    pub fn deleted(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.delta.iter().filter(|e| e.kind == FileKind::Delete)
    }

    /// ADD entries of the delta: files of the target that are live again.
    pub fn added_back(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.delta.iter().filter(|e| e.kind == FileKind::Add)
    }

    /// The new snapshot's id.
    pub fn new_id(&self) -> i64 {
        self.previous.id.0 + 1
    }
}

/// Commit a planned rollback as snapshot `previous + 1`, or fail with [`Error::Conflict`] if any
/// snapshot was committed since it was planned (nothing is then left behind).
pub async fn commit_rollback(
    table: &Table,
    plan: &RollbackCommit,
    clock: &dyn Clock,
) -> Result<CommitOutcome> {
    let moved = |now: String| {
        Error::Conflict(format!(
            "the table changed after the rollback was planned ({now}; planned on snapshot {}): \
             nothing was committed; plan and run the rollback again",
            plan.previous.id
        ))
    };
    match table.latest_snapshot_id().await? {
        Some(l) if l == plan.previous.id => {}
        Some(l) => return Err(moved(format!("the latest snapshot is now {l}"))),
        None => return Err(moved("it has no snapshot now".into())),
    }
    // Same id, other content: a destructive rollback and a new commit reused the id.
    match table.try_load_snapshot(plan.previous.id).await? {
        Some(s) if s == plan.previous => {}
        _ => return Err(moved(format!("snapshot {} was replaced", plan.previous.id))),
    }
    let schema = table.latest_schema().await?;
    let merge = MergeOptions::from_options(&schema.options)?;
    let mut writer =
        ManifestWriter::new(table.clone(), schema.partition_types(), merge.target_size);
    let commit_user = format!("{ROLLBACK_COMMIT_USER_PREFIX}{}", uuid::Uuid::new_v4());
    let json = match write_metadata(&mut writer, plan, &commit_user, clock).await {
        Ok(j) => j,
        Err(e) => {
            remove(table, writer.written()).await;
            return Err(e);
        }
    };
    let new_id = SnapshotId(plan.new_id());
    let key = snapshot_key(new_id);
    let ours = match table.store().put_create(&key, Bytes::from(json)).await {
        Ok(CreateOutcome::Created) => true,
        Ok(CreateOutcome::AlreadyExists) => read_back(table, plan, &commit_user).await?,
        Err(e) => {
            tracing::warn!("publishing {key} failed ({e}); reading it back to learn the outcome");
            read_back(table, plan, &commit_user)
                .await
                .map_err(|re| Error::CommitUnknown {
                    path: key.clone(),
                    reason: format!("{e}; reading it back failed too: {re}"),
                })?
        }
    };
    if !ours {
        remove(table, writer.written()).await;
        return Err(moved(format!(
            "another writer committed snapshot {new_id} first"
        )));
    }
    if let Err(e) = table
        .store()
        .put_overwrite(&latest_hint_key(), Bytes::from(encode_hint(new_id)))
        .await
    {
        tracing::warn!("could not update snapshot/LATEST ({e}); readers fall back to listing");
    }
    Ok(CommitOutcome {
        snapshot_id: new_id.0,
        commit_kind: "OVERWRITE".into(),
        attempts: 1,
        added_files: plan.added_back().count(),
        deleted_files: plan.deleted().count(),
        delta_record_count: delta_records(plan),
    })
}

async fn read_back(table: &Table, plan: &RollbackCommit, commit_user: &str) -> Result<bool> {
    Ok(table
        .try_load_snapshot(SnapshotId(plan.new_id()))
        .await?
        .is_some_and(|s| s.commit_user == commit_user))
}

fn delta_records(plan: &RollbackCommit) -> i64 {
    plan.delta
        .iter()
        .map(|e| match e.kind {
            FileKind::Add => e.file.row_count,
            FileKind::Delete => -e.file.row_count,
        })
        .sum()
}

/// Write the manifests and lists; returns the snapshot JSON.
async fn write_metadata(
    writer: &mut ManifestWriter,
    plan: &RollbackCommit,
    commit_user: &str,
    clock: &dyn Clock,
) -> Result<Vec<u8>> {
    let base_metas = writer.write_manifests(&plan.base).await?;
    let (base_name, base_size) = writer.write_list(&base_metas).await?;
    let delta_metas = writer.write_manifests(&plan.delta).await?;
    let (delta_name, delta_size) = writer.write_list(&delta_metas).await?;
    let (previous, target) = (&plan.previous, &plan.target);
    let delta_records = delta_records(plan);
    let mut m = Map::new();
    m.insert("version".into(), json!(3));
    m.insert("uuid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("id".into(), json!(plan.new_id()));
    // The target's schema: the new latest reads as the target did (Java does the same).
    m.insert("schemaId".into(), json!(target.schema_id.0));
    m.insert("baseManifestList".into(), json!(base_name));
    m.insert("baseManifestListSize".into(), json!(base_size));
    m.insert("deltaManifestList".into(), json!(delta_name));
    m.insert("deltaManifestListSize".into(), json!(delta_size));
    // The target's deletion vectors and bucket index describe the target's files; the
    // target's tag (or the protection tag) keeps them from expiring.
    if let Some(index) = &target.index_manifest {
        m.insert("indexManifest".into(), json!(index));
    }
    m.insert("commitUser".into(), json!(commit_user));
    m.insert(
        "writerVersion".into(),
        json!(format!("tagkeeper-{}", env!("CARGO_PKG_VERSION"))),
    );
    m.insert("commitIdentifier".into(), json!(BATCH_COMMIT_IDENTIFIER));
    m.insert("commitKind".into(), json!("OVERWRITE"));
    m.insert("timeMillis".into(), json!(clock.now_millis()));
    let total = target
        .total_record_count
        .unwrap_or_else(|| previous.total_record_count.unwrap_or(0) + delta_records);
    m.insert("totalRecordCount".into(), json!(total));
    m.insert("deltaRecordCount".into(), json!(delta_records));
    if let Some(w) = target.watermark {
        m.insert("watermark".into(), json!(w));
    }
    if let Some(stats) = &target.statistics {
        m.insert("statistics".into(), json!(stats));
    }
    if let Some(p) = target.raw().get("properties").filter(|p| !p.is_null()) {
        m.insert("properties".into(), p.clone());
    }
    // Row ids must stay unique: never hand out again ids the rolled-back commits assigned.
    let next_row_id = |s: &Snapshot| s.raw().get("nextRowId").and_then(Value::as_i64);
    let next = next_row_id(previous).max(next_row_id(target)).unwrap_or(0);
    m.insert("nextRowId".into(), json!(next));
    Ok(jackson::to_pretty_string(&Value::Object(m)).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::{DataFileMeta, SimpleStats};

    fn entry(name: &str, level: i32, commit: Option<i64>) -> ManifestEntry {
        ManifestEntry {
            kind: FileKind::Add,
            partition: vec![0; 8],
            bucket: 0,
            total_buckets: 1,
            file: DataFileMeta {
                file_name: name.into(),
                file_size: 10,
                row_count: 2,
                min_key: vec![],
                max_key: vec![],
                key_stats: SimpleStats::default(),
                value_stats: SimpleStats::default(),
                min_sequence_number: 0,
                max_sequence_number: 0,
                schema_id: 0,
                level,
                extra_files: vec![],
                creation_time: None,
                delete_row_count: None,
                embedded_index: None,
                file_source: None,
                value_stats_cols: None,
                external_path: None,
                first_row_id: None,
                write_cols: None,
                write_cols_sequences: None,
                commit_snapshot: commit,
            },
        }
    }

    fn snapshot(id: i64) -> Snapshot {
        Snapshot::decode(
            format!(
                r#"{{"version":3,"id":{id},"schemaId":0,"baseManifestList":"b","deltaManifestList":"d","commitUser":"u","commitIdentifier":1,"commitKind":"APPEND","timeMillis":1}}"#
            )
            .as_bytes(),
            "snapshot",
        )
        .unwrap()
    }

    #[test]
    fn delta_is_the_difference_and_base_the_previous_live_set() {
        let previous = vec![
            entry("kept", 0, Some(1)),
            entry("new", 0, Some(6)),
            entry("up", 5, Some(7)),
        ];
        let target = vec![
            entry("kept", 0, Some(1)),
            entry("old", 0, Some(2)),
            entry("foreign", 0, None),
            entry("up", 0, Some(3)),
        ];
        let p =
            RollbackCommit::plan(snapshot(9), previous.clone(), snapshot(4), target, 1).unwrap();
        assert_eq!(p.base, previous);
        let got: Vec<(FileKind, &str, i32, Option<i64>)> = p
            .delta
            .iter()
            .map(|e| {
                (
                    e.kind,
                    e.file.file_name.as_str(),
                    e.file.level,
                    e.file.commit_snapshot,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (FileKind::Delete, "new", 0, Some(6)),
                (FileKind::Delete, "up", 5, Some(7)),
                (FileKind::Add, "old", 0, Some(2)),
                (FileKind::Add, "foreign", 0, Some(1)),
                (FileKind::Add, "up", 0, Some(3)),
            ]
        );
        assert_eq!(p.new_id(), 10);
        assert_eq!(delta_records(&p), 2);
    }

    #[test]
    fn an_inconsistent_live_set_is_refused() {
        let twice = vec![entry("a", 0, None), entry("a", 0, None)];
        let e = RollbackCommit::plan(snapshot(2), twice, snapshot(1), vec![], 1).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
        let mut delete = entry("a", 0, None);
        delete.kind = FileKind::Delete;
        let e =
            RollbackCommit::plan(snapshot(2), vec![], snapshot(1), vec![delete], 1).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    }
}
