//! pypaimon (pinned, from scripts/venv.sh) reads what tagkeeper writes: every snapshot of
//! tables written by tagkeeper alone, and of pypaimon-written fixtures that tagkeeper appended
//! to and overwrote. Runs when TAGKEEPER_PYTHON names the venv's python (scripts/test.sh sets
//! it); plain `cargo test` skips it with a message.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tagkeeper::write::{append, CommitOptions, OverwriteScope};

use crate::common::*;
use crate::oracle;
use crate::write::{batch, clock, local_table, spec};

pub(crate) fn python() -> Option<String> {
    match std::env::var("TAGKEEPER_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            eprintln!(
                "SKIPPED interop with pypaimon: set TAGKEEPER_PYTHON (bash scripts/test.sh does)"
            );
            None
        }
    }
}

fn pypaimon_read(python: &str, table: &Path, snapshot: i64) -> (u64, String) {
    pypaimon_read_version(python, table, &["--snapshot", &snapshot.to_string()])
}

fn pypaimon_read_version(python: &str, table: &Path, selector: &[&str]) -> (u64, String) {
    let out = Command::new(python)
        .arg(repo().join("scripts/peer/pypaimon_peer.py"))
        .args(["read", table.to_str().unwrap()])
        .args(selector)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pypaimon failed on {selector:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["rows"].as_u64().unwrap(),
        v["checksum"].as_str().unwrap().to_string(),
    )
}

/// Every snapshot: pypaimon's rows and checksum equal the oracle's.
pub(crate) fn assert_pypaimon_agrees(python: &str, table: &Path) -> usize {
    let state = oracle::observe(table);
    state.assert_whole("before pypaimon");
    let mut n = 0;
    for (name, v) in &state.versions {
        let got = match name.strip_prefix("tag-") {
            Some(tag) => pypaimon_read_version(python, table, &["--tag", tag]),
            None => pypaimon_read(python, table, v.snapshot_id),
        };
        assert_eq!(got, (v.rows, format!("{:016x}", v.checksum)), "{name}");
        n += 1;
    }
    n
}

#[tokio::test]
async fn pypaimon_reads_every_snapshot_tagkeeper_writes() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let t = local_table(
        &path,
        &spec(
            true,
            &[
                ("manifest.merge-min-count", "3"),
                ("manifest.full-compaction-threshold-size", "4 kb"),
            ],
        ),
    )
    .await;
    let c = clock();
    let o = CommitOptions::default();
    for i in 0..8i64 {
        let dt = ["2024-01-01", "2024-01-02", "2024-01-03"][(i % 3) as usize];
        append(
            &t,
            vec![batch(&[
                (i, Some("long enough to be stored out of line"), dt),
                (i + 100, None, dt),
            ])],
            None,
            c.clone(),
            &o,
        )
        .await
        .unwrap();
    }
    append(
        &t,
        vec![batch(&[(50, Some("o"), "2024-01-02")])],
        Some(OverwriteScope::Dynamic),
        c.clone(),
        &o,
    )
    .await
    .unwrap();
    for i in 0..4i64 {
        append(
            &t,
            vec![batch(&[(200 + i, Some("x"), "2024-01-04")])],
            None,
            c.clone(),
            &o,
        )
        .await
        .unwrap();
    }
    // Tags made by tagkeeper, one with a retention, one on an old snapshot.
    use tagkeeper::format::ids::{SnapshotId, TagName};
    use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
    for (name, id, keep) in [
        ("before-overwrite", 8, None),
        ("daily", 13, Some(std::time::Duration::from_secs(86400))),
    ] {
        let req = CreateTag {
            name: TagName::new(name).unwrap(),
            source: TagSource::Snapshot(SnapshotId(id)),
            time_retained: keep,
            if_not_exists: false,
        };
        create_tag(&t, &req, c.as_ref()).await.unwrap();
    }
    let n = assert_pypaimon_agrees(&py, &path);
    assert_eq!(n, 15, "13 snapshots and 2 tags");
}

