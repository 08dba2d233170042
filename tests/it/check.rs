//! check: whole on every fixture (counts exactly what pypaimon recorded), each kind of damage
//! found and named, exit codes and JSON. `assert_whole` is the oracle the destructive-command
//! tests use.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use tagkeeper::ops::check::{check, CheckOptions, CheckReport, ProblemKind};

use crate::common::*;

/// Run `check` on a local table and panic on any problem.
pub async fn assert_whole(dir: &Path, deep: bool, context: &str) -> CheckReport {
    let t = open(dir).await;
    let r = check(&t, &CheckOptions { deep }).await.unwrap();
    assert!(
        r.whole && r.problems.is_empty(),
        "{context}: {:#?}",
        r.problems
    );
    r
}

/// After a crash, an interrupted command may leave hints and stranded snapshots for its re-run
/// to fix, but never a missing or damaged file.
pub async fn assert_files_whole(dir: &Path, context: &str) {
    let t = open(dir).await;
    let r = check(&t, &CheckOptions { deep: false }).await.unwrap();
    let bad = r.problems_of(&[ProblemKind::MissingFile, ProblemKind::Unreadable]);
    assert!(bad.is_empty(), "{context}: {bad:#?}");
}

fn problems(r: &CheckReport) -> Vec<(ProblemKind, String)> {
    r.problems
        .iter()
        .map(|p| (p.kind, p.path.clone()))
        .collect()
}

#[tokio::test]
async fn every_fixture_is_whole_and_counted_exactly() {
    for name in fixture_tables().into_iter().chain(["empty".to_string()]) {
        let r = assert_whole(&fixture(&name), true, &name).await;
        assert!(r.unknown_files.is_empty(), "{name}: {:?}", r.unknown_files);
        assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
        if name == "empty" {
            assert_eq!((r.snapshots, r.tags, r.data_files), (0, 0, 0));
            continue;
        }
        let exp = expected(&name);
        let mut data: BTreeSet<String> = BTreeSet::new();
        for kind in ["snapshots", "tags"] {
            for v in exp[kind].as_array().unwrap() {
                for f in v["files"].as_array().unwrap() {
                    data.insert(f["path"].as_str().unwrap().to_string());
                }
            }
        }
        let index_files = std::fs::read_dir(fixture(&name).join("index"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(
            (r.snapshots, r.tags),
            (
                exp["snapshots"].as_array().unwrap().len() as u64,
                exp["tags"].as_array().unwrap().len() as u64
            ),
            "{name}"
        );
        assert_eq!(
            r.data_files,
            (data.len() + index_files) as u64,
            "{name}: live data files of every version, and index files"
        );
        assert_eq!(r.footers_read, data.len() as u64, "{name}");
    }
}

/// The newest data file of the `tagged` fixture (added by snapshot 6, in no tag but `latest`).
fn newest_file(dir: &Path) -> String {
    let exp = expected("tagged");
    let snaps = exp["snapshots"].as_array().unwrap();
    let five: BTreeSet<&str> = snaps[4]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let six = snaps[5]["files"].as_array().unwrap();
    let path = six
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .find(|p| !five.contains(p))
        .unwrap();
    assert!(dir.join(path).is_file());
    path.to_string()
}

fn snapshot_json(dir: &Path, id: i64) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(format!("snapshot/snapshot-{id}"))).unwrap())
        .unwrap()
}

