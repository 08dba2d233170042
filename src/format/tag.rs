//! Tag JSON (`tag/tag-NAME`): a snapshot's JSON plus, when a retention is set, `tagCreateTime`
//! (Jackson's `LocalDateTime` array) and `tagTimeRetained` (Jackson's `Duration`: decimal
//! seconds with nine fraction digits). paimon-format.md §3.

use std::str::FromStr;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};
use crate::format::jackson;
use crate::format::snapshot::{json_kind, Snapshot};

/// A decoded tag file.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// The tagged snapshot (tag fields removed, every other field kept).
    pub snapshot: Snapshot,
    /// When the tag was created, in the creating JVM's local wall-clock time (no zone).
    pub create_time: Option<NaiveDateTime>,
    /// How long the tag is retained after `create_time`.
    pub time_retained: Option<Duration>,
}

impl Tag {
    /// Decode a tag file. `path` is used only in error messages.
    pub fn decode(bytes: &[u8], path: &str) -> Result<Self> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(path, format!("invalid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::corrupt(
                path,
                format!("expected a JSON object, found {}", json_kind(&value)),
            ));
        };
        let create_time = match map.get("tagCreateTime") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                decode_local_date_time(v)
                    .map_err(|e| Error::corrupt(path, format!("'tagCreateTime': {e}")))?,
            ),
        };
        let time_retained = match map.get("tagTimeRetained") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                decode_duration(v)
                    .map_err(|e| Error::corrupt(path, format!("'tagTimeRetained': {e}")))?,
            ),
        };
        Ok(Tag {
            snapshot: Snapshot::from_map(map, path)?,
            create_time,
            time_retained,
        })
    }

    /// Encode as Java does: the snapshot's fields, then the tag fields when a retention is set.
    /// Without a retention Java writes plain snapshot JSON (Paimon ≤ 0.7 readers reject the
    /// extra keys), and so do we.
    pub fn encode(&self) -> Vec<u8> {
        let mut map: Map<String, Value> = self.snapshot.raw().clone();
        if let Some(retained) = self.time_retained {
            if let Some(created) = self.create_time {
                map.insert("tagCreateTime".into(), encode_local_date_time(created));
            }
            map.insert("tagTimeRetained".into(), encode_duration(retained));
        }
        jackson::to_pretty_string(&Value::Object(map)).into_bytes()
    }

    /// When the tag expires (`create_time + time_retained`), if both are known.
    pub fn expires_at(&self) -> Option<NaiveDateTime> {
        let created = self.create_time?;
        let retained = chrono::Duration::from_std(self.time_retained?).ok()?;
        created.checked_add_signed(retained)
    }

    /// Whether the tag is past its time retention at `now_local` (the local wall clock, which
    /// Java compares `tagCreateTime + tagTimeRetained` with). The one rule expire-tags and
    /// `tags` use.
    pub fn is_expired_at(&self, now_local: NaiveDateTime) -> bool {
        self.expires_at().is_some_and(|e| now_local > e)
    }
}

/// Jackson's `LocalDateTime` array: `[y, M, d, h, m]`, then seconds if seconds or nanos are
/// non-zero, then nanos if non-zero. A string (`2024-01-02T10:30:00`) is accepted too.
pub fn decode_local_date_time(v: &Value) -> std::result::Result<NaiveDateTime, String> {
    match v {
        Value::Array(items) => {
            if !(5..=7).contains(&items.len()) {
                return Err(format!("expected 5 to 7 numbers, found {}", items.len()));
            }
            let mut n = [0i64; 7];
            for (i, item) in items.iter().enumerate() {
                n[i] = item
                    .as_i64()
                    .ok_or_else(|| format!("element {i} is not an integer"))?;
            }
            let to_u32 = |x: i64| u32::try_from(x).map_err(|_| format!("{x} out of range"));
            let year = i32::try_from(n[0]).map_err(|_| format!("year {} out of range", n[0]))?;
            NaiveDate::from_ymd_opt(year, to_u32(n[1])?, to_u32(n[2])?)
                .and_then(|d| {
                    d.and_hms_nano_opt(
                        to_u32(n[3]).ok()?,
                        to_u32(n[4]).ok()?,
                        to_u32(n[5]).ok()?,
                        to_u32(n[6]).ok()?,
                    )
                })
                .ok_or_else(|| format!("{v} is not a valid date-time"))
        }
        Value::String(s) => NaiveDateTime::from_str(s).map_err(|e| format!("{s:?}: {e}")),
        other => Err(format!("expected an array, found {}", json_kind(other))),
    }
}

