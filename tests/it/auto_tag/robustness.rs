//! auto-tag when things go wrong or race: unreadable tables and databases in a warehouse, a
//! snapshot expiring between the walk and the create, tags appearing while a dry run plans,
//! the table-concurrency limit, and the CLI flags that override table options.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use serde_json::Value;
use tagkeeper::io::fault::{FaultHandle, FaultStore, InjectedError};
use tagkeeper::io::{RetryPolicy, TableStore};
use tagkeeper::ops::auto_tag::{
    auto_tag, auto_tag_targets, discover, settings, AutoTagRun, Target,
};
use tagkeeper::table::Table;

use super::{
    clock, expect, history_table, local_history, outcomes, run, tags, warehouse, DAILY_UTC,
};
use crate::common::*;

/// A store over a local directory that injects faults, retrying quickly.
fn faulty_store(path: &std::path::Path) -> (TableStore, FaultHandle) {
    let local = object_store::local::LocalFileSystem::new_with_prefix(path).unwrap();
    let fault = FaultStore::new(Arc::new(local));
    let h = fault.handle();
    let store = TableStore::new(Arc::new(fault), "", 8, path.display().to_string()).with_retry(
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
            budget: Duration::from_secs(60),
        },
    );
    (store, h)
}

type Action = Box<dyn FnOnce() + Send>;

/// Run `action` once, just before the first request (from now on) of this kind whose path
/// contains `needle`.
fn before_first(
    h: &FaultHandle,
    kind: &'static str,
    needle: &'static str,
    action: impl FnOnce() + Send + 'static,
) {
    let action: Arc<Mutex<Option<Action>>> = Arc::new(Mutex::new(Some(Box::new(action))));
    let from = h.requests() + 1;
    for k in from..from + 2_000 {
        let (h2, action) = (h.clone(), Arc::clone(&action));
        h.before_request(
            k,
            async move {
                let hit = h2
                    .log()
                    .iter()
                    .any(|(n, kd, path)| *n == k && *kd == kind && path.contains(needle));
                if hit {
                    if let Some(a) = action.lock().unwrap().take() {
                        a();
                    }
                }
            }
            .boxed(),
        );
    }
}

#[tokio::test]
async fn discovery_reports_unreadable_tables_and_databases_and_goes_on() {
    let (_d, wh) = warehouse().await;
    // Another enabled table in another database, and a database that cannot be listed.
    let c = wh.join("other.db").join("c");
    std::fs::create_dir_all(&c).unwrap();
    history_table(
        tagkeeper::io::open_location(c.to_str().unwrap(), &Default::default()).unwrap(),
        &DAILY_UTC,
    )
    .await;
    std::fs::create_dir_all(wh.join("bad.db").join("d").join("schema")).unwrap();
    let (store, h) = faulty_store(&wh);
    h.fail_paths_containing("bad.db", InjectedError::PermissionDenied);
    h.fail_paths_containing("default.db/a/schema", InjectedError::PermissionDenied);

    let found = discover(&store, &[], &[], &|| false).await.unwrap();
    let targets: Vec<&str> = found.targets.iter().map(|t| t.table.location()).collect();
    assert_eq!(targets, [format!("{}/other.db/c", wh.display())]);
    let mut failed: Vec<(String, String)> = found
        .failed
        .iter()
        .map(|(l, e)| (l.clone(), e.to_string()))
        .collect();
    failed.sort();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, format!("{}/bad.db", wh.display()));
    assert_eq!(failed[1].0, format!("{}/default.db/a", wh.display()));
    assert!(failed[1].1.contains("schema"), "{failed:?}");

    // A stop request ends discovery before any table is examined.
    let stopped = discover(&store, &[], &[], &|| true).await.unwrap();
    assert!(stopped.targets.is_empty() && stopped.failed.is_empty());
}

