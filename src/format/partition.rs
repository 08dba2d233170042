//! Partition paths, rendered exactly as Paimon's path factory does (paimon-format.md §1, G10).
//!
//! With `partition.legacy-name = true` (Paimon's default) a value renders as Java's `toString()`
//! of its *internal* representation, so a DATE partition is `dt=19723`, not `dt=2024-01-01`.
//! With `false`, values are cast to strings (`dt=2024-01-01`). Null or blank values render as
//! `partition.default-name` (default `__DEFAULT_PARTITION__`). Names and values are escaped.

use chrono::{DateTime, NaiveDate, NaiveTime};
use serde_json::Value;

use crate::format::binary_row::Datum;
use crate::format::types::{DataType, TypeRoot};

/// Paimon's default name for a null partition value.
pub const DEFAULT_PARTITION_NAME: &str = "__DEFAULT_PARTITION__";

/// What is needed to render a partition path.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    /// Partition columns, in order.
    pub keys: Vec<String>,
    /// Their types.
    pub types: Vec<DataType>,
    /// `partition.default-name`.
    pub default_name: String,
    /// `partition.legacy-name`.
    pub legacy_name: bool,
}

impl PartitionSpec {
    /// Build from schema columns and table options.
    pub fn new(keys: Vec<String>, types: Vec<DataType>, options: &[(String, String)]) -> Self {
        let opt = |k: &str| {
            options
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        PartitionSpec {
            keys,
            types,
            default_name: opt("partition.default-name")
                .unwrap_or(DEFAULT_PARTITION_NAME)
                .to_string(),
            legacy_name: opt("partition.legacy-name")
                .is_none_or(|v| !v.eq_ignore_ascii_case("false")),
        }
    }

    /// `k1=v1/k2=v2` for these values (empty for an unpartitioned table).
    pub fn path(&self, values: &[Datum]) -> String {
        let mut out = String::new();
        for (i, (key, value)) in self.keys.iter().zip(values).enumerate() {
            if i > 0 {
                out.push('/');
            }
            let text = self.path_value(value, &self.types[i]);
            let text = match text {
                Some(t) if !t.trim().is_empty() => t,
                _ => self.default_name.clone(),
            };
            out.push_str(&escape_path_name(key));
            out.push('=');
            out.push_str(&escape_path_name(&text));
        }
        out
    }

    fn path_value(&self, value: &Datum, t: &DataType) -> Option<String> {
        if self.legacy_name {
            legacy_string(value)
        } else {
            cast_string(value, t)
        }
    }

    /// A partition value typed in by a user (`--where dt=2024-01-01`), read as the type of
    /// partition column `index`. The default partition name (what the directory of a NULL value
    /// is called, `__DEFAULT_PARTITION__` unless configured) means NULL.
    pub fn parse_value(&self, index: usize, text: &str) -> Result<Datum, String> {
        let t = self
            .types
            .get(index)
            .ok_or_else(|| format!("no partition column {index}"))?;
        if text == self.default_name {
            return Ok(Datum::Null);
        }
        parse_value(t, text)
    }

    /// Partition values as JSON for reports: numbers as numbers, DATE as `YYYY-MM-DD`,
    /// timestamps as ISO text, null as null.
    pub fn json_values(&self, values: &[Datum]) -> serde_json::Map<String, Value> {
        self.keys
            .iter()
            .zip(values)
            .zip(&self.types)
            .map(|((k, v), t)| (k.clone(), datum_json(v, t)))
            .collect()
    }
}

/// Read a partition value from text as type `t`. DATE takes `YYYY-MM-DD` or the day count a
/// legacy partition path shows (`dt=19723`).
pub fn parse_value(t: &DataType, v: &str) -> Result<Datum, String> {
    let bad = |what: &str| format!("{v:?} is not a valid {what}");
    Ok(match &t.root {
        TypeRoot::Boolean => Datum::Boolean(v.parse().map_err(|_| bad("BOOLEAN"))?),
        TypeRoot::TinyInt => Datum::TinyInt(v.parse().map_err(|_| bad("TINYINT"))?),
        TypeRoot::SmallInt => Datum::SmallInt(v.parse().map_err(|_| bad("SMALLINT"))?),
        TypeRoot::Int => Datum::Int(v.parse().map_err(|_| bad("INT"))?),
        TypeRoot::BigInt => Datum::BigInt(v.parse().map_err(|_| bad("BIGINT"))?),
        TypeRoot::Float => Datum::Float(v.parse().map_err(|_| bad("FLOAT"))?),
        TypeRoot::Double => Datum::Double(v.parse().map_err(|_| bad("DOUBLE"))?),
        TypeRoot::Char(_) | TypeRoot::VarChar(_) => Datum::String(v.to_string()),
        TypeRoot::Date => match v.parse::<i32>() {
            Ok(days) => Datum::Date(days),
            Err(_) => {
                let d = NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| bad("DATE (YYYY-MM-DD)"))?;
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
                let days = i32::try_from((d - epoch).num_days()).map_err(|_| bad("DATE"))?;
                Datum::Date(days)
            }
        },
        _ => {
            return Err(format!(
                "partition values of type {} cannot be given as text",
                t.sql()
            ))
        }
    })
}

