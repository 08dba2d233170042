//! expire-snapshots: the files it deletes are exactly those only expired snapshots referenced
//! (fast path, nearest-tag fallback and brute force agree), Java's range rules, fail-closed
//! skips, crash safety with a persisted plan, and the handshake with create-tag.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use proptest::prelude::*;
use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::InjectedError;
use tagkeeper::ops::expire::{expire, plan, ExpireOptions};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::synthetic::{build, SyntheticSpec};
use tagkeeper::Error;

use crate::crash::{copy, faulty, snapshot_deletions, sweep, template};
use crate::delete_tag::{on_disk, referenced};
use crate::oracle;

const NOW: i64 = 4_000_000_000_000;

fn opts(retain_min: u64) -> ExpireOptions {
    ExpireOptions {
        retain_min,
        retain_max: u64::MAX / 4,
        time_retained_millis: 0,
        expire_limit: 1000,
        ignore_commit_snapshot: false,
    }
}

async fn tag_at(t: &Table, id: i64) {
    let req = CreateTag {
        name: TagName::new(&format!("t{id}")).unwrap(),
        source: TagSource::Snapshot(SnapshotId(id)),
        time_retained: None,
        if_not_exists: true,
    };
    create_tag(t, &req, &ManualClock::new(0)).await.unwrap();
}

struct History {
    snapshots: usize,
    partitions: usize,
    overwrite_every: usize,
    tags: Vec<i64>,
    record: bool,
    retain_min: u64,
    pre_expired: i64,
}

