//! remove-orphan-files: on copies of the pypaimon fixtures with planted files (old and new,
//! Paimon names and others), pypaimon's rollback leftover, branches, concurrent expirations and
//! a writer committing mid-run, exactly the old unreferenced files with Paimon names go —
//! decided against the independent oracle's reference set — every version reads unchanged
//! (pypaimon too), and `check` passes. Unreadable metadata deletes nothing and says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use tagkeeper::clock::SystemClock;
use tagkeeper::io::fault::InjectedError;
use tagkeeper::ops::orphans::{remove_orphan_files, OrphanCategory, OrphanOptions, OrphanReport};
use tagkeeper::table::Table;
use tagkeeper::write::{commit, CommitOptions, CommitRequest, DataWriter};
use tagkeeper::Error;

use crate::check::assert_whole;
use crate::common::*;
use crate::consumers::file_set;
use crate::crash::faulty;
use crate::oracle;
use crate::write::{batch, clock, commit_rows, local_table, spec};

mod reference_kinds;
mod robustness;
mod sharded;

const DAY: Duration = Duration::from_secs(86_400);
pub(crate) const OLD: Duration = Duration::from_secs(3 * 86_400);

/// Set a file's (or directory's) modification time `age` before now.
pub fn set_age(path: &Path, age: Duration) {
    let f = if path.is_dir() {
        std::fs::File::open(path)
    } else {
        std::fs::File::options().write(true).open(path)
    }
    .unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// Make every file and directory of a table `age` old.
pub fn age_everything(root: &Path, age: Duration) {
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            age_everything(&p, age);
        }
        set_age(&p, age);
    }
}

/// Every file of a table: key → size.
pub fn files(root: &Path) -> BTreeMap<String, u64> {
    crate::fixtures::walk(root)
        .into_iter()
        .map(|k| {
            let size = std::fs::metadata(root.join(&k)).unwrap().len();
            (k, size)
        })
        .collect()
}

pub(crate) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Write a file `age` old; returns its key.
pub(crate) fn plant(root: &Path, key: &str, bytes: &[u8], age: Duration) -> String {
    let p = root.join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    set_age(&p, age);
    key.to_string()
}

fn name(key: &str) -> &str {
    key.rsplit('/').next().unwrap()
}

/// The keys a report deletes (or would).
fn deleted(r: &OrphanReport) -> BTreeSet<String> {
    r.files.iter().map(|f| f.path.clone()).collect()
}

/// Count and bytes per category of `keys`, from the sizes on disk before the run.
fn tallies(
    keys: &BTreeSet<String>,
    sizes: &BTreeMap<String, u64>,
) -> BTreeMap<OrphanCategory, (u64, i64)> {
    let mut out: BTreeMap<OrphanCategory, (u64, i64)> = BTreeMap::new();
    for k in keys {
        let n = name(k);
        let c = if n.ends_with(".tmp") {
            OrphanCategory::Temporary
        } else if n.starts_with("manifest-list-") {
            OrphanCategory::ManifestList
        } else if n.starts_with("manifest-") {
            OrphanCategory::Manifest
        } else if n.starts_with("index-") {
            OrphanCategory::Index
        } else if n.starts_with("stat-") {
            OrphanCategory::Statistics
        } else {
            OrphanCategory::Data
        };
        let e = out.entry(c).or_default();
        e.0 += 1;
        e.1 += sizes[k] as i64;
    }
    out
}

fn report_tallies(r: &OrphanReport) -> BTreeMap<OrphanCategory, (u64, i64)> {
    r.deleted
        .iter()
        .map(|(c, t)| (*c, (t.files, t.bytes)))
        .collect()
}

/// Old files in the directories orphan cleaning scans, minus what the oracle says any version
/// references, minus the given non-Paimon names: what must go.
pub fn expected_orphans(
    dir: &Path,
    before: &BTreeMap<String, u64>,
    old: &BTreeSet<String>,
    unknown: &BTreeSet<String>,
) -> BTreeSet<String> {
    let refs = oracle::observe(dir).referenced;
    before
        .keys()
        .filter(|k| old.contains(*k) && !unknown.contains(*k))
        .filter(|k| {
            let top = k.split('/').next().unwrap();
            ["manifest", "index", "statistics", "snapshot"].contains(&top) || k.contains("bucket-")
        })
        .filter(|k| !k.starts_with("snapshot/") || name(k).starts_with('.'))
        .filter(|k| !refs.contains(name(k)))
        .cloned()
        .collect()
}

async fn run(t: &Table, dry_run: bool) -> tagkeeper::Result<OrphanReport> {
    remove_orphan_files(t, &OrphanOptions::default(), dry_run, &SystemClock).await
}

fn pypaimon_reads_everything(dir: &Path) {
    if let Some(py) = crate::interop::python() {
        crate::interop::assert_pypaimon_agrees(&py, dir);
    }
}

