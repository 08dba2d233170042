//! Transient faults and throttling are retried and the command completes with the same outcome
//! as on a healthy store; persistent faults stop it with a message naming the file, and nothing
//! referenced is deleted; an ambiguous failure of a conditional create is never retried into
//! finding its own write.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::{FaultHandle, FaultStore, InjectedError};
use tagkeeper::io::{RetryPolicy, TableStore};
use tagkeeper::ops::delete_tag::DeleteTagReport;
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::ops::rollback::{RollbackMode, RollbackTarget};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::{append, CommitOptions};

use crate::crash::{copy, template};
use crate::delete_tag::on_disk;
use crate::fixtures::walk;
use crate::oracle;
use crate::write::batch;

const NOW: i64 = 4_000_000_000_000;

fn opts() -> ExpireOptions {
    ExpireOptions {
        retain_min: 1,
        retain_max: u64::MAX,
        time_retained_millis: 0,
        expire_limit: 1000,
        ignore_commit_snapshot: false,
    }
}

/// A table over a fault store, retrying quickly (the production backoff starts at 50 ms).
fn faulty(path: &std::path::Path) -> (Table, FaultHandle) {
    let local = object_store::local::LocalFileSystem::new_with_prefix(path).unwrap();
    let fault = FaultStore::new(Arc::new(local));
    let h = fault.handle();
    let store = TableStore::new(Arc::new(fault), "", 8, path.display().to_string()).with_retry(
        RetryPolicy {
            attempts: 12,
            base: Duration::from_millis(1),
            max: Duration::from_millis(4),
            budget: Duration::from_secs(60),
        },
    );
    (Table::new(store), h)
}

#[tokio::test]
async fn throttled_expiration_completes_exactly_as_a_healthy_one() {
    let (_t, tpl) = template().await;
    let (_a, clean_dir) = copy(&tpl);
    let (clean, h0) = faulty(&clean_dir);
    let want = expire(&clean, &opts(), NOW).await.unwrap();
    let requests = h0.requests();
    assert!(requests > 20 && !want.plan.files.is_empty());
    // Throttle a window of 10 requests at the start, the middle and the end of the run.
    for from in [1, requests / 2, requests - 5] {
        let (_b, dir) = copy(&tpl);
        let (t, h) = faulty(&dir);
        h.throttle(from, 10);
        let got = expire(&t, &opts(), NOW)
            .await
            .unwrap_or_else(|e| panic!("throttled from {from}: {e}"));
        assert!(got.failed.is_empty(), "{:?}", got.failed);
        assert_eq!(got.plan.expired_snapshots, want.plan.expired_snapshots);
        assert_eq!(on_disk(&dir), on_disk(&clean_dir), "throttled from {from}");
        assert!(
            h.requests() > requests,
            "the throttled requests were retried"
        );
        oracle::observe(&dir).assert_whole_parquet("after a throttled expiration");
    }
}

#[tokio::test]
async fn a_throttled_commit_lands_once() {
    let (_t, tpl) = template().await;
    let (_b, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.throttle(1, 8);
    let out = append(
        &t,
        vec![batch(&[(500, Some("x"), "2024-01-01")])],
        None,
        crate::write::clock(),
        &CommitOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.snapshot_id, 11);
    let state = oracle::observe(&dir);
    state.assert_whole_parquet("after a throttled commit");
    assert!(state.versions.contains_key("snapshot-11"));
    assert!(!state.versions.contains_key("snapshot-12"));
}

#[tokio::test]
async fn a_dropped_connection_on_a_read_is_retried() {
    let (_t, tpl) = template().await;
    let (_b, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    // Every third request of the planning fails once with a reset connection.
    for k in (2..60).step_by(3) {
        h.fail_request(k, InjectedError::Generic);
    }
    let report = tagkeeper::inspect::files(&t, &tagkeeper::table::VersionSpec::Latest)
        .await
        .unwrap();
    assert!(report.total_files > 0);
}

#[tokio::test]
async fn a_persistent_failure_stops_expiration_naming_the_file_and_deletes_nothing() {
    let (_t, tpl) = template().await;
    let (_b, dir) = copy(&tpl);
    let tag8_before = oracle::observe(&dir).versions["tag-t8"].clone();
    let (t, h) = faulty(&dir);
    // The tag manifests' lists fail for good (a reset connection every time).
    let tag8 = t
        .load_tag(&tagkeeper::format::ids::TagName::new("t8").unwrap())
        .await
        .unwrap();
    h.fail_paths_containing(&tag8.snapshot.base_manifest_list, InjectedError::Generic);
    let err = expire(&t, &opts(), NOW).await;
    match err {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&tag8.snapshot.base_manifest_list),
                "the message names the file: {msg}"
            );
        }
        Ok(p) => {
            // Or the plan went on without the deletions that read depends on: reported.
            assert!(
                p.plan
                    .skipped
                    .iter()
                    .any(|s| s.contains(&tag8.snapshot.base_manifest_list)),
                "{:?}",
                p.plan.skipped
            );
        }
    }
    let state = oracle::observe(&dir);
    state.assert_whole_parquet("after a persistent failure");
    // t8, whose list could not be read, reads exactly as before.
    assert_eq!(state.versions["tag-t8"], tag8_before);
}

