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
            "unknown_files"
        ]
    );
    let f = newest_file(&dir);
    std::fs::remove_file(dir.join(&f)).unwrap();
    let out = tagkeeper(&["check", "--json", path]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Exactly one JSON document: the report, not an error.
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["whole"], Value::Bool(false));
    assert_eq!(
        v["problems"],
        serde_json::json!([{"kind": "missing_file", "path": f, "detail": "referenced by snapshot 6"}])
    );
    let out = tagkeeper(&["check", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("PROBLEMS FOUND"), "{}", stdout(&out));
}
