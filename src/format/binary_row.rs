//! Paimon's `BinaryRow`: the byte layout of partition values, keys and statistics in manifests.
//!
//! A manifest `bytes` field holds `[arity: i32 big-endian] ++ [row]`. The row is a null bit set
//! (`W` bytes, bits 0–7 are the row-kind header), one 8-byte little-endian slot per field, then a
//! variable-length part. Strings of at most 7 bytes are stored inline in the slot. The encoder
//! reproduces Java's bytes exactly (zeroed padding, inline short strings), because Java compares
//! partitions by their bytes. Spec: paimon-format.md §5.2.

use crate::format::types::{DataType, TypeRoot};

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Datum {
    Null,
    Boolean(bool),
    TinyInt(i8),
    SmallInt(i16),
    Int(i32),
    BigInt(i64),
    Float(f32),
    Double(f64),
    String(String),
    Binary(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds of the day.
    Time(i32),
    /// Milliseconds since the epoch plus the nanoseconds within that millisecond. For a
    /// `TIMESTAMP` without time zone this is the wall-clock value read as if it were UTC.
    Timestamp {
        millis: i64,
        nanos_of_milli: i32,
    },
    /// Unscaled value with its scale.
    Decimal {
        unscaled: i128,
        scale: u32,
    },
}

/// Serialized `EMPTY_ROW` (Paimon's row of arity 0): the arity, then one zeroed 8-byte
/// null-bit word. Keys of append tables and partitions of unpartitioned tables.
pub const EMPTY_ROW: [u8; 12] = [0; 12];

/// Why a row could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RowError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, RowError> {
    Err(RowError(msg.into()))
}

/// Width of the null bit set for a row of `arity` fields (Java: `((arity + 63 + 8) / 64) * 8`;
/// the 8 extra bits are the row-kind header).
pub fn null_bits_width(arity: usize) -> usize {
    arity.saturating_add(63 + 8) / 64 * 8
}

/// The arity stored in front of a serialized row.
pub fn serialized_arity(bytes: &[u8]) -> Result<usize, RowError> {
    let head: [u8; 4] = match bytes.get(..4).map(<[u8; 4]>::try_from) {
        Some(Ok(h)) => h,
        _ => {
            return err(format!(
                "serialized row has {} bytes, need at least 4",
                bytes.len()
            ))
        }
    };
    let arity = i32::from_be_bytes(head);
    if arity < 0 {
        return err(format!("negative row arity {arity}"));
    }
    Ok(arity as usize)
}

/// Check a serialized row's frame without knowing its types: a non-negative arity and room for
/// the null bits and the fixed-width slots. Run when a manifest is decoded, so that a damaged
/// row is reported with the manifest's name rather than later, far from the file it came from.
pub fn check_frame(bytes: &[u8]) -> Result<(), RowError> {
    let arity = serialized_arity(bytes)?;
    if arity == 0 {
        return Ok(());
    }
    let fixed = null_bits_width(arity).saturating_add(arity.saturating_mul(8));
    let have = bytes.len() - 4;
    if have < fixed {
        return err(format!(
            "row of arity {arity} needs at least {fixed} bytes, found {have}"
        ));
    }
    Ok(())
}

/// Decode a serialized row (`[arity BE] ++ row`) with the given field types.
///
/// An arity-0 row (Paimon's `EMPTY_ROW`, used for unpartitioned tables) decodes to no values
/// whatever `types` says.
pub fn decode(bytes: &[u8], types: &[DataType]) -> Result<Vec<Datum>, RowError> {
    let arity = serialized_arity(bytes)?;
    let row = &bytes[4..];
    if arity == 0 {
        return Ok(Vec::new());
    }
    if arity != types.len() {
        return err(format!(
            "row has {arity} fields but {} types were expected",
            types.len()
        ));
    }
    let width = null_bits_width(arity);
    let fixed = width + 8 * arity;
    if row.len() < fixed {
        return err(format!(
            "row of arity {arity} needs at least {fixed} bytes, found {}",
            row.len()
        ));
    }
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let bit = i + 8;
            if row[bit >> 3] & (1 << (bit & 7)) != 0 {
                return Ok(Datum::Null);
            }
            let slot_at = width + 8 * i;
            decode_field(row, slot_at, t).map_err(|e| RowError(format!("field {i}: {}", e.0)))
        })
        .collect()
}

