//! The core suite against a real S3 protocol server (moto, one request at a time, started by
//! scripts/with-moto.sh, which sets TAGKEEPER_S3_URL and the AWS_* variables). Through s3://
//! URLs: the conditional-create self-test, commit races, tag-create races, delete-tag, and the
//! CLI. Without the server these tests are skipped with a message.

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
    assert_eq!(
        plan.tags[0].action,
        tagkeeper::ops::delete_tag::TagAction::Reclaim
    );
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
async fn s3_two_auto_taggers_create_each_tag_once() {
    let Some(loc) = location() else { return };
    let t = write::create_table(
        store(&loc),
        &spec(
            true,
            &[
                ("tag.automatic-creation", "process-time"),
                ("sink.process-time-zone", "UTC"),
                ("tag.creation-period", "hourly"),
            ],
        ),
        1,
    )
    .await
    .unwrap();
    let c = clock();
    for i in 0..4i64 {
        // One commit every 90 minutes.
        append(
            &t,
            vec![batch(&[(i, Some("r"), "2024-01-01")])],
            None,
            c.clone(),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        c.advance_millis(90 * 60_000);
    }
    let other = Table::new(store(&loc));
    let run = tagkeeper::ops::auto_tag::AutoTagRun::default();
    let (a, b) = tokio::join!(
        tagkeeper::ops::auto_tag::auto_tag(&t, &run, c.as_ref()),
        tagkeeper::ops::auto_tag::auto_tag(&other, &run, c.as_ref())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let created: Vec<&str> = a
        .tags
        .iter()
        .chain(&b.tags)
        .filter(|x| x.outcome == "created")
        .map(|x| x.tag.as_str())
        .collect();
    assert_eq!(created.len(), 4, "{a:?} {b:?}");
    // Commits at 00:00, 01:30, 03:00, 04:30 UTC on 2024-01-01.
    let names: BTreeSet<String> = t
        .tag_names()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    let want: BTreeSet<String> = [
        "2023-12-31 23",
        "2024-01-01 00",
        "2024-01-01 02",
        "2024-01-01 03",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, want);
}

#[tokio::test]
async fn s3_remove_orphan_files_deletes_exactly_the_old_orphans() {
    use tagkeeper::clock::{Clock, ManualClock, SystemClock};
    use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions};
    let Some(loc) = location() else { return };
    // pypaimon's rolled_back table, uploaded as is: its rollback leftover (3 data files, 3
    // manifests, 6 manifest lists) is orphaned; plus planted files.
    let s = store(&loc);
    let fixture_dir = fixture("rolled_back");
    for key in crate::fixtures::walk(&fixture_dir) {
        let bytes = std::fs::read(fixture_dir.join(&key)).unwrap();
        s.put_overwrite(&key, bytes.into()).await.unwrap();
    }
    let u = uuid::Uuid::new_v4();
    let planted = [
        format!("bucket-0/data-{u}-0.parquet"),
        format!("manifest/manifest-{u}-0"),
        format!("snapshot/.snapshot-5.{u}.tmp"),
    ];
    let unknown = [
        "bucket-0/notes.txt".to_string(),
        "snapshot/snapshot-5.tmp".to_string(),
    ];
    for k in planted
        .iter()
        .chain(&unknown)
        .chain(["_tagkeeper/plans/expire-2.json".to_string()].iter())
    {
        s.put_overwrite(k, bytes::Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let before: BTreeSet<String> = s
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let all: std::collections::BTreeMap<String, u64> = crate::orphans::files(&fixture_dir);
    let old: BTreeSet<String> = all.keys().cloned().collect();
    let mut want = crate::orphans::expected_orphans(&fixture_dir, &all, &old, &BTreeSet::new());
    assert_eq!(want.len(), 12, "the rollback leftover");
    want.extend(planted.iter().cloned());

    // Every object on the server is minutes old: a clock two days ahead puts the default
    // cutoff (a day before "now") after them all.
    let clock = ManualClock::new(SystemClock.now_millis() + 2 * 86_400_000);
    let t = Table::open(&loc, &StoreOptions::default()).await.unwrap();
    let dry = remove_orphan_files(&t, &OrphanOptions::default(), true, &clock)
        .await
        .unwrap();
    let listed: BTreeSet<String> = dry.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(listed, want);
    let reported: BTreeSet<String> = dry.unknown_files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(reported, unknown.iter().cloned().collect());
    let r = remove_orphan_files(&t, &OrphanOptions::default(), false, &clock)
        .await
        .unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let after: BTreeSet<String> = s
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(after, before.difference(&want).cloned().collect());
    let c = tagkeeper::ops::check::check(&t, &tagkeeper::ops::check::CheckOptions { deep: true })
        .await
        .unwrap();
    // The planted `snapshot-5.tmp` is flagged (it breaks Java's listing); nothing else.
    let flagged: Vec<&str> = c.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(flagged, vec!["snapshot/snapshot-5.tmp"]);
    assert_eq!((c.snapshots, c.tags, c.footers_read), (4, 1, 4));
    // Without the default-cutoff clock nothing is old enough: a real run now deletes nothing.
    let again = remove_orphan_files(&t, &OrphanOptions::default(), false, &SystemClock)
        .await
        .unwrap();
    assert!(again.files.is_empty());
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

/// A table on S3 with 8 commits (every third an overwrite) and a tag on snapshot 3.
async fn s3_history(loc: &str, options: &[(&str, &str)]) -> Table {
    let t = write::create_table(store(loc), &spec(true, options), 1)
        .await
        .unwrap();
    let c = clock();
    for i in 0..8i64 {
        append(
            &t,
            vec![batch(&[(
                i,
                Some("r"),
                ["2024-01-01", "2024-01-02"][(i % 2) as usize],
            )])],
            (i % 3 == 2).then_some(write::OverwriteScope::Dynamic),
            c.clone(),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        c.advance_millis(90 * 60_000);
    }
    let req = CreateTag {
        name: TagName::new("keep").unwrap(),
        source: TagSource::Snapshot(SnapshotId(3)),
        time_retained: None,
        if_not_exists: false,
    };
    create_tag(&t, &req, c.as_ref()).await.unwrap();
    t
}

async fn s3_whole(t: &Table, context: &str) {
    let r = tagkeeper::ops::check::check(t, &tagkeeper::ops::check::CheckOptions { deep: true })
        .await
        .unwrap();
    assert!(r.whole, "{context}: {:?}", r.problems);
}

#[tokio::test]
async fn s3_expire_and_rollback_keep_every_version_whole() {
    let Some(loc) = location() else { return };
    let t = s3_history(&loc, &[]).await;
    let tag_files_before = t
        .data_files(
            &t.load_tag(&TagName::new("keep").unwrap())
                .await
                .unwrap()
                .snapshot,
            "tag",
        )
        .await
        .unwrap()
        .len();
    let opts = tagkeeper::ops::expire::ExpireOptions {
        retain_min: 3,
        retain_max: 3,
        time_retained_millis: 0,
        expire_limit: 100,
        ignore_commit_snapshot: false,
    };
    let r = tagkeeper::ops::expire::expire(&t, &opts, 4_000_000_000_000)
        .await
        .unwrap();
    assert_eq!(r.plan.expired_snapshots, [1, 2, 3, 4, 5]);
    assert!(
        !r.plan.files.is_empty(),
        "overwritten files only expired snapshots kept are deleted"
    );
    s3_whole(&t, "after expire on S3").await;
    // The tag still reads all of its files.
    let tag = t.load_tag(&TagName::new("keep").unwrap()).await.unwrap();
    assert_eq!(
        t.data_files(&tag.snapshot, "tag").await.unwrap().len(),
        tag_files_before
    );
    // Destructive rollback to snapshot 7, with purge.
    let done = tagkeeper::ops::rollback::execute(
        &t,
        &tagkeeper::ops::rollback::RollbackTarget::Snapshot(SnapshotId(7)),
        tagkeeper::ops::rollback::RollbackMode::Destructive { purge: true },
        clock().as_ref(),
    )
    .await
    .unwrap();
    assert!(!done.dry_run);
    assert_eq!(t.latest_snapshot_id().await.unwrap(), Some(SnapshotId(7)));
    s3_whole(&t, "after rollback on S3").await;
}

#[tokio::test]
async fn s3_two_auto_tag_processes_create_each_tag_once() {
    let Some(loc) = location() else { return };
    s3_history(
        &loc,
        &[
            ("tag.automatic-creation", "process-time"),
            ("sink.process-time-zone", "UTC"),
            ("tag.creation-period", "hourly"),
        ],
    )
    .await;
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
            .args(["auto-tag", &loc, "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p1, p2) = (spawn(), spawn());
    let mut created = Vec::new();
    for o in [
        p1.wait_with_output().unwrap(),
        p2.wait_with_output().unwrap(),
    ] {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        for a in doc["tables"][0]["tags"].as_array().unwrap() {
            assert!(a["outcome"] == "created" || a["outcome"] == "exists", "{a}");
            if a["outcome"] == "created" {
                created.push(a["tag"].as_str().unwrap().to_string());
            }
        }
    }
    created.sort();
    // Commits every 90 minutes from 2024-01-01 00:00 UTC: 8 hourly tags, each created once.
    assert_eq!(created.len(), 8, "{created:?}");
    created.dedup();
    assert_eq!(created.len(), 8, "a tag was created twice");
    let t = Table::new(store(&loc));
    assert_eq!(
        t.tag_names().await.unwrap().len(),
        9,
        "8 automatic tags and 'keep'"
    );
}

/// Run the CLI with the AWS variables of with-moto.sh replaced by `vars`.
fn tagkeeper_env(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tagkeeper"));
    c.args(args);
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
    ] {
        c.env_remove(k);
    }
    c.envs(vars.iter().copied());
    c.output().unwrap()
}

/// Credentials, region and endpoint from an AWS profile (`AWS_PROFILE` in `~/.aws/…`) when
/// the variables are not set; a missing profile, a refused endpoint and a missing bucket are
/// errors that say what to do, and the profile's secret never shows.
#[tokio::test]
async fn s3_credentials_from_an_aws_profile_and_hints() {
    let Some(loc) = location() else { return };
    let endpoint = std::env::var("AWS_ENDPOINT").unwrap();
    let out = tagkeeper(&["create-table", &loc, "--column", "id:BIGINT"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    let secret = "profile-secret-value-7f3a";
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!("[default]\naws_access_key_id = wrong\n\n[ci]\naws_access_key_id = testing\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!("[profile ci]\nregion = us-east-1\nendpoint_url = {endpoint}\n\n[profile refused]\naws_access_key_id = a\naws_secret_access_key = {secret}\nregion = us-east-1\nendpoint_url = http://127.0.0.1:1\n"),
    )
    .unwrap();
    let h = home.path().to_str().unwrap();
    let schema = |vars: &[(&str, &str)]| tagkeeper_env(&["schema", "--json", &loc], vars);

    let with_env = tagkeeper(&["schema", "--json", &loc]);
    let with_profile = schema(&[("HOME", h), ("AWS_PROFILE", "ci")]);
    assert!(with_profile.status.success(), "{}", stderr(&with_profile));
    assert_eq!(stdout(&with_profile), stdout(&with_env));

    // A profile that is not there: a user error naming both files.
    let out = schema(&[("HOME", h), ("AWS_PROFILE", "nope")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["error"]["kind"], "invalid_location");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(&format!(
            "AWS_PROFILE=nope: no [nope] in {h}/.aws/credentials"
        )),
        "{v}"
    );

    // The profile's endpoint refuses connections: the hint says so; no secret anywhere.
    let out = schema(&[("HOME", h), ("AWS_PROFILE", "refused")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["error"]["kind"], "storage");
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("nothing accepts connections at the endpoint"),
        "{v}"
    );
    assert!(
        stderr(&out).contains("\nhint: nothing accepts connections"),
        "{}",
        stderr(&out)
    );
    for o in [&out, &with_profile] {
        assert!(!stdout(o).contains(secret) && !stderr(o).contains(secret));
    }

    // A bucket that does not exist (the server's NoSuchBucket).
    let missing = format!("s3://no-such-bucket-{}/t", uuid::Uuid::new_v4());
    let out = tagkeeper(&["schema", "--json", &missing]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap_or_default()
            .starts_with("the bucket (container) does not exist"),
        "{v}"
    );
}
