//! auto-tag on real tables: the tags Java's rules give for a history spanning days, idempotent
//! re-runs, catch-up after expiration (missed, never guessed), retention by count and by time,
//! two schedulers at once (library, processes, in-memory store), warehouse discovery, the
//! daemon, and pypaimon reading the tags.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tagkeeper::clock::ManualClock;
use tagkeeper::io::TableStore;
use tagkeeper::ops::auto_tag::{auto_tag, AutoTagReport, AutoTagRun};
use tagkeeper::ops::expire::{self, ExpireOptions};
use tagkeeper::table::Table;
use tagkeeper::write::{self, append, CommitOptions};

use crate::common::*;
use crate::oracle;
use crate::write::{batch, spec};

mod daemon;
mod robustness;

const DAILY_UTC: [(&str, &str); 2] = [
    ("tag.automatic-creation", "process-time"),
    ("sink.process-time-zone", "UTC"),
];

fn utc(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// Commit times of the standard history: snapshots 1..=6 over five days, with no commit on
/// 2024-01-03.
const HISTORY: [&str; 6] = [
    "2024-01-01 10:00",
    "2024-01-01 23:00",
    "2024-01-02 00:30",
    "2024-01-02 12:00",
    "2024-01-04 09:00",
    "2024-01-05 01:00",
];

async fn commit_at(t: &Table, id: i64, at: &str) {
    let day = &at[..10];
    let name = format!("row-{id}");
    append(
        t,
        vec![batch(&[(id, Some(name.as_str()), day)])],
        None,
        Arc::new(ManualClock::new(utc(at))),
        &CommitOptions::default(),
    )
    .await
    .unwrap();
}

async fn history_table(store: TableStore, options: &[(&str, &str)]) -> Table {
    let t = write::create_table(store, &spec(true, options), 1)
        .await
        .unwrap();
    for (i, at) in HISTORY.iter().enumerate() {
        commit_at(&t, i as i64 + 1, at).await;
    }
    t
}

async fn local_history(options: &[(&str, &str)]) -> (tempfile::TempDir, Table) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.db").join("t");
    std::fs::create_dir_all(&path).unwrap();
    let store = tagkeeper::io::open_location(path.to_str().unwrap(), &Default::default()).unwrap();
    let t = history_table(store, options).await;
    (dir, t)
}

/// Tag name → snapshot id.
async fn tags(t: &Table) -> BTreeMap<String, i64> {
    t.tags()
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.name.to_string(), n.tag.snapshot.id.0))
        .collect()
}

fn expect(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

fn outcomes(r: &AutoTagReport) -> Vec<(String, i64, &'static str)> {
    r.tags
        .iter()
        .map(|a| (a.tag.clone(), a.snapshot_id, a.outcome))
        .collect()
}

fn clock() -> ManualClock {
    ManualClock::new(utc("2024-01-05 12:00"))
}

fn run() -> AutoTagRun {
    AutoTagRun::default()
}

#[tokio::test]
async fn creates_javas_daily_tags_and_a_rerun_changes_nothing() {
    let (_d, t) = local_history(&DAILY_UTC).await;
    let r = auto_tag(&t, &run(), &clock()).await.unwrap();
    assert_eq!(r.status, "done");
    assert_eq!(r.snapshots_examined, 6);
    // Java: the first snapshot tags the previous day; then each first snapshot after a day's
    // end tags that day; 2024-01-02 has no tag because nothing was committed on 01-03
    // (completion off), so the snapshot at 01-04 09:00 tags 01-03.
    let want = expect(&[
        ("2023-12-31", 1),
        ("2024-01-01", 3),
        ("2024-01-03", 5),
        ("2024-01-04", 6),
    ]);
    assert_eq!(tags(&t).await, want);
    assert!(outcomes(&r).iter().all(|o| o.2 == "created"));
    assert!(r.missed.is_empty());

    // Again: resumes after 2024-01-04 (snapshot 6), nothing to do.
    let again = auto_tag(&t, &run(), &clock()).await.unwrap();
    assert_eq!(again.resumed_after.as_deref(), Some("2024-01-04"));
    assert_eq!(again.snapshots_examined, 0);
    assert!(again.tags.is_empty());
    assert_eq!(tags(&t).await, want);

    // A new commit after the end of 01-05 gets its tag.
    commit_at(&t, 7, "2024-01-06 02:00").await;
    let next = auto_tag(&t, &run(), &clock()).await.unwrap();
    assert_eq!(outcomes(&next), [("2024-01-05".to_string(), 7, "created")]);
    oracle::observe(Path::new(t.location())).assert_whole("after auto-tag");
}

#[tokio::test]
async fn completion_fills_missed_days_one_snapshot_at_a_time() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("tag.automatic-completion", "true"));
    let (_d, t) = local_history(&opts).await;
    auto_tag(&t, &run(), &clock()).await.unwrap();
    assert_eq!(
        tags(&t).await,
        expect(&[
            ("2023-12-31", 1),
            ("2024-01-01", 3),
            ("2024-01-02", 5),
            ("2024-01-03", 6),
        ])
    );
}

