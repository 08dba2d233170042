//! The core suite against a real S3 protocol server (moto, single-threaded, started by
//! scripts/with-moto.sh, which sets TAGKEEPER_S3_URL and the AWS_* variables). Through s3://
//! URLs: the conditional-create self-test, commit races, tag-create races, delete-tag,
//! time-travel read (Parquet byte ranges through the S3 protocol), and the CLI. Without the server these tests are skipped with a message.

use std::collections::BTreeSet;

use serde_json::Value;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::{open_location, CreateOutcome, StoreOptions};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::{Table, VersionSpec};
use tagkeeper::write::synthetic::{build, SyntheticSpec};
use tagkeeper::write::{self, append, CommitOptions};

use crate::common::*;
use crate::write::{batch, clock, spec};

/// A fresh, unique table location in the test bucket.
fn location() -> Option<String> {
    match std::env::var("TAGKEEPER_S3_URL") {
        Ok(url) if !url.is_empty() => Some(format!(
            "{}/{}/t",
            url.trim_end_matches('/'),
            uuid::Uuid::new_v4()
        )),
        _ => {
            skipped(
                "S3 protocol test: run it through scripts/with-moto.sh (bash scripts/test.sh does)",
            );
            None
        }
    }
}

fn store(loc: &str) -> tagkeeper::io::TableStore {
    open_location(loc, &StoreOptions::default()).unwrap()
}

