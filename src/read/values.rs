//! Partition values as Arrow columns: a partition column is not read from the files, it is
//! filled in from the partition of the manifest entry (every row of a file has the same value).

use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, StringArray,
    Time32MillisecondArray, TimestampNanosecondArray, UInt32Array,
};
use arrow::compute::{cast_with_options, take, CastOptions};
use arrow::datatypes::DataType as ArrowType;

use crate::format::binary_row::Datum;

/// A column of `rows` copies of `value`, of type `to`.
pub(crate) fn constant(value: &Datum, to: &ArrowType, rows: usize) -> Result<ArrayRef, String> {
    let one: ArrayRef = match value {
        Datum::Null => return Ok(new_null_array(to, rows)),
        Datum::Boolean(v) => Arc::new(BooleanArray::from(vec![*v])),
        Datum::TinyInt(v) => Arc::new(Int8Array::from(vec![*v])),
        Datum::SmallInt(v) => Arc::new(Int16Array::from(vec![*v])),
        Datum::Int(v) => Arc::new(Int32Array::from(vec![*v])),
        Datum::BigInt(v) => Arc::new(Int64Array::from(vec![*v])),
        Datum::Float(v) => Arc::new(Float32Array::from(vec![*v])),
        Datum::Double(v) => Arc::new(Float64Array::from(vec![*v])),
        Datum::String(v) => Arc::new(StringArray::from(vec![v.as_str()])),
        Datum::Binary(v) => Arc::new(BinaryArray::from_vec(vec![v.as_slice()])),
        Datum::Date(v) => Arc::new(Date32Array::from(vec![*v])),
        Datum::Time(v) => Arc::new(Time32MillisecondArray::from(vec![*v])),
        Datum::Timestamp {
            millis,
            nanos_of_milli,
        } => {
            let nanos = millis
                .checked_mul(1_000_000)
                .and_then(|n| n.checked_add(i64::from(*nanos_of_milli)))
                .ok_or_else(|| format!("timestamp {millis} ms is out of range"))?;
            Arc::new(TimestampNanosecondArray::from(vec![nanos]))
        }
        Datum::Decimal { unscaled, scale } => {
            let scale = i8::try_from(*scale).map_err(|_| format!("decimal scale {scale}"))?;
            Arc::new(
                Decimal128Array::from(vec![*unscaled])
                    .with_precision_and_scale(38, scale)
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    let one = if one.data_type() == to {
        one
    } else {
        let strict = CastOptions {
            safe: false,
            ..CastOptions::default()
        };
        cast_with_options(&one, to, &strict)
            .map_err(|e| format!("cannot make {value:?} a {to}: {e}"))?
    };
    let zeros = UInt32Array::from(vec![0u32; rows]);
    take(one.as_ref(), &zeros, None).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Date32Type, Int32Type, TimeUnit, TimestampMicrosecondType};

    use super::*;

    #[test]
    fn constants_have_the_target_type_and_length() {
        let a = constant(&Datum::String("x".into()), &ArrowType::Utf8, 3).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a.as_string::<i32>().value(2), "x");
        let d = constant(&Datum::Date(19723), &ArrowType::Date32, 2).unwrap();
        assert_eq!(d.as_primitive::<Date32Type>().value(1), 19723);
        let n = constant(&Datum::Null, &ArrowType::Int32, 4).unwrap();
        assert_eq!((n.len(), n.null_count()), (4, 4));
        let i = constant(&Datum::Int(7), &ArrowType::Int32, 1).unwrap();
        assert_eq!(i.as_primitive::<Int32Type>().value(0), 7);
        let ts = constant(
            &Datum::Timestamp {
                millis: 1_500,
                nanos_of_milli: 2_000,
            },
            &ArrowType::Timestamp(TimeUnit::Microsecond, None),
            1,
        )
        .unwrap();
        assert_eq!(
            ts.as_primitive::<TimestampMicrosecondType>().value(0),
            1_500_002
        );
        assert!(constant(&Datum::String("x".into()), &ArrowType::Int32, 1).is_err());
    }
}