/// Paimon's `PartitionPathUtils.escapePathName`.
pub fn escape_path_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{00}'
            ..='\u{1F}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7F}'
                | '{'
                | '}'
                | '['
                | ']'
                | '^'
    )
}

/// Java `toString()` of the internal representation (legacy partition names).
fn legacy_string(value: &Datum) -> Option<String> {
    Some(match value {
        Datum::Null => return None,
        Datum::Boolean(b) => b.to_string(),
        Datum::TinyInt(v) => v.to_string(),
        Datum::SmallInt(v) => v.to_string(),
        Datum::Int(v) | Datum::Date(v) | Datum::Time(v) => v.to_string(),
        Datum::BigInt(v) => v.to_string(),
        Datum::Float(v) => java_double_string(f64::from(*v)),
        Datum::Double(v) => java_double_string(*v),
        Datum::String(s) => s.clone(),
        Datum::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        Datum::Timestamp {
            millis,
            nanos_of_milli,
        } => java_local_date_time(*millis, *nanos_of_milli)?,
        Datum::Decimal { unscaled, scale } => decimal_plain(*unscaled, *scale),
    })
}

/// Paimon's cast-to-string (non-legacy partition names).
fn cast_string(value: &Datum, t: &DataType) -> Option<String> {
    Some(match (value, &t.root) {
        (Datum::Null, _) => return None,
        (Datum::Date(days), _) => iso_date(*days)?,
        (Datum::Time(ms), TypeRoot::Time(_)) => {
            let secs = u32::try_from(ms / 1000).ok()?;
            let nanos = u32::try_from((ms % 1000) * 1_000_000).ok()?;
            NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)?.to_string()
        }
        (
            Datum::Timestamp {
                millis,
                nanos_of_milli,
            },
            TypeRoot::Timestamp(p) | TypeRoot::TimestampLtz(p),
        ) => {
            let dt = DateTime::from_timestamp_millis(*millis)?.naive_utc()
                + chrono::Duration::nanoseconds(i64::from(*nanos_of_milli));
            let base = dt.format("%Y-%m-%d %H:%M:%S").to_string();
            if *p == 0 {
                base
            } else {
                let frac = format!("{:09}", dt.and_utc().timestamp_subsec_nanos());
                format!("{base}.{}", &frac[..(*p as usize).min(9)])
            }
        }
        (other, _) => legacy_string(other)?,
    })
}

fn datum_json(value: &Datum, t: &DataType) -> Value {
    match value {
        Datum::Null => Value::Null,
        Datum::Boolean(b) => Value::Bool(*b),
        Datum::TinyInt(v) => Value::from(*v),
        Datum::SmallInt(v) => Value::from(*v),
        Datum::Int(v) => Value::from(*v),
        Datum::BigInt(v) => Value::from(*v),
        Datum::Float(v) => Value::from(f64::from(*v)),
        Datum::Double(v) => Value::from(*v),
        Datum::String(s) => Value::String(s.clone()),
        Datum::Date(d) => iso_date(*d).map_or(Value::from(*d), Value::String),
        other => cast_string(other, t).map_or(Value::Null, Value::String),
    }
}

fn iso_date(days: i32) -> Option<String> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some(
        epoch
            .checked_add_signed(chrono::Duration::days(i64::from(days)))?
            .format("%Y-%m-%d")
            .to_string(),
    )
}

