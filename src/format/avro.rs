//! Shared helpers for Paimon's Avro files: read every record of an object container file and
//! look fields up **by name**, as Java's `FieldReaderFactory.RowReader` does. Fields a Paimon
//! generation lacks read as absent; fields newer than this tool are ignored; nullable
//! (`["null", T]`) and plain shapes are both accepted (paimon-format.md §4.1).

use apache_avro::types::Value;

use crate::error::{Error, Result};

/// Decode every record of an Avro object container file with `convert`, one record at a time:
/// each generic Avro value is dropped as soon as it is converted, so memory holds the
/// converted records, not the (much larger) generic trees of a whole manifest.
pub(crate) fn read_records<T>(
    bytes: &[u8],
    path: &str,
    convert: impl FnMut(&Value) -> Result<T>,
) -> Result<Vec<T>> {
    if bytes.len() < 4 || &bytes[..4] != b"Obj\x01" {
        return Err(Error::corrupt(
            path,
            "not an Avro object container file (bad magic); ORC and Parquet manifests are not supported",
        ));
    }
    // apache-avro 0.21 panics on some malformed writer schemas instead of returning an error
    // (`Name::parse` unwraps the result of validating a record name, so one flipped bit in a
    // name aborts the process). A damaged manifest must give an error naming the file, and a
    // maintenance job must never die half-way: the names are checked first, with a clear
    // message, and any other panic inside the decoder is caught as the last line of defence.
    check_schema_names(bytes, path)?;
    let mut convert = convert;
    // The closure only converts values: a panic in the decoder leaves nothing half-updated
    // that the caller could observe (the partial output is dropped with the error).
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_all(bytes, path, &mut convert)
    }))
    .unwrap_or_else(|_| {
        Err(Error::corrupt(
            path,
            "unreadable Avro file (the Avro decoder panicked on it)",
        ))
    })
}

fn decode_all<T>(
    bytes: &[u8],
    path: &str,
    convert: &mut impl FnMut(&Value) -> Result<T>,
) -> Result<Vec<T>> {
    let reader = apache_avro::Reader::new(bytes)
        .map_err(|e| Error::corrupt(path, format!("unreadable Avro header: {e}")))?;
    reader
        .map(|r| {
            let value =
                r.map_err(|e| Error::corrupt(path, format!("unreadable Avro data: {e}")))?;
            convert(&value)
        })
        .collect()
}

