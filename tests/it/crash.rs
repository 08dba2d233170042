//! Crash sweep: for each mutating command, on a table with tags, overwrites and expired
//! history, crash after k requests for every k up to the command's request count (no later
//! request reaches the store, as when the process is killed). After each crash the oracle must
//! hold — every retained snapshot and tag reads exactly as before or as after the command,
//! nothing referenced is missing — and re-running the command must converge to the state of an
//! uncrashed run (apart from orphans).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::{FaultHandle, FaultStore};
use tagkeeper::io::TableStore;
use tagkeeper::ops::tag::{create_tag, rename_tag, replace_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::{append, CommitOptions, OverwriteScope};

use crate::oracle::{self, State};
use crate::write::{batch, local_table, spec};

type Contents = BTreeMap<String, (i64, u64, u64)>;

/// A table with 10 commits (two overwrites), tags t3, t5 (with retention), t8, and snapshots
/// 1–6 expired. Built once; each run works on a copy.
pub async fn template() -> (tempfile::TempDir, PathBuf) {
    template_with(&[]).await
}

/// [`template`], created with these table options too.
pub async fn template_with(options: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let mut all = vec![("manifest.merge-min-count", "3")];
    all.extend_from_slice(options);
    let t = local_table(&path, &spec(true, &all)).await;
    let clock = Arc::new(ManualClock::new(1_704_067_200_000));
    for i in 0..10i64 {
        let dt = ["2024-01-01", "2024-01-02"][(i % 2) as usize];
        let scope = [4i64, 7].contains(&i).then_some(OverwriteScope::Dynamic);
        append(
            &t,
            vec![batch(&[(i, Some("row"), dt)])],
            scope,
            clock.clone(),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        clock.advance_millis(60_000);
    }
    for (id, keep) in [
        (3, None),
        (5, Some(std::time::Duration::from_secs(86400))),
        (8, None),
    ] {
        let req = CreateTag {
            name: TagName::new(&format!("t{id}")).unwrap(),
            source: TagSource::Snapshot(SnapshotId(id)),
            time_retained: keep,
            if_not_exists: false,
        };
        create_tag(&t, &req, clock.as_ref()).await.unwrap();
    }
    for id in 1..=6 {
        std::fs::remove_file(path.join(format!("snapshot/snapshot-{id}"))).unwrap();
    }
    (dir, path)
}

pub fn copy(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("t");
    for rel in crate::fixtures::walk(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dest).unwrap();
    }
    (dir, to)
}

pub fn faulty(path: &Path) -> (Table, FaultHandle) {
    let local = object_store::local::LocalFileSystem::new_with_prefix(path).unwrap();
    let fault = FaultStore::new(Arc::new(local));
    let h = fault.handle();
    (
        Table::new(TableStore::new(
            Arc::new(fault),
            "",
            8,
            path.display().to_string(),
        )),
        h,
    )
}

/// The numbers of the requests that deleted snapshot files, in order (for placing a crash or
/// another actor's work at that point of a command).
pub fn snapshot_deletions(h: &FaultHandle) -> Vec<u64> {
    h.log()
        .iter()
        .filter(|(_, kind, p)| *kind == "delete" && p.contains("snapshot/snapshot-"))
        .map(|(n, _, _)| *n)
        .collect()
}

pub type Command = fn(Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>>;

/// What the sweep demands of each command, by name. Every command in the sweep must be listed:
/// a lower bound on its crash points (so that a command silently dropping to few or no crash
/// points fails), and whether its outcome names every file it writes (tags, hints; no new
/// random-named data or manifest files), so that after the re-run and an orphan clean-up the
/// files must be exactly those of the uncrashed run (cleaned the same way).
struct Policy {
    min_points: u64,
    same_files_after_cleaning: bool,
}

fn policy(name: &str) -> Policy {
    let (min_points, same_files_after_cleaning) = match name {
        "write" => (15, false),
        "create-tag" => (3, true),
        "delete-tag" => (35, true),
        "rename-tag" => (3, true),
        "replace-tag" => (6, true),
        "rollback-to (destructive, purge)" => (90, true),
        // Writes a new snapshot with new manifest lists.
        "rollback-to --as-latest" => (35, false),
        "expire-snapshots" => (50, true),
        "expire-tags" => (40, true),
        "auto-tag" => (75, true),
        "remove-orphan-files" => (45, true),
        // Deliberately broken commands, to show the sweep catches what it claims to.
        "broken: swallows errors" | "broken: a tag vanishes mid-run" => (3, false),
        other => panic!("{other}: not in the crash sweep's policy table"),
    };
    Policy {
        min_points,
        same_files_after_cleaning,
    }
}

/// Run the sweep for one command. `rerun` is the command a user runs after a crash.
pub async fn sweep(name: &str, run: Command, rerun: Command) -> usize {
    sweep_with(name, run, rerun, false).await
}

/// The sweep for a command that only deletes orphans: the re-run must also leave exactly the
/// files of the uncrashed run, and that run must delete something.
pub async fn sweep_exact(name: &str, run: Command, rerun: Command) -> usize {
    sweep_with(name, run, rerun, true).await
}

fn file_set(dir: &Path) -> BTreeSet<String> {
    crate::fixtures::walk(dir).into_iter().collect()
}

/// remove-orphan-files with a cutoff after every file (forced): what a user runs to reclaim
/// what a crashed command left behind.
pub async fn clean_everything(dir: &Path, context: &str) {
    use tagkeeper::clock::Clock;
    let t = crate::common::open(dir).await;
    let now = tagkeeper::clock::SystemClock.now_millis() + 2 * 86_400_000;
    let r = tagkeeper::ops::orphans::remove_orphan_files(
        &t,
        &tagkeeper::ops::orphans::OrphanOptions {
            older_than_millis: Some(now),
            force: true,
        },
        false,
        &ManualClock::new(now),
    )
    .await
    .unwrap_or_else(|e| panic!("{context}: remove-orphan-files: {e}"));
    assert!(r.failed.is_empty(), "{context}: {:?}", r.failed);
}

async fn sweep_with(name: &str, run: Command, rerun: Command, exact_files: bool) -> usize {
    let policy = policy(name);
    let (_t, template) = template().await;
    let before = oracle::observe(&template);
    before.assert_whole_parquet("template");

    // The uncrashed run: its request count and its outcome.
    let (_d, clean) = copy(&template);
    let (table, h) = faulty(&clean);
    run(table).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let requests = h.requests();
    let after = oracle::observe(&clean);
    after.assert_whole_parquet(name);
    crate::check::assert_whole(&clean, true, name).await;
    let clean_files = file_set(&clean);
    if exact_files {
        assert!(
            clean_files.len() < file_set(&template).len(),
            "{name}: the uncrashed run deleted nothing; the sweep would prove nothing"
        );
    }
    // The uncrashed outcome with its orphans (the template's expired history) cleaned.
    let cleaned_files = if policy.same_files_after_cleaning {
        let (_c, cleaned) = copy(&clean);
        clean_everything(&cleaned, name).await;
        oracle::observe(&cleaned).assert_whole_parquet(&format!("{name}, cleaned"));
        Some(file_set(&cleaned))
    } else {
        None
    };
    let (before_c, after_c) = (contents(&before), contents(&after));
    // Versions the command does not touch: present before and after it, reading the same.
    let untouched: Contents = before_c
        .iter()
        .filter(|(k, v)| after_c.get(*k) == Some(*v))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert!(!untouched.is_empty(), "{name}: every version changed");
    let allowed = |s: &State| -> Result<(), String> {
        let now = contents(s);
        // Every version reads as before or as after the command (rows and checksum; new file
        // names are random, so a version written by a crashed run is compared by content).
        for (k, v) in &now {
            if before_c.get(k) != Some(v) && after_c.get(k) != Some(v) {
                return Err(format!("{k} reads {v:?}, neither as before nor as after"));
            }
        }
        // And no version the command leaves alone may vanish.
        for (k, v) in &untouched {
            if now.get(k) != Some(v) {
                return Err(format!(
                    "{k} (untouched by the command) vanished or changed"
                ));
            }
        }
        Ok(())
    };

    for k in 0..requests {
        let context = format!("{name} crashed after {k} requests");
        let (_d, dir) = copy(&template);
        let (table, h) = faulty(&dir);
        h.crash_after(k);
        let result = run(table.clone()).await;
        // The uncrashed run made more than k requests, so this one reached the crash point.
        assert!(h.crashed(), "{context}: the crash point was never reached");
        let crashed = oracle::observe(&dir);
        crashed.assert_whole_parquet(&context);
        crate::check::assert_files_whole(&dir, &context).await;
        if let Err(why) = allowed(&crashed) {
            panic!("{context}: {why}\n{crashed:?}");
        }
        if result.is_ok() {
            // Success reported despite the crash: only if the work was really done.
            assert_eq!(
                contents(&crashed),
                after_c,
                "{context}: reported success, but the outcome is not the uncrashed one"
            );
        }
        // Re-run with a healthy store, then compare with the uncrashed outcome.
        h.reset();
        rerun(table)
            .await
            .unwrap_or_else(|e| panic!("{name}: re-run after crash at {k}: {e}"));
        let converged = oracle::observe(&dir);
        converged.assert_whole_parquet(&format!("{name} re-run after crash at {k}"));
        crate::check::assert_whole(&dir, true, &format!("{name} re-run after crash at {k}")).await;
        if exact_files {
            assert_eq!(
                file_set(&dir),
                clean_files,
                "{name}: re-run after crash at {k} left other files"
            );
        }
        assert_eq!(
            contents(&converged),
            contents(&after),
            "{name}: re-run after crash at {k} did not converge"
        );
        // What the crash left behind is reclaimed by remove-orphan-files. Hints are left out:
        // they are optional (readers fall back to listing), and a re-run after some crash
        // points leaves snapshot/EARLIEST unwritten where the uncrashed run writes it.
        if let Some(want) = &cleaned_files {
            clean_everything(&dir, &context).await;
            oracle::observe(&dir).assert_whole_parquet(&format!("{context}, re-run and cleaned"));
            assert_eq!(
                without_hints(file_set(&dir)),
                without_hints(want.clone()),
                "{context}: after the re-run and remove-orphan-files, the files differ from \
                 the uncrashed run's"
            );
        }
    }
    eprintln!("crash sweep {name}: {requests} crash points, each re-run to convergence");
    assert!(
        requests >= policy.min_points,
        "{name}: {requests} crash points, fewer than the {} pinned",
        policy.min_points
    );
    requests as usize
}

fn without_hints(files: BTreeSet<String>) -> BTreeSet<String> {
    files
        .into_iter()
        .filter(|f| !matches!(f.as_str(), "snapshot/EARLIEST" | "snapshot/LATEST"))
        .collect()
}

fn contents(s: &State) -> Contents {
    s.contents()
}

fn tag(n: &str) -> TagName {
    TagName::new(n).unwrap()
}

fn clock() -> ManualClock {
    ManualClock::new(1_800_000_000_000)
}

#[tokio::test]
async fn crash_sweep_write() {
    // A user re-runs a write only if its snapshot is missing.
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let c = Arc::new(clock());
            append(
                &t,
                vec![batch(&[
                    (100, Some("new"), "2024-01-01"),
                    (101, None, "2024-01-03"),
                ])],
                Some(OverwriteScope::Dynamic),
                c,
                &CommitOptions::default(),
            )
            .await
            .map(|_| ())
        })
    }
    fn rerun(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            if t.try_load_snapshot(SnapshotId(11)).await?.is_some() {
                return Ok(());
            }
            run(t).await
        })
    }
    let n = sweep("write", run, rerun).await;
    // 11 crash points at least: reads, data files, manifests, lists, the publish, the hint.
    assert!(n > 10, "{n}");
}

