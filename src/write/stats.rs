//! Column statistics of a data file as Paimon records them: min, max and null count per
//! column, as `BinaryRow` values (`SimpleStats`). Strings are truncated to 16 characters, as
//! Paimon's default `metadata.stats-mode = truncate(16)` does; a truncated max is bumped so it
//! stays an upper bound (or dropped when it cannot be).

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Decimal128Array, StringArray,
};
use arrow::datatypes::{
    DataType as ArrowType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, Time32MillisecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType,
};

use crate::format::binary_row::Datum;

/// Characters kept of string statistics.
pub const STRING_STATS_LEN: usize = 16;

/// Statistics of one column of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnStats {
    /// Smallest value (`Null` when all values are null or unknown).
    pub min: Datum,
    /// Largest value (`Null` when all values are null or unknown).
    pub max: Datum,
    /// Number of nulls.
    pub null_count: i64,
}

impl ColumnStats {
    fn empty(null_count: i64) -> Self {
        ColumnStats {
            min: Datum::Null,
            max: Datum::Null,
            null_count,
        }
    }

    /// Merge the stats of another chunk of the same column.
    pub fn merge(self, other: ColumnStats) -> ColumnStats {
        ColumnStats {
            min: pick(self.min, other.min, std::cmp::Ordering::Less),
            max: pick(self.max, other.max, std::cmp::Ordering::Greater),
            null_count: self.null_count + other.null_count,
        }
    }
}

fn pick(a: Datum, b: Datum, want: std::cmp::Ordering) -> Datum {
    match (&a, &b) {
        (Datum::Null, _) => b,
        (_, Datum::Null) => a,
        _ => match compare(&a, &b) {
            Some(o) if o == want => a,
            Some(_) => b,
            None => a,
        },
    }
}

