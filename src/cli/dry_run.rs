//! Whether a report is a dry run's: its top-level `dry_run` member, read without serializing
//! the report.
//!
//! Human output prefixes a dry run's text with `DRY RUN:`. Every destructive command's report
//! has a `dry_run` field, but the printer is generic over reports, so it asks serde. Turning the
//! whole report into a `serde_json::Value` to read one boolean cost a copy of the report as a
//! JSON tree: 245 MB for the 100,000 files of a `files` report, gigabytes at a million. This
//! serializer looks at the top level's field names only and serializes nothing but the
//! `dry_run` value; every other field is skipped unserialized.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

/// The report's top-level `dry_run` member, `false` when it has none (or is not a struct or a
/// map: a `#[serde(flatten)]` report serializes as a map).
pub(crate) fn is_dry_run<T: Serialize + ?Sized>(report: &T) -> bool {
    report.serialize(TopLevel).unwrap_or(false)
}

const FIELD: &str = "dry_run";

/// The probe never fails on a report it understands; this error stands for "not a report".
#[derive(Debug)]
pub(crate) struct NotAReport;

impl fmt::Display for NotAReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a struct or map")
    }
}

impl std::error::Error for NotAReport {}

impl ser::Error for NotAReport {
    fn custom<M: fmt::Display>(_: M) -> Self {
        NotAReport
    }
}

/// What a scalar serialized as, for the two questions asked: is this key `dry_run`, and what
/// boolean is its value.
enum Scalar {
    Bool(bool),
    IsField(bool),
    Other,
}

/// Serializes the report's top level: a struct's fields or a map's entries.
struct TopLevel;

/// A struct or map whose `dry_run` value was seen, if any.
#[derive(Default)]
struct Fields {
    dry_run: bool,
    /// The map key just serialized was `dry_run`.
    at_field: bool,
}

impl ser::SerializeStruct for Fields {
    type Ok = bool;
    type Error = NotAReport;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NotAReport> {
        if key == FIELD {
            if let Ok(Scalar::Bool(b)) = value.serialize(ScalarProbe) {
                self.dry_run = b;
            }
        }
        Ok(())
    }
    fn end(self) -> Result<bool, NotAReport> {
        Ok(self.dry_run)
    }
}

