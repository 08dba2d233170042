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
}
