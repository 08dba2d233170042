//! Snapshot JSON (`snapshot/snapshot-N`), read losslessly.
//!
//! [`Snapshot`] keeps the original JSON object next to the typed fields, so that a tag or a
//! restored snapshot written from it carries every field, including ones added by Paimon
//! versions newer than this tool (paimon-format.md §2, gotcha G1).

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::format::ids::{SchemaId, SnapshotId};
use crate::format::jackson;

/// Java's `Long.MIN_VALUE`, which Flink writes for "no watermark".
pub const NO_WATERMARK: i64 = i64::MIN;

/// The kind of commit that produced a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitKind {
    /// New files added.
    Append,
    /// Files rewritten by compaction.
    Compact,
    /// Partitions or the whole table replaced.
    Overwrite,
    /// Statistics only.
    Analyze,
    /// A kind this tool does not know, kept verbatim.
    Other(String),
}

impl CommitKind {
    fn parse(s: &str) -> Self {
        match s {
            "APPEND" => CommitKind::Append,
            "COMPACT" => CommitKind::Compact,
            "OVERWRITE" => CommitKind::Overwrite,
            "ANALYZE" => CommitKind::Analyze,
            other => CommitKind::Other(other.to_string()),
        }
    }

    /// The JSON spelling.
    pub fn as_str(&self) -> &str {
        match self {
            CommitKind::Append => "APPEND",
            CommitKind::Compact => "COMPACT",
            CommitKind::Overwrite => "OVERWRITE",
            CommitKind::Analyze => "ANALYZE",
            CommitKind::Other(s) => s,
        }
    }
}

/// A decoded snapshot. The typed fields are what maintenance needs; `raw` is everything.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Format version (`version`; 1 when absent, as in Paimon ≤ 0.2).
    pub version: i64,
    /// Snapshot id.
    pub id: SnapshotId,
    /// Schema the snapshot was committed under.
    pub schema_id: SchemaId,
    /// Manifest list of all files live before this commit.
    pub base_manifest_list: String,
    /// Manifest list of this commit's changes.
    pub delta_manifest_list: String,
    /// Manifest list of this commit's changelog files, if any.
    pub changelog_manifest_list: Option<String>,
    /// Index manifest (full list of index files), if any.
    pub index_manifest: Option<String>,
    /// Statistics file name in `statistics/`, if any.
    pub statistics: Option<String>,
    /// Committer identity (usually a UUID per job).
    pub commit_user: String,
    /// Committer's identifier of this commit (`i64::MAX` for batch commits).
    pub commit_identifier: i64,
    /// Kind of commit.
    pub commit_kind: CommitKind,
    /// Commit time, epoch milliseconds.
    pub time_millis: i64,
    /// Total live records after the commit (absent in Paimon ≤ 0.3).
    pub total_record_count: Option<i64>,
    /// Records added (negative when removed) by the commit.
    pub delta_record_count: Option<i64>,
    /// Changelog records of the commit.
    pub changelog_record_count: Option<i64>,
    /// Watermark; `None` when absent, null or `Long.MIN_VALUE`.
    pub watermark: Option<i64>,
    raw: Map<String, Value>,
}

/// The two keys a tag adds to a snapshot.
pub(crate) const TAG_KEYS: [&str; 2] = ["tagCreateTime", "tagTimeRetained"];

impl Snapshot {
    /// Decode snapshot JSON. `path` is used only in error messages.
    pub fn decode(bytes: &[u8], path: &str) -> Result<Self> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(path, format!("invalid JSON: {e}")))?;
        match value {
            Value::Object(map) => Self::from_map(map, path),
            other => Err(Error::corrupt(
                path,
                format!("expected a JSON object, found {}", json_kind(&other)),
            )),
        }
    }

    /// Build from an already parsed JSON object (tag keys, if present, are removed).
    pub fn from_map(mut raw: Map<String, Value>, path: &str) -> Result<Self> {
        for key in TAG_KEYS {
            raw.remove(key);
        }
        let f = Fields { map: &raw, path };
        Ok(Snapshot {
            version: f.opt_i64("version")?.unwrap_or(1),
            id: SnapshotId(f.req_i64("id")?),
            schema_id: SchemaId(f.req_i64("schemaId")?),
            base_manifest_list: f.req_file_name("baseManifestList")?,
            delta_manifest_list: f.req_file_name("deltaManifestList")?,
            changelog_manifest_list: f.opt_file_name("changelogManifestList")?,
            index_manifest: f.opt_file_name("indexManifest")?,
            statistics: f.opt_file_name("statistics")?,
            commit_user: f.req_str("commitUser")?,
            commit_identifier: f.req_i64("commitIdentifier")?,
            commit_kind: CommitKind::parse(&f.req_str("commitKind")?),
            time_millis: f.req_i64("timeMillis")?,
            total_record_count: f.opt_i64("totalRecordCount")?,
            delta_record_count: f.opt_i64("deltaRecordCount")?,
            changelog_record_count: f.opt_i64("changelogRecordCount")?,
            watermark: f.opt_i64("watermark")?.filter(|w| *w != NO_WATERMARK),
            raw,
        })
    }

    /// Every field as read, in file order (tag fields excluded).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The typed fields alone, for a reader that holds many snapshots and never writes them
    /// (the liveness model reads ten thousand on a large table; their JSON maps were 30 MB).
    /// Not to be written back: [`Snapshot::encode`] would lose every field.
    pub(crate) fn into_typed_only(mut self) -> Self {
        self.raw = Map::new();
        self
    }

    /// Every manifest-list file this snapshot names (base, delta, changelog).
    pub fn manifest_lists(&self) -> Vec<&str> {
        let mut v = vec![
            self.base_manifest_list.as_str(),
            self.delta_manifest_list.as_str(),
        ];
        if let Some(c) = &self.changelog_manifest_list {
            v.push(c);
        }
        v
    }

    /// Encode as Java does (Jackson pretty printer), keeping every field read.
    pub fn encode(&self) -> Vec<u8> {
        jackson::to_pretty_string(&Value::Object(self.raw.clone())).into_bytes()
    }
}