#[tokio::test]
async fn a_snapshot_expired_before_its_tag_is_created_is_missed_and_the_run_goes_on() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("tag.num-retained-max", "2"));
    let (_d, t) = local_history(&opts).await;
    let path = std::path::PathBuf::from(t.location());
    let (store, h) = faulty_store(&path);
    // Snapshot 1 expires (as by a concurrent expire-snapshots) just as its tag is written:
    // the walk saw it, the create's check afterwards does not.
    let snapshot_1 = path.join("snapshot").join("snapshot-1");
    before_first(&h, "put", "tag/tag-2023-12-31", move || {
        std::fs::remove_file(&snapshot_1).unwrap();
    });
    let r = auto_tag(&Table::new(store), &run(), &clock())
        .await
        .unwrap();
    assert_eq!(r.status, "done");
    assert_eq!(r.missed.len(), 1, "{r:?}");
    assert_eq!(r.missed[0].tags, ["2023-12-31"]);
    assert_eq!(r.missed[0].before_snapshot_id, 1);
    assert!(
        r.missed[0]
            .reason
            .starts_with("snapshot 1 expired before its tag could be created"),
        "{}",
        r.missed[0].reason
    );
    // The later periods are tagged and retention still runs.
    assert_eq!(
        outcomes(&r),
        [
            ("2024-01-01".to_string(), 3, "created"),
            ("2024-01-03".to_string(), 5, "created"),
            ("2024-01-04".to_string(), 6, "created"),
        ]
    );
    assert_eq!(r.retention.as_ref().unwrap().deleted_tags, ["2024-01-01"]);
    assert_eq!(
        tags(&t).await,
        expect(&[("2024-01-03", 5), ("2024-01-04", 6)])
    );
}

/// A table whose tags `2024-01-01` (on snapshot 2) and `2024-01-03` (on snapshot 5) appear
/// right after auto-tag listed the tags: another scheduler, or a Java writer in another zone,
/// was faster.
async fn racing_table() -> (tempfile::TempDir, Table) {
    let (d, t) = local_history(&DAILY_UTC).await;
    let path = std::path::PathBuf::from(t.location());
    let (store, h) = faulty_store(&path);
    before_first(&h, "get", "snapshot/snapshot-", move || {
        let tag_dir = path.join("tag");
        std::fs::create_dir_all(&tag_dir).unwrap();
        for (name, id) in [("2024-01-01", 2), ("2024-01-03", 5)] {
            let snapshot = path.join("snapshot").join(format!("snapshot-{id}"));
            std::fs::copy(snapshot, tag_dir.join(format!("tag-{name}"))).unwrap();
        }
    });
    (d, Table::new(store))
}

#[tokio::test]
async fn a_dry_run_reports_tags_that_appear_while_it_plans_as_a_run_would() {
    let summary = |r: &tagkeeper::ops::auto_tag::AutoTagReport| -> Vec<(String, i64, &'static str, Option<i64>)> {
        r.tags
            .iter()
            .map(|a| (a.tag.clone(), a.snapshot_id, a.outcome, a.existing_snapshot_id))
            .collect()
    };
    let (_d, t) = racing_table().await;
    let dry = AutoTagRun {
        dry_run: true,
        ..run()
    };
    let planned = auto_tag(&t, &dry, &clock()).await.unwrap();
    assert_eq!(
        summary(&planned),
        [
            ("2023-12-31".to_string(), 1, "would_create", None),
            ("2024-01-01".to_string(), 3, "exists_elsewhere", Some(2)),
            ("2024-01-03".to_string(), 5, "exists", None),
            ("2024-01-04".to_string(), 6, "would_create", None),
        ]
    );
    // A real run in the same race reports the same, with `created` for `would_create`.
    let (_e, t) = racing_table().await;
    let done = auto_tag(&t, &run(), &clock()).await.unwrap();
    assert_eq!(
        summary(&done),
        [
            ("2023-12-31".to_string(), 1, "created", None),
            ("2024-01-01".to_string(), 3, "exists_elsewhere", Some(2)),
            ("2024-01-03".to_string(), 5, "exists", None),
            ("2024-01-04".to_string(), 6, "created", None),
        ]
    );
}