#[tokio::test]
async fn each_kind_of_damage_is_found_and_named() {
    type Damage = fn(&Path) -> Vec<(ProblemKind, String)>;
    let cases: Vec<(&str, &str, bool, Damage)> = vec![
        ("a missing data file", "tagged", false, |d| {
            let f = newest_file(d);
            std::fs::remove_file(d.join(&f)).unwrap();
            vec![(ProblemKind::MissingFile, f)]
        }),
        ("a truncated data file (deep)", "tagged", true, |d| {
            let f = newest_file(d);
            let bytes = std::fs::read(d.join(&f)).unwrap();
            std::fs::write(d.join(&f), &bytes[..bytes.len() - 3]).unwrap();
            vec![
                (ProblemKind::SizeMismatch, f.clone()),
                (ProblemKind::BadParquet, f),
            ]
        }),
        (
            "a truncated data file (shallow: not looked at)",
            "tagged",
            false,
            |d| {
                let f = newest_file(d);
                let bytes = std::fs::read(d.join(&f)).unwrap();
                std::fs::write(d.join(&f), &bytes[..bytes.len() - 3]).unwrap();
                vec![]
            },
        ),
        ("a corrupt manifest", "tagged", false, |d| {
            let list = snapshot_json(d, 6)["deltaManifestList"]
                .as_str()
                .unwrap()
                .to_string();
            // The delta list of snapshot 6 names one manifest: find it by elimination.
            let mut lists: Vec<String> = Vec::new();
            for id in 1..=6 {
                let j = snapshot_json(d, id);
                for k in ["baseManifestList", "deltaManifestList"] {
                    lists.push(j[k].as_str().unwrap().to_string());
                }
            }
            let manifests: Vec<String> = std::fs::read_dir(d.join("manifest"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("manifest-") && !n.starts_with("manifest-list-"))
                .collect();
            let bytes = std::fs::read(d.join("manifest").join(&list)).unwrap();
            let m = manifests
                .into_iter()
                .find(|m| bytes.windows(m.len()).any(|w| w == m.as_bytes()))
                .unwrap();
            std::fs::write(d.join("manifest").join(&m), b"not avro").unwrap();
            vec![(ProblemKind::Unreadable, format!("manifest/{m}"))]
        }),
        ("a missing manifest list", "tagged", false, |d| {
            let list = snapshot_json(d, 2)["deltaManifestList"]
                .as_str()
                .unwrap()
                .to_string();
            std::fs::remove_file(d.join("manifest").join(&list)).unwrap();
            vec![(ProblemKind::MissingFile, format!("manifest/{list}"))]
        }),
        ("a garbage LATEST hint", "tagged", false, |d| {
            std::fs::write(d.join("snapshot/LATEST"), b"six").unwrap();
            vec![(ProblemKind::Hint, "snapshot/LATEST".into())]
        }),
        ("a LATEST hint past the end", "tagged", false, |d| {
            std::fs::write(d.join("snapshot/LATEST"), b"9").unwrap();
            vec![(ProblemKind::Hint, "snapshot/LATEST".into())]
        }),
        ("a gap in the snapshot ids", "tagged", false, |d| {
            std::fs::remove_file(d.join("snapshot/snapshot-3")).unwrap();
            vec![(ProblemKind::SnapshotIds, "snapshot/snapshot-3".into())]
        }),
        ("a corrupt tag", "tagged", false, |d| {
            std::fs::write(d.join("tag/tag-first"), b"{").unwrap();
            vec![(ProblemKind::Unreadable, "tag/tag-first".into())]
        }),
        ("a missing schema", "schema_evolved", false, |d| {
            std::fs::remove_file(d.join("schema/schema-1")).unwrap();
            vec![(ProblemKind::MissingFile, "schema/schema-1".into())]
        }),
        ("a missing index file", "dynamic_bucket", false, |d| {
            let f = std::fs::read_dir(d.join("index"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .min()
                .unwrap();
            std::fs::remove_file(d.join("index").join(&f)).unwrap();
            vec![(ProblemKind::MissingFile, format!("index/{f}"))]
        }),
        ("a stray versioned name", "tagged", false, |d| {
            std::fs::write(d.join("snapshot/snapshot-7.tmp"), b"{}").unwrap();
            vec![(
                ProblemKind::JavaListingHazard,
                "snapshot/snapshot-7.tmp".into(),
            )]
        }),
    ];
    for (what, table, deep, damage) in cases {
        let (_d, dir) = copy_table(table);
        let want = damage(&dir);
        let t = open(&dir).await;
        let r = check(&t, &CheckOptions { deep }).await.unwrap();
        assert_eq!(problems(&r), want, "{what}: {:#?}", r.problems);
        assert_eq!(r.whole, want.is_empty(), "{what}");
    }
}

#[tokio::test]
async fn a_missing_file_names_who_references_it() {
    let (_d, dir) = copy_table("tagged");
    let f = newest_file(&dir);
    std::fs::remove_file(dir.join(&f)).unwrap();
    let r = check(&open(&dir).await, &CheckOptions::default())
        .await
        .unwrap();
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].detail, "referenced by snapshot 6");
}

/// A file every version keeps is recorded once, owned by the first version that needs it
/// (check looks a file up only in the first version that adds it to what it has seen).
#[tokio::test]
async fn a_missing_file_every_version_keeps_names_the_first_version() {
    let (_d, dir) = copy_table("tagged");
    let exp = expected("tagged");
    let snaps = exp["snapshots"].as_array().unwrap();
    let paths = |i: usize| -> BTreeSet<String> {
        snaps[i]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    let shared: BTreeSet<String> = (1..snaps.len()).fold(paths(0), |acc, i| {
        acc.intersection(&paths(i)).cloned().collect()
    });
    assert_eq!(
        shared.len(),
        1,
        "the fixture's first file stays in every snapshot"
    );
    let f = shared.into_iter().next().unwrap();
    std::fs::remove_file(dir.join(&f)).unwrap();
    let r = check(&open(&dir).await, &CheckOptions::default())
        .await
        .unwrap();
    assert_eq!(
        problems(&r),
        vec![(ProblemKind::MissingFile, f.clone())],
        "{:#?}",
        r.problems
    );
    assert_eq!(r.problems[0].detail, "referenced by snapshot 1");
    // Six distinct data files over six snapshots and five tags, each counted once.
    assert_eq!(r.data_files, 6);
}

#[tokio::test]
async fn unknown_files_are_listed_not_problems() {
    let (_d, dir) = copy_table("tagged");
    std::fs::write(dir.join("manifest/README"), b"x").unwrap();
    std::fs::write(dir.join("tag/notes.txt"), b"x").unwrap();
    std::fs::create_dir_all(dir.join("_tagkeeper/plans")).unwrap();
    std::fs::write(dir.join("_tagkeeper/plans/expire-3.json"), b"{}").unwrap();
    let r = check(&open(&dir).await, &CheckOptions::default())
        .await
        .unwrap();
    assert!(r.whole, "{:?}", r.problems);
    assert_eq!(r.unknown_files, vec!["tag/notes.txt", "manifest/README"]);
}

/// Issue 23: object_store's staging file under a name readers list breaks them (pypaimon fails
/// to list the tags of a table with an empty `tag-x#1`): check says so and exits 1.
#[test]
fn cli_check_names_a_staging_file_that_breaks_readers() {
    let (_d, dir) = copy_table("tagged");
    std::fs::write(dir.join("tag/tag-nightly#1"), b"").unwrap();
    let out = tagkeeper(&["check", "--json", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["whole"], Value::Bool(false));
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["problems"][0]["kind"], "breaks_readers");
    assert_eq!(v["problems"][0]["path"], "tag/tag-nightly#1");
    assert_eq!(
        v["crash_leftovers"],
        serde_json::json!(["tag/tag-nightly#1"])
    );
}

#[test]
fn cli_check_exit_codes_and_json() {
    let (_d, dir) = copy_table("tagged");
    let path = dir.to_str().unwrap();
    let out = tagkeeper(&["check", "--json", "--deep", path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["whole"], Value::Bool(true));
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "whole",
            "deep",
            "branches",
            "snapshots",
            "tags",
            "changelogs",
            "consumers",
            "metadata_files",
            "data_files",
            "footers_read",
            "external_files",
            "problems",
            "warnings",
            "unknown_files",
            "crash_leftovers",
            "unfinished_journals"
        ]
    );
    let f = newest_file(&dir);
    std::fs::remove_file(dir.join(&f)).unwrap();
    let out = tagkeeper(&["check", "--json", path]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Exactly one JSON document: the report, carrying the failure as its `error` member.
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["whole"], Value::Bool(false));
    assert_eq!(v["error"]["kind"], "problems_found");
    assert_eq!(v["error"]["exit_code"], 1);
    assert_eq!(
        v["problems"],
        serde_json::json!([{"kind": "missing_file", "path": f, "detail": "referenced by snapshot 6"}])
    );
    let out = tagkeeper(&["check", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("PROBLEMS FOUND"), "{}", stdout(&out));
}

/// Run `f` on its own thread and runtime, and fail if it does not finish within `secs`: a
/// hang (or a runaway allocation) must fail the test, not stall the suite.
pub fn within<T, F, Fut>(secs: u64, f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(rt.block_on(f()));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("did not finish within {secs} s"),
        Err(RecvTimeoutError::Disconnected) => panic!("panicked (see above)"),
    }
}

fn check_within(dir: &Path) -> CheckReport {
    let dir = dir.to_path_buf();
    within(30, move || async move {
        check(&open(&dir).await, &CheckOptions::default())
            .await
            .unwrap()
    })
}

const MAX: &str = "9223372036854775807";

/// snapshot-4 of `rolled_back` as snapshot `id`.
fn snapshot_4_as(dir: &Path, id: &str) -> Vec<u8> {
    let mut v = snapshot_json(dir, 4);
    v["id"] = serde_json::from_str(id).unwrap();
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn huge_and_far_snapshot_ids_are_reported_as_ranges_in_bounded_time() {
    let max_key = format!("snapshot/snapshot-{MAX}");
    // Garbage at the largest id, no LATEST: the listing makes it the latest. One gap range
    // (not 2^63 ids) and the unreadable file.
    let (_d, dir) = copy_table("rolled_back");
    std::fs::write(dir.join(&max_key), b"garbage").unwrap();
    std::fs::remove_file(dir.join("snapshot/LATEST")).unwrap();
    let r = check_within(&dir);
    assert_eq!(
        problems(&r),
        vec![
            (ProblemKind::Unreadable, max_key.clone()),
            (ProblemKind::SnapshotIds, "snapshot/snapshot-5".into())
        ],
        "{:#?}",
        r.problems
    );
    assert_eq!(
        r.problems[1].detail,
        format!(
            "snapshots 1..={MAX} have 9223372036854775802 missing id(s) in 1 gap(s): \
             5..=9223372036854775806"
        )
    );
    // LATEST names it: there is no successor to probe.
    std::fs::write(dir.join("snapshot/LATEST"), MAX).unwrap();
    let r = check_within(&dir);
    assert_eq!(
        problems(&r),
        vec![
            (ProblemKind::Unreadable, max_key.clone()),
            (ProblemKind::SnapshotIds, "snapshot/snapshot-5".into())
        ]
    );
    // LATEST=4: it is stranded beyond LATEST and not read.
    std::fs::write(dir.join("snapshot/LATEST"), "4").unwrap();
    let r = check_within(&dir);
    assert_eq!(problems(&r), vec![(ProblemKind::SnapshotIds, max_key)]);
    assert!(
        r.problems[0].detail.contains("snapshot 5 is missing"),
        "{:?}",
        r.problems
    );

    // A far id holding a real snapshot: only the gap.
    let (_d, dir) = copy_table("rolled_back");
    std::fs::write(
        dir.join("snapshot/snapshot-99999999999"),
        snapshot_4_as(&dir, "99999999999"),
    )
    .unwrap();
    std::fs::remove_file(dir.join("snapshot/LATEST")).unwrap();
    let r = check_within(&dir);
    assert_eq!(
        problems(&r),
        vec![(ProblemKind::SnapshotIds, "snapshot/snapshot-5".into())]
    );
    assert_eq!(
        r.problems[0].detail,
        "snapshots 1..=99999999999 have 99999999994 missing id(s) in 1 gap(s): 5..=99999999998"
    );
    assert_eq!(r.snapshots, 5);
}

/// A copy of `tagged` with long-lived changelogs `ids` (copies of those snapshots) and hints.
fn with_changelogs(
    ids: &[i64],
    latest: Option<&str>,
    earliest: Option<&str>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let (d, dir) = copy_table("tagged");
    std::fs::create_dir_all(dir.join("changelog")).unwrap();
    for id in ids {
        std::fs::copy(
            dir.join(format!("snapshot/snapshot-{id}")),
            dir.join(format!("changelog/changelog-{id}")),
        )
        .unwrap();
    }
    for (name, hint) in [("LATEST", latest), ("EARLIEST", earliest)] {
        if let Some(h) = hint {
            std::fs::write(dir.join("changelog").join(name), h).unwrap();
        }
    }
    (d, dir)
}

#[tokio::test]
async fn changelog_hints_and_ids_are_checked_like_snapshots() {
    let (_d, dir) = with_changelogs(&[1, 2, 3], Some("3"), Some("1"));
    let r = assert_whole(&dir, false, "three changelogs").await;
    assert_eq!((r.changelogs, r.warnings.len()), (3, 0));

    type Case = (
        &'static str,
        &'static [i64],
        Option<&'static str>,
        Option<&'static str>,
        Vec<(ProblemKind, String)>,
    );
    let cases: Vec<Case> = vec![
        (
            "a gap",
            &[1, 2, 4],
            Some("4"),
            Some("1"),
            vec![(ProblemKind::SnapshotIds, "changelog/changelog-3".into())],
        ),
        (
            "LATEST past the end",
            &[1, 2, 3],
            Some("9"),
            None,
            vec![(ProblemKind::Hint, "changelog/LATEST".into())],
        ),
        (
            "garbage in EARLIEST",
            &[1, 2, 3],
            Some("3"),
            Some("one"),
            vec![(ProblemKind::Hint, "changelog/EARLIEST".into())],
        ),
        (
            "a changelog stranded beyond LATEST",
            &[1, 2, 3, 5],
            Some("3"),
            None,
            vec![(ProblemKind::SnapshotIds, "changelog/changelog-5".into())],
        ),
        (
            "a hint but no changelog",
            &[],
            Some("3"),
            None,
            vec![(ProblemKind::Hint, "changelog/LATEST".into())],
        ),
    ];
    for (what, ids, latest, earliest, want) in cases {
        let (_d, dir) = with_changelogs(ids, latest, earliest);
        let r = check(&open(&dir).await, &CheckOptions::default())
            .await
            .unwrap();
        assert_eq!(problems(&r), want, "{what}: {:#?}", r.problems);
    }

    // EARLIEST moved on by an interrupted changelog expiration: changelog 1 is invisible,
    // a warning, and not read.
    let (_d, dir) = with_changelogs(&[1, 2, 3], Some("3"), Some("2"));
    std::fs::write(dir.join("changelog/changelog-1"), b"garbage").unwrap();
    let r = assert_whole(&dir, false, "EARLIEST=2").await;
    assert_eq!(r.changelogs, 2);
    assert_eq!(
        r.warnings,
        vec![
            "1 changelog(s) in 1..=1 lie below EARLIEST (2): readers do not see them (left by an \
             interrupted expiration); they are not checked"
        ]
    );
}

/// The index files of every snapshot of a table: (partition, bucket, name).
fn index_entries(dir: &Path) -> BTreeSet<(Vec<u8>, i32, String)> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir.join("snapshot")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("snapshot-") else {
            continue;
        };
        let s = snapshot_json(dir, id.parse().unwrap());
        let Some(im) = s["indexManifest"].as_str() else {
            continue;
        };
        let key = format!("manifest/{im}");
        let bytes = std::fs::read(dir.join(&key)).unwrap();
        for e in tagkeeper::format::manifest::decode_index_manifest(&bytes, &key).unwrap() {
            out.insert((e.partition, e.bucket, e.file_name));
        }
    }
    out
}

