//! The write path: what tagkeeper writes is what the oracle and our reader see, every ADD
//! records its commit snapshot, merges keep that record, overwrites replace exactly their
//! partitions, and concurrent writers never lose or duplicate a commit.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use tagkeeper::clock::ManualClock;
use tagkeeper::format::binary_row::Datum;
use tagkeeper::format::ids::SnapshotId;
use tagkeeper::format::types::DataType;
use tagkeeper::inspect;
use tagkeeper::io::fault::{FaultStore, InjectedError};
use tagkeeper::io::TableStore;
use tagkeeper::table::{Table, VersionSpec};
use tagkeeper::write::{self, append, CommitOptions, OverwriteScope, TableSpec};
use tagkeeper::Error;

use crate::oracle::{self, row_hash};

pub fn spec(partitioned: bool, options: &[(&str, &str)]) -> TableSpec {
    TableSpec {
        columns: vec![
            ("id".into(), DataType::parse("BIGINT").unwrap()),
            ("name".into(), DataType::parse("STRING").unwrap()),
            ("dt".into(), DataType::parse("STRING").unwrap()),
        ],
        partition_keys: if partitioned {
            vec!["dt".into()]
        } else {
            vec![]
        },
        primary_keys: vec![],
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        comment: None,
    }
}

/// Rows (id, name, dt) as a batch.
pub fn batch(rows: &[(i64, Option<&str>, &str)]) -> RecordBatch {
    let t = Table::new(TableStore::in_memory("x"));
    let _ = t;
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, true),
        arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("dt", arrow::datatypes::DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// The checksum the oracle must report for these rows.
pub fn checksum(rows: &[(i64, Option<&str>, &str)]) -> u64 {
    rows.iter().fold(0u64, |acc, (id, name, dt)| {
        acc.wrapping_add(row_hash(&format!(
            "{id}\u{1f}{}\u{1f}{dt}",
            name.unwrap_or("\\N")
        )))
    })
}

pub async fn local_table(dir: &std::path::Path, s: &TableSpec) -> Table {
    std::fs::create_dir_all(dir).unwrap();
    let store = tagkeeper::io::open_location(dir.to_str().unwrap(), &Default::default()).unwrap();
    write::create_table(store, s, 1).await.unwrap()
}

/// Append (or overwrite with) rows in one commit, with default options; panics on failure.
pub async fn commit_rows(
    t: &Table,
    rows: &[(i64, Option<&str>, &str)],
    scope: Option<OverwriteScope>,
) -> tagkeeper::write::CommitOutcome {
    append(
        t,
        vec![batch(rows)],
        scope,
        clock(),
        &CommitOptions::default(),
    )
    .await
    .unwrap()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_704_067_200_000))
}

