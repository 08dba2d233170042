//! The failure policy (README "Failure policy"): with `--json` every failure prints exactly one
//! JSON document with an `error` member whose kind maps onto the documented exit code; a
//! command that could not carry out every planned deletion prints one report listing them
//! (path, kind, message) and exits 2 with kind `incomplete`; a storage failure that stops a
//! command keeps kind `storage`. And wrong `EARLIEST`/`LATEST` hints are rewritten by the
//! commands that change the snapshot set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::InjectedError;
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::ops::rollback::{RollbackMode, RollbackTarget};
use tagkeeper::write::{append, CommitOptions};

use crate::common::{copy_table, repo, stderr, stdout, tagkeeper};
use crate::crash::{copy, faulty, template};
use crate::fixtures::walk;

/// The exit code README's table documents for each kind; a kind missing here is undocumented.
fn documented_exit_code(kind: &str) -> i32 {
    match kind {
        "not_a_table"
        | "invalid_location"
        | "snapshot_not_found"
        | "tag_not_found"
        | "no_snapshot_at_time"
        | "no_snapshots"
        | "invalid_tag_name"
        | "invalid_argument"
        | "already_exists"
        | "unsupported"
        | "conflict"
        | "tag_exists"
        | "problems_found" => 1,
        "corrupt" | "missing_file" | "data_file" | "storage" | "commit_unknown" | "aborted"
        | "incomplete" | "internal" => 2,
        other => panic!("kind {other:?} is not documented"),
    }
}

/// Run the CLI: stdout must be exactly one JSON value with `error.kind`, the process exit code
/// and `error.exit_code` the documented code of that kind, and stderr must say `error:`.
fn one_failure_document(args: &[&str]) -> Value {
    let out = tagkeeper(args);
    let docs: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}):\n{}", stdout(&out)));
    assert_eq!(
        docs.len(),
        1,
        "{args:?}: {} documents on stdout:\n{}\nstderr: {}",
        docs.len(),
        stdout(&out),
        stderr(&out)
    );
    let doc = docs.into_iter().next().unwrap();
    let kind = doc["error"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{args:?}: no error.kind in {doc:#}"));
    let code = documented_exit_code(kind);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?} ({kind}): {}",
        stderr(&out)
    );
    assert_eq!(doc["error"]["exit_code"], code, "{args:?}: {doc:#}");
    assert!(doc["error"]["message"].is_string(), "{args:?}: {doc:#}");
    assert!(
        stderr(&out).contains("error: "),
        "{args:?}: {}",
        stderr(&out)
    );
    doc
}

fn assert_kind(args: &[&str], kind: &str) -> Value {
    let doc = one_failure_document(args);
    assert_eq!(doc["error"]["kind"], kind, "{args:?}: {doc:#}");
    doc
}

/// Every subcommand with the arguments that make it valid (TABLE stands for the table).
const SUBCOMMANDS: &[&[&str]] = &[
    &["snapshots", "TABLE"],
    &["tags", "TABLE"],
    &["files", "TABLE"],
    &["schema", "TABLE"],
    &["read", "TABLE"],
    &["diff", "TABLE", "--from", "first", "--to", "latest"],
    &["create-table", "TABLE", "--column", "id:BIGINT"],
    &["write", "TABLE", "--input", "rows.csv"],
    &["create-tag", "TABLE", "x"],
    &["delete-tag", "TABLE", "first"],
    &["rename-tag", "TABLE", "first", "x"],
    &["replace-tag", "TABLE", "first"],
    &["expire-snapshots", "TABLE"],
    &["expire-tags", "TABLE"],
    &["auto-tag", "TABLE"],
    &["maintain", "TABLE"],
    &["rollback-to", "TABLE", "--tag", "first"],
    &["remove-orphan-files", "TABLE"],
    &["check", "TABLE"],
    &["demo", "TABLE"],
];

