//! Time-travel read of tables built here, for what the fixtures cannot show: primary-key files
//! on several levels with stale and overlapping versions, a schema change that drops and
//! retypes columns, and memory that stays bounded while a million rows stream through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, Int8Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};
use tagkeeper::format::binary_row::{self, Datum};
use tagkeeper::format::ids::SnapshotId;
use tagkeeper::format::manifest::{DataFileMeta, SimpleStats};
use tagkeeper::format::types::DataType;
use tagkeeper::read::{self, ReadOptions};
use tagkeeper::table::{Table, VersionSpec};
use tagkeeper::write::{append, commit, CommitOptions, CommitRequest, NewFile, TableSpec};

use crate::common::*;
use crate::oracle::render;
use crate::read::{assert_pypaimon_reads_the_same, read_all};
use crate::write::{clock, local_table};

/// One row of a primary-key data file: key, sequence number, row kind (0 +I, 1 -U, 2 +U,
/// 3 -D), value.
type KvRow = (i64, i64, i8, Option<String>);

fn kv(k: i64, seq: i64, kind: i8, v: Option<&str>) -> KvRow {
    (k, seq, kind, v.map(str::to_string))
}

/// A primary-key table `(dt STRING, k BIGINT, v STRING)`, key `(dt, k)`, partitioned by `dt`,
/// one bucket.
async fn pk_table(dir: &Path) -> Table {
    let spec = TableSpec {
        columns: vec![
            ("dt".into(), DataType::parse("STRING").unwrap()),
            ("k".into(), DataType::parse("BIGINT").unwrap()),
            ("v".into(), DataType::parse("STRING").unwrap()),
        ],
        partition_keys: vec!["dt".into()],
        primary_keys: vec!["dt".into(), "k".into()],
        options: vec![("bucket".into(), "1".into())],
        comment: None,
    };
    local_table(dir, &spec).await
}

/// Write a key-value Parquet file the way Paimon lays one out (`_KEY_k`, `_SEQUENCE_NUMBER`,
/// `_VALUE_KIND`, then the row), rows sorted by key, and describe it.
fn kv_file(dir: &Path, dt: &str, level: i32, rows: &[KvRow], row_group: usize) -> NewFile {
    let name = format!("data-{}-0.parquet", uuid::Uuid::new_v4());
    let key = format!("dt={dt}/bucket-0/{name}");
    let schema = Arc::new(Schema::new(vec![
        Field::new("_KEY_k", ArrowType::Int64, false),
        Field::new("_SEQUENCE_NUMBER", ArrowType::Int64, false),
        Field::new("_VALUE_KIND", ArrowType::Int8, false),
        Field::new("dt", ArrowType::Utf8, false),
        Field::new("k", ArrowType::Int64, false),
        Field::new("v", ArrowType::Utf8, true),
    ]));
    let keys = Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(keys.clone()),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(Int8Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(vec![dt; rows.len()])),
        Arc::new(keys),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.3.as_deref()).collect::<Vec<_>>(),
        )),
    ];
    let path = dir.join(&key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        schema.clone(),
        Some(props),
    )
    .unwrap();
    w.write(&RecordBatch::try_new(schema, columns).unwrap())
        .unwrap();
    w.close().unwrap();
    let bigint = [DataType::parse("BIGINT NOT NULL").unwrap()];
    let key_row = |k: i64| binary_row::encode(&[Datum::BigInt(k)], &bigint).unwrap();
    let string = [DataType::parse("STRING NOT NULL").unwrap()];
    let values = vec![Datum::String(dt.to_string())];
    NewFile {
        partition: binary_row::encode(&values, &string).unwrap(),
        partition_values: values,
        bucket: 0,
        key,
        meta: DataFileMeta {
            file_name: name,
            file_size: std::fs::metadata(&path).unwrap().len() as i64,
            row_count: rows.len() as i64,
            min_key: key_row(rows.iter().map(|r| r.0).min().unwrap()),
            max_key: key_row(rows.iter().map(|r| r.0).max().unwrap()),
            key_stats: SimpleStats::empty(),
            value_stats: SimpleStats::empty(),
            min_sequence_number: rows.iter().map(|r| r.1).min().unwrap(),
            max_sequence_number: rows.iter().map(|r| r.1).max().unwrap(),
            schema_id: 0,
            level,
            extra_files: Vec::new(),
            creation_time: None,
            delete_row_count: Some(rows.iter().filter(|r| r.2 % 2 == 1).count() as i64),
            embedded_index: None,
            file_source: Some(0),
            value_stats_cols: None,
            external_path: None,
            first_row_id: None,
            write_cols: None,
            write_cols_sequences: None,
            commit_snapshot: None,
        },
    }
}