#[tokio::test]
async fn only_old_orphans_with_paimon_names_are_deleted() {
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let parquet = std::fs::read(
        dir.join(
            crate::fixtures::walk(&dir)
                .into_iter()
                .find(|k| k.ends_with(".parquet"))
                .unwrap(),
        ),
    )
    .unwrap();
    let manifest = std::fs::read(
        dir.join(
            crate::fixtures::walk(&dir)
                .into_iter()
                .find(|k| k.starts_with("manifest/manifest-") && !k.contains("list"))
                .unwrap(),
        ),
    )
    .unwrap();
    // Old files with Paimon names that nothing references: they go.
    let u = uuid();
    let old_orphans: BTreeSet<String> = [
        plant(&dir, &format!("bucket-0/data-{u}-0.parquet"), &parquet, OLD),
        plant(
            &dir,
            &format!("bucket-0/data-{u}-0.parquet.index"),
            b"idx",
            OLD,
        ),
        plant(&dir, &format!("manifest/manifest-{u}-0"), &manifest, OLD),
        plant(&dir, &format!("manifest/manifest-list-{u}-0"), b"list", OLD),
        plant(&dir, &format!("manifest/index-manifest-{u}-0"), b"im", OLD),
        plant(&dir, &format!("index/index-{u}-0"), b"index", OLD),
        plant(&dir, &format!("statistics/stat-{u}-0"), b"{}", OLD),
        plant(&dir, &format!("snapshot/.snapshot-5.{u}.tmp"), b"{}", OLD),
    ]
    .into_iter()
    .collect();
    // New ones: a commit in flight may still reference them.
    let young: BTreeSet<String> = [
        plant(
            &dir,
            &format!("bucket-0/data-{}-0.parquet", uuid()),
            &parquet,
            Duration::from_secs(600),
        ),
        plant(
            &dir,
            &format!("manifest/manifest-{}-0", uuid()),
            &manifest,
            DAY / 2,
        ),
    ]
    .into_iter()
    .collect();
    // Names Paimon does not write there: reported, never deleted.
    let unknown: BTreeSet<String> = [
        plant(&dir, "bucket-0/notes.txt", b"n", OLD),
        plant(&dir, "manifest/README.md", b"r", OLD),
        plant(&dir, "snapshot/snapshot-5.tmp", b"{}", OLD),
        plant(
            &dir,
            &format!("manifest/data-{}-0.parquet", uuid()),
            &parquet,
            OLD,
        ),
        plant(
            &dir,
            &format!("bucket-0/data-{}-0.managed.blob", uuid()),
            b"b",
            OLD,
        ),
    ]
    .into_iter()
    .collect();
    // Never looked into: tagkeeper's own plans, directories Paimon's cleaner ignores.
    let ignored: BTreeSet<String> = [
        plant(&dir, "_tagkeeper/plans/expire-3.json", b"{}", OLD),
        plant(&dir, &format!("_tagkeeper/plans/manifest-{u}-1"), b"m", OLD),
        plant(&dir, "metadata/v1.metadata.json", b"{}", OLD),
    ]
    .into_iter()
    .collect();

    let before = files(&dir);
    let old: BTreeSet<String> = before
        .keys()
        .filter(|k| !young.contains(*k))
        .cloned()
        .collect();
    let want = expected_orphans(&dir, &before, &old, &unknown);
    // pypaimon's rollback leftover (testdata/README.md): 3 data files, 3 manifests and the 6
    // manifest lists of the rolled-back snapshots 4–6.
    let leftover: BTreeSet<&String> = want.difference(&old_orphans).collect();
    let count = |f: &dyn Fn(&str) -> bool| leftover.iter().filter(|k| f(k)).count();
    assert_eq!(
        (
            count(&|k| k.ends_with(".parquet")),
            count(&|k| k.starts_with("manifest/manifest-list-")),
            count(&|k| k.starts_with("manifest/manifest-") && !k.contains("list")),
            leftover.len()
        ),
        (3, 6, 3, 12),
        "{leftover:?}"
    );
    assert!(old_orphans.is_subset(&want));
    let versions_before = oracle::observe(&dir).versions;

    let t = open(&dir).await;
    let dry = run(&t, true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(deleted(&dry), want);
    assert_eq!(files(&dir), before, "a dry run changes nothing");

    let r = run(&t, false).await.unwrap();
    assert!(!r.dry_run);
    assert_eq!(deleted(&r), want);
    assert_eq!(report_tallies(&r), tallies(&want, &before));
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let reported: BTreeSet<String> = r.unknown_files.iter().map(|u| u.path.clone()).collect();
    assert_eq!(reported, unknown);
    assert_eq!(r.too_young, young.len() as u64);
    assert_eq!(
        (
            r.snapshots_read,
            r.tags_read,
            r.vanished.len(),
            r.newer_snapshots.len()
        ),
        (4, 1, 0, 0)
    );
    let after = files(&dir);
    let expect_after: BTreeMap<String, u64> = before
        .iter()
        .filter(|(k, _)| !want.contains(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(after, expect_after, "exactly the orphans went");
    assert!(ignored.iter().all(|k| after.contains_key(k)));
    assert_eq!(oracle::observe(&dir).versions, versions_before);
    // check flags the one planted name that breaks Java's listing; without it the table is whole.
    let c = tagkeeper::ops::check::check(&t, &Default::default())
        .await
        .unwrap();
    let flagged: Vec<&str> = c.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(flagged, vec!["snapshot/snapshot-5.tmp"]);
    std::fs::remove_file(dir.join("snapshot/snapshot-5.tmp")).unwrap();
    assert_whole(&dir, true, "after remove-orphan-files").await;
    pypaimon_reads_everything(&dir);

    // Converged: a second run finds nothing.
    let again = run(&t, false).await.unwrap();
    assert!(again.files.is_empty(), "{:?}", again.files);
}

#[tokio::test]
async fn every_fixture_keeps_every_version() {
    for name in fixture_tables() {
        let (_d, dir) = copy_table(&name);
        age_everything(&dir, OLD);
        let before = files(&dir);
        let old: BTreeSet<String> = before.keys().cloned().collect();
        let want = expected_orphans(&dir, &before, &old, &BTreeSet::new());
        let versions = oracle::observe(&dir).versions;
        let r = run(&open(&dir).await, false).await.unwrap();
        assert_eq!(deleted(&r), want, "{name}");
        assert_eq!(oracle::observe(&dir).versions, versions, "{name}");
        assert_whole(&dir, true, &name).await;
    }
}

#[tokio::test]
async fn emptied_partition_and_bucket_directories_are_removed() {
    // A crashed write into a new partition (and one into an existing bucket) of
    // partitioned_overwrite, long ago.
    let (_d, dir) = copy_table("partitioned_overwrite");
    age_everything(&dir, OLD);
    let want: BTreeSet<String> = [
        format!("dt=2024-02-01/hr=3/bucket-0/data-{}-0.parquet", uuid()),
        format!("dt=2024-02-01/hr=3/bucket-0/data-{}-1.parquet", uuid()),
        format!("dt=2024-02-01/hr=4/bucket-1/data-{}-0.parquet", uuid()),
        format!("dt=2024-01-01/hr=0/bucket-0/data-{}-0.parquet", uuid()),
    ]
    .into_iter()
    .map(|k| plant(&dir, &k, b"crashed", OLD))
    .collect();
    for d in [
        "dt=2024-02-01/hr=3/bucket-0",
        "dt=2024-02-01/hr=4/bucket-1",
        "dt=2024-02-01/hr=3",
        "dt=2024-02-01/hr=4",
        "dt=2024-02-01",
        "dt=2024-01-01/hr=0/bucket-0",
    ] {
        set_age(&dir.join(d), OLD);
    }
    let before = files(&dir);
    let old: BTreeSet<String> = before.keys().cloned().collect();
    assert_eq!(
        expected_orphans(&dir, &before, &old, &BTreeSet::new()),
        want
    );
    let r = run(&open(&dir).await, false).await.unwrap();
    assert_eq!(deleted(&r), want);
    assert_eq!(
        r.removed_dirs,
        vec![
            "dt=2024-02-01",
            "dt=2024-02-01/hr=3",
            "dt=2024-02-01/hr=3/bucket-0",
            "dt=2024-02-01/hr=4",
            "dt=2024-02-01/hr=4/bucket-1"
        ]
    );
    assert!(!dir.join("dt=2024-02-01").exists());
    assert!(dir.join("dt=2024-01-01/hr=0/bucket-0").is_dir());
    // The table's directories; tagkeeper's own `_tagkeeper/plans/` (emptied when the run's
    // journal is finished, and reused by the next run) is not one of them.
    fn no_empty_dirs(p: &Path) {
        let entries: Vec<_> = std::fs::read_dir(p).unwrap().collect();
        assert!(!entries.is_empty(), "{} is empty", p.display());
        for e in entries {
            let e = e.unwrap().path();
            if e.is_dir() && !e.ends_with("_tagkeeper") {
                no_empty_dirs(&e);
            }
        }
    }
    no_empty_dirs(&dir);
    assert_whole(&dir, true, "after removing partitions").await;
    pypaimon_reads_everything(&dir);
}

#[tokio::test]
async fn an_empty_old_bucket_directory_is_removed_a_new_one_kept() {
    let (_d, dir) = copy_table("partitioned_overwrite");
    age_everything(&dir, OLD);
    std::fs::create_dir_all(dir.join("dt=2025-01-01/hr=1/bucket-0")).unwrap();
    set_age(&dir.join("dt=2025-01-01/hr=1/bucket-0"), OLD);
    set_age(&dir.join("dt=2025-01-01/hr=1"), OLD);
    set_age(&dir.join("dt=2025-01-01"), OLD);
    std::fs::create_dir_all(dir.join("dt=2025-01-02/hr=1/bucket-0")).unwrap();
    let r = run(&open(&dir).await, false).await.unwrap();
    assert!(r.files.is_empty());
    assert_eq!(
        r.removed_dirs,
        vec![
            "dt=2025-01-01",
            "dt=2025-01-01/hr=1",
            "dt=2025-01-01/hr=1/bucket-0"
        ]
    );
    assert!(!dir.join("dt=2025-01-01").exists());
    assert!(
        dir.join("dt=2025-01-02/hr=1/bucket-0").is_dir(),
        "too young"
    );
}

#[tokio::test]
async fn the_cutoff_is_enforced() {
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let two_hours = plant(
        &dir,
        &format!("bucket-0/data-{}-0.parquet", uuid()),
        b"x",
        Duration::from_secs(7200),
    );
    let ten_minutes = plant(
        &dir,
        &format!("bucket-0/data-{}-0.parquet", uuid()),
        b"x",
        Duration::from_secs(600),
    );
    let t = open(&dir).await;
    let now = tagkeeper::clock::Clock::now_millis(&SystemClock);
    for (cutoff, what) in [
        (now + 60_000, "in the future"),
        (now - 1_800_000, "less than an hour ago"),
    ] {
        let opts = OrphanOptions {
            older_than_millis: Some(cutoff),
            force: false,
        };
        let e = remove_orphan_files(&t, &opts, false, &SystemClock)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    }
    let before = files(&dir);
    let opts = OrphanOptions {
        older_than_millis: Some(now - 1_800_000),
        force: true,
    };
    let r = remove_orphan_files(&t, &opts, false, &SystemClock)
        .await
        .unwrap();
    let d = deleted(&r);
    assert!(d.contains(&two_hours) && !d.contains(&ten_minutes));
    assert_eq!(r.too_young, 1);
    // The rollback leftover (3 days old) goes too; nothing else.
    assert_eq!(d.len(), 13);
    assert_eq!(files(&dir).len(), before.len() - 13);

    // The CLI: durations and times, refused cutoffs exit 1.
    let path = dir.to_str().unwrap();
    let out = tagkeeper(&["remove-orphan-files", path, "--older-than", "30 min"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("less than an hour"),
        "{}",
        stderr(&out)
    );
    let out = tagkeeper(&["remove-orphan-files", path, "--older-than", "2100-01-01"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("in the future"), "{}", stderr(&out));
    let out = tagkeeper(&[
        "remove-orphan-files",
        path,
        "--older-than",
        "5 min",
        "--force",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["dry_run"], serde_json::Value::Bool(true));
    let listed: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ten_minutes.as_str()]);
    assert!(dir.join(&ten_minutes).exists());
}

#[test]
fn cli_json_report() {
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    plant(&dir, "bucket-0/notes.txt", b"n", OLD);
    let out = tagkeeper(&["remove-orphan-files", "--json", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "dry_run",
            "cutoff_millis",
            "cutoff",
            "branches",
            "snapshots_read",
            "tags_read",
            "changelogs_read",
            "consumers_read",
            "manifests_read",
            "vanished",
            "newer_snapshots",
            "candidates",
            "too_young",
            "deleted",
            "files",
            "unknown_files",
            "removed_dirs",
            "failed",
            "notes",
            "duration_millis"
        ]
    );
    assert_eq!(
        v["deleted"]["data"],
        serde_json::json!({"files": 3, "bytes": 2403})
    );
    assert_eq!(v["files"].as_array().unwrap().len(), 12);
    assert_eq!(
        v["unknown_files"],
        serde_json::json!([{"path": "bucket-0/notes.txt", "bytes": 1}])
    );
    let out = tagkeeper(&["remove-orphan-files", dir.to_str().unwrap()]);
    assert!(
        stdout(&out).starts_with("Deleted 0 orphan file(s)"),
        "{}",
        stdout(&out)
    );
}

/// The first manifest snapshot 4 of `rolled_back` uses (named in its base list).
fn live_manifest(dir: &Path) -> String {
    let snap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("snapshot/snapshot-4")).unwrap()).unwrap();
    let list = snap["baseManifestList"].as_str().unwrap();
    let key = format!("manifest/{list}");
    let bytes = std::fs::read(dir.join(&key)).unwrap();
    tagkeeper::format::manifest::decode_manifest_list(&bytes, &key).unwrap()[0]
        .file_name
        .clone()
}

#[tokio::test]
async fn unreadable_metadata_deletes_nothing_and_says_why() {
    type Break = fn(&Path) -> String;
    let cases: Vec<(&str, Break)> = vec![
        ("a corrupt live manifest", |d| {
            let m = live_manifest(d);
            std::fs::write(d.join("manifest").join(&m), b"garbage").unwrap();
            format!("manifest/{m}")
        }),
        ("a missing live manifest (Java reads it as empty)", |d| {
            let m = live_manifest(d);
            std::fs::remove_file(d.join("manifest").join(&m)).unwrap();
            format!("missing metadata file manifest/{m}")
        }),
        ("a corrupt snapshot", |d| {
            std::fs::write(d.join("snapshot/snapshot-2"), b"{\"id\": ").unwrap();
            "snapshot/snapshot-2".into()
        }),
        ("a corrupt tag", |d| {
            std::fs::write(d.join("tag/tag-keep"), b"[]").unwrap();
            "tag/tag-keep".into()
        }),
        ("a corrupt consumer", |d| {
            plant(d, "consumer/consumer-job", b"{\"next\": 1}", OLD);
            "consumer/consumer-job".into()
        }),
        ("a branch without a schema", |d| {
            plant(
                d,
                "branch/branch-b/snapshot/snapshot-1",
                &std::fs::read(d.join("snapshot/snapshot-1")).unwrap(),
                OLD,
            );
            "branch 'b'".into()
        }),
    ];
    for (what, damage) in cases {
        let (_d, dir) = copy_table("rolled_back");
        age_everything(&dir, OLD);
        let why = damage(&dir);
        let before = files(&dir);
        let e = run(&open(&dir).await, false).await.unwrap_err();
        assert!(matches!(e, Error::Aborted { .. }), "{what}: {e}");
        let msg = e.to_string();
        assert!(
            msg.starts_with("remove-orphan-files aborted, nothing was deleted"),
            "{what}: {msg}"
        );
        assert!(msg.contains(&why), "{what}: {msg}");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(files(&dir), before, "{what}: nothing deleted");
    }

    // A store that refuses to read one manifest.
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let m = live_manifest(&dir);
    let before = files(&dir);
    let (t, h) = faulty(&dir);
    h.fail_paths_containing(&m, InjectedError::PermissionDenied);
    let e = run(&t, false).await.unwrap_err();
    assert!(matches!(e, Error::Aborted { .. }), "{e}");
    assert!(e.to_string().contains(&m), "{e}");
    assert_eq!(files(&dir), before);
    assert_eq!(h.counts().delete, 0);

    // The CLI: exit 2, the reason on stderr, kind `aborted` in JSON.
    std::fs::write(dir.join("manifest").join(&m), b"garbage").unwrap();
    let out = tagkeeper(&["remove-orphan-files", "--json", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&m), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["error"]["kind"], "aborted");
    assert_eq!(files(&dir).len(), before.len());
}

#[tokio::test]
async fn an_empty_reference_set_aborts() {
    // Every snapshot and tag vanishes after the listing (hook): snapshot files were listed,
    // nothing could be read, so nothing may be deleted.
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let before = files(&dir);
    let (t, h) = faulty(&dir);
    let k = request_after_snapshot_listing(&dir).await;
    let d = dir.clone();
    h.before_request(
        k,
        Box::pin(async move {
            for id in 1..=4 {
                std::fs::rename(
                    d.join(format!("snapshot/snapshot-{id}")),
                    d.join(format!("snapshot-{id}.moved")),
                )
                .unwrap();
            }
            std::fs::rename(d.join("tag/tag-keep"), d.join("tag-keep.moved")).unwrap();
            std::fs::rename(d.join("snapshot/LATEST"), d.join("LATEST.moved")).unwrap();
        }),
    );
    let e = run(&t, false).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("4 snapshot, tag or changelog file(s) exist but no reference could be read"),
        "{e}"
    );
    assert_eq!(h.counts().delete, 0);
    for id in 1..=4 {
        std::fs::rename(
            dir.join(format!("snapshot-{id}.moved")),
            dir.join(format!("snapshot/snapshot-{id}")),
        )
        .unwrap();
    }
    std::fs::rename(dir.join("tag-keep.moved"), dir.join("tag/tag-keep")).unwrap();
    std::fs::rename(dir.join("LATEST.moved"), dir.join("snapshot/LATEST")).unwrap();
    assert_eq!(files(&dir), before);
}

/// The number of the request right after the listing of main's `snapshot/` in a run on (a
/// copy of) this table: where a concurrent actor strikes once the snapshot ids are known.
async fn request_after_snapshot_listing(dir: &Path) -> u64 {
    let (_d, copy) = crate::crash::copy(dir);
    let (t, h) = faulty(&copy);
    // A real run: it first looks for unfinished journals, which a dry run does not.
    run(&t, false).await.unwrap();
    let log = h.log();
    let lists: Vec<u64> = log
        .iter()
        .filter(|(_, kind, p)| *kind == "list" && p.trim_end_matches('/').ends_with("snapshot"))
        .map(|(n, _, _)| *n)
        .collect();
    // The first listing of snapshot/ is the candidates' (temporary files); the second is the
    // references'.
    assert!(lists.len() >= 2, "{log:?}");
    lists[1] + 1
}

#[tokio::test]
async fn a_concurrent_expiration_is_tolerated_a_missing_live_manifest_is_not() {
    let snapshot1 = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("snapshot/snapshot-1")).unwrap()).unwrap()
    };
    // 1. Snapshot 1 expires after it was listed, before it is read.
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let s1 = snapshot1(&dir);
    let k = request_after_snapshot_listing(&dir).await;
    let (t, h) = faulty(&dir);
    let d = dir.clone();
    h.before_request(
        k,
        Box::pin(async move {
            std::fs::remove_file(d.join("snapshot/snapshot-1")).unwrap();
        }),
    );
    let before = files(&dir);
    let old: BTreeSet<String> = before.keys().cloned().collect();
    let r = run(&t, false).await.unwrap();
    assert_eq!(r.vanished, vec!["snapshot 1"]);
    let want = expected_orphans(&dir, &before, &old, &BTreeSet::new());
    assert_eq!(deleted(&r), want);
    for list in ["baseManifestList", "deltaManifestList"] {
        let key = format!("manifest/{}", s1[list].as_str().unwrap());
        assert!(
            want.contains(&key),
            "snapshot 1's own {list} is an orphan now"
        );
    }
    assert_whole(&dir, true, "after a concurrent expiration").await;

    // 2. The expiration got further: snapshot 1 was read, then it and its delta list went.
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let s1 = snapshot1(&dir);
    let delta = s1["deltaManifestList"].as_str().unwrap().to_string();
    let (t, h) = faulty(&dir);
    let d = dir.clone();
    let k = request_after_snapshot_listing(&dir).await;
    let (t2, h2) = (t.clone(), h.clone());
    h.before_request(
        k + 6, // past the reads of snapshots 1–4, the tag listing and the tag
        Box::pin(async move {
            std::fs::remove_file(d.join("snapshot/snapshot-1")).unwrap();
            std::fs::remove_file(d.join("manifest").join(&delta)).unwrap();
        }),
    );
    let r = run(&t2, false).await.unwrap();
    assert!(
        h2.log()
            .iter()
            .any(|(n, kind, p)| *n < k + 6 && *kind == "get" && p.ends_with("snapshot/snapshot-1")),
        "snapshot 1 was read before it expired"
    );
    assert_eq!(r.vanished, vec!["snapshot 1"]);
    assert_whole(&dir, true, "after a concurrent expiration").await;

    // 3. Only the list goes, the snapshot stays: a live version's metadata is missing.
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let delta = snapshot1(&dir)["deltaManifestList"]
        .as_str()
        .unwrap()
        .to_string();
    let (t, h) = faulty(&dir);
    let d = dir.clone();
    let gone = delta.clone();
    h.before_request(
        k + 6,
        Box::pin(async move {
            std::fs::remove_file(d.join("manifest").join(&gone)).unwrap();
        }),
    );
    let e = run(&t, false).await.unwrap_err();
    assert!(matches!(e, Error::Aborted { .. }), "{e}");
    assert!(e.to_string().contains(&delta), "{e}");
    assert_eq!(h.counts().delete, 0);
}