fn with_table<'a>(args: &[&'a str], table: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = vec![args[0], "--json"];
    v.extend(extra);
    v.extend(
        args[1..]
            .iter()
            .map(|a| if *a == "TABLE" { table } else { a }),
    );
    v
}

#[test]
fn every_subcommand_prints_one_json_document_for_a_usage_error() {
    let (_d, t) = copy_table("tagged");
    let t = t.to_str().unwrap();
    let secret = "sEcReT-in-a-store-option";
    let bad_option = format!("aws_secret_access_key:{secret}");
    for sub in SUBCOMMANDS {
        // An unknown flag.
        let doc = assert_kind(&with_table(sub, t, &["--no-such-flag"]), "invalid_argument");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--no-such-flag"),
            "{sub:?}: {doc:#}"
        );
        // Required arguments missing (demo has none; auto-tag checks its own).
        if sub[0] != "demo" {
            assert_kind(&[sub[0], "--json"], "invalid_argument");
        }
        // A store option without '=': refused, and the value (maybe a secret) not repeated.
        let args = with_table(sub, t, &["--store-option", &bad_option]);
        let out = tagkeeper(&args);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(secret), "{sub:?}: the value leaked:\n{all}");
        assert_kind(&args, "invalid_argument");
    }
    // --help and --version are not failures and print no JSON.
    for args in [
        &["--json", "--help"][..],
        &["--json", "--version"],
        &["tags", "--json", "--help"],
    ] {
        let out = tagkeeper(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            serde_json::from_slice::<Value>(&out.stdout).is_err(),
            "{args:?}"
        );
    }
    // After `--`, "--json" is a value, not the flag: no JSON for this usage error.
    let out = tagkeeper(&["tags", "--", "--json", "extra"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn every_subcommand_prints_one_json_document_for_a_missing_table() {
    let missing = "/nonexistent/tagkeeper/table";
    for sub in SUBCOMMANDS {
        match sub[0] {
            // Would create the directory; `demo` builds one there.
            "create-table" | "demo" => continue,
            // A multi-table command: the table's failure is in its report.
            "auto-tag" => {
                let doc = assert_kind(&with_table(sub, missing, &[]), "incomplete");
                assert_eq!(doc["failed"], 1, "{doc:#}");
                assert_eq!(doc["tables"][0]["status"], "failed", "{doc:#}");
            }
            _ => {
                assert_kind(&with_table(sub, missing, &[]), "invalid_location");
            }
        }
    }
    // A directory that holds no table.
    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().to_str().unwrap();
    for sub in [
        "snapshots",
        "tags",
        "schema",
        "maintain",
        "check",
        "expire-snapshots",
    ] {
        assert_kind(&[sub, "--json", e], "not_a_table");
    }
    // demo where no directory can be made (under a regular file).
    let file = empty.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let under = file.join("demo");
    assert_kind(
        &["demo", "--json", under.to_str().unwrap()],
        "invalid_location",
    );
}

#[test]
fn every_subcommand_prints_one_json_document_for_a_missing_version() {
    let (_d, t) = copy_table("tagged");
    let before = walk(&t);
    let t = t.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["files", "--json", t, "--tag", "nope"], "tag_not_found"),
        (&["read", "--json", t, "--tag", "nope"], "tag_not_found"),
        (
            &["read", "--json", t, "--snapshot", "99"],
            "snapshot_not_found",
        ),
        (
            &["diff", "--json", t, "--from", "nope", "--to", "latest"],
            "tag_not_found",
        ),
        (
            &["create-tag", "--json", t, "x", "--snapshot", "99"],
            "snapshot_not_found",
        ),
        (&["create-tag", "--json", t, "first"], "tag_exists"),
        // The two-document defect: the report and then the error.
        (&["delete-tag", "--json", t, "nope"], "tag_not_found"),
        (
            &["delete-tag", "--json", "--dry-run", t, "nope,nope2"],
            "tag_not_found",
        ),
        (&["rename-tag", "--json", t, "nope", "x"], "tag_not_found"),
        (&["replace-tag", "--json", t, "nope"], "tag_not_found"),
        (
            &["rollback-to", "--json", t, "--tag", "nope"],
            "tag_not_found",
        ),
        (
            &["rollback-to", "--json", t, "--snapshot", "99"],
            "snapshot_not_found",
        ),
        (
            &["expire-snapshots", "--json", t, "--retain-min", "0"],
            "invalid_argument",
        ),
        (
            &["expire-tags", "--json", t, "--older-than", "someday"],
            "invalid_argument",
        ),
        (
            &["remove-orphan-files", "--json", t, "--older-than", "1s"],
            "invalid_argument",
        ),
        (
            &["write", "--json", t, "--input", "/nonexistent/rows.csv"],
            "invalid_argument",
        ),
        (
            &["create-table", "--json", t, "--column", "id:BIGINT"],
            "already_exists",
        ),
    ];
    for (args, kind) in cases {
        let doc = assert_kind(args, kind);
        if args[0] == "delete-tag" {
            // The one document is the report, carrying the error.
            assert_eq!(doc["deleted_tags"], serde_json::json!([]), "{doc:#}");
            assert!(doc["not_found"].as_array().is_some_and(|n| !n.is_empty()));
        }
    }
    assert_eq!(
        walk(Path::new(t)),
        before,
        "a failing command changed the table"
    );
}