/// Java `LocalDateTime.toString()`: seconds omitted when zero, fraction as 3, 6 or 9 digits.
fn java_local_date_time(millis: i64, nanos_of_milli: i32) -> Option<String> {
    let dt = DateTime::from_timestamp_millis(millis)?.naive_utc()
        + chrono::Duration::nanoseconds(i64::from(nanos_of_milli));
    let mut out = dt.format("%Y-%m-%dT%H:%M").to_string();
    let nanos = dt.and_utc().timestamp_subsec_nanos();
    let secs = dt.and_utc().timestamp().rem_euclid(60);
    if secs != 0 || nanos != 0 {
        out.push_str(&format!(":{secs:02}"));
        if nanos != 0 {
            let frac = if nanos % 1_000_000 == 0 {
                format!("{:03}", nanos / 1_000_000)
            } else if nanos % 1000 == 0 {
                format!("{:06}", nanos / 1000)
            } else {
                format!("{nanos:09}")
            };
            out.push('.');
            out.push_str(&frac);
        }
    }
    Some(out)
}

/// Java `BigDecimal.toPlainString()`.
fn decimal_plain(unscaled: i128, scale: u32) -> String {
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let body = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

/// Java `Double.toString()` for the common cases: plain notation in [1e-3, 1e7), otherwise
/// `d.dddE±n`; always at least one fraction digit.
fn java_double_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::types::MAX_LENGTH;

    fn spec(types: Vec<TypeRoot>, legacy: bool) -> PartitionSpec {
        let keys = (0..types.len()).map(|i| format!("p{i}")).collect();
        let opts = vec![("partition.legacy-name".to_string(), legacy.to_string())];
        PartitionSpec::new(
            keys,
            types.into_iter().map(DataType::nullable).collect(),
            &opts,
        )
    }

    #[test]
    fn legacy_rendering_uses_internal_values() {
        let s = spec(
            vec![TypeRoot::Date, TypeRoot::Int, TypeRoot::VarChar(MAX_LENGTH)],
            true,
        );
        let path = s.path(&[
            Datum::Date(19723),
            Datum::Int(-1),
            Datum::String("a:b/c".into()),
        ]);
        assert_eq!(path, "p0=19723/p1=-1/p2=a%3Ab%2Fc");
    }

    #[test]
    fn non_legacy_rendering_casts() {
        let s = spec(vec![TypeRoot::Date, TypeRoot::Timestamp(3)], false);
        let path = s.path(&[
            Datum::Date(19723),
            Datum::Timestamp {
                millis: 1_704_103_200_500,
                nanos_of_milli: 0,
            },
        ]);
        assert_eq!(path, "p0=2024-01-01/p1=2024-01-01 10%3A00%3A00.500");
    }

    #[test]
    fn nulls_and_blanks_use_the_default_name() {
        let s = spec(vec![TypeRoot::VarChar(MAX_LENGTH), TypeRoot::Int], true);
        assert_eq!(
            s.path(&[Datum::String("  ".into()), Datum::Null]),
            "p0=__DEFAULT_PARTITION__/p1=__DEFAULT_PARTITION__"
        );
    }

    #[test]
    fn java_number_formats() {
        assert_eq!(java_double_string(1.0), "1.0");
        assert_eq!(java_double_string(1.5), "1.5");
        assert_eq!(java_double_string(1e7), "1.0E7");
        assert_eq!(java_double_string(1.25e-4), "1.25E-4");
        assert_eq!(decimal_plain(-12345, 2), "-123.45");
        assert_eq!(decimal_plain(5, 3), "0.005");
        assert_eq!(
            java_local_date_time(1_704_103_200_000, 0).as_deref(),
            Some("2024-01-01T10:00")
        );
        assert_eq!(
            java_local_date_time(1_704_103_201_500, 0).as_deref(),
            Some("2024-01-01T10:00:01.500")
        );
    }

    #[test]
    fn json_values_for_reports() {
        let s = spec(vec![TypeRoot::Date, TypeRoot::Int], true);
        let v = s.json_values(&[Datum::Date(19723), Datum::Null]);
        assert_eq!(
            Value::Object(v).to_string(),
            r#"{"p0":"2024-01-01","p1":null}"#
        );
    }
}
