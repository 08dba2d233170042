//! `read --changelog` against Java's incremental changelog read, and `diff --rows` against the
//! recorded rows of every version (pypaimon's and Java's fixtures).

use arrow::array::{AsArray, RecordBatch};
use futures::TryStreamExt;
use serde_json::Value;
use tagkeeper::format::ids::SnapshotId;
use tagkeeper::read::changelog::{self, ChangelogOptions};
use tagkeeper::read::diff;
use tagkeeper::table::VersionSpec;

use crate::common::*;
use crate::java_interop::{java, java_classpath, java_expected, java_fixture};
use crate::oracle::{render, row_hash};

/// Each row as "KIND\x1fv1\x1fv2…" (values as the checksum renders them).
fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let kind = b.column(0).as_string::<i32>().value(r).to_string();
            let values: Vec<String> = b
                .columns()
                .iter()
                .skip(1)
                .map(|c| render(c.as_ref(), r))
                .collect();
            out.push(format!("{kind}\u{1f}{}", values.join("\u{1f}")));
        }
    }
    out
}

fn snap(id: i64) -> VersionSpec {
    VersionSpec::Snapshot(SnapshotId(id))
}

async fn changelog_lines(table: &std::path::Path, from: i64, to: i64) -> Vec<String> {
    let t = open(table).await;
    let plan = changelog::plan(&t, &ChangelogOptions::between(snap(from), snap(to)))
        .await
        .unwrap_or_else(|e| panic!("{} {from}..{to}: {e}", table.display()));
    let batches: Vec<RecordBatch> = plan.stream().try_collect().await.unwrap();
    lines(&batches)
}

/// Java's `incremental-between` changelog read (Harness `changelog-between`), compared with
/// ours as multisets: Java orders a bucket's changelog files by its split generator (key
/// ranges), not by commit, so only per-bucket contents are comparable; ours is commit order.
#[tokio::test]
async fn changelog_rows_match_javas_incremental_changelog_read() {
    let Some(cp) = java_classpath() else { return };
    let cases: &[(&str, &[(i64, i64)])] = &[
        ("changelog_input", &[(0, 3), (1, 3), (1, 2), (2, 3), (2, 2)]),
        (
            "changelog_lookup",
            &[(0, 6), (1, 4), (2, 6), (5, 6), (0, 1)],
        ),
        ("changelog_full", &[(0, 3), (1, 3), (2, 3)]),
        // Java's batch scan needs retained snapshots (3..=4): from 2 on.
        ("changelog_decoupled", &[(2, 4), (3, 4)]),
    ];
    for (table, pairs) in cases {
        let path = java_fixture(table);
        for &(from, to) in *pairs {
            let (f, t) = (from.to_string(), to.to_string());
            let theirs = java(&cp, &["changelog-between", path.to_str().unwrap(), &f, &t]);
            let mut theirs: Vec<String> = theirs
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let mut ours = changelog_lines(&path, from, to).await;
            ours.sort();
            theirs.sort();
            assert_eq!(ours, theirs, "{table} changelog {from}..={to}");
        }
    }
}

/// Snapshots 1 and 2 of changelog_decoupled expired; their changelogs are kept
/// (changelog/changelog-N): a range over them reads them, in commit order.
#[tokio::test]
async fn changelog_of_expired_snapshots_comes_from_long_lived_changelogs() {
    let path = java_fixture("changelog_decoupled");
    let all = changelog_lines(&path, 0, 4).await;
    let early = changelog_lines(&path, 0, 2).await;
    let late = changelog_lines(&path, 2, 4).await;
    assert!(!early.is_empty());
    assert_eq!(all, [early, late].concat());
}

