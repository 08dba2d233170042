//! Branches (issue 18 part 1): branches, create-branch, rename-branch, fast-forward and
//! delete-branch against Java's semantics (files copied byte for byte), `--branch` on the
//! commands that read or change a version, exact file sets after delete-branch (from the
//! oracle's brute-force reachability), pypaimon reading what they leave, and a delete-branch
//! interrupted at every request and finished by the next run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{copy_table, repo, stderr, stdout, tagkeeper};
use crate::oracle;

fn files(dir: &Path) -> BTreeSet<String> {
    crate::fixtures::walk(dir).into_iter().collect()
}

fn bytes_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(dir.join(&f)).unwrap();
            (f, b)
        })
        .collect()
}

fn json(args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = tagkeeper(&full);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {}", stdout(&out)))
}

/// A failing run: its exit code and the error kind of its one JSON document.
fn fails(args: &[&str]) -> (i32, String) {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = tagkeeper(&full);
    let doc: Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {}", stdout(&out)));
    (
        out.status.code().unwrap(),
        doc["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// `tagged` (snapshots 1..=6; tags first→1, daily-3→3, release-a/b→5, latest→6) with branch
/// `b` created from tag daily-3 and one commit of its own (snapshot 4 of the branch), tagged
/// `bt`.
fn branched() -> (tempfile::TempDir, PathBuf) {
    let (d, t) = copy_table("tagged");
    let table = t.to_str().unwrap();
    json(&["create-branch", table, "b", "--tag", "daily-3"]);
    let csv = d.path().join("in.csv");
    std::fs::write(&csv, "id,name,dt\n100,b-1,2024-02-01\n101,b-2,2024-02-01\n").unwrap();
    json(&[
        "write",
        table,
        "--branch",
        "b",
        "--input",
        csv.to_str().unwrap(),
    ]);
    json(&["create-tag", table, "--branch", "b", "bt"]);
    (d, t)
}

fn python() -> Option<String> {
    crate::interop::python()
}

fn pypaimon(py: &str, table: &Path, extra: &[&str]) -> (u64, String) {
    let out = Command::new(py)
        .arg(repo().join("scripts/peer/pypaimon_peer.py"))
        .args(["read", table.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pypaimon {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["rows"].as_u64().unwrap(),
        v["checksum"].as_str().unwrap().to_string(),
    )
}

fn oracle_version(state: &oracle::State, name: &str) -> (u64, String) {
    let v = state
        .versions
        .get(name)
        .unwrap_or_else(|| panic!("no version {name}: {:?}", state.versions.keys()));
    (v.rows, format!("{:016x}", v.checksum))
}

#[test]
fn create_branch_copies_what_java_copies_byte_for_byte() {
    let (_d, t) = copy_table("tagged");
    let table = t.to_str().unwrap();
    let r = json(&["create-branch", table, "from-tag", "--tag", "daily-3"]);
    assert_eq!(r["snapshot_id"], 3);
    json(&["create-branch", table, "from-snap", "--snapshot", "5"]);
    json(&["create-branch", table, "empty"]);
    let main = bytes_under(&t);
    let got = |b: &str| bytes_under(&t.join(format!("branch/branch-{b}")));
    // Java createBranch(name, tag): the tag, its snapshot, the schemas up to its schema.
    let from_tag = got("from-tag");
    assert_eq!(
        from_tag.keys().cloned().collect::<Vec<_>>(),
        ["schema/schema-0", "snapshot/snapshot-3", "tag/tag-daily-3"]
    );
    for (k, v) in &from_tag {
        assert_eq!(Some(v), main.get(k), "{k} differs from main's");
    }
    let from_snap = got("from-snap");
    assert_eq!(
        from_snap.keys().cloned().collect::<Vec<_>>(),
        ["schema/schema-0", "snapshot/snapshot-5"]
    );
    for (k, v) in &from_snap {
        assert_eq!(Some(v), main.get(k), "{k}");
    }
    // Java createBranch(name): main's schemas only.
    assert_eq!(
        got("empty").keys().cloned().collect::<Vec<_>>(),
        ["schema/schema-0"]
    );

    let listed = json(&["branches", table]);
    let names: Vec<&str> = listed["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["empty", "from-snap", "from-tag"]);
    let b = &listed["branches"][2];
    assert_eq!(b["created_from"]["tag"], "daily-3");
    assert_eq!(b["created_from"]["snapshot_id"], 3);
    assert_eq!(
        (
            b["latest_snapshot"].clone(),
            b["snapshots"].clone(),
            b["tags"].clone()
        ),
        (3.into(), 1.into(), 1.into())
    );
    assert_eq!(listed["branches"][1]["created_from"]["snapshot_id"], 5);
    assert_eq!(listed["branches"][1]["created_from"]["tag"], Value::Null);
    assert_eq!(listed["branches"][0]["created_from"], Value::Null);
    assert_eq!(listed["branches"][0]["latest_snapshot"], Value::Null);

    // Java's refusals: an existing branch, `main`, a numeric name, a missing tag.
    assert_eq!(
        fails(&["create-branch", table, "from-tag"]),
        (1, "already_exists".into())
    );
    assert_eq!(
        fails(&["create-branch", table, "main"]),
        (1, "invalid_argument".into())
    );
    assert_eq!(
        fails(&["create-branch", table, "123"]),
        (1, "invalid_argument".into())
    );
    assert_eq!(
        fails(&["create-branch", table, "x", "--tag", "nope"]),
        (1, "tag_not_found".into())
    );
    assert_eq!(
        fails(&["create-branch", table, "x", "--snapshot", "99"]),
        (1, "snapshot_not_found".into())
    );
    assert!(!t.join("branch/branch-x").exists());

    // The oracle reads every branch version as main's, and so does pypaimon.
    let state = oracle::observe(&t);
    state.assert_whole_parquet("after create-branch");
    assert_eq!(
        oracle_version(&state, "branch-from-tag/snapshot-3"),
        oracle_version(&state, "snapshot-3")
    );
    assert_eq!(
        oracle_version(&state, "branch-from-snap/snapshot-5"),
        oracle_version(&state, "snapshot-5")
    );
    if let Some(py) = python() {
        assert_eq!(
            pypaimon(&py, &t, &["--branch", "from-tag"]),
            oracle_version(&state, "snapshot-3")
        );
        assert_eq!(
            pypaimon(&py, &t, &["--branch", "from-tag", "--tag", "daily-3"]),
            oracle_version(&state, "tag-daily-3")
        );
        assert_eq!(
            pypaimon(&py, &t, &["--branch", "from-snap"]),
            oracle_version(&state, "snapshot-5")
        );
        assert_eq!(pypaimon(&py, &t, &["--branch", "empty"]).0, 0);
    }
}

/// A tag whose snapshot expired: Java writes the branch's snapshot from the tag.
#[test]
fn create_branch_from_a_tag_whose_snapshot_expired_writes_the_snapshot_from_the_tag() {
    let (_d, t) = copy_table("tagged");
    std::fs::remove_file(t.join("snapshot/snapshot-3")).unwrap();
    json(&[
        "create-branch",
        t.to_str().unwrap(),
        "b",
        "--tag",
        "daily-3",
    ]);
    let snap: Value = serde_json::from_slice(
        &std::fs::read(t.join("branch/branch-b/snapshot/snapshot-3")).unwrap(),
    )
    .unwrap();
    let mut tag: Value =
        serde_json::from_slice(&std::fs::read(t.join("tag/tag-daily-3")).unwrap()).unwrap();
    let m = tag.as_object_mut().unwrap();
    m.remove("tagCreateTime");
    m.remove("tagTimeRetained");
    assert_eq!(snap, tag);
    assert_eq!(
        std::fs::read(t.join("branch/branch-b/tag/tag-daily-3")).unwrap(),
        std::fs::read(t.join("tag/tag-daily-3")).unwrap()
    );
    oracle::observe(&t).assert_whole_parquet("branch from an expired snapshot's tag");
}

/// Every command that reads or changes a version works on the branch with `--branch`, and
/// leaves main alone.
#[test]
fn version_commands_take_branch() {
    let (d, t) = branched();
    let table = t.to_str().unwrap();
    let main_meta = |t: &Path| {
        let mut m = BTreeMap::new();
        for dir in ["snapshot", "tag", "schema"] {
            m.extend(
                bytes_under(&t.join(dir))
                    .into_iter()
                    .map(|(k, v)| (format!("{dir}/{k}"), v)),
            );
        }
        m
    };
    let before = main_meta(&t);

    let s = json(&["snapshots", table, "--branch", "b"]);
    assert_eq!(
        (s["earliest"].clone(), s["latest"].clone()),
        (3.into(), 4.into())
    );
    let tags = json(&["tags", table, "--branch", "b", "--sizes"]);
    let names: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bt", "daily-3"]);
    let f = json(&["files", table, "--branch", "b"]);
    assert_eq!(
        (f["snapshot_id"].clone(), f["total_rows"].clone()),
        (4.into(), 26.into())
    );
    let f3 = json(&["files", table, "--branch", "b", "--tag", "daily-3"]);
    assert_eq!(f3["total_rows"], 24);
    let diff = json(&[
        "diff", table, "--branch", "b", "--from", "daily-3", "--to", "bt",
    ]);
    assert_eq!(
        (diff["added_rows"].clone(), diff["removed_rows"].clone()),
        (2.into(), 0.into())
    );
    let out = tagkeeper(&["read", table, "--branch", "b", "--format", "csv"]);
    let csv = stdout(&out);
    assert!(csv.contains("101,b-2"), "{csv}{}", stderr(&out));

    // Tag commands on the branch.
    json(&[
        "create-tag",
        table,
        "--branch",
        "b",
        "t3",
        "--snapshot",
        "3",
    ]);
    json(&["rename-tag", table, "--branch", "b", "t3", "t3b"]);
    json(&[
        "replace-tag",
        table,
        "--branch",
        "b",
        "t3b",
        "--snapshot",
        "4",
    ]);
    let r = json(&["delete-tag", table, "--branch", "b", "t3b"]);
    assert_eq!(r["deleted_tags"][0], "t3b");
    assert!(!t.join("branch/branch-b/tag/tag-t3b").exists());
    let c = json(&["check", table, "--branch", "b", "--deep"]);
    assert_eq!(c["error"], Value::Null, "{c}");

    // A second commit on the branch, then expire the branch down to one snapshot: snapshot 3's
    // files are kept by main (and tag daily-3), nothing main needs goes.
    let csv2 = d.path().join("in2.csv");
    std::fs::write(&csv2, "id,name,dt\n102,b-3,2024-02-02\n").unwrap();
    json(&[
        "write",
        table,
        "--branch",
        "b",
        "--input",
        csv2.to_str().unwrap(),
    ]);
    let e = json(&[
        "expire-snapshots",
        table,
        "--branch",
        "b",
        "--retain-min",
        "1",
        "--retain-max",
        "1",
        "--older-than",
        "0 ms",
    ]);
    assert_eq!(e["error"], Value::Null, "{e}");
    let s = json(&["snapshots", table, "--branch", "b"]);
    assert_eq!(
        (s["earliest"].clone(), s["latest"].clone()),
        (5.into(), 5.into())
    );
    // rollback-to on the branch, to its tag bt (snapshot 4, kept by the tag).
    json(&["rollback-to", table, "--branch", "b", "--tag", "bt"]);
    let s = json(&["snapshots", table, "--branch", "b"]);
    assert_eq!(s["latest"], 4);
    json(&["expire-tags", table, "--branch", "b"]);

    assert_eq!(main_meta(&t), before, "main's metadata changed");
    let state = oracle::observe(&t);
    state.assert_whole_parquet("after the branch commands");
    assert_eq!(oracle_version(&state, "branch-b/snapshot-4").0, 26);

    // Commands that do not take --branch say so; --plan-out refuses it.
    assert_eq!(
        fails(&["remove-orphan-files", table, "--branch", "b"]),
        (1, "invalid_argument".into())
    );
    let plan = d.path().join("p.json");
    assert_eq!(
        fails(&[
            "delete-tag",
            table,
            "--branch",
            "b",
            "bt",
            "--plan-out",
            plan.to_str().unwrap()
        ]),
        (1, "invalid_argument".into())
    );
    assert_eq!(
        fails(&["snapshots", table, "--branch", "nope"]),
        (1, "branch_not_found".into())
    );
    if let Some(py) = python() {
        assert_eq!(
            pypaimon(&py, &t, &["--branch", "b"]),
            oracle_version(&state, "branch-b/snapshot-4")
        );
    }
}

/// The files delete-branch must reclaim: every file name that the branch's versions need and
/// no other version needs (brute force, by the oracle), schemas aside (names are per branch).
fn only_needed_by(state: &oracle::State, branch: &str) -> BTreeSet<String> {
    let prefix = format!("branch-{branch}/");
    let mut mine = BTreeSet::new();
    let mut others = BTreeSet::new();
    for (name, v) in state.versions.iter().chain(state.changelogs.iter()) {
        if name.starts_with(&prefix) {
            mine.extend(v.needs.iter().cloned());
        } else {
            others.extend(v.needs.iter().cloned());
        }
    }
    mine.difference(&others)
        .filter(|n| !n.starts_with("schema-"))
        .cloned()
        .collect()
}

#[test]
fn delete_branch_reclaims_exactly_what_only_it_kept() {
    let (_d, t) = branched();
    let table = t.to_str().unwrap();
    let state = oracle::observe(&t);
    let only = only_needed_by(&state, "b");
    assert!(
        only.iter().any(|n| n.ends_with(".parquet")),
        "the branch's commit wrote a data file only it needs: {only:?}"
    );
    let before = files(&t);
    let expected: BTreeSet<String> = before
        .iter()
        .filter(|f| !f.starts_with("branch/branch-b/"))
        .filter(|f| !only.contains(f.rsplit('/').next().unwrap()))
        .cloned()
        .collect();

    // The dry run prints the plan and changes nothing.
    let dry = json(&["delete-branch", table, "b", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let planned: BTreeSet<String> = dry["branches"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(planned, only);
    assert_eq!(files(&t), before);

    let r = json(&["delete-branch", table, "b", "nope"]);
    assert_eq!(r["deleted_branches"], serde_json::json!(["b"]));
    assert_eq!(r["not_found"], serde_json::json!(["nope"]));
    assert_eq!(files(&t), expected);
    assert!(
        !t.join("branch/branch-b").exists(),
        "the branch directory is gone"
    );
    assert!(!t.join("_tagkeeper/plans").exists() || files(&t.join("_tagkeeper/plans")).is_empty());
    let after = oracle::observe(&t);
    after.assert_whole_parquet("after delete-branch");
    let mut kept = state.versions.clone();
    kept.retain(|k, _| !k.starts_with("branch-b/"));
    assert_eq!(after.contents(), {
        let s = oracle::State {
            versions: kept,
            ..after.clone()
        };
        s.contents()
    });
    // Nothing is left for orphan cleaning to find.
    let o = json(&[
        "remove-orphan-files",
        table,
        "--older-than",
        "0 ms",
        "--force",
        "--dry-run",
    ]);
    assert_eq!(o["files"], serde_json::json!([]), "{o}");
    assert_eq!(o["deleted"], serde_json::json!({}), "{o}");

    assert_eq!(
        fails(&["delete-branch", table, "b"]),
        (1, "branch_not_found".into())
    );
    assert_eq!(
        fails(&["delete-branch", table, "main"]),
        (1, "invalid_argument".into())
    );
}

/// A branch created from a tag whose snapshot main then expired, and the tag deleted: the
/// branch alone keeps snapshot 3's files; deleting it reclaims them, and only them.
#[test]
fn delete_branch_reclaims_history_only_the_branch_kept() {
    let (_d, t) = copy_table("tagged");
    let table = t.to_str().unwrap();
    json(&["create-branch", table, "b", "--tag", "first"]);
    json(&["delete-tag", table, "first"]);
    std::fs::remove_file(t.join("snapshot/snapshot-1")).unwrap();
    std::fs::write(t.join("snapshot/EARLIEST"), "2").unwrap();
    let state = oracle::observe(&t);
    let only = only_needed_by(&state, "b");
    let before = files(&t);
    let expected: BTreeSet<String> = before
        .iter()
        .filter(|f| !f.starts_with("branch/branch-b/"))
        .filter(|f| !only.contains(f.rsplit('/').next().unwrap()))
        .cloned()
        .collect();
    json(&["delete-branch", table, "b"]);
    assert_eq!(files(&t), expected);
    oracle::observe(&t).assert_whole_parquet("after delete-branch");
}

#[test]
fn rename_branch_moves_every_file_and_finishes_an_interrupted_rename() {
    let (_d, t) = branched();
    let table = t.to_str().unwrap();
    let old = bytes_under(&t.join("branch/branch-b"));
    json(&["rename-branch", table, "b", "c"]);
    assert!(!t.join("branch/branch-b").exists());
    assert_eq!(bytes_under(&t.join("branch/branch-c")), old);
    assert_eq!(
        fails(&["rename-branch", table, "b", "d"]),
        (1, "branch_not_found".into())
    );
    assert_eq!(
        fails(&["rename-branch", table, "main", "d"]),
        (1, "invalid_argument".into())
    );
    json(&["create-branch", table, "e"]);
    assert_eq!(
        fails(&["rename-branch", table, "c", "e"]),
        (1, "already_exists".into())
    );

    // Interrupted half-way through the copy: the target holds some of the files, and the
    // journal says which rename was under way.
    let dst = t.join("branch/branch-d/snapshot");
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(
        t.join("branch/branch-c/snapshot/snapshot-3"),
        dst.join("snapshot-3"),
    )
    .unwrap();
    assert_eq!(
        fails(&["rename-branch", table, "c", "d"]),
        (1, "already_exists".into())
    );
    std::fs::create_dir_all(t.join("_tagkeeper/plans")).unwrap();
    std::fs::write(
        t.join("_tagkeeper/plans/branch-step-0.json"),
        r#"{"command": "rename-branch", "branch": "c", "to": "d", "source": ""}"#,
    )
    .unwrap();
    json(&["rename-branch", table, "c", "d"]);
    assert!(
        files(&t.join("_tagkeeper/plans")).is_empty(),
        "the journal is finished"
    );
    assert!(!t.join("branch/branch-c").exists());
    assert_eq!(bytes_under(&t.join("branch/branch-d")), old);
    let state = oracle::observe(&t);
    state.assert_whole_parquet("after rename-branch");
    assert_eq!(oracle_version(&state, "branch-d/snapshot-4").0, 26);
}

#[test]
fn fast_forward_replaces_mains_versions_from_the_branch_on() {
    let (_d, t) = branched();
    let table = t.to_str().unwrap();
    let main_before = bytes_under(&t);
    let branch = bytes_under(&t.join("branch/branch-b"));
    let state = oracle::observe(&t);
    let r = json(&["fast-forward", table, "b"]);
    assert_eq!(r["from_snapshot"], 3);
    // Java: main's snapshots >= 3, tags on snapshots >= 3 and schemas >= 0 deleted (LATEST
    // too), then the branch's snapshot/, schema/ and tag/ files copied.
    let meta = |m: &BTreeMap<String, Vec<u8>>, dir: &str| -> BTreeMap<String, Vec<u8>> {
        m.iter()
            .filter(|(k, _)| k.starts_with(&format!("{dir}/")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let now = bytes_under(&t);
    let mut want_snap: BTreeMap<String, Vec<u8>> = meta(&main_before, "snapshot")
        .into_iter()
        .filter(|(k, _)| {
            k.strip_prefix("snapshot/snapshot-")
                .and_then(|i| i.parse::<i64>().ok())
                .is_some_and(|i| i < 3)
                || k == "snapshot/EARLIEST"
        })
        .collect();
    want_snap.extend(meta(&branch, "snapshot"));
    assert_eq!(meta(&now, "snapshot"), want_snap);
    assert_eq!(meta(&now, "schema"), meta(&branch, "schema"));
    let mut want_tags = meta(&main_before, "tag");
    want_tags.retain(|k, _| k == "tag/tag-first");
    want_tags.extend(meta(&branch, "tag"));
    assert_eq!(meta(&now, "tag"), want_tags);
    // The branch is still there, untouched; data files are all kept.
    assert_eq!(bytes_under(&t.join("branch/branch-b")), branch);
    let after = oracle::observe(&t);
    after.assert_whole_parquet("after fast-forward");
    assert_eq!(
        oracle_version(&after, "snapshot-4"),
        oracle_version(&state, "branch-b/snapshot-4")
    );
    let s = json(&["snapshots", table]);
    assert_eq!(s["latest"], 4);
    // Again: nothing changes (finishing an interrupted run is the same command).
    json(&["fast-forward", table, "b"]);
    assert_eq!(bytes_under(&t), now);
    if let Some(py) = python() {
        assert_eq!(
            pypaimon(&py, &t, &[]),
            oracle_version(&state, "branch-b/snapshot-4")
        );
        assert_eq!(
            pypaimon(&py, &t, &["--tag", "bt"]),
            oracle_version(&state, "branch-b/tag-bt")
        );
    }
    assert_eq!(
        fails(&["fast-forward", table, "main"]),
        (1, "invalid_argument".into())
    );
    json(&["create-branch", table, "empty"]);
    assert_eq!(
        fails(&["fast-forward", table, "empty"]),
        (1, "invalid_argument".into())
    );
}

/// delete-branch crashed after every request k of its run (nothing later reaches the store),
/// then run again: the next run finishes the journal, and the table ends exactly as after an
/// uncrashed run, with every remaining version whole.
#[tokio::test]
async fn delete_branch_crashed_at_every_request_is_finished_by_the_next_run() {
    use tagkeeper::ops::branch::delete_branches;
    let (_d, tpl) = branched();
    let names = vec!["b".to_string()];
    // The uncrashed run.
    let (_d1, clean) = crate::crash::copy(&tpl);
    let (t, h) = crate::crash::faulty(&clean);
    delete_branches(&t, &names, false).await.unwrap();
    let requests = h.requests();
    let expected = files(&clean);
    assert!(requests > 10, "{requests}");
    let mut journaled = 0;
    for k in 1..=requests {
        let (_dk, dir) = crate::crash::copy(&tpl);
        let (t, h) = crate::crash::faulty(&dir);
        h.crash_after(k);
        let _ = delete_branches(&t, &names, false).await;
        if files(&dir)
            .iter()
            .any(|f| f.starts_with("_tagkeeper/plans/delete-branch-"))
        {
            journaled += 1;
        }
        // Every version the command leaves alone is whole after the crash.
        let mid = oracle::observe(&dir);
        assert!(mid.missing.is_empty(), "k={k}: {:?}", mid.missing);
        h.reset();
        let r = delete_branches(&t, &names, false).await.unwrap();
        assert!(r.failed.is_empty(), "k={k}: {:?}", r.failed);
        assert_eq!(
            files(&dir)
                .into_iter()
                .filter(|f| !f.starts_with("branch/"))
                .collect::<BTreeSet<_>>(),
            expected
                .iter()
                .filter(|f| !f.starts_with("branch/"))
                .cloned()
                .collect(),
            "k={k}"
        );
        assert!(files(&dir.join("branch")).is_empty(), "k={k}");
        oracle::observe(&dir).assert_whole_parquet(&format!("k={k}"));
    }
    assert!(journaled > 3, "crashes with the journal left: {journaled}");
    eprintln!("delete-branch crash points: {requests} ({journaled} with the journal left)");
}

/// Java Paimon (the reference peer, when its harness is built) reads every version of a table
/// whose branch tagkeeper created, wrote to, tagged and renamed — the branch's versions
/// included — with the oracle's rows and checksums; and main after a fast-forward.
#[test]
fn java_reads_the_branches_tagkeeper_made() {
    let Some(cp) = crate::java_interop::java_classpath() else {
        return;
    };
    let (_d, t) = branched();
    let table = t.to_str().unwrap();
    json(&["create-branch", table, "s5", "--snapshot", "5"]);
    json(&["rename-branch", table, "s5", "s6"]);
    let check = |what: &str| {
        let state = oracle::observe(&t);
        let java = crate::java_interop::java_reads(&cp, &t);
        assert!(
            java.keys().any(|k| k.starts_with("branch-b/")),
            "{what}: {java:?}"
        );
        for (k, (rows, sum)) in &java {
            if k == "latest" || k.starts_with("latest") {
                continue;
            }
            if let Some(v) = state.versions.get(k) {
                assert_eq!(
                    (*rows, sum.clone()),
                    (v.rows, format!("{:016x}", v.checksum)),
                    "{what}: {k}"
                );
            }
        }
        let ours: BTreeSet<&String> = state.versions.keys().collect();
        let theirs: BTreeSet<&String> = java.keys().filter(|k| ours.contains(k)).collect();
        assert_eq!(
            ours, theirs,
            "{what}: Java reads every version the oracle sees"
        );
    };
    check("after create/write/tag/rename");
    json(&["fast-forward", table, "b"]);
    check("after fast-forward");
}

/// Destructive commands on a branch reclaim exactly what only the removed branch versions
/// needed: rollback-to --purge on branch `b` drops its snapshot 5 and the data file only it
/// added, and nothing of main's. Then maintain, auto-tag and an --as-latest rollback run on
/// the branch, leaving main alone.
#[test]
fn purge_rollback_maintain_and_auto_tag_on_a_branch() {
    let (d, t) = branched();
    let table = t.to_str().unwrap();
    let csv = d.path().join("in2.csv");
    std::fs::write(&csv, "id,name,dt\n200,c-1,2024-03-01\n").unwrap();
    json(&[
        "write",
        table,
        "--branch",
        "b",
        "--input",
        csv.to_str().unwrap(),
    ]);
    let state = oracle::observe(&t);
    let mut mine = BTreeSet::new();
    let mut others = BTreeSet::new();
    for (name, v) in &state.versions {
        if name == "branch-b/snapshot-5" {
            mine.extend(v.needs.iter().cloned());
        } else {
            others.extend(v.needs.iter().cloned());
        }
    }
    let only: BTreeSet<String> = mine.difference(&others).cloned().collect();
    assert!(only.iter().any(|n| n.ends_with(".parquet")), "{only:?}");
    let hint = |f: &String| f.ends_with("/LATEST") || f.ends_with("/EARLIEST");
    let expected: BTreeSet<String> = files(&t)
        .into_iter()
        .filter(|f| f != "branch/branch-b/snapshot/snapshot-5" && !hint(f))
        .filter(|f| !only.contains(f.rsplit('/').next().unwrap()))
        .collect();
    let main_before: BTreeSet<String> = files(&t)
        .into_iter()
        .filter(|f| !f.starts_with("branch/"))
        .collect();
    json(&[
        "rollback-to",
        table,
        "--branch",
        "b",
        "--snapshot",
        "4",
        "--purge",
    ]);
    let now: BTreeSet<String> = files(&t).into_iter().filter(|f| !hint(f)).collect();
    assert_eq!(now, expected);
    let after = oracle::observe(&t);
    after.assert_whole_parquet("after the purge on the branch");
    for (k, v) in &state.versions {
        if k != "branch-b/snapshot-5" {
            assert_eq!(
                after.versions.get(k).map(|a| (a.rows, a.checksum)),
                Some((v.rows, v.checksum)),
                "{k}"
            );
        }
    }

    // The branch's copy of daily-3 is past its retention (1 d): maintain expires it there,
    // main's stays.
    json(&["maintain", table, "--branch", "b"]);
    assert!(!t.join("branch/branch-b/tag/tag-daily-3").exists());
    assert!(t.join("tag/tag-daily-3").exists());
    json(&["auto-tag", table, "--branch", "b", "--dry-run"]);
    json(&[
        "rollback-to",
        table,
        "--branch",
        "b",
        "--snapshot",
        "3",
        "--as-latest",
    ]);
    let s = json(&["snapshots", table, "--branch", "b"]);
    assert_eq!(s["latest"], 5);
    let after = oracle::observe(&t);
    after.assert_whole_parquet("after --as-latest on the branch");
    assert_eq!(
        oracle_version(&after, "branch-b/snapshot-5"),
        oracle_version(&after, "snapshot-3")
    );
    let main_now: BTreeSet<String> = files(&t)
        .into_iter()
        .filter(|f| !f.starts_with("branch/") && !f.starts_with("manifest/"))
        .collect();
    let main_then: BTreeSet<String> = main_before
        .into_iter()
        .filter(|f| !f.starts_with("manifest/"))
        .filter(|f| !only.contains(f.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        main_now, main_then,
        "files outside the branch (manifests and what the purge reclaimed aside) changed"
    );
}

/// A create-branch interrupted after its schemas (its journal left) is finished by the same
/// command; an existing branch without that journal is `already_exists`, as in Java.
#[test]
fn create_branch_finishes_only_its_own_interrupted_run() {
    let (_d, t) = copy_table("tagged");
    let table = t.to_str().unwrap();
    let b = t.join("branch/branch-x/schema");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(t.join("schema/schema-0"), b.join("schema-0")).unwrap();
    assert_eq!(
        fails(&["create-branch", table, "x", "--tag", "daily-3"]),
        (1, "already_exists".into())
    );
    std::fs::create_dir_all(t.join("_tagkeeper/plans")).unwrap();
    std::fs::write(
        t.join("_tagkeeper/plans/branch-step-0.json"),
        r#"{"command": "create-branch", "branch": "x", "to": null, "source": "Tag(TagName(\"daily-3\"))"}"#,
    )
    .unwrap();
    let r = json(&["create-branch", table, "x", "--tag", "daily-3"]);
    assert_eq!(r["resumed"], true);
    assert_eq!(
        files(&t.join("branch/branch-x")),
        ["schema/schema-0", "snapshot/snapshot-3", "tag/tag-daily-3"]
            .into_iter()
            .map(str::to_string)
            .collect()
    );
    assert!(files(&t.join("_tagkeeper/plans")).is_empty());
}
