//! Tables with Iceberg-compatible metadata (`metadata.iceberg.storage`), on Java Paimon's
//! `iceberg_compat` table. Java keeps the Iceberg metadata in step from its commit and tag
//! callbacks; tagkeeper does not write it yet, so every command that would change a version
//! refuses such a table by name and changes nothing (no file added, removed or rewritten),
//! while the reading commands work as on any table.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::{stderr, stdout, tagkeeper};
use crate::java_interop::copy_java;

/// Every file under the table with its bytes.
fn contents(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn commands_that_change_versions_refuse_iceberg_compatible_tables_and_change_nothing() {
    let (_dir, table) = copy_java("iceberg_compat");
    let p = table.to_str().unwrap();
    let csv = table.parent().unwrap().join("rows.csv");
    std::fs::write(&csv, "id,name,dt\n1,x,2024-01-01\n").unwrap();
    let before = contents(&table);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("create-tag", vec!["create-tag", p, "t1", "--snapshot", "1"]),
        ("delete-tag", vec!["delete-tag", p, "t1"]),
        ("rename-tag", vec!["rename-tag", p, "t1", "t2"]),
        (
            "replace-tag",
            vec!["replace-tag", p, "t1", "--snapshot", "2"],
        ),
        (
            "expire-snapshots",
            vec![
                "expire-snapshots",
                p,
                "--retain-max",
                "1",
                "--retain-min",
                "1",
            ],
        ),
        ("expire-tags", vec!["expire-tags", p]),
        (
            "expire-changelogs",
            vec!["expire-changelogs", p, "--delete-all"],
        ),
        ("rollback-to", vec!["rollback-to", p, "--snapshot", "1"]),
        (
            "rollback-to",
            vec!["rollback-to", p, "--snapshot", "1", "--as-latest"],
        ),
        ("write", vec!["write", p, "--input", csv.to_str().unwrap()]),
        (
            "auto-tag",
            vec!["auto-tag", p, "--mode", "process-time", "--period", "daily"],
        ),
        ("maintain", vec!["maintain", p]),
    ];
    for (command, args) in &cases {
        for dry_run in [false, true] {
            let mut full = vec!["--json"];
            full.extend(args);
            if dry_run {
                full.push("--dry-run");
            }
            if dry_run && ["create-tag", "rename-tag", "replace-tag", "write"].contains(command) {
                continue; // no dry run: these change one file at once
            }
            let out = tagkeeper(&full);
            let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
            let expected = format!(
                "unsupported: {command}: the table keeps Iceberg-compatible metadata \
                 (metadata.iceberg.storage = table-location), which tagkeeper does not update \
                 yet; run it through Java Paimon (Flink or Spark procedures), whose callbacks \
                 keep the Iceberg metadata in step"
            );
            if *command == "auto-tag" {
                // auto-tag reports each table's failure in its report and exits 2.
                assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
                assert_eq!(report["tables"][0]["status"], "failed", "{report}");
                assert_eq!(report["tables"][0]["message"], expected, "{report}");
            } else {
                assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
                assert_eq!(report["error"]["kind"], "unsupported", "{args:?}: {report}");
                assert_eq!(report["error"]["message"], expected, "{args:?}");
            }
            assert!(contents(&table) == before, "{args:?} changed the table");
        }
    }
    // Reading works as on any table.
    for args in [
        vec!["snapshots", p],
        vec!["files", p, "--snapshot", "2"],
        vec!["read", p, "--snapshot", "2", "--format", "csv"],
        vec!["check", p],
    ] {
        let out = tagkeeper(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert!(contents(&table) == before);
}
