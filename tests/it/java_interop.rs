//! Java Paimon as the reference peer (interop/java: paimon-bundle 1.4.2, and 0.9.0 for
//! `legacy_09`).
//!
//! Always run: for every snapshot and tag of every table in testdata/java (written by Java,
//! with what Java's own scan and read saw recorded in testdata/java/expected), tagkeeper lists
//! exactly Java's live files, reads Java's rows (or fails with the exact `unsupported` error
//! named in [`UNSUPPORTED_READS`]), and `check` is clean.
//!
//! Live Java (needs the harness built: `bash scripts/java-peer.sh build`; scripts/test.sh does
//! it): after tagkeeper's commands on copies of those tables, Java reads every remaining
//! version with the expected rows, a Java commit on top succeeds and reads right, and Java's
//! own expire and orphan cleaning afterwards delete nothing a remaining version needs. Without
//! the harness these tests skip with a message, except under CI=true, where they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::inspect;
use tagkeeper::ops::check::{check, CheckOptions};
use tagkeeper::read::ReadOptions;
use tagkeeper::table::VersionSpec;

use crate::common::*;

/// Reads tagkeeper cannot do yet, by table: the exact message of its `unsupported` error for
/// every version of that table. When support lands, delete the line: the test then demands
/// Java's rows.
const UNSUPPORTED_READS: &[(&str, &str)] = &[];

pub(crate) fn java_root() -> PathBuf {
    repo().join("testdata/java")
}

pub(crate) fn java_fixture(table: &str) -> PathBuf {
    java_root().join("warehouse/default.db").join(table)
}

pub(crate) fn java_tables() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(java_root().join("expected"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names.len(), 20, "Java tables missing: {names:?}");
    names
}

