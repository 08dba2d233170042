//! Iceberg-compatible metadata (`metadata.iceberg.storage`): the edits Java's
//! `IcebergCommitCallback` makes to `metadata/v<N>.metadata.json` when a tag is created,
//! replaced or deleted. Pure: bytes in, bytes out.
//!
//! Java rewrites the latest metadata file in place (its version is the latest Paimon snapshot
//! id) with the tag as an Iceberg ref `{"snapshot-id", "type": "tag", "max-ref-age-ms":
//! Long.MAX_VALUE}` (tags are expired by Paimon, never by Iceberg). A tag whose snapshot is not
//! among the Iceberg snapshots is left out: a ref to a missing snapshot makes every Iceberg
//! read fail (Paimon #6425). Every other field is kept as it is, in its order.

use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};
use crate::format::jackson;

/// The outcome of adding a tag ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefEdit {
    /// The metadata with the ref set.
    Updated(Vec<u8>),
    /// The tag's snapshot is not an Iceberg snapshot of this metadata: left out, as Java does.
    SnapshotNotInIceberg,
}

fn parse(bytes: &[u8], key: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes).map_err(|e| Error::corrupt(key, e))? {
        Value::Object(m) => Ok(m),
        _ => Err(Error::corrupt(key, "not a JSON object")),
    }
}

fn render(m: Map<String, Value>) -> Vec<u8> {
    jackson::to_pretty_string(&Value::Object(m)).into_bytes()
}

fn refs<'a>(m: &'a mut Map<String, Value>, key: &str) -> Result<&'a mut Map<String, Value>> {
    match m.entry("refs").or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(r) => Ok(r),
        _ => Err(Error::corrupt(key, "refs is not an object")),
    }
}

/// Set the ref `tag` to `snapshot_id` (Java's `notifyCreation`), if that snapshot is one of the
/// metadata's Iceberg snapshots. `key` names the file in errors.
pub fn set_tag_ref(metadata: &[u8], tag: &str, snapshot_id: i64, key: &str) -> Result<RefEdit> {
    let mut m = parse(metadata, key)?;
    let known = m
        .get("snapshots")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|s| s.get("snapshot-id").and_then(Value::as_i64) == Some(snapshot_id))
        });
    if !known {
        return Ok(RefEdit::SnapshotNotInIceberg);
    }
    let mut r = Map::new();
    r.insert(
        "snapshot-id".into(),
        Value::Number(Number::from(snapshot_id)),
    );
    r.insert("type".into(), Value::String("tag".into()));
    r.insert(
        "max-ref-age-ms".into(),
        Value::Number(Number::from(i64::MAX)),
    );
    refs(&mut m, key)?.insert(tag.to_string(), Value::Object(r));
    Ok(RefEdit::Updated(render(m)))
}

/// Remove the ref `tag` (Java's `notifyDeletion`); `None` when there is none.
pub fn remove_tag_ref(metadata: &[u8], tag: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let mut m = parse(metadata, key)?;
    if refs(&mut m, key)?.shift_remove(tag).is_none() {
        return Ok(None);
    }
    Ok(Some(render(m)))
}

/// The Iceberg snapshots of a metadata file: `(snapshot id, manifest list path)`, in order.
pub fn snapshots(metadata: &[u8], key: &str) -> Result<Vec<(i64, String)>> {
    let m = parse(metadata, key)?;
    let Some(list) = m.get("snapshots") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| Error::corrupt(key, "snapshots is not an array"))?;
    list.iter()
        .map(|s| {
            let id = s
                .get("snapshot-id")
                .and_then(Value::as_i64)
                .ok_or_else(|| Error::corrupt(key, "a snapshot without a snapshot-id"))?;
            let path = s
                .get("manifest-list")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error::corrupt(key, format!("snapshot {id} has no manifest-list"))
                })?;
            Ok((id, path.to_string()))
        })
        .collect()
}

/// The table location a metadata file records (`location`): its manifest lists and manifests
/// are named by absolute paths under it.
pub fn location(metadata: &[u8], key: &str) -> Result<String> {
    parse(metadata, key)?
        .get("location")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::corrupt(key, "no location"))
}

/// The key, relative to the table root, of an absolute `path` the Iceberg metadata names
/// under the table `location` (either may carry a `file:` scheme). `None` for a path outside
/// the table: such a file is never deleted.
pub fn relative_key(location: &str, path: &str) -> Option<String> {
    fn bare(p: &str) -> &str {
        let p = p.strip_prefix("file://").unwrap_or(p);
        p.strip_prefix("file:").unwrap_or(p)
    }
    let root = bare(location).trim_end_matches('/');
    let rest = bare(path).strip_prefix(root)?.strip_prefix('/')?;
    (!rest.is_empty() && !rest.split('/').any(|c| c == ".." || c.is_empty()))
        .then(|| rest.to_string())
}