pub(crate) fn compare(a: &Datum, b: &Datum) -> Option<std::cmp::Ordering> {
    use Datum::*;
    Some(match (a, b) {
        (Boolean(x), Boolean(y)) => x.cmp(y),
        (TinyInt(x), TinyInt(y)) => x.cmp(y),
        (SmallInt(x), SmallInt(y)) => x.cmp(y),
        (Int(x), Int(y)) | (Date(x), Date(y)) | (Time(x), Time(y)) => x.cmp(y),
        (BigInt(x), BigInt(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.partial_cmp(y)?,
        (Double(x), Double(y)) => x.partial_cmp(y)?,
        (String(x), String(y)) => x.cmp(y),
        (Binary(x), Binary(y)) => x.cmp(y),
        (
            Timestamp {
                millis: m1,
                nanos_of_milli: n1,
            },
            Timestamp {
                millis: m2,
                nanos_of_milli: n2,
            },
        ) => (m1, n1).cmp(&(m2, n2)),
        (Decimal { unscaled: x, .. }, Decimal { unscaled: y, .. }) => x.cmp(y),
        _ => return None,
    })
}

/// Statistics of one Arrow column.
pub fn column_stats(array: &ArrayRef) -> ColumnStats {
    let nulls = array.null_count() as i64;
    if array.len() == array.null_count() {
        return ColumnStats::empty(nulls);
    }
    let (min, max) = match array.data_type() {
        ArrowType::Boolean => {
            let a: &BooleanArray = array.as_boolean();
            let vals: Vec<bool> = a.iter().flatten().collect();
            (
                Datum::Boolean(vals.iter().all(|v| *v)),
                Datum::Boolean(vals.iter().any(|v| *v)),
            )
        }
        ArrowType::Int8 => prim::<Int8Type, _>(array, Datum::TinyInt),
        ArrowType::Int16 => prim::<Int16Type, _>(array, Datum::SmallInt),
        ArrowType::Int32 => prim::<Int32Type, _>(array, Datum::Int),
        ArrowType::Int64 => prim::<Int64Type, _>(array, Datum::BigInt),
        ArrowType::Date32 => prim::<Date32Type, _>(array, Datum::Date),
        ArrowType::Time32(TimeUnit::Millisecond) => {
            prim::<Time32MillisecondType, _>(array, Datum::Time)
        }
        ArrowType::Float32 => float::<Float32Type, _>(array, Datum::Float),
        ArrowType::Float64 => float::<Float64Type, _>(array, Datum::Double),
        ArrowType::Timestamp(TimeUnit::Millisecond, _) => {
            prim::<TimestampMillisecondType, _>(array, |v| ts(v, 1))
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            prim::<TimestampMicrosecondType, _>(array, |v| ts(v, 1_000))
        }
        ArrowType::Timestamp(TimeUnit::Nanosecond, _) => {
            prim::<TimestampNanosecondType, _>(array, |v| ts(v, 1_000_000))
        }
        ArrowType::Decimal128(_, scale) => {
            let a: &Decimal128Array = array.as_primitive();
            let scale = u32::try_from(*scale).unwrap_or(0);
            let (lo, hi) = min_max(a.iter().flatten());
            (
                lo.map_or(Datum::Null, |v| Datum::Decimal { unscaled: v, scale }),
                hi.map_or(Datum::Null, |v| Datum::Decimal { unscaled: v, scale }),
            )
        }
        ArrowType::Utf8 => {
            let a: &StringArray = array.as_string();
            let (lo, hi) = min_max(a.iter().flatten());
            (
                lo.map_or(Datum::Null, |s| Datum::String(truncate_min(s))),
                hi.and_then(truncate_max).map_or(Datum::Null, Datum::String),
            )
        }
        ArrowType::Binary => {
            let a: &BinaryArray = array.as_binary();
            let (lo, hi) = min_max(a.iter().flatten());
            (
                lo.map_or(Datum::Null, |b| Datum::Binary(b.to_vec())),
                hi.map_or(Datum::Null, |b| Datum::Binary(b.to_vec())),
            )
        }
        _ => (Datum::Null, Datum::Null),
    };
    ColumnStats {
        min,
        max,
        null_count: nulls,
    }
}

fn ts(v: i64, per_milli: i64) -> Datum {
    Datum::Timestamp {
        millis: v.div_euclid(per_milli),
        nanos_of_milli: (v.rem_euclid(per_milli) * (1_000_000 / per_milli)) as i32,
    }
}

fn min_max<T: PartialOrd + Copy>(it: impl Iterator<Item = T>) -> (Option<T>, Option<T>) {
    let mut lo: Option<T> = None;
    let mut hi: Option<T> = None;
    for v in it {
        if lo.is_none_or(|l| v < l) {
            lo = Some(v);
        }
        if hi.is_none_or(|h| v > h) {
            hi = Some(v);
        }
    }
    (lo, hi)
}

fn prim<T, F>(array: &ArrayRef, make: F) -> (Datum, Datum)
where
    T: arrow::datatypes::ArrowPrimitiveType,
    T::Native: PartialOrd + Copy,
    F: Fn(T::Native) -> Datum,
{
    let (lo, hi) = min_max(array.as_primitive::<T>().iter().flatten());
    (lo.map_or(Datum::Null, &make), hi.map_or(Datum::Null, &make))
}

fn float<T, F>(array: &ArrayRef, make: F) -> (Datum, Datum)
where
    T: arrow::datatypes::ArrowPrimitiveType,
    T::Native: PartialOrd + Copy + num_like::IsNan,
    F: Fn(T::Native) -> Datum,
{
    // NaN makes min/max meaningless for pruning; record none, as Paimon's collectors do.
    let values = array.as_primitive::<T>();
    if values
        .iter()
        .flatten()
        .any(|v| num_like::IsNan::is_nan_value(&v))
    {
        return (Datum::Null, Datum::Null);
    }
    let (lo, hi) = min_max(values.iter().flatten());
    (lo.map_or(Datum::Null, &make), hi.map_or(Datum::Null, &make))
}

mod num_like {
    pub(super) trait IsNan {
        fn is_nan_value(&self) -> bool;
    }
    impl IsNan for f32 {
        fn is_nan_value(&self) -> bool {
            self.is_nan()
        }
    }
    impl IsNan for f64 {
        fn is_nan_value(&self) -> bool {
            self.is_nan()
        }
    }
}

/// A prefix is still a lower bound.
fn truncate_min(s: &str) -> String {
    s.chars().take(STRING_STATS_LEN).collect()
}

/// A truncated string is an upper bound only after its last character is incremented.
fn truncate_max(s: &str) -> Option<String> {
    if s.chars().count() <= STRING_STATS_LEN {
        return Some(s.to_string());
    }
    let mut chars: Vec<char> = s.chars().take(STRING_STATS_LEN).collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The value at `row` of an Arrow column as a [`Datum`] (for partition values).
pub fn datum_at(array: &ArrayRef, row: usize) -> Datum {
    if array.is_null(row) {
        return Datum::Null;
    }
    let one = array.slice(row, 1);
    let s = column_stats(&one);
    match s.min {
        // Strings: the min of one value is the value truncated for stats; take it whole.
        Datum::String(_) => Datum::String(array.as_string::<i32>().value(row).to_string()),
        Datum::Null if matches!(array.data_type(), ArrowType::Float32 | ArrowType::Float64) => {
            match array.data_type() {
                ArrowType::Float32 => Datum::Float(array.as_primitive::<Float32Type>().value(row)),
                _ => Datum::Double(array.as_primitive::<Float64Type>().value(row)),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array};

    use super::*;

    #[test]
    fn ints_and_nulls() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None, Some(-2), Some(9)]));
        let s = column_stats(&a);
        assert_eq!(
            (s.min, s.max, s.null_count),
            (Datum::BigInt(-2), Datum::BigInt(9), 1)
        );
        let all_null: ArrayRef = Arc::new(Int64Array::from(vec![None, None]));
        assert_eq!(column_stats(&all_null), ColumnStats::empty(2));
    }

    #[test]
    fn strings_are_truncated_to_stay_bounds() {
        let long = "abcdefghijklmnopqrstuvwxyz";
        let a: ArrayRef = Arc::new(StringArray::from(vec!["b", long]));
        let s = column_stats(&a);
        assert_eq!(s.min, Datum::String("abcdefghijklmnop".into()));
        assert_eq!(s.max, Datum::String("b".into()));
        let a: ArrayRef = Arc::new(StringArray::from(vec!["a", "zzzzzzzzzzzzzzzzzzzz"]));
        assert_eq!(
            column_stats(&a).max,
            Datum::String("zzzzzzzzzzzzzzz{".into())
        );
    }

    #[test]
    fn nan_drops_float_bounds_and_merge_combines() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![1.0, f64::NAN]));
        let s = column_stats(&a);
        assert_eq!((s.min, s.max), (Datum::Null, Datum::Null));
        let x = ColumnStats {
            min: Datum::Int(3),
            max: Datum::Int(4),
            null_count: 1,
        };
        let y = ColumnStats {
            min: Datum::Int(1),
            max: Datum::Int(2),
            null_count: 2,
        };
        assert_eq!(
            x.merge(y),
            ColumnStats {
                min: Datum::Int(1),
                max: Datum::Int(4),
                null_count: 3
            }
        );
    }
}
