//! Random corruption of a fixture's metadata (a bounded, fuzz-style search): one snapshot, tag,
//! schema, hint, manifest list or manifest is truncated, bit-flipped, overwritten with garbage
//! or emptied. Every reader and every destructive command must then either succeed or fail
//! with an error naming a file — never panic — and a destructive command that fails must have
//! deleted nothing.

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;
use tagkeeper::clock::ManualClock;
use tagkeeper::inspect;
use tagkeeper::ops::check::{check, CheckOptions};
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions};
use tagkeeper::table::{Table, VersionSpec};

use crate::common::*;
use crate::fixtures::walk;

const TABLES: [&str; 4] = [
    "tagged",
    "partitioned_overwrite",
    "pk_fixed_bucket",
    "rolled_back",
];

#[derive(Debug, Clone)]
enum Damage {
    Truncate(f64),
    Flip(f64, u8),
    Garbage(f64, Vec<u8>),
    Empty,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Damage::Truncate),
        (0.0..1.0f64, 1u8..=255).prop_map(|(at, x)| Damage::Flip(at, x)),
        (0.0..1.0f64, proptest::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, g)| Damage::Garbage(at, g)),
        Just(Damage::Empty),
    ]
}

fn apply(bytes: &[u8], d: &Damage) -> Vec<u8> {
    let at = |f: f64| ((bytes.len() as f64) * f) as usize;
    match d {
        Damage::Truncate(f) => bytes[..at(*f)].to_vec(),
        Damage::Flip(f, x) => {
            let mut b = bytes.to_vec();
            if !b.is_empty() {
                let i = at(*f).min(b.len() - 1);
                b[i] ^= x;
            }
            b
        }
        Damage::Garbage(f, g) => {
            let mut b = bytes.to_vec();
            let i = at(*f).min(b.len());
            let end = (i + g.len()).min(b.len());
            b.splice(i..end, g.iter().copied());
            b
        }
        Damage::Empty => Vec::new(),
    }
}

/// Metadata files of a table, sorted.
fn metadata(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .into_iter()
        .filter(|p| {
            ["snapshot/", "tag/", "schema/", "manifest/"]
                .iter()
                .any(|d| p.starts_with(d))
        })
        .collect();
    v.sort();
    v
}

fn files(dir: &Path) -> BTreeSet<String> {
    walk(dir).into_iter().collect()
}

/// A failure must name a file of the table.
fn names_a_file(e: &tagkeeper::Error, dir: &Path) -> bool {
    let msg = e.to_string();
    let existing = walk(dir).iter().any(|f| {
        let name = f.rsplit('/').next().unwrap_or(f);
        msg.contains(name)
    });
    // A damaged reference (a flipped byte in a file name inside a snapshot or a manifest list)
    // is reported as the file it names being missing: that file must then really be absent.
    let missing = msg.contains("missing metadata file")
        && msg
            .split_whitespace()
            .filter(|w| {
                ["snapshot/", "tag/", "manifest/", "schema/"]
                    .iter()
                    .any(|d| w.starts_with(d))
            })
            .any(|w| !dir.join(w).exists());
    existing || missing
}

async fn exercise(dir: &Path) {
    let t: Table = match Table::open(dir.to_str().unwrap(), &Default::default()).await {
        Ok(t) => t,
        Err(e) => {
            assert!(names_a_file(&e, dir), "open: {e}");
            return;
        }
    };
    // Readers.
    let _ = inspect::snapshots(&t).await;
    let _ = inspect::tags_with(&t, true).await;
    if let Ok(range) = t.snapshot_range().await {
        for id in range.ids {
            if let Err(e) = inspect::files(&t, &VersionSpec::Snapshot(id)).await {
                assert!(names_a_file(&e, dir), "files of {id}: {e}");
            }
        }
    }
    let _ = check(&t, &CheckOptions { deep: true }).await;
    // Destructive commands: a failure deletes nothing.
    let before = files(dir);
    let opts = ExpireOptions {
        retain_min: 1,
        retain_max: u64::MAX / 4,
        time_retained_millis: 0,
        expire_limit: 1000,
        ignore_commit_snapshot: false,
    };
    if let Err(e) = expire(&t, &opts, 4_000_000_000_000).await {
        assert!(names_a_file(&e, dir), "expire: {e}");
        assert_eq!(files(dir), before, "a failed expiration deleted files: {e}");
    }
    let before = files(dir);
    let far = ManualClock::new(4_000_000_000_000);
    if let Err(e) = remove_orphan_files(&t, &OrphanOptions::default(), false, &far).await {
        assert!(names_a_file(&e, dir), "remove-orphan-files: {e}");
        assert_eq!(files(dir), before, "a failed orphan run deleted files: {e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_corruption_never_panics_and_failures_delete_nothing(
        table in 0usize..TABLES.len(),
        pick in 0.0..1.0f64,
        d in damage(),
    ) {
        let (_keep, dir) = copy_table(TABLES[table]);
        let candidates = metadata(&dir);
        let victim = &candidates[((candidates.len() as f64) * pick) as usize % candidates.len()];
        let path = dir.join(victim);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, apply(&bytes, &d)).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(exercise(&dir));
    }
}