#[tokio::test]
async fn s3_conditional_create_is_exclusive() {
    let Some(loc) = location() else { return };
    let s = store(&loc);
    let key = "_probe/self-test";
    assert_eq!(
        s.put_create(key, bytes::Bytes::from_static(b"1"))
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        s.put_create(key, bytes::Bytes::from_static(b"2"))
            .await
            .unwrap(),
        CreateOutcome::AlreadyExists
    );
    assert_eq!(s.get_opt(key).await.unwrap().as_deref(), Some(&b"1"[..]));
    assert!(s
        .delete_many(&[key.to_string(), "_probe/missing".into()])
        .await
        .iter()
        .all(|(_, r)| r.is_ok()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_eight_concurrent_writers() {
    let Some(loc) = location() else { return };
    let t = write::create_table(
        store(&loc),
        &spec(true, &[("manifest.merge-min-count", "4")]),
        1,
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8i64 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let opts = CommitOptions {
                max_attempts: 200,
                ..Default::default()
            };
            let mut ids = Vec::new();
            for k in 0..3i64 {
                let dt = if k % 2 == 0 {
                    "2024-01-01"
                } else {
                    "2024-01-02"
                };
                ids.push(
                    append(
                        &t,
                        vec![batch(&[(w * 10 + k, Some("s3"), dt)])],
                        None,
                        clock(),
                        &opts,
                    )
                    .await
                    .unwrap()
                    .snapshot_id,
                );
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    ids.sort();
    assert_eq!(ids, (1..=24).collect::<Vec<_>>());
    let files = tagkeeper::inspect::files(&t, &VersionSpec::Latest)
        .await
        .unwrap();
    assert_eq!((files.total_files, files.total_rows), (24, 24));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_eight_concurrent_tag_creators() {
    let Some(loc) = location() else { return };
    let t = write::create_table(store(&loc), &spec(false, &[]), 1)
        .await
        .unwrap();
    append(
        &t,
        vec![batch(&[(1, None, "x")])],
        None,
        clock(),
        &CommitOptions::default(),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let req = CreateTag {
                name: TagName::new("race").unwrap(),
                source: TagSource::Latest,
                time_retained: None,
                if_not_exists: false,
            };
            create_tag(&t, &req, clock().as_ref()).await.is_ok()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn s3_delete_tag_reclaims_exactly_the_tags_files() {
    let Some(loc) = location() else { return };
    let spec = SyntheticSpec {
        snapshots: 12,
        files: 24,
        tags: 0,
        partitions: 2,
        overwrite_every: 3,
        write_placeholders: true,
        ..Default::default()
    };
    let t: Table = build(store(&loc), &spec).await.unwrap().table;
    for id in [2i64, 5, 9] {
        let req = CreateTag {
            name: TagName::new(&format!("t{id}")).unwrap(),
            source: TagSource::Snapshot(SnapshotId(id)),
            time_retained: None,
            if_not_exists: false,
        };
        create_tag(&t, &req, clock().as_ref()).await.unwrap();
    }
    let expired: Vec<String> = (1..11).map(|i| format!("snapshot/snapshot-{i}")).collect();
    t.store().delete_many(&expired).await;
    let victim = TagName::new("t5").unwrap();
    let mine: BTreeSet<String> =
        data_paths(&t, &t.load_tag(&victim).await.unwrap().tag_snapshot()).await;
    let before: BTreeSet<String> = t
        .store()
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let plan = tagkeeper::ops::delete_tag::plan(&t, std::slice::from_ref(&victim))
        .await
        .unwrap();
    assert_eq!(plan.tags[0].action, "reclaim");
    tagkeeper::ops::delete_tag::execute(&t, plan).await.unwrap();
    let after: BTreeSet<String> = t
        .store()
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    // What remains referenced, by brute force over every remaining snapshot and tag.
    let mut still = BTreeSet::new();
    for id in t.snapshot_range().await.unwrap().ids {
        still.extend(data_paths(&t, &t.try_load_snapshot(id).await.unwrap().unwrap()).await);
    }
    for tag in t.tags().await.unwrap() {
        still.extend(data_paths(&t, &tag.tag.snapshot).await);
    }
    let removed_data: BTreeSet<String> = before
        .difference(&after)
        .filter(|k| k.ends_with(".parquet"))
        .cloned()
        .collect();
    let expected: BTreeSet<String> = mine.difference(&still).cloned().collect();
    assert_eq!(removed_data, expected);
    assert!(still.is_subset(&after), "nothing referenced was deleted");
}

trait TagSnapshot {
    fn tag_snapshot(&self) -> tagkeeper::format::snapshot::Snapshot;
}

impl TagSnapshot for tagkeeper::format::tag::Tag {
    fn tag_snapshot(&self) -> tagkeeper::format::snapshot::Snapshot {
        self.snapshot.clone()
    }
}

async fn data_paths(t: &Table, s: &tagkeeper::format::snapshot::Snapshot) -> BTreeSet<String> {
    t.data_files(s, "test")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect()
}

#[tokio::test]
async fn s3_cli_round_trip() {
    let Some(loc) = location() else { return };
    let out = tagkeeper(&[
        "create-table",
        "--json",
        &loc,
        "--column",
        "id:BIGINT",
        "--column",
        "dt:STRING",
        "--partition",
        "dt",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "id,dt\n1,a\n2,b\n").unwrap();
    let out = tagkeeper(&["write", &loc, "--input", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tagkeeper(&["create-tag", &loc, "v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tagkeeper(&["files", "--json", &loc, "--tag", "v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (v["total_files"].as_i64(), v["total_rows"].as_i64()),
        (Some(2), Some(2))
    );
    let again = tagkeeper(&["create-tag", &loc, "v1"]);
    assert_eq!(again.status.code(), Some(1));
}

#[tokio::test]
async fn s3_read_returns_each_versions_rows() {
    let Some(loc) = location() else { return };
    let t = write::create_table(store(&loc), &spec(true, &[]), 1)
        .await
        .unwrap();
    let first = [(1, Some("a"), "2024-01-01"), (2, None, "2024-01-02")];
    let second = [(3, Some("long enough to be out of line"), "2024-01-02")];
    for rows in [&first[..], &second[..]] {
        append(
            &t,
            vec![batch(rows)],
            None,
            clock(),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
    }
    let sums = |v: VersionSpec, partitions: Vec<(String, String)>| {
        let t = t.clone();
        async move {
            let options = tagkeeper::read::ReadOptions {
                version: v,
                partitions,
                ..Default::default()
            };
            crate::read::checksum(&crate::read::read_all(&t, &options).await.unwrap())
        }
    };
    let want = |rows: &[(i64, Option<&str>, &str)]| {
        (
            rows.len() as u64,
            format!("{:016x}", crate::write::checksum(rows)),
        )
    };
    assert_eq!(
        sums(VersionSpec::Snapshot(SnapshotId(1)), vec![]).await,
        want(&first)
    );
    let all = [first[0], first[1], second[0]];
    assert_eq!(sums(VersionSpec::Latest, vec![]).await, want(&all));
    let day2 = vec![("dt".to_string(), "2024-01-02".to_string())];
    assert_eq!(
        sums(VersionSpec::Latest, day2).await,
        want(&[first[1], second[0]])
    );
    // The CLI over s3:// too.
    let out = tagkeeper(&["read", &loc, "--format", "csv", "--where", "dt=2024-01-01"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "id,name,dt\n1,a,2024-01-01\n");
}