#[tokio::test]
async fn hourly_without_dashes_in_another_zone() {
    let opts = [
        ("tag.automatic-creation", "process-time"),
        ("tag.creation-period", "hourly"),
        ("tag.period-formatter", "without_dashes"),
        ("sink.process-time-zone", "Asia/Shanghai"),
    ];
    let (_d, t) = local_history(&opts).await;
    auto_tag(&t, &run(), &clock()).await.unwrap();
    // Shanghai is UTC+8: 10:00Z is 18:00 local, so the first tag is 17h of 01-01.
    assert_eq!(
        tags(&t).await,
        expect(&[
            ("20240101 17", 1),
            ("20240102 06", 2),
            ("20240102 07", 3),
            ("20240102 19", 4),
            ("20240104 16", 5),
            ("20240105 08", 6),
        ])
    );
}

#[tokio::test]
async fn periods_whose_deciding_snapshot_expired_are_reported_missed() {
    let (_d, t) = local_history(&DAILY_UTC).await;
    // Keep only snapshots 5 and 6.
    let opts = ExpireOptions {
        retain_min: 2,
        retain_max: 2,
        time_retained_millis: 0,
        expire_limit: 100,
        ignore_commit_snapshot: false,
    };
    expire::expire(&t, &opts, utc("2024-01-06 00:00"))
        .await
        .unwrap();
    let r = auto_tag(&t, &run(), &clock()).await.unwrap();
    // Snapshot 5 (01-04 09:00) is the first retained: an expired snapshot may have ended
    // 01-03 before it, so 01-03 is not tagged. Snapshot 6 ends 01-04 for certain.
    assert_eq!(r.missed.len(), 1);
    assert_eq!(r.missed[0].tags, ["2024-01-03"]);
    assert_eq!(r.missed[0].before_snapshot_id, 5);
    assert_eq!(tags(&t).await, expect(&[("2024-01-04", 6)]));
}

#[tokio::test]
async fn num_retained_max_deletes_the_oldest_automatic_tags_only() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("tag.num-retained-max", "2"));
    let (_d, t) = local_history(&opts).await;
    // A manual tag is never counted or deleted.
    tagkeeper::ops::tag::create_tag(
        &t,
        &tagkeeper::ops::tag::CreateTag {
            name: tagkeeper::format::ids::TagName::new("release").unwrap(),
            source: tagkeeper::ops::tag::TagSource::Snapshot(tagkeeper::format::ids::SnapshotId(1)),
            time_retained: None,
            if_not_exists: false,
        },
        &clock(),
    )
    .await
    .unwrap();
    let r = auto_tag(&t, &run(), &clock()).await.unwrap();
    assert_eq!(
        r.retention.as_ref().unwrap().deleted_tags,
        ["2023-12-31", "2024-01-01"]
    );
    assert_eq!(
        tags(&t).await,
        expect(&[("2024-01-03", 5), ("2024-01-04", 6), ("release", 1)])
    );
}

