//! rollback-to, both modes, on the crash-sweep template: a table with 10 commits (overwrites at
//! 5 and 8), tags t3, t5, t8, and snapshots 1–6 expired.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::ops::rollback::{execute, plan, RollbackMode, RollbackTarget};
use tagkeeper::table::Table;
use tagkeeper::write::{append, CommitOptions};
use tagkeeper::Error;

use crate::crash::{copy, faulty, snapshot_deletions, sweep, template};
use crate::fixtures::walk;
use crate::oracle;
use crate::write::batch;

fn clock() -> ManualClock {
    ManualClock::new(1_800_000_000_000)
}

fn tag(n: &str) -> TagName {
    TagName::new(n).unwrap()
}

const DESTRUCTIVE: RollbackMode = RollbackMode::Destructive { purge: false };

#[tokio::test]
async fn destructive_to_a_tag_whose_snapshot_expired() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let before = oracle::observe(&dir);
    let t = crate::common::open(&dir).await;
    let disk_before: BTreeSet<String> = walk(&dir).into_iter().collect();
    let preview = plan(&t, &RollbackTarget::Tag(tag("t5")), DESTRUCTIVE)
        .await
        .unwrap();
    assert_eq!(
        walk(&dir).into_iter().collect::<BTreeSet<_>>(),
        disk_before,
        "a preview changes nothing"
    );
    assert_eq!(preview.snapshots_removed, vec![10, 9, 8, 7]);
    assert_eq!(preview.tags_removed, vec!["t8"]);
    assert!(preview.restores_snapshot);
    let done = execute(&t, &RollbackTarget::Tag(tag("t5")), DESTRUCTIVE, &clock())
        .await
        .unwrap();
    assert_eq!(done.plan.snapshots_removed, preview.snapshots_removed);
    let after = oracle::observe(&dir);
    after.assert_whole("after rollback");
    crate::check::assert_whole(&dir, true, "after rollback").await;
    // The restored snapshot 5 reads as tag t5 did; t3 is untouched; t8 and snapshots 7-10 are gone.
    let content = |s: &oracle::State, k: &str| (s.versions[k].rows, s.versions[k].checksum);
    assert_eq!(content(&after, "snapshot-5"), content(&before, "tag-t5"));
    assert_eq!(after.versions["tag-t3"], before.versions["tag-t3"]);
    let names: BTreeSet<&str> = after.versions.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["snapshot-5", "tag-t3", "tag-t5"]));
    assert_eq!(
        std::fs::read_to_string(dir.join("snapshot/EARLIEST")).unwrap(),
        "5"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("snapshot/LATEST")).unwrap(),
        "5"
    );
    // Data files are left for orphan cleaning: nothing but metadata was deleted.
    let parquet = |d: &std::path::Path| {
        walk(d)
            .into_iter()
            .filter(|p| p.ends_with(".parquet"))
            .count()
    };
    assert_eq!(
        parquet(&dir),
        disk_before
            .iter()
            .filter(|p| p.ends_with(".parquet"))
            .count()
    );
    // The next commit continues from snapshot 6 and reads correctly.
    let o = append(
        &t,
        vec![batch(&[(77, Some("after"), "2024-01-01")])],
        None,
        Arc::new(clock()),
        &CommitOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(o.snapshot_id, 6);
    let next = oracle::observe(&dir);
    next.assert_whole("next commit");
    crate::check::assert_whole(&dir, true, "next commit").await;
    assert_eq!(
        next.versions["snapshot-6"].rows,
        after.versions["snapshot-5"].rows + 1
    );
}

#[tokio::test]
async fn purge_deletes_exactly_what_only_removed_versions_referenced() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let t = crate::common::open(&dir).await;
    let disk_before: BTreeSet<String> = walk(&dir).into_iter().collect();
    let mode = RollbackMode::Destructive { purge: true };
    let done = execute(&t, &RollbackTarget::Snapshot(SnapshotId(7)), mode, &clock())
        .await
        .unwrap();
    assert!(done.plan.purge && !done.plan.unreferenced.is_empty());
    let after = oracle::observe(&dir);
    after.assert_whole("after purge");
    crate::check::assert_whole(&dir, true, "after purge").await;
    let disk_after: BTreeSet<String> = walk(&dir).into_iter().collect();
    let gone: BTreeSet<String> = disk_before
        .difference(&disk_after)
        .filter(|p| !p.starts_with("snapshot/") && !p.starts_with("tag/"))
        .cloned()
        .collect();
    let planned: BTreeSet<String> = done
        .plan
        .unreferenced
        .iter()
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(gone, planned);
    assert_eq!(
        after.versions.keys().cloned().collect::<Vec<_>>(),
        vec!["snapshot-7", "tag-t3", "tag-t5"]
    );
}