#[tokio::test]
async fn a_commit_during_the_run_keeps_its_files() {
    // A tagkeeper table with three commits, all old; a writer has written a data file long
    // ago (as a slow job would) and commits it while orphan cleaning runs, after the snapshot
    // listing. Another writer commits fresh rows at the same time.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("t");
    let t = local_table(&dir, &spec(true, &[])).await;
    for i in 0..3i64 {
        commit_rows(&t, &[(i, Some("old"), "2024-01-01")], None).await;
    }
    let schema = t.latest_schema().await.unwrap();
    let mut w = DataWriter::new(t.clone(), schema, clock()).unwrap();
    w.write(batch(&[(100, Some("slow"), "2024-01-02")]))
        .await
        .unwrap();
    let pending = w.finish().await.unwrap();
    let pending_key = pending[0].key.clone();
    let orphan = format!(
        "dt=2024-01-01/bucket-0/data-{}-0.parquet",
        uuid::Uuid::new_v4()
    );
    age_everything(&dir, OLD);
    plant(&dir, &orphan, b"orphan", OLD);

    let k = request_after_snapshot_listing(&dir).await;
    let (ft, h) = faulty(&dir);
    let other = t.clone();
    h.before_request(
        k + 2,
        Box::pin(async move {
            let req = CommitRequest {
                files: pending,
                ..Default::default()
            };
            commit(&other, req, clock().as_ref(), &CommitOptions::default())
                .await
                .unwrap();
            commit_rows(&other, &[(200, Some("fresh"), "2024-01-03")], None).await;
        }),
    );
    let r = run(&ft, false).await.unwrap();
    assert_eq!(r.newer_snapshots, vec!["snapshot 4", "snapshot 5"]);
    assert_eq!(deleted(&r), [orphan.clone()].into_iter().collect());
    assert!(
        dir.join(&pending_key).is_file(),
        "the late commit's file is kept"
    );
    let state = oracle::observe(&dir);
    state.assert_whole("after a commit during orphan cleaning");
    assert_eq!(state.versions["snapshot-4"].rows, 4);
    assert_eq!(state.versions["snapshot-5"].rows, 5);
    assert_whole(&dir, true, "after a commit during orphan cleaning").await;
    pypaimon_reads_everything(&dir);
}

