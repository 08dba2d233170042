//! The sharded orphan scan (`ops::orphans::shard`): on every pypaimon fixture and a few Java
//! tables, with orphans and unknown files planted across partitions and buckets, the merged
//! plan of any number of shards equals the single-process plan exactly (the same orphans in the
//! same order, the same unknown files, empty directories and counts); executed once, it
//! deletes exactly those files. A shard missing from the merge, or a table changed after the
//! shards were planned, deletes nothing.

use std::collections::BTreeSet;
use std::path::Path;

use tagkeeper::clock::SystemClock;
use tagkeeper::ops::orphans::shard::{merge, plan_shards, scan_shard};
use tagkeeper::ops::orphans::{plan, OrphanOptions, OrphanPlan};
use tagkeeper::ops::saved_plan::{apply, Applied, PlannedCommand};
use tagkeeper::Error;

use super::{age_everything, files, plant, uuid, OLD};
use crate::common::*;

/// Orphans and unknown files in every bucket directory and in the metadata directories.
fn plant_everywhere(dir: &Path) {
    let buckets: BTreeSet<String> = crate::fixtures::walk(dir)
        .into_iter()
        .filter_map(|k| {
            let (parent, _) = k.rsplit_once('/')?;
            parent
                .rsplit('/')
                .next()
                .filter(|n| n.starts_with("bucket-"))
                .map(|_| parent.to_string())
        })
        .collect();
    for b in &buckets {
        plant(
            dir,
            &format!("{b}/data-{}-0.parquet", uuid()),
            b"orphan",
            OLD,
        );
        plant(dir, &format!("{b}/notes-{}.txt", uuid()), b"unknown", OLD);
    }
    plant(dir, &format!("manifest/manifest-{}-0", uuid()), b"m", OLD);
    plant(dir, &format!("manifest/README-{}.md", uuid()), b"r", OLD);
    plant(
        dir,
        &format!("snapshot/.snapshot-9.{}.tmp", uuid()),
        b"{}",
        OLD,
    );
}

fn options() -> OrphanOptions {
    OrphanOptions {
        older_than_millis: None,
        force: false,
    }
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn unknown(p: &OrphanPlan) -> Vec<(String, u64)> {
    sorted(
        &p.unknown_files
            .iter()
            .map(|u| (u.path.clone(), u.bytes))
            .collect::<Vec<_>>(),
    )
}

async fn sharded(dir: &Path, shards: usize) -> tagkeeper::ops::saved_plan::SavedPlan {
    let t = open(dir).await;
    let scan = plan_shards(&t, &options(), shards, &SystemClock)
        .await
        .unwrap();
    assert!(scan.shards.len() <= shards && !scan.shards.is_empty());
    let mut results = Vec::new();
    // Each shard on a table opened anew, in reverse order: nothing is shared but the data.
    for s in scan.shards.iter().rev() {
        let shipped: tagkeeper::ops::orphans::shard::OrphanShard =
            serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
        results.push(scan_shard(&open(dir).await, &shipped).await.unwrap());
    }
    merge(&scan, results, t.location(), &SystemClock).unwrap()
}

fn orphan_plan(saved: &tagkeeper::ops::saved_plan::SavedPlan) -> &OrphanPlan {
    match &saved.command {
        PlannedCommand::RemoveOrphanFiles(p) => p,
        other => panic!("{}", other.name()),
    }
}

#[tokio::test]
async fn the_merged_plan_equals_the_single_process_plan() {
    let mut tables: Vec<(String, tempfile::TempDir, std::path::PathBuf)> = fixture_tables()
        .into_iter()
        .map(|n| {
            let (d, p) = copy_table(&n);
            (n, d, p)
        })
        .collect();
    for n in ["append_fixed", "branched", "pk_dv"] {
        let (d, p) = crate::java_interop::copy_java(n);
        tables.push((n.to_string(), d, p));
    }
    let mut orphans = 0;
    for (name, _d, dir) in &tables {
        age_everything(dir, OLD);
        plant_everywhere(dir);
        let single = plan(&open(dir).await, &options(), &SystemClock)
            .await
            .unwrap();
        assert!(!single.files.is_empty(), "{name}: orphans planted");
        orphans += single.files.len();
        for shards in [1, 2, 3, 7] {
            let saved = sharded(dir, shards).await;
            let merged = orphan_plan(&saved);
            assert_eq!(merged.files, single.files, "{name} {shards}: orphans");
            assert_eq!(
                unknown(merged),
                unknown(&single),
                "{name} {shards}: unknown"
            );
            assert_eq!(
                sorted(&merged.empty_dirs),
                sorted(&single.empty_dirs),
                "{name} {shards}: empty directories"
            );
            assert_eq!(
                (merged.candidates, merged.too_young, merged.read),
                (single.candidates, single.too_young, single.read),
                "{name} {shards}: counts"
            );
            assert_eq!(merged.branches, single.branches, "{name} {shards}");
            assert!(merged.cutoff_millis <= single.cutoff_millis + 60_000);
        }
        // Executed once, the merged plan deletes exactly its files.
        let before = files(dir);
        let saved = sharded(dir, 3).await;
        let want: BTreeSet<String> = orphan_plan(&saved)
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect();
        let t = open(dir).await;
        let Applied::RemoveOrphanFiles(r) = apply(&t, saved, "merged", &SystemClock).await.unwrap()
        else {
            panic!("{name}: not an orphan report")
        };
        assert!(r.failed.is_empty(), "{name}: {:?}", r.failed);
        let after = files(dir);
        let gone: BTreeSet<String> = before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .cloned()
            .collect();
        assert_eq!(gone, want, "{name}: exactly the merged plan's files went");
        crate::check::assert_whole(dir, true, name).await;
    }
    assert!(orphans > 20, "{orphans} orphans compared");
}

#[tokio::test]
async fn a_missing_shard_or_a_changed_table_deletes_nothing() {
    let (_d, dir) = copy_table("partitioned_overwrite");
    age_everything(&dir, OLD);
    plant_everywhere(&dir);
    let t = open(&dir).await;
    let scan = plan_shards(&t, &options(), 3, &SystemClock).await.unwrap();
    assert_eq!(scan.shards.len(), 3);
    let mut results = Vec::new();
    for s in &scan.shards {
        results.push(scan_shard(&t, s).await.unwrap());
    }
    let before = files(&dir);

    let mut missing = results.clone();
    missing.remove(1);
    let e = merge(&scan, missing, t.location(), &SystemClock).unwrap_err();
    assert!(matches!(e, Error::Aborted { .. }), "{e}");
    let mut twice = results.clone();
    twice[1] = twice[0].clone();
    assert!(merge(&scan, twice, t.location(), &SystemClock).is_err());

    // A tag created after the shards were planned: the merged plan is refused at execution.
    let saved = merge(&scan, results, t.location(), &SystemClock).unwrap();
    assert!(!orphan_plan(&saved).files.is_empty());
    tagkeeper::ops::tag::create_tag(
        &t,
        &tagkeeper::ops::tag::CreateTag {
            name: tagkeeper::format::ids::TagName::new("late").unwrap(),
            source: tagkeeper::ops::tag::TagSource::Latest,
            time_retained: None,
            if_not_exists: false,
        },
        &SystemClock,
    )
    .await
    .unwrap();
    let e = apply(&t, saved, "merged", &SystemClock).await.unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    let mut after = files(&dir);
    after.retain(|k, _| !k.starts_with("tag/"));
    assert_eq!(after, before, "nothing was deleted");
}