#[tokio::test]
async fn as_latest_keeps_history_and_protects_a_bare_snapshot_target() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let before = oracle::observe(&dir);
    let t = crate::common::open(&dir).await;
    // Snapshot 7 precedes the overwrite at 8: its files are added back.
    let preview = plan(
        &t,
        &RollbackTarget::Snapshot(SnapshotId(7)),
        RollbackMode::AsLatest,
    )
    .await
    .unwrap();
    assert!(
        preview.files_added_back > 0 && preview.files_deleted > 0,
        "{preview:?}"
    );
    let done = execute(
        &t,
        &RollbackTarget::Snapshot(SnapshotId(7)),
        RollbackMode::AsLatest,
        &clock(),
    )
    .await
    .unwrap();
    assert_eq!(done.new_snapshot_id, Some(11));
    assert_eq!(
        done.plan.protection_tag.as_deref(),
        Some("rollback-to-as-latest-7")
    );
    let after = oracle::observe(&dir);
    after.assert_whole("after as-latest");
    crate::check::assert_whole(&dir, true, "after as-latest").await;
    for (k, v) in &before.versions {
        assert_eq!(after.versions[k], *v, "{k} unchanged");
    }
    let c = |k: &str| {
        (
            after.versions[k].rows,
            after.versions[k].checksum,
            after.versions[k].files.clone(),
        )
    };
    assert_eq!(
        c("snapshot-11"),
        c("snapshot-7"),
        "the latest is the target again, file for file"
    );
    assert_eq!(c("tag-rollback-to-as-latest-7"), c("snapshot-7"));
    // Every re-added file keeps the commit snapshot of its first life (the target's record),
    // so that tags of that life keep it when it is deleted again.
    let latest = t.try_load_snapshot(SnapshotId(11)).await.unwrap().unwrap();
    let delta = t
        .entries_of_list(&latest.delta_manifest_list, "t")
        .await
        .unwrap();
    let adds: Vec<_> = delta
        .iter()
        .filter(|e| e.kind == tagkeeper::format::manifest::FileKind::Add)
        .map(|e| (e.file.file_name.clone(), e.file.commit_snapshot))
        .collect();
    assert_eq!(adds.len(), preview.files_added_back);
    let seven = t.try_load_snapshot(SnapshotId(7)).await.unwrap().unwrap();
    let recorded: std::collections::HashMap<String, Option<i64>> = t
        .data_files(&seven, "t")
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.entry.file.file_name, f.entry.file.commit_snapshot))
        .collect();
    for (name, c) in &adds {
        assert_eq!(*c, recorded[name], "{name}");
        assert!(c.is_some_and(|c| c <= 7), "{name}: {c:?}");
    }
    // A tag target needs no protection tag.
    let r = execute(
        &t,
        &RollbackTarget::Tag(tag("t8")),
        RollbackMode::AsLatest,
        &clock(),
    )
    .await
    .unwrap();
    assert_eq!((r.new_snapshot_id, r.plan.protection_tag), (Some(12), None));
}