async fn run(h: History) {
    let (dir, t) =
        crate::delete_tag::history_table(h.snapshots, h.partitions, h.overwrite_every, h.record)
            .await;
    for id in &h.tags {
        tag_at(&t, *id).await;
    }
    // An earlier expiration that left its files (a crash, or another tool).
    for id in 1..h.pre_expired {
        std::fs::remove_file(dir.path().join(format!("snapshot/snapshot-{id}"))).unwrap();
    }
    let before_refs = referenced(&t, dir.path()).await;
    let before_disk = on_disk(dir.path());
    let before = oracle::observe(dir.path());
    let o = opts(h.retain_min);
    let fast = plan(&t, &o, NOW).await.unwrap();
    let slow = plan(
        &t,
        &ExpireOptions {
            ignore_commit_snapshot: true,
            ..o.clone()
        },
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(
        fast.files, slow.files,
        "fast path and nearest-tag fallback choose the same files"
    );
    assert_eq!(
        fast.decided_by_commit_snapshot > 0,
        h.record && fast.decided_by_commit_snapshot + fast.decided_by_nearest_tag > 0
    );
    assert_eq!(on_disk(dir.path()), before_disk, "planning changes nothing");
    let done = expire(&t, &o, NOW).await.unwrap();
    assert_eq!(
        done.plan.files, fast.files,
        "the run does what the plan said"
    );
    let after_refs = referenced(&t, dir.path()).await;
    let after_disk = on_disk(dir.path());
    let removed: BTreeSet<String> = before_disk.difference(&after_disk).cloned().collect();
    let expected: BTreeSet<String> = before_refs
        .difference(&after_refs)
        .filter(|p| before_disk.contains(*p))
        .cloned()
        .collect();
    assert_eq!(
        removed, expected,
        "tags {:?}, retain_min {}, pre-expired < {}",
        h.tags, h.retain_min, h.pre_expired
    );
    let after = oracle::observe(dir.path());
    after.assert_whole("after expire");
    crate::check::assert_whole(dir.path(), false, "after expire").await;
    for (k, v) in &after.versions {
        assert_eq!(before.versions[k], *v, "{k} unchanged");
    }
    let kept = after
        .versions
        .keys()
        .filter(|k| k.starts_with("snapshot-"))
        .count() as u64;
    assert_eq!(
        kept,
        h.retain_min.min(
            before
                .versions
                .keys()
                .filter(|k| k.starts_with("snapshot-"))
                .count() as u64
        )
    );
    assert!(
        walk_plans(dir.path()).is_empty(),
        "the plan object is removed when done"
    );
}

fn walk_plans(dir: &std::path::Path) -> Vec<String> {
    crate::fixtures::walk(dir)
        .into_iter()
        .filter(|p| p.starts_with("_tagkeeper/"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn expiration_deletes_exactly_what_only_expired_snapshots_kept(
        snapshots in 6usize..18,
        partitions in 1usize..4,
        overwrite_every in prop_oneof![Just(0usize), 2usize..5],
        tag_picks in proptest::collection::btree_set(1i64..18, 0..4),
        record in any::<bool>(),
        retain_min in 1u64..5,
        pre in 0usize..3,
    ) {
        let tags: Vec<i64> = tag_picks.into_iter().filter(|t| *t <= snapshots as i64).collect();
        let pre_expired = 1 + (pre as i64) * (*tags.iter().min().unwrap_or(&1) - 1).max(0) / 2;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(History { snapshots, partitions, overwrite_every, tags, record, retain_min, pre_expired }));
    }
}

#[tokio::test]
async fn tags_keep_files_their_snapshots_needed() {
    for record in [true, false] {
        run(History {
            snapshots: 12,
            partitions: 2,
            overwrite_every: 4,
            tags: vec![2, 3, 7],
            record,
            retain_min: 1,
            pre_expired: 1,
        })
        .await;
    }
}

#[tokio::test]
async fn range_follows_java_retain_consumer_and_successor_time() {
    let spec = SyntheticSpec {
        snapshots: 12,
        files: 12,
        tags: 0,
        write_placeholders: true,
        ..Default::default()
    };
    let t = build(tagkeeper::io::TableStore::in_memory("t"), &spec)
        .await
        .unwrap()
        .table;
    // Synthetic commits are one minute apart from 2024-01-01T00:00Z (snapshot 1).
    let t1 = 1_704_067_200_000i64;
    let time = |id: i64| t1 + (id - 1) * 60_000;
    // retain_min 10 of 12: at most 1..=2 expire.
    assert_eq!(
        plan(&t, &opts(10), NOW).await.unwrap().expired_snapshots,
        vec![1, 2]
    );
    // Successor rule: now = time(6) + 1 h, retained 1 h: snapshot 5 stays because 6 is young.
    let o = ExpireOptions {
        time_retained_millis: 3_600_000,
        ..opts(1)
    };
    assert_eq!(
        plan(&t, &o, time(6) + 3_600_000)
            .await
            .unwrap()
            .expired_snapshots,
        vec![1, 2, 3, 4]
    );
    // retain_max 3 expires old snapshots whatever their age.
    let o = ExpireOptions {
        retain_max: 3,
        time_retained_millis: i64::MAX / 2,
        ..opts(1)
    };
    assert_eq!(
        plan(&t, &o, NOW).await.unwrap().expired_snapshots,
        (1..=9).collect::<Vec<_>>()
    );
    // expire limit.
    let o = ExpireOptions {
        expire_limit: 4,
        ..opts(1)
    };
    let limited = plan(&t, &o, NOW).await.unwrap();
    assert_eq!(
        (limited.expired_snapshots, limited.limit_reached),
        (vec![1, 2, 3, 4], true)
    );
    // Not cut short: the limit is not what stops the run (retain_max 3 above, or a limit
    // that is exactly enough).
    let o = ExpireOptions {
        retain_max: 3,
        time_retained_millis: i64::MAX / 2,
        ..opts(1)
    };
    assert!(!plan(&t, &o, NOW).await.unwrap().limit_reached);
    let o = ExpireOptions {
        expire_limit: 9,
        retain_max: 3,
        time_retained_millis: i64::MAX / 2,
        ..opts(1)
    };
    let exact = plan(&t, &o, NOW).await.unwrap();
    assert_eq!(
        (exact.expired_snapshots.len(), exact.limit_reached),
        (9, false)
    );
    // A consumer that still needs snapshot 5.
    t.store()
        .put_overwrite(
            "consumer/consumer-job",
            bytes::Bytes::from_static(br#"{"nextSnapshot":5}"#),
        )
        .await
        .unwrap();
    assert_eq!(
        plan(&t, &opts(1), NOW).await.unwrap().expired_snapshots,
        vec![1, 2, 3, 4]
    );
    // retain_min below 1 is refused.
    let e = plan(&t, &opts(0), NOW).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument(_)) && e.to_string().contains("at least 1"),
        "{e}"
    );
}

#[tokio::test]
async fn unreadable_metadata_cancels_what_it_covers() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    // Snapshot 9's delta is unreadable: its deletions are skipped and reported.
    let s9 = t.try_load_snapshot(SnapshotId(9)).await.unwrap().unwrap();
    h.fail_paths_containing(&s9.delta_manifest_list, InjectedError::Generic);
    let p = plan(&t, &opts(1), NOW).await.unwrap();
    assert!(
        p.skipped
            .iter()
            .any(|s| s.contains("snapshot 9") && s.contains("delta is unreadable")),
        "{:?}",
        p.skipped
    );
    h.reset();
    // Tag t8 is unreadable: no manifest is deleted.
    let t8 = t.load_tag(&TagName::new("t8").unwrap()).await.unwrap();
    h.fail_paths_containing(
        &t8.snapshot.base_manifest_list,
        InjectedError::PermissionDenied,
    );
    let p = plan(&t, &opts(1), NOW).await.unwrap();
    assert!(
        p.skipped
            .iter()
            .any(|s| s.contains("tag 't8' is unreadable")),
        "{:?}",
        p.skipped
    );
    assert!(
        p.files
            .iter()
            .all(|f| f.category == tagkeeper::ops::delete_tag::Category::Data),
        "{:?}",
        p.files
    );
}

