//! For every snapshot and tag of every pypaimon-written fixture table, tagkeeper lists exactly
//! the files and row counts pypaimon reported (testdata/expected/*.json).

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::inspect;
use tagkeeper::table::VersionSpec;
use tagkeeper::Error;

use crate::common::*;

/// The comparable fields of a file, from either side.
fn file_key(f: &Value) -> String {
    json!({
        "path": f["path"], "partition": f["partition"], "bucket": f["bucket"],
        "level": f["level"], "file_size": f["file_size"], "row_count": f["row_count"],
    })
    .to_string()
}

fn ours(report: &inspect::FilesReport) -> Vec<String> {
    let v = serde_json::to_value(report).unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(file_key)
        .collect()
}

fn theirs(version: &Value) -> Vec<String> {
    let mut v: Vec<String> = version["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(file_key)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_snapshot_and_tag_lists_what_pypaimon_reads() {
    let mut checked = 0;
    for name in fixture_tables() {
        let expected = expected(&name);
        let table = open(&fixture(&name)).await;

        let snapshots = inspect::snapshots(&table).await.unwrap();
        let want_ids: Vec<i64> = expected["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect();
        let got_ids: Vec<i64> = snapshots.snapshots.iter().map(|s| s.id).collect();
        assert_eq!(got_ids, want_ids, "{name}: snapshot ids");
        assert!(
            snapshots.warnings.is_empty(),
            "{name}: {:?}",
            snapshots.warnings
        );

        for snap in expected["snapshots"].as_array().unwrap() {
            let id = snap["id"].as_i64().unwrap();
            let report = inspect::files(&table, &VersionSpec::Snapshot(SnapshotId(id)))
                .await
                .unwrap_or_else(|e| panic!("{name} snapshot {id}: {e}"));
            let mut got = ours(&report);
            got.sort();
            assert_eq!(got, theirs(snap), "{name} snapshot {id}: files");
            assert_eq!(
                report.total_rows,
                snap["file_row_count"].as_i64().unwrap(),
                "{name} {id}"
            );
            assert_eq!(report.total_files, snap["files"].as_array().unwrap().len());
            let sum: i64 = snap["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["file_size"].as_i64().unwrap())
                .sum();
            assert_eq!(report.total_bytes, sum, "{name} {id}: bytes");
            checked += 1;
        }

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

        for tag in expected["tags"].as_array().unwrap() {
            let tag_name = tag["name"].as_str().unwrap();
            let spec = VersionSpec::Tag(TagName::new(tag_name).unwrap());
            let report = inspect::files(&table, &spec).await.unwrap();
            let mut got = ours(&report);
            got.sort();
            assert_eq!(got, theirs(tag), "{name} tag {tag_name}: files");
            assert_eq!(report.tag.as_deref(), Some(tag_name));
            assert_eq!(report.snapshot_id, tag["snapshot_id"].as_i64().unwrap());
            assert_eq!(report.total_rows, tag["file_row_count"].as_i64().unwrap());
            checked += 1;
        }
    }
    // 12 + 7 + 5 + 3 + 6 + 4 + 0 + 3 snapshots and 5 + 1 tags at the time of writing.
    assert!(checked >= 46, "only {checked} versions checked");
}

#[tokio::test]
async fn latest_is_the_default_and_matches_the_last_snapshot() {
    let table = open(&fixture("append_many")).await;
    let latest = inspect::files(&table, &VersionSpec::Latest).await.unwrap();
    assert_eq!(latest.snapshot_id, 12);
    assert_eq!(latest.total_files, 12);
    assert_eq!(latest.total_rows, 120);
}

#[tokio::test]
async fn timestamps_resolve_to_the_last_snapshot_at_or_before() {
    let table = open(&fixture("append_many")).await;
    let report = inspect::snapshots(&table).await.unwrap();
    for s in &report.snapshots {
        // The last snapshot with time <= s.time_millis (times are non-decreasing).
        let want = report
            .snapshots
            .iter()
            .filter(|o| o.time_millis <= s.time_millis)
            .map(|o| o.id)
            .max()
            .unwrap();
        let got = table
            .resolve(&VersionSpec::Timestamp(s.time_millis))
            .await
            .unwrap();
        assert_eq!(got.snapshot.id.0, want, "at {}", s.time_millis);
    }
    let first = report.snapshots[0].time_millis;
    let err = table
        .resolve(&VersionSpec::Timestamp(first - 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoSnapshotAtTime { .. }), "{err}");
    let last = table
        .resolve(&VersionSpec::Timestamp(i64::MAX))
        .await
        .unwrap();
    assert_eq!(last.snapshot.id.0, 12);
}

#[tokio::test]
async fn rollback_fixture_has_orphans_that_no_version_lists() {
    // pypaimon's rollback leaves the rolled-back snapshots' data files on disk.
    let dir = fixture("rolled_back");
    let on_disk: BTreeSet<String> = walk(&dir)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    let table = open(&dir).await;
    let mut listed = BTreeSet::new();
    for id in 1..=4 {
        let r = inspect::files(&table, &VersionSpec::Snapshot(SnapshotId(id)))
            .await
            .unwrap();
        listed.extend(r.files.into_iter().map(|f| f.path));
    }
    assert!(listed.is_subset(&on_disk));
    assert_eq!(
        on_disk.len() - listed.len(),
        3,
        "rolled-back files left for orphan cleaning"
    );
}

#[tokio::test]
async fn empty_table_has_no_snapshots_and_files_says_so() {
    let table = open(&fixture("empty")).await;
    let s = inspect::snapshots(&table).await.unwrap();
    assert_eq!((s.earliest, s.latest, s.snapshots.len()), (None, None, 0));
    assert!(inspect::tags(&table).await.unwrap().tags.is_empty());
    let err = inspect::files(&table, &VersionSpec::Latest)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoSnapshots { .. }), "{err}");
    assert_eq!(err.exit_code(), 1);
}

#[tokio::test]
async fn tag_with_retention_reads_jackson_fields() {
    let table = open(&fixture("tagged")).await;
    let tags = inspect::tags(&table).await.unwrap();
    let daily = tags.tags.iter().find(|t| t.name == "daily-3").unwrap();
    assert_eq!(daily.time_retained_secs, Some(86400.0));
    assert!(daily.create_time.is_some());
    let plain = tags.tags.iter().find(|t| t.name == "first").unwrap();
    assert_eq!(
        (plain.create_time.as_ref(), plain.time_retained_secs),
        (None, None)
    );
}

#[tokio::test]
async fn dynamic_bucket_index_files_are_listed() {
    let table = open(&fixture("dynamic_bucket")).await;
    let v = table.resolve(&VersionSpec::Latest).await.unwrap();
    let index = table.index_files(&v.snapshot, "latest").await.unwrap();
    assert!(!index.is_empty());
    for e in &index {
        assert_eq!(e.index_type, "HASH");
        assert!(
            fixture("dynamic_bucket")
                .join("index")
                .join(&e.file_name)
                .is_file(),
            "{}",
            e.file_name
        );
    }
}

#[tokio::test]
async fn snapshot_json_round_trips_losslessly_in_content() {
    // Every field of every fixture snapshot survives decode + encode.
    for name in fixture_tables() {
        let dir = fixture(&name).join("snapshot");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file.starts_with("snapshot-") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let snap = tagkeeper::format::snapshot::Snapshot::decode(&bytes, &file).unwrap();
            let original: Value = serde_json::from_slice(&bytes).unwrap();
            let again: Value = serde_json::from_slice(&snap.encode()).unwrap();
            assert_eq!(original, again, "{name}/{file}");
        }
    }
}

pub(crate) fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn go(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    go(dir, dir, &mut out);
    out
}
