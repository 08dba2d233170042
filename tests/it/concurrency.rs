//! Two actors at once on one table — a writer and an expirer, two expirers, delete-tag and an
//! expirer, create-tag and an expirer of its snapshot — on the local filesystem and the
//! in-memory store. After each, the table is whole (`check --deep` finds nothing and the
//! independent oracle agrees) and a final run of the same commands converges.
//!
//! On the local filesystem the two actors run at once (`tokio::join!`, file I/O on blocking
//! threads). The in-memory store answers without yielding, so joined actors there would mostly
//! run one after the other; instead the first actor runs over a [`FaultStore`] and the second
//! runs to completion just before the first's request k, for a spread of k (every k for
//! create-tag): each interleaving is then a real, reproducible one.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};

use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::FaultStore;
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

const ROOT: &str = "wh/db.db/t";

fn table_on(store: Arc<dyn ObjectStore>) -> Table {
    Table::new(TableStore::new(store, ROOT, 8, format!("memory:///{ROOT}")))
}

/// A similar history in memory: 10 commits (two overwrites), tags t3, t5, t8.
async fn in_memory() -> Arc<InMemory> {
    let store = Arc::new(InMemory::new());
    let t = write::create_table(
        TableStore::new(store.clone(), ROOT, 8, format!("memory:///{ROOT}")),
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
    store
}

/// A copy of an in-memory store (each interleaving starts from the same history).
async fn clone_store(from: &InMemory) -> Arc<InMemory> {
    let to = Arc::new(InMemory::new());
    let listed: Vec<object_store::ObjectMeta> = from.list(None).try_collect().await.unwrap();
    for meta in listed {
        let bytes = from
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        to.put(&meta.location, bytes.into()).await.unwrap();
    }
    to
}

/// The oracle on the in-memory table (copied out to a directory) must find it whole.
async fn oracle_whole(store: &InMemory, context: &str) -> oracle::State {
    let state = oracle::observe_store(store, ROOT).await;
    state.assert_whole_parquet(context);
    state
}

/// The checks after one interleaving.
type Verified = Pin<Box<dyn Future<Output = ()>>>;

type Actor = fn(Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>>;

/// What one interleaving produced.
struct Raced {
    store: Arc<InMemory>,
    table: Table,
    first: tagkeeper::Result<()>,
    second: tagkeeper::Result<()>,
}

/// For a spread of k (or every k), on a fresh copy of `history`: run `first` over a fault store
/// and `second`, on the same objects, to completion just before `first`'s request k. Each
/// outcome goes to `verify`, after the table was found whole by `check --deep` and the oracle.
async fn interleave(
    name: &str,
    history: &InMemory,
    first: Actor,
    second: Actor,
    every_k: bool,
    verify: impl Fn(u64, Raced) -> Verified,
) -> usize {
    // The first actor alone: how many requests it makes.
    let store = clone_store(history).await;
    let fault = FaultStore::new(store.clone());
    let h = fault.handle();
    first(table_on(Arc::new(fault)))
        .await
        .unwrap_or_else(|e| panic!("{name}: alone: {e}"));
    let n = h.requests();
    assert!(n >= 3, "{name}: {n} requests");
    let ks: std::collections::BTreeSet<u64> = if every_k {
        (1..=n).collect()
    } else {
        [1, n / 4, n / 2, 3 * n / 4, n]
            .into_iter()
            .filter(|k| *k >= 1)
            .collect()
    };
    for &k in &ks {
        let context = format!("{name}, the other actor just before request {k} of {n}");
        let store = clone_store(history).await;
        let fault = FaultStore::new(store.clone());
        let h = fault.handle();
        let table = table_on(Arc::new(fault));
        let other = table_on(store.clone());
        let second_result: Arc<Mutex<Option<tagkeeper::Result<()>>>> = Arc::default();
        let slot = second_result.clone();
        h.before_request(
            k,
            Box::pin(async move {
                let r = second(other).await;
                *slot.lock().unwrap() = Some(r);
            }),
        );
        let first_result = first(table.clone()).await;
        let second = second_result
            .lock()
            .unwrap()
            .take()
            .unwrap_or_else(|| panic!("{context}: the other actor never ran"));
        // Check and oracle on the plain store (no fault hooks left in the way).
        let plain = table_on(store.clone());
        whole(&plain, &context).await;
        oracle_whole(&store, &context).await;
        let raced = Raced {
            store,
            table: plain,
            first: first_result,
            second,
        };
        verify(k, raced).await;
    }
    eprintln!(
        "concurrency {name}: {} interleavings (the other actor before request k of {n})",
        ks.len()
    );
    ks.len()
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
    assert!(again.plan.expired_snapshots.is_empty(), "{again:?}");
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
    oracle::observe(&dir).assert_whole_parquet("writer and expirer");
}

#[tokio::test]
async fn two_expirers_on_the_local_filesystem() {
    let (_t, _d, dir, t) = local().await;
    two_expirers(&t).await;
    oracle::observe(&dir).assert_whole_parquet("two expirers");
}

#[tokio::test]
async fn delete_tag_and_expirer_on_the_local_filesystem() {
    let (_t, _d, dir, t) = local().await;
    delete_tag_and_expirer(&t).await;
    oracle::observe(&dir).assert_whole_parquet("delete-tag and expirer");
}

fn expirer(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
    Box::pin(async move { expire(&t, &opts(), NOW).await.map(|_| ()) })
}

fn writer(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
    Box::pin(async move { commit(&t, 100, true).await })
}

fn tag_deleter(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
    Box::pin(async move {
        let plan = delete_tag::plan(&t, &[TagName::new("t5").unwrap()]).await?;
        delete_tag::execute(&t, plan).await.map(|_| ())
    })
}

/// Tags snapshot 7, which the expirer (retain-min 2 of 10) removes.
fn tagger(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
    Box::pin(async move {
        let req = CreateTag {
            name: TagName::new("new").unwrap(),
            source: TagSource::Snapshot(SnapshotId(7)),
            time_retained: None,
            if_not_exists: false,
        };
        create_tag(&t, &req, &ManualClock::new(NOW))
            .await
            .map(|_| ())
    })
}

/// After a writer and an expirer: both succeeded, the commit landed exactly once (snapshot 11,
/// an overwrite), and a final expiration leaves the table whole.
fn wrote_once(k: u64, r: Raced) -> Verified {
    Box::pin(async move {
        let (first, second) = (&r.first, &r.second);
        assert!(
            first.is_ok() && second.is_ok(),
            "k={k}: {first:?} {second:?}"
        );
        let t = &r.table;
        let latest = t.latest_snapshot_id().await.unwrap().unwrap();
        assert_eq!(latest, SnapshotId(11), "k={k}");
        let s = t.try_load_snapshot(latest).await.unwrap().unwrap();
        assert_eq!(s.commit_kind.as_str(), "OVERWRITE", "k={k}");
        expire(t, &opts(), NOW).await.unwrap();
        whole(t, "after a final expiration").await;
        oracle_whole(&r.store, "after a final expiration").await;
    })
}

#[tokio::test]
async fn writer_and_expirer_in_memory() {
    let history = in_memory().await;
    let a = interleave(
        "expirer, writer",
        &history,
        expirer,
        writer,
        false,
        wrote_once,
    )
    .await;
    let b = interleave(
        "writer, expirer",
        &history,
        writer,
        expirer,
        false,
        wrote_once,
    )
    .await;
    assert!(a + b >= 8, "{a} + {b} interleavings");
}

/// Two expirers, the second landing before each of a spread of the first's requests: at least
/// one succeeds, the table stays whole, and a final run finds nothing left to do.
#[tokio::test]
async fn two_expirers_in_memory() {
    let history = in_memory().await;
    let n = interleave(
        "two expirers",
        &history,
        expirer,
        expirer,
        false,
        |k, r: Raced| -> Verified {
            Box::pin(async move {
                assert!(r.first.is_ok() || r.second.is_ok(), "k={k}");
                let again = expire(&r.table, &opts(), NOW).await.unwrap();
                assert!(again.plan.expired_snapshots.is_empty(), "k={k}: {again:?}");
                let range = r.table.snapshot_range().await.unwrap();
                assert_eq!(range.ids.len(), 2, "k={k}: retain-min 2 kept exactly two");
                oracle_whole(&r.store, "after a final expiration").await;
            })
        },
    )
    .await;
    assert!(n >= 4, "{n} interleavings");
}

/// An expirer that loses to another stops with a `conflict` at every interleaving (as on the
/// local filesystem), never with a "not found" that looks like damage: when the other expirer
/// lands between its listing and its reads (e.g. just before request 26 of the first), the
/// history moved under it.
#[tokio::test]
async fn two_expirers_in_memory_lose_with_a_conflict() {
    let history = in_memory().await;
    interleave(
        "two expirers",
        &history,
        expirer,
        expirer,
        false,
        |k, r: Raced| -> Verified {
            Box::pin(async move {
                for e in [&r.first, &r.second]
                    .into_iter()
                    .filter_map(|x| x.as_ref().err())
                {
                    assert!(
                        matches!(e, tagkeeper::Error::Conflict(_)),
                        "k={k}: unexpected error: {e}"
                    );
                }
            })
        },
    )
    .await;
}

#[tokio::test]
async fn delete_tag_and_expirer_in_memory() {
    let history = in_memory().await;
    let gone = |k: u64, r: Raced| -> Verified {
        Box::pin(async move {
            assert!(
                r.first.is_ok() && r.second.is_ok(),
                "k={k}: {:?} {:?}",
                r.first,
                r.second
            );
            let t5 = TagName::new("t5").unwrap();
            assert!(r.table.try_load_tag(&t5).await.unwrap().is_none(), "k={k}");
            let state = oracle_whole(&r.store, "after delete-tag and expire").await;
            assert!(state.versions.contains_key("tag-t3") && state.versions.contains_key("tag-t8"));
        })
    };
    let a = interleave(
        "delete-tag, expirer",
        &history,
        tag_deleter,
        expirer,
        false,
        gone,
    )
    .await;
    let b = interleave(
        "expirer, delete-tag",
        &history,
        expirer,
        tag_deleter,
        false,
        gone,
    )
    .await;
    assert!(a + b >= 8, "{a} + {b} interleavings");
}

/// create-tag of snapshot 7 against an expiration that removes snapshot 7, interleaved at every
/// request of either: the tag is either created and reads exactly as snapshot 7 did, or refused
/// with a clear conflict and absent; never a tag whose files are gone.
#[tokio::test]
async fn create_tag_and_expirer_of_its_snapshot_in_memory() {
    let history = in_memory().await;
    let snapshot7 = oracle_whole(&history, "history").await.versions["snapshot-7"].clone();
    // (created, refused): both must happen, or the interleavings were not real ones.
    let outcomes: Arc<Mutex<(usize, usize)>> = Arc::default();
    let tagged_or_refused = |tagging: &'static str| {
        let snapshot7 = snapshot7.clone();
        let outcomes = outcomes.clone();
        move |k: u64, r: Raced| -> Verified {
            let snapshot7 = snapshot7.clone();
            let outcomes = outcomes.clone();
            Box::pin(async move {
                {
                    let mut o = outcomes.lock().unwrap();
                    match (tagging == "first", &r.first, &r.second) {
                        (true, Ok(()), _) | (false, _, Ok(())) => o.0 += 1,
                        _ => o.1 += 1,
                    }
                }
                let (created, expired) = if tagging == "first" {
                    (&r.first, &r.second)
                } else {
                    (&r.second, &r.first)
                };
                assert!(expired.is_ok(), "k={k}: {expired:?}");
                let state = oracle_whole(&r.store, "after create-tag and expire").await;
                match created {
                    Ok(()) => {
                        let tag = state.versions.get("tag-new");
                        assert_eq!(
                            tag.map(|v| (v.snapshot_id, v.rows, v.checksum)),
                            Some((7, snapshot7.rows, snapshot7.checksum)),
                            "k={k}: the created tag does not read as snapshot 7"
                        );
                    }
                    Err(e) => {
                        // Refused: snapshot 7 was already gone, or was expired mid-creation.
                        assert!(
                            matches!(e, tagkeeper::Error::Conflict(_))
                                || e.to_string().contains("snapshot 7"),
                            "k={k}: {e}"
                        );
                        assert!(!state.versions.contains_key("tag-new"), "k={k}");
                    }
                }
            })
        }
    };
    let a = interleave(
        "create-tag, expirer",
        &history,
        tagger,
        expirer,
        true,
        tagged_or_refused("first"),
    )
    .await;
    let b = interleave(
        "expirer, create-tag",
        &history,
        expirer,
        tagger,
        true,
        tagged_or_refused("second"),
    )
    .await;
    assert!(a >= 3 && b >= 20, "{a}, {b} interleavings");
    let (created, refused) = *outcomes.lock().unwrap();
    assert!(
        created > 0 && refused > 0,
        "created {created}, refused {refused}"
    );
}