/// Validate every named type (record, enum, fixed) of the writer schema in the file header,
/// the input apache-avro would otherwise panic on. The header after the magic is an Avro
/// `map<bytes>` of metadata, decoded with apache-avro itself; errors here are left for the
/// full decode to report in its own words.
fn check_schema_names(bytes: &[u8], path: &str) -> Result<()> {
    let header_schema = apache_avro::Schema::map(apache_avro::Schema::Bytes);
    let mut rest = &bytes[4..];
    let Ok(Value::Map(meta)) = apache_avro::from_avro_datum(&header_schema, &mut rest, None) else {
        return Ok(());
    };
    let Some(Value::Bytes(schema)) = meta.get("avro.schema") else {
        return Ok(());
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(schema) else {
        return Ok(());
    };
    let mut pending = vec![&json];
    while let Some(v) = pending.pop() {
        match v {
            serde_json::Value::Object(o) => {
                let named = matches!(
                    o.get("type").and_then(|t| t.as_str()),
                    Some("record" | "enum" | "fixed")
                );
                if let (true, Some(name)) = (named, o.get("name").and_then(|n| n.as_str())) {
                    if let Err(e) = apache_avro::schema::Name::new(name) {
                        return Err(Error::corrupt(
                            path,
                            format!("unreadable Avro header: invalid type name {name:?}: {e}"),
                        ));
                    }
                }
                pending.extend(o.values());
            }
            serde_json::Value::Array(a) => pending.extend(a),
            _ => {}
        }
    }
    Ok(())
}

/// Strip a `["null", T]` union wrapper.
pub(crate) fn unwrap_union(v: &Value) -> &Value {
    match v {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

/// A record with by-name field access and errors that name the file and field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec<'a> {
    fields: &'a [(String, Value)],
    path: &'a str,
}

impl<'a> Rec<'a> {
    /// View a (possibly union-wrapped) record value.
    pub(crate) fn new(value: &'a Value, path: &'a str) -> Result<Self> {
        match unwrap_union(value) {
            Value::Record(fields) => Ok(Rec { fields, path }),
            other => Err(Error::corrupt(
                path,
                format!("expected an Avro record, found {}", value_kind(other)),
            )),
        }
    }

    /// A field's value, `None` when absent or null.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| unwrap_union(v))
            .filter(|v| !matches!(v, Value::Null))
    }

    fn missing(&self, name: &str) -> Error {
        Error::corrupt(self.path, format!("record lacks required field '{name}'"))
    }

    fn wrong(&self, name: &str, want: &str, found: &Value) -> Error {
        Error::corrupt(
            self.path,
            format!("field '{name}' must be {want}, found {}", value_kind(found)),
        )
    }

    pub(crate) fn opt_long(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Long(v))
            | Some(Value::TimestampMillis(v))
            | Some(Value::TimestampMicros(v))
            | Some(Value::LocalTimestampMillis(v))
            | Some(Value::LocalTimestampMicros(v)) => Ok(Some(*v)),
            Some(Value::Int(v)) => Ok(Some(i64::from(*v))),
            Some(other) => Err(self.wrong(name, "a long", other)),
        }
    }

    pub(crate) fn long(&self, name: &str) -> Result<i64> {
        self.opt_long(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i32>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Int(v)) | Some(Value::Date(v)) | Some(Value::TimeMillis(v)) => Ok(Some(*v)),
            Some(Value::Long(v)) => i32::try_from(*v)
                .map(Some)
                .map_err(|_| self.wrong(name, "an int", &Value::Long(*v))),
            Some(other) => Err(self.wrong(name, "an int", other)),
        }
    }

    pub(crate) fn int(&self, name: &str) -> Result<i32> {
        self.opt_int(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Bytes(b)) => String::from_utf8(b.clone())
                .map(Some)
                .map_err(|_| self.wrong(name, "UTF-8 text", &Value::Null)),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    pub(crate) fn str(&self, name: &str) -> Result<String> {
        self.opt_str(name)?.ok_or_else(|| self.missing(name))
    }

    /// A required string that must be a plain file name (see
    /// [`plain_name_problem`](crate::format::file_name::plain_name_problem)).
    pub(crate) fn file_name(&self, name: &str) -> Result<String> {
        let v = self.str(name)?;
        match crate::format::file_name::plain_name_problem(&v) {
            None => Ok(v),
            Some(why) => Err(Error::corrupt(
                self.path,
                format!("{name} {v:?} is not a plain file name: it {why}"),
            )),
        }
    }

    /// An optional array of plain file names.
    pub(crate) fn opt_file_names(&self, name: &str) -> Result<Option<Vec<String>>> {
        let Some(names) = self.opt_str_array(name)? else {
            return Ok(None);
        };
        for v in &names {
            if let Some(why) = crate::format::file_name::plain_name_problem(v) {
                return Err(Error::corrupt(
                    self.path,
                    format!("{name} entry {v:?} is not a plain file name: it {why}"),
                ));
            }
        }
        Ok(Some(names))
    }

    pub(crate) fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bytes(b)) | Some(Value::Fixed(_, b)) => Ok(Some(b.clone())),
            Some(other) => Err(self.wrong(name, "bytes", other)),
        }
    }

    pub(crate) fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        self.opt_bytes(name)?.ok_or_else(|| self.missing(name))
    }

    /// An array of strings; `None` when absent or null.
    pub(crate) fn opt_str_array(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match unwrap_union(v) {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.wrong(name, "an array of strings", other)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.wrong(name, "an array", other)),
        }
    }

    /// An array of nullable longs; `None` when absent or null.
    pub(crate) fn opt_long_array(&self, name: &str) -> Result<Option<Vec<Option<i64>>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match unwrap_union(v) {
                    Value::Null => Ok(None),
                    Value::Long(x) => Ok(Some(*x)),
                    Value::Int(x) => Ok(Some(i64::from(*x))),
                    other => Err(self.wrong(name, "an array of longs", other)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.wrong(name, "an array", other)),
        }
    }

    /// A nested record; `None` when absent or null.
    pub(crate) fn opt_rec(&self, name: &str) -> Result<Option<Rec<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => Rec::new(v, self.path).map(Some),
        }
    }

    pub(crate) fn rec(&self, name: &str) -> Result<Rec<'a>> {
        self.opt_rec(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn path(&self) -> &'a str {
        self.path
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "a boolean",
        Value::Int(_) => "an int",
        Value::Long(_) => "a long",
        Value::Float(_) | Value::Double(_) => "a floating-point number",
        Value::Bytes(_) | Value::Fixed(..) => "bytes",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Record(_) => "a record",
        _ => "another Avro type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every single-byte corruption of the header (where the writer schema lives) of a real
    /// manifest list and manifest, and every truncation of it, must come back as a result
    /// from the checked decode, without relying on the panic net in `read_records`.
    #[test]
    fn damaged_headers_give_errors_not_panics() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/warehouse/default.db/tagged/manifest"
        );
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let list = names
            .iter()
            .find(|n| n.starts_with("manifest-list-"))
            .unwrap();
        let manifest = names
            .iter()
            .find(|n| !n.starts_with("manifest-list-"))
            .unwrap();
        let mut invalid_names = 0;
        for name in [list, manifest] {
            let bytes = std::fs::read(format!("{dir}/{name}")).unwrap();
            let header = bytes.len().min(2500);
            for i in 4..header {
                for x in [1u8, 8, 16, 64, 0xff] {
                    let mut b = bytes.clone();
                    b[i] ^= x;
                    match check_schema_names(&b, name) {
                        Err(e) => {
                            assert!(e.to_string().contains(name.as_str()), "{e}");
                            invalid_names += 1;
                        }
                        Ok(()) => {
                            let _ = decode_all(&b, name, &mut |_| Ok(()));
                        }
                    }
                }
            }
            for t in 4..header {
                if check_schema_names(&bytes[..t], name).is_ok() {
                    let _ = decode_all(&bytes[..t], name, &mut |_| Ok(()));
                }
            }
        }
        // The flips that made apache-avro 0.21 panic are among those caught by the name check.
        assert!(invalid_names > 50, "{invalid_names}");
    }
}