#[tokio::test]
async fn table_concurrency_bounds_the_tables_in_progress() {
    let fault = Arc::new(FaultStore::new(Arc::new(
        object_store::memory::InMemory::new(),
    )));
    let h = fault.handle();
    let mut targets = Vec::new();
    for i in 0..5 {
        let root = format!("wh/default.db/t{i}");
        let store = TableStore::new(fault.clone(), &root, 8, format!("memory:///{root}"));
        let table = history_table(store, &DAILY_UTC).await;
        let setting = settings(&table, &[]).await.unwrap();
        targets.push(Target { table, setting });
    }
    h.reset();
    // Slow requests, so that tables would overlap if nothing held them back.
    h.set_latency(Duration::from_millis(2));
    let reports = auto_tag_targets(targets, &run(), &clock(), 2, &|| false).await;
    assert_eq!(reports.len(), 5);
    assert!(reports
        .iter()
        .all(|r| r.status == "done" && r.tags.len() == 4));
    // Each table's requests span an interval of the request log; a table is in progress at
    // least over its interval, so no more than 2 intervals may overlap anywhere.
    let mut span: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (n, _, path) in h.log() {
        let table = path.split('/').nth(2).unwrap().to_string();
        let e = span.entry(table).or_insert((n, n));
        e.1 = n;
    }
    assert_eq!(span.len(), 5);
    let max_overlap = span
        .values()
        .map(|(first, _)| {
            span.values()
                .filter(|(a, b)| a <= first && first <= b)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(max_overlap, 2, "{span:?}");
}

#[tokio::test]
async fn cli_flags_override_table_options() {
    let dir = tempfile::tempdir().unwrap();
    // Options every flag below contradicts.
    let opts = [
        ("tag.automatic-creation", "process-time"),
        ("sink.process-time-zone", "UTC"),
        ("tag.period-formatter", "with_dashes"),
        ("tag.creation-delay", "0 s"),
        ("tag.automatic-completion", "true"),
        ("tag.num-retained-max", "1"),
        ("tag.default-time-retained", "1 d"),
    ];
    let mut paths = Vec::new();
    for name in ["x", "y"] {
        let path = dir.path().join("default.db").join(name);
        std::fs::create_dir_all(&path).unwrap();
        let store =
            tagkeeper::io::open_location(path.to_str().unwrap(), &Default::default()).unwrap();
        history_table(store, &opts).await;
        paths.push(path.to_str().unwrap().to_string());
    }
    let json = |out: &std::process::Output| -> Value {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        serde_json::from_str(&stdout(out)).unwrap()
    };
    let tag_outcomes = |doc: &Value| -> Vec<(String, String)> {
        doc["tables"][0]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["tag"].as_str().unwrap().to_string(),
                    t["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    // As the table says: the history is from 2024, so with 1 d of retention every tag would
    // be expired on creation.
    let doc = json(&tagkeeper(&["auto-tag", &paths[1], "--dry-run", "--json"]));
    let as_is = tag_outcomes(&doc);
    assert_eq!(as_is.len(), 4, "{as_is:?}");
    assert!(
        as_is.iter().all(|(_, o)| o == "skipped_expired"),
        "{as_is:?}"
    );

    // --formatter, --delay, --completion, --num-retained-max, --time-retained.
    let doc = json(&tagkeeper(&[
        "auto-tag",
        &paths[0],
        "--formatter",
        "without_dashes",
        "--delay",
        "1h",
        "--completion",
        "false",
        "--num-retained-max",
        "3",
        "--time-retained",
        "36500d",
        "--json",
    ]));
    // With the delay, 2024-01-01 ends at snapshot 4 (01-02 12:00), not 3 (00:30); without
    // completion the empty 01-02 gets no tag.
    let t = open(std::path::Path::new(&paths[0])).await;
    assert_eq!(
        tags(&t).await,
        expect(&[("20240101", 4), ("20240103", 5), ("20240104", 6)])
    );
    assert_eq!(doc["tables"][0]["retention"]["deleted_tags"][0], "20231231");
    for tag in t.tags().await.unwrap() {
        assert_eq!(
            tag.tag.time_retained,
            Some(Duration::from_secs(36_500 * 86_400)),
            "{}",
            tag.name
        );
    }

    // --period-duration, and --option for completion and retention.
    let doc = json(&tagkeeper(&[
        "auto-tag",
        &paths[1],
        "--period-duration",
        "12h",
        "--option",
        "tag.automatic-completion=false",
        "--option",
        "tag.default-time-retained=36500d",
        "--dry-run",
        "--json",
    ]));
    let names: Vec<String> = tag_outcomes(&doc)
        .into_iter()
        .map(|(n, o)| {
            assert_eq!(o, "would_create");
            n
        })
        .collect();
    assert_eq!(
        names,
        [
            "202312311200",
            "202401010000",
            "202401011200",
            "202401020000",
            "202401031200",
            "202401041200"
        ]
    );

    // A maximum of 0 would delete every tag as it is made: refused.
    let out = tagkeeper(&[
        "auto-tag",
        &paths[1],
        "--num-retained-max",
        "0",
        "--dry-run",
    ]);
    // The table's run failed, so auto-tag is incomplete (the failure policy): exit 2.
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("tag.num-retained-max = 0")
            || stderr(&out).contains("tag.num-retained-max = 0"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}