async fn commit_files(table: &Table, files: Vec<NewFile>) {
    let request = CommitRequest {
        files,
        ..CommitRequest::default()
    };
    commit(table, request, clock().as_ref(), &CommitOptions::default())
        .await
        .unwrap();
}

/// What a deduplicating reader must return: per (dt, key) the highest sequence number wins,
/// and a winning retraction removes the key. Rows rendered `dt,k,v`, sorted.
fn model(files: &[(&str, Vec<KvRow>)]) -> Vec<String> {
    let mut latest: BTreeMap<(String, i64), (i64, i8, Option<String>)> = BTreeMap::new();
    for (dt, rows) in files {
        for (k, seq, kind, v) in rows {
            let slot = latest
                .entry((dt.to_string(), *k))
                .or_insert((i64::MIN, 0, None));
            if *seq >= slot.0 {
                *slot = (*seq, *kind, v.clone());
            }
        }
    }
    let mut rows: Vec<String> = latest
        .into_iter()
        .filter(|(_, (_, kind, _))| *kind == 0 || *kind == 2)
        .map(|((dt, k), (_, _, v))| format!("{dt},{k},{}", v.as_deref().unwrap_or("\\N")))
        .collect();
    rows.sort();
    rows
}

fn rendered(batches: &[RecordBatch]) -> Vec<String> {
    let mut out: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |r| {
                b.columns()
                    .iter()
                    .map(|c| render(c.as_ref(), r))
                    .collect::<Vec<_>>()
                    .join(",")
            })
        })
        .collect();
    out.sort();
    out
}

async fn read_rows(table: &Table, version: VersionSpec, batch_size: usize) -> Vec<String> {
    let options = ReadOptions {
        version,
        batch_size,
        ..ReadOptions::default()
    };
    rendered(&read_all(table, &options).await.unwrap())
}

#[tokio::test]
async fn primary_key_rows_merge_across_levels_by_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pk");
    let table = pk_table(&path).await;
    let text = |p: &str, k: i64| Some(format!("{p}-{k}"));
    // Snapshot 1: a level-2 file with keys 0..100.
    let l2: Vec<KvRow> = (0..100).map(|k| (k, k, 0, text("l2", k))).collect();
    // Snapshot 2: level 1 updates 50..=60 and deletes 61..=64.
    let l1: Vec<KvRow> = (50..=64)
        .map(|k| {
            if k <= 60 {
                (k, 200 + k, 2, text("l1", k))
            } else {
                (k, 300 + k, 3, None)
            }
        })
        .collect();
    // Snapshot 3: level 0 inserts 10 again, retracts 55 (-U), brings 61 back, deletes 99,
    // adds 150; and carries a stale version of 5 (a lower sequence number than level 2's).
    let l0 = vec![
        kv(5, 2, 2, Some("stale")),
        kv(10, 400, 0, Some("l0-10")),
        kv(55, 401, 1, None),
        kv(61, 402, 0, Some("back-61")),
        kv(99, 403, 3, None),
        kv(150, 404, 0, Some("new-150")),
    ];
    // Snapshot 4: a level-1 file of keys no other file has (a section of its own), and a
    // second partition.
    let far: Vec<KvRow> = (200..=210)
        .map(|k| (k, 500 + k, 0, text("far", k)))
        .collect();
    let other: Vec<KvRow> = (0..5).map(|k| (k, k, 0, text("b", k))).collect();

    let mut history: Vec<(&str, Vec<KvRow>)> = Vec::new();
    let steps: Vec<Vec<(&str, i32, Vec<KvRow>)>> = vec![
        vec![("a", 2, l2)],
        vec![("a", 1, l1)],
        vec![("a", 0, l0)],
        vec![("a", 1, far), ("b", 0, other)],
    ];
    for (i, step) in steps.into_iter().enumerate() {
        let files = step
            .iter()
            .map(|(dt, level, rows)| kv_file(&path, dt, *level, rows, 4))
            .collect();
        commit_files(&table, files).await;
        history.extend(step.into_iter().map(|(dt, _, rows)| (dt, rows)));
        let want = model(&history);
        for batch_size in [1, 3, 8192] {
            let got = read_rows(
                &table,
                VersionSpec::Snapshot(SnapshotId(i as i64 + 1)),
                batch_size,
            )
            .await;
            assert_eq!(got, want, "snapshot {} batch {batch_size}", i + 1);
        }
    }
    let latest = read_rows(&table, VersionSpec::Latest, 8192).await;
    assert!(
        latest.contains(&"a,5,l2-5".to_string()),
        "the stale level-0 version lost"
    );
    assert!(latest.contains(&"a,61,back-61".to_string()));
    assert!(!latest
        .iter()
        .any(|r| r.starts_with("a,55,") || r.starts_with("a,99,")));
    // 100 at level 2, 4 deleted by level 1; level 0 retracts 55 and deletes 99, brings 61 back
    // and adds 150; 11 more keys far away and 5 in the other partition.
    assert_eq!(latest.len(), 100 - 4 - 2 + 1 + 1 + 11 + 5);
    if let Some(py) = crate::interop::python() {
        assert_eq!(assert_pypaimon_reads_the_same(&py, &path).await, 5);
    }
}