#[tokio::test]
async fn errors_are_clear() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let t = crate::common::open(&dir).await;
    let e = plan(&t, &RollbackTarget::Tag(tag("nope")), DESTRUCTIVE)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TagNotFound { .. }), "{e}");
    let e = plan(&t, &RollbackTarget::Snapshot(SnapshotId(2)), DESTRUCTIVE)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::SnapshotNotFound { id: 2, .. })
            && e.to_string().contains("no tag keeps it"),
        "{e}"
    );
    let e = plan(&t, &RollbackTarget::Snapshot(SnapshotId(42)), DESTRUCTIVE)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::SnapshotNotFound { id: 42, .. }), "{e}");
    // An expired snapshot kept by several tags: the first by name, and a note saying so.
    let req = tagkeeper::ops::tag::CreateTag {
        name: tag("a-first"),
        source: tagkeeper::ops::tag::TagSource::Snapshot(SnapshotId(5)),
        time_retained: None,
        if_not_exists: false,
    };
    tagkeeper::ops::tag::create_tag(&t, &req, &clock())
        .await
        .unwrap();
    let p = plan(&t, &RollbackTarget::Snapshot(SnapshotId(5)), DESTRUCTIVE)
        .await
        .unwrap();
    assert_eq!(p.target.source, "tag:a-first");
    assert!(
        p.notes.iter().any(|n| n.contains("first by name")),
        "{:?}",
        p.notes
    );
    let out = crate::common::tagkeeper(&["rollback-to", dir.to_str().unwrap(), "--tag", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let out = crate::common::tagkeeper(&["rollback-to", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a target is required");
}

#[tokio::test]
async fn a_commit_during_a_destructive_rollback_is_reported() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    // Learn when the rollback deletes its last snapshot file, on a copy.
    let (_d2, dir2) = copy(&tpl);
    let (t2, h2) = faulty(&dir2);
    execute(
        &t2,
        &RollbackTarget::Snapshot(SnapshotId(8)),
        DESTRUCTIVE,
        &clock(),
    )
    .await
    .unwrap();
    let k = *snapshot_deletions(&h2).last().unwrap();
    let writer = t.clone();
    h.before_request(
        k + 1,
        Box::pin(async move {
            append(
                &writer,
                vec![batch(&[(5, Some("late"), "2024-01-02")])],
                None,
                Arc::new(clock()),
                &CommitOptions::default(),
            )
            .await
            .unwrap();
        }),
    );
    let e = execute(
        &t,
        &RollbackTarget::Snapshot(SnapshotId(8)),
        DESTRUCTIVE,
        &clock(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, Error::Conflict(_)) && e.to_string().contains("stop all writers"),
        "{e}"
    );
    assert_eq!(e.exit_code(), 1);
}

#[tokio::test]
async fn crash_sweep_rollback_destructive() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            execute(
                &t,
                &RollbackTarget::Tag(tag("t5")),
                RollbackMode::Destructive { purge: true },
                &clock(),
            )
            .await
            .map(|_| ())
        })
    }
    sweep("rollback-to (destructive, purge)", run, run).await;
}

/// Rolling back to a tag whose snapshot expired restores the snapshot and moves `EARLIEST` to
/// it. A run interrupted anywhere between the two must have its re-run set the hint, even
/// though the target's snapshot already exists by then: `EARLIEST` must never be left naming a
/// snapshot older than any that exists.
#[tokio::test]
async fn a_rerun_after_any_crash_sets_earliest_to_the_restored_target() {
    let (_t, tpl) = template().await;
    let (_d, clean) = copy(&tpl);
    let (t, h) = faulty(&clean);
    execute(&t, &RollbackTarget::Tag(tag("t5")), DESTRUCTIVE, &clock())
        .await
        .unwrap();
    let requests = h.requests();
    assert_eq!(
        std::fs::read_to_string(clean.join("snapshot/EARLIEST")).unwrap(),
        "5"
    );
    let mut stale = 0;
    for k in 1..requests {
        let (_d, dir) = copy(&tpl);
        let (t, h) = faulty(&dir);
        h.crash_after(k);
        let _ = execute(&t, &RollbackTarget::Tag(tag("t5")), DESTRUCTIVE, &clock()).await;
        if dir.join("snapshot/snapshot-5").exists()
            && std::fs::read_to_string(dir.join("snapshot/EARLIEST"))
                .ok()
                .as_deref()
                != Some("5")
        {
            stale += 1;
        }
        let t = crate::common::open(&dir).await;
        execute(&t, &RollbackTarget::Tag(tag("t5")), DESTRUCTIVE, &clock())
            .await
            .unwrap_or_else(|e| panic!("re-run after a crash at {k}: {e}"));
        assert_eq!(
            std::fs::read_to_string(dir.join("snapshot/EARLIEST")).unwrap(),
            "5",
            "crash at {k} of {requests}"
        );
    }
    // The crash points between restoring the snapshot and writing the hint were tried.
    assert!(stale > 0, "no crash left a stale hint; {requests} requests");
}

#[tokio::test]
async fn crash_sweep_rollback_as_latest() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            execute(
                &t,
                &RollbackTarget::Snapshot(SnapshotId(7)),
                RollbackMode::AsLatest,
                &clock(),
            )
            .await
            .map(|_| ())
        })
    }
    // A user re-runs only if the new snapshot is not there.
    fn rerun(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            if t.try_load_snapshot(SnapshotId(11)).await?.is_some() {
                return Ok(());
            }
            run(t).await
        })
    }
    sweep("rollback-to --as-latest", run, rerun).await;
}