#[tokio::test]
async fn crash_sweep_create_tag() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let req = CreateTag {
                name: tag("new"),
                source: TagSource::Snapshot(SnapshotId(9)),
                time_retained: Some(std::time::Duration::from_secs(3600)),
                if_not_exists: true,
            };
            create_tag(&t, &req, &clock()).await.map(|_| ())
        })
    }
    sweep("create-tag", run, run).await;
}

#[tokio::test]
async fn crash_sweep_delete_tag() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let r = tagkeeper::ops::delete_tag::delete_tags(&t, &[tag("t5")], false).await?;
            // Deletions that failed (the crash) make the run fail, as the CLI's exit code does.
            match r.failed.first() {
                None => Ok(()),
                Some(f) => Err(tagkeeper::Error::InvalidArgument(f.to_string())),
            }
        })
    }
    // Journaled: the re-run (the tag is gone by then at most crash points) finishes the
    // reclamation and leaves exactly the uncrashed run's files, without orphan cleaning.
    let n = sweep_exact("delete-tag", run, run).await;
    assert!(n > 10, "{n}");
}

#[tokio::test]
async fn crash_sweep_rename_tag() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let r = rename_tag(&t, &tag("t3"), &tag("renamed")).await?;
            // The old name left behind (the crash) makes the run fail, as the CLI's exit code does.
            match r.failed.first() {
                None => Ok(()),
                Some(f) => Err(tagkeeper::Error::InvalidArgument(f.to_string())),
            }
        })
    }
    sweep("rename-tag", run, run).await;
}

