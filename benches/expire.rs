//! Expire 1,000 snapshots of a 10,000-snapshot, 100,000-file table with 20 tags (every 10th
//! commit up to 1.5× the expired range an overwrite, so deltas delete files), three ways: the `_COMMIT_SNAPSHOT` fast path,
//! Java's nearest-tag rule, and brute-force reachability (read every retained snapshot and
//! tag). Wall time, requests by kind, and how many requests read a tag's manifests to protect
//! files (the manifests of the expired deltas, which every strategy must read, are not
//! counted). All three must choose the same data files. Then the fast-path plan is executed.
//!
//!     cargo bench --bench expire                                  # S=10000 F=100000 E=1000
//!     SNAPSHOTS=2000 FILES=20000 EXPIRE=200 cargo bench --bench expire

#![allow(clippy::panic, clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use common::{brute_force_data_files, env, Requests};
use tagkeeper::io::fault::{FaultHandle, FaultStore};
use tagkeeper::io::TableStore;
use tagkeeper::ops::delete_tag::Category;
use tagkeeper::ops::expire::{expire, plan, ExpireOptions};
use tagkeeper::write::synthetic::{build, SyntheticSpec};

fn tag_reads(h: &FaultHandle, start: u64, tag_manifests: &BTreeSet<String>) -> usize {
    h.log()
        .into_iter()
        .filter(|(n, kind, p)| {
            *n > start && *kind == "get" && tag_manifests.iter().any(|m| p.ends_with(m.as_str()))
        })
        .count()
}

fn report(label: &str, h: &FaultHandle, start: u64, secs: f64, tag_manifests: &BTreeSet<String>) {
    println!(
        "{label:<30} {secs:>7.2} s   requests {}   tag manifest reads {}",
        Requests::since(h, start).describe(),
        tag_reads(h, start, tag_manifests)
    );
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (s, f, e, t) = if quick {
        (60, 600, 20, 2)
    } else {
        (
            env("SNAPSHOTS", 10_000),
            env("FILES", 100_000),
            env("EXPIRE", 1_000),
            env("TAGS", 20),
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
        tags: t,
        partitions: 100,
        overwrite_every: 10,
        // Deletions are needed in the expired range; later overwrites would only slow the
        // build (each reads the live entries of its partition).
        overwrite_until: (e * 3 / 2).max(20),
        write_placeholders: true,
        ..Default::default()
    };
    let t0 = Instant::now();
    let built = rt.block_on(build(store, &spec)).unwrap();
    println!(
        "built snapshots={s} files={f} tags={t} in {:.1} s",
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
    let expired_ids: Vec<i64> = (1..=e as i64).collect();
    let retained_ids: Vec<i64> = (e as i64 + 1..=s as i64).collect();
    let expired_deltas: BTreeSet<String> = rt.block_on(async {
        let mut out = BTreeSet::new();
        for id in &expired_ids {
            let Some(snap) = table
                .try_load_snapshot(tagkeeper::format::ids::SnapshotId(*id))
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
    let mut chosen: Vec<BTreeSet<String>> = Vec::new();
    let data_names = |p: &tagkeeper::ops::expire::ExpirePlan| -> BTreeSet<String> {
        p.files
            .iter()
            .filter(|f| f.category == Category::Data)
            .map(|f| f.path.rsplit('/').next().unwrap_or(&f.path).to_string())
            .collect()
    };
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
        assert_eq!(p.expired_snapshots, expired_ids);
        println!(
            "    expires {} snapshots, {} files to delete ({} data); decided by commit snapshot {}, by nearest tag {}",
            p.expired_snapshots.len(),
            p.files.len(),
            data_names(&p).len(),
            p.decided_by_commit_snapshot,
            p.decided_by_nearest_tag
        );
        if !ignore {
            let batches = p.files.len().div_ceil(1000) + e.div_ceil(1000);
            let minimum = 2 * e + expired_deltas.len() + batches;
            let r = Requests::since(&h, start);
            println!(
                "    minimum for the decision: {e} snapshot + {e} delta-list + {} delta-manifest reads; \
                 plan requests / that = {:.2}",
                expired_deltas.len(),
                r.total as f64 / (2 * e + expired_deltas.len()) as f64
            );
            println!("    bulk delete batches needed (1,000 keys each): {batches}; minimum total {minimum}");
        }
        chosen.push(data_names(&p));
    }
    let start = h.requests();
    let t1 = Instant::now();
    let brute = rt.block_on(brute_force_data_files(&table, &expired_ids, &retained_ids));
    report(
        "plan, brute-force reachability",
        &h,
        start,
        t1.elapsed().as_secs_f64(),
        &tag_manifests,
    );
    println!("    {} data files to delete", brute.len());
    chosen.push(brute);
    assert_eq!(
        chosen[0], chosen[1],
        "fast path and nearest-tag rule differ"
    );
    assert_eq!(chosen[0], chosen[2], "fast path and brute force differ");
    println!(
        "all three strategies choose the same {} data files",
        chosen[0].len()
    );

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