/// Replace the table's schema with a new one (what ALTER TABLE writes), as `schema-<id>`.
fn alter(dir: &Path, id: i64, fields: Value, highest: i64) {
    let base: Value =
        serde_json::from_slice(&std::fs::read(dir.join("schema/schema-0")).unwrap()).unwrap();
    let mut next = base.clone();
    next["id"] = json!(id);
    next["fields"] = fields;
    next["highestFieldId"] = json!(highest);
    std::fs::write(
        dir.join(format!("schema/schema-{id}")),
        serde_json::to_vec_pretty(&next).unwrap(),
    )
    .unwrap();
}

fn batch_of(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

#[tokio::test]
async fn files_of_older_schemas_are_read_into_the_version_schema_by_field_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evolved");
    let spec = TableSpec {
        columns: vec![
            ("id".into(), DataType::parse("BIGINT").unwrap()),
            ("name".into(), DataType::parse("STRING").unwrap()),
            ("n".into(), DataType::parse("INT").unwrap()),
        ],
        ..TableSpec::default()
    };
    let table = local_table(&path, &spec).await;
    let opts = CommitOptions::default();
    let first = batch_of(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("name", Arc::new(StringArray::from(vec![Some("a"), None]))),
        ("n", Arc::new(Int32Array::from(vec![Some(10), None]))),
    ]);
    append(&table, vec![first], None, clock(), &opts)
        .await
        .unwrap();
    // Schema 1: drop `name` (id 1), rename `n` (id 2) to `m` and widen it to BIGINT, add
    // `extra` (id 3) and put it first.
    alter(
        &path,
        1,
        json!([
            {"id": 3, "name": "extra", "type": "STRING"},
            {"id": 0, "name": "id", "type": "BIGINT"},
            {"id": 2, "name": "m", "type": "BIGINT"}
        ]),
        3,
    );
    let second = batch_of(vec![
        ("extra", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
        ("id", Arc::new(Int64Array::from(vec![3]))),
        ("m", Arc::new(Int64Array::from(vec![5_000_000_000]))),
    ]);
    append(&table, vec![second], None, clock(), &opts)
        .await
        .unwrap();
    // Schema 2: `id` renamed to `key`; no new data.
    alter(
        &path,
        2,
        json!([
            {"id": 3, "name": "extra", "type": "STRING"},
            {"id": 0, "name": "key", "type": "BIGINT"},
            {"id": 2, "name": "m", "type": "BIGINT"}
        ]),
        3,
    );
    let rows = |v| read_rows(&table, v, 8192);
    assert_eq!(
        rows(VersionSpec::Snapshot(SnapshotId(1))).await,
        ["1,a,10", "2,\\N,\\N"]
    );
    assert_eq!(
        rows(VersionSpec::Snapshot(SnapshotId(2))).await,
        ["\\N,1,10", "\\N,2,\\N", "x,3,5000000000"]
    );
    // Both versions carry the schema id they were committed with; the newest schema is used
    // only when a version has it.
    let plan = read::plan(&table, &ReadOptions::default()).await.unwrap();
    assert_eq!(plan.schema_id, 1);
    let names: Vec<String> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["extra", "id", "m"]);
    assert_eq!(plan.schema().field(2).data_type(), &ArrowType::Int64);
    if let Some(py) = crate::interop::python() {
        assert_pypaimon_reads_the_same(&py, &path).await;
    }
}

// ----- bounded memory -----

/// Resident memory of this process from /proc/self/status (Linux), in KiB: (current, peak).
fn resident_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

const PROBE_ENV: &str = "TAGKEEPER_MEMORY_PROBE";

/// The child half of the memory test: read the table named by TAGKEEPER_MEMORY_PROBE and
/// print how much the process's peak resident memory grew while it did. Without the variable
/// (a normal test run) it does nothing: the parent test runs it in a process of its own, so
/// that no other test's memory is counted.
#[tokio::test]
async fn memory_probe() {
    let Ok(path) = std::env::var(PROBE_ENV) else {
        return;
    };
    let table = open(Path::new(&path)).await;
    let plan = read::plan(&table, &ReadOptions::default()).await.unwrap();
    let (before, _) = resident_kib().unwrap();
    let mut batches = plan.stream();
    let (mut rows, mut decoded) = (0usize, 0usize);
    while let Some(b) = batches.try_next().await.unwrap() {
        rows += b.num_rows();
        decoded += b.get_array_memory_size();
    }
    let (_, peak) = resident_kib().unwrap();
    println!(
        "PROBE rows={rows} decoded_kib={} growth_kib={}",
        decoded / 1024,
        peak.saturating_sub(before)
    );
}