/// Iceberg metadata rolled back to `target`: what a reader of the Iceberg view must see after
/// the Paimon snapshots newer than the target are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    /// The metadata, to be written as `v<target>.metadata.json`.
    pub metadata: Vec<u8>,
    /// Manifest lists of the Iceberg snapshots that remain.
    pub kept_lists: Vec<String>,
}

/// Roll the metadata back to Iceberg snapshot `target`, as Java's commit callback would have
/// written it had the newer commits never happened: only snapshots up to the target remain,
/// the target is current (and the `main` ref, when there is one, names it), refs to newer
/// snapshots go (their Paimon tags are deleted by the rollback), `snapshot-log` entries of
/// newer snapshots go, `last-sequence-number` is the target's sequence number and
/// `last-updated-ms` is `now_ms`. Every other field is kept as it is, in its order (schemas
/// too: Paimon's rollback keeps the latest schema). `None` when the target is not an Iceberg
/// snapshot of this metadata (the Iceberg view cannot be moved to it without writing new
/// Iceberg manifests).
pub fn roll_back(
    metadata: &[u8],
    target: i64,
    now_ms: i64,
    key: &str,
) -> Result<Option<RolledBack>> {
    let mut m = parse(metadata, key)?;
    let all = snapshots(metadata, key)?;
    if !all.iter().any(|(id, _)| *id == target) {
        return Ok(None);
    }
    let kept_lists = all
        .iter()
        .filter(|(id, _)| *id <= target)
        .map(|(_, l)| l.clone())
        .collect();
    let mut sequence = Value::Number(Number::from(target));
    if let Some(Value::Array(list)) = m.get_mut("snapshots") {
        list.retain(|s| {
            s.get("snapshot-id")
                .and_then(Value::as_i64)
                .is_some_and(|id| id <= target)
        });
        if let Some(seq) = list
            .iter()
            .find(|s| s.get("snapshot-id").and_then(Value::as_i64) == Some(target))
            .and_then(|s| s.get("sequence-number"))
        {
            sequence = seq.clone();
        }
    }
    if let Some(Value::Array(log)) = m.get_mut("snapshot-log") {
        log.retain(|e| {
            e.get("snapshot-id")
                .and_then(Value::as_i64)
                .is_some_and(|id| id <= target)
        });
    }
    let set = |m: &mut Map<String, Value>, k: &str, v: Value| {
        if let Some(slot) = m.get_mut(k) {
            *slot = v;
        } else {
            m.insert(k.to_string(), v);
        }
    };
    set(&mut m, "last-sequence-number", sequence);
    set(
        &mut m,
        "last-updated-ms",
        Value::Number(Number::from(now_ms)),
    );
    set(
        &mut m,
        "current-snapshot-id",
        Value::Number(Number::from(target)),
    );
    let r = refs(&mut m, key)?;
    r.retain(|name, v| {
        name == "main"
            || v.get("snapshot-id")
                .and_then(Value::as_i64)
                .is_some_and(|id| id <= target)
    });
    if let Some(Value::Object(main)) = r.get_mut("main") {
        main.insert("snapshot-id".into(), Value::Number(Number::from(target)));
    }
    Ok(Some(RolledBack {
        metadata: render(m),
        kept_lists,
    }))
}

/// The manifests an Iceberg manifest list names (`manifest_path`, data and delete manifests
/// alike). `path` names the file in errors.
pub fn manifest_paths(list: &[u8], path: &str) -> Result<Vec<String>> {
    crate::format::avro::read_records(list, path, |r| r.str("manifest_path"))
}

/// The data files an Iceberg manifest lists as live (`data_file.file_path` of every entry
/// whose `status` is not 2, DELETED). `path` names the file in errors.
pub fn live_data_files(manifest: &[u8], path: &str) -> Result<Vec<String>> {
    let entries = crate::format::avro::read_records(manifest, path, |r| {
        Ok((r.int("status")?, r.rec("data_file")?.str("file_path")?))
    })?;
    Ok(entries
        .into_iter()
        .filter(|(status, _)| *status != 2)
        .map(|(_, p)| p)
        .collect())
}