#[tokio::test]
async fn time_retention_is_applied_by_the_same_run_and_expired_tags_do_not_come_back() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("tag.default-time-retained", "2 d"));
    let (_d, t) = local_history(&opts).await;
    let c = clock(); // 2024-01-05 12:00
    let first = auto_tag(&t, &run(), &c).await.unwrap();
    // Java's writer would have made each tag when its snapshot was committed; the first two
    // would be past their 2 days by now: not made.
    assert_eq!(
        outcomes(&first),
        [
            ("2023-12-31".to_string(), 1, "skipped_expired"),
            ("2024-01-01".to_string(), 3, "skipped_expired"),
            ("2024-01-03".to_string(), 5, "created"),
            ("2024-01-04".to_string(), 6, "created"),
        ]
    );
    let why = first.tags[0].reason.as_deref().unwrap();
    assert!(
        why.contains("2024-01-01T10:00:00+00:00") && why.contains("(2 d)"),
        "{why}"
    );
    assert!(first
        .notes
        .iter()
        .any(|n| n.starts_with("2 tag(s) not created")));
    assert!(first.expired.as_ref().unwrap().deleted_tags.is_empty());
    assert_eq!(
        tags(&t).await,
        expect(&[("2024-01-03", 5), ("2024-01-04", 6)])
    );

    // Three days later both are past their retention (made at 01-05 12:00) and expire in the
    // run that tags the new commit.
    c.advance_millis(3 * 86_400_000);
    commit_at(&t, 7, "2024-01-07 02:00").await;
    let later = auto_tag(&t, &run(), &c).await.unwrap();
    assert_eq!(outcomes(&later), [("2024-01-06".to_string(), 7, "created")]);
    assert_eq!(
        later.expired.as_ref().unwrap().deleted_tags,
        ["2024-01-03", "2024-01-04"]
    );
    assert_eq!(tags(&t).await, expect(&[("2024-01-06", 7)]));

    // Three days more: the last automatic tag expires too.
    c.advance_millis(3 * 86_400_000);
    let r = auto_tag(&t, &run(), &c).await.unwrap();
    assert_eq!(r.expired.as_ref().unwrap().deleted_tags, ["2024-01-06"]);
    assert!(tags(&t).await.is_empty());
    // With no automatic tag left the next run starts again from the earliest snapshot, and
    // would re-create every old period's tag for another 2 days; none is made.
    let again = auto_tag(&t, &run(), &c).await.unwrap();
    assert_eq!(again.snapshots_examined, 7);
    assert_eq!(
        outcomes(&again),
        [
            ("2023-12-31".to_string(), 1, "skipped_expired"),
            ("2024-01-01".to_string(), 3, "skipped_expired"),
            ("2024-01-03".to_string(), 5, "skipped_expired"),
            ("2024-01-04".to_string(), 6, "skipped_expired"),
            ("2024-01-06".to_string(), 7, "skipped_expired"),
        ]
    );
    assert!(tags(&t).await.is_empty());
}

#[tokio::test]
async fn dry_run_plans_exactly_what_a_run_does() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("tag.num-retained-max", "3"));
    let (_d, t) = local_history(&opts).await;
    let plan = auto_tag(
        &t,
        &AutoTagRun {
            dry_run: true,
            ..run()
        },
        &clock(),
    )
    .await
    .unwrap();
    assert!(tags(&t).await.is_empty(), "a dry run changes nothing");
    let planned: Vec<(String, i64)> = plan
        .tags
        .iter()
        .map(|a| {
            assert_eq!(a.outcome, "would_create");
            (a.tag.clone(), a.snapshot_id)
        })
        .collect();
    let done = auto_tag(&t, &run(), &clock()).await.unwrap();
    let created: Vec<(String, i64)> = done
        .tags
        .iter()
        .map(|a| (a.tag.clone(), a.snapshot_id))
        .collect();
    assert_eq!(planned, created);
    // The tag over the maximum is one that does not exist yet in the dry run, so the plan
    // names it as not found; the run deletes it.
    assert_eq!(plan.retention.as_ref().unwrap().not_found, ["2023-12-31"]);
    assert_eq!(
        done.retention.as_ref().unwrap().deleted_tags,
        ["2023-12-31"]
    );
}