#[tokio::test]
async fn branches_protect_what_they_reference() {
    // A branch made from tag `first` (as Java's create_branch does: the tag, its snapshot and
    // the schemas are copied into branch/branch-b/); main then loses that snapshot and tag.
    // The snapshot's manifest lists are referenced only by the branch.
    let make = |with_branch: bool| {
        let (d, dir) = copy_table("tagged");
        if with_branch {
            for (from, to) in [
                ("tag/tag-first", "branch/branch-b/tag/tag-first"),
                ("snapshot/snapshot-1", "branch/branch-b/snapshot/snapshot-1"),
                ("schema/schema-0", "branch/branch-b/schema/schema-0"),
            ] {
                std::fs::create_dir_all(dir.join(to).parent().unwrap()).unwrap();
                std::fs::copy(dir.join(from), dir.join(to)).unwrap();
            }
            std::fs::write(dir.join("branch/branch-b/snapshot/LATEST"), b"1").unwrap();
        }
        std::fs::remove_file(dir.join("tag/tag-first")).unwrap();
        std::fs::remove_file(dir.join("snapshot/snapshot-1")).unwrap();
        age_everything(&dir, OLD);
        (d, dir)
    };
    let s1: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("tagged").join("snapshot/snapshot-1")).unwrap(),
    )
    .unwrap();
    let only_branch: BTreeSet<String> = ["baseManifestList", "deltaManifestList"]
        .iter()
        .map(|k| format!("manifest/{}", s1[k].as_str().unwrap()))
        .collect();
    let (_d1, without) = make(false);
    let r_without = run(&open(&without).await, false).await.unwrap();
    assert!(only_branch.is_subset(&deleted(&r_without)));
    let (_d2, with) = make(true);
    let r_with = run(&open(&with).await, false).await.unwrap();
    assert_eq!(r_with.branches, vec!["main", "b"]);
    assert_eq!((r_with.snapshots_read, r_with.tags_read), (6, 5));
    let diff: BTreeSet<String> = deleted(&r_without)
        .difference(&deleted(&r_with))
        .cloned()
        .collect();
    assert_eq!(diff, only_branch);
    assert!(deleted(&r_with).is_subset(&deleted(&r_without)));
    for k in &only_branch {
        assert!(with.join(k).is_file(), "{k}");
    }
    let r = assert_whole(&with, true, "branch").await;
    assert_eq!(r.branches, vec!["main", "b"]);
}