fn all_files(dir: &Path) -> BTreeSet<String> {
    walk(dir).into_iter().collect()
}

fn tag(n: &str) -> TagName {
    TagName::new(n).unwrap()
}

/// Two years after the template: t5 (retained one day) is past its retention.
fn later() -> ManualClock {
    ManualClock::new(1_800_000_000_000)
}

type Command = fn(Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>>;

/// Throttle a window of 10 requests at the start, the middle and the end of `run`: it must
/// complete with exactly the files and versions of a healthy run, having retried.
async fn throttled_like_healthy(name: &str, run: Command) {
    let (_t, tpl) = template().await;
    let (_a, clean_dir) = copy(&tpl);
    let (clean, h0) = faulty(&clean_dir);
    run(clean).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let requests = h0.requests();
    let want_files = all_files(&clean_dir);
    let want = oracle::observe(&clean_dir);
    want.assert_whole_parquet(name);
    assert!(
        want_files != all_files(&tpl),
        "{name}: the healthy run changed nothing"
    );
    assert!(requests > 15, "{name}: {requests} requests");
    for from in [1, requests / 2, requests - 5] {
        let (_b, dir) = copy(&tpl);
        let (t, h) = faulty(&dir);
        h.throttle(from, 10);
        run(t)
            .await
            .unwrap_or_else(|e| panic!("{name} throttled from {from}: {e}"));
        assert_eq!(all_files(&dir), want_files, "{name} throttled from {from}");
        assert_eq!(
            oracle::observe(&dir).contents(),
            want.contents(),
            "{name} throttled from {from}"
        );
        assert!(
            h.requests() >= requests + 10,
            "{name}: the throttled requests were retried"
        );
    }
}

#[tokio::test]
async fn throttled_delete_tag_completes_exactly_as_a_healthy_one() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let plan = tagkeeper::ops::delete_tag::plan(&t, &[tag("t5")]).await?;
            let r = tagkeeper::ops::delete_tag::execute(&t, plan).await?;
            assert!(r.failed.is_empty(), "{:?}", r.failed);
            assert_eq!(r.deleted_tags, ["t5"]);
            Ok(())
        })
    }
    throttled_like_healthy("delete-tag", run).await;
}

#[tokio::test]
async fn throttled_rollback_completes_exactly_as_a_healthy_one() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            tagkeeper::ops::rollback::execute(
                &t,
                &RollbackTarget::Tag(tag("t5")),
                RollbackMode::Destructive { purge: true },
                &later(),
            )
            .await
            .map(|_| ())
        })
    }
    throttled_like_healthy("rollback-to (destructive, purge)", run).await;
}

