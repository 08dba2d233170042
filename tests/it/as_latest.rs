//! `rollback-to --as-latest` that every Paimon reader reads right (issue 17, part 4).
//!
//! On every pypaimon fixture and on tagkeeper-written tables with full and partition overwrites,
//! manifest merges and full manifest compactions in their history, several rollbacks in a row:
//! tagkeeper and pypaimon read each new latest as exactly the target's rows and every other
//! version as before; no file has two ADDs or two DELETEs (and no re-added file a DELETE) in a
//! new snapshot's manifests; and expiring past the rollbacks keeps what the remaining versions
//! need. pypaimon parts run when TAGKEEPER_PYTHON is set (scripts/test.sh sets it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::format::manifest::FileKind;
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::ops::rollback::{execute, execute_plan, plan, RollbackMode, RollbackTarget};
use tagkeeper::reach::{live_entries, EntryIdentity};
use tagkeeper::read::ReadOptions;
use tagkeeper::table::{Table, VersionSpec};
use tagkeeper::write::{append, CommitOptions, OverwriteScope};
use tagkeeper::Error;

use crate::common::*;
use crate::interop::python;
use crate::oracle;
use crate::read::{checksum, read_all};
use crate::write::{batch, local_table, spec};

type Reads = BTreeMap<String, (u64, String)>;

/// A table to build: name, table options, partitioned.
type TableCase = (&'static str, &'static [(&'static str, &'static str)], bool);

fn clock() -> ManualClock {
    ManualClock::new(1_800_000_000_000)
}