/// Typed access to JSON members with errors that name the file and the member.
pub(crate) struct Fields<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) path: &'a str,
}

impl Fields<'_> {
    fn bad(&self, key: &str, want: &str, found: &Value) -> Error {
        Error::corrupt(
            self.path,
            format!("'{key}' must be {want}, found {}", json_kind(found)),
        )
    }

    pub(crate) fn req_i64(&self, key: &str) -> Result<i64> {
        self.opt_i64(key)?
            .ok_or_else(|| Error::corrupt(self.path, format!("missing required field '{key}'")))
    }

    pub(crate) fn opt_i64(&self, key: &str) -> Result<Option<i64>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a 64-bit integer", v)),
        }
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<String> {
        self.opt_str(key)?
            .ok_or_else(|| Error::corrupt(self.path, format!("missing required field '{key}'")))
    }

    /// A required plain file name (a manifest list, manifest or statistics file).
    pub(crate) fn req_file_name(&self, key: &str) -> Result<String> {
        self.opt_file_name(key)?
            .ok_or_else(|| Error::corrupt(self.path, format!("missing required field '{key}'")))
    }

    /// An optional plain file name.
    pub(crate) fn opt_file_name(&self, key: &str) -> Result<Option<String>> {
        let v = self.opt_str(key)?;
        if let Some(name) = &v {
            if let Some(why) = crate::format::file_name::plain_name_problem(name) {
                return Err(Error::corrupt(
                    self.path,
                    format!("'{key}' {name:?} is not a plain file name: it {why}"),
                ));
            }
        }
        Ok(v)
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, "a string", v)),
        }
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"{
  "version" : 3,
  "id" : 1,
  "schemaId" : 0,
  "baseManifestList" : "manifest-list-4ccc-0",
  "deltaManifestList" : "manifest-list-4ccc-1",
  "changelogManifestList" : null,
  "commitUser" : "7d758485-981d-4b1a-a0c6-d34c3eb254bf",
  "commitIdentifier" : 9223372036854775807,
  "commitKind" : "APPEND",
  "timeMillis" : 1684155393354,
  "logOffsets" : { },
  "totalRecordCount" : 1,
  "deltaRecordCount" : 1,
  "changelogRecordCount" : 0,
  "watermark" : -9223372036854775808
}"#;

    #[test]
    fn a_damaged_manifest_list_name_is_reported_with_the_snapshot() {
        let bad = OLD.replace("manifest-list-4ccc-1", "manifest-list-4\\u0001cc-1");
        let e = Snapshot::decode(bad.as_bytes(), "snapshot/snapshot-1").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("corrupt metadata file snapshot/snapshot-1:"),
            "{msg}"
        );
        assert!(
            msg.contains("'deltaManifestList'") && msg.contains("control character"),
            "{msg}"
        );
    }

    #[test]
    fn decodes_an_old_snapshot() {
        let s = Snapshot::decode(OLD.as_bytes(), "snapshot/snapshot-1")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(s.id, SnapshotId(1));
        assert_eq!(s.commit_identifier, i64::MAX);
        assert_eq!(s.watermark, None);
        assert_eq!(s.changelog_manifest_list, None);
        assert_eq!(s.commit_kind, CommitKind::Append);
        // Lossless: re-encoding reproduces Java's bytes exactly.
        assert_eq!(String::from_utf8(s.encode()).ok().as_deref(), Some(OLD));
    }

    #[test]
    fn keeps_unknown_fields_and_exact_numbers() {
        let json = r#"{"id":2,"schemaId":0,"baseManifestList":"a","deltaManifestList":"b",
            "commitUser":"u","commitIdentifier":5,"commitKind":"COMPACT","timeMillis":7,
            "futureField":{"x":[1.50,2]},"operation":"WRITE","watermark":12}"#;
        let s = Snapshot::decode(json.as_bytes(), "p").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(s.version, 1);
        assert_eq!(s.watermark, Some(12));
        let text = String::from_utf8(s.encode()).unwrap_or_default();
        assert!(
            text.contains("\"futureField\" : {\n    \"x\" : [ 1.50, 2 ]\n  }"),
            "{text}"
        );
        assert!(text.contains("\"operation\" : \"WRITE\""));
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let cases = [
            ("{", "invalid JSON"),
            ("[]", "expected a JSON object"),
            (r#"{"id":"x"}"#, "'id' must be a 64-bit integer"),
            (r#"{"id":1}"#, "missing required field 'schemaId'"),
        ];
        for (json, want) in cases {
            let msg = Snapshot::decode(json.as_bytes(), "snapshot/snapshot-9")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                msg.contains("snapshot/snapshot-9") && msg.contains(want),
                "{msg}"
            );
        }
    }
}