pub(crate) fn java_expected(table: &str) -> Value {
    let text =
        std::fs::read_to_string(java_root().join("expected").join(format!("{table}.json")))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A private copy of a Java table.
pub(crate) fn copy_java(table: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(table);
    copy_dir(&java_fixture(table), &dest);
    (dir, dest)
}

/// The comparable fields of a file, from either side.
fn file_key(f: &Value) -> String {
    json!({
        "path": f["path"], "partition": f["partition"], "bucket": f["bucket"],
        "level": f["level"], "file_size": f["file_size"], "row_count": f["row_count"],
    })
    .to_string()
}

/// Every version of the main branch in the expected JSON: (spec, the JSON of that version).
fn versions(expected: &Value) -> Vec<(VersionSpec, &Value)> {
    let mut out = Vec::new();
    for s in expected["snapshots"].as_array().unwrap() {
        out.push((
            VersionSpec::Snapshot(SnapshotId(s["id"].as_i64().unwrap())),
            s,
        ));
    }
    for t in expected["tags"].as_array().unwrap() {
        out.push((
            VersionSpec::Tag(TagName::new(t["name"].as_str().unwrap()).unwrap()),
            t,
        ));
    }
    out
}

#[tokio::test]
async fn every_java_version_lists_the_live_files_java_lists() {
    let mut checked = 0;
    for name in java_tables() {
        let expected = java_expected(&name);
        let table = open(&java_fixture(&name)).await;
        let snapshots = inspect::snapshots(&table).await.unwrap();
        let got_ids: Vec<i64> = snapshots.snapshots.iter().map(|s| s.id).collect();
        let want_ids: Vec<i64> = expected["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect();
        assert_eq!(got_ids, want_ids, "{name}: snapshot ids");
        let tags = inspect::tags(&table).await.unwrap();
        let got_tags: Vec<(String, i64)> = tags
            .tags
            .iter()
            .map(|t| (t.name.clone(), t.snapshot_id))
            .collect();
        let want_tags: Vec<(String, i64)> = expected["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["snapshot_id"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got_tags, want_tags, "{name}: tags");

        for (spec, v) in versions(&expected) {
            let report = inspect::files(&table, &spec)
                .await
                .unwrap_or_else(|e| panic!("{name} {spec:?}: {e}"));
            let r = serde_json::to_value(&report).unwrap();
            let mut got: Vec<String> = r["files"].as_array().unwrap().iter().map(file_key).collect();
            got.sort();
            let mut want: Vec<String> = v["files"].as_array().unwrap().iter().map(file_key).collect();
            want.sort();
            assert_eq!(got, want, "{name} {spec:?}: files");
            assert_eq!(report.total_rows, v["file_row_count"].as_i64().unwrap());
            let bytes: i64 = v["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["file_size"].as_i64().unwrap())
                .sum();
            assert_eq!(report.total_bytes, bytes, "{name} {spec:?}: bytes");
            checked += 1;
        }
    }
    assert_eq!(checked, EXPECTED_MAIN_VERSIONS, "versions compared");
}

/// Snapshots and tags of the main branches of all Java tables (branch versions are not
/// addressable through tagkeeper's VersionSpec yet).
const EXPECTED_MAIN_VERSIONS: usize = 0;

#[tokio::test]
async fn every_java_version_reads_the_rows_java_reads() {
    let mut compared = 0;
    let mut unsupported = 0;
    for name in java_tables() {
        let expected = java_expected(&name);
        let table = open(&java_fixture(&name)).await;
        let refusal = UNSUPPORTED_READS
            .iter()
            .find(|(t, _)| *t == name)
            .map(|(_, m)| *m);
        for (spec, v) in versions(&expected) {
            let options = ReadOptions {
                version: spec.clone(),
                ..ReadOptions::default()
            };
            let got = crate::read::read_all(&table, &options).await;
            match (refusal, got) {
                (None, Ok(batches)) => {
                    let want = (
                        v["rows"].as_u64().unwrap(),
                        v["checksum"].as_str().unwrap().to_string(),
                    );
                    assert_eq!(crate::read::checksum(&batches), want, "{name} {spec:?}");
                    compared += 1;
                }
                (None, Err(e)) => panic!("{name} {spec:?}: {e}"),
                (Some(msg), Err(e)) => {
                    assert!(
                        matches!(e, tagkeeper::Error::Unsupported(_)),
                        "{name} {spec:?}: {e:?}"
                    );
                    assert_eq!(e.to_string(), msg, "{name} {spec:?}");
                    unsupported += 1;
                }
                (Some(msg), Ok(_)) => panic!(
                    "{name} {spec:?} now reads: compare it with Java (delete its line from \
                     UNSUPPORTED_READS; it was refused with {msg:?})"
                ),
            }
        }
    }
    assert_eq!((compared, unsupported), (0, 0));
}

#[tokio::test]
async fn check_is_clean_on_every_java_table() {
    for name in java_tables() {
        let table = open(&java_fixture(&name)).await;
        let r = check(&table, &CheckOptions { deep: true }).await.unwrap();
        assert!(r.whole && r.problems.is_empty(), "{name}: {:#?}", r.problems);
        let expected = java_expected(&name);
        let branches: Vec<String> = std::iter::once("main".to_string())
            .chain(
                expected["branches"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["name"].as_str().unwrap().to_string()),
            )
            .collect();
        assert_eq!(r.branches, branches, "{name}: branches checked");
    }
}

// ------------------------------------------------------------------------------------------
// Live Java

/// The harness's classpath, or None (with a message) when it is not built. Under CI=true a
/// missing harness is a failure: CI must exercise Java.
pub(crate) fn java_classpath() -> Option<String> {
    let j = repo().join("interop/java/harness/target");
    match std::fs::read_to_string(j.join("classpath.txt")) {
        Ok(cp) => Some(format!("{}:{}", j.join("classes").display(), cp.trim())),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("Java harness not built under CI: run bash scripts/java-peer.sh build")
        }
        Err(_) => {
            skipped("Java interop: harness not built (bash scripts/java-peer.sh build)");
            None
        }
    }
}

/// Run one harness command; its JSON output.
pub(crate) fn java(cp: &str, args: &[&str]) -> Value {
    let out = Command::new("java")
        .args(["-Duser.timezone=UTC", "-cp", cp, "tagkeeper.interop.Harness"])
        .args(args)
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "java {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (rows, checksum) of every version, keyed like the harness's read-all ("snapshot-N",
/// "tag-T", "branch-B/snapshot-N").
pub(crate) type Reads = BTreeMap<String, (u64, String)>;

fn reads_of(v: &Value) -> Reads {
    v.as_object()
        .unwrap()
        .iter()
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

/// What Java read for every version when the table was generated.
pub(crate) fn recorded_reads(table: &str) -> Reads {
    let e = java_expected(table);
    let mut out = Reads::new();
    let mut add = |prefix: &str, d: &Value| {
        for s in d["snapshots"].as_array().unwrap() {
            out.insert(
                format!("{prefix}snapshot-{}", s["id"]),
                (
                    s["rows"].as_u64().unwrap(),
                    s["checksum"].as_str().unwrap().to_string(),
                ),
            );
        }
        for t in d["tags"].as_array().unwrap() {
            out.insert(
                format!("{prefix}tag-{}", t["name"].as_str().unwrap()),
                (
                    t["rows"].as_u64().unwrap(),
                    t["checksum"].as_str().unwrap().to_string(),
                ),
            );
        }
    };
    add("", &e);
    for b in e["branches"].as_array().unwrap() {
        add(&format!("branch-{}/", b["name"].as_str().unwrap()), b);
    }
    out
}

pub(crate) fn java_reads(cp: &str, dir: &Path) -> Reads {
    reads_of(&java(cp, &["read-all", dir.to_str().unwrap()]))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn java_harness_reads_the_committed_tables_as_recorded() {
    let Some(cp) = java_classpath() else { return };
    // One table per shape family keeps this to a few JVM starts.
    for name in ["pk_compacted", "branched", "schema_evolved", "legacy_09"] {
        assert_eq!(
            java_reads(&cp, &java_fixture(name)),
            recorded_reads(name),
            "{name}"
        );
    }
}

/// Run the tagkeeper CLI with --json; its report. Panics with stderr on failure.
fn tk(args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = tagkeeper(&full);
    assert!(
        out.status.success(),
        "tagkeeper {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The smallest `nextSnapshot` of the table's consumers (i64::MAX without consumers).
fn consumer_floor(dir: &Path) -> i64 {
    let Ok(entries) = std::fs::read_dir(dir.join("consumer")) else {
        return i64::MAX;
    };
    entries
        .map(|e| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            v["nextSnapshot"].as_i64().unwrap()
        })
        .min()
        .unwrap_or(i64::MAX)
}

fn latest_id(reads: &Reads) -> i64 {
    reads
        .keys()
        .filter_map(|k| k.strip_prefix("snapshot-"))
        .map(|n| n.parse::<i64>().unwrap())
        .max()
        .unwrap()
}

/// A row for the next Java commit, in the table's own columns.
fn java_row(table: &str) -> &'static str {
    match table {
        "pk_compacted" | "pk_dynamic" | "pk_dv" | "legacy_09" | "changelog_decoupled" => {
            r#"[{"dt": "2024-03-01", "k": 7000, "v": "java"}]"#
        }
        "schema_evolved" => r#"[{"id": 7000, "label": "java", "n": 7}]"#,
        _ => r#"[{"id": 7000, "name": "java", "dt": "2024-03-01"}]"#,
    }
}

/// After a tagkeeper command on `dir` (a copy of `table`): Java reads exactly `want`; a Java
/// commit on top adds one row; Java's own expiration (to one snapshot) and orphan cleaning then
/// leave every tag and the latest snapshot reading as before; tagkeeper's check stays clean.
async fn java_follows(cp: &str, table: &str, dir: &Path, want: &Reads) {
    let p = dir.to_str().unwrap();
    let f = java(cp, &["follow", p, java_row(table)]);
    assert_eq!(&reads_of(&f["before"]), want, "{table}: Java reads after tagkeeper");
    let latest = latest_id(want);
    assert_eq!(
        f["commit"]["latest_snapshot"],
        latest + 1,
        "{table}: Java committed"
    );
    let after_commit = reads_of(&f["after_commit"]);
    let mut expect = want.clone();
    let new = &after_commit[&format!("snapshot-{}", latest + 1)];
    assert_eq!(
        new.0,
        want[&format!("snapshot-{latest}")].0 + 1,
        "{table}: one more row"
    );
    expect.insert(format!("snapshot-{}", latest + 1), new.clone());
    assert_eq!(after_commit, expect, "{table}: after a Java commit");

    let after = reads_of(&f["after_maintenance"]);
    let mut kept: Reads = expect
        .iter()
        .filter(|(k, _)| !k.starts_with("snapshot-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    kept.insert(format!("snapshot-{}", latest + 1), new.clone());
    // Java's expiration keeps what a consumer will read next.
    let floor = consumer_floor(dir);
    for (k, v) in &expect {
        if let Some(n) = k.strip_prefix("snapshot-") {
            if n.parse::<i64>().unwrap() >= floor {
                kept.insert(k.clone(), v.clone());
            }
        }
    }
    // Branch snapshots are not expired by the main branch's expiration.
    assert_eq!(
        after, kept,
        "{table}: after Java's expire and orphan cleaning ({})",
        f["orphans"]
    );
    crate::check::assert_whole(dir, false, &format!("{table} after Java maintenance")).await;
}

#[tokio::test]
async fn java_reads_every_version_after_tagkeeper_tag_commands() {
    let Some(cp) = java_classpath() else { return };
    // tags_expired: tags on snapshots Java expired (1, 3 with a retention, 4); snapshot 7 live.
    let (_d, dir) = copy_java("tags_expired");
    let p = dir.to_str().unwrap();
    let mut want = recorded_reads("tags_expired");
    tk(&["create-tag", p, "new", "--snapshot", "7", "--time-retained", "2 d"]);
    want.insert("tag-new".into(), want["snapshot-7"].clone());
    tk(&["rename-tag", p, "mid", "middle"]);
    let mid = want.remove("tag-mid").unwrap();
    want.insert("tag-middle".into(), mid);
    tk(&["replace-tag", p, "first", "--snapshot", "7"]);
    want.insert("tag-first".into(), want["snapshot-7"].clone());
    tk(&["delete-tag", p, "kept-a-day"]);
    want.remove("tag-kept-a-day");
    java_follows(&cp, "tags_expired", &dir, &want).await;

    // branched: a tag made on main next to a branch that has its own tags.
    let (_d2, dir2) = copy_java("branched");
    let p2 = dir2.to_str().unwrap();
    let mut want2 = recorded_reads("branched");
    tk(&["create-tag", p2, "tk", "--snapshot", "3"]);
    want2.insert("tag-tk".into(), want2["snapshot-3"].clone());
    tk(&["delete-tag", p2, "base"]);
    want2.remove("tag-base");
    java_follows(&cp, "branched", &dir2, &want2).await;
}

/// Tables whose history exercises expiration: compaction, overwrite, dynamic-bucket index,
/// deletion vectors, schema changes, Java's rollback, branches, consumers, decoupled
/// changelog, the 0.9 layout.
const EXPIRE_TABLES: &[&str] = &[
    "append_unaware",
    "pk_compacted",
    "pk_dynamic",
    "pk_dv",
    "schema_evolved",
    "java_rolled_back",
    "branched",
    "consumers",
    "changelog_decoupled",
    "legacy_09",
];

#[tokio::test]
async fn java_reads_every_version_after_tagkeeper_expire_snapshots() {
    let Some(cp) = java_classpath() else { return };
    for &table in EXPIRE_TABLES {
        let (_d, dir) = copy_java(table);
        let p = dir.to_str().unwrap();
        let recorded = recorded_reads(table);
        let latest = latest_id(&recorded);
        let r = tk(&[
            "expire-snapshots",
            p,
            "--retain-min",
            "1",
            "--retain-max",
            "1",
            "--older-than",
            "2999-01-01T00:00:00Z",
        ]);
        // Every snapshot but the latest goes, except those a consumer still needs (Java keeps
        // snapshots from the smallest consumer's next snapshot on).
        let consumer_floor = consumer_floor(&dir);
        assert_eq!(consumer_floor < i64::MAX, table == "consumers");
        let mut want = recorded.clone();
        want.retain(|k, _| match k.strip_prefix("snapshot-") {
            Some(n) => {
                let n: i64 = n.parse().unwrap();
                n == latest || n >= consumer_floor
            }
            None => true,
        });
        assert_eq!(
            java_reads(&cp, &dir),
            want,
            "{table}: Java reads after tagkeeper expire-snapshots: {r}"
        );
        java_follows(&cp, table, &dir, &want).await;
    }
}

#[tokio::test]
async fn java_reads_every_version_after_tagkeeper_rollback() {
    let Some(cp) = java_classpath() else { return };
    // (table, --tag or --snapshot, target, the target's snapshot id)
    let cases: &[(&str, &str, &str, i64)] = &[
        ("pk_compacted", "--snapshot", "2", 2),
        ("pk_compacted", "--tag", "compacted", 4),
        ("append_unaware", "--tag", "t2", 2),
        ("schema_evolved", "--tag", "before-drop", 4),
        ("tags_expired", "--tag", "mid", 4),
        ("java_rolled_back", "--snapshot", "2", 2),
    ];
    for &(table, how, target, target_id) in cases {
        let recorded = recorded_reads(table);
        let key = if how == "--tag" {
            format!("tag-{target}")
        } else {
            format!("snapshot-{target}")
        };
        let target_reads = recorded[&key].clone();
        let tag_ids: BTreeMap<String, i64> = java_expected(table)["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    format!("tag-{}", t["name"].as_str().unwrap()),
                    t["snapshot_id"].as_i64().unwrap(),
                )
            })
            .collect();

        // Destructive (with purge): newer snapshots and tags go; the target is the latest.
        let (_d, dir) = copy_java(table);
        let p = dir.to_str().unwrap();
        tk(&["rollback-to", p, how, target, "--purge"]);
        let mut want = recorded.clone();
        want.retain(|k, _| {
            if let Some(n) = k.strip_prefix("snapshot-") {
                n.parse::<i64>().unwrap() <= target_id
            } else {
                tag_ids.get(k).is_none_or(|id| *id <= target_id)
            }
        });
        // Restored from a tag whose snapshot had expired: the snapshot comes back.
        want.insert(format!("snapshot-{target_id}"), target_reads.clone());
        java_follows(&cp, table, &dir, &want).await;

        // As latest: history kept, one new snapshot with the target's rows.
        let (_d2, dir2) = copy_java(table);
        let p2 = dir2.to_str().unwrap();
        tk(&["rollback-to", p2, how, target, "--as-latest"]);
        let mut want2 = recorded.clone();
        want2.insert(
            format!("snapshot-{}", latest_id(&recorded) + 1),
            target_reads.clone(),
        );
        java_follows(&cp, table, &dir2, &want2).await;
    }
}

#[tokio::test]
async fn tagkeeper_finds_no_orphans_in_java_tables_and_java_reads_all_after() {
    let Some(cp) = java_classpath() else { return };
    for name in java_tables() {
        let (_d, dir) = copy_java(&name);
        let p = dir.to_str().unwrap();
        let r = tk(&[
            "remove-orphan-files",
            p,
            "--older-than",
            "2999-01-01T00:00:00Z",
            "--force",
        ]);
        assert_eq!(
            r["deleted_files"].as_u64(),
            Some(0),
            "{name}: Java's tables have no orphans: {r}"
        );
        if ["pk_dv", "orphans_cleaned", "iceberg_compat", "changelog_decoupled"]
            .contains(&name.as_str())
        {
            java_follows(&cp, &name, &dir, &recorded_reads(&name)).await;
        }
    }
}

#[tokio::test]
async fn java_reads_what_tagkeeper_writes_into_java_tables() {
    let Some(cp) = java_classpath() else { return };
    for (table, csv, rendered) in [
        (
            "append_unaware",
            "id,name,dt\n9000,tk,2024-01-01\n9001,,2024-04-01\n",
            ["9000\u{1f}tk\u{1f}2024-01-01", "9001\u{1f}\\N\u{1f}2024-04-01"],
        ),
        (
            "schema_evolved",
            "id,label,n\n9000,tk,1\n9001,,5000000000\n",
            ["9000\u{1f}tk\u{1f}1", "9001\u{1f}\\N\u{1f}5000000000"],
        ),
    ] {
        let (d, dir) = copy_java(table);
        let input = d.path().join("in.csv");
        std::fs::write(&input, csv).unwrap();
        tk(&["write", dir.to_str().unwrap(), "--input", input.to_str().unwrap()]);
        let mut want = recorded_reads(table);
        let latest = latest_id(&want);
        let (rows, sum) = want[&format!("snapshot-{latest}")].clone();
        let sum = rendered.iter().fold(u64::from_str_radix(&sum, 16).unwrap(), |s, r| {
            s.wrapping_add(crate::oracle::row_hash(r))
        });
        want.insert(
            format!("snapshot-{}", latest + 1),
            (rows + 2, format!("{sum:016x}")),
        );
        java_follows(&cp, table, &dir, &want).await;
    }
}

#[tokio::test]
async fn auto_tag_creates_the_tags_java_created() {
    // Java's TagAutoCreation (watermark mode, daily, tag.num-retained-max 3) tagged the table
    // during its 6 commits; tagkeeper, run once afterwards on a copy without those tags, must
    // end with the same tags on the same snapshots.
    let (_d, dir) = copy_java("auto_tag");
    let java_tags: Vec<(String, i64)> = java_expected("auto_tag")["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["snapshot_id"].as_i64().unwrap(),
            )
        })
        .collect();
    std::fs::remove_dir_all(dir.join("tag")).unwrap();
    tk(&["auto-tag", dir.to_str().unwrap()]);
    let table = open(&dir).await;
    let got: Vec<(String, i64)> = inspect::tags(&table)
        .await
        .unwrap()
        .tags
        .iter()
        .map(|t| (t.name.clone(), t.snapshot_id))
        .collect();
    assert_eq!(got, java_tags);
}
