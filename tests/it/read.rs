//! Time-travel read: every snapshot and tag of every pypaimon-written fixture reads exactly the
//! rows pypaimon read (count and checksum, testdata/expected/*.json), and the same again
//! against a live pypaimon when TAGKEEPER_PYTHON is set.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use futures::TryStreamExt;
use serde_json::Value;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::read::{self, ReadOptions};
use tagkeeper::table::{Table, VersionSpec};

use crate::common::*;
use crate::oracle::{render, row_hash};

/// Rows and the order-independent checksum of testdata/README.md, computed with the oracle's
/// rendering of values (independent of the library).
pub fn checksum(batches: &[RecordBatch]) -> (u64, String) {
    let (mut rows, mut sum) = (0u64, 0u64);
    for b in batches {
        for row in 0..b.num_rows() {
            let text: Vec<String> = b
                .columns()
                .iter()
                .map(|c| render(c.as_ref(), row))
                .collect();
            sum = sum.wrapping_add(row_hash(&text.join("\u{1f}")));
            rows += 1;
        }
    }
    (rows, format!("{sum:016x}"))
}

pub async fn read_all(table: &Table, options: &ReadOptions) -> tagkeeper::Result<Vec<RecordBatch>> {
    read::read(table, options).await?.try_collect().await
}

async fn read_version(table: &Table, version: VersionSpec) -> (u64, String) {
    let options = ReadOptions {
        version: version.clone(),
        ..ReadOptions::default()
    };
    let batches = read_all(table, &options)
        .await
        .unwrap_or_else(|e| panic!("{version:?}: {e}"));
    checksum(&batches)
}

/// Every version of a fixture with what pypaimon read for it.
pub(crate) fn versions(expected: &Value) -> Vec<(VersionSpec, u64, String)> {
    let mut out = Vec::new();
    for s in expected["snapshots"].as_array().unwrap() {
        out.push((
            VersionSpec::Snapshot(SnapshotId(s["id"].as_i64().unwrap())),
            s["rows"].as_u64().unwrap(),
            s["checksum"].as_str().unwrap().to_string(),
        ));
    }
    for t in expected["tags"].as_array().unwrap() {
        out.push((
            VersionSpec::Tag(TagName::new(t["name"].as_str().unwrap()).unwrap()),
            t["rows"].as_u64().unwrap(),
            t["checksum"].as_str().unwrap().to_string(),
        ));
    }
    out
}

#[tokio::test]
async fn every_snapshot_and_tag_reads_the_rows_pypaimon_read() {
    let mut checked = 0;
    for name in fixture_tables() {
        let expected = expected(&name);
        let table = open(&fixture(&name)).await;
        for (version, rows, sum) in versions(&expected) {
            let got = read_version(&table, version.clone()).await;
            assert_eq!(got, (rows, sum), "{name} {version:?}");
            checked += 1;
        }
    }
    // 12 + 7 + 5 + 3 + 6 + 4 + 0 + 3 snapshots and 5 + 1 tags.
    assert_eq!(checked, 46);
}

