//! Two actors at once on one table — a writer and an expirer, two expirers, delete-tag and an
//! expirer — on the local filesystem and the in-memory store. After each, the table is whole
//! (`check --deep` finds nothing; on disk the independent oracle agrees) and a final run of the
//! same commands converges.

use std::sync::Arc;

use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::TableStore;
use tagkeeper::ops::check::{check, CheckOptions};
use tagkeeper::ops::delete_tag;
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::{self, append, CommitOptions, OverwriteScope};

use crate::crash::{copy, template};
use crate::oracle;
use crate::write::{batch, spec};

const NOW: i64 = 4_000_000_000_000;

fn opts() -> ExpireOptions {
    ExpireOptions {
        retain_min: 2,
        retain_max: u64::MAX / 4,
        time_retained_millis: 0,
        expire_limit: 1000,
        ignore_commit_snapshot: false,
    }
}

async fn whole(t: &Table, context: &str) {
    let r = check(t, &CheckOptions { deep: true }).await.unwrap();
    assert!(r.whole, "{context}: {:?}", r.problems);
}

async fn commit(t: &Table, id: i64, overwrite: bool) -> tagkeeper::Result<()> {
    append(
        t,
        vec![batch(&[(id, Some("c"), "2024-01-02")])],
        overwrite.then_some(OverwriteScope::Dynamic),
        Arc::new(ManualClock::new(1_800_000_000_000)),
        &CommitOptions::default(),
    )
    .await
    .map(|_| ())
}

/// The crash template (tags t3, t5, t8; snapshots 7–10) on the local filesystem.
async fn local() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    std::path::PathBuf,
    Table,
) {
    let (t, tpl) = template().await;
    let (d, dir) = copy(&tpl);
    let table = crate::common::open(&dir).await;
    (t, d, dir, table)
}

/// A similar history in memory: 10 commits (two overwrites), tags t3, t5, t8.
async fn in_memory() -> Table {
    let t = write::create_table(
        TableStore::in_memory("wh/db.db/t"),
        &spec(true, &[("manifest.merge-min-count", "3")]),
        1,
    )
    .await
    .unwrap();
    for i in 0..10i64 {
        commit(&t, i, [4, 7].contains(&i)).await.unwrap();
    }
    for id in [3, 5, 8] {
        let req = CreateTag {
            name: TagName::new(&format!("t{id}")).unwrap(),
            source: TagSource::Snapshot(SnapshotId(id)),
            time_retained: None,
            if_not_exists: false,
        };
        create_tag(&t, &req, &ManualClock::new(NOW)).await.unwrap();
    }
    t
}

async fn writer_and_expirer(t: &Table) {
    let other = Table::new(t.store().clone());
    let o = opts();
    let (w, e) = tokio::join!(commit(t, 100, true), expire(&other, &o, NOW));
    w.unwrap();
    e.unwrap();
    whole(t, "writer and expirer").await;
    // The commit landed exactly once, on top of whatever the expirer left.
    let latest = t.latest_snapshot_id().await.unwrap().unwrap();
    let s = t.try_load_snapshot(latest).await.unwrap().unwrap();
    assert_eq!(s.commit_kind.as_str(), "OVERWRITE");
    expire(t, &opts(), NOW).await.unwrap();
    whole(t, "after a final expiration").await;
}

async fn two_expirers(t: &Table) {
    let other = Table::new(t.store().clone());
    let o = opts();
    let (a, b) = tokio::join!(expire(t, &o, NOW), expire(&other, &o, NOW));
    // One may find the other's plan and stop with a clear conflict; neither may break the table.
    for r in [&a, &b] {
        if let Err(e) = r {
            assert!(
                matches!(e, tagkeeper::Error::Conflict(_)),
                "unexpected error: {e}"
            );
        }
    }
    assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    whole(t, "two expirers").await;
    let again = expire(t, &opts(), NOW).await.unwrap();
    assert!(again.expired_snapshots.is_empty(), "{again:?}");
    whole(t, "after a final expiration").await;
    let range = t.snapshot_range().await.unwrap();
    assert_eq!(range.ids.len(), 2, "retain-min 2 kept exactly two");
}

async fn delete_tag_and_expirer(t: &Table) {
    let other = Table::new(t.store().clone());
    let deleting = async {
        let plan = delete_tag::plan(t, &[TagName::new("t5").unwrap()]).await?;
        delete_tag::execute(t, plan).await
    };
    let o = opts();
    let (d, e) = tokio::join!(deleting, expire(&other, &o, NOW));
    d.unwrap();
    e.unwrap();
    whole(t, "delete-tag and expirer").await;
    assert!(t
        .try_load_tag(&TagName::new("t5").unwrap())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn writer_and_expirer_on_the_local_filesystem() {
    let (_t, _d, dir, t) = local().await;
    writer_and_expirer(&t).await;
    oracle::observe(&dir).assert_whole("writer and expirer");
}

#[tokio::test]
async fn writer_and_expirer_in_memory() {
    writer_and_expirer(&in_memory().await).await;
}

#[tokio::test]
async fn two_expirers_on_the_local_filesystem() {
    let (_t, _d, dir, t) = local().await;
    two_expirers(&t).await;
    oracle::observe(&dir).assert_whole("two expirers");
}

#[tokio::test]
async fn two_expirers_in_memory() {
    two_expirers(&in_memory().await).await;
}

#[tokio::test]
async fn delete_tag_and_expirer_on_the_local_filesystem() {
    let (_t, _d, dir, t) = local().await;
    delete_tag_and_expirer(&t).await;
    oracle::observe(&dir).assert_whole("delete-tag and expirer");
}

#[tokio::test]
async fn delete_tag_and_expirer_in_memory() {
    delete_tag_and_expirer(&in_memory().await).await;
}
