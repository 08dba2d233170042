//! Expire 1,000 snapshots of a 10,000-snapshot, 100,000-file table with 20 tags (every 10th
//! commit an overwrite, so deltas delete files): the `_COMMIT_SNAPSHOT` fast path against
//! Java's nearest-tag rule, with wall time and requests by kind, and how many requests read a
//! tag's manifests to protect files (manifests of the expired deltas, which both must read, are
//! not counted). Then the fast-path plan is executed.
//!
//!     cargo bench --bench expire
//!     SNAPSHOTS=2000 FILES=20000 EXPIRE=200 cargo bench --bench expire

#![allow(clippy::panic, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use tagkeeper::io::fault::{FaultHandle, FaultStore};
use tagkeeper::io::TableStore;
use tagkeeper::ops::expire::{expire, plan, ExpireOptions};
use tagkeeper::write::synthetic::{build, SyntheticSpec};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(label: &str, h: &FaultHandle, start: u64, secs: f64, tag_manifests: &BTreeSet<String>) {
    let log: Vec<_> = h.log().into_iter().filter(|(n, _, _)| *n > start).collect();
    let count = |k: &str| log.iter().filter(|(_, kind, _)| *kind == k).count();
    let tag_reads = log
        .iter()
        .filter(|(_, kind, p)| {
            *kind == "get" && tag_manifests.iter().any(|m| p.ends_with(m.as_str()))
        })
        .count();
    println!(
        "{label:<28} {secs:>7.2} s   requests {:>6} (get {}, head {}, list {}, put {}, delete {})   tag manifest reads {tag_reads}",
        log.len(),
        count("get"),
        count("head"),
        count("list"),
        count("put"),
        count("delete"),
    );
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (s, f, e) = if quick {
        (60, 600, 20)
    } else {
        (
            env("SNAPSHOTS", 10_000),
            env("FILES", 100_000),
            env("EXPIRE", 1_000),
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fault = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let h = fault.handle();
    let store = TableStore::new(Arc::new(fault), "t", 32, "memory:///t");
    let spec = SyntheticSpec {
        snapshots: s,
        files: f,
        tags: 20,
        partitions: 100,
        overwrite_every: 10,
        write_placeholders: true,
        ..Default::default()
    };
    let t0 = Instant::now();
    let built = rt.block_on(build(store, &spec)).unwrap();
    println!(
        "built snapshots={s} files={f} tags=20 in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let table = built.table;
    // The manifests of every tag: reading any of them is a "tag manifest read".
    let tag_manifests: BTreeSet<String> = rt.block_on(async {
        let mut out = BTreeSet::new();
        for t in table.tags().await.unwrap() {
            for list in [
                &t.tag.snapshot.base_manifest_list,
                &t.tag.snapshot.delta_manifest_list,
            ] {
                for m in table.manifest_list(list, "bench").await.unwrap() {
                    out.insert(format!("manifest/{}", m.file_name));
                }
            }
        }
        out
    });
    // Manifests the plan must read anyway (the deltas of the expired range) are not counted.
    let expired_deltas: BTreeSet<String> = rt.block_on(async {
        let mut out = BTreeSet::new();
        for id in 2..=(e as i64 + 1) {
            let Some(snap) = table
                .try_load_snapshot(tagkeeper::format::ids::SnapshotId(id))
                .await
                .unwrap()
            else {
                continue;
            };
            for m in table
                .manifest_list(&snap.delta_manifest_list, "bench")
                .await
                .unwrap()
            {
                out.insert(format!("manifest/{}", m.file_name));
            }
        }
        out
    });
    let tag_manifests: BTreeSet<String> =
        tag_manifests.difference(&expired_deltas).cloned().collect();
    let opts = ExpireOptions {
        retain_min: 1,
        retain_max: u64::MAX / 4,
        time_retained_millis: 0,
        expire_limit: e as u64,
        ignore_commit_snapshot: false,
    };
    let now = 4_000_000_000_000;
    for (label, ignore) in [
        ("plan, _COMMIT_SNAPSHOT", false),
        ("plan, nearest-tag fallback", true),
    ] {
        let o = ExpireOptions {
            ignore_commit_snapshot: ignore,
            ..opts.clone()
        };
        let start = h.requests();
        let t1 = Instant::now();
        let p = rt.block_on(plan(&table, &o, now)).unwrap();
        report(label, &h, start, t1.elapsed().as_secs_f64(), &tag_manifests);
        println!(
            "    expires {} snapshots, {} files to delete; decided by commit snapshot {}, by nearest tag {}",
            p.expired_snapshots.len(),
            p.files.len(),
            p.decided_by_commit_snapshot,
            p.decided_by_nearest_tag
        );
    }
    let start = h.requests();
    let t2 = Instant::now();
    let done = rt.block_on(expire(&table, &opts, now)).unwrap();
    report(
        "plan + execute, fast path",
        &h,
        start,
        t2.elapsed().as_secs_f64(),
        &tag_manifests,
    );
    assert!(done.failed.is_empty());
}