#[tokio::test]
async fn index_files_count_only_where_java_looks_for_them() {
    // A same-named copy elsewhere does not hide a missing index/ file.
    for elsewhere in ["dt=2024-01-01/bucket-0", "manifest"] {
        let (_d, dir) = copy_table("dynamic_bucket");
        let (_, _, f) = index_entries(&dir).into_iter().next().unwrap();
        std::fs::rename(dir.join("index").join(&f), dir.join(elsewhere).join(&f)).unwrap();
        let r = check(&open(&dir).await, &CheckOptions::default())
            .await
            .unwrap();
        assert_eq!(
            problems(&r),
            vec![(ProblemKind::MissingFile, format!("index/{f}"))],
            "copy in {elsewhere}/"
        );
    }

    // With index-file-in-data-file-dir, Java looks in the bucket directory of the entry.
    let (_d, dir) = copy_table("dynamic_bucket");
    let mut schema: Value =
        serde_json::from_slice(&std::fs::read(dir.join("schema/schema-0")).unwrap()).unwrap();
    schema["options"]["index-file-in-data-file-dir"] = Value::String("true".into());
    std::fs::write(
        dir.join("schema/schema-0"),
        serde_json::to_vec_pretty(&schema).unwrap(),
    )
    .unwrap();
    let t = open(&dir).await;
    let spec = t.partition_spec().await.unwrap();
    let mut moved = Vec::new();
    for (partition, bucket, name) in index_entries(&dir) {
        let values = tagkeeper::format::binary_row::decode(&partition, &spec.types).unwrap();
        let key = format!(
            "{}/{name}",
            tagkeeper::table::layout::bucket_dir(None, &spec.path(&values), bucket)
        );
        std::fs::rename(dir.join("index").join(&name), dir.join(&key)).unwrap();
        moved.push((name, key));
    }
    assert!(moved.len() >= 2, "{moved:?}");
    let r = assert_whole(&dir, false, "index files in bucket directories").await;
    assert!(r.data_files > moved.len() as u64);
    let (name, key) = &moved[0];
    std::fs::rename(dir.join(key), dir.join("index").join(name)).unwrap();
    let r = check(&t, &CheckOptions::default()).await.unwrap();
    assert_eq!(problems(&r), vec![(ProblemKind::MissingFile, key.clone())]);
}