/// Two schedulers at once on one table: the same tags, each created exactly once, no error.
async fn two_schedulers(t: &Table) {
    let other = Table::new(t.store().clone());
    let (r, c) = (run(), clock());
    let (a, b) = tokio::join!(auto_tag(t, &r, &c), auto_tag(&other, &r, &c));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut created: BTreeMap<String, usize> = BTreeMap::new();
    for act in a.tags.iter().chain(&b.tags) {
        assert!(
            act.outcome == "created" || act.outcome == "exists",
            "{act:?}"
        );
        if act.outcome == "created" {
            *created.entry(act.tag.clone()).or_default() += 1;
        }
    }
    let want = expect(&[
        ("2023-12-31", 1),
        ("2024-01-01", 3),
        ("2024-01-03", 5),
        ("2024-01-04", 6),
    ]);
    assert_eq!(tags(t).await, want);
    assert!(created.values().all(|n| *n == 1), "{created:?}");
    assert_eq!(created.len(), want.len(), "{created:?}");
}

#[tokio::test]
async fn two_schedulers_on_the_local_filesystem() {
    let (_d, t) = local_history(&DAILY_UTC).await;
    two_schedulers(&t).await;
}

#[tokio::test]
async fn two_schedulers_on_the_in_memory_store() {
    let t = history_table(TableStore::in_memory("wh/default.db/t"), &DAILY_UTC).await;
    two_schedulers(&t).await;
}

#[tokio::test]
async fn pypaimon_reads_the_scheduled_tags() {
    let Ok(py) = std::env::var("TAGKEEPER_PYTHON") else {
        skipped("pypaimon reading auto-tags: set TAGKEEPER_PYTHON (bash scripts/test.sh does)");
        return;
    };
    let (_d, t) = local_history(&DAILY_UTC).await;
    auto_tag(&t, &run(), &clock()).await.unwrap();
    let n = crate::interop::assert_pypaimon_agrees(&py, Path::new(t.location()));
    // 6 snapshots and 4 tags.
    assert_eq!(n, 10);
}

/// A warehouse with an enabled table, a table without auto-tag, and a broken one.
async fn warehouse() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    for (name, opts) in [("a", &DAILY_UTC[..]), ("b", &[][..])] {
        let path = wh.join("default.db").join(name);
        std::fs::create_dir_all(&path).unwrap();
        let store =
            tagkeeper::io::open_location(path.to_str().unwrap(), &Default::default()).unwrap();
        history_table(store, opts).await;
    }
    (dir, wh)
}

fn break_table(wh: &Path) {
    let broken = wh.join("other.db").join("c").join("schema");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("schema-0"), b"{ not json").unwrap();
}

