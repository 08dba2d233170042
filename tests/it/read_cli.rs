//! `tagkeeper read` and `tagkeeper diff` as people and scripts use them: every output format
//! holds exactly the rows pypaimon read, files appear only when complete, and `diff` reports
//! exactly the files one version has and the other has not.

use std::collections::BTreeSet;

use arrow::array::RecordBatch;
use serde_json::Value;
use tagkeeper::format::ids::SnapshotId;
use tagkeeper::inspect;
use tagkeeper::table::VersionSpec;

use crate::common::*;
use crate::read::checksum;

/// pypaimon's (rows, checksum) of a tag of a fixture.
fn tag_expectation(table: &str, tag: &str) -> (u64, String) {
    let e = expected(table);
    let t = e["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tag)
        .unwrap();
    (
        t["rows"].as_u64().unwrap(),
        t["checksum"].as_str().unwrap().to_string(),
    )
}

fn read_parquet(path: &std::path::Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn files_in(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The command line, not only the library: every snapshot and tag of every fixture exported
/// to Parquet holds exactly the rows pypaimon read.
#[test]
fn every_fixture_version_exported_by_the_cli_holds_pypaimons_rows() {
    let out_dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for name in fixture_tables() {
        let table = fixture(&name);
        for (version, rows, sum) in crate::read::versions(&expected(&name)) {
            let (flag, value) = match &version {
                VersionSpec::Snapshot(id) => ("--snapshot", id.0.to_string()),
                VersionSpec::Tag(t) => ("--tag", t.as_str().to_string()),
                other => unreachable!("{other:?}"),
            };
            let pq = out_dir.path().join(format!("{name}-{checked}.parquet"));
            let out = tagkeeper(&[
                "read",
                table.to_str().unwrap(),
                flag,
                &value,
                "--format",
                "parquet",
                "--output",
                pq.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{name} {flag} {value}: {}",
                stderr(&out)
            );
            let got = checksum(&read_parquet(&pq));
            assert_eq!(got, (rows, sum), "{name} {flag} {value}");
            checked += 1;
        }
    }
    assert_eq!(checked, 46);
}

#[test]
fn a_tag_exports_to_parquet_csv_and_json_lines_with_pypaimons_rows() {
    let t = fixture("tagged");
    let t = t.to_str().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let want = tag_expectation("tagged", "daily-3");

    // Parquet, format from the file name; a one-line summary on stdout.
    let pq = out_dir.path().join("daily-3.parquet");
    let out = tagkeeper(&[
        "read",
        t,
        "--tag",
        "daily-3",
        "--output",
        pq.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("24 rows of tag 'daily-3' (snapshot 3) written to"),
        "{}",
        stdout(&out)
    );
    let batches = read_parquet(&pq);
    assert_eq!(checksum(&batches), want);
    let types: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}:{}", f.name(), f.data_type()))
        .collect();
    assert_eq!(types, ["id:Int64", "name:Utf8", "dt:Date32"]);

    // The same with --json: a summary document.
    let again = out_dir.path().join("again.parquet");
    let out = tagkeeper(&[
        "--json",
        "read",
        t,
        "--tag",
        "daily-3",
        "-o",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "snapshot_id",
            "tag",
            "schema_id",
            "rows",
            "files_read",
            "files_pruned",
            "format",
            "output"
        ])
    );
    assert_eq!(
        (&v["snapshot_id"], &v["tag"], &v["rows"], &v["format"]),
        (
            &Value::from(3),
            &Value::from("daily-3"),
            &Value::from(24),
            &Value::from("parquet")
        )
    );
    assert_eq!(
        (&v["files_read"], &v["files_pruned"]),
        (&Value::from(3), &Value::from(0))
    );

    // CSV: a header, then one line per row; NULL is an empty field.
    let csv = out_dir.path().join("daily-3.csv");
    let out = tagkeeper(&["read", t, "--tag", "daily-3", "-o", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,name,dt");
    assert_eq!(lines.len(), 25);
    assert!(lines.contains(&"0,t0-0,2024-01-01"), "{text}");

    // JSON lines, explicit nulls, DATE as text.
    let jsonl = out_dir.path().join("daily-3.jsonl");
    let out = tagkeeper(&["read", t, "--tag", "daily-3", "-o", jsonl.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 24);
    assert!(rows.contains(&serde_json::json!({"id": 0, "name": "t0-0", "dt": "2024-01-01"})));

    // Nothing else was left in the directory (no temporary files).
    assert_eq!(
        files_in(out_dir.path()),
        BTreeSet::from([
            "daily-3.parquet".to_string(),
            "again.parquet".to_string(),
            "daily-3.csv".to_string(),
            "daily-3.jsonl".to_string()
        ])
    );
}

#[test]
fn rows_stream_to_stdout_in_every_text_format() {
    let t = fixture("pk_fixed_bucket");
    let t = t.to_str().unwrap();
    let e = expected("pk_fixed_bucket");
    let rows = e["snapshots"][2]["rows"].as_u64().unwrap() as usize;

    let out = tagkeeper(&["read", t, "--snapshot", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["dt", "k", "v", "n", "op"]
    );
    assert_eq!(lines.len(), rows + 2, "{text}");
    assert_eq!(*lines.last().unwrap(), format!("{rows} rows in snapshot 3"));

    let out = tagkeeper(&["read", t, "--snapshot", "3", "--format", "csv"]);
    assert_eq!(stdout(&out).lines().count(), rows + 1);

    // --json alone means JSON lines on stdout; the deleted keys are not there.
    let out = tagkeeper(&["read", t, "--snapshot", "3", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), rows);
    assert!(docs.iter().all(|d| d["op"] == "+I" || d["op"] == "+U"));

    // No rows: CSV still has its header; the table says what it read.
    let empty = fixture("empty");
    let out = tagkeeper(&["read", empty.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(stdout(&out), "id,name\n");
    let out = tagkeeper(&["read", empty.to_str().unwrap()]);
    assert_eq!(
        stdout(&out),
        "id  name\n0 rows in the table (no snapshot yet)\n"
    );

    // Projection, partition filter and limit on the command line.
    let out = tagkeeper(&[
        "read",
        t,
        "--snapshot",
        "3",
        "--columns",
        "k,dt",
        "--where",
        "dt=2024-01-02",
        "--limit",
        "4",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0], "k,dt");
    assert!(
        lines[1..].iter().all(|l| l.ends_with(",2024-01-02")),
        "{text}"
    );
}

#[test]
fn read_refuses_unclear_requests_with_exit_code_1() {
    let t = fixture("tagged");
    let t = t.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "read".into(),
                t.into(),
                "--json".into(),
                "--format".into(),
                "csv".into(),
            ],
            "--json writes rows as JSON lines",
        ),
        (
            vec![
                "read".into(),
                t.into(),
                "-o".into(),
                dir.path().join("rows.bin").to_string_lossy().into_owned(),
            ],
            "cannot tell the format",
        ),
        (
            vec![
                "read".into(),
                t.into(),
                "-o".into(),
                dir.path()
                    .join("no/such/dir/x.csv")
                    .to_string_lossy()
                    .into_owned(),
            ],
            "cannot write",
        ),
        (
            vec!["read".into(), t.into(), "--where".into(), "id=3".into()],
            "only partition columns",
        ),
        (
            vec!["read".into(), t.into(), "--tag".into(), "nope".into()],
            "tag 'nope' does not exist",
        ),
        (
            vec![
                "read".into(),
                t.into(),
                "--tag".into(),
                "first".into(),
                "--snapshot".into(),
                "1".into(),
            ],
            "cannot be used with",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tagkeeper(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_failed_export_leaves_no_file_behind() {
    let (_d, dir) = copy_table("append_many");
    let report = expected("append_many");
    let victim = report["snapshots"][11]["files"][5]["path"]
        .as_str()
        .unwrap();
    std::fs::remove_file(dir.join(victim)).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("all.parquet");
    let out = tagkeeper(&[
        "read",
        dir.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(victim), "{}", stderr(&out));
    assert!(files_in(out_dir.path()).is_empty());
}

/// The data file paths of a recorded version.
fn paths(version: &Value) -> BTreeSet<String> {
    version["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn diff_reports_the_files_between_any_two_versions_of_every_fixture() {
    let mut checked = 0;
    for name in fixture_tables() {
        let e = expected(&name);
        let snaps = e["snapshots"].as_array().unwrap();
        let table = open(&fixture(&name)).await;
        for (a, b) in snaps.iter().zip(snaps.iter().skip(1)).chain(
            // Also backwards and across the whole history.
            snaps.last().into_iter().zip(snaps.first()),
        ) {
            let spec = |v: &Value| VersionSpec::Snapshot(SnapshotId(v["id"].as_i64().unwrap()));
            let r = inspect::diff(&table, &spec(a), &spec(b)).await.unwrap();
            let (from, to) = (paths(a), paths(b));
            let added: BTreeSet<String> = r.added.iter().map(|f| f.path.clone()).collect();
            let removed: BTreeSet<String> = r.removed.iter().map(|f| f.path.clone()).collect();
            assert_eq!(added, &to - &from, "{name}");
            assert_eq!(removed, &from - &to, "{name}");
            assert_eq!(r.unchanged_files, from.intersection(&to).count(), "{name}");
            let row_delta =
                b["file_row_count"].as_i64().unwrap() - a["file_row_count"].as_i64().unwrap();
            assert_eq!(r.added_rows - r.removed_rows, row_delta, "{name}");
            assert_eq!(
                (r.from.total_rows, r.to.total_rows),
                (
                    a["file_row_count"].as_i64().unwrap(),
                    b["file_row_count"].as_i64().unwrap()
                )
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
}

#[test]
fn diff_on_the_command_line_names_versions_by_tag_or_snapshot() {
    let t = fixture("tagged");
    let t = t.to_str().unwrap();
    let out = tagkeeper(&["diff", t, "--from", "first", "--to", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("from tag 'first' (snapshot 1): 1 files, 8 rows"),
        "{text}"
    );
    assert!(
        text.contains("to   tag 'latest' (snapshot 6): 6 files, 48 rows"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("+ ")).count(),
        5,
        "{text}"
    );
    assert!(
        text.ends_with("0 removed (0 rows, 0 B), 1 unchanged\n"),
        "{text}"
    );

    // A number is a snapshot id (no tag has that name); JSON has a fixed shape.
    let out = tagkeeper(&["diff", "--json", t, "--from", "release-a", "--to", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "from",
            "to",
            "added",
            "removed",
            "unchanged_files",
            "added_rows",
            "removed_rows",
            "added_bytes",
            "removed_bytes"
        ])
    );
    assert_eq!(v["from"]["tag"], "release-a");
    assert_eq!(v["to"]["snapshot_id"], 2);
    assert!(v["to"].get("tag").is_none());
    assert_eq!(v["removed"].as_array().unwrap().len(), 3);
    assert_eq!(v["removed_rows"], 24);
    assert_eq!(v["added"].as_array().unwrap().len(), 0);

    let out = tagkeeper(&["diff", t, "--from", "nope", "--to", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("tag 'nope' does not exist"),
        "{}",
        stderr(&out)
    );
    let out = tagkeeper(&["diff", t, "--from", "1", "--to", "99"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("snapshot 99 does not exist"),
        "{}",
        stderr(&out)
    );
}
