//! Every maintenance operation at scale, on synthetic tables built through the real commit path
//! (manifests merged as Java merges them), in an in-memory store that counts requests:
//! snapshots S, files F and tags T over a grid, each operation with its wall time (median of
//! RUNS for the read-only ones), requests by kind, bytes read and the peak heap it added.
//!
//!     cargo bench --bench scale                                   # S∈{1k,10k} F∈{10k,100k} T∈{0,20,365}
//!     SCALE_S=10000 SCALE_F=1000000 SCALE_T=20 cargo bench --bench scale
//!     SCALE_LATENCY_MS=20 cargo bench --bench scale               # also the latency section
//!
//! Results go to stdout and to `target/bench/scale.md` (or the file `SCALE_MD` names).
//! `scripts/bench.sh` runs this with the peer comparison; docs/PERFORMANCE.md holds the results.

#![allow(clippy::panic, clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{brute_force_data_files, env};
use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::{FaultHandle, FaultStore, RequestCounts};
use tagkeeper::io::TableStore;
use tagkeeper::ops::auto_tag::{auto_tag_many, AutoTagRun};
use tagkeeper::ops::expire::{expire, plan as expire_plan, ExpireOptions};
use tagkeeper::ops::orphans::{plan as orphan_plan, OrphanOptions};
use tagkeeper::ops::rollback::{execute as rollback, RollbackMode, RollbackTarget};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::{Table, VersionSpec};
use tagkeeper::write::synthetic::{build, SyntheticSpec};

/// Heap bytes live and their high-water mark (the system allocator, counted).
#[global_allocator]
static HEAP: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

const MIB: f64 = (1 << 20) as f64;

/// One measured operation.
struct Measured {
    secs: f64,
    requests: RequestCounts,
    peak_mib: f64,
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

/// Run `op` `runs` times; the median time, the requests of one run and the largest extra heap.
fn measure<F, Fut, T>(
    rt: &tokio::runtime::Runtime,
    h: &FaultHandle,
    runs: usize,
    op: F,
) -> (Measured, T)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T>,
{
    let mut times = Vec::new();
    let mut requests = RequestCounts::default();
    let mut peak = 0usize;
    let mut last = None;
    for i in 0..runs.max(1) {
        let before = h.counts();
        // The peak heap the operation adds on top of what is already held (the in-memory
        // store with the whole table).
        let base = HEAP.current_usage();
        HEAP.reset_peak_usage();
        let t = Instant::now();
        let out = rt.block_on(op(i));
        times.push(t.elapsed().as_secs_f64());
        peak = peak.max(HEAP.peak_usage().saturating_sub(base));
        requests = diff(before, h.counts());
        last = Some(out);
    }
    times.sort_by(f64::total_cmp);
    let m = Measured {
        secs: times[times.len() / 2],
        requests,
        peak_mib: peak as f64 / MIB,
    };
    (m, last.unwrap())
}

struct Report {
    md: String,
}

impl Report {
    fn new() -> Self {
        let mut md = String::new();
        md.push_str("| S | F | T | operation | time (s) | requests | GET | HEAD | LIST | PUT | DELETE (keys) | MiB read | peak heap added (MiB) | note |\n");
        md.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        Report { md }
    }

