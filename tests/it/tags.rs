//! create-tag: the tag file is the snapshot's JSON plus Java's tag fields, creation is
//! exclusive, the source rules are Paimon's, and a tag whose snapshot expired meanwhile is
//! removed again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::{FaultStore, InjectedError};
use tagkeeper::io::TableStore;
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::{self, append, CommitOptions};
use tagkeeper::Error;

use crate::common::*;
use crate::write::{batch, clock, spec};

fn req(name: &str, source: TagSource) -> CreateTag {
    CreateTag {
        name: TagName::new(name).unwrap(),
        source,
        time_retained: None,
        if_not_exists: false,
    }
}

async fn table_with_commits(store: TableStore, n: i64) -> Table {
    let t = write::create_table(store, &spec(false, &[]), 1)
        .await
        .unwrap();
    let c = clock();
    for i in 0..n {
        append(
            &t,
            vec![batch(&[(i, None, "x")])],
            None,
            c.clone(),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        c.advance_millis(60_000);
    }
    t
}

#[tokio::test]
async fn tag_file_is_the_snapshot_plus_java_tag_fields() {
    let (_d, path) = copy_table("tagged");
    let t = open(&path).await;
    let clock = ManualClock::new(1_704_189_600_000); // 2024-01-02T10:00:00
    let mut r = req("kept", TagSource::Snapshot(SnapshotId(4)));
    r.time_retained = Some(Duration::from_secs(3600));
    let report = create_tag(&t, &r, &clock).await.unwrap();
    assert_eq!((report.snapshot_id, report.created), (4, true));
    let snap: Value =
        serde_json::from_slice(&std::fs::read(path.join("snapshot/snapshot-4")).unwrap()).unwrap();
    let mut tag: Value =
        serde_json::from_slice(&std::fs::read(path.join("tag/tag-kept")).unwrap()).unwrap();
    let obj = tag.as_object_mut().unwrap();
    assert_eq!(
        obj.remove("tagCreateTime").unwrap(),
        serde_json::json!([2024, 1, 2, 10, 0])
    );
    assert_eq!(
        obj.remove("tagTimeRetained").unwrap().to_string(),
        "3600.000000000"
    );
    assert_eq!(tag, snap, "every snapshot field is kept");
    // Without a retention the file is the plain snapshot JSON (Paimon ≤ 0.7 readers).
    create_tag(
        &t,
        &req("plain", TagSource::Snapshot(SnapshotId(4))),
        &clock,
    )
    .await
    .unwrap();
    let plain: Value =
        serde_json::from_slice(&std::fs::read(path.join("tag/tag-plain")).unwrap()).unwrap();
    assert_eq!(plain, snap);
}

#[tokio::test]
async fn existing_tags_are_errors_unless_if_not_exists() {
    let (_d, path) = copy_table("tagged");
    let t = open(&path).await;
    let c = clock();
    let err = create_tag(&t, &req("first", TagSource::Latest), c.as_ref())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TagExists { snapshot_id: 1, .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
    let mut r = req("first", TagSource::Latest);
    r.if_not_exists = true;
    let report = create_tag(&t, &r, c.as_ref()).await.unwrap();
    assert_eq!((report.created, report.snapshot_id), (false, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_creators_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    for store in [
        TableStore::in_memory("t"),
        tagkeeper::io::open_location(dir.path().to_str().unwrap(), &Default::default()).unwrap(),
    ] {
        let t = table_with_commits(store, 3).await;
        let mut tasks = Vec::new();
        for k in 0..8i64 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let source = TagSource::Snapshot(SnapshotId(1 + k % 3));
                create_tag(&t, &req("race", source), &ManualClock::new(0)).await
            }));
        }
        let mut wins = 0;
        let mut winner = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(r) => {
                    wins += 1;
                    winner = r.snapshot_id;
                }
                Err(Error::TagExists { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(wins, 1);
        assert_eq!(
            t.load_tag(&TagName::new("race").unwrap())
                .await
                .unwrap()
                .snapshot
                .id
                .0,
            winner
        );
    }
}

#[tokio::test]
async fn expired_snapshot_is_reachable_through_a_tag() {
    let (_d, path) = copy_table("tagged");
    std::fs::remove_file(path.join("snapshot/snapshot-1")).unwrap();
    let t = open(&path).await;
    let report = create_tag(
        &t,
        &req("again", TagSource::Snapshot(SnapshotId(1))),
        clock().as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.snapshot_id, report.source.as_str()),
        (1, "tag:first")
    );
    let err = create_tag(
        &t,
        &req("nope", TagSource::Snapshot(SnapshotId(99))),
        clock().as_ref(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::SnapshotNotFound { id: 99, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn timestamp_source_counts_tags_as_history() {
    let t = table_with_commits(TableStore::in_memory("t"), 5).await;
    let snaps = tagkeeper::inspect::snapshots(&t).await.unwrap().snapshots;
    // First snapshot at or after a time between snapshot 2 and 3 is 3.
    let ts = snaps[1].time_millis + 1;
    let r = create_tag(
        &t,
        &req("by-time", TagSource::Timestamp(ts)),
        clock().as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(r.snapshot_id, 3);
    // Tag snapshot 2, expire snapshots 1 and 2: a time before snapshot 2 now resolves to the tag.
    create_tag(
        &t,
        &req("keep-2", TagSource::Snapshot(SnapshotId(2))),
        clock().as_ref(),
    )
    .await
    .unwrap();
    t.store()
        .delete_many(&["snapshot/snapshot-1".into(), "snapshot/snapshot-2".into()])
        .await;
    let r = create_tag(
        &t,
        &req("old", TagSource::Timestamp(snaps[0].time_millis)),
        clock().as_ref(),
    )
    .await
    .unwrap();
    assert_eq!((r.snapshot_id, r.source.as_str()), (2, "tag:keep-2"));
    let err = create_tag(
        &t,
        &req("future", TagSource::Timestamp(i64::MAX)),
        clock().as_ref(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NoSnapshotAtTime { .. }), "{err}");
}

#[tokio::test]
async fn a_snapshot_expired_during_creation_removes_the_tag() {
    let fault = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let h = fault.handle();
    let t = table_with_commits(TableStore::new(Arc::new(fault), "t", 4, "memory:///t"), 2).await;
    // Learn how many requests a create-tag makes; its last one is the HEAD of the snapshot.
    let start = h.requests();
    create_tag(&t, &req("probe", TagSource::Latest), clock().as_ref())
        .await
        .unwrap();
    let per_create = h.requests() - start;
    let start = h.requests();
    h.fail_request(start + per_create, InjectedError::NotFound);
    let err = create_tag(&t, &req("raced", TagSource::Latest), clock().as_ref())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert!(
        err.to_string().contains("expired while tag 'raced'"),
        "{err}"
    );
    h.reset();
    assert!(
        t.try_load_tag(&TagName::new("raced").unwrap())
            .await
            .unwrap()
            .is_none(),
        "the tag was removed"
    );
}

#[test]
fn cli_create_tag_exit_codes() {
    let (_d, path) = copy_table("tagged");
    let p = path.to_str().unwrap();
    let out = tagkeeper(&[
        "create-tag",
        "--json",
        p,
        "nightly",
        "--snapshot",
        "2",
        "--time-retained",
        "7 d",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (v["snapshot_id"].as_i64(), v["time_retained_secs"].as_f64()),
        (Some(2), Some(604800.0))
    );
    let again = tagkeeper(&["create-tag", p, "nightly"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists"));
    for bad in ["../escape", "a/b", "", "tag\u{7}"] {
        let out = tagkeeper(&["create-tag", p, bad]);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert!(
            stderr(&out).contains("invalid tag name"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    let long = "x".repeat(10_000);
    let out = tagkeeper(&["create-tag", p, &long]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).len() < 400,
        "the 10 KB name is not echoed whole"
    );
    let digits = tagkeeper(&["create-tag", p, "20240101"]);
    assert!(digits.status.success());
    assert!(stderr(&digits).contains("all digits"));
}

/// The `tagged` fixture with snapshots 1–4 expired (their files removed, nothing else).
fn expired_tagged() -> (tempfile::TempDir, std::path::PathBuf) {
    let (d, path) = copy_table("tagged");
    for id in 1..=4 {
        std::fs::remove_file(path.join(format!("snapshot/snapshot-{id}"))).unwrap();
    }
    (d, path)
}

fn files_under(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    crate::fixtures::walk(dir).into_iter().collect()
}

#[test]
fn cli_delete_tag_dry_run_prints_the_plan_the_real_run_executes() {
    let (_d, path) = expired_tagged();
    let p = path.to_str().unwrap();
    let before = files_under(&path);
    let dry = tagkeeper(&["delete-tag", "--json", "--dry-run", p, "first"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let plan: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(files_under(&path), before, "a dry run changes nothing");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["tags"][0]["action"], "reclaim");
    let planned: std::collections::BTreeSet<String> = plan["tags"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert!(!planned.is_empty());
    // pypaimon copies manifest lists, so snapshot 1's two lists are what only 'first' kept.
    assert_eq!(plan["deleted"]["manifest_list"]["files"], 2, "{plan:#}");

    let real = tagkeeper(&["delete-tag", "--json", p, "first"]);
    assert!(real.status.success(), "{}", stderr(&real));
    let done: Value = serde_json::from_str(&stdout(&real)).unwrap();
    assert_eq!(
        done["deleted"], plan["deleted"],
        "the real run does what the dry run said"
    );
    assert_eq!(done["deleted_tags"], serde_json::json!(["first"]));
    let after = files_under(&path);
    let gone: std::collections::BTreeSet<String> = before.difference(&after).cloned().collect();
    let mut expected = planned.clone();
    expected.insert("tag/tag-first".into());
    assert_eq!(gone, expected);
    let state = crate::oracle::observe(&path);
    state.assert_whole("after delete-tag");
    let check = crate::common::tagkeeper(&["check", "--deep", path.to_str().unwrap()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        crate::common::stdout(&check)
    );

    let missing = tagkeeper(&["delete-tag", p, "first"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn cli_rename_and_replace() {
    let (_d, path) = copy_table("tagged");
    let p = path.to_str().unwrap();
    let original = std::fs::read(path.join("tag/tag-daily-3")).unwrap();
    let out = tagkeeper(&["rename-tag", p, "daily-3", "weekly"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(path.join("tag/tag-weekly")).unwrap(),
        original,
        "bytes verbatim"
    );
    assert!(!path.join("tag/tag-daily-3").exists());
    // A crash between create and delete leaves both; the re-run finishes.
    std::fs::write(path.join("tag/tag-daily-3"), &original).unwrap();
    let again = tagkeeper(&["rename-tag", "--json", p, "daily-3", "weekly"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let v: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(v["resumed"], true);
    assert!(!path.join("tag/tag-daily-3").exists());
    // Renaming onto a different existing tag is refused.
    let clash = tagkeeper(&["rename-tag", p, "weekly", "latest"]);
    assert_eq!(clash.status.code(), Some(1));
    assert!(path.join("tag/tag-weekly").exists());

    let out = tagkeeper(&["replace-tag", "--json", p, "release-a", "--snapshot", "6"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (v["old_snapshot_id"].as_i64(), v["new_snapshot_id"].as_i64()),
        (Some(5), Some(6))
    );
    assert_eq!(
        v["unprotected_files"].as_array().unwrap().len(),
        0,
        "snapshot 5 is live"
    );
}

fn disk_bytes(dir: &std::path::Path) -> u64 {
    crate::fixtures::walk(dir)
        .iter()
        .map(|p| std::fs::metadata(dir.join(p)).unwrap().len())
        .sum()
}

#[tokio::test]
async fn exclusive_bytes_are_what_deleting_the_tag_alone_frees() {
    let (_d, path) = expired_tagged();
    let t = open(&path).await;
    let report = tagkeeper::inspect::tags_with(&t, true).await.unwrap();
    assert_eq!(report.tags.len(), 5);
    for info in &report.tags {
        let (_c, copy) = expired_tagged();
        let before = disk_bytes(&copy);
        let tag_file = std::fs::metadata(copy.join(format!("tag/tag-{}", info.name)))
            .unwrap()
            .len();
        let table = open(&copy).await;
        let plan = tagkeeper::ops::delete_tag::plan(&table, &[TagName::new(&info.name).unwrap()])
            .await
            .unwrap();
        tagkeeper::ops::delete_tag::execute(&table, plan)
            .await
            .unwrap();
        let freed = before - disk_bytes(&copy) - tag_file;
        assert_eq!(Some(freed as i64), info.exclusive_bytes, "{}", info.name);
        assert_eq!(info.snapshot_live, info.snapshot_id >= 5, "{}", info.name);
        assert!(info.shared_bytes.unwrap() <= info.total_bytes.unwrap());
    }
}

#[tokio::test]
async fn watermark_source_skips_missing_watermarks() {
    let (_d, path) = copy_table("tagged");
    // Snapshots 1..=6 get watermarks: none, MIN (Flink's "no watermark"), 3000, 4000, 5000, 6000.
    for id in 1..=6i64 {
        let file = path.join(format!("snapshot/snapshot-{id}"));
        let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        match id {
            1 => {}
            2 => v["watermark"] = serde_json::json!(i64::MIN),
            _ => v["watermark"] = serde_json::json!(id * 1000),
        }
        std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    }
    let t = open(&path).await;
    let r = create_tag(&t, &req("wm", TagSource::Watermark(3500)), clock().as_ref())
        .await
        .unwrap();
    assert_eq!(r.snapshot_id, 4);
    let r = create_tag(
        &t,
        &req("wm-low", TagSource::Watermark(i64::MIN)),
        clock().as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(r.snapshot_id, 3, "null and MIN watermarks are skipped");
    let err = create_tag(
        &t,
        &req("wm-high", TagSource::Watermark(7000)),
        clock().as_ref(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NoSnapshotAtTime { .. }), "{err}");
    let out = tagkeeper(&[
        "create-tag",
        "--json",
        path.to_str().unwrap(),
        "wm-cli",
        "--watermark",
        "5000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["snapshot_id"], 5);
}