impl ser::SerializeMap for Fields {
    type Ok = bool;
    type Error = NotAReport;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NotAReport> {
        self.at_field = matches!(key.serialize(ScalarProbe), Ok(Scalar::IsField(true)));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotAReport> {
        if std::mem::take(&mut self.at_field) {
            if let Ok(Scalar::Bool(b)) = value.serialize(ScalarProbe) {
                self.dry_run = b;
            }
        }
        Ok(())
    }
    fn end(self) -> Result<bool, NotAReport> {
        Ok(self.dry_run)
    }
}

/// Scalars are not reports (`false`); compound values other than structs and maps fail.
macro_rules! scalars_are {
    ($value:expr; $($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<Self::Ok, NotAReport> {
            Ok($value)
        })*
    };
}

/// The compound forms a probe does not look into.
macro_rules! compounds_fail {
    () => {
        type SerializeSeq = Impossible<Self::Ok, NotAReport>;
        type SerializeTuple = Impossible<Self::Ok, NotAReport>;
        type SerializeTupleStruct = Impossible<Self::Ok, NotAReport>;
        type SerializeTupleVariant = Impossible<Self::Ok, NotAReport>;
        type SerializeStructVariant = Impossible<Self::Ok, NotAReport>;
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAReport> {
            Err(NotAReport)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAReport> {
            Err(NotAReport)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, NotAReport> {
            Err(NotAReport)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, NotAReport> {
            Err(NotAReport)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, NotAReport> {
            Err(NotAReport)
        }
        fn serialize_none(self) -> Result<Self::Ok, NotAReport> {
            Err(NotAReport)
        }
        fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Self::Ok, NotAReport> {
            v.serialize(self)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            v: &T,
        ) -> Result<Self::Ok, NotAReport> {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Self::Ok, NotAReport> {
            Err(NotAReport)
        }
    };
}

impl ser::Serializer for TopLevel {
    type Ok = bool;
    type Error = NotAReport;
    type SerializeMap = Fields;
    type SerializeStruct = Fields;
    compounds_fail!();

    scalars_are!(false;
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_f32(f32), serialize_f64(f64), serialize_char(char),
        serialize_str(&str), serialize_bytes(&[u8]), serialize_unit_struct(&'static str),
    );
    fn serialize_unit(self) -> Result<bool, NotAReport> {
        Ok(false)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<bool, NotAReport> {
        Ok(false)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Fields, NotAReport> {
        Ok(Fields::default())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields, NotAReport> {
        Ok(Fields::default())
    }
}

/// Serializes a map key or a field's value: only a string and a boolean are told apart.
struct ScalarProbe;

impl ser::Serializer for ScalarProbe {
    type Ok = Scalar;
    type Error = NotAReport;
    type SerializeMap = Impossible<Scalar, NotAReport>;
    type SerializeStruct = Impossible<Scalar, NotAReport>;
    compounds_fail!();

    scalars_are!(Scalar::Other;
        serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64),
        serialize_f32(f32), serialize_f64(f64), serialize_char(char), serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );
    fn serialize_bool(self, v: bool) -> Result<Scalar, NotAReport> {
        Ok(Scalar::Bool(v))
    }
    fn serialize_str(self, v: &str) -> Result<Scalar, NotAReport> {
        Ok(Scalar::IsField(v == FIELD))
    }
    fn serialize_unit(self) -> Result<Scalar, NotAReport> {
        Ok(Scalar::Other)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<Scalar, NotAReport> {
        Ok(Scalar::Other)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAReport> {
        Err(NotAReport)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotAReport> {
        Err(NotAReport)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Serialize;

    use super::is_dry_run;

    #[derive(Serialize)]
    struct Plan {
        files: Vec<String>,
    }

    #[derive(Serialize)]
    struct Plain {
        files: Vec<String>,
        dry_run: bool,
    }

    #[derive(Serialize)]
    struct Flattened {
        dry_run: bool,
        #[serde(flatten)]
        plan: Plan,
    }

    #[derive(Serialize)]
    struct NoField {
        files: Vec<String>,
    }

    /// A value that must never be serialized: the probe skips fields other than `dry_run`.
    struct Untouchable;
    impl Serialize for Untouchable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom(
                "serialized a field the probe should skip",
            ))
        }
    }

    #[derive(Serialize)]
    struct Large {
        before: Untouchable,
        dry_run: bool,
        after: Untouchable,
    }

    #[test]
    fn reads_the_top_level_member_as_serde_json_would() {
        let files = vec!["a".to_string()];
        for dry in [true, false] {
            let plain = Plain {
                files: files.clone(),
                dry_run: dry,
            };
            let flat = Flattened {
                dry_run: dry,
                plan: Plan {
                    files: files.clone(),
                },
            };
            assert_eq!(is_dry_run(&plain), dry);
            assert_eq!(is_dry_run(&flat), dry);
            // The same answer as reading the JSON tree (what the printer did before).
            for v in [
                serde_json::to_value(&plain).unwrap(),
                serde_json::to_value(&flat).unwrap(),
            ] {
                assert_eq!(v["dry_run"].as_bool(), Some(dry));
            }
            assert_eq!(
                is_dry_run(&Large {
                    before: Untouchable,
                    dry_run: dry,
                    after: Untouchable
                }),
                dry
            );
        }
        assert!(!is_dry_run(&NoField { files }));
        assert!(!is_dry_run(&vec![true]));
        assert!(!is_dry_run(&true));
        assert!(!is_dry_run(&serde_json::json!({"dry_run": "yes"})));
        assert!(is_dry_run(&serde_json::json!({"x": [1], "dry_run": true})));
        assert!(!is_dry_run(
            &serde_json::json!({"nested": {"dry_run": true}})
        ));
    }
}