#[tokio::test]
async fn crash_sweep_replace_tag() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            replace_tag(
                &t,
                &tag("t8"),
                &TagSource::Snapshot(SnapshotId(10)),
                None,
                &clock(),
            )
            .await
            .map(|_| ())
        })
    }
    sweep("replace-tag", run, run).await;
}

/// The auto-tag settings the crash sweep and the fault tests use on the template: minute
/// periods over its minute-apart commits, at most three automatic tags.
pub fn minute_auto_tag_run() -> tagkeeper::ops::auto_tag::AutoTagRun {
    tagkeeper::ops::auto_tag::AutoTagRun {
        overrides: [
            ("tag.automatic-creation", "process-time"),
            ("tag.creation-period-duration", "1 min"),
            ("sink.process-time-zone", "UTC"),
            ("tag.num-retained-max", "3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn crash_sweep_auto_tag() {
    // Minute periods over the template's minute-apart commits: the first retained snapshot's
    // period is reported missed, then three tags are created; t5 is past its retention and is
    // deleted (with its data) by the same run.
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let run = minute_auto_tag_run();
            let r = tagkeeper::ops::auto_tag::auto_tag(&t, &run, &clock()).await?;
            assert_eq!(r.status, "done");
            // Retention deletions that failed (the crash) make the run fail, as the CLI's exit
            // code does.
            match r
                .retention
                .iter()
                .chain(&r.expired)
                .find_map(|d| d.failed.first())
            {
                None => Ok(()),
                Some(f) => Err(tagkeeper::Error::InvalidArgument(f.to_string())),
            }
        })
    }
    let n = sweep("auto-tag", run, run).await;
    assert!(n > 10, "{n}");
    let (_t, template) = template().await;
    let (table, _h) = faulty(&template);
    run(table).await.unwrap();
    let names: Vec<String> = std::fs::read_dir(template.join("tag"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        names,
        [
            "tag-202401010006",
            "tag-202401010007",
            "tag-202401010008",
            "tag-t3",
            "tag-t8"
        ]
    );
}

#[tokio::test]
async fn crash_sweep_remove_orphan_files() {
    // The template's files are minutes old; a clock two days ahead makes the default cutoff
    // (a day before "now") fall after them, so the orphans of expired snapshots 1–6 qualify.
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            use tagkeeper::clock::Clock;
            let now = tagkeeper::clock::SystemClock.now_millis() + 2 * 86_400_000;
            let r = tagkeeper::ops::orphans::remove_orphan_files(
                &t,
                &tagkeeper::ops::orphans::OrphanOptions::default(),
                false,
                &ManualClock::new(now),
            )
            .await?;
            match r.failed.first() {
                None => Ok(()),
                Some(f) => Err(tagkeeper::Error::InvalidArgument(f.to_string())),
            }
        })
    }
    let n = sweep_exact("remove-orphan-files", run, run).await;
    // Listings, snapshot and tag reads, lists, manifests, then one delete per orphan.
    assert!(n > 30, "{n}");
}