/// Encode a `LocalDateTime` exactly as Jackson does, trailing zero components dropped.
pub fn encode_local_date_time(t: NaiveDateTime) -> Value {
    let mut items: Vec<Value> = vec![
        t.year().into(),
        t.month().into(),
        t.day().into(),
        t.hour().into(),
        t.minute().into(),
    ];
    let (sec, nano) = (t.second(), t.nanosecond());
    if sec != 0 || nano != 0 {
        items.push(sec.into());
        if nano != 0 {
            items.push(nano.into());
        }
    }
    Value::Array(items)
}

/// Jackson's `Duration`: decimal seconds, e.g. `86400.000000000`. Integers are accepted too.
pub fn decode_duration(v: &Value) -> std::result::Result<Duration, String> {
    let Value::Number(n) = v else {
        return Err(format!("expected a number, found {}", json_kind(v)));
    };
    let text = n.to_string();
    let (secs, frac) = text.split_once('.').unwrap_or((&text, ""));
    if secs.starts_with('-') {
        return Err(format!("negative duration {text}"));
    }
    let secs: u64 = secs.parse().map_err(|_| format!("bad duration {text}"))?;
    let mut nanos = 0u32;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad duration {text}"));
        }
        nanos = format!("{frac:0<9}")
            .parse()
            .map_err(|_| format!("bad duration {text}"))?;
    }
    Ok(Duration::new(secs, nanos))
}

/// Encode a duration as Jackson does: seconds with exactly nine fraction digits.
pub fn encode_duration(d: Duration) -> Value {
    let text = format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
    Number::from_str(&text)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::from(d.as_secs()))
}

/// `tag.create-success-file`: Java's `SuccessFileTagCallback` marks each created or replaced
/// tag with `tag/tag-success-file/NAME_SUCCESS` and deletes the marker with the tag.
pub const SUCCESS_FILE_DIR: &str = "tag/tag-success-file";

/// The marker's key for a tag, relative to the table (or branch) root.
pub fn success_file_key(name: &str) -> String {
    format!("{SUCCESS_FILE_DIR}/{name}_SUCCESS")
}