/// The version of an Iceberg metadata file name (`v<N>.metadata.json`).
pub fn metadata_version(file_name: &str) -> Option<i64> {
    file_name
        .strip_prefix('v')?
        .strip_suffix(".metadata.json")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#"{
  "format-version" : 2,
  "snapshots" : [ {
    "snapshot-id" : 1
  }, {
    "snapshot-id" : 2
  } ],
  "current-snapshot-id" : 2,
  "refs" : { }
}"#;

    #[test]
    fn a_tag_ref_is_set_as_java_writes_it_and_removed_again() {
        let RefEdit::Updated(with) = set_tag_ref(META.as_bytes(), "t", 1, "m").unwrap() else {
            panic!("snapshot 1 is an Iceberg snapshot")
        };
        let v: Value = serde_json::from_slice(&with).unwrap();
        assert_eq!(
            v["refs"]["t"],
            serde_json::json!({"snapshot-id": 1, "type": "tag", "max-ref-age-ms": i64::MAX})
        );
        // Everything else kept, in order.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["format-version", "snapshots", "current-snapshot-id", "refs"]
        );
        let without = remove_tag_ref(&with, "t", "m").unwrap().unwrap();
        let w: Value = serde_json::from_slice(&without).unwrap();
        assert_eq!(w, serde_json::from_str::<Value>(META).unwrap());
        assert_eq!(remove_tag_ref(&without, "t", "m").unwrap(), None);
    }

    #[test]
    fn a_tag_of_a_snapshot_iceberg_does_not_have_is_left_out() {
        assert_eq!(
            set_tag_ref(META.as_bytes(), "t", 3, "m").unwrap(),
            RefEdit::SnapshotNotInIceberg
        );
        let err = set_tag_ref(b"[]", "t", 1, "meta.json").unwrap_err();
        assert!(err.to_string().contains("meta.json"), "{err}");
    }

    const THREE: &str = r#"{
  "format-version" : 2,
  "location" : "s3://b/wh/db.db/t",
  "last-sequence-number" : 3,
  "last-updated-ms" : 30,
  "snapshots" : [ {
    "sequence-number" : 1,
    "snapshot-id" : 1,
    "manifest-list" : "s3://b/wh/db.db/t/metadata/snap-1-a.avro"
  }, {
    "sequence-number" : 2,
    "snapshot-id" : 2,
    "parent-snapshot-id" : 1,
    "manifest-list" : "s3://b/wh/db.db/t/metadata/snap-1-b.avro"
  }, {
    "sequence-number" : 3,
    "snapshot-id" : 3,
    "parent-snapshot-id" : 2,
    "manifest-list" : "s3://b/wh/db.db/t/metadata/snap-1-c.avro"
  } ],
  "current-snapshot-id" : 3,
  "snapshot-log" : [ { "snapshot-id" : 2, "timestamp-ms" : 20 }, { "snapshot-id" : 3, "timestamp-ms" : 30 } ],
  "refs" : {
    "main" : { "snapshot-id" : 3, "type" : "branch" },
    "old" : { "snapshot-id" : 1, "type" : "tag", "max-ref-age-ms" : 9223372036854775807 },
    "new" : { "snapshot-id" : 3, "type" : "tag", "max-ref-age-ms" : 9223372036854775807 }
  }
}"#;

    #[test]
    fn rolling_back_keeps_the_target_and_older_snapshots_and_their_refs() {
        let r = roll_back(THREE.as_bytes(), 2, 99, "m").unwrap().unwrap();
        let v: Value = serde_json::from_slice(&r.metadata).unwrap();
        let ids: Vec<i64> = v["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["snapshot-id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(v["current-snapshot-id"], 2);
        assert_eq!(v["last-sequence-number"], 2);
        assert_eq!(v["last-updated-ms"], 99);
        assert_eq!(
            v["snapshot-log"],
            serde_json::json!([{"snapshot-id": 2, "timestamp-ms": 20}])
        );
        assert_eq!(
            v["refs"],
            serde_json::json!({
                "main": {"snapshot-id": 2, "type": "branch"},
                "old": {"snapshot-id": 1, "type": "tag", "max-ref-age-ms": i64::MAX}
            })
        );
        assert_eq!(
            r.kept_lists,
            [
                "s3://b/wh/db.db/t/metadata/snap-1-a.avro",
                "s3://b/wh/db.db/t/metadata/snap-1-b.avro"
            ]
        );
        // Field order is kept.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "format-version",
                "location",
                "last-sequence-number",
                "last-updated-ms",
                "snapshots",
                "current-snapshot-id",
                "snapshot-log",
                "refs"
            ]
        );
        // Rolling back what is rolled back changes nothing but the time.
        let again = roll_back(&r.metadata, 2, 99, "m").unwrap().unwrap();
        assert_eq!(again, r);
        // A snapshot Iceberg does not have cannot become current.
        assert_eq!(roll_back(THREE.as_bytes(), 4, 99, "m").unwrap(), None);
    }

    #[test]
    fn iceberg_paths_map_to_table_keys_only_under_the_table() {
        let loc = "s3://b/wh/db.db/t";
        assert_eq!(
            relative_key(loc, "s3://b/wh/db.db/t/metadata/x.avro").as_deref(),
            Some("metadata/x.avro")
        );
        assert_eq!(
            relative_key(loc, "s3://b/wh/db.db/t2/metadata/x.avro"),
            None
        );
        assert_eq!(relative_key(loc, "s3://b/wh/db.db/t/../u/x.avro"), None);
        assert_eq!(relative_key(loc, "s3://b/wh/db.db/t"), None);
        assert_eq!(
            relative_key("/w/t/", "file:/w/t/metadata/a.avro").as_deref(),
            Some("metadata/a.avro")
        );
        assert_eq!(metadata_version("v12.metadata.json"), Some(12));
        assert_eq!(metadata_version("v12.metadata.json.tmp"), None);
        assert_eq!(metadata_version("version-hint.text"), None);
        assert_eq!(location(THREE.as_bytes(), "m").unwrap(), loc);
    }
}