#[tokio::test]
async fn with_latency_a_command_completes_exactly_as_without() {
    let (_t, tpl) = template().await;
    let (_a, clean_dir) = copy(&tpl);
    let (clean, _) = faulty(&clean_dir);
    let want = expire(&clean, &opts(), NOW).await.unwrap();
    let (_b, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.set_latency(Duration::from_millis(2));
    let started = std::time::Instant::now();
    let got = expire(&t, &opts(), NOW).await.unwrap();
    // Every request waited: the latency was really there.
    let floor = Duration::from_millis(2) * (h.requests() as u32) / 8;
    assert!(
        started.elapsed() >= floor,
        "{:?} < {floor:?}",
        started.elapsed()
    );
    assert_eq!(got.plan.expired_snapshots, want.plan.expired_snapshots);
    assert!(got.failed.is_empty(), "{:?}", got.failed);
    assert_eq!(all_files(&dir), all_files(&clean_dir));
    oracle::observe(&dir).assert_whole_parquet("after an expiration with latency");
}

type TagCommand =
    fn(Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<Vec<DeleteTagReport>>> + Send>>;

/// A persistent failure reading snapshot 7's manifest list (the earliest snapshot: t5's right
/// protector, whose files t5 shares) while t5 is being expired. The tag deleters fail closed: t5's tag file goes (it was asked for), its
/// data cleanup is skipped for safety with a reason naming the unreadable list, and not one
/// other file is deleted; every other version reads as before.
async fn persistent_failure_deletes_no_data(name: &str, run: TagCommand) {
    let (_t, tpl) = template().await;
    // Healthy, the run deletes t5's data: keeping it below is the fault's doing.
    let (_a, healthy) = copy(&tpl);
    run(crate::common::open(&healthy).await).await.unwrap();
    let reclaimed = all_files(&tpl).difference(&all_files(&healthy)).count();
    assert!(
        reclaimed > 1,
        "{name}: a healthy run deleted {reclaimed} file(s)"
    );

    let (_b, dir) = copy(&tpl);
    let before = oracle::observe(&dir);
    let files_before = all_files(&dir);
    let (t, h) = faulty(&dir);
    let list = t
        .try_load_snapshot(SnapshotId(7))
        .await
        .unwrap()
        .unwrap()
        .base_manifest_list;
    h.fail_paths_containing(&list, InjectedError::Generic);
    let reports = run(t).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let plans: Vec<_> = reports.iter().flat_map(|r| r.tags.iter()).collect();
    let t5 = plans
        .iter()
        .find(|p| p.name == "t5")
        .unwrap_or_else(|| panic!("{name}: t5 not planned: {plans:?}"));
    assert_eq!(
        t5.action,
        tagkeeper::ops::delete_tag::TagAction::TagFileOnly,
        "{name}: {t5:?}"
    );
    assert!(t5.skipped_for_safety, "{name}: {t5:?}");
    let reason = t5.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(&list),
        "{name}: the reason names the file: {reason}"
    );
    assert!(
        reports.iter().all(|r| r.failed.is_empty()),
        "{name}: {reports:?}"
    );
    let after = all_files(&dir);
    let deleted: BTreeSet<&String> = files_before.difference(&after).collect();
    assert_eq!(
        deleted,
        BTreeSet::from([&"tag/tag-t5".to_string()]),
        "{name}: only t5's tag file may go"
    );
    let state = oracle::observe(&dir);
    state.assert_whole_parquet(&format!("{name} after a persistent failure"));
    for (k, v) in before.versions.iter().filter(|(k, _)| *k != "tag-t5") {
        assert_eq!(state.versions.get(k), Some(v), "{name}: {k} changed");
    }
}

#[tokio::test]
async fn a_persistent_failure_makes_expire_tags_keep_all_data_naming_the_file() {
    fn run(
        t: Table,
    ) -> Pin<Box<dyn Future<Output = tagkeeper::Result<Vec<DeleteTagReport>>> + Send>> {
        Box::pin(async move {
            let r = tagkeeper::ops::expire_tags::expire_tags(&t, &later(), None, false).await?;
            Ok(vec![r])
        })
    }
    persistent_failure_deletes_no_data("expire-tags", run).await;
}

#[tokio::test]
async fn a_persistent_failure_makes_auto_tag_keep_all_data_naming_the_file() {
    // As in the crash sweep: three tags to create, and t5 past its retention to delete.
    fn run(
        t: Table,
    ) -> Pin<Box<dyn Future<Output = tagkeeper::Result<Vec<DeleteTagReport>>> + Send>> {
        Box::pin(async move {
            let run = crate::crash::minute_auto_tag_run();
            let r = tagkeeper::ops::auto_tag::auto_tag(&t, &run, &later()).await?;
            assert_eq!(r.status, "done", "{:?}", r.message);
            assert_eq!(r.tags.len(), 3, "{:?}", r.tags);
            Ok([r.retention, r.expired].into_iter().flatten().collect())
        })
    }
    persistent_failure_deletes_no_data("auto-tag", run).await;
}

/// A persistent failure on what the tag deleters must read before anything else (the tags):
/// they stop with a message naming the file, and nothing at all is deleted.
#[tokio::test]
async fn a_persistent_failure_on_a_tag_stops_expire_tags_and_auto_tag_naming_it() {
    fn expire_tags(
        t: Table,
    ) -> Pin<Box<dyn Future<Output = tagkeeper::Result<Vec<DeleteTagReport>>> + Send>> {
        Box::pin(async move {
            let r = tagkeeper::ops::expire_tags::expire_tags(&t, &later(), None, false).await?;
            Ok(vec![r])
        })
    }
    fn auto_tag(
        t: Table,
    ) -> Pin<Box<dyn Future<Output = tagkeeper::Result<Vec<DeleteTagReport>>> + Send>> {
        Box::pin(async move {
            let run = crate::crash::minute_auto_tag_run();
            let r = tagkeeper::ops::auto_tag::auto_tag(&t, &run, &later()).await?;
            Ok([r.retention, r.expired].into_iter().flatten().collect())
        })
    }
    for (name, run) in [
        ("expire-tags", expire_tags as TagCommand),
        ("auto-tag", auto_tag),
    ] {
        let (_t, tpl) = template().await;
        let (_b, dir) = copy(&tpl);
        let files_before = all_files(&dir);
        let (t, h) = faulty(&dir);
        h.fail_paths_containing("tag/tag-t8", InjectedError::Generic);
        let err = run(t)
            .await
            .err()
            .unwrap_or_else(|| panic!("{name} went on without reading tag/tag-t8"));
        assert!(err.to_string().contains("tag/tag-t8"), "{name}: {err}");
        let deleted: Vec<_> = files_before.difference(&all_files(&dir)).cloned().collect();
        assert!(deleted.is_empty(), "{name} deleted {deleted:?}");
        oracle::observe(&dir).assert_whole_parquet(&format!("after {name} stopped"));
    }
}

/// A conditional create whose response is lost to a timeout may have happened: it must not be
/// retried (it would find its own write and report "tag exists", skipping the check that the
/// tagged snapshot still exists). The paths hold "503" and "429", which once read as
/// throttling.
#[tokio::test]
async fn an_ambiguous_failure_of_a_tag_create_is_not_retried() {
    let req = CreateTag {
        name: tag("v503-429"),
        source: TagSource::Snapshot(SnapshotId(9)),
        time_retained: None,
        if_not_exists: false,
    };
    let (_t, tpl) = template().await;
    // Where the tag's create falls in the run.
    let (_a, probe) = copy(&tpl);
    let (t, h) = faulty(&probe);
    create_tag(&t, &req, &later()).await.unwrap();
    let put = h
        .log()
        .iter()
        .find(|(_, kind, p)| *kind == "put" && p.ends_with("tag/tag-v503-429"))
        .map(|(n, _, _)| *n)
        .unwrap();

    let (_b, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.lose_response(put, InjectedError::Timeout);
    let err = create_tag(&t, &req, &later()).await.unwrap_err();
    assert!(
        matches!(err, tagkeeper::Error::Storage { .. }),
        "an ambiguous create must surface, not be retried: {err}"
    );
    assert!(err.to_string().contains("tag/tag-v503-429"), "{err}");
    // Exactly one attempt reached the store.
    let puts = h
        .log()
        .iter()
        .filter(|(_, kind, p)| *kind == "put" && p.ends_with("tag/tag-v503-429"))
        .count();
    assert_eq!(puts, 1);

    // Throttling of the same create is retried, and the tag is created once.
    let (_c, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.throttle(put, 3);
    let r = create_tag(&t, &req, &later()).await.unwrap();
    assert!(r.created);
    assert!(oracle::observe(&dir).versions.contains_key("tag-v503-429"));
}
