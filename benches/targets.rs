//! Issue 20, targets 3 and 5: rollback-to --purge against expiring the same range, and what
//! bounded concurrency buys when every request takes 20 ms.
//!
//!     cargo bench --bench targets                  # S=1000 F=10000, T ∈ {0, 20}; 20 ms
//!     TARGETS_LATENCY_MS=20 TARGETS_CONCURRENCY=1,8,32,64,128 cargo bench --bench targets
//!
//! Every run starts from a copy of one freshly built table (in memory, behind the
//! request-counting `FaultStore`), so the destructive runs compare like with like. Results go to
//! stdout and `target/bench/targets.md`; docs/PERFORMANCE.md holds them.

#![allow(clippy::panic, clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::env;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::SnapshotId;
use tagkeeper::io::fault::{FaultHandle, FaultStore, RequestCounts};
use tagkeeper::io::TableStore;
use tagkeeper::ops::expire::{expire, plan as expire_plan, ExpireOptions};
use tagkeeper::ops::orphans::{plan as orphan_plan, OrphanOptions};
use tagkeeper::ops::rollback::{
    execute as rollback, execute_plan, plan_with, RollbackMode, RollbackTarget,
};
use tagkeeper::table::Table;
use tagkeeper::write::synthetic::{build, SyntheticSpec};

const NOW: i64 = 4_000_000_000_000;

fn list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn spec(s: usize, f: usize, t: usize) -> SyntheticSpec {
    SyntheticSpec {
        snapshots: s,
        files: f,
        tags: t,
        partitions: 100,
        overwrite_every: 10,
        // Deletions in the first 1.5 × 500 commits (as the scale bench builds it).
        overwrite_until: (s / 2).clamp(1, 1000) * 3 / 2,
        write_placeholders: true,
        ..Default::default()
    }
}

fn expire_opts(e: usize) -> ExpireOptions {
    ExpireOptions {
        retain_min: 1,
        retain_max: u64::MAX / 4,
        time_retained_millis: 0,
        expire_limit: e as u64,
        ignore_commit_snapshot: false,
    }
}

/// A built table, kept as the bytes of its store.
struct Master {
    store: Arc<InMemory>,
}