/// A fixture copy with `bad` (from testdata/bad) in place of `file`.
fn broken(file: &str, bad: &str) -> (tempfile::TempDir, PathBuf) {
    let (d, t) = copy_table("tagged");
    std::fs::copy(repo().join("testdata/bad").join(bad), t.join(file)).unwrap();
    (d, t)
}

#[test]
fn every_subcommand_prints_one_json_document_for_corrupt_metadata() {
    // The latest snapshot is truncated.
    let (_d, s) = broken("snapshot/snapshot-6", "snapshot-truncated.json");
    let s = s.to_str().unwrap();
    let csv = tempfile::tempdir().unwrap();
    let rows = csv.path().join("rows.csv");
    std::fs::write(&rows, "id,name,dt\n1,a,2024-01-01\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["snapshots", "--json", s], "corrupt"),
        (&["files", "--json", s], "corrupt"),
        (&["read", "--json", s], "corrupt"),
        (
            &["diff", "--json", s, "--from", "first", "--to", "6"],
            "corrupt",
        ),
        (&["create-tag", "--json", s, "x"], "corrupt"),
        (
            &["write", "--json", s, "--input", rows.to_str().unwrap()],
            "corrupt",
        ),
        (
            &[
                "expire-snapshots",
                "--json",
                s,
                "--retain-min",
                "1",
                "--older-than",
                "2100-01-01T00:00:00Z",
            ],
            "corrupt",
        ),
        (&["rollback-to", "--json", s, "--tag", "first"], "corrupt"),
        (&["replace-tag", "--json", s, "first"], "corrupt"),
        (&["remove-orphan-files", "--json", s], "aborted"),
        (&["check", "--json", s], "problems_found"),
    ];
    for (args, kind) in cases {
        let doc = assert_kind(args, kind);
        if args[0] == "check" {
            // The report is the document: problems listed beside the error.
            assert!(
                doc["problems"].as_array().is_some_and(|p| !p.is_empty()),
                "{doc:#}"
            );
            assert_eq!(doc["whole"], false);
        }
    }
    // A truncated tag.
    let (_d2, g) = broken("tag/tag-daily-3", "tag-truncated.json");
    let g = g.to_str().unwrap();
    for args in [
        &["tags", "--json", g][..],
        &["delete-tag", "--json", g, "daily-3"],
        &["rename-tag", "--json", g, "daily-3", "x"],
        &["expire-tags", "--json", g],
    ] {
        assert_kind(args, "corrupt");
    }
    // A truncated schema.
    let (_d3, c) = broken("schema/schema-0", "schema-truncated.json");
    let c = c.to_str().unwrap();
    for args in [&["schema", "--json", c][..], &["maintain", "--json", c]] {
        assert_kind(args, "corrupt");
    }
    let doc = assert_kind(&["auto-tag", "--json", c], "incomplete");
    assert_eq!(doc["tables"][0]["status"], "failed", "{doc:#}");
}