/// (rows, KiB of decoded batches, KiB the peak resident memory grew) of reading a table in a
/// fresh process.
fn probe(table: &Path) -> (usize, u64, u64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "read_built::memory_probe",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, table)
        // One malloc arena: glibc otherwise gives each thread that touches memory (the
        // store's blocking readers) an arena of its own, and how many there are depends on
        // scheduling, not on what the read holds.
        .env("MALLOC_ARENA_MAX", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| l.find("PROBE ").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no probe output: {text}"));
    let value = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    (
        value("rows") as usize,
        value("decoded_kib"),
        value("growth_kib"),
    )
}

/// Makes rows about as wide as real ones (~70 bytes), so that the fixed cost of a process
/// (runtime, buffers) does not dominate what is measured.
const PADDING: &str = "padding-that-makes-each-row-realistically-wide";

/// An append table of `files` commits of `per_file` rows each.
async fn append_table(path: &Path, files: usize, per_file: usize) {
    let table = local_table(path, &crate::write::spec(false, &[])).await;
    for f in 0..files {
        let ids: Vec<i64> = (0..per_file).map(|i| (f * per_file + i) as i64).collect();
        let names: Vec<String> = ids
            .iter()
            .map(|i| format!("name-{i:08}-{PADDING}"))
            .collect();
        let batch = batch_of(vec![
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("name", Arc::new(StringArray::from(names))),
            (
                "dt",
                Arc::new(StringArray::from(vec!["2024-01-01"; per_file])),
            ),
        ]);
        append(
            &table,
            vec![batch],
            None,
            clock(),
            &CommitOptions::default(),
        )
        .await
        .unwrap();
    }
}

/// A primary-key table whose one bucket holds `files` overlapping level-0 files of `per_file`
/// rows each (file i has the keys ≡ i mod files), so the merge reads all of them at once.
async fn pk_bucket(path: &Path, files: usize, per_file: usize) {
    let table = pk_table(path).await;
    let mut new = Vec::new();
    for f in 0..files {
        let rows: Vec<KvRow> = (0..per_file)
            .map(|i| {
                let k = (i * files + f) as i64;
                (k, k, 0, Some(format!("value-{k:08}-{PADDING}")))
            })
            .collect();
        new.push(kv_file(path, "a", 0, &rows, 8192));
    }
    commit_files(&table, new).await;
}

#[tokio::test]
async fn memory_stays_bounded_while_a_million_rows_stream_through() {
    if resident_kib().is_none() {
        skipped("bounded-memory read test (needs /proc/self/status)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (big, small) = (dir.path().join("big"), dir.path().join("small"));
    let (pk_big, pk_small) = (dir.path().join("pk_big"), dir.path().join("pk_small"));
    append_table(&big, 20, 50_000).await;
    append_table(&small, 1, 50_000).await;
    pk_bucket(&pk_big, 8, 125_000).await;
    pk_bucket(&pk_small, 8, 31_250).await;
    // (table, the same shape with fewer rows, rows of each, the share of the decoded bytes the
    // peak may grow by). An append read holds one batch of one file. A merge holds, for each
    // file of the section (eight here), its row group, its dictionaries (up to 1 MiB per
    // column) and a batch: more, but just as independent of the number of rows.
    let cases: [(&PathBuf, &PathBuf, usize, usize, u64); 2] = [
        (&big, &small, 1_000_000, 50_000, 4),
        (&pk_big, &pk_small, 1_000_000, 250_000, 2),
    ];
    for (large, little, large_rows, little_rows, share) in cases {
        let (rows, decoded, growth) = probe(large);
        let (rows_small, _, growth_small) = probe(little);
        assert_eq!((rows, rows_small), (large_rows, little_rows));
        assert!(
            growth * share < decoded,
            "{}: peak grew {growth} KiB while {decoded} KiB were decoded",
            large.display()
        );
        // Many times the rows, and the peak grows by no more than reading the smaller table
        // needs (plus noise: the allocator, the runtime's threads).
        assert!(
            growth < growth_small + 8 * 1024,
            "{}: peak grew {growth} KiB, {growth_small} KiB for {little_rows} rows",
            large.display()
        );
    }
}
