//! Tables with Iceberg-compatible metadata (`metadata.iceberg.storage`), on Java Paimon's
//! `iceberg_compat` table. Java keeps the Iceberg metadata in step from its commit and tag
//! callbacks. tagkeeper mirrors tag changes as Iceberg refs as Java's tag callback does, checked
//! by pyiceberg reading the Iceberg view and by Java changing tags on top; expiration leaves the
//! Iceberg metadata alone as Java's does; a destructive rollback-to moves the Iceberg view to
//! the target; `rollback-to --as-latest` and write, which would need new Iceberg manifests,
//! refuse such a table by name and change nothing (no file added, removed or rewritten), while
//! the reading commands work as on any table.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::{repo, stderr, stdout, tagkeeper};
use crate::interop::python;
use crate::java_interop::{copy_java, java, java_classpath, java_reads, tk};

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
fn as_latest_rollback_and_write_refuse_iceberg_compatible_tables_and_change_nothing() {
    let (_dir, table) = copy_java("iceberg_compat");
    let p = table.to_str().unwrap();
    let csv = table.parent().unwrap().join("rows.csv");
    std::fs::write(&csv, "id,name,dt\n1,x,2024-01-01\n").unwrap();
    let before = contents(&table);
    let write_refused = "unsupported: write: the table keeps Iceberg-compatible metadata \
        (metadata.iceberg.storage = table-location), which tagkeeper does not update yet; run \
        it through Java Paimon (Flink or Spark procedures), whose callbacks keep the Iceberg \
        metadata in step";
    let as_latest_refused = "unsupported: rollback-to --as-latest: the table keeps \
        Iceberg-compatible metadata, and the new snapshot would need new Iceberg manifests, \
        which tagkeeper does not write; a plain (destructive) rollback-to moves the Iceberg view \
        with the table";
    let cases: Vec<(Vec<&str>, bool, &str)> = vec![
        (
            vec!["rollback-to", p, "--snapshot", "1", "--as-latest"],
            false,
            as_latest_refused,
        ),
        (
            vec!["rollback-to", p, "--snapshot", "1", "--as-latest"],
            true,
            as_latest_refused,
        ),
        (
            vec!["write", p, "--input", csv.to_str().unwrap()],
            false,
            write_refused,
        ),
    ];
    for (args, dry_run, expected) in &cases {
        let mut full = vec!["--json"];
        full.extend(args);
        if *dry_run {
            full.push("--dry-run");
        }
        let out = tagkeeper(&full);
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(report["error"]["kind"], "unsupported", "{args:?}: {report}");
        assert_eq!(report["error"]["message"], *expected, "{args:?}");
        assert!(contents(&table) == before, "{args:?} changed the table");
    }

    // A target the Iceberg metadata no longer has (Iceberg dropped it as Paimon expired it):
    // the view cannot move there, so the rollback is refused before anything changes.
    let meta = table.join("metadata/v2.metadata.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    m["snapshots"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["snapshot-id"] != 1);
    std::fs::write(&meta, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let before = contents(&table);
    for dry_run in [false, true] {
        let mut args = vec!["--json", "rollback-to", p, "--snapshot", "1"];
        if dry_run {
            args.push("--dry-run");
        }
        let out = tagkeeper(&args);
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            report["error"]["message"],
            "unsupported: rollback-to: snapshot 1 is not in the Iceberg metadata \
             metadata/v2.metadata.json (Iceberg drops the snapshots Paimon expired), so the \
             Iceberg view cannot be moved to it without new Iceberg manifests, which tagkeeper \
             does not write; nothing was changed",
            "{report}"
        );
        assert!(contents(&table) == before);
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

/// The Iceberg files a metadata file needs: itself, its manifest lists and the manifests they
/// name (keys relative to the table).
fn iceberg_files_of(table: &Path, version: i64) -> std::collections::BTreeSet<String> {
    use tagkeeper::format::iceberg;
    let key = format!("metadata/v{version}.metadata.json");
    let bytes = std::fs::read(table.join(&key)).unwrap();
    let location = iceberg::location(&bytes, &key).unwrap();
    let mut out = std::collections::BTreeSet::from([key.clone()]);
    for (_, list) in iceberg::snapshots(&bytes, &key).unwrap() {
        let list_key = iceberg::relative_key(&location, &list).unwrap();
        let list_bytes = std::fs::read(table.join(&list_key)).unwrap();
        for m in iceberg::manifest_paths(&list_bytes, &list_key).unwrap() {
            out.insert(iceberg::relative_key(&location, &m).unwrap());
        }
        out.insert(list_key);
    }
    out
}

/// Files under `metadata/`, as keys relative to the table.
fn metadata_files(table: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(table.join("metadata"))
        .unwrap()
        .map(|e| format!("metadata/{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

/// A destructive rollback-to moves the Iceberg view with the table, on a table Java wrote
/// live: the dry run names the metadata it rewrites and the Iceberg files it deletes and
/// changes nothing; the run leaves pyiceberg reading exactly the target's rows, the ref of the
/// kept tag and no ref of the removed one, and `metadata/` holding exactly what the new
/// metadata needs. Java then commits on top (its 1.4 callback skips a commit whose
/// `v<N>.metadata.json` already exists, so a stale newer file would freeze the view), and
/// pyiceberg reads the new row; Java reads every version.
#[test]
fn rollback_moves_the_iceberg_view_and_java_commits_on_top() {
    let Some(py) = python() else { return };
    let Some(cp) = java_classpath() else { return };
    let tmp = tempfile::tempdir().unwrap();
    java(
        &cp,
        &["generate", tmp.path().to_str().unwrap(), "iceberg_compat"],
    );
    let table = tmp.path().join("default.db/iceberg_compat");
    let p = table.to_str().unwrap();
    let row = |id: i64| format!(r#"[{{"id": {id}, "name": "x", "dt": "2024-01-05"}}]"#);
    for id in [100, 101, 102] {
        java(&cp, &["maintain", p, "append", &row(id)]);
    }
    tk(&["create-tag", p, "keep", "--snapshot", "3"]);
    tk(&["create-tag", p, "late", "--snapshot", "5"]);
    let read = || -> Value {
        let out = std::process::Command::new(&py)
            .arg(repo().join("scripts/peer/pyiceberg_peer.py"))
            .args(["read", p])
            .output()
            .unwrap();
        assert!(out.status.success(), "pyiceberg: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = read();
    assert_eq!(before["current"]["snapshot_id"], 5, "{before}");
    let at_3: Vec<i64> = (0..9).chain([100]).collect();
    assert_eq!(before["refs"]["keep"]["ids"], serde_json::json!(at_3));
    assert_eq!(before["refs"]["late"]["snapshot_id"], 5);

    // What only snapshots 4 and 5 of the Iceberg view use.
    let v5 = iceberg_files_of(&table, 5);
    let all_before = metadata_files(&table);
    let dry = tk(&["rollback-to", p, "--snapshot", "3", "--dry-run"]);
    assert_eq!(
        metadata_files(&table),
        all_before,
        "the dry run changed metadata/"
    );
    let view = &dry["iceberg"];
    assert_eq!(view["metadata_from"], "metadata/v5.metadata.json", "{dry}");
    assert_eq!(view["metadata_to"], "metadata/v3.metadata.json", "{dry}");
    let older: Vec<String> = all_before
        .iter()
        .filter(|k| {
            k.strip_prefix("metadata/v")
                .and_then(|k| k.strip_suffix(".metadata.json"))
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > 3)
        })
        .cloned()
        .collect();
    assert_eq!(view["metadata_removed"], serde_json::json!(older), "{dry}");

    let r = tk(&["rollback-to", p, "--snapshot", "3"]);
    assert_eq!(r["failed"], serde_json::json!([]), "{r}");
    let after = read();
    assert_eq!(after["current"]["snapshot_id"], 3, "{after}");
    assert_eq!(after["current"]["ids"], serde_json::json!(at_3), "{after}");
    assert_eq!(
        after["refs"],
        serde_json::json!({"keep": {"snapshot_id": 3, "ids": at_3}}),
        "{after}"
    );
    assert_eq!(
        std::fs::read_to_string(table.join("metadata/version-hint.text")).unwrap(),
        "3"
    );
    // metadata/ holds exactly what v3 needs (and the hint): every list and manifest only the
    // removed Iceberg snapshots used is gone, and so is every newer metadata file.
    let v3 = iceberg_files_of(&table, 3);
    let mut want = v3.clone();
    want.insert("metadata/version-hint.text".into());
    assert_eq!(metadata_files(&table), want);
    let deleted: Vec<String> = v5.difference(&v3).cloned().collect();
    let mut planned: Vec<String> = [
        "metadata_removed",
        "manifest_lists_removed",
        "manifests_removed",
    ]
    .iter()
    .flat_map(|f| {
        view[f]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
    })
    .collect();
    planned.sort();
    assert_eq!(planned, deleted, "the plan named exactly what went");
    assert!(!deleted.is_empty());

    // Java commits on top, twice (the second reuses id 5, whose old metadata file is gone), and
    // the Iceberg view follows.
    let mut ids = at_3.clone();
    for (id, snapshot) in [(103, 4), (104, 5)] {
        java(&cp, &["maintain", p, "append", &row(id)]);
        ids.push(id);
        let next = read();
        assert_eq!(next["current"]["snapshot_id"], snapshot, "{next}");
        assert_eq!(next["current"]["ids"], serde_json::json!(ids), "{next}");
        assert_eq!(
            next["refs"]["keep"]["ids"],
            serde_json::json!(at_3),
            "{next}"
        );
    }
    let reads = java_reads(&cp, &table);
    assert!(reads.contains_key("tag-keep"), "{reads:?}");
    assert!(!reads.contains_key("tag-late"), "{reads:?}");
}

/// The Iceberg view as pyiceberg reads it: `{"refs": {name: snapshot id}}` without the
/// implicit `main` branch, and the snapshots.
fn iceberg_view(py: &str, table: &Path) -> (BTreeMap<String, i64>, Vec<i64>) {
    let out = std::process::Command::new(py)
        .arg(repo().join("scripts/peer/pyiceberg_peer.py"))
        .args(["refs", table.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "pyiceberg: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refs = v["refs"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(n, _)| *n != "main")
        .map(|(n, r)| {
            assert_eq!(r["type"], "tag", "{v}");
            (n.clone(), r["snapshot_id"].as_i64().unwrap())
        })
        .collect();
    let snapshots = v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    (refs, snapshots)
}

fn refs(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, i)| (n.to_string(), *i)).collect()
}

/// Tags become Iceberg refs as Java's `IcebergCommitCallback` makes them: create-tag,
/// replace-tag, auto-tag and Java's own create-tag on top add or move a ref; delete-tag and
/// expire-tags remove it (also one Java made); rename-tag leaves the ref under the old name, as
/// Java's renameTag (no callback) does; a tag of a snapshot the Iceberg metadata no longer has
/// is left out of the Iceberg view with a warning, as Java does. pyiceberg reads the view after
/// every step, and Java reads every version at the end.
#[test]
fn tag_commands_keep_the_iceberg_view_in_step_as_javas_callbacks_do() {
    let Some(py) = python() else { return };
    let Some(cp) = java_classpath() else { return };
    let (_dir, table) = copy_java("iceberg_compat");
    let p = table.to_str().unwrap();
    assert_eq!(iceberg_view(&py, &table), (refs(&[]), vec![1, 2]));

    tk(&["create-tag", p, "t1", "--snapshot", "1"]);
    assert_eq!(iceberg_view(&py, &table).0, refs(&[("t1", 1)]));
    // Java's own tag change reads the metadata tagkeeper wrote and keeps its ref.
    java(&cp, &["maintain", p, "create-tag", "j1", "2"]);
    assert_eq!(iceberg_view(&py, &table).0, refs(&[("j1", 2), ("t1", 1)]));
    tk(&["replace-tag", p, "t1", "--snapshot", "2"]);
    assert_eq!(iceberg_view(&py, &table).0, refs(&[("j1", 2), ("t1", 2)]));
    tk(&["delete-tag", p, "j1"]);
    assert_eq!(iceberg_view(&py, &table).0, refs(&[("t1", 2)]));
    tk(&["rename-tag", p, "t1", "renamed"]);
    assert_eq!(
        iceberg_view(&py, &table).0,
        refs(&[("t1", 2)]),
        "Java's rename has no callback"
    );
    tk(&[
        "create-tag",
        p,
        "ttl",
        "--snapshot",
        "1",
        "--time-retained",
        "1 ms",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = tk(&["expire-tags", p]);
    assert_eq!(r["deleted_tags"], serde_json::json!(["ttl"]), "{r}");
    assert_eq!(iceberg_view(&py, &table).0, refs(&[("t1", 2)]));
    let r = tk(&[
        "auto-tag",
        p,
        "--mode",
        "process-time",
        "--period",
        "daily",
        "--time-zone",
        "UTC",
    ]);
    let made = r["tables"][0]["tags"][0]["tag"]
        .as_str()
        .unwrap()
        .to_string();
    let made_id = r["tables"][0]["tags"][0]["snapshot_id"].as_i64().unwrap();
    assert_eq!(
        iceberg_view(&py, &table).0,
        refs(&[(made.as_str(), made_id), ("t1", 2)]),
        "{r}"
    );

    // Snapshot 1 leaves the Iceberg metadata (as Iceberg expiry does): a tag of it is left out.
    let meta = table.join("metadata/v2.metadata.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    m["snapshots"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["snapshot-id"] != 1);
    m["refs"]
        .as_object_mut()
        .unwrap()
        .retain(|_, r| r["snapshot-id"] != 1);
    std::fs::write(&meta, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let mut after_expiry = refs(&[(made.as_str(), made_id), ("t1", 2)]);
    after_expiry.retain(|_, id| *id != 1);
    let r = tk(&["create-tag", p, "old", "--snapshot", "1"]);
    assert_eq!(
        r["warnings"],
        serde_json::json!([
            "snapshot 1 is not in the Iceberg metadata metadata/v2.metadata.json: \
            tag 'old' is left out of the Iceberg view, as Java does (a ref to a missing snapshot \
            breaks Iceberg reads)"
        ]),
        "{r}"
    );
    assert_eq!(iceberg_view(&py, &table), (after_expiry, vec![2]));

    let reads = java_reads(&cp, &table);
    for t in ["renamed", "old", made.as_str()] {
        assert!(reads.contains_key(&format!("tag-{t}")), "{t}: {reads:?}");
    }
}

/// expire-snapshots leaves the Iceberg metadata alone, as Java's expiration does (Java's next
/// commit expires the Iceberg snapshots): on a table Java wrote live (the Iceberg manifests name
/// absolute paths), after Java's commits and a tagkeeper tag, expiring all but the latest
/// snapshot leaves the Iceberg view reading exactly the same rows through pyiceberg — the
/// current snapshot and the tag's ref — and Java commits on top, after which pyiceberg reads the
/// new row too.
#[test]
fn expiry_keeps_the_iceberg_view_readable_as_java_does() {
    let Some(py) = python() else { return };
    let Some(cp) = java_classpath() else { return };
    let tmp = tempfile::tempdir().unwrap();
    java(
        &cp,
        &["generate", tmp.path().to_str().unwrap(), "iceberg_compat"],
    );
    let table = tmp.path().join("default.db/iceberg_compat");
    let p = table.to_str().unwrap();
    let row = |id: i64| format!(r#"[{{"id": {id}, "name": "x", "dt": "2024-01-05"}}]"#);
    for id in [100, 101, 102] {
        java(&cp, &["maintain", p, "append", &row(id)]);
    }
    tk(&["create-tag", p, "keep", "--snapshot", "3"]);
    let read = || -> Value {
        let out = std::process::Command::new(&py)
            .arg(repo().join("scripts/peer/pyiceberg_peer.py"))
            .args(["read", p])
            .output()
            .unwrap();
        assert!(out.status.success(), "pyiceberg: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = read();
    let all: Vec<i64> = (0..9).chain([100, 101, 102]).collect();
    assert_eq!(before["current"]["snapshot_id"], 5, "{before}");
    assert_eq!(before["current"]["ids"], serde_json::json!(all), "{before}");
    assert_eq!(
        before["refs"]["keep"]["ids"],
        serde_json::json!((0..9).chain([100]).collect::<Vec<i64>>()),
        "{before}"
    );

    let r = tk(&[
        "expire-snapshots",
        p,
        "--retain-min",
        "1",
        "--retain-max",
        "1",
    ]);
    assert_eq!(
        r["expired_snapshots"].as_array().map(Vec::len),
        Some(4),
        "{r}"
    );
    assert!(!table.join("snapshot/snapshot-3").exists());
    assert_eq!(read(), before, "the Iceberg view after expire-snapshots");

    java(&cp, &["maintain", p, "append", &row(103)]);
    let after = read();
    let mut more = all.clone();
    more.push(103);
    assert_eq!(after["current"]["ids"], serde_json::json!(more), "{after}");
    assert_eq!(after["refs"]["keep"], before["refs"]["keep"], "{after}");
}

/// `metadata.iceberg.storage = hadoop-catalog`: Java keeps the Iceberg metadata outside the
/// table, in `<warehouse>/iceberg/<db>/<table>/metadata` (a Hadoop catalog's warehouse).
/// tagkeeper edits it there as it does the table's own: tags become refs and go again, and a
/// destructive rollback moves the view (its plan names that directory); pyiceberg reads the
/// view there after each step, Java commits on top, and the table's directory gains no
/// `metadata/`.
#[test]
fn hadoop_catalog_metadata_is_kept_in_step_where_java_keeps_it() {
    let Some(py) = python() else { return };
    let Some(cp) = java_classpath() else { return };
    let tmp = tempfile::tempdir().unwrap();
    java(
        &cp,
        &["generate", tmp.path().to_str().unwrap(), "iceberg_hadoop"],
    );
    let table = tmp.path().join("default.db/iceberg_hadoop");
    let view_dir = tmp.path().join("iceberg/default/iceberg_hadoop");
    let p = table.to_str().unwrap();
    let read = || -> Value {
        let out = std::process::Command::new(&py)
            .arg(repo().join("scripts/peer/pyiceberg_peer.py"))
            .args(["read", view_dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "pyiceberg: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let row = |id: i64| format!(r#"[{{"id": {id}, "name": "x", "dt": "2024-01-05"}}]"#);
    let at_2: Vec<i64> = (0..9).collect();

    tk(&["create-tag", p, "first", "--snapshot", "2"]);
    assert_eq!(iceberg_view(&py, &view_dir).0, refs(&[("first", 2)]));
    for id in [100, 101] {
        java(&cp, &["maintain", p, "append", &row(id)]);
    }
    tk(&["create-tag", p, "late", "--snapshot", "4"]);
    assert_eq!(
        iceberg_view(&py, &view_dir).0,
        refs(&[("first", 2), ("late", 4)])
    );
    tk(&["delete-tag", p, "first"]);
    assert_eq!(iceberg_view(&py, &view_dir).0, refs(&[("late", 4)]));
    tk(&["create-tag", p, "keep", "--snapshot", "3"]);

    let dry = tk(&["rollback-to", p, "--snapshot", "3", "--dry-run"]);
    let shown = std::fs::canonicalize(&view_dir).unwrap();
    assert_eq!(dry["iceberg"]["location"], shown.to_str().unwrap(), "{dry}");
    tk(&["rollback-to", p, "--snapshot", "3"]);
    let mut at_3 = at_2.clone();
    at_3.push(100);
    let after = read();
    assert_eq!(after["current"]["snapshot_id"], 3, "{after}");
    assert_eq!(after["current"]["ids"], serde_json::json!(at_3), "{after}");
    assert_eq!(
        after["refs"],
        serde_json::json!({"keep": {"snapshot_id": 3, "ids": at_3}}),
        "{after}"
    );
    let mut ids = at_3.clone();
    for (id, snapshot) in [(103, 4), (104, 5)] {
        java(&cp, &["maintain", p, "append", &row(id)]);
        ids.push(id);
        let next = read();
        assert_eq!(next["current"]["snapshot_id"], snapshot, "{next}");
        assert_eq!(next["current"]["ids"], serde_json::json!(ids), "{next}");
    }
    assert!(!table.join("metadata").exists(), "a metadata/ in the table");
}

/// `check` reads the Iceberg view as an Iceberg reader does: whole on Java's table, after
/// tagkeeper's tag commands and after a rollback; a ref to a snapshot the metadata lacks
/// (Paimon #6425), a missing manifest list, and a data file the current Iceberg snapshot reads
/// that is gone are each reported by path with their kind.
#[test]
fn check_reports_a_broken_iceberg_view() {
    let (_dir, table) = copy_java("iceberg_compat");
    let p = table.to_str().unwrap();
    let check = || {
        let out = tagkeeper(&["--json", "check", p]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let problems = |r: &Value| -> Vec<(String, String)> {
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    q["kind"].as_str().unwrap().to_string(),
                    q["path"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    tk(&["create-tag", p, "t1", "--snapshot", "1"]);
    let r = check();
    assert_eq!(r["whole"], true, "{r}");

    // A ref to a snapshot the Iceberg metadata does not have.
    let meta = table.join("metadata/v2.metadata.json");
    let good = std::fs::read(&meta).unwrap();
    let mut m: Value = serde_json::from_slice(&good).unwrap();
    m["refs"]["t1"]["snapshot-id"] = 7.into();
    std::fs::write(&meta, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let r = check();
    assert_eq!(
        problems(&r),
        [("iceberg_view".into(), "metadata/v2.metadata.json".into())],
        "{r}"
    );
    assert!(
        r["problems"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("ref 't1' names snapshot 7"),
        "{r}"
    );
    std::fs::write(&meta, &good).unwrap();

    // A data file the current Iceberg snapshot reads, and a manifest list, gone.
    let files = tk(&["files", p, "--snapshot", "2"]);
    let data = files["files"][0]["path"].as_str().unwrap().to_string();
    std::fs::rename(table.join(&data), table.parent().unwrap().join("moved")).unwrap();
    let list = m["snapshots"][0]["manifest-list"].as_str().unwrap();
    let list_key = format!("metadata/{}", list.rsplit('/').next().unwrap());
    std::fs::remove_file(table.join(&list_key)).unwrap();
    let r = check();
    let got = problems(&r);
    assert!(
        got.contains(&("missing_file".into(), list_key.clone())),
        "{r}"
    );
    assert!(got.contains(&("missing_file".into(), data.clone())), "{r}");
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["path"] == data.as_str()
                && q["detail"].as_str().unwrap().contains("Iceberg snapshot 2")),
        "{r}"
    );
}