fn slot(row: &[u8], at: usize) -> [u8; 8] {
    let mut s = [0u8; 8];
    s.copy_from_slice(&row[at..at + 8]);
    s
}

fn var_bytes(row: &[u8], offset: usize, len: usize) -> Result<&[u8], RowError> {
    match row.get(offset..offset.saturating_add(len)) {
        Some(b) => Ok(b),
        None => err(format!(
            "variable part [{offset}, +{len}) lies outside the row of {} bytes",
            row.len()
        )),
    }
}

fn decode_field(row: &[u8], at: usize, t: &DataType) -> Result<Datum, RowError> {
    let s = slot(row, at);
    let word = u64::from_le_bytes(s);
    let offset_len = || ((word >> 32) as usize, (word & 0xFFFF_FFFF) as usize);
    Ok(match &t.root {
        TypeRoot::Boolean => Datum::Boolean(s[0] != 0),
        TypeRoot::TinyInt => Datum::TinyInt(s[0] as i8),
        TypeRoot::SmallInt => Datum::SmallInt(i16::from_le_bytes([s[0], s[1]])),
        TypeRoot::Int => Datum::Int(i32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        TypeRoot::Date => Datum::Date(i32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        TypeRoot::Time(_) => Datum::Time(i32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        TypeRoot::BigInt => Datum::BigInt(word as i64),
        TypeRoot::Float => Datum::Float(f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        TypeRoot::Double => Datum::Double(f64::from_le_bytes(s)),
        TypeRoot::Decimal { precision, scale } if *precision <= 18 => Datum::Decimal {
            unscaled: i128::from(word as i64),
            scale: *scale,
        },
        TypeRoot::Decimal { scale, .. } => {
            let (offset, len) = offset_len();
            if len > 16 {
                return err(format!("decimal of {len} bytes exceeds 16"));
            }
            let bytes = var_bytes(row, offset, len)?;
            Datum::Decimal {
                unscaled: be_twos_complement(bytes),
                scale: *scale,
            }
        }
        TypeRoot::Timestamp(p) | TypeRoot::TimestampLtz(p) if *p <= 3 => Datum::Timestamp {
            millis: word as i64,
            nanos_of_milli: 0,
        },
        TypeRoot::Timestamp(_) | TypeRoot::TimestampLtz(_) => {
            let (offset, nanos) = offset_len();
            let b = var_bytes(row, offset, 8)?;
            let mut m = [0u8; 8];
            m.copy_from_slice(b);
            Datum::Timestamp {
                millis: i64::from_le_bytes(m),
                nanos_of_milli: nanos as i32,
            }
        }
        TypeRoot::Char(_) | TypeRoot::VarChar(_) => {
            let bytes = decode_bytes(row, s, word)?;
            match String::from_utf8(bytes.to_vec()) {
                Ok(text) => Datum::String(text),
                Err(_) => return err("string is not valid UTF-8"),
            }
        }
        TypeRoot::Binary(_) | TypeRoot::VarBinary(_) => {
            Datum::Binary(decode_bytes(row, s, word)?.to_vec())
        }
        other => {
            return err(format!(
                "type {other:?} is not supported in a BinaryRow here"
            ))
        }
    })
}

fn decode_bytes<'a>(
    row: &'a [u8],
    s: [u8; 8],
    word: u64,
) -> Result<std::borrow::Cow<'a, [u8]>, RowError> {
    if word & (1 << 63) != 0 {
        let len = ((word >> 56) & 0x7F) as usize;
        if len > 7 {
            return err(format!("inline value claims {len} bytes"));
        }
        Ok(std::borrow::Cow::Owned(s[..len].to_vec()))
    } else {
        let offset = (word >> 32) as usize;
        let len = (word & 0xFFFF_FFFF) as usize;
        Ok(std::borrow::Cow::Borrowed(var_bytes(row, offset, len)?))
    }
}

fn be_twos_complement(bytes: &[u8]) -> i128 {
    if bytes.is_empty() {
        return 0;
    }
    let negative = bytes[0] & 0x80 != 0;
    let mut buf = if negative { [0xFFu8; 16] } else { [0u8; 16] };
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    i128::from_be_bytes(buf)
}

/// Java `BigInteger.toByteArray()`: the shortest big-endian two's complement form.
fn to_min_be_bytes(v: i128) -> Vec<u8> {
    let full = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (full[start], full[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    full[start..].to_vec()
}

/// Encode values as a serialized row (`[arity BE] ++ row`) with Java's exact bytes.
pub fn encode(values: &[Datum], types: &[DataType]) -> Result<Vec<u8>, RowError> {
    if values.len() != types.len() {
        return err(format!("{} values for {} types", values.len(), types.len()));
    }
    let arity = values.len();
    let width = null_bits_width(arity);
    let fixed = width + 8 * arity;
    let mut row = vec![0u8; fixed];
    for (i, (v, t)) in values.iter().zip(types).enumerate() {
        let at = width + 8 * i;
        encode_field(&mut row, at, i, v, t)?;
    }
    let mut out = Vec::with_capacity(4 + row.len());
    out.extend_from_slice(&(arity as i32).to_be_bytes());
    out.extend_from_slice(&row);
    Ok(out)
}

fn set_null(row: &mut [u8], i: usize) {
    let bit = i + 8;
    row[bit >> 3] |= 1 << (bit & 7);
}

fn put_slot(row: &mut [u8], at: usize, word: u64) {
    row[at..at + 8].copy_from_slice(&word.to_le_bytes());
}

/// Append `len` reserved bytes (rounded up to 8) to the variable part; returns their offset.
fn reserve(row: &mut Vec<u8>, data: &[u8], reserved: usize) -> usize {
    let offset = row.len();
    let rounded = reserved.div_ceil(8) * 8;
    row.extend_from_slice(data);
    row.resize(offset + rounded, 0);
    offset
}

fn encode_field(
    row: &mut Vec<u8>,
    at: usize,
    i: usize,
    v: &Datum,
    t: &DataType,
) -> Result<(), RowError> {
    let mismatch = || {
        RowError(format!(
            "field {i}: value {v:?} does not fit type {}",
            t.sql()
        ))
    };
    match (&t.root, v) {
        // Non-compact decimals and timestamps reserve their variable part even when null,
        // exactly as Java's BinaryRowWriter does (it keeps the offset for later updates).
        (TypeRoot::Decimal { precision, .. }, Datum::Null) if *precision > 18 => {
            set_null(row, i);
            let offset = reserve(row, &[], 16);
            put_slot(row, at, (offset as u64) << 32);
        }
        (TypeRoot::Timestamp(p) | TypeRoot::TimestampLtz(p), Datum::Null) if *p > 3 => {
            set_null(row, i);
            let offset = reserve(row, &[], 8);
            put_slot(row, at, (offset as u64) << 32);
        }
        (_, Datum::Null) => set_null(row, i),
        (TypeRoot::Boolean, Datum::Boolean(b)) => row[at] = u8::from(*b),
        (TypeRoot::TinyInt, Datum::TinyInt(x)) => row[at] = *x as u8,
        (TypeRoot::SmallInt, Datum::SmallInt(x)) => {
            row[at..at + 2].copy_from_slice(&x.to_le_bytes())
        }
        (TypeRoot::Int, Datum::Int(x))
        | (TypeRoot::Date, Datum::Date(x))
        | (TypeRoot::Time(_), Datum::Time(x)) => row[at..at + 4].copy_from_slice(&x.to_le_bytes()),
        (TypeRoot::BigInt, Datum::BigInt(x)) => put_slot(row, at, *x as u64),
        (TypeRoot::Float, Datum::Float(x)) => row[at..at + 4].copy_from_slice(&x.to_le_bytes()),
        (TypeRoot::Double, Datum::Double(x)) => put_slot(row, at, x.to_bits()),
        (TypeRoot::Decimal { precision, .. }, Datum::Decimal { unscaled, .. })
            if *precision <= 18 =>
        {
            let v = i64::try_from(*unscaled).map_err(|_| mismatch())?;
            put_slot(row, at, v as u64);
        }
        (TypeRoot::Decimal { .. }, Datum::Decimal { unscaled, .. }) => {
            let bytes = to_min_be_bytes(*unscaled);
            let offset = reserve(row, &bytes, 16);
            put_slot(row, at, ((offset as u64) << 32) | bytes.len() as u64);
        }
        (TypeRoot::Timestamp(p) | TypeRoot::TimestampLtz(p), Datum::Timestamp { millis, .. })
            if *p <= 3 =>
        {
            put_slot(row, at, *millis as u64);
        }
        (
            TypeRoot::Timestamp(_) | TypeRoot::TimestampLtz(_),
            Datum::Timestamp {
                millis,
                nanos_of_milli,
            },
        ) => {
            let offset = reserve(row, &millis.to_le_bytes(), 8);
            put_slot(
                row,
                at,
                ((offset as u64) << 32) | (*nanos_of_milli as u32 as u64),
            );
        }
        (TypeRoot::Char(_) | TypeRoot::VarChar(_), Datum::String(s)) => {
            put_bytes(row, at, s.as_bytes())
        }
        (TypeRoot::Binary(_) | TypeRoot::VarBinary(_), Datum::Binary(b)) => put_bytes(row, at, b),
        _ => return Err(mismatch()),
    }
    Ok(())
}

fn put_bytes(row: &mut Vec<u8>, at: usize, data: &[u8]) {
    if data.len() <= 7 {
        let mut s = [0u8; 8];
        s[..data.len()].copy_from_slice(data);
        s[7] = 0x80 | data.len() as u8;
        row[at..at + 8].copy_from_slice(&s);
    } else {
        let offset = reserve(row, data, data.len());
        put_slot(row, at, ((offset as u64) << 32) | data.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::types::MAX_LENGTH;

    #[test]
    fn frames() {
        assert!(check_frame(&[0, 0, 0, 0]).is_ok());
        // arity 1: 8 bytes of null bits and one 8-byte slot.
        let mut one = vec![0, 0, 0, 1];
        one.extend([0u8; 16]);
        assert!(check_frame(&one).is_ok());
        assert!(check_frame(&one[..19]).is_err());
        assert!(check_frame(&[0x80, 0, 0, 1]).is_err());
        assert!(check_frame(&[0, 0, 0]).is_err());
        // A flipped high bit turns arity 1 into a huge one: caught, not allocated.
        let mut huge = one.clone();
        huge[0] = 0x41;
        assert!(check_frame(&huge).is_err());
    }

    fn t(root: TypeRoot) -> DataType {
        DataType::nullable(root)
    }

    fn hex(s: &str) -> Vec<u8> {
        let clean: String = s.split_whitespace().collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    #[test]
    fn null_bit_width_matches_java() {
        // Java: ((arity + 63 + 8) / 64) * 8
        for arity in 0..200usize {
            assert_eq!(
                null_bits_width(arity),
                ((arity + 63 + 8) / 64) * 8,
                "arity {arity}"
            );
        }
    }

    #[test]
    fn worked_examples_from_the_spec() {
        // Partition (INT 1).
        let one_int = hex("00000001 0000000000000000 0100000000000000");
        assert_eq!(
            decode(&one_int, &[t(TypeRoot::Int)]),
            Ok(vec![Datum::Int(1)])
        );
        assert_eq!(
            encode(&[Datum::Int(1)], &[t(TypeRoot::Int)]).ok(),
            Some(one_int)
        );

        // Stats row (INT 1, STRING "1").
        let types = [t(TypeRoot::Int), t(TypeRoot::VarChar(MAX_LENGTH))];
        let bytes = hex("00000002 0000000000000000 0100000000000000 3100000000000081");
        let values = vec![Datum::Int(1), Datum::String("1".into())];
        assert_eq!(decode(&bytes, &types), Ok(values.clone()));
        assert_eq!(encode(&values, &types).ok(), Some(bytes));

        // Partition (STRING '2024-01-01', INT 10): a long string in the variable part.
        let types = [t(TypeRoot::VarChar(MAX_LENGTH)), t(TypeRoot::Int)];
        let bytes = hex(
            "00000002 0000000000000000 0a00000018000000 0a00000000000000 \
             323032342d30312d3031000000000000",
        );
        let values = vec![Datum::String("2024-01-01".into()), Datum::Int(10)];
        assert_eq!(decode(&bytes, &types), Ok(values.clone()));
        assert_eq!(encode(&values, &types).ok(), Some(bytes));
    }

    #[test]
    fn empty_row() {
        let bytes = hex("00000000 0000000000000000");
        assert_eq!(decode(&bytes, &[]), Ok(vec![]));
        assert_eq!(encode(&[], &[]).ok(), Some(bytes));
    }

    #[test]
    fn round_trips_every_type() {
        let types = vec![
            t(TypeRoot::Boolean),
            t(TypeRoot::TinyInt),
            t(TypeRoot::SmallInt),
            t(TypeRoot::Int),
            t(TypeRoot::BigInt),
            t(TypeRoot::Float),
            t(TypeRoot::Double),
            t(TypeRoot::VarChar(MAX_LENGTH)),
            t(TypeRoot::Date),
            t(TypeRoot::Timestamp(3)),
            t(TypeRoot::Timestamp(6)),
            t(TypeRoot::Decimal {
                precision: 10,
                scale: 2,
            }),
            t(TypeRoot::Decimal {
                precision: 38,
                scale: 4,
            }),
            t(TypeRoot::VarBinary(MAX_LENGTH)),
            t(TypeRoot::Int),
            t(TypeRoot::Decimal {
                precision: 20,
                scale: 0,
            }),
            t(TypeRoot::Timestamp(9)),
        ];
        let values = vec![
            Datum::Boolean(true),
            Datum::TinyInt(-3),
            Datum::SmallInt(-300),
            Datum::Int(-70000),
            Datum::BigInt(i64::MIN),
            Datum::Float(1.5),
            Datum::Double(-2.25),
            Datum::String("a string longer than seven bytes".into()),
            Datum::Date(19723),
            Datum::Timestamp {
                millis: 1_700_000_000_123,
                nanos_of_milli: 0,
            },
            Datum::Timestamp {
                millis: -1,
                nanos_of_milli: 456_000,
            },
            Datum::Decimal {
                unscaled: -12345,
                scale: 2,
            },
            Datum::Decimal {
                unscaled: -170_141_183_460_469_231_731_687_303_715_884_105_727,
                scale: 4,
            },
            Datum::Binary(vec![1, 2, 3]),
            Datum::Null,
            Datum::Null,
            Datum::Null,
        ];
        let bytes = encode(&values, &types).unwrap_or_default();
        assert_eq!(decode(&bytes, &types), Ok(values));
    }

    #[test]
    fn java_min_bytes() {
        assert_eq!(to_min_be_bytes(0), vec![0]);
        assert_eq!(to_min_be_bytes(127), vec![0x7F]);
        assert_eq!(to_min_be_bytes(128), vec![0x00, 0x80]);
        assert_eq!(to_min_be_bytes(-1), vec![0xFF]);
        assert_eq!(to_min_be_bytes(-129), vec![0xFF, 0x7F]);
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        let types = [t(TypeRoot::VarChar(MAX_LENGTH))];
        assert!(decode(&[0, 0], &types).is_err());
        assert!(decode(&hex("00000001 00"), &types).is_err());
        // Slot points past the end.
        assert!(decode(&hex("00000001 0000000000000000 0500000040000000"), &types).is_err());
        // Arity mismatch.
        assert!(decode(
            &hex("00000002 0000000000000000 00 00 00 00 00 00 00 00 0000000000000000"),
            &types
        )
        .is_err());
        assert!(decode(&hex("ffffffff"), &types).is_err());
    }
}