// ----- incomplete runs -----

/// Put a non-empty directory where `rel` is: deleting it fails on every platform, for root too.
fn undeletable(dir: &Path, rel: &str) {
    let p = dir.join(rel);
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir_all(p.join("blocker")).unwrap();
    std::fs::write(p.join("blocker").join("f"), b"x").unwrap();
}

fn files_of(doc: &Value, field: &str) -> Vec<String> {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field}: {doc:#}"))
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// A planned data file: the planning reads manifests, never data files, so only the deletion
/// meets the blocker.
fn data_file_of(doc: &Value, field: &str) -> String {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field}: {doc:#}"))
        .iter()
        .find(|f| f["category"] == "data")
        .unwrap_or_else(|| panic!("no data file planned: {doc:#}"))["path"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The one document of an incomplete run: exit 2, kind `incomplete`, and exactly `path`
/// failed, with the storage error kept.
fn assert_incomplete(args: &[&str], path: &str) -> Value {
    let doc = assert_kind(args, "incomplete");
    let failed = doc["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(failed.len(), 1, "{args:?}: {doc:#}");
    assert_eq!(failed[0]["path"], path, "{doc:#}");
    assert_eq!(failed[0]["kind"], "storage", "{doc:#}");
    assert!(
        failed[0]["message"].as_str().unwrap().contains(path),
        "{doc:#}"
    );
    assert!(
        doc["error"]["message"].as_str().unwrap().contains(path),
        "the error names the first failure: {doc:#}"
    );
    doc
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

#[tokio::test]
async fn expire_snapshots_with_a_failed_deletion_is_incomplete_and_a_rerun_finishes() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let p = dir.to_str().unwrap();
    let args = [
        "expire-snapshots",
        "--json",
        p,
        "--retain-min",
        "1",
        "--older-than",
        "2100-01-01T00:00:00Z",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let plan: Value = serde_json::from_str(&stdout(&tagkeeper(&dry))).unwrap();
    let planned = files_of(&plan, "files");
    assert!(planned.len() > 2, "{plan:#}");
    let victim = data_file_of(&plan, "files");
    undeletable(&dir, &victim);
    let doc = assert_incomplete(&args, &victim);
    assert_eq!(doc["expired_snapshots"], plan["expired_snapshots"]);
    // Everything else planned is gone; the victim is still there.
    let left = set(&walk(&dir));
    for f in &planned {
        assert_eq!(
            left.iter()
                .any(|l| l == f || l.starts_with(&format!("{f}/"))),
            f == &victim,
            "{f}"
        );
    }
    // Human output: one report naming the failure, exit 2.
    let out = tagkeeper(&[
        "expire-snapshots",
        p,
        "--retain-min",
        "1",
        "--older-than",
        "2100-01-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("FAILED to delete {victim} (storage)")),
        "{}",
        stdout(&out)
    );
    // Once the file can be deleted, a re-run finishes the plan it left.
    std::fs::remove_dir_all(dir.join(&victim)).unwrap();
    std::fs::write(dir.join(&victim), b"x").unwrap();
    let out = tagkeeper(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!dir.join(&victim).exists());
    crate::oracle::observe(&dir).assert_whole_parquet("after the re-run");
}

#[tokio::test]
async fn delete_tag_with_a_failed_deletion_reports_it_and_goes_on() {
    // t5 keeps only metadata of its own, which the planning reads: the deletion is failed at
    // the store (the request that deletes the first planned file of a healthy run).
    let (_t, tpl) = template().await;
    let t5 = [TagName::new("t5").unwrap()];
    let (_a, healthy) = copy(&tpl);
    let (t, h) = faulty(&healthy);
    let plan = tagkeeper::ops::delete_tag::plan(&t, &t5).await.unwrap();
    let planned: Vec<String> = plan.tags[0].files.iter().map(|f| f.path.clone()).collect();
    assert!(planned.len() > 1, "{plan:?}");
    tagkeeper::ops::delete_tag::execute(&t, plan).await.unwrap();
    let victim = planned[0].clone();
    let k = delete_request(&h, &victim);

    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.fail_request(k, InjectedError::PermissionDenied);
    let plan = tagkeeper::ops::delete_tag::plan(&t, &t5).await.unwrap();
    let want = tagkeeper::ops::delete_tag::summarize(&plan, false);
    // Before: a list of strings, and the CLI said `invalid_argument` (exit 1).
    let r = tagkeeper::ops::delete_tag::execute(&t, plan).await.unwrap();
    assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
    assert_eq!(
        (r.failed[0].path.as_str(), r.failed[0].kind.as_str()),
        (victim.as_str(), "storage")
    );
    assert_eq!(r.deleted_tags, ["t5"]);
    // The other planned files are gone; the tallies count what was deleted.
    let left = set(&walk(&dir));
    for f in &planned {
        assert_eq!(left.contains(f), f == &victim, "{f}");
    }
    let files = |r: &tagkeeper::ops::delete_tag::DeleteTagReport| -> u64 {
        r.deleted.values().map(|t| t.files).sum()
    };
    assert_eq!(files(&r) + 1, files(&want));
    let e = tagkeeper::error::incomplete("delete-tag", &r.failed).unwrap();
    assert_eq!((e.kind(), e.exit_code()), ("incomplete", 2));
}

#[tokio::test]
async fn rollback_purge_with_a_failed_deletion_is_incomplete() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let p = dir.to_str().unwrap();
    let args = ["rollback-to", "--json", p, "--tag", "t8", "--purge"];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let plan: Value = serde_json::from_str(&stdout(&tagkeeper(&dry))).unwrap();
    let victim = data_file_of(&plan, "unreferenced");
    undeletable(&dir, &victim);
    // Exit 0 before: the failure was only a note.
    let doc = assert_incomplete(&args, &victim);
    assert_eq!(doc["snapshots_removed"], plan["snapshots_removed"]);
    assert!(!dir.join("snapshot/snapshot-10").exists());
}

#[tokio::test]
async fn remove_orphan_files_reports_typed_failures() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    let now = tagkeeper::clock::Clock::now_millis(&tagkeeper::clock::SystemClock) + 2 * 86_400_000;
    let clock = ManualClock::new(now);
    let opts = tagkeeper::ops::orphans::OrphanOptions::default();
    let (t, h) = faulty(&dir);
    let plan = tagkeeper::ops::orphans::remove_orphan_files(&t, &opts, true, &clock)
        .await
        .unwrap();
    let victim = plan.files[0].path.clone();
    h.fail_paths_containing(&victim, InjectedError::PermissionDenied);
    let r = tagkeeper::ops::orphans::remove_orphan_files(&t, &opts, false, &clock)
        .await
        .unwrap();
    assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
    assert_eq!(r.failed[0].path, victim);
    assert_eq!(r.failed[0].kind, "storage");
    assert!(r.failed[0].message.contains(&victim), "{:?}", r.failed);
    let e = tagkeeper::error::incomplete("remove-orphan-files", &r.failed).unwrap();
    assert_eq!((e.kind(), e.exit_code()), ("incomplete", 2));
    let deleted: u64 = r.deleted.values().map(|t| t.files).sum();
    assert_eq!(deleted as usize + 1, plan.files.len());
}

/// The number of the request that deletes `path` in a healthy run (the runs are
/// deterministic in their request count: parallel reads all finish before deletions start).
fn delete_request(h: &tagkeeper::io::fault::FaultHandle, path: &str) -> u64 {
    h.log()
        .iter()
        .find(|(_, kind, p)| *kind == "delete" && p.ends_with(path))
        .unwrap_or_else(|| panic!("no delete of {path}: {:?}", h.log()))
        .0
}

#[tokio::test]
async fn rename_tag_whose_old_name_cannot_be_deleted_is_incomplete() {
    let (_t, tpl) = template().await;
    let from = TagName::new("t3").unwrap();
    let to = TagName::new("renamed").unwrap();
    let (_a, healthy) = copy(&tpl);
    let (t, h) = faulty(&healthy);
    tagkeeper::ops::tag::rename_tag(&t, &from, &to)
        .await
        .unwrap();
    let k = delete_request(&h, "tag/tag-t3");

    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.fail_request(k, InjectedError::PermissionDenied);
    // Before: an `invalid_argument` error that lost the storage error and the report.
    let r = tagkeeper::ops::tag::rename_tag(&t, &from, &to)
        .await
        .unwrap();
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert_eq!(r.failed[0].path, "tag/tag-t3");
    assert_eq!(r.failed[0].kind, "storage");
    assert!(dir.join("tag/tag-t3").is_file() && dir.join("tag/tag-renamed").is_file());
    // A re-run finishes it.
    let (t, _) = faulty(&dir);
    let again = tagkeeper::ops::tag::rename_tag(&t, &from, &to)
        .await
        .unwrap();
    assert!(again.failed.is_empty() && again.resumed, "{again:?}");
    assert!(!dir.join("tag/tag-t3").exists());
}

#[tokio::test]
async fn a_failed_version_deletion_stops_the_command_with_kind_storage() {
    let (_t, tpl) = template().await;
    let opts = expire_opts(1);
    let now = 4_000_000_000_000;
    let (_a, healthy) = copy(&tpl);
    let (t, h) = faulty(&healthy);
    expire(&t, &opts, now).await.unwrap();
    let k = delete_request(&h, "snapshot/snapshot-7");
    let (_d, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.fail_request(k, InjectedError::PermissionDenied);
    // Before: kind `invalid_argument` (exit 1), the store's error lost in a string.
    let e = expire(&t, &opts, now).await.unwrap_err();
    assert_eq!((e.kind(), e.exit_code()), ("storage", 2), "{e}");
    assert!(e.to_string().contains("snapshot/snapshot-7"), "{e}");

    // rollback-to stops the same way at a version file it cannot delete.
    let rollback = |t: tagkeeper::table::Table| async move {
        tagkeeper::ops::rollback::execute(
            &t,
            &RollbackTarget::Snapshot(SnapshotId(8)),
            RollbackMode::Destructive { purge: false },
            &ManualClock::new(1_800_000_000_000),
        )
        .await
    };
    let (_b, healthy) = copy(&tpl);
    let (t, h) = faulty(&healthy);
    rollback(t).await.unwrap();
    let k = delete_request(&h, "snapshot/snapshot-10");
    let (_e, dir) = copy(&tpl);
    let (t, h) = faulty(&dir);
    h.fail_request(k, InjectedError::PermissionDenied);
    let e = rollback(t).await.unwrap_err();
    assert_eq!((e.kind(), e.exit_code()), ("storage", 2), "{e}");
    assert!(e.to_string().contains("snapshot/snapshot-10"), "{e}");
}

// ----- hints -----

fn hint(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("snapshot").join(name)).unwrap()
}

fn set_hint(dir: &Path, name: &str, value: &str) {
    std::fs::write(dir.join("snapshot").join(name), value).unwrap();
}

fn expire_opts(retain_min: u64) -> ExpireOptions {
    ExpireOptions {
        retain_min,
        retain_max: u64::MAX,
        time_retained_millis: 0,
        expire_limit: 1000,
        ignore_commit_snapshot: false,
    }
}

#[tokio::test]
async fn expire_snapshots_rewrites_an_earliest_hint_that_is_too_high() {
    // The template retains snapshots 7..=10.
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    set_hint(&dir, "EARLIEST", "9");
    let t = crate::common::open(&dir).await;
    let r = expire(&t, &expire_opts(3), 4_000_000_000_000)
        .await
        .unwrap();
    assert_eq!(r.plan.expired_snapshots, [7]);
    assert_eq!(r.plan.new_earliest, Some(8));
    // It used to stay at 9: "never backwards" took the wrong hint for a later run's.
    assert_eq!(hint(&dir, "EARLIEST"), "8");
    assert_eq!(
        r.hints_rewritten,
        ["snapshot/EARLIEST said 9, the listing says 8: rewritten"]
    );

    // Nothing to expire: the wrong hint is rewritten all the same.
    let (_d2, dir2) = copy(&tpl);
    set_hint(&dir2, "EARLIEST", "10");
    let t2 = crate::common::open(&dir2).await;
    let r = expire(&t2, &expire_opts(10), 4_000_000_000_000)
        .await
        .unwrap();
    assert!(r.plan.expired_snapshots.is_empty());
    assert_eq!(hint(&dir2, "EARLIEST"), "7");

    // Through the CLI, with a LATEST naming a missing snapshot and an unreadable EARLIEST.
    let (_d3, dir3) = copy(&tpl);
    set_hint(&dir3, "EARLIEST", "garbage");
    set_hint(&dir3, "LATEST", "42");
    let out = tagkeeper(&[
        "expire-snapshots",
        "--json",
        dir3.to_str().unwrap(),
        "--retain-min",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        doc["hints_rewritten"].as_array().map(Vec::len),
        Some(2),
        "{doc:#}"
    );
    assert_eq!(
        (hint(&dir3, "EARLIEST"), hint(&dir3, "LATEST")),
        ("7".into(), "10".into())
    );

    // A dry run changes nothing, hints included.
    let (_d4, dir4) = copy(&tpl);
    set_hint(&dir4, "EARLIEST", "9");
    let out = tagkeeper(&[
        "expire-snapshots",
        "--json",
        "--dry-run",
        dir4.to_str().unwrap(),
        "--retain-min",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(hint(&dir4, "EARLIEST"), "9");
}

#[tokio::test]
async fn rollback_rewrites_an_earliest_hint_that_is_too_high() {
    let (_t, tpl) = template().await;
    let (_d, dir) = copy(&tpl);
    set_hint(&dir, "EARLIEST", "9");
    let t = crate::common::open(&dir).await;
    let p = tagkeeper::ops::rollback::execute(
        &t,
        &RollbackTarget::Snapshot(SnapshotId(8)),
        RollbackMode::Destructive { purge: false },
        &ManualClock::new(1_800_000_000_000),
    )
    .await
    .unwrap();
    assert_eq!(p.plan.snapshots_removed, [10, 9]);
    // EARLIEST named snapshot 9, which the rollback deleted; it used to stay.
    assert_eq!(hint(&dir, "EARLIEST"), "7");
    assert_eq!(hint(&dir, "LATEST"), "8");
    assert!(
        p.plan
            .notes
            .contains(&"snapshot/EARLIEST said 9, the listing says 7: rewritten".to_string()),
        "{:?}",
        p.plan.notes
    );
}

#[tokio::test]
async fn write_rewrites_a_latest_hint_that_is_too_low_or_missing() {
    for wrong in ["7", "42", "garbage"] {
        let (_t, tpl) = template().await;
        let (_d, dir) = copy(&tpl);
        set_hint(&dir, "LATEST", wrong);
        let t = crate::common::open(&dir).await;
        let out = append(
            &t,
            vec![crate::write::batch(&[(500, Some("x"), "2024-01-01")])],
            None,
            Arc::new(ManualClock::new(1_800_000_000_000)),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(out.snapshot_id, 11, "LATEST {wrong}");
        assert_eq!(hint(&dir, "LATEST"), "11", "LATEST {wrong}");
    }
}