impl Master {
    fn build(rt: &tokio::runtime::Runtime, s: usize, f: usize, t: usize) -> Self {
        let store = Arc::new(InMemory::new());
        let ts = TableStore::new(store.clone(), "t", 32, "memory:///t");
        let start = Instant::now();
        rt.block_on(build(ts, &spec(s, f, t))).unwrap();
        println!(
            "built S={s} F={f} T={t} in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        Master { store }
    }

    /// A fresh copy of the table behind a counting store with `concurrency` requests in flight.
    fn copy(&self, rt: &tokio::runtime::Runtime, concurrency: usize) -> (Table, FaultHandle) {
        let copy = Arc::new(InMemory::new());
        rt.block_on(async {
            let all: Vec<_> = self.store.list(None).try_collect().await.unwrap();
            for o in all {
                let bytes = self
                    .store
                    .get(&o.location)
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                copy.put(&o.location, PutPayload::from(bytes))
                    .await
                    .unwrap();
            }
        });
        let fault = FaultStore::new(copy);
        let h = fault.handle();
        h.set_logging(false);
        let store = TableStore::new(Arc::new(fault), "t", concurrency, "memory:///t");
        (Table::new(store), h)
    }
}

struct Run {
    secs: f64,
    requests: RequestCounts,
    max_in_flight: u64,
}

fn diff(a: RequestCounts, b: RequestCounts) -> RequestCounts {
    RequestCounts {
        get: b.get - a.get,
        head: b.head - a.head,
        put: b.put - a.put,
        list: b.list - a.list,
        delete: b.delete - a.delete,
        delete_batches: b.delete_batches - a.delete_batches,
        copy: b.copy - a.copy,
        bytes_read: b.bytes_read - a.bytes_read,
    }
}

fn run<T>(
    rt: &tokio::runtime::Runtime,
    h: &FaultHandle,
    fut: impl std::future::Future<Output = T>,
) -> (Run, T) {
    let before = h.counts();
    h.reset_max_in_flight();
    let t = Instant::now();
    let out = rt.block_on(fut);
    let secs = t.elapsed().as_secs_f64();
    (
        Run {
            secs,
            requests: diff(before, h.counts()),
            max_in_flight: h.max_in_flight(),
        },
        out,
    )
}

fn requests(r: &RequestCounts) -> String {
    format!(
        "{} ({} GET, {} HEAD, {} LIST, {} PUT, {} DELETE keys in {} bulk requests)",
        r.total(),
        r.get,
        r.head,
        r.list,
        r.put,
        r.delete,
        r.delete_batches
    )
}

/// Target 3: rollback-to ten snapshots back with --purge, against expiring ten snapshots (the
/// same number of versions removed) and against the grid's expiration of half the table.
fn purge_section(rt: &tokio::runtime::Runtime, md: &mut String, s: usize, f: usize, t: usize) {
    let master = Master::build(rt, s, f, t);
    let clock = ManualClock::new(NOW);
    let back = 10usize;
    let target = RollbackTarget::Snapshot(SnapshotId((s - back) as i64));

    let (table, h) = master.copy(rt, 32);
    let (purge, report) = run(
        rt,
        &h,
        rollback(
            &table,
            &target,
            RollbackMode::Destructive { purge: true },
            &clock,
        ),
    );
    let report = report.unwrap();
    assert!(report.failed.is_empty());
    assert!(report.plan.purge, "the purge ran: {:?}", report.plan.notes);
    let purged = report.plan.unreferenced.len();

    let by = report.plan.unreferenced_decided_by;

    // The same purge decided by the model, every remaining version read.
    let (table, h) = master.copy(rt, 32);
    let mode = RollbackMode::Destructive { purge: true };
    let (model, r) = run(rt, &h, async {
        let plan = plan_with(&table, &target, mode, true).await?;
        execute_plan(&table, plan, &clock).await
    });
    let r = r.unwrap();
    assert!(r.failed.is_empty());
    assert_eq!(
        r.plan.unreferenced, report.plan.unreferenced,
        "the model purges the same files"
    );

    let (table, h) = master.copy(rt, 32);
    let (plain, r) = run(
        rt,
        &h,
        rollback(
            &table,
            &target,
            RollbackMode::Destructive { purge: false },
            &clock,
        ),
    );
    r.unwrap();

    let mut rows = vec![
        (
            format!(
                "rollback-to {back} back --purge ({purged} files purged; decided by {})",
                by.map_or("nothing".to_string(), |b| format!("{b:?}"))
            ),
            purge,
        ),
        (
            format!("rollback-to {back} back --purge, decided by the model"),
            model,
        ),
        (format!("rollback-to {back} back (no purge)"), plain),
    ];
    for e in [back, (s / 2).clamp(1, 1000)] {
        let (table, h) = master.copy(rt, 32);
        let (m, r) = run(rt, &h, expire(&table, &expire_opts(e), NOW));
        let r = r.unwrap();
        assert!(r.failed.is_empty());
        rows.push((
            format!("expire {e} (plan + execute, {} files)", r.plan.files.len()),
            m,
        ));
    }
    let base = rows[3].1.secs;
    let base_req = rows[3].1.requests.total() as f64;
    for (label, m) in &rows {
        let line = format!(
            "| {s} | {f} | {t} | {label} | {:.3} | {} | {:.1} | {:.1} |\n",
            m.secs,
            requests(&m.requests),
            m.secs / base,
            m.requests.total() as f64 / base_req,
        );
        print!("{line}");
        md.push_str(&line);
    }
}

/// Target 5: expire-snapshots and the orphan scan with `latency_ms` added to every request, at
/// each concurrency, against one request in flight.
fn latency_section(
    rt: &tokio::runtime::Runtime,
    md: &mut String,
    latency_ms: u64,
    concurrencies: &[usize],
) {
    let (s, f, t, e) = (1000, 10_000, 20, 100);
    let master = Master::build(rt, s, f, t);
    let clock = ManualClock::new(NOW);
    let opts = OrphanOptions {
        older_than_millis: Some(NOW),
        force: true,
    };
    let mut base: [Option<f64>; 4] = [None; 4];
    for &c in concurrencies {
        let (table, h) = master.copy(rt, c);
        h.set_latency(Duration::from_millis(latency_ms));
        let (plan, p) = run(rt, &h, expire_plan(&table, &expire_opts(e), NOW));
        p.unwrap();
        let (both, r) = run(rt, &h, expire(&table, &expire_opts(e), NOW));
        assert!(r.unwrap().failed.is_empty());
        let (table, h) = master.copy(rt, c);
        h.set_latency(Duration::from_millis(latency_ms));
        let (scan, r) = run(rt, &h, orphan_plan(&table, &opts, &clock));
        r.unwrap();
        // Target 3 at latency: the same number of snapshots rolled back, with --purge.
        let (table, h) = master.copy(rt, c);
        h.set_latency(Duration::from_millis(latency_ms));
        let target = RollbackTarget::Snapshot(SnapshotId((s - e) as i64));
        let mode = RollbackMode::Destructive { purge: true };
        let (purge, r) = run(rt, &h, rollback(&table, &target, mode, &clock));
        let r = r.unwrap();
        assert!(r.failed.is_empty() && r.plan.purge);
        for (i, (label, m)) in [
            (format!("expire {e}: plan"), plan),
            (format!("expire {e}: plan + execute"), both),
            ("remove-orphan-files scan".to_string(), scan),
            (
                format!(
                    "rollback-to {e} back --purge ({} files; {:?})",
                    r.plan.unreferenced.len(),
                    r.plan.unreferenced_decided_by
                ),
                purge,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let b = *base[i].get_or_insert(m.secs);
            let line = format!(
                "| {label} | {c} | {:.2} | {} | {} | {:.0} | {} | {:.1} |\n",
                m.secs,
                requests(&m.requests),
                m.requests.round_trips(),
                m.requests.round_trips() as f64 / m.secs,
                m.max_in_flight,
                b / m.secs,
            );
            print!("{line}");
            md.push_str(&line);
        }
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut md = String::new();
    let _ = writeln!(md, "<!-- cargo bench --bench targets -->");
    md.push_str("\n| S | F | T | run | time (s) | requests | time / expire of the same count | requests / expire of the same count |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    let (s, f) = if quick {
        (60, 600)
    } else {
        (env("TARGETS_S", 1000), env("TARGETS_F", 10_000))
    };
    for t in list("TARGETS_T", if quick { &[0, 6] } else { &[0, 20] }) {
        purge_section(&rt, &mut md, s, f, t);
    }
    let latency = env("TARGETS_LATENCY_MS", if quick { 0 } else { 20 });
    if latency > 0 {
        let _ = writeln!(
            md,
            "\nS=1000 F=10000 T=20, {latency} ms added to every request:\n"
        );
        md.push_str("| run | concurrency | time (s) | requests (deletes per key) | round trips (deletes per bulk of ≤ 1,000) | round trips/s | most in flight | speedup over concurrency 1 |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        let cs = list("TARGETS_CONCURRENCY", &[1, 8, 32, 64, 128]);
        latency_section(&rt, &mut md, latency as u64, &cs);
    }
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write("target/bench/targets.md", md);
}
