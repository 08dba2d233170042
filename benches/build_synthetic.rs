//! Time building a large synthetic table through the real commit path, in memory, and count the
//! store requests it made. Target (issue "write path"): 10,000 snapshots over 100,000 files in
//! under a minute on a 2-core machine.
//!
//!     cargo bench --bench build_synthetic                       # S=10000 F=100000 T=20
//!     SNAPSHOTS=1000 FILES=10000 TAGS=20 cargo bench --bench build_synthetic

#![allow(clippy::panic, clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::env;
use tagkeeper::io::fault::FaultStore;
use tagkeeper::io::TableStore;
use tagkeeper::table::VersionSpec;
use tagkeeper::write::synthetic::{build, SyntheticSpec};

fn main() {
    // `cargo test --all-targets` runs bench binaries once with `--bench` absent: do a tiny build.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (s, f, t) = if quick {
        (50, 500, 5)
    } else {
        (
            env("SNAPSHOTS", 10_000),
            env("FILES", 100_000),
            env("TAGS", 20),
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let fault = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let handle = fault.handle();
    let store = TableStore::new(Arc::new(fault), "t", 32, "memory:///t");
    let spec = SyntheticSpec {
        snapshots: s,
        files: f,
        tags: t,
        partitions: 100,
        overwrite_every: 0,
        ..Default::default()
    };
    let start = Instant::now();
    let built = rt
        .block_on(build(store, &spec))
        .unwrap_or_else(|e| panic!("{e}"));
    let elapsed = start.elapsed();
    let counts = handle.counts();
    let live = rt.block_on(async {
        let v = built.table.resolve(&VersionSpec::Latest).await?;
        built.table.data_files(&v.snapshot, "latest").await
    });
    let live = live.map(|l| l.len()).unwrap_or(0);
    println!(
        "build_synthetic snapshots={s} files={f} tags={t}: {:.1} s ({:.2} ms/commit), live files {live}, requests {} (get {}, head {}, put {}, list {}), {:.1} MiB read",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / s as f64,
        counts.total(),
        counts.get,
        counts.head,
        counts.put,
        counts.list,
        counts.bytes_read as f64 / (1 << 20) as f64
    );
    assert_eq!(
        live,
        f.div_ceil(s).max(1).min(f.max(1)) * s.min(f),
        "every file is live"
    );
}