#[tokio::test]
async fn pypaimon_reads_its_own_tables_after_tagkeeper_writes_to_them() {
    let Some(py) = python() else { return };
    // Unpartitioned: append_many (id BIGINT, name STRING, dt DATE).
    let (_d1, t1) = copy_table("append_many");
    let table = open(&t1).await;
    let schema =
        tagkeeper::write::arrow_types::arrow_schema(&table.latest_schema().await.unwrap()).unwrap();
    let csv = bytes::Bytes::from_static(b"id,name,dt\n5000,tk,2024-02-01\n5001,,2024-02-02\n");
    let batches = tagkeeper::write::input::read_input(
        csv,
        tagkeeper::write::input::InputFormat::Csv,
        &schema,
        "x.csv",
    )
    .unwrap();
    append(&table, batches, None, clock(), &CommitOptions::default())
        .await
        .unwrap();
    assert_eq!(assert_pypaimon_agrees(&py, &t1), 13);

    // Partitioned by (dt STRING, hr INT) with NULL partitions: overwrite one partition.
    let (_d2, t2) = copy_table("partitioned_overwrite");
    let table = open(&t2).await;
    let schema =
        tagkeeper::write::arrow_types::arrow_schema(&table.latest_schema().await.unwrap()).unwrap();
    let json = bytes::Bytes::from_static(b"{\"id\": 7000, \"v\": \"tk\", \"dt\": \"2024-01-01\", \"hr\": 1}\n{\"id\": 7001, \"v\": \"tk\", \"dt\": null, \"hr\": 1}\n");
    let batches = tagkeeper::write::input::read_input(
        json,
        tagkeeper::write::input::InputFormat::JsonLines,
        &schema,
        "x.jsonl",
    )
    .unwrap();
    let o = append(
        &table,
        batches,
        Some(OverwriteScope::Dynamic),
        clock(),
        &CommitOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(o.commit_kind, "OVERWRITE");
    assert!(o.deleted_files >= 2, "{o:?}");
    assert_eq!(assert_pypaimon_agrees(&py, &t2), 8);
}

#[tokio::test]
async fn pypaimon_reads_everything_that_remains_after_delete_tag() {
    let Some(py) = python() else { return };
    // A tagkeeper table with overwrites and tags, whose tagged snapshots expired.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let t = local_table(&path, &spec(true, &[("manifest.merge-min-count", "3")])).await;
    let c = clock();
    let o = CommitOptions::default();
    use tagkeeper::format::ids::{SnapshotId, TagName};
    use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
    for i in 0..10i64 {
        let dt = ["2024-01-01", "2024-01-02"][(i % 2) as usize];
        let scope = (i % 4 == 3).then_some(OverwriteScope::Dynamic);
        append(&t, vec![batch(&[(i, Some("v"), dt)])], scope, c.clone(), &o)
            .await
            .unwrap();
        if [2, 4, 6].contains(&(i + 1)) {
            let req = CreateTag {
                name: TagName::new(&format!("t{}", i + 1)).unwrap(),
                source: TagSource::Snapshot(SnapshotId(i + 1)),
                time_retained: None,
                if_not_exists: false,
            };
            create_tag(&t, &req, c.as_ref()).await.unwrap();
        }
    }
    for id in 1..=8 {
        std::fs::remove_file(path.join(format!("snapshot/snapshot-{id}"))).unwrap();
    }
    let before = oracle::observe(&path);
    let plan = tagkeeper::ops::delete_tag::plan(&t, &[TagName::new("t4").unwrap()])
        .await
        .unwrap();
    assert_eq!(
        plan.tags[0].action,
        tagkeeper::ops::delete_tag::TagAction::Reclaim
    );
    tagkeeper::ops::delete_tag::execute(&t, plan).await.unwrap();
    let after = oracle::observe(&path);
    for (k, v) in &after.versions {
        assert_eq!(before.versions[k], *v, "{k} unchanged");
    }
    assert_eq!(
        assert_pypaimon_agrees(&py, &path),
        4,
        "snapshots 9, 10 and tags t2, t6"
    );
}

fn pypaimon_append(python: &str, table: &Path, rows: &str) -> i64 {
    let out = Command::new(python)
        .arg(repo().join("scripts/peer/pypaimon_peer.py"))
        .args(["append", table.to_str().unwrap(), rows])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pypaimon append failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["snapshot_id"].as_i64().unwrap()
}

#[tokio::test]
async fn pypaimon_after_both_kinds_of_rollback() {
    let Some(py) = python() else { return };
    use tagkeeper::format::ids::{SnapshotId, TagName};
    use tagkeeper::ops::rollback::{execute, RollbackMode, RollbackTarget};
    let (_t, tpl) = crate::crash::template().await;
    let clock = tagkeeper::clock::ManualClock::new(1_800_000_000_000);

    // Destructive, to a tag whose snapshot expired (restored from the tag), with purge.
    let (_d, dir) = crate::crash::copy(&tpl);
    let t = open(&dir).await;
    let before = oracle::observe(&dir);
    execute(
        &t,
        &RollbackTarget::Tag(TagName::new("t5").unwrap()),
        RollbackMode::Destructive { purge: true },
        &clock,
    )
    .await
    .unwrap();
    assert_eq!(
        assert_pypaimon_agrees(&py, &dir),
        3,
        "snapshot 5, tags t3 and t5"
    );
    let latest = pypaimon_read(&py, &dir, 5);
    assert_eq!(
        latest,
        (
            before.versions["tag-t5"].rows,
            format!("{:016x}", before.versions["tag-t5"].checksum)
        )
    );
    // The next commits: by pypaimon, then by tagkeeper; everything reads.
    assert_eq!(
        pypaimon_append(
            &py,
            &dir,
            r#"[{"id": 500, "name": "py", "dt": "2024-01-01"}]"#
        ),
        6
    );
    let o = append(
        &t,
        vec![batch(&[(501, Some("tk"), "2024-01-02")])],
        None,
        clock_arc(),
        &CommitOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(o.snapshot_id, 7);
    assert_eq!(assert_pypaimon_agrees(&py, &dir), 5);

    // A pypaimon-written table, both modes.
    for mode in [
        RollbackMode::Destructive { purge: true },
        RollbackMode::AsLatest,
    ] {
        let (_d3, dir3) = copy_table("tagged");
        let t3 = open(&dir3).await;
        let want = pypaimon_read_version(&py, &dir3, &["--tag", "daily-3"]);
        let r = execute(
            &t3,
            &RollbackTarget::Tag(TagName::new("daily-3").unwrap()),
            mode,
            &clock,
        )
        .await
        .unwrap();
        assert_eq!(
            pypaimon_read(&py, &dir3, r.new_snapshot_id.unwrap_or(3)),
            want
        );
        assert_pypaimon_agrees(&py, &dir3);
    }

    // As latest, to a bare snapshot id: every older version unchanged, the latest equals it.
    let (_d2, dir2) = crate::crash::copy(&tpl);
    let t2 = open(&dir2).await;
    execute(
        &t2,
        &RollbackTarget::Snapshot(SnapshotId(7)),
        RollbackMode::AsLatest,
        &clock,
    )
    .await
    .unwrap();
    assert_eq!(pypaimon_read(&py, &dir2, 11), pypaimon_read(&py, &dir2, 7));
    assert_eq!(
        assert_pypaimon_agrees(&py, &dir2),
        9,
        "snapshots 7-11 and four tags"
    );
}

fn clock_arc() -> std::sync::Arc<tagkeeper::clock::ManualClock> {
    std::sync::Arc::new(tagkeeper::clock::ManualClock::new(1_800_000_100_000))
}

#[tokio::test]
async fn pypaimon_reads_every_retained_version_after_expiration() {
    let Some(py) = python() else { return };
    use tagkeeper::ops::expire::{expire, ExpireOptions};
    let o = ExpireOptions {
        retain_min: 2,
        retain_max: 1 << 40,
        time_retained_millis: 0,
        expire_limit: 1000,
        ignore_commit_snapshot: false,
    };
    // pypaimon-written tables (overwrites and dropped partitions, tags, a rollback) and a
    // tagkeeper-written one with tags and expired history.
    for name in [
        "partitioned_overwrite",
        "tagged",
        "rolled_back",
        "append_many",
    ] {
        let (_d, dir) = copy_table(name);
        let before = oracle::observe(&dir);
        let t = open(&dir).await;
        let r = expire(&t, &o, 4_000_000_000_000).await.unwrap();
        assert!(!r.plan.expired_snapshots.is_empty(), "{name}");
        let after = oracle::observe(&dir);
        for (k, v) in &after.versions {
            assert_eq!(before.versions[k], *v, "{name} {k}");
        }
        assert_pypaimon_agrees(&py, &dir);
    }
    let (_t, tpl) = crate::crash::template().await;
    let (_d, dir) = crate::crash::copy(&tpl);
    let t = open(&dir).await;
    expire(&t, &o, 4_000_000_000_000).await.unwrap();
    assert_eq!(
        assert_pypaimon_agrees(&py, &dir),
        5,
        "snapshots 9, 10 and three tags"
    );
}
