//! remove-orphan-files at the edges: snapshot ids up to `i64::MAX`, a branch whose first
//! snapshot lands mid-run at a far id, a directory that cannot be removed after the deletions,
//! and a writer committing on a pypaimon-written table while the run reads references.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use tagkeeper::clock::SystemClock;
use tagkeeper::ops::orphans::{execute, plan, OrphanOptions};
use tagkeeper::write::{append, commit, CommitOptions, CommitRequest, DataWriter};
use tagkeeper::Error;

use super::{
    age_everything, deleted, expected_orphans, files, plant, pypaimon_reads_everything,
    request_after_snapshot_listing, run, set_age, uuid, OLD,
};
use crate::check::{assert_whole, within};
use crate::common::*;
use crate::crash::faulty;
use crate::oracle;
use crate::write::clock;

const MAX: &str = "9223372036854775807";

/// snapshot-4 of `rolled_back` as snapshot `id`.
fn snapshot_4_as(dir: &Path, id: &str) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("snapshot/snapshot-4")).unwrap()).unwrap();
    v["id"] = serde_json::from_str(id).unwrap();
    serde_json::to_vec(&v).unwrap()
}

/// A dry run on its own runtime, failing after 30 s.
fn dry_run_within(dir: &Path) -> tagkeeper::Result<tagkeeper::ops::orphans::OrphanReport> {
    let dir = dir.to_path_buf();
    within(
        30,
        move || async move { run(&open(&dir).await, true).await },
    )
}

#[test]
fn huge_and_far_snapshot_ids_neither_panic_nor_hang() {
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let before = files(&dir);
    let old: BTreeSet<String> = before.keys().cloned().collect();
    // Snapshot files are never candidates, and the planted ones reference what snapshot 4
    // does: the orphans stay pypaimon's rollback leftover.
    let want = expected_orphans(&dir, &before, &old, &BTreeSet::new());
    assert_eq!(want.len(), 12);
    let max_key = format!("snapshot/snapshot-{MAX}");

    // A real snapshot at the largest id, beyond LATEST: read like any other; nothing can
    // follow it.
    std::fs::write(dir.join(&max_key), snapshot_4_as(&dir, MAX)).unwrap();
    let r = dry_run_within(&dir).unwrap();
    assert_eq!(deleted(&r), want);
    assert_eq!((r.snapshots_read, r.newer_snapshots.len()), (5, 0));
    // Without LATEST the listing makes it the latest.
    std::fs::rename(dir.join("snapshot/LATEST"), dir.join("LATEST.moved")).unwrap();
    let r = dry_run_within(&dir).unwrap();
    assert_eq!(deleted(&r), want);

    // Garbage under that name: a corrupt snapshot, so the run aborts and says which.
    std::fs::write(dir.join(&max_key), b"garbage").unwrap();
    let e = dry_run_within(&dir).unwrap_err();
    assert!(matches!(e, Error::Aborted { .. }), "{e}");
    assert!(e.to_string().contains(&max_key), "{e}");
    std::fs::remove_file(dir.join(&max_key)).unwrap();

    // A far id.
    std::fs::write(
        dir.join("snapshot/snapshot-99999999999"),
        snapshot_4_as(&dir, "99999999999"),
    )
    .unwrap();
    let r = dry_run_within(&dir).unwrap();
    assert_eq!(deleted(&r), want);
    assert_eq!(r.snapshots_read, 5);
}

#[tokio::test]
async fn a_branch_whose_first_snapshot_lands_mid_run_is_read_from_that_snapshot() {
    // Branch b exists (schema only) but has no snapshot when the run lists it; then its
    // first snapshot is committed, at id 5000. The re-read must find it without probing
    // ids 1..5000.
    let (_d, dir) = copy_table("rolled_back");
    plant(
        &dir,
        "branch/branch-b/schema/schema-0",
        &std::fs::read(dir.join("schema/schema-0")).unwrap(),
        OLD,
    );
    age_everything(&dir, OLD);
    let before = files(&dir);
    let old: BTreeSet<String> = before.keys().cloned().collect();
    let want = expected_orphans(&dir, &before, &old, &BTreeSet::new());

    // The request right after the references' listing of the branch's snapshot/ (the first
    // listing of it is the candidates').
    let (_c, copy) = crate::crash::copy(&dir);
    let (t, h) = faulty(&copy);
    run(&t, true).await.unwrap();
    let lists: Vec<u64> = h
        .log()
        .iter()
        .filter(|(_, kind, p)| {
            *kind == "list" && p.trim_end_matches('/').ends_with("branch-b/snapshot")
        })
        .map(|(n, _, _)| *n)
        .collect();
    assert!(lists.len() >= 2, "{:?}", h.log());
    let k = lists[1] + 1;

    let (t, h) = faulty(&dir);
    let d = dir.clone();
    let snapshot = snapshot_4_as(&dir, "5000");
    h.before_request(
        k,
        Box::pin(async move {
            let s = d.join("branch/branch-b/snapshot");
            std::fs::create_dir_all(&s).unwrap();
            std::fs::write(s.join("snapshot-5000"), snapshot).unwrap();
            std::fs::write(s.join("LATEST"), b"5000").unwrap();
        }),
    );
    let r = run(&t, true).await.unwrap();
    assert_eq!(r.newer_snapshots, vec!["branch 'b' snapshot 5000"]);
    assert!(r.vanished.is_empty(), "{} vanished", r.vanished.len());
    assert_eq!(deleted(&r), want);
    let reads = h
        .log()
        .iter()
        .filter(|(_, kind, p)| *kind == "get" && p.contains("branch-b/snapshot/snapshot-"))
        .count();
    assert_eq!(reads, 1, "only the snapshot that exists is read");
}