#[tokio::test]
async fn a_store_without_a_local_directory_keeps_directories() {
    // A table over a plain store wrapper (the crash harness's): cleaning works, directories
    // simply stay (object-store semantics).
    let (_d, dir) = copy_table("rolled_back");
    age_everything(&dir, OLD);
    let (t, _h) = faulty(&dir);
    let r = run(&t, false).await.unwrap();
    assert_eq!(r.files.len(), 12);
    assert!(r.removed_dirs.is_empty());
}

/// Issue 23: a process killed mid-write leaves object_store's staging files (`NAME#N`, which
/// Paimon readers list: `tag-x#1` is a tag to them) or a hidden temporary (`.NAME.<uuid>.tmp`).
/// check names them, and says which break readers; remove-orphan-files reclaims exactly the old
/// ones in the directories it scans — tags, snapshots, schemas, plans, manifests and buckets —
/// and the table is whole (to pypaimon too) afterwards.
#[tokio::test]
async fn crash_leftovers_are_reported_and_reclaimed() {
    let (_d, dir) = copy_table("tagged");
    age_everything(&dir, OLD);
    let tag = std::fs::read(dir.join("tag/tag-first")).unwrap();
    let u = uuid();
    let breaking: BTreeSet<String> = [
        plant(&dir, "tag/tag-nightly#1", b"", OLD),
        plant(&dir, "tag/tag-copy#2", &tag, OLD),
        plant(&dir, "snapshot/snapshot-7#1", b"", OLD),
    ]
    .into_iter()
    .collect();
    let harmless: BTreeSet<String> = [
        plant(&dir, "snapshot/LATEST#1", b"6", OLD),
        plant(&dir, "_tagkeeper/plans/expire-4.json#1", b"{", OLD),
        plant(&dir, &format!("manifest/manifest-{u}-0#1"), b"m", OLD),
        plant(
            &dir,
            &format!("dt=19723/bucket-0/data-{u}-0.parquet#1"),
            b"",
            OLD,
        ),
        plant(&dir, &format!("tag/.tag-weekly.{u}.tmp"), &tag, OLD),
        plant(&dir, &format!("schema/.schema-1.{u}.tmp"), b"{", OLD),
        plant(
            &dir,
            &format!("_tagkeeper/plans/.expire-4.json.{u}.tmp"),
            b"{",
            OLD,
        ),
        plant(&dir, &format!("manifest/.manifest-{u}-1.{u}.tmp"), b"", OLD),
        plant(
            &dir,
            &format!("dt=19724/bucket-0/.data-{u}-1.parquet.{u}.tmp"),
            b"",
            OLD,
        ),
    ]
    .into_iter()
    .collect();
    // Too young (a write may be in flight), and outside the directories Paimon writes.
    let young = plant(&dir, "tag/tag-pending#1", b"", Duration::from_secs(600));
    let elsewhere = plant(&dir, "metadata/notes#1", b"n", OLD);

    let t = open(&dir).await;
    let c = tagkeeper::ops::check::check(&t, &Default::default())
        .await
        .unwrap();
    let hazards: BTreeSet<String> = c
        .problems
        .iter()
        .filter(|p| p.kind == tagkeeper::ops::check::ProblemKind::BreaksReaders)
        .map(|p| p.path.clone())
        .collect();
    let mut want_hazards = breaking.clone();
    want_hazards.insert(young.clone());
    assert_eq!(hazards, want_hazards);
    assert_eq!(c.problems.len(), hazards.len(), "{:#?}", c.problems);
    let tag_problem = c
        .problems
        .iter()
        .find(|p| p.path == "tag/tag-nightly#1")
        .unwrap();
    assert!(
        tag_problem.detail.contains("a tag named 'nightly#1'")
            && tag_problem.detail.contains("remove-orphan-files"),
        "{}",
        tag_problem.detail
    );
    let snapshot_problem = c
        .problems
        .iter()
        .find(|p| p.path == "snapshot/snapshot-7#1")
        .unwrap();
    assert!(
        snapshot_problem
            .detail
            .contains("Java ≤ 2.0 fails to list snapshot/"),
        "{}",
        snapshot_problem.detail
    );
    // Hidden temporaries only where check looks (metadata directories); staging files anywhere.
    let mut want_listed: BTreeSet<String> = breaking.union(&harmless).cloned().collect();
    want_listed.retain(|k| !k.contains("bucket-0/.") && !k.starts_with("_tagkeeper/plans/."));
    want_listed.insert(young.clone());
    want_listed.insert(elsewhere.clone());
    assert_eq!(
        c.crash_leftovers.iter().cloned().collect::<BTreeSet<_>>(),
        want_listed
    );
    assert!(!c.whole);

    let before = files(&dir);
    let r = run(&t, false).await.unwrap();
    let want: BTreeSet<String> = breaking.union(&harmless).cloned().collect();
    assert_eq!(deleted(&r), want);
    assert!(r
        .files
        .iter()
        .all(|f| f.category == OrphanCategory::Temporary));
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let after = files(&dir);
    let expect_after: BTreeMap<String, u64> = before
        .into_iter()
        .filter(|(k, _)| !want.contains(k))
        .collect();
    assert_eq!(after, expect_after, "exactly the old leftovers went");

    std::fs::remove_file(dir.join(&young)).unwrap();
    assert_whole(&dir, true, "after reclaiming crash leftovers").await;
    pypaimon_reads_everything(&dir);
}