/// Every version of a table as the live pypaimon reads it, in one process
/// (`pypaimon_peer.py read --all`): `latest`, `snapshot-N`, `tag-NAME` → (rows, checksum).
fn pypaimon_read_all(python: &str, table: &std::path::Path) -> BTreeMap<String, (u64, String)> {
    let out = std::process::Command::new(python)
        .arg(repo().join("scripts/peer/pypaimon_peer.py"))
        .args(["read", table.to_str().unwrap(), "--all"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pypaimon read --all {}: {}",
        table.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
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

/// Every version of a table read by us and by the live pypaimon; returns how many.
pub async fn assert_pypaimon_reads_the_same(python: &str, path: &std::path::Path) -> usize {
    let theirs = pypaimon_read_all(python, path);
    let table = open(path).await;
    let mut ours = BTreeMap::new();
    ours.insert(
        "latest".to_string(),
        read_version(&table, VersionSpec::Latest).await,
    );
    for id in table.snapshot_range().await.unwrap().ids {
        let got = read_version(&table, VersionSpec::Snapshot(id)).await;
        ours.insert(format!("snapshot-{id}"), got);
    }
    for name in table.tag_names().await.unwrap() {
        let got = read_version(&table, VersionSpec::Tag(name.clone())).await;
        ours.insert(format!("tag-{name}"), got);
    }
    assert_eq!(ours, theirs, "{}", path.display());
    ours.len()
}

#[tokio::test]
async fn live_pypaimon_reads_the_same_rows_for_every_fixture_version() {
    let Some(py) = crate::interop::python() else {
        return;
    };
    let mut n = 0;
    for name in fixture_tables() {
        n += assert_pypaimon_reads_the_same(&py, &fixture(&name)).await;
    }
    // 46 versions and each table's latest.
    assert_eq!(n, 54);
}

#[tokio::test]
async fn an_empty_table_reads_no_rows_in_its_schema() {
    let table = open(&fixture("empty")).await;
    let plan = read::plan(&table, &ReadOptions::default()).await.unwrap();
    assert_eq!((plan.snapshot_id, plan.files), (None, 0));
    let names: Vec<String> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "name"]);
    assert!(read_all(&table, &ReadOptions::default())
        .await
        .unwrap()
        .is_empty());
    let err = read::plan(
        &table,
        &ReadOptions {
            version: VersionSpec::Snapshot(SnapshotId(1)),
            ..ReadOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, tagkeeper::Error::SnapshotNotFound { id: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_timestamp_reads_the_snapshot_committed_at_or_before_it() {
    let table = open(&fixture("append_many")).await;
    let expected = expected("append_many");
    let snapshots = tagkeeper::inspect::snapshots(&table).await.unwrap();
    let fifth = &snapshots.snapshots[4];
    let got = read_version(&table, VersionSpec::Timestamp(fifth.time_millis)).await;
    let want = &expected["snapshots"][4];
    assert_eq!(
        got,
        (
            want["rows"].as_u64().unwrap(),
            want["checksum"].as_str().unwrap().to_string()
        )
    );
}

/// Rows and checksum of the fixture files whose partition satisfies `keep`, computed by the
/// oracle from the files themselves (append tables: the rows of a file are its rows).
fn files_checksum(
    table: &str,
    version: &Value,
    keep: impl Fn(&serde_json::Map<String, Value>) -> bool,
) -> (u64, String) {
    let (mut rows, mut sum) = (0u64, 0u64);
    for f in version["files"].as_array().unwrap() {
        if keep(f["partition"].as_object().unwrap()) {
            let (r, c) =
                crate::oracle::file_checksum(&fixture(table).join(f["path"].as_str().unwrap()));
            rows += r;
            sum = sum.wrapping_add(c);
        }
    }
    (rows, format!("{sum:016x}"))
}

fn with_partitions(version: VersionSpec, pairs: &[(&str, &str)]) -> ReadOptions {
    ReadOptions {
        version,
        partitions: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ReadOptions::default()
    }
}

#[tokio::test]
async fn partition_filters_prune_files_before_they_are_opened() {
    let (_d, dir) = copy_table("partitioned_overwrite");
    let expected = expected("partitioned_overwrite");
    let snap7 = &expected["snapshots"][6];
    // Break every data file outside dt=2024-01-01: a read that opened one would fail.
    for f in snap7["files"].as_array().unwrap() {
        if f["partition"]["dt"] != "2024-01-01" {
            std::fs::write(dir.join(f["path"].as_str().unwrap()), b"not parquet").unwrap();
        }
    }
    let table = open(&dir).await;
    let latest = VersionSpec::Snapshot(SnapshotId(7));
    let options = with_partitions(latest.clone(), &[("dt", "2024-01-01")]);
    let plan = read::plan(&table, &options).await.unwrap();
    let in_partition = snap7["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["partition"]["dt"] == "2024-01-01")
        .count();
    assert_eq!((plan.total_files, plan.files), (5, in_partition));
    assert!(in_partition > 0 && in_partition < 5);
    let got = checksum(&read_all(&table, &options).await.unwrap());
    let want = files_checksum("partitioned_overwrite", snap7, |p| p["dt"] == "2024-01-01");
    assert_eq!(got, want);
    assert!(got.0 > 0);
    // Unfiltered, the broken files are found and named.
    let err = read_all(
        &table,
        &ReadOptions {
            version: latest,
            ..ReadOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, tagkeeper::Error::DataFile { .. }), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains(".parquet"), "{err}");
}

#[tokio::test]
async fn partition_filters_match_null_partitions_and_any_of_several_values() {
    let table = open(&fixture("partitioned_overwrite")).await;
    let expected = expected("partitioned_overwrite");
    let snap2 = &expected["snapshots"][1];
    let v2 = VersionSpec::Snapshot(SnapshotId(2));
    // hr=NULL is the partition directory hr=__DEFAULT_PARTITION__.
    let options = with_partitions(v2.clone(), &[("hr", "__DEFAULT_PARTITION__")]);
    let got = checksum(&read_all(&table, &options).await.unwrap());
    assert_eq!(
        got,
        files_checksum("partitioned_overwrite", snap2, |p| p["hr"].is_null())
    );
    assert!(got.0 > 0);
    // Two values of dt (any of them) and one of hr (all must hold).
    let options = with_partitions(
        v2.clone(),
        &[("dt", "2024-01-01"), ("dt", "2024-01-03"), ("hr", "5")],
    );
    let got = checksum(&read_all(&table, &options).await.unwrap());
    let want = files_checksum("partitioned_overwrite", snap2, |p| {
        (p["dt"] == "2024-01-01" || p["dt"] == "2024-01-03") && p["hr"] == 5
    });
    assert_eq!(got, want);
    assert!(got.0 > 0);
    // A DATE partition takes an ISO date (its directory shows the day count).
    let tagged = open(&fixture("tagged")).await;
    let options = with_partitions(VersionSpec::Latest, &[("dt", "2024-01-02")]);
    let batches = read_all(&tagged, &options).await.unwrap();
    let days = with_partitions(VersionSpec::Latest, &[("dt", "19724")]);
    assert_eq!(
        checksum(&batches),
        checksum(&read_all(&tagged, &days).await.unwrap())
    );
    assert_eq!(checksum(&batches).0, 16);
}

#[tokio::test]
async fn bad_filters_and_columns_are_user_errors_that_say_what_exists() {
    let table = open(&fixture("partitioned_overwrite")).await;
    for (pairs, needle) in [
        (vec![("v", "x")], "partition columns: dt, hr"),
        (vec![("hr", "noon")], "hr=noon"),
    ] {
        let err = read::plan(&table, &with_partitions(VersionSpec::Latest, &pairs))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 1, "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    let options = ReadOptions {
        columns: Some(vec!["id".into(), "nope".into()]),
        ..ReadOptions::default()
    };
    let err = read::plan(&table, &options).await.unwrap_err();
    assert!(err.to_string().contains("no column 'nope'"), "{err}");
    assert!(err.to_string().contains("id, v, dt, hr"), "{err}");
    let options = ReadOptions {
        columns: Some(vec!["id".into(), "id".into()]),
        ..ReadOptions::default()
    };
    assert!(read::plan(&table, &options).await.is_err());
}

#[tokio::test]
async fn columns_come_back_in_the_order_asked_with_partition_values_filled_in() {
    let table = open(&fixture("partitioned_overwrite")).await;
    let options = ReadOptions {
        version: VersionSpec::Snapshot(SnapshotId(2)),
        columns: Some(vec!["hr".into(), "id".into(), "dt".into()]),
        ..ReadOptions::default()
    };
    let batches = read_all(&table, &options).await.unwrap();
    let full = read_all(
        &table,
        &ReadOptions {
            version: VersionSpec::Snapshot(SnapshotId(2)),
            ..ReadOptions::default()
        },
    )
    .await
    .unwrap();
    // The same rows, projected: (hr, id, dt) from (id, v, dt, hr).
    let rows = |bs: &[RecordBatch], cols: &[usize]| -> Vec<String> {
        let mut out: Vec<String> = bs
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| {
                    cols.iter()
                        .map(|&c| render(b.column(c).as_ref(), r))
                        .collect::<Vec<_>>()
                        .join(",")
                })
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(rows(&batches, &[0, 1, 2]), rows(&full, &[3, 0, 2]));
    assert_eq!(rows(&batches, &[0, 1, 2]).len(), 30);
    assert!(rows(&batches, &[0, 1, 2])
        .iter()
        .any(|r| r.ends_with(",\\N")));
}

#[tokio::test]
async fn a_limit_stops_the_read_and_never_opens_later_files() {
    let (_d, dir) = copy_table("append_many");
    let table = open(&dir).await;
    for limit in [0u64, 1, 7, 10, 25, 120, 500] {
        let options = ReadOptions {
            limit: Some(limit),
            batch_size: 4,
            ..ReadOptions::default()
        };
        let batches = read_all(&table, &options).await.unwrap();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, limit.min(120), "limit {limit}");
        assert!(batches.iter().all(|b| b.num_rows() <= 4));
    }
    // Ten rows per file: with every file but the first broken, a limit of 10 still reads.
    let plan = read::plan(&table, &ReadOptions::default()).await.unwrap();
    let first_rows = read_all(
        &table,
        &ReadOptions {
            limit: Some(10),
            ..ReadOptions::default()
        },
    )
    .await
    .unwrap();
    let report = tagkeeper::inspect::files(&table, &VersionSpec::Latest)
        .await
        .unwrap();
    assert_eq!(plan.files, 12);
    let mut broken = 0;
    for f in &report.files {
        let path = dir.join(&f.path);
        let bytes = std::fs::read(&path).unwrap();
        let (_, sum) = crate::oracle::file_checksum(&path);
        if format!("{sum:016x}") != checksum(&first_rows).1 {
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            broken += 1;
        }
    }
    assert_eq!(broken, 11);
    let again = read_all(
        &table,
        &ReadOptions {
            limit: Some(10),
            ..ReadOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(checksum(&again), checksum(&first_rows));
}

/// Edit a copied table's schema options.
fn set_options(dir: &std::path::Path, schema: &str, options: &[(&str, &str)]) {
    let path = dir.join("schema").join(schema);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (k, val) in options {
        v["options"][*k] = Value::String(val.to_string());
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[tokio::test]
async fn merge_options_tagkeeper_cannot_merge_are_refused_by_name() {
    for (options, needle) in [
        (
            vec![("merge-engine", "other-engine")],
            "merge-engine 'other-engine'",
        ),
        (
            vec![
                ("merge-engine", "aggregation"),
                ("fields.n.aggregate-function", "collect"),
            ],
            "aggregate function 'collect' of column 'n'",
        ),
        (
            vec![
                ("merge-engine", "aggregation"),
                ("fields.default-aggregate-function", "count"),
            ],
            "aggregate function 'count' of column 'v'",
        ),
        (
            vec![
                ("merge-engine", "aggregation"),
                ("fields.v.aggregate-function", "sum"),
            ],
            "aggregate function 'sum' of column 'v' does not take type",
        ),
        (
            vec![
                ("merge-engine", "partial-update"),
                ("fields.n.aggregate-function", "sum"),
            ],
            "'fields.n.aggregate-function'",
        ),
        (
            vec![
                ("merge-engine", "partial-update"),
                ("fields.n.sequence-group", "v"),
                ("partial-update.remove-record-on-sequence-group", "n"),
            ],
            "'partial-update.remove-record-on-sequence-group'",
        ),
        (
            vec![
                ("sequence.field", "n"),
                ("sequence.field.sort-order", "sideways"),
            ],
            "sequence.field.sort-order 'sideways'",
        ),
    ] {
        let (_d, dir) = copy_table("pk_fixed_bucket");
        set_options(&dir, "schema-0", &options);
        let table = open(&dir).await;
        let err = read::plan(&table, &ReadOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, tagkeeper::Error::Unsupported(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
        assert_eq!(err.exit_code(), 1);
        let out = tagkeeper(&["read", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    }
    // The default engine, spelled out, reads as before.
    let (_d, dir) = copy_table("pk_fixed_bucket");
    set_options(&dir, "schema-0", &[("merge-engine", "deduplicate")]);
    let got = read_version(&open(&dir).await, VersionSpec::Latest).await;
    let want = &expected("pk_fixed_bucket")["snapshots"][4];
    assert_eq!(got.1, want["checksum"].as_str().unwrap());
}

/// Deletion vectors (Java's `pk_dv` table; exact rows are compared with Java's in
/// `java_interop`): a damaged or missing deletion-vector index file fails the read naming it,
/// never reading the deleted rows back.
#[tokio::test]
async fn damaged_deletion_vectors_fail_the_read_naming_the_index_file() {
    for damage in ["truncate", "remove", "garble"] {
        let (_d, dir) = crate::java_interop::copy_java("pk_dv");
        let table = open(&dir).await;
        // The index files the latest snapshot's deletion vectors are in.
        let latest = table.snapshot_range().await.unwrap().latest().unwrap();
        let snapshot = table.try_load_snapshot(latest).await.unwrap().unwrap();
        let index = table.index_files(&snapshot, "test").await.unwrap();
        let dv = index
            .iter()
            .find(|e| {
                e.index_type == "DELETION_VECTORS"
                    && e.deletion_vectors.as_ref().is_some_and(|v| !v.is_empty())
            })
            .expect("the latest pk_dv snapshot has deletion vectors");
        let path = dir.join("index").join(&dv.file_name);
        let bytes = std::fs::read(&path).unwrap();
        match damage {
            "truncate" => std::fs::write(&path, &bytes[..4]).unwrap(),
            "remove" => std::fs::remove_file(&path).unwrap(),
            _ => std::fs::write(&path, vec![0x55; bytes.len()]).unwrap(),
        }
        let err = read_all(&table, &ReadOptions::default()).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("index/{}", dv.file_name)),
            "{damage}: {err}"
        );
        assert_eq!(err.exit_code(), 2, "{damage}: {err}");
    }
}

#[tokio::test]
async fn missing_and_corrupt_data_files_are_named_with_exit_code_2() {
    let expected = expected("pk_fixed_bucket");
    let files = expected["snapshots"][4]["files"].as_array().unwrap();
    let victim = files[3]["path"].as_str().unwrap();
    for damage in ["remove", "truncate"] {
        let (_d, dir) = copy_table("pk_fixed_bucket");
        let path = dir.join(victim);
        match damage {
            "remove" => std::fs::remove_file(&path).unwrap(),
            _ => {
                let bytes = std::fs::read(&path).unwrap();
                std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
            }
        }
        let table = open(&dir).await;
        let err = read_all(&table, &ReadOptions::default()).await.unwrap_err();
        assert!(
            matches!(err, tagkeeper::Error::DataFile { .. }),
            "{damage}: {err}"
        );
        assert!(err.to_string().contains(victim), "{damage}: {err}");
        if damage == "remove" {
            assert!(err.to_string().contains("does not exist"), "{err}");
        }
        let out = tagkeeper(&["read", dir.to_str().unwrap(), "--format", "csv"]);
        assert_eq!(out.status.code(), Some(2), "{damage}");
        assert!(stderr(&out).contains(victim), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn columns_of_types_without_an_arrow_mapping_are_refused_unless_left_out() {
    let (_d, dir) = copy_table("append_many");
    let path = dir.join("schema/schema-0");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["fields"].as_array_mut().unwrap().push(
        serde_json::json!({"id": 3, "name": "tags", "type": {"type": "ARRAY", "element": "INT"}}),
    );
    v["highestFieldId"] = Value::from(3);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let table = open(&dir).await;
    let err = read::plan(&table, &ReadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, tagkeeper::Error::Unsupported(_)), "{err}");
    assert!(
        err.to_string().contains("'tags' has type ARRAY<INT>"),
        "{err}"
    );
    let options = ReadOptions {
        columns: Some(vec!["id".into(), "name".into(), "dt".into()]),
        ..ReadOptions::default()
    };
    let got = checksum(&read_all(&table, &options).await.unwrap());
    let want = &expected("append_many")["snapshots"][11];
    assert_eq!(
        got,
        (
            want["rows"].as_u64().unwrap(),
            want["checksum"].as_str().unwrap().to_string()
        )
    );
}
