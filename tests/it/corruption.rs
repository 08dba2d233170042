//! Random corruption of a fixture's metadata (a bounded, fuzz-style search): one snapshot, tag,
//! schema, hint, manifest list or manifest is truncated, bit-flipped, overwritten with garbage
//! or emptied. Every reader and every destructive command must then either succeed or fail
//! with an error naming the damaged file (or a file it now names that does not exist) — never
//! panic. A destructive command that fails must have deleted nothing; one that succeeds must
//! have kept every file that the versions it left in place need, as the independent oracle
//! reads them on the undamaged table.

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
use crate::oracle;

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

/// A failure must name the damaged file, or a file that the damage made it name and that does
/// not exist (a flipped byte in a file name inside a snapshot or a manifest list is reported as
/// that file missing). Naming some other file of the table is not enough.
fn names_the_damage(e: &tagkeeper::Error, damaged: &str, undamaged: &BTreeSet<String>) -> bool {
    let msg = e.to_string();
    if msg.contains(damaged) {
        return true;
    }
    msg.split(|c: char| c.is_whitespace() || "()'\",;:".contains(c))
        .filter(|w| {
            ["snapshot/", "tag/", "manifest/", "schema/"]
                .iter()
                .any(|d| w.starts_with(d))
        })
        .any(|w| !undamaged.contains(w))
}

/// After a successful destructive run: every version still there keeps every file it needs.
fn needs_kept(undamaged: &oracle::State, dir: &Path, context: &str) {
    let names: BTreeSet<String> = walk(dir)
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .collect();
    for (version, v) in &undamaged.versions {
        let kind = if version.starts_with("tag-") {
            "tag"
        } else {
            "snapshot"
        };
        if !dir.join(kind).join(version).exists() {
            continue;
        }
        let lost: Vec<&String> = v.needs.iter().filter(|n| !names.contains(*n)).collect();
        assert!(
            lost.is_empty(),
            "{context} succeeded but {version} lost {lost:?}"
        );
    }
}

async fn exercise(
    dir: &Path,
    damaged: &str,
    undamaged: &oracle::State,
    files_before: &BTreeSet<String>,
) {
    let named = |e: &tagkeeper::Error| names_the_damage(e, damaged, files_before);
    let t: Table = match Table::open(dir.to_str().unwrap(), &Default::default()).await {
        Ok(t) => t,
        Err(e) => {
            assert!(named(&e), "open: {e}");
            return;
        }
    };
    // Readers.
    let _ = inspect::snapshots(&t).await;
    let _ = inspect::tags_with(&t, true).await;
    if let Ok(range) = t.snapshot_range().await {
        for id in range.ids {
            if let Err(e) = inspect::files(&t, &VersionSpec::Snapshot(id)).await {
                assert!(named(&e), "files of {id}: {e}");
            }
        }
    }
    let _ = check(&t, &CheckOptions { deep: true }).await;
    // Destructive commands: a failure deletes nothing; a success keeps what remains whole.
    let before = files(dir);
    let opts = ExpireOptions {
        retain_min: 1,
        retain_max: u64::MAX / 4,
        time_retained_millis: 0,
        expire_limit: 1000,
        ignore_commit_snapshot: false,
    };
    match expire(&t, &opts, 4_000_000_000_000).await {
        Err(e) => {
            assert!(named(&e), "expire: {e}");
            assert_eq!(files(dir), before, "a failed expiration deleted files: {e}");
        }
        Ok(_) => needs_kept(undamaged, dir, "expire"),
    }
    let before = files(dir);
    let far = ManualClock::new(4_000_000_000_000);
    match remove_orphan_files(&t, &OrphanOptions::default(), false, &far).await {
        Err(e) => {
            assert!(named(&e), "remove-orphan-files: {e}");
            assert_eq!(files(dir), before, "a failed orphan run deleted files: {e}");
        }
        Ok(_) => needs_kept(undamaged, dir, "remove-orphan-files"),
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
        let undamaged = oracle::observe(&dir);
        undamaged.assert_whole_parquet(TABLES[table]);
        let files_before = files(&dir);
        let candidates = metadata(&dir);
        let victim = &candidates[((candidates.len() as f64) * pick) as usize % candidates.len()];
        let path = dir.join(victim);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, apply(&bytes, &d)).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(exercise(&dir, victim, &undamaged, &files_before));
    }
}