/// pypaimon's reads of every snapshot file and tag, in one process (`read --all`).
fn pypaimon_all(py: &str, table: &Path) -> Reads {
    let out = Command::new(py)
        .arg(repo().join("scripts/peer/pypaimon_peer.py"))
        .args(["read", table.to_str().unwrap(), "--all"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pypaimon failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "latest")
        .map(|(k, r)| {
            (
                k.clone(),
                (
                    r["rows"].as_u64().unwrap(),
                    r["checksum"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// tagkeeper's reads of every snapshot file and tag.
async fn tagkeeper_all(t: &Table) -> Reads {
    let mut out = Reads::new();
    let mut versions: Vec<(String, VersionSpec)> = t
        .snapshot_range()
        .await
        .unwrap()
        .ids
        .iter()
        .map(|id| (format!("snapshot-{id}"), VersionSpec::Snapshot(*id)))
        .collect();
    for tag in t.tags().await.unwrap() {
        versions.push((
            format!("tag-{}", tag.name),
            VersionSpec::Tag(tag.name.clone()),
        ));
    }
    for (name, version) in versions {
        let options = ReadOptions {
            version,
            ..ReadOptions::default()
        };
        let batches = read_all(t, &options)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        out.insert(name, checksum(&batches));
    }
    out
}

/// The manifests of snapshot `id` give every file at most one ADD and one DELETE, and a file
/// with a DELETE anywhere is not live: the snapshot reads the same merged in order (Java) and
/// with pypaimon's rule (live = added and never deleted).
async fn assert_single_life(t: &Table, id: i64, context: &str) {
    let s = t.try_load_snapshot(SnapshotId(id)).await.unwrap().unwrap();
    let mut entries = t
        .entries_of_list(&s.base_manifest_list, "base")
        .await
        .unwrap();
    let delta = t
        .entries_of_list(&s.delta_manifest_list, "delta")
        .await
        .unwrap();
    entries.extend(delta);
    let mut counts: HashMap<(EntryIdentity, FileKind), usize> = HashMap::new();
    for e in &entries {
        *counts.entry((EntryIdentity::of(e), e.kind)).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{context}: snapshot {id}: {twice:?}");
    let deleted: HashSet<EntryIdentity> = entries
        .iter()
        .filter(|e| e.kind == FileKind::Delete)
        .map(EntryIdentity::of)
        .collect();
    let mut pypaimon_rule: Vec<String> = entries
        .iter()
        .filter(|e| e.kind == FileKind::Add && !deleted.contains(&EntryIdentity::of(e)))
        .map(|e| e.file.file_name.clone())
        .collect();
    let mut in_order: Vec<String> = live_entries(entries)
        .into_iter()
        .map(|e| e.file.file_name)
        .collect();
    pypaimon_rule.sort();
    in_order.sort();
    assert_eq!(pypaimon_rule, in_order, "{context}: snapshot {id}");
}

/// Roll back to each target in turn (as latest). Returns the expected reads afterwards:
/// every version as before, each new snapshot (and protection tag) as its target.
async fn roll_back_in_turn(t: &Table, before: &Reads, targets: &[RollbackTarget]) -> Reads {
    let mut want = before.clone();
    for target in targets {
        let done = execute(t, target, RollbackMode::AsLatest, &clock())
            .await
            .unwrap_or_else(|e| panic!("{target:?}: {e}"));
        let new_id = done.new_snapshot_id.unwrap();
        assert_eq!(new_id, done.plan.current.snapshot_id + 1);
        let from = match target {
            RollbackTarget::Tag(name) => format!("tag-{name}"),
            _ => format!("snapshot-{}", done.plan.target.snapshot_id),
        };
        let expected = want[&from].clone();
        want.insert(format!("snapshot-{new_id}"), expected.clone());
        if let Some(tag) = &done.plan.protection_tag {
            want.insert(format!("tag-{tag}"), expected);
        }
        assert_single_life(t, new_id, &format!("{target:?}")).await;
    }
    want
}

/// Expire every snapshot but the latest (tags stay), then check the table deeply.
async fn expire_all_but_latest(t: &Table, dir: &Path, want: &mut Reads) {
    let o = ExpireOptions {
        retain_min: 1,
        retain_max: 1 << 40,
        time_retained_millis: 0,
        expire_limit: 100_000,
        ignore_commit_snapshot: false,
    };
    let r = expire(t, &o, 4_000_000_000_000).await.unwrap();
    assert!(r.plan.skipped.is_empty(), "{:?}", r.plan.skipped);
    for id in &r.plan.expired_snapshots {
        want.remove(&format!("snapshot-{id}"));
    }
    crate::check::assert_whole(dir, true, "after expiring past the rollback").await;
}

fn fixture_targets(name: &str) -> Vec<RollbackTarget> {
    let s = |id: i64| RollbackTarget::Snapshot(SnapshotId(id));
    let tag = |n: &str| RollbackTarget::Tag(TagName::new(n).unwrap());
    match name {
        "append_many" => vec![s(3), s(10), s(1)],
        "dynamic_bucket" => vec![s(1), s(2)],
        "partitioned_overwrite" => vec![s(3), s(6), s(2)],
        "pk_fixed_bucket" => vec![s(2), s(4)],
        "rolled_back" => vec![tag("keep"), s(3)],
        "schema_evolved" => vec![s(1), s(2)],
        "tagged" => vec![tag("daily-3"), s(1), tag("release-a")],
        "empty" => vec![],
        other => panic!("fixture {other} has no targets here: add some"),
    }
}

#[tokio::test]
async fn every_fixture_reads_right_after_rollbacks_as_latest_and_expiration() {
    let py = python();
    let mut rolled = 0;
    for name in fixture_tables() {
        let (_d, dir) = copy_table(&name);
        let t = open(&dir).await;
        let targets = fixture_targets(&name);
        if targets.is_empty() {
            let e = execute(
                &t,
                &RollbackTarget::Snapshot(SnapshotId(1)),
                RollbackMode::AsLatest,
                &clock(),
            )
            .await
            .unwrap_err();
            assert!(matches!(e, Error::SnapshotNotFound { .. }), "{name}: {e}");
            continue;
        }
        // What pypaimon read when the fixture was made.
        let before: Reads = crate::read::versions(&expected(&name))
            .into_iter()
            .map(|(v, rows, sum)| {
                let key = match v {
                    VersionSpec::Snapshot(id) => format!("snapshot-{id}"),
                    VersionSpec::Tag(n) => format!("tag-{n}"),
                    other => panic!("{other:?}"),
                };
                (key, (rows, sum))
            })
            .collect();
        assert_eq!(tagkeeper_all(&t).await, before, "{name} before");
        let mut want = roll_back_in_turn(&t, &before, &targets).await;
        rolled += targets.len();
        assert_eq!(tagkeeper_all(&t).await, want, "{name}: tagkeeper after");
        if let Some(py) = &py {
            assert_eq!(pypaimon_all(py, &dir), want, "{name}: pypaimon after");
        }
        expire_all_but_latest(&t, &dir, &mut want).await;
        assert_eq!(
            tagkeeper_all(&t).await,
            want,
            "{name}: tagkeeper after expire"
        );
        if let Some(py) = &py {
            assert_eq!(
                pypaimon_all(py, &dir),
                want,
                "{name}: pypaimon after expire"
            );
        }
    }
    assert_eq!(rolled, 17);
}

/// A tagkeeper-written table: 20 commits with full-table overwrites at 8 and 16 and no manifest
/// merging (so the overwrites' DELETE entries stay in their own manifests), tags t5 and t12.
async fn overwritten_table(dir: &Path, options: &[(&str, &str)], partitioned: bool) -> Table {
    let t = local_table(dir, &spec(partitioned, options)).await;
    let c = std::sync::Arc::new(ManualClock::new(1_704_067_200_000));
    for i in 1..=20i64 {
        let dt = ["2024-01-01", "2024-01-02", "2024-01-03"][(i % 3) as usize];
        let scope = match i {
            8 | 16 => Some(OverwriteScope::Table),
            _ if partitioned && i % 5 == 0 => Some(OverwriteScope::Dynamic),
            _ => None,
        };
        let rows: Vec<(i64, Option<&str>, &str)> =
            (0..i).map(|k| (i * 100 + k, Some("r"), dt)).collect();
        append(
            &t,
            vec![batch(&rows)],
            scope,
            c.clone(),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        c.advance_millis(60_000);
    }
    for id in [5, 12] {
        let req = tagkeeper::ops::tag::CreateTag {
            name: TagName::new(&format!("t{id}")).unwrap(),
            source: tagkeeper::ops::tag::TagSource::Snapshot(SnapshotId(id)),
            time_retained: None,
            if_not_exists: false,
        };
        tagkeeper::ops::tag::create_tag(&t, &req, c.as_ref())
            .await
            .unwrap();
    }
    t
}

fn oracle_reads(dir: &Path) -> Reads {
    let state = oracle::observe(dir);
    state.assert_whole_parquet("oracle");
    state
        .versions
        .iter()
        .map(|(k, v)| (k.clone(), (v.rows, format!("{:016x}", v.checksum))))
        .collect()
}

#[tokio::test]
async fn tagkeeper_tables_with_overwrites_and_manifest_compactions_read_right() {
    let py = python();
    let s = |id: i64| RollbackTarget::Snapshot(SnapshotId(id));
    let tables: [TableCase; 3] = [
        // The issue's case: full overwrites, DELETE entries in their own manifests.
        ("no merging", &[], false),
        // Minor merges every few commits.
        ("minor merges", &[("manifest.merge-min-count", "3")], true),
        // Full manifest compactions too.
        (
            "full compactions",
            &[
                ("manifest.merge-min-count", "3"),
                ("manifest.full-compaction-threshold-size", "4 kb"),
            ],
            true,
        ),
    ];
    for (name, options, partitioned) in tables {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("t");
        let t = overwritten_table(&dir, options, partitioned).await;
        let before = oracle_reads(&dir);
        assert_eq!(tagkeeper_all(&t).await, before, "{name}: tagkeeper before");
        let targets = [
            s(15),
            s(7),
            RollbackTarget::Tag(TagName::new("t12").unwrap()),
            s(21),
        ];
        let mut want = roll_back_in_turn(&t, &before, &targets).await;
        assert_eq!(oracle_reads(&dir), want, "{name}: oracle after");
        assert_eq!(tagkeeper_all(&t).await, want, "{name}: tagkeeper after");
        if let Some(py) = &py {
            assert_eq!(pypaimon_all(py, &dir), want, "{name}: pypaimon after");
        }
        // The next commit merges the rollback's manifests into its base; still one life each.
        append(
            &t,
            vec![batch(&[(9999, Some("after"), "2024-01-01")])],
            None,
            std::sync::Arc::new(clock()),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        assert_single_life(&t, 25, name).await;
        let after_append = oracle_reads(&dir);
        for (k, v) in &want {
            assert_eq!(after_append[k], *v, "{name}: {k}");
        }
        want = after_append;
        expire_all_but_latest(&t, &dir, &mut want).await;
        assert_eq!(oracle_reads(&dir), want, "{name}: oracle after expire");
        assert_eq!(
            tagkeeper_all(&t).await,
            want,
            "{name}: tagkeeper after expire"
        );
        if let Some(py) = &py {
            assert_eq!(
                pypaimon_all(py, &dir),
                want,
                "{name}: pypaimon after expire"
            );
        }
    }
}

/// A re-added file keeps the `_COMMIT_SNAPSHOT` of its first life: when it is deleted again
/// later and that snapshot expires, the target's tag still needs it (recording the rollback's
/// own snapshot, as tagkeeper used to, lost it); files nothing needs are still deleted.
#[tokio::test]
async fn expiring_past_a_rollback_keeps_exactly_what_tags_and_the_latest_need() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t");
    let t = local_table(&dir, &spec(false, &[])).await;
    let c = std::sync::Arc::new(ManualClock::new(1_704_067_200_000));
    let commit = |rows: Vec<(i64, Option<&'static str>, &'static str)>, scope| {
        let (t, c) = (t.clone(), c.clone());
        async move {
            append(&t, vec![batch(&rows)], scope, c, &CommitOptions::default())
                .await
                .unwrap()
        }
    };
    commit(vec![(1, Some("a"), "x")], None).await; // 1: A
    commit(vec![(2, Some("b"), "x")], None).await; // 2: A B
    commit(vec![(3, Some("c"), "x")], Some(OverwriteScope::Table)).await; // 3: C
    let files = |id: i64| {
        let t = t.clone();
        async move {
            let s = t.try_load_snapshot(SnapshotId(id)).await.unwrap().unwrap();
            let mut v: Vec<(String, Option<i64>)> = t
                .data_files(&s, "x")
                .await
                .unwrap()
                .into_iter()
                .map(|f| (f.path, f.entry.file.commit_snapshot))
                .collect();
            v.sort();
            v
        }
    };
    let (ab, only_c) = (files(2).await, files(3).await);
    // 4: A B again, with the commit snapshots of their first life; tag on snapshot 2.
    let done = execute(
        &t,
        &RollbackTarget::Snapshot(SnapshotId(2)),
        RollbackMode::AsLatest,
        &clock(),
    )
    .await
    .unwrap();
    assert_eq!(done.new_snapshot_id, Some(4));
    assert_eq!(files(4).await, ab);
    let mut first_lives: Vec<Option<i64>> = ab.iter().map(|f| f.1).collect();
    first_lives.sort();
    assert_eq!(first_lives, vec![Some(1), Some(2)]);
    commit(vec![(5, Some("d"), "x")], Some(OverwriteScope::Table)).await; // 5: D
    let only_d = files(5).await;
    let o = ExpireOptions {
        retain_min: 1,
        retain_max: 1 << 40,
        time_retained_millis: 0,
        expire_limit: 100,
        ignore_commit_snapshot: false,
    };
    let r = expire(&t, &o, 4_000_000_000_000).await.unwrap();
    assert_eq!(r.plan.expired_snapshots, vec![1, 2, 3, 4]);
    // C: committed at 3, deleted by the rollback at 4; no tag in [3, 4) and not live at 5.
    let data: Vec<&str> = r
        .plan
        .files
        .iter()
        .filter(|f| f.category == tagkeeper::ops::delete_tag::Category::Data)
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(data, vec![only_c[0].0.as_str()]);
    for (path, _) in ab.iter().chain(&only_d) {
        assert!(dir.join(path).exists(), "{path} was deleted");
    }
    assert!(!dir.join(&only_c[0].0).exists());
    crate::check::assert_whole(&dir, true, "after expiring past the rollback").await;
    let state = oracle::observe(&dir);
    assert_eq!(
        state.versions["tag-rollback-to-as-latest-2"].rows, 2,
        "the protection tag reads A and B"
    );
}

/// The run executes the plan the preview printed; a commit between planning and running makes
/// it fail with a conflict and change nothing (no snapshot, no tag, no stray manifest).
#[tokio::test]
async fn a_stale_plan_fails_with_a_conflict_and_changes_nothing() {
    for mode in [
        RollbackMode::AsLatest,
        RollbackMode::Destructive { purge: true },
    ] {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("t");
        let t = overwritten_table(&dir, &[], false).await;
        let target = RollbackTarget::Snapshot(SnapshotId(15));
        let preview = plan(&t, &target, mode).await.unwrap();
        // Executed unchanged: the report carries exactly the plan previewed.
        let done = execute_plan(&t, preview.clone(), &clock()).await.unwrap();
        assert!(!done.dry_run);
        assert_eq!(done.plan, preview, "{mode:?}");
        assert_eq!(
            done.new_snapshot_id.is_some(),
            mode == RollbackMode::AsLatest,
            "{mode:?}"
        );

        let d2 = tempfile::tempdir().unwrap();
        let dir2 = d2.path().join("t");
        let t2 = overwritten_table(&dir2, &[], false).await;
        let stale = plan(&t2, &target, mode).await.unwrap();
        append(
            &t2,
            vec![batch(&[(1, Some("late"), "2024-01-01")])],
            None,
            std::sync::Arc::new(clock()),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        let listing = |p: &Path| -> Vec<String> {
            let mut v: Vec<String> = walkdir(p);
            v.sort();
            v
        };
        let files_before = listing(&dir2);
        let e = execute_plan(&t2, stale, &clock()).await.unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{mode:?}: {e}");
        assert_eq!(e.kind(), "conflict");
        assert_eq!(listing(&dir2), files_before, "{mode:?}: nothing changed");
    }
}

fn walkdir(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walkdir(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}