#[tokio::test]
async fn crash_sweep_expire_snapshots() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move { expire(&t, &opts(1), NOW).await.map(|_| ()) })
    }
    sweep("expire-snapshots", run, run).await;
}

#[tokio::test]
async fn an_interrupted_run_is_finished_from_its_plan() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    // Crash right after the first expired snapshot file is deleted.
    let (_d2, dir2) = copy(&tpl);
    let (t2, h2) = faulty(&dir2);
    expire(&t2, &opts(1), NOW).await.unwrap();
    let k = snapshot_deletions(&h2)[0];
    h.crash_after(k);
    assert!(expire(&t, &opts(1), NOW).await.is_err());
    h.reset();
    assert_eq!(walk_plans(&dir).len(), 1, "the plan survived the crash");
    // Fewer snapshots remain to expire now, but the plan's files must all go.
    let r = expire(&t, &opts(1), NOW).await.unwrap();
    assert!(r.resumed, "{r:?}");
    assert!(walk_plans(&dir).is_empty());
    assert_eq!(
        on_disk(&dir),
        on_disk(&dir2),
        "the same files as an uninterrupted run"
    );
}

#[tokio::test]
async fn a_tag_created_during_expiration_keeps_its_files() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    // Learn when expiration deletes its last snapshot file; a tagger tags snapshot 9 before it.
    let (_d2, dir2) = copy(&tpl);
    let (t2, h2) = faulty(&dir2);
    expire(&t2, &opts(1), NOW).await.unwrap();
    let k = snapshot_deletions(&h2)[0];
    let tagger = t.clone();
    h.before_request(k, Box::pin(async move { tag_at(&tagger, 9).await }));
    let r = expire(&t, &opts(1), NOW).await.unwrap();
    assert!(
        r.plan.skipped.iter().any(|s| s.contains("tags changed")),
        "{:?}",
        r.plan.skipped
    );
    let state = oracle::observe(&dir);
    state.assert_whole("tag created mid-expiration");
    crate::check::assert_whole(&dir, true, "tag created mid-expiration").await;
    assert!(state.versions.contains_key("tag-t9"));
}