    fn row(&mut self, shape: (usize, usize, usize), op: &str, m: &Measured, note: &str) {
        let r = &m.requests;
        let line = format!(
            "| {} | {} | {} | {op} | {:.3} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {note} |\n",
            shape.0,
            shape.1,
            shape.2,
            m.secs,
            r.total(),
            r.get,
            r.head,
            r.list,
            r.put,
            r.delete,
            r.bytes_read as f64 / MIB,
            m.peak_mib,
        );
        print!("{line}");
        self.md.push_str(&line);
    }
}

fn list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn counting_store(latency_ms: u64, concurrency: usize) -> (TableStore, FaultHandle) {
    let fault = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let h = fault.handle();
    h.set_logging(false);
    h.set_latency(Duration::from_millis(latency_ms));
    (
        TableStore::new(Arc::new(fault), "t", concurrency, "memory:///t"),
        h,
    )
}

fn spec(s: usize, f: usize, t: usize, expire: usize) -> SyntheticSpec {
    SyntheticSpec {
        snapshots: s,
        files: f,
        tags: t,
        partitions: 100,
        overwrite_every: 10,
        overwrite_until: (expire * 3 / 2).max(20),
        write_placeholders: true,
        ..Default::default()
    }
}

fn expire_opts(e: usize, ignore_commit_snapshot: bool) -> ExpireOptions {
    ExpireOptions {
        retain_min: 1,
        retain_max: u64::MAX / 4,
        time_retained_millis: 0,
        expire_limit: e as u64,
        ignore_commit_snapshot,
    }
}

const NOW: i64 = 4_000_000_000_000;

/// The whole list of operations on one table shape.
fn one_shape(
    rt: &tokio::runtime::Runtime,
    report: &mut Report,
    (s, f, t): (usize, usize, usize),
    runs: usize,
) {
    // The "expire 1,000 snapshots"; half the table when it is smaller than 2,000.
    let e = (s / 2).clamp(1, 1000);
    let (store, h) = counting_store(0, 32);
    let t0 = Instant::now();
    let built = rt.block_on(build(store, &spec(s, f, t, e))).unwrap();
    let build_secs = t0.elapsed().as_secs_f64();
    println!("built S={s} F={f} T={t} in {build_secs:.1} s");
    let table = built.table;
    let shape = (s, f, t);

    // Files of a version: the planning of a time-travel read.
    let mid_tag = built.tags.get(built.tags.len() / 2).cloned();
    let (m, n) = measure(rt, &h, runs, |_| async {
        let r = tagkeeper::inspect::files(&table, &VersionSpec::Latest)
            .await
            .unwrap();
        r.files.len()
    });
    report.row(
        shape,
        "files of the latest snapshot",
        &m,
        &format!("{n} files"),
    );
    if let Some((name, id)) = &mid_tag {
        let (m, n) = measure(rt, &h, runs, |_| async {
            let r = tagkeeper::inspect::files(&table, &VersionSpec::Tag(name.clone()))
                .await
                .unwrap();
            r.files.len()
        });
        report.row(
            shape,
            "files of a tag",
            &m,
            &format!("tag of snapshot {id}: {n} files"),
        );
    }

    // create-tag: constant requests whatever the size.
    let clock = ManualClock::new(NOW);
    let (m, _) = measure(rt, &h, runs, |i| {
        let table = table.clone();
        let clock = clock.clone();
        async move {
            let req = CreateTag {
                name: TagName::new(&format!("bench-{i}")).unwrap(),
                source: TagSource::Latest,
                time_retained: None,
                if_not_exists: false,
            };
            create_tag(&table, &req, &clock).await.unwrap()
        }
    });
    report.row(shape, "create-tag (latest)", &m, "");
    // Remove them again (tag files only: their snapshot is live).
    let names: Vec<TagName> = (0..runs.max(1))
        .map(|i| TagName::new(&format!("bench-{i}")).unwrap())
        .collect();
    rt.block_on(async {
        let p = tagkeeper::ops::delete_tag::plan(&table, &names)
            .await
            .unwrap();
        tagkeeper::ops::delete_tag::execute(&table, p)
            .await
            .unwrap();
    });

    // Expiration: three strategies, then the fast path executed.
    let expired: Vec<i64> = (1..=e as i64).collect();
    let retained: Vec<i64> = (e as i64 + 1..=s as i64).collect();
    let (fast, fallback) = (expire_opts(e, false), expire_opts(e, true));
    let (m, p) = measure(rt, &h, 1, |_| expire_plan(&table, &fast, NOW));
    let p = p.unwrap();
    let data = p
        .files
        .iter()
        .filter(|f| f.category == tagkeeper::ops::delete_tag::Category::Data)
        .count();
    report.row(
        shape,
        &format!("expire {e}: plan, _COMMIT_SNAPSHOT"),
        &m,
        &format!("{} files ({data} data)", p.files.len()),
    );
    let (m, p2) = measure(rt, &h, 1, |_| expire_plan(&table, &fallback, NOW));
    let p2 = p2.unwrap();
    report.row(
        shape,
        &format!("expire {e}: plan, nearest-tag rule"),
        &m,
        &format!("{} files", p2.files.len()),
    );
    assert_eq!(p.files, p2.files, "the two rules disagree");
    let (m, brute) = measure(rt, &h, 1, |_| {
        brute_force_data_files(&table, &expired, &retained)
    });
    report.row(
        shape,
        &format!("expire {e}: plan, brute-force reachability"),
        &m,
        &format!("{} data files", brute.len()),
    );
    assert_eq!(brute.len(), data, "brute force disagrees");
    let (m, done) = measure(rt, &h, 1, |_| expire(&table, &fast, NOW));
    let done = done.unwrap();
    assert!(done.failed.is_empty());
    report.row(shape, &format!("expire {e}: plan + execute"), &m, "");

    // delete-tag of a tag whose snapshot expired: reclaims what only it kept.
    if let Some((name, id)) = built.tags.iter().find(|(_, id)| id.0 <= e as i64) {
        let (m, r) = measure(rt, &h, 1, |_| async {
            let p = tagkeeper::ops::delete_tag::plan(&table, std::slice::from_ref(name))
                .await
                .unwrap();
            tagkeeper::ops::delete_tag::execute(&table, p)
                .await
                .unwrap()
        });
        let files: u64 = r.deleted.values().map(|t| t.files).sum();
        report.row(
            shape,
            "delete-tag (snapshot expired)",
            &m,
            &format!("tag of snapshot {id}: {files} files reclaimed"),
        );
    }

    // remove-orphan-files: the scan (plan) over every version and every listed file.
    let opts = OrphanOptions {
        older_than_millis: Some(NOW),
        force: true,
    };
    let (m, r) = measure(rt, &h, 1, |_| orphan_plan(&table, &opts, &clock));
    let r = r.unwrap();
    report.row(
        shape,
        "remove-orphan-files scan",
        &m,
        &format!(
            "{} files listed, {} manifests read, {} orphans",
            r.candidates,
            r.read.manifests,
            r.files.len()
        ),
    );

    // rollback-to ten snapshots back (the default: newer snapshots and tags are deleted, their
    // data left for orphan cleaning, as Java does). `--purge` checks every remaining version
    // and is measured on the smallest tables only (see docs/PERFORMANCE.md).
    let target = RollbackTarget::Snapshot(SnapshotId(s as i64 - 10));
    let purge = s * f <= 1000 * 10_000;
    let (m, r) = measure(rt, &h, 1, |_| {
        rollback(&table, &target, RollbackMode::Destructive { purge }, &clock)
    });
    r.unwrap();
    let label = if purge {
        "rollback-to (10 back, --purge)"
    } else {
        "rollback-to (10 back)"
    };
    report.row(shape, label, &m, "");
}

/// auto-tag over many small tables of one warehouse.
fn auto_tag_section(rt: &tokio::runtime::Runtime, report: &mut Report, tables: usize) {
    let fault = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let h = fault.handle();
    h.set_logging(false);
    let root = TableStore::new(Arc::new(fault), "wh", 32, "memory:///wh");
    let mut all = Vec::new();
    for i in 0..tables {
        let store = root.child(&format!("db.db/t{i}")).unwrap();
        let spec = SyntheticSpec {
            snapshots: 100,
            files: 1000,
            tags: 0,
            partitions: 10,
            ..Default::default()
        };
        all.push(rt.block_on(build(store, &spec)).unwrap().table);
    }
    let run = AutoTagRun {
        overrides: vec![
            ("tag.automatic-creation".into(), "process-time".into()),
            ("tag.creation-period".into(), "hourly".into()),
        ],
        dry_run: false,
        skip_time_expire: false,
    };
    // The synthetic commits are a minute apart from 2024-01-01: 100 commits span two hours.
    let clock = ManualClock::new(1_704_067_200_000 + 3 * 3_600_000);
    let (m, reports) = measure(rt, &h, 1, |_| {
        auto_tag_many(all.clone(), &run, &clock, 16, &|| false)
    });
    let created: usize = reports
        .iter()
        .map(|r| r.tags.iter().filter(|t| t.outcome == "created").count())
        .sum();
    report.row(
        (100, 1000, 0),
        &format!("auto-tag over {tables} tables"),
        &m,
        &format!("{created} tags created"),
    );
    let (m, _) = measure(rt, &h, 1, |_| {
        auto_tag_many(all.clone(), &run, &clock, 16, &|| false)
    });
    report.row(
        (100, 1000, 0),
        &format!("auto-tag over {tables} tables, again"),
        &m,
        "nothing to do",
    );
}

/// What bounded concurrency buys when each request takes `latency_ms`.
fn latency_section(rt: &tokio::runtime::Runtime, report: &mut Report, latency_ms: u64) {
    for concurrency in [1usize, 8, 32, 64] {
        let (store, h) = counting_store(0, concurrency);
        let built = rt
            .block_on(build(store, &spec(1000, 10_000, 20, 100)))
            .unwrap();
        let table: Table = built.table;
        h.set_latency(Duration::from_millis(latency_ms));
        let (m, _) = measure(rt, &h, 1, |_| async {
            tagkeeper::inspect::files(&table, &VersionSpec::Latest)
                .await
                .unwrap()
        });
        report.row(
            (1000, 10_000, 20),
            &format!(
                "files of the latest snapshot, {latency_ms} ms/request, concurrency {concurrency}"
            ),
            &m,
            "",
        );
        let opts = expire_opts(100, false);
        let (m, _) = measure(rt, &h, 1, |_| expire(&table, &opts, NOW));
        report.row(
            (1000, 10_000, 20),
            &format!("expire 100, {latency_ms} ms/request, concurrency {concurrency}"),
            &m,
            "",
        );
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut report = Report::new();
    let (ss, fs, ts, runs) = if quick {
        (vec![60], vec![600], vec![0, 6], 1)
    } else {
        (
            list("SCALE_S", &[1000, 10_000]),
            list("SCALE_F", &[10_000, 100_000]),
            list("SCALE_T", &[0, 20, 365]),
            env("RUNS", 5),
        )
    };
    for &s in &ss {
        for &f in &fs {
            for &t in &ts {
                one_shape(&rt, &mut report, (s, f, t), runs);
            }
        }
    }
    auto_tag_section(
        &rt,
        &mut report,
        if quick { 3 } else { env("SCALE_TABLES", 100) },
    );
    let latency = env("SCALE_LATENCY_MS", if quick { 0 } else { 20 });
    if latency > 0 {
        latency_section(&rt, &mut report, latency as u64);
    }
    let mut header = String::new();
    let _ = writeln!(
        header,
        "<!-- cargo bench --bench scale; runs per read-only operation: {runs} -->"
    );
    let out = std::env::var("SCALE_MD").unwrap_or_else(|_| "target/bench/scale.md".to_owned());
    if let Some(dir) = std::path::Path::new(&out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&out, header + &report.md);
}
