//! Transient faults and throttling are retried and the command completes with the same outcome
//! as on a healthy store; persistent faults stop it with a message naming the file, and nothing
//! referenced is deleted.

use std::sync::Arc;
use std::time::Duration;

use tagkeeper::io::fault::{FaultHandle, FaultStore, InjectedError};
use tagkeeper::io::{RetryPolicy, TableStore};
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::table::Table;
use tagkeeper::write::{append, CommitOptions};

use crate::crash::{copy, template};
use crate::delete_tag::on_disk;
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
    assert!(requests > 20 && !want.files.is_empty());
    // Throttle a window of 10 requests at the start, the middle and the end of the run.
    for from in [1, requests / 2, requests - 5] {
        let (_b, dir) = copy(&tpl);
        let (t, h) = faulty(&dir);
        h.throttle(from, 10);
        let got = expire(&t, &opts(), NOW)
            .await
            .unwrap_or_else(|e| panic!("throttled from {from}: {e}"));
        assert!(got.failed.is_empty(), "{:?}", got.failed);
        assert_eq!(got.expired_snapshots, want.expired_snapshots);
        assert_eq!(on_disk(&dir), on_disk(&clean_dir), "throttled from {from}");
        assert!(
            h.requests() > requests,
            "the throttled requests were retried"
        );
        oracle::observe(&dir).assert_whole("after a throttled expiration");
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
    state.assert_whole("after a throttled commit");
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
                p.skipped
                    .iter()
                    .any(|s| s.contains(&tag8.snapshot.base_manifest_list)),
                "{:?}",
                p.skipped
            );
        }
    }
    let state = oracle::observe(&dir);
    state.assert_whole("after a persistent failure");
    // t8, whose list could not be read, reads exactly as before.
    assert_eq!(state.versions["tag-t8"], tag8_before);
}