#[test]
fn cli_expire_snapshots() {
    let (_d, path) = crate::common::copy_table("partitioned_overwrite");
    let p = path.to_str().unwrap();
    let bad = crate::common::tagkeeper(&["expire-snapshots", p, "--retain-min", "0"]);
    assert_eq!(bad.status.code(), Some(1));
    let dry = crate::common::tagkeeper(&[
        "expire-snapshots",
        "--json",
        "--dry-run",
        p,
        "--retain-min",
        "2",
        "--older-than",
        "2100-01-01T00:00:00Z",
    ]);
    assert!(dry.status.success(), "{}", crate::common::stderr(&dry));
    let v: serde_json::Value = serde_json::from_str(&crate::common::stdout(&dry)).unwrap();
    assert_eq!(v["expired_snapshots"], serde_json::json!([1, 2, 3, 4, 5]));
    assert_eq!(v["dry_run"], true);
    let real = crate::common::tagkeeper(&[
        "expire-snapshots",
        "--json",
        p,
        "--retain-min",
        "2",
        "--older-than",
        "2100-01-01T00:00:00Z",
    ]);
    assert!(real.status.success(), "{}", crate::common::stderr(&real));
    let r: serde_json::Value = serde_json::from_str(&crate::common::stdout(&real)).unwrap();
    assert_eq!(r["files"], v["files"]);
    assert!(
        r["totals"]["data"][0].as_u64().unwrap() > 0,
        "the overwritten and dropped partitions' files: {r:#}"
    );
    oracle::observe(&path).assert_whole("after CLI expire");
    let check = crate::common::tagkeeper(&["check", "--deep", path.to_str().unwrap()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        crate::common::stdout(&check)
    );
}

/// A decoupled changelog lifecycle is no longer refused: the plan says so, and the expired
/// snapshots become changelogs (tests/it/changelogs.rs has the file sets).
#[tokio::test]
async fn a_decoupled_changelog_lifecycle_is_planned_as_java_plans_it() {
    let spec = tagkeeper::write::TableSpec {
        columns: vec![(
            "id".into(),
            tagkeeper::format::types::DataType::parse("BIGINT").unwrap(),
        )],
        options: vec![("changelog.num-retained.min".into(), "100".into())],
        ..Default::default()
    };
    let t = tagkeeper::write::create_table(tagkeeper::io::TableStore::in_memory("t"), &spec, 1)
        .await
        .unwrap();
    let p = plan(&t, &opts(1), NOW).await.unwrap();
    assert!(p.changelog_decoupled, "{p:?}");
    assert!(p.expired_snapshots.is_empty(), "no snapshots yet: {p:?}");
    assert!(!opts(100).changelog_decoupled(&spec.options));
}

#[tokio::test]
async fn expire_tags_by_retention_and_age() {
    use tagkeeper::ops::expire_tags::{expire_tags, expired_tags};
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let t = crate::common::open(&dir).await;
    // t5 was created with a 1-day retention at the template clock's time (2024-01-01T00:10Z).
    let created = t
        .load_tag(&TagName::new("t5").unwrap())
        .await
        .unwrap()
        .create_time
        .unwrap();
    let at = |ms_after: i64| ManualClock::new(created.and_utc().timestamp_millis() + ms_after);
    assert!(
        expired_tags(&t, &at(86_400_000), None)
            .await
            .unwrap()
            .is_empty(),
        "exactly at expiry: kept"
    );
    let names = expired_tags(&t, &at(86_400_001), None).await.unwrap();
    assert_eq!(names, vec![TagName::new("t5").unwrap()]);
    // --older-than: tags without a creation time count by their file's modification time.
    let future = chrono::NaiveDate::from_ymd_opt(2100, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let all = expired_tags(&t, &at(0), Some(future)).await.unwrap();
    assert_eq!(all.len(), 3);
    // A dry run changes nothing; the real run deletes through delete-tag.
    let before = on_disk(&dir);
    let dry = expire_tags(&t, &at(86_400_001), None, true).await.unwrap();
    assert_eq!(
        (dry.dry_run, dry.deleted_tags.clone()),
        (true, vec!["t5".to_string()])
    );
    assert_eq!(on_disk(&dir), before);
    let done = expire_tags(&t, &at(86_400_001), None, false).await.unwrap();
    assert_eq!(done.deleted, dry.deleted);
    let state = oracle::observe(&dir);
    state.assert_whole("after expire-tags");
    crate::check::assert_whole(&dir, true, "after expire-tags").await;
    assert!(!state.versions.contains_key("tag-t5") && state.versions.contains_key("tag-t3"));
}

#[tokio::test]
async fn maintain_expires_tags_then_snapshots_from_table_options() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    // The template keeps 10 snapshots by default options; ask for fewer through the schema.
    let schema_path = dir.join("schema/schema-0");
    let mut schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    schema["options"]["snapshot.num-retained.min"] = "2".into();
    std::fs::write(&schema_path, serde_json::to_vec(&schema).unwrap()).unwrap();
    let t = crate::common::open(&dir).await;
    let clock = ManualClock::new(NOW);
    let dry = tagkeeper::ops::expire_tags::maintain(&t, &clock, true)
        .await
        .unwrap();
    assert_eq!(dry.tags.as_ref().unwrap().deleted_tags, vec!["t5"]);
    assert_eq!(dry.snapshots.plan.expired_snapshots, vec![7, 8]);
    let done = tagkeeper::ops::expire_tags::maintain(&t, &clock, false)
        .await
        .unwrap();
    assert_eq!(done.snapshots.plan.expired_snapshots, vec![7, 8]);
    let state = oracle::observe(&dir);
    state.assert_whole("after maintain");
    crate::check::assert_whole(&dir, true, "after maintain").await;
    let names: BTreeSet<&str> = state.versions.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["snapshot-10", "snapshot-9", "tag-t3", "tag-t8"])
    );
}

