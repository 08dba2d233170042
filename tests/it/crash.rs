//! Crash sweep: for each mutating command, on a table with tags, overwrites and expired
//! history, crash after k requests for every k up to the command's request count (no later
//! request reaches the store, as when the process is killed). After each crash the oracle must
//! hold — every retained snapshot and tag reads exactly as before or as after the command,
//! nothing referenced is missing — and re-running the command must converge to the state of an
//! uncrashed run (apart from orphans).

use std::collections::BTreeMap;
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
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let t = local_table(&path, &spec(true, &[("manifest.merge-min-count", "3")])).await;
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

/// Run the sweep for one command. `rerun` is the command a user runs after a crash.
pub async fn sweep(name: &str, run: Command, rerun: Command) -> usize {
    sweep_with(name, run, rerun, false).await
}

/// The sweep for a command that only deletes orphans: the re-run must also leave exactly the
/// files of the uncrashed run, and that run must delete something.
pub async fn sweep_exact(name: &str, run: Command, rerun: Command) -> usize {
    sweep_with(name, run, rerun, true).await
}

fn file_set(dir: &Path) -> std::collections::BTreeSet<String> {
    crate::fixtures::walk(dir).into_iter().collect()
}

async fn sweep_with(name: &str, run: Command, rerun: Command, exact_files: bool) -> usize {
    let (_t, template) = template().await;
    let before = oracle::observe(&template);
    before.assert_whole("template");

    // The uncrashed run: its request count and its outcome.
    let (_d, clean) = copy(&template);
    let (table, h) = faulty(&clean);
    run(table).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let requests = h.requests();
    let after = oracle::observe(&clean);
    after.assert_whole(name);
    crate::check::assert_whole(&clean, true, name).await;
    let clean_files = file_set(&clean);
    if exact_files {
        assert!(
            clean_files.len() < file_set(&template).len(),
            "{name}: the uncrashed run deleted nothing; the sweep would prove nothing"
        );
    }
    let (before_c, after_c) = (contents(&before), contents(&after));
    let allowed = |s: &State| -> bool {
        // Every version reads as before or as after the command (rows and checksum; new file
        // names are random, so a version written by a crashed run is compared by content).
        contents(s)
            .iter()
            .all(|(k, v)| before_c.get(k) == Some(v) || after_c.get(k) == Some(v))
    };

    for k in 0..requests {
        let (_d, dir) = copy(&template);
        let (table, h) = faulty(&dir);
        h.crash_after(k);
        let result = run(table.clone()).await;
        assert!(
            result.is_err() || h.requests() <= k,
            "{name}: crash at {k} went unnoticed"
        );
        let crashed = oracle::observe(&dir);
        crashed.assert_whole(&format!("{name} crashed after {k} requests"));
        crate::check::assert_files_whole(&dir, &format!("{name} crashed after {k} requests")).await;
        assert!(
            allowed(&crashed),
            "{name} crashed after {k}: a version changed contents\n{crashed:?}"
        );
        // Re-run with a healthy store, then compare with the uncrashed outcome.
        h.reset();
        rerun(table)
            .await
            .unwrap_or_else(|e| panic!("{name}: re-run after crash at {k}: {e}"));
        let converged = oracle::observe(&dir);
        converged.assert_whole(&format!("{name} re-run after crash at {k}"));
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
    }
    eprintln!("crash sweep {name}: {requests} crash points, each re-run to convergence");
    requests as usize
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
            let plan = tagkeeper::ops::delete_tag::plan(&t, &[tag("t5")]).await?;
            tagkeeper::ops::delete_tag::execute(&t, plan)
                .await
                .map(|_| ())
        })
    }
    let n = sweep("delete-tag", run, run).await;
    assert!(n > 10, "{n}");
}

#[tokio::test]
async fn crash_sweep_rename_tag() {
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            rename_tag(&t, &tag("t3"), &tag("renamed"))
                .await
                .map(|_| ())
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

#[tokio::test]
async fn crash_sweep_auto_tag() {
    // Minute periods over the template's minute-apart commits: the first retained snapshot's
    // period is reported missed, then three tags are created; t5 is past its retention and is
    // deleted (with its data) by the same run.
    fn run(t: Table) -> Pin<Box<dyn Future<Output = tagkeeper::Result<()>> + Send>> {
        Box::pin(async move {
            let run = tagkeeper::ops::auto_tag::AutoTagRun {
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
            };
            let r = tagkeeper::ops::auto_tag::auto_tag(&t, &run, &clock()).await?;
            assert_eq!(r.status, "done");
            Ok(())
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
                Some(f) => Err(tagkeeper::Error::InvalidArgument(f.clone())),
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
                Some(f) => Err(tagkeeper::Error::InvalidArgument(f.clone())),
            }
        })
    }
    let n = sweep("expire-tags", run, run).await;
    assert!(n > 10, "{n}");
}