#[tokio::test]
async fn crash_sweep_expire_tags() {
    // t5 (retained one day) is past its retention two years later: deleted with its data.
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let r = tagkeeper::ops::expire_tags::expire_tags(&t, &clock(), None, false).await?;
            // Deletions that failed (the crash) make the run fail, as the CLI's exit code does.
            match r.failed.first() {
                None => Ok(()),
                Some(f) => Err(tagkeeper::Error::InvalidArgument(f.to_string())),
            }
        })
    }
    let n = sweep("expire-tags", run, run).await;
    assert!(n > 10, "{n}");
}

/// The sweep itself: a command that reports success without doing its work is caught.
#[tokio::test]
#[should_panic(expected = "reported success, but the outcome is not the uncrashed one")]
async fn the_sweep_catches_a_command_that_swallows_a_crash() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let deleted = async {
                let plan = tagkeeper::ops::delete_tag::plan(&t, &[tag("t5")]).await?;
                tagkeeper::ops::delete_tag::execute(&t, plan).await
            };
            let _ = deleted.await;
            Ok(())
        })
    }
    sweep("broken: swallows errors", run, run).await;
}

/// The sweep itself: a version the command leaves as it was must not be missing at any crash
/// point, even though every version that is there reads correctly.
#[tokio::test]
#[should_panic(expected = "tag-t3 (untouched by the command) vanished or changed")]
async fn the_sweep_catches_a_version_that_vanishes_mid_run() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            // Rewrites tag t3 by deleting and re-creating it: whole before and after, but not
            // in between.
            let store = t.store();
            let bytes = store.get_opt("tag/tag-t3").await?.unwrap();
            for (_, r) in store.delete_many(&["tag/tag-t3".to_string()]).await {
                r?;
            }
            store.put_create("tag/tag-t3", bytes).await.map(|_| ())
        })
    }
    sweep("broken: a tag vanishes mid-run", run, run).await;
}