#[tokio::test]
async fn long_lived_changelogs_newer_than_the_target_are_removed() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    // Long-lived changelog metadata for snapshots 7-10 (as decoupled expiration writes it).
    std::fs::create_dir_all(dir.join("changelog")).unwrap();
    for id in 7..=10 {
        std::fs::copy(
            dir.join(format!("snapshot/snapshot-{id}")),
            dir.join(format!("changelog/changelog-{id}")),
        )
        .unwrap();
    }
    std::fs::write(dir.join("changelog/LATEST"), "10").unwrap();
    let t = crate::common::open(&dir).await;
    let p = execute(
        &t,
        &RollbackTarget::Snapshot(SnapshotId(8)),
        DESTRUCTIVE,
        &clock(),
    )
    .await
    .unwrap();
    assert_eq!(p.plan.changelogs_removed, vec![10, 9]);
    let left: BTreeSet<String> = walk(&dir.join("changelog")).into_iter().collect();
    assert_eq!(
        left,
        BTreeSet::from([
            "LATEST".to_string(),
            "changelog-7".into(),
            "changelog-8".into()
        ])
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("changelog/LATEST")).unwrap(),
        "8"
    );
}

#[tokio::test]
async fn purge_fails_closed_on_unreadable_metadata() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    // Tag t3's manifest list cannot be read: which files only the removed versions kept is
    // unknown, so nothing but metadata may be deleted.
    let t3 = t.load_tag(&tag("t3")).await.unwrap();
    h.fail_paths_containing(
        &t3.snapshot.base_manifest_list,
        tagkeeper::io::fault::InjectedError::PermissionDenied,
    );
    let parquet_before = walk(&dir)
        .into_iter()
        .filter(|p| p.ends_with(".parquet") || p.starts_with("manifest/"))
        .count();
    let p = execute(
        &t,
        &RollbackTarget::Snapshot(SnapshotId(7)),
        RollbackMode::Destructive { purge: true },
        &clock(),
    )
    .await
    .unwrap();
    assert!(!p.plan.purge, "the purge was cancelled");
    assert!(
        p.plan
            .notes
            .iter()
            .any(|n| n.contains("--purge skipped for safety")),
        "{:?}",
        p.plan.notes
    );
    let parquet_after = walk(&dir)
        .into_iter()
        .filter(|p| p.ends_with(".parquet") || p.starts_with("manifest/"))
        .count();
    assert_eq!(parquet_after, parquet_before);
    h.reset();
    oracle::observe(&dir).assert_whole("after a cancelled purge");
    crate::check::assert_whole(&dir, true, "after a cancelled purge").await;
}

#[tokio::test]
async fn rollback_a_pypaimon_written_table() {
    for mode in [
        RollbackMode::Destructive { purge: true },
        RollbackMode::AsLatest,
    ] {
        let (_d, dir) = crate::common::copy_table("tagged");
        let before = oracle::observe(&dir);
        let t = crate::common::open(&dir).await;
        let p = execute(&t, &RollbackTarget::Tag(tag("daily-3")), mode, &clock())
            .await
            .unwrap();
        let after = oracle::observe(&dir);
        after.assert_whole("pypaimon table after rollback");
        crate::check::assert_whole(&dir, true, "pypaimon table after rollback").await;
        let latest = format!("snapshot-{}", p.new_snapshot_id.unwrap_or(3));
        assert_eq!(
            (
                after.versions[&latest].rows,
                after.versions[&latest].checksum
            ),
            (
                before.versions["tag-daily-3"].rows,
                before.versions["tag-daily-3"].checksum
            )
        );
        if mode == RollbackMode::AsLatest {
            for (k, v) in &before.versions {
                assert_eq!(after.versions[k], *v, "{k}");
            }
        } else {
            assert!(
                !after.versions.contains_key("tag-latest")
                    && after.versions.contains_key("tag-first")
            );
        }
    }
}