#[tokio::test]
async fn writes_read_back_through_the_oracle_and_our_reader() {
    let dir = tempfile::tempdir().unwrap();
    let t = local_table(&dir.path().join("t"), &spec(true, &[])).await;
    let c = clock();
    let opts = CommitOptions::default();
    let r1 = [
        (1, Some("a"), "2024-01-01"),
        (2, None, "2024-01-01"),
        (3, Some("c"), "2024-01-02"),
    ];
    let r2 = [(4, Some("d"), "2024-01-02"), (5, Some("e"), "2024-01-03")];
    let r3 = [(6, Some("f"), "2024-01-02")];
    let o1 = append(&t, vec![batch(&r1)], None, c.clone(), &opts)
        .await
        .unwrap();
    c.advance_millis(1000);
    let o2 = append(&t, vec![batch(&r2)], None, c.clone(), &opts)
        .await
        .unwrap();
    c.advance_millis(1000);
    // Dynamic overwrite replaces only 2024-01-02.
    let o3 = append(
        &t,
        vec![batch(&r3)],
        Some(OverwriteScope::Dynamic),
        c.clone(),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!((o1.snapshot_id, o2.snapshot_id, o3.snapshot_id), (1, 2, 3));
    assert_eq!(
        (
            o3.commit_kind.as_str(),
            o3.deleted_files,
            o3.delta_record_count
        ),
        ("OVERWRITE", 2, -1)
    );

    let state = oracle::observe(&dir.path().join("t"));
    state.assert_whole("after writes");
    let want = |rows: &[(i64, Option<&str>, &str)]| (rows.len() as u64, checksum(rows));
    let v = |n: &str| (state.versions[n].rows, state.versions[n].checksum);
    assert_eq!(v("snapshot-1"), want(&r1));
    assert_eq!(
        v("snapshot-2"),
        want(&[r1.as_slice(), r2.as_slice()].concat())
    );
    let after: Vec<_> = [r1[0], r1[1], r2[1], r3[0]].to_vec();
    assert_eq!(v("snapshot-3"), want(&after));

    // Our reader agrees with the oracle, and every file records the snapshot that added it.
    for id in 1..=3 {
        let report = inspect::files(&t, &VersionSpec::Snapshot(SnapshotId(id)))
            .await
            .unwrap();
        let names: BTreeSet<String> = report
            .files
            .iter()
            .map(|f| f.path.rsplit('/').next().unwrap().to_string())
            .collect();
        let oracle_names: BTreeSet<String> = state.versions[&format!("snapshot-{id}")]
            .files
            .iter()
            .map(|f| f.1.clone())
            .collect();
        assert_eq!(names, oracle_names, "snapshot {id}");
        for f in &report.files {
            let added_in = f.commit_snapshot.unwrap();
            assert!(added_in <= id, "{}", f.path);
            let before = inspect::files(&t, &VersionSpec::Snapshot(SnapshotId(added_in - 1))).await;
            if let Ok(before) = before {
                assert!(
                    !before.files.iter().any(|b| b.path == f.path),
                    "{} existed before {added_in}",
                    f.path
                );
            }
        }
    }
    let snaps = inspect::snapshots(&t).await.unwrap();
    assert_eq!(
        snaps
            .snapshots
            .iter()
            .map(|s| s.total_record_count.unwrap())
            .collect::<Vec<_>>(),
        vec![3, 5, 4]
    );
    assert_eq!(snaps.snapshots[1].time_millis, 1_704_067_201_000);
}

#[tokio::test]
async fn static_partition_overwrite_and_table_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let t = local_table(&dir.path().join("t"), &spec(true, &[])).await;
    let c = clock();
    let opts = CommitOptions::default();
    append(
        &t,
        vec![batch(&[
            (1, Some("a"), "2024-01-01"),
            (2, Some("b"), "2024-01-02"),
        ])],
        None,
        c.clone(),
        &opts,
    )
    .await
    .unwrap();
    // Empty static overwrite: drops the partition (DELETE entries only).
    let scope = OverwriteScope::Partition(vec![(0, Datum::String("2024-01-01".into()))]);
    let o = append(&t, vec![], Some(scope.clone()), c.clone(), &opts)
        .await
        .unwrap();
    assert_eq!((o.added_files, o.deleted_files), (0, 1));
    // Writing outside the static partition is refused, and leaves no files behind.
    let before = oracle::observe(&dir.path().join("t"));
    let err = append(
        &t,
        vec![batch(&[(9, None, "2024-01-05")])],
        Some(scope),
        c.clone(),
        &opts,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let after = oracle::observe(&dir.path().join("t"));
    assert_eq!(before, after);
    let parquet = crate::fixtures::walk(&dir.path().join("t"))
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .count();
    assert_eq!(parquet, 2, "the refused write removed its data file");

    let dir2 = tempfile::tempdir().unwrap();
    let u = local_table(&dir2.path().join("u"), &spec(false, &[])).await;
    append(
        &u,
        vec![batch(&[(1, Some("a"), "x")])],
        None,
        c.clone(),
        &opts,
    )
    .await
    .unwrap();
    append(
        &u,
        vec![batch(&[(2, Some("b"), "y")])],
        None,
        c.clone(),
        &opts,
    )
    .await
    .unwrap();
    let o = append(
        &u,
        vec![batch(&[(3, Some("c"), "z")])],
        Some(OverwriteScope::Table),
        c.clone(),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(o.deleted_files, 2);
    let s = oracle::observe(&dir2.path().join("u"));
    assert_eq!(s.versions["snapshot-3"].rows, 1);
    assert_eq!(
        s.versions["snapshot-3"].checksum,
        checksum(&[(3, Some("c"), "z")])
    );
}

#[tokio::test]
async fn manifests_merge_and_keep_commit_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let opts_table = [("manifest.merge-min-count", "3")];
    let t = local_table(&path, &spec(true, &opts_table)).await;
    let c = clock();
    let opts = CommitOptions::default();
    let mut all = Vec::new();
    for i in 0..12i64 {
        let dt = if i % 2 == 0 {
            "2024-01-01"
        } else {
            "2024-01-02"
        };
        let row = (i, Some("n"), dt);
        all.push(row);
        append(&t, vec![batch(&[row])], None, c.clone(), &opts)
            .await
            .unwrap();
    }
    let latest = t.resolve(&VersionSpec::Latest).await.unwrap().snapshot;
    let base = t
        .manifest_list(&latest.base_manifest_list, "test")
        .await
        .unwrap();
    assert!(
        base.len() < 4,
        "minor merges keep the base small: {} manifests",
        base.len()
    );
    let files = inspect::files(&t, &VersionSpec::Latest).await.unwrap();
    let recorded: BTreeSet<i64> = files
        .files
        .iter()
        .map(|f| f.commit_snapshot.unwrap())
        .collect();
    assert_eq!(
        recorded,
        (1..=12).collect(),
        "merging kept every file's commit snapshot"
    );
    let s = oracle::observe(&path);
    s.assert_whole("merged");
    assert_eq!(s.versions["snapshot-12"].checksum, checksum(&all));

    // Full compaction drops DELETE entries once they pile up past the threshold.
    let dir2 = tempfile::tempdir().unwrap();
    let path2 = dir2.path().join("t");
    let t2 = local_table(
        &path2,
        &spec(true, &[("manifest.full-compaction-threshold-size", "1 b")]),
    )
    .await;
    for i in 0..4i64 {
        append(
            &t2,
            vec![batch(&[(i, None, "2024-01-01")])],
            Some(OverwriteScope::Dynamic),
            c.clone(),
            &opts,
        )
        .await
        .unwrap();
    }
    let latest = t2.resolve(&VersionSpec::Latest).await.unwrap().snapshot;
    let base = t2
        .entries_of_list(&latest.base_manifest_list, "test")
        .await
        .unwrap();
    assert!(
        base.iter()
            .all(|e| e.kind == tagkeeper::format::manifest::FileKind::Add),
        "{base:?}"
    );
    assert_eq!(base.len(), 1);
    assert_eq!(
        oracle::observe(&path2).versions["snapshot-4"].checksum,
        checksum(&[(3, None, "2024-01-01")])
    );
}

async fn concurrent_writers(store: TableStore, observe: Option<std::path::PathBuf>) {
    let t = write::create_table(store, &spec(true, &[("manifest.merge-min-count", "5")]), 1)
        .await
        .unwrap();
    let writers = 8i64;
    let commits_each = 4i64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let opts = CommitOptions {
                max_attempts: 200,
                ..Default::default()
            };
            let mut ids = Vec::new();
            for k in 0..commits_each {
                let id = w * 100 + k;
                let dt = if k % 2 == 0 {
                    "2024-01-01"
                } else {
                    "2024-01-02"
                };
                let o = append(
                    &t,
                    vec![batch(&[(id, Some("w"), dt)])],
                    None,
                    clock(),
                    &opts,
                )
                .await
                .unwrap();
                ids.push(o.snapshot_id);
            }
            ids
        }));
    }
    let mut committed = Vec::new();
    for task in tasks {
        committed.extend(task.await.unwrap());
    }
    committed.sort();
    let n = writers * commits_each;
    assert_eq!(
        committed,
        (1..=n).collect::<Vec<_>>(),
        "no lost or duplicated commit"
    );
    let snaps = inspect::snapshots(&t).await.unwrap();
    assert_eq!(snaps.snapshots.len() as i64, n);
    let files = inspect::files(&t, &VersionSpec::Latest).await.unwrap();
    assert_eq!(files.total_rows, n);
    assert_eq!(files.total_files as i64, n, "every committed file is live");
    if let Some(path) = observe {
        let s = oracle::observe(&path);
        s.assert_whole("concurrent");
        assert_eq!(s.versions[&format!("snapshot-{n}")].rows, n as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_in_memory() {
    concurrent_writers(TableStore::in_memory("t"), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        tagkeeper::io::open_location(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    concurrent_writers(store, Some(dir.path().to_path_buf())).await;
}

#[tokio::test]
async fn a_lost_response_on_publish_is_resolved_by_reading_back() {
    let fault = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let h = fault.handle();
    let store = TableStore::new(Arc::new(fault), "t", 4, "memory:///t");
    let t = write::create_table(store, &spec(false, &[]), 1)
        .await
        .unwrap();
    commit_rows(&t, &[(1, None, "x")], None).await;
    // Find the request number of the next snapshot put by a dry run on a copy of the counts:
    // the publish is the last PUT before the LATEST hint. Lose every PUT response in turn and
    // check the commit still lands exactly once.
    let before = h.requests();
    commit_rows(&t, &[(2, None, "x")], None).await;
    let per_commit = h.requests() - before;
    for k in 1..=per_commit {
        let start = h.requests();
        h.lose_response(start + k, InjectedError::Generic);
        let r = append(
            &t,
            vec![batch(&[(3, None, "x")])],
            None,
            clock(),
            &CommitOptions::default(),
        )
        .await;
        let snaps = inspect::snapshots(&t).await.unwrap();
        let latest = snaps.latest.unwrap();
        match r {
            Ok(o) => assert_eq!(o.snapshot_id, latest, "k={k}"),
            Err(e) => {
                // Losing the response of a data-file or manifest PUT fails before publishing.
                assert!(!matches!(e, Error::CommitUnknown { .. }), "k={k}: {e}");
            }
        }
        assert_eq!(
            snaps.snapshots.len() as i64,
            latest,
            "k={k}: ids stay contiguous"
        );
        h.reset();
    }
}

#[tokio::test]
async fn merging_manifests_written_by_pypaimon_keeps_every_file() {
    // pypaimon's manifests use another Avro schema (record names, field set): they cannot be
    // block-copied and are re-encoded; ours are copied. Either way nothing may be lost.
    let (_d, path) = crate::common::copy_table("append_many");
    let before = oracle::observe(&path);
    let t = crate::common::open(&path).await;
    let latest = t.resolve(&VersionSpec::Latest).await.unwrap().snapshot;
    let lists_before = t
        .manifest_list(&latest.base_manifest_list, "t")
        .await
        .unwrap()
        .len()
        + t.manifest_list(&latest.delta_manifest_list, "t")
            .await
            .unwrap()
            .len();
    let schema =
        tagkeeper::write::arrow_types::arrow_schema(&t.latest_schema().await.unwrap()).unwrap();
    let csv = bytes::Bytes::from_static(b"id,name,dt\n9000,merged,2024-03-01\n");
    let batches = tagkeeper::write::input::read_input(
        csv,
        tagkeeper::write::input::InputFormat::Csv,
        &schema,
        "x.csv",
    )
    .unwrap();
    let opts = CommitOptions {
        merge: Some(tagkeeper::write::merge::MergeOptions {
            min_count: 3,
            ..Default::default()
        }),
        ..Default::default()
    };
    let o = append(&t, batches, None, clock(), &opts).await.unwrap();
    let new = t.resolve(&VersionSpec::Latest).await.unwrap().snapshot;
    let base = t.manifest_list(&new.base_manifest_list, "t").await.unwrap();
    assert_eq!(
        base.len(),
        1,
        "12 pypaimon manifests merged into one (was {lists_before})"
    );
    let after = oracle::observe(&path);
    after.assert_whole("after merge");
    for (name, v) in &before.versions {
        assert_eq!(after.versions[name], *v, "{name} unchanged");
    }
    let prev = &before.versions["snapshot-12"];
    let now = &after.versions[&format!("snapshot-{}", o.snapshot_id)];
    assert_eq!(now.rows, prev.rows + 1);
    assert_eq!(now.files.len(), prev.files.len() + 1);
    assert!(now.files.is_superset(&prev.files));
}

/// A table in a fault store, and the store's handle.
async fn faulty_table(partitioned: bool) -> (Table, tagkeeper::io::fault::FaultHandle) {
    let fault = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let h = fault.handle();
    let store = TableStore::new(Arc::new(fault), "t", 4, "memory:///t");
    (
        write::create_table(store, &spec(partitioned, &[]), 1)
            .await
            .unwrap(),
        h,
    )
}

/// The request number at which a commit publishes `snapshot/snapshot-<id>`, learned from a dry
/// run of the same commit on an identical table.
async fn publish_request(
    rows_before: &[(i64, Option<&str>, &str)],
    rows: &[(i64, Option<&str>, &str)],
    scope: Option<OverwriteScope>,
) -> u64 {
    let (t, h) = faulty_table(true).await;
    commit_rows(&t, rows_before, None).await;
    let start = h.requests();
    commit_rows(&t, rows, scope).await;
    let log = h.log();
    let (n, _, _) = log
        .iter()
        .find(|(n, kind, path)| {
            *n > start && *kind == "put" && path.ends_with("snapshot/snapshot-2")
        })
        .unwrap();
    n - start
}

#[tokio::test]
async fn an_overwrite_that_loses_to_a_change_of_its_partition_fails_clearly() {
    let base = [(1, Some("a"), "2024-01-01"), (2, Some("b"), "2024-01-02")];
    let replacement = [(9, Some("z"), "2024-01-01")];
    let offset = publish_request(&base, &replacement, Some(OverwriteScope::Dynamic)).await;

    for (other_dt, expect_conflict) in [("2024-01-01", true), ("2024-01-02", false)] {
        let (t, h) = faulty_table(true).await;
        commit_rows(&t, &base, None).await;
        // Another writer commits into `other_dt` just before the overwrite publishes.
        let other = t.clone();
        let dt = other_dt.to_string();
        h.before_request(
            h.requests() + offset,
            Box::pin(async move {
                let rows = [(5, Some("late"), dt.as_str())];
                commit_rows(&other, &rows, None).await;
            }),
        );
        let r = append(
            &t,
            vec![batch(&replacement)],
            Some(OverwriteScope::Dynamic),
            clock(),
            &CommitOptions::default(),
        )
        .await;
        let files = inspect::files(&t, &VersionSpec::Latest).await.unwrap();
        if expect_conflict {
            let err = r.unwrap_err();
            assert!(matches!(err, Error::Conflict(_)), "{err}");
            assert!(
                err.to_string().contains("dt=2024-01-01") && err.to_string().contains("snapshot 2"),
                "{err}"
            );
            // Nothing of the overwrite was committed: snapshot 2 is the other writer's.
            assert_eq!(files.snapshot_id, 2);
            assert_eq!(files.total_rows, 3);
        } else {
            let o = r.unwrap();
            assert_eq!((o.snapshot_id, o.attempts, o.deleted_files), (3, 2, 1));
            assert_eq!(
                files.total_rows, 3,
                "01-01 replaced by one row, 01-02 kept both"
            );
        }
    }
}

#[tokio::test]
async fn a_retried_commit_records_its_final_snapshot_id() {
    let base = [(1, Some("a"), "2024-01-01")];
    let mine = [(2, Some("mine"), "2024-01-01")];
    let offset = publish_request(&base, &mine, None).await;
    let (t, h) = faulty_table(true).await;
    commit_rows(&t, &base, None).await;
    let other = t.clone();
    h.before_request(
        h.requests() + offset,
        Box::pin(async move {
            commit_rows(&other, &[(3, Some("theirs"), "2024-01-02")], None).await;
        }),
    );
    let o = commit_rows(&t, &mine, None).await;
    assert_eq!(
        (o.snapshot_id, o.attempts),
        (3, 2),
        "lost snapshot 2, committed 3"
    );
    for id in 1..=3i64 {
        let s = t.try_load_snapshot(SnapshotId(id)).await.unwrap().unwrap();
        let delta = t
            .entries_of_list(&s.delta_manifest_list, "t")
            .await
            .unwrap();
        assert_eq!(delta.len(), 1);
        assert_eq!(
            delta[0].file.commit_snapshot,
            Some(id),
            "snapshot {id}'s delta records {id}"
        );
    }
    // The lost attempt's manifests were removed: every manifest file is referenced.
    let listed = t.store().list("manifest").await.unwrap();
    let mut referenced = BTreeSet::new();
    for id in 1..=3i64 {
        let s = t.try_load_snapshot(SnapshotId(id)).await.unwrap().unwrap();
        for list in [&s.base_manifest_list, &s.delta_manifest_list] {
            referenced.insert(format!("manifest/{list}"));
            for m in t.manifest_list(list, "t").await.unwrap() {
                referenced.insert(format!("manifest/{}", m.file_name));
            }
        }
    }
    let on_store: BTreeSet<String> = listed.into_iter().map(|o| o.key).collect();
    assert_eq!(on_store, referenced);
}