#[tokio::test]
async fn changelog_refusals() {
    // No changelog-producer: Java's changelog scan would read nothing.
    let t = open(&java_fixture("pk_compacted")).await;
    let e = changelog::plan(&t, &ChangelogOptions::between(snap(0), snap(1)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("changelog-producer none"), "{e}");
    let t = open(&java_fixture("changelog_input")).await;
    let e = changelog::plan(&t, &ChangelogOptions::between(snap(3), snap(1)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("before"), "{e}");
    let e = changelog::plan(&t, &ChangelogOptions::between(snap(1), snap(9)))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("snapshot 2") || e.to_string().contains("9"),
        "{e}"
    );
}

/// rows(A) − removed + added = rows(B), as multisets through the order-independent checksum
/// of every recorded version, for each pair of consecutive snapshots of the same schema.
async fn check_diff_rows(path: &std::path::Path, expected: &Value, name: &str) -> usize {
    let snaps = expected["snapshots"].as_array().unwrap();
    let t = open(path).await;
    let mut checked = 0;
    for w in snaps.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a["schema_id"] != b["schema_id"] || a.get("checksum").is_none() {
            continue;
        }
        let (ia, ib) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
        let plan = match diff::plan(&t, &snap(ia), &snap(ib), 0).await {
            Ok(p) => p,
            Err(e) if e.to_string().contains("not supported") => continue,
            Err(e) => panic!("{name} diff {ia}..{ib}: {e}"),
        };
        let batches: Vec<RecordBatch> = plan.stream().try_collect().await.unwrap();
        let parse = |v: &Value| u64::from_str_radix(v["checksum"].as_str().unwrap(), 16).unwrap();
        let (mut sum, mut rows) = (parse(a), a["rows"].as_i64().unwrap());
        for line in lines(&batches) {
            let (kind, values) = line.split_once('\u{1f}').unwrap();
            let h = row_hash(values);
            if kind == "+I" || kind == "+U" {
                sum = sum.wrapping_add(h);
                rows += 1;
            } else {
                sum = sum.wrapping_sub(h);
                rows -= 1;
            }
        }
        assert_eq!(rows, b["rows"].as_i64().unwrap(), "{name} diff {ia}..{ib}");
        assert_eq!(
            format!("{sum:016x}"),
            b["checksum"].as_str().unwrap(),
            "{name} diff {ia}..{ib}"
        );
        checked += 1;
    }
    checked
}

#[tokio::test]
async fn diff_rows_turn_each_version_into_the_next() {
    let mut checked = 0;
    for name in fixture_tables() {
        checked += check_diff_rows(&fixture(&name), &expected(&name), &name).await;
    }
    for name in [
        "changelog_input",
        "changelog_lookup",
        "pk_compacted",
        "pk_dv",
        "pk_partial_update",
        "pk_aggregation",
        "pk_first_row",
        "append_fixed",
        "append_unaware",
        "append_avro",
    ] {
        checked += check_diff_rows(&java_fixture(name), &java_expected(name), name).await;
    }
    assert!(checked >= 20, "only {checked} version pairs checked");
}

/// Exact rows of a small case: changelog_input's snapshots 1 → 3.
#[tokio::test]
async fn diff_rows_of_a_primary_key_table_pair_changed_keys() {
    let t = open(&java_fixture("changelog_input")).await;
    let plan = diff::plan(&t, &snap(1), &snap(3), 0).await.unwrap();
    let batches: Vec<RecordBatch> = plan.stream().try_collect().await.unwrap();
    let got: Vec<String> = lines(&batches)
        .into_iter()
        .map(|l| l.replace('\u{1f}', " "))
        .collect();
    let want = [
        "-U 2024-01-01 0 v0",
        "+U 2024-01-01 0 u0",
        "-U 2024-01-01 2 v2",
        "+U 2024-01-01 2 u2",
        "-D 2024-01-01 4 v4",
        "-U 2024-01-02 3 v3",
        "+U 2024-01-02 3 u3",
        "-U 2024-01-02 5 v5",
        "+U 2024-01-02 5 u5",
        "-D 2024-01-02 7 v7",
        "+I 2024-01-02 99 new",
    ];
    assert_eq!(got, want);
    // A version against itself: nothing.
    let same = diff::plan(&t, &snap(2), &snap(2), 0).await.unwrap();
    let batches: Vec<RecordBatch> = same.stream().try_collect().await.unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
}

#[test]
fn cli_reads_changelog_and_diff_rows() {
    let path = java_fixture("changelog_input");
    let p = path.to_str().unwrap();
    let o = tagkeeper(&[
        "read",
        p,
        "--changelog",
        "--from",
        "2",
        "--to",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["_ROW_KIND"].is_string()));
    let o = tagkeeper(&[
        "diff", p, "--from", "1", "--to", "3", "--rows", "--format", "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("_ROW_KIND,dt,k,v\n-U,2024-01-01,0,v0\n"),
        "{}",
        stdout(&o)
    );
    let o = tagkeeper(&["read", p, "--changelog", "--from", "1"]);
    assert!(!o.status.success());
}