#[tokio::test]
async fn a_directory_that_cannot_be_removed_is_reported_with_the_deletions() {
    let (_d, dir) = copy_table("partitioned_overwrite");
    age_everything(&dir, OLD);
    let orphan = plant(
        &dir,
        &format!("dt=2024-01-01/hr=0/bucket-0/data-{}-0.parquet", uuid()),
        b"crashed",
        OLD,
    );
    let empty = "dt=2025-01-01/hr=1/bucket-0";
    std::fs::create_dir_all(dir.join(empty)).unwrap();
    for d in [empty, "dt=2025-01-01/hr=1", "dt=2025-01-01"] {
        set_age(&dir.join(d), OLD);
    }
    let t = open(&dir).await;
    let mut p = plan(&t, &OrphanOptions::default(), &SystemClock)
        .await
        .unwrap();
    assert_eq!(p.empty_dirs, vec![empty]);
    // Before execution the empty directory turns into a file (rmdir: "not a directory"), and
    // a key that would leave the table is refused.
    std::fs::remove_dir(dir.join(empty)).unwrap();
    std::fs::write(dir.join(empty), b"now a file").unwrap();
    set_age(&dir.join(empty), OLD);
    p.empty_dirs.push("dt=2025-01-01/../elsewhere".into());
    let r = execute(&t, p, &SystemClock).await.unwrap();
    assert_eq!(deleted(&r), [orphan.clone()].into_iter().collect());
    assert!(!dir.join(&orphan).exists());
    assert_eq!(r.failed.len(), 2, "{:?}", r.failed);
    // Each failure typed: the directory, the kind of the error, the error.
    assert_eq!(r.failed[0].path, format!("{empty}/"), "{:?}", r.failed);
    assert_eq!(r.failed[0].kind, "storage", "{:?}", r.failed);
    assert!(
        r.failed[0]
            .message
            .starts_with(&format!("storage error during rmdir of {empty}")),
        "{:?}",
        r.failed
    );
    assert_eq!(
        (r.failed[1].path.as_str(), r.failed[1].kind.as_str()),
        ("dt=2025-01-01/../elsewhere/", "corrupt"),
        "{:?}",
        r.failed
    );
    assert!(r.removed_dirs.is_empty(), "{:?}", r.removed_dirs);
    assert_eq!(r.deleted.values().map(|t| t.files).sum::<u64>(), 1);
}

/// Rows (id, name) for `rolled_back`'s schema.
fn rows(rows: &[(i64, &str)]) -> RecordBatch {
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, true),
        arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn a_commit_on_a_pypaimon_table_during_the_run_keeps_its_files() {
    // pypaimon's rolled_back table, all old. A slow writer wrote a data file long ago and
    // commits it while orphan cleaning runs, after the snapshot listing; another commit lands
    // at the same time.
    let (_d, dir) = copy_table("rolled_back");
    let t = open(&dir).await;
    let schema = t.latest_schema().await.unwrap();
    let mut w = DataWriter::new(t.clone(), schema, clock()).unwrap();
    w.write(rows(&[(100, "slow")])).await.unwrap();
    let pending = w.finish().await.unwrap();
    let pending_key = pending[0].key.clone();
    age_everything(&dir, OLD);
    let orphan = plant(
        &dir,
        &format!("bucket-0/data-{}-0.parquet", uuid()),
        b"orphan",
        OLD,
    );
    let before = files(&dir);
    let old: BTreeSet<String> = before.keys().cloned().collect();
    let unreferenced = expected_orphans(&dir, &before, &old, &BTreeSet::new());
    // At listing time the slow writer's file is an old unreferenced file like the others:
    // only the re-read of the latest snapshot keeps it.
    assert!(unreferenced.contains(&pending_key) && unreferenced.contains(&orphan));
    let mut want = unreferenced.clone();
    want.remove(&pending_key);
    assert_eq!(
        want.len(),
        13,
        "the rollback leftover and the planted orphan"
    );
    let rows_before = oracle::observe(&dir).versions["snapshot-4"].rows;

    let k = request_after_snapshot_listing(&dir).await;
    let (ft, h) = faulty(&dir);
    let other = t.clone();
    h.before_request(
        k + 2,
        Box::pin(async move {
            let req = CommitRequest {
                files: pending,
                ..Default::default()
            };
            commit(&other, req, clock().as_ref(), &CommitOptions::default())
                .await
                .unwrap();
            append(
                &other,
                vec![rows(&[(200, "fresh")])],
                None,
                clock(),
                &CommitOptions::default(),
            )
            .await
            .unwrap();
        }),
    );
    let r = run(&ft, false).await.unwrap();
    assert_eq!(r.newer_snapshots, vec!["snapshot 5", "snapshot 6"]);
    assert_eq!(deleted(&r), want);
    assert!(
        dir.join(&pending_key).is_file(),
        "the late commit's file is kept"
    );
    let state = oracle::observe(&dir);
    state.assert_whole("after a commit during orphan cleaning");
    assert_eq!(state.versions["snapshot-5"].rows, rows_before + 1);
    assert_eq!(state.versions["snapshot-6"].rows, rows_before + 2);
    assert_whole(&dir, true, "after a commit during orphan cleaning").await;
    pypaimon_reads_everything(&dir);
}