/// The marker's content after a creation or replacement at `now_millis`: Java's `SuccessFile`
/// JSON (`creationTime`, `modificationTime`, Jackson's pretty printing). An existing marker
/// keeps its creation time, as Java's `updateModificationTime` does; one that cannot be read
/// is an error naming `key` (Java fails the same way).
pub fn success_file_json(existing: Option<&[u8]>, now_millis: i64, key: &str) -> Result<Vec<u8>> {
    let created = match existing {
        None => now_millis,
        Some(bytes) => {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(key, e))?;
            v.get("creationTime")
                .and_then(Value::as_i64)
                .ok_or_else(|| Error::corrupt(key, "no integer creationTime"))?
        }
    };
    let mut m = Map::new();
    m.insert("creationTime".into(), Value::Number(Number::from(created)));
    m.insert(
        "modificationTime".into(),
        Value::Number(Number::from(now_millis)),
    );
    Ok(jackson::to_pretty_string(&Value::Object(m)).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_json(extra: &str) -> String {
        format!(
            r#"{{"version":3,"id":4,"schemaId":0,"baseManifestList":"a","deltaManifestList":"b",
            "commitUser":"u","commitIdentifier":1,"commitKind":"APPEND","timeMillis":5{extra}}}"#
        )
    }

    #[test]
    fn jackson_date_time_shapes() {
        let cases = [
            ("[2024,1,2,10,30]", (2024, 1, 2, 10, 30, 0, 0)),
            (
                "[1969,1,1,0,0,0,123456789]",
                (1969, 1, 1, 0, 0, 0, 123_456_789),
            ),
            ("[2024,1,2,10,30,5]", (2024, 1, 2, 10, 30, 5, 0)),
        ];
        for (json, (y, mo, d, h, mi, s, n)) in cases {
            let v: Value = serde_json::from_str(json).unwrap_or_default();
            let want = NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|d| d.and_hms_nano_opt(h, mi, s, n))
                .unwrap_or_default();
            assert_eq!(decode_local_date_time(&v), Ok(want), "{json}");
            assert_eq!(encode_local_date_time(want), v, "{json}");
        }
        let bad: Value = serde_json::from_str("[2024,13,2,10,30]").unwrap_or_default();
        assert!(decode_local_date_time(&bad).is_err());
    }

    #[test]
    fn jackson_duration() {
        let v: Value = serde_json::from_str("86400.000000000").unwrap_or_default();
        assert_eq!(decode_duration(&v), Ok(Duration::from_secs(86400)));
        assert_eq!(
            encode_duration(Duration::from_secs(86400)).to_string(),
            "86400.000000000"
        );
        assert_eq!(
            encode_duration(Duration::from_millis(1500)).to_string(),
            "1.500000000"
        );
        let v: Value = serde_json::from_str("5").unwrap_or_default();
        assert_eq!(decode_duration(&v), Ok(Duration::from_secs(5)));
        let v: Value = serde_json::from_str("-5").unwrap_or_default();
        assert!(decode_duration(&v).is_err());
    }

    #[test]
    fn tag_round_trip() {
        let json =
            snapshot_json(r#","tagCreateTime":[2024,1,2,10,30],"tagTimeRetained":3600.000000000"#);
        let tag = Tag::decode(json.as_bytes(), "tag/tag-t").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(tag.snapshot.id.0, 4);
        assert!(!tag.snapshot.raw().contains_key("tagCreateTime"));
        assert_eq!(tag.time_retained, Some(Duration::from_secs(3600)));
        assert_eq!(
            tag.expires_at().map(|t| t.to_string()).as_deref(),
            Some("2024-01-02 11:30:00")
        );
        let text = String::from_utf8(tag.encode()).unwrap_or_default();
        assert!(text.ends_with(
            "\"tagCreateTime\" : [ 2024, 1, 2, 10, 30 ],\n  \"tagTimeRetained\" : 3600.000000000\n}"
        ), "{text}");
    }

    #[test]
    fn plain_tag_without_retention() {
        let json = snapshot_json("");
        let tag = Tag::decode(json.as_bytes(), "tag/tag-t").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(tag.create_time, None);
        assert!(!String::from_utf8(tag.encode())
            .unwrap_or_default()
            .contains("tagCreateTime"));
    }

    #[test]
    fn bad_tag_fields_are_named() {
        let json = snapshot_json(r#","tagCreateTime":"yesterday""#);
        let msg = Tag::decode(json.as_bytes(), "tag/tag-x")
            .err()
            .map(|e| e.to_string());
        assert!(msg.is_some_and(|m| m.contains("tag/tag-x") && m.contains("tagCreateTime")));
    }

    #[test]
    fn success_files_are_javas_and_keep_their_creation_time() {
        let key = "tag/tag-success-file/t_SUCCESS";
        assert_eq!(success_file_key("t"), key);
        let first = success_file_json(None, 1000, key).unwrap();
        assert_eq!(
            String::from_utf8(first.clone()).unwrap(),
            "{\n  \"creationTime\" : 1000,\n  \"modificationTime\" : 1000\n}"
        );
        let again = success_file_json(Some(&first), 2000, key).unwrap();
        assert_eq!(
            String::from_utf8(again).unwrap(),
            "{\n  \"creationTime\" : 1000,\n  \"modificationTime\" : 2000\n}"
        );
        let err = success_file_json(Some(b"{}"), 2000, key).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
    }
}