/// `remove-orphan-files --warehouse`: every table of every database (or of `--database`), each
/// through the one-table code; a directory without a schema is no table and is skipped; a
/// table that fails is reported while the others are cleaned, and the run exits 2 with one
/// JSON document (the multi-table envelope: `tables` with each `result`, and `summary`). Exact
/// file sets: the planted orphans, and nothing else.
#[test]
fn a_warehouse_run_cleans_every_table_and_reports_a_failing_one() {
    let wh = tempfile::tempdir().unwrap();
    let root = wh.path();
    copy_dir(&fixture("append_many"), &root.join("a.db/t1"));
    copy_dir(&fixture("tagged"), &root.join("b.db/t2"));
    copy_dir(&fixture("tagged"), &root.join("b.db/broken"));
    std::fs::create_dir_all(root.join("b.db/not_a_table/x")).unwrap();
    std::fs::write(root.join("b.db/broken/schema/schema-0"), b"{ not json").unwrap();
    let day = Duration::from_secs(3 * 86_400);
    let o1 = plant(
        root,
        &format!("a.db/t1/bucket-0/data-{}-0.parquet", uuid()),
        b"orphan-1",
        day,
    );
    let o2 = plant(
        root,
        &format!("b.db/t2/manifest/manifest-{}-0", uuid()),
        b"orphan-22",
        day,
    );
    let o3 = plant(
        root,
        &format!("b.db/broken/manifest/manifest-{}-0", uuid()),
        b"o3",
        day,
    );
    let before = file_set(root);
    let w = root.to_str().unwrap();

    // A dry run of one database: its table only, nothing deleted.
    let out = tagkeeper(&[
        "--json",
        "remove-orphan-files",
        "--warehouse",
        w,
        "--database",
        "a",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tables: Vec<&str> = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, [format!("{w}/a.db/t1")], "{r}");
    assert_eq!(
        (
            r["summary"]["totals"]["files"].as_u64(),
            r["summary"]["totals"]["bytes"].as_i64(),
            r["summary"]["failed"].as_u64()
        ),
        (Some(1), Some(8), Some(0)),
        "{r}"
    );
    assert_eq!(
        r["tables"][0]["result"]["files"][0]["path"],
        o1.strip_prefix("a.db/t1/").unwrap(),
        "{r}"
    );
    assert_eq!(file_set(root), before);

    // The whole warehouse: t1 and t2 cleaned, broken reported, exit 2.
    let out = tagkeeper(&["--json", "remove-orphan-files", "--warehouse", w]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tables: Vec<&str> = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        [
            format!("{w}/a.db/t1"),
            format!("{w}/b.db/broken"),
            format!("{w}/b.db/t2")
        ],
        "{r}"
    );
    assert_eq!(r["tables"][1]["error"]["kind"], "corrupt", "{r}");
    assert_eq!(
        (
            r["summary"]["totals"]["files"].as_u64(),
            r["summary"]["totals"]["bytes"].as_i64(),
            r["summary"]["failed"].as_u64()
        ),
        (Some(2), Some(17), Some(1)),
        "{r}"
    );
    assert_eq!(r["error"]["kind"], "incomplete", "{r}");
    let mut want = before.clone();
    want.remove(&o1);
    want.remove(&o2);
    assert_eq!(
        file_set(root),
        want,
        "exactly the two orphans of the readable tables"
    );
    assert!(file_set(root).contains(&o3));

    // Refused combinations.
    let out = tagkeeper(&[
        "remove-orphan-files",
        "--warehouse",
        w,
        "--database",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no database \"nope\""),
        "{}",
        stderr(&out)
    );
    let out = tagkeeper(&["remove-orphan-files", "somewhere", "--warehouse", w]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// A tag of a retained snapshot is a copy of it: the scan reads nothing more for it (no base
/// of a snapshot that delta replay skips), and the orphans are the same with and without it.
#[test]
fn a_tag_of_a_retained_snapshot_adds_no_manifest_reads() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (dir, _t) = rt.block_on(crate::delete_tag::history_table(30, 3, 4, true));
    let root = dir.path();
    // Orphans to find: the first ten snapshot files gone.
    for id in 1..=10 {
        std::fs::remove_file(root.join(format!("snapshot/snapshot-{id}"))).unwrap();
    }
    let scan = || {
        let out = tagkeeper(&[
            "remove-orphan-files",
            root.to_str().unwrap(),
            "--dry-run",
            "--force",
            "--older-than",
            "0s",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let mut files: Vec<String> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect();
        files.sort();
        (
            v["manifests_read"].as_u64().unwrap(),
            v["tags_read"].as_u64().unwrap(),
            files,
        )
    };
    let (without, tags, orphans) = scan();
    assert_eq!(tags, 0);
    assert!(!orphans.is_empty());
    // Tags of the last snapshot and of two in the middle of the chain (later snapshots of a
    // replayed chain, whose base lists name merged manifests replay does not read).
    std::fs::create_dir_all(root.join("tag")).unwrap();
    for id in [17, 23, 30] {
        std::fs::copy(
            root.join(format!("snapshot/snapshot-{id}")),
            root.join(format!("tag/tag-t{id}")),
        )
        .unwrap();
    }
    let (with, tags, orphans_with_tags) = scan();
    assert_eq!(tags, 3);
    assert_eq!(with, without, "manifests read with and without the tags");
    assert_eq!(orphans_with_tags, orphans);
}