#[tokio::test]
async fn purge_keeps_exactly_what_a_branch_needs() {
    let (_t, tpl) = template().await;
    let purge = |dir: std::path::PathBuf| async move {
        let t = crate::common::open(&dir).await;
        let before = walk(&dir)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>();
        let p = execute(
            &t,
            &RollbackTarget::Snapshot(SnapshotId(7)),
            RollbackMode::Destructive { purge: true },
            &clock(),
        )
        .await
        .unwrap();
        assert!(p.plan.purge, "{:?}", p.plan.notes);
        let after = walk(&dir)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>();
        before
            .difference(&after)
            .filter(|p| p.ends_with(".parquet") || p.starts_with("manifest/"))
            .cloned()
            .collect::<std::collections::BTreeSet<String>>()
    };
    let (_p, plain) = copy(&tpl);
    let purged_plain = purge(plain).await;
    let (_d, dir) = copy(&tpl);
    // A branch whose snapshot is main's snapshot 9, which the rollback removes from main.
    std::fs::create_dir_all(dir.join("branch/branch-b1/snapshot")).unwrap();
    std::fs::create_dir_all(dir.join("branch/branch-b1/schema")).unwrap();
    std::fs::copy(
        dir.join("snapshot/snapshot-9"),
        dir.join("branch/branch-b1/snapshot/snapshot-9"),
    )
    .unwrap();
    std::fs::copy(
        dir.join("schema/schema-0"),
        dir.join("branch/branch-b1/schema/schema-0"),
    )
    .unwrap();
    let branch_needs = crate::oracle::observe(&dir).versions["branch-b1/snapshot-9"]
        .needs
        .clone();
    let purged = purge(dir.clone()).await;
    let expected: std::collections::BTreeSet<String> = purged_plain
        .iter()
        .filter(|p| !branch_needs.contains(p.rsplit('/').next().unwrap()))
        .cloned()
        .collect();
    assert_eq!(purged, expected);
    assert!(
        expected.len() < purged_plain.len(),
        "the branch must keep something"
    );
    crate::oracle::observe(&dir).assert_whole("after purging a branched table");
}

/// A destructive `--purge` rollback that stops half-way (a snapshot file cannot be deleted)
/// leaves its journal; `check` names it; the next rollback-to, to another target, finishes the
/// interrupted one first — purge included, which a re-plan alone cannot do, since the
/// snapshots already removed no longer say what they referenced — and then does its own.
#[tokio::test]
async fn the_next_rollback_finishes_an_interrupted_one_first() {
    use tagkeeper::io::fault::InjectedError;
    let purge = RollbackMode::Destructive { purge: true };
    let (_t, tpl) = template().await;

    // Never interrupted: to t5 with purge, then to t3.
    let (_c, clean) = copy(&tpl);
    let t = crate::common::open(&clean).await;
    execute(&t, &RollbackTarget::Tag(tag("t5")), purge, &clock())
        .await
        .unwrap();
    execute(&t, &RollbackTarget::Tag(tag("t3")), DESTRUCTIVE, &clock())
        .await
        .unwrap();

    // The request that deletes snapshot 9, from a run on another copy (reads of it must work:
    // a purge whose metadata cannot be read is skipped for safety).
    let k = {
        let (_s, scratch) = copy(&tpl);
        let (t, h) = faulty(&scratch);
        h.set_logging(true);
        execute(&t, &RollbackTarget::Tag(tag("t5")), purge, &clock())
            .await
            .unwrap();
        h.log()
            .into_iter()
            .find(|(_, kind, p)| *kind == "delete" && p.ends_with("snapshot/snapshot-9"))
            .map(|(n, _, _)| n)
            .unwrap()
    };
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.fail_request(k, InjectedError::PermissionDenied);
    let e = execute(&t, &RollbackTarget::Tag(tag("t5")), purge, &clock())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "storage", "{e}");
    assert!(!dir.join("snapshot/snapshot-10").exists(), "newest first");
    assert!(dir.join("snapshot/snapshot-9").exists());
    let t = crate::common::open(&dir).await;
    let report =
        tagkeeper::ops::check::check(&t, &tagkeeper::ops::check::CheckOptions { deep: false })
            .await
            .unwrap();
    let journals: Vec<(&str, &str)> = report
        .unfinished_journals
        .iter()
        .map(|u| (u.command, u.finished_by))
        .collect();
    assert_eq!(journals, vec![("rollback-to", "rollback-to")], "{report:?}");

    let done = execute(&t, &RollbackTarget::Tag(tag("t3")), DESTRUCTIVE, &clock())
        .await
        .unwrap();
    assert_eq!(done.resumed.len(), 1, "{done:?}");
    assert!(
        done.plan.notes[0].contains("finished an interrupted rollback to snapshot 5"),
        "{:?}",
        done.plan.notes
    );
    let files = |d: &std::path::Path| -> BTreeSet<String> { walk(d).into_iter().collect() };
    assert_eq!(files(&dir), files(&clean));
    assert_eq!(
        oracle::observe(&dir).contents(),
        oracle::observe(&clean).contents()
    );
}