#[tokio::test]
async fn cli_warehouse_one_shot_reports_a_broken_table_and_does_the_rest() {
    let (_d, wh) = warehouse().await;
    break_table(&wh);
    let out = tagkeeper(&["auto-tag", "--warehouse", wh.to_str().unwrap(), "--json"]);
    // Incomplete (the failure policy): exit 2, the one report carrying the error.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["failed"], 1);
    assert_eq!(doc["error"]["kind"], "incomplete", "{doc:#}");
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(
        tables.len(),
        2,
        "b has no auto-tag and is not listed: {doc:#}"
    );
    let by_name = |suffix: &str| {
        tables
            .iter()
            .find(|t| t["table"].as_str().unwrap().ends_with(suffix))
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("default.db/a")["status"], "done");
    assert_eq!(by_name("default.db/a")["tags"].as_array().unwrap().len(), 4);
    let c = by_name("other.db/c");
    assert_eq!(c["status"], "failed");
    assert!(c["message"].as_str().unwrap().contains("schema-0"), "{c}");
    // Only one database: no failure.
    let out = tagkeeper(&[
        "auto-tag",
        "--warehouse",
        wh.to_str().unwrap(),
        "--database",
        "default",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 snapshot(s) examined"),
        "{}",
        stdout(&out)
    );
    // Flags override options: table b, named explicitly, with --mode.
    let b = wh.join("default.db").join("b");
    let out = tagkeeper(&[
        "auto-tag",
        b.to_str().unwrap(),
        "--mode",
        "process-time",
        "--time-zone",
        "UTC",
        "--period",
        "hourly",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let planned: Vec<&str> = doc["tables"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(
        planned,
        [
            "2024-01-01 09",
            "2024-01-01 22",
            "2024-01-01 23",
            "2024-01-02 11",
            "2024-01-04 08",
            "2024-01-05 00"
        ]
    );
}

#[tokio::test]
async fn two_scheduler_processes_on_one_warehouse() {
    let (_d, wh) = warehouse().await;
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
            .args(["auto-tag", "--warehouse", wh.to_str().unwrap(), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p1, p2) = (spawn(), spawn());
    let (o1, o2) = (
        p1.wait_with_output().unwrap(),
        p2.wait_with_output().unwrap(),
    );
    let mut created = 0;
    for o in [&o1, &o2] {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        for t in doc["tables"][0]["tags"].as_array().unwrap() {
            assert!(t["outcome"] == "created" || t["outcome"] == "exists", "{t}");
            created += usize::from(t["outcome"] == "created");
        }
    }
    assert_eq!(created, 4, "each tag created by exactly one process");
    let t = open(&wh.join("default.db").join("a")).await;
    assert_eq!(tags(&t).await.len(), 4);
}

#[tokio::test]
async fn daemon_tags_new_commits_survives_a_failing_table_and_stops_on_sigterm() {
    let (_d, wh) = warehouse().await;
    break_table(&wh);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
        .args([
            "auto-tag",
            "--warehouse",
            wh.to_str().unwrap(),
            "--every",
            "1s",
            "--json",
            // The broken table stays broken: keep going until the signal.
            "--max-failed-rounds",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    // The daemon's events are its log: JSON lines on stderr.
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not one JSON line: {line:?}: {e}"));
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    let wait_for = |pred: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(v) = rx.recv_timeout(Duration::from_millis(200)) {
                let hit = pred(&v);
                seen.push(v);
                if hit {
                    return seen;
                }
            }
        }
        panic!("daemon did not log the expected line; saw {seen:?}");
    };
    let first = wait_for(&|v| v["tag"] == "2024-01-04");
    // The broken table is reported; the good one is tagged anyway.
    let failed: Vec<&Value> = first.iter().filter(|v| v["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{first:?}");
    assert!(failed[0]["table"].as_str().unwrap().ends_with("other.db/c"));
    assert!(failed[0]["error"].as_str().unwrap().contains("schema-0"));
    let created: Vec<&Value> = first.iter().filter(|v| v["outcome"] == "created").collect();
    assert_eq!(created.len(), 4, "{first:?}");
    assert!(created
        .iter()
        .all(|v| v["table"].as_str().unwrap().ends_with("default.db/a") && v["time"].is_string()));
    // A commit while it runs is tagged in a later round.
    let t = open(&wh.join("default.db").join("a")).await;
    commit_at(&t, 7, "2024-01-06 02:00").await;
    let later = wait_for(&|v| v["tag"] == "2024-01-05");
    assert_eq!(later.last().unwrap()["outcome"], "created");
    assert_eq!(later.last().unwrap()["snapshot_id"], 7);
    // The failing table is retried in later rounds: its same error is not logged again,
    // but each round's summary counts it.
    assert!(
        later.iter().all(|v| v["outcome"] != "failed"),
        "the same error is logged once: {later:?}"
    );
    let summaries: Vec<&Value> = later.iter().filter(|v| v["event"] == "round").collect();
    assert!(!summaries.is_empty(), "{later:?}");
    assert!(
        summaries
            .iter()
            .all(|v| v["failed"] == 1 && v["tables"] == 2 && v["done"] == 1),
        "{summaries:?}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = wait_for(&|v| v["event"] == "stopped");
    assert_eq!(stopped.last().unwrap()["exit_code"], 2);
    let code = child.wait().unwrap();
    // Stopped by the signal, but the last round had a failing table.
    assert_eq!(code.code(), Some(2));
    assert_eq!(tags(&t).await.len(), 5);
}

/// A table named on the command line without auto-tag is reported `disabled` once, not in
/// every round: steady-state lines are logged once by the daemon.
#[tokio::test]
async fn daemon_logs_steady_state_lines_once() {
    let (_d, wh) = warehouse().await;
    let (a, b) = (wh.join("default.db/a"), wh.join("default.db/b"));
    let child = Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
        .args(["auto-tag", a.to_str().unwrap(), b.to_str().unwrap()])
        .args(["--every", "1s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Four rounds or more.
    std::thread::sleep(Duration::from_millis(4500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "the daemon logs on stderr only");
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |outcome: &str| lines.iter().filter(|v| v["outcome"] == outcome).count();
    assert_eq!(count("created"), 4, "{lines:?}");
    assert_eq!(count("disabled"), 1, "{lines:?}");
    // One summary per round; the disabled table counts as skipped, not failed.
    let rounds: Vec<&Value> = lines.iter().filter(|v| v["event"] == "round").collect();
    assert!(rounds.len() >= 4, "{lines:?}");
    for (i, r) in rounds.iter().enumerate() {
        assert_eq!(r["round"], i + 1);
        assert_eq!(
            (&r["done"], &r["skipped"], &r["failed"]),
            (&1.into(), &1.into(), &0.into())
        );
    }
    assert_eq!(rounds[0]["tags_created"], 4);
    assert!(rounds[1..].iter().all(|r| r["tags_created"] == 0));
    assert_eq!(
        lines.last().map(|v| v["event"].clone()),
        Some(Value::from("stopped"))
    );
}

#[tokio::test]
async fn maintain_runs_auto_tag_first() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("snapshot.num-retained.min", "2"));
    opts.push(("snapshot.num-retained.max", "2"));
    let (_d, t) = local_history(&opts).await;
    let c = clock();
    let r = tagkeeper::ops::expire_tags::maintain(&t, &c, false)
        .await
        .unwrap();
    // The tags were made before snapshots 1..=4 expired, so every period is tagged.
    assert_eq!(r.auto_tag.as_ref().unwrap().tags.len(), 4);
    assert_eq!(r.snapshots.plan.expired_snapshots, [1, 2, 3, 4]);
    assert_eq!(
        tags(&t).await,
        expect(&[
            ("2023-12-31", 1),
            ("2024-01-01", 3),
            ("2024-01-03", 5),
            ("2024-01-04", 6),
        ])
    );
    oracle::observe(Path::new(t.location())).assert_whole("after maintain");
}

#[tokio::test]
async fn expire_tags_applies_num_retained_max_to_automatic_tags() {
    let (_d, t) = local_history(&DAILY_UTC).await;
    auto_tag(&t, &run(), &clock()).await.unwrap();
    // The maximum is lowered afterwards (as a user would, with ALTER TABLE): expire-tags
    // deletes the oldest automatic tags beyond it, and only those.
    let store = t.store().clone();
    let schema = t.latest_schema().await.unwrap();
    let mut raw = schema.raw().clone();
    raw.insert("id".into(), serde_json::json!(1));
    raw["options"]["tag.num-retained-max"] = serde_json::json!("1");
    store
        .put_create("schema/schema-1", serde_json::to_vec(&raw).unwrap().into())
        .await
        .unwrap();
    let r = tagkeeper::ops::expire_tags::expire_tags(&t, &clock(), None, false)
        .await
        .unwrap();
    assert_eq!(r.deleted_tags, ["2023-12-31", "2024-01-01", "2024-01-03"]);
    assert_eq!(tags(&t).await, expect(&[("2024-01-04", 6)]));
}