#[tokio::test]
async fn branches_keep_exactly_what_their_versions_need() {
    let (_t, tpl) = template().await;
    // The same expiration without a branch, for what it deletes.
    let (_p, plain) = copy(&tpl);
    let before_plain = on_disk(&plain);
    let t = crate::common::open(&plain).await;
    let r = expire(&t, &opts(1), NOW).await.unwrap();
    assert_eq!(r.plan.expired_snapshots, vec![7, 8, 9]);
    let deleted_plain: BTreeSet<String> =
        before_plain.difference(&on_disk(&plain)).cloned().collect();
    assert!(!deleted_plain.is_empty());

    let (_d, dir) = copy(&tpl);
    // A branch whose snapshot is main's snapshot 9 (untagged, expired on main).
    let b = dir.join("branch/branch-b1");
    std::fs::create_dir_all(b.join("snapshot")).unwrap();
    std::fs::create_dir_all(b.join("schema")).unwrap();
    std::fs::copy(
        dir.join("snapshot/snapshot-9"),
        b.join("snapshot/snapshot-9"),
    )
    .unwrap();
    std::fs::copy(dir.join("schema/schema-0"), b.join("schema/schema-0")).unwrap();
    let branch_needs = crate::oracle::observe(&dir).versions["branch-b1/snapshot-9"]
        .needs
        .clone();
    let before: BTreeSet<String> = on_disk(&dir);
    let t = crate::common::open(&dir).await;
    let r = expire(&t, &opts(1), NOW).await.unwrap();
    assert_eq!(r.plan.expired_snapshots, vec![7, 8, 9]);
    assert!(r.plan.skipped.is_empty(), "{:?}", r.plan.skipped);
    let deleted: BTreeSet<String> = before.difference(&on_disk(&dir)).cloned().collect();
    // Exactly what the unbranched run deletes, but for what the branch's snapshot needs.
    let expected: BTreeSet<String> = deleted_plain
        .iter()
        .filter(|p| !branch_needs.contains(p.rsplit('/').next().unwrap()))
        .cloned()
        .collect();
    assert_eq!(deleted, expected);
    assert!(
        expected.len() < deleted_plain.len(),
        "the branch must keep something the plain run deletes"
    );
    crate::oracle::observe(&dir).assert_whole("after expiring a branched table");
}

#[tokio::test]
async fn a_resumed_run_reports_the_files_already_gone() {
    let (_t, tpl) = template().await;
    // An uninterrupted run, to learn the order of requests.
    let (_d2, dir2) = copy(&tpl);
    let (t2, h2) = faulty(&dir2);
    let clean = expire(&t2, &opts(1), NOW).await.unwrap();
    assert!(clean.already_gone.is_empty());
    let planned: std::collections::BTreeSet<String> =
        clean.plan.files.iter().map(|f| f.path.clone()).collect();
    assert!(planned.len() > 2, "{planned:?}");
    // Crash right after the first planned file is deleted.
    let k = h2
        .log()
        .iter()
        .find(|(_, kind, p)| *kind == "delete" && planned.iter().any(|f| p.ends_with(f.as_str())))
        .map(|(n, _, _)| *n)
        .unwrap();
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.crash_after(k);
    // The deletes after the crash fail: reported, and the plan stays for the next run.
    let crashed = expire(&t, &opts(1), NOW).await;
    assert!(crashed.map_or(true, |r| !r.failed.is_empty()));
    h.reset();
    let gone: Vec<String> = planned
        .iter()
        .filter(|f| !dir.join(f.as_str()).exists())
        .cloned()
        .collect();
    assert!(!gone.is_empty() && gone.len() < planned.len(), "{gone:?}");
    let r = expire(&t, &opts(1), NOW).await.unwrap();
    assert!(r.resumed);
    let mut reported = r.already_gone.clone();
    reported.sort();
    assert_eq!(reported, gone);
}
