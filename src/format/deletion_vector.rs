//! Deletion vectors (`index/index-*` files of type `DELETION_VECTORS`): for each data file, the
//! row positions that are deleted. Pure: bytes in, bitmap out.
//!
//! A vector starts at its recorded offset in the index file (Java's `DeletionVector.read`):
//! a big-endian `i32` length, a big-endian `i32` magic number, the bitmap, and a CRC (not
//! checked by Java either). Two kinds:
//! - `BitmapDeletionVector` (magic 1581511376): a 32-bit RoaringBitmap in the portable format;
//!   the recorded length equals the length field (magic + bitmap).
//! - `Bitmap64DeletionVector` (`deletion-vectors.bitmap64`, magic 1681511377 stored
//!   little-endian): a 64-bit roaring bitmap (a little-endian `u64` count, then per high key a
//!   little-endian `u32` and a portable 32-bit bitmap); the recorded length covers the length
//!   field, magic, bitmap and CRC.

use roaring::{RoaringBitmap, RoaringTreemap};

use crate::error::{Error, Result};

const MAGIC_V1: i32 = 1_581_511_376;
const MAGIC_V2: i32 = 1_681_511_377;

/// The deleted positions of one data file.
#[derive(Debug, Clone, PartialEq)]
pub enum DeletionVector {
    /// 32-bit positions.
    Bitmap(RoaringBitmap),
    /// 64-bit positions.
    Bitmap64(RoaringTreemap),
}

impl DeletionVector {
    /// Is the row at `position` (0-based in its file) deleted?
    pub fn is_deleted(&self, position: u64) -> bool {
        match self {
            DeletionVector::Bitmap(b) => u32::try_from(position).is_ok_and(|p| b.contains(p)),
            DeletionVector::Bitmap64(b) => b.contains(position),
        }
    }

    /// Deleted rows.
    pub fn cardinality(&self) -> u64 {
        match self {
            DeletionVector::Bitmap(b) => b.len(),
            DeletionVector::Bitmap64(b) => b.len(),
        }
    }
}

/// Decode the vector at `offset` of the index file `bytes` with the recorded `length`. `key`
/// names the index file in errors.
pub fn decode(bytes: &[u8], offset: i32, length: i32, key: &str) -> Result<DeletionVector> {
    let bad =
        |why: String| Error::corrupt(key, format!("deletion vector at offset {offset}: {why}"));
    let start = usize::try_from(offset).map_err(|_| bad("negative offset".into()))?;
    let int_at = |at: usize| -> Result<i32> {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_be_bytes)
            .ok_or_else(|| bad(format!("the file ends at byte {}", bytes.len())))
    };
    let bitmap_length = int_at(start)?;
    let magic = int_at(start + 4)?;
    let body_len = usize::try_from(bitmap_length)
        .ok()
        .and_then(|l| l.checked_sub(4))
        .ok_or_else(|| bad(format!("length {bitmap_length}")))?;
    let body = bytes.get(start + 8..start + 8 + body_len).ok_or_else(|| {
        bad(format!(
            "{body_len} bitmap bytes run past the end of the file"
        ))
    })?;
    if magic == MAGIC_V1 {
        if bitmap_length != length {
            return Err(bad(format!(
                "the file says {bitmap_length} bytes, the index manifest {length}"
            )));
        }
        let b = RoaringBitmap::deserialize_from(body).map_err(|e| bad(e.to_string()))?;
        Ok(DeletionVector::Bitmap(b))
    } else if magic.swap_bytes() == MAGIC_V2 {
        if i64::from(bitmap_length) != i64::from(length) - 8 {
            return Err(bad(format!(
                "the file says {bitmap_length} bitmap bytes, the index manifest {length} in all"
            )));
        }
        let b = RoaringTreemap::deserialize_from(body).map_err(|e| bad(e.to_string()))?;
        Ok(DeletionVector::Bitmap64(b))
    } else {
        Err(bad(format!("unknown magic number {magic}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Java's layout: length, magic, bitmap, CRC (zero here; not checked).
    fn framed(magic: [u8; 4], bitmap: &[u8], length_field: i32) -> Vec<u8> {
        let mut out = vec![0xEE; 3]; // something before the offset
        out.extend(length_field.to_be_bytes());
        out.extend(magic);
        out.extend(bitmap);
        out.extend([0, 0, 0, 0]);
        out
    }

    #[test]
    fn both_kinds_decode_and_damage_is_an_error() {
        let mut b = RoaringBitmap::new();
        b.extend([0u32, 5, 6, 100_000]);
        let mut bytes = Vec::new();
        b.serialize_into(&mut bytes).unwrap();
        let len = 4 + bytes.len() as i32;
        let file = framed(MAGIC_V1.to_be_bytes(), &bytes, len);
        let dv = decode(&file, 3, len, "index/i").unwrap();
        assert_eq!(dv.cardinality(), 4);
        assert!(dv.is_deleted(5) && !dv.is_deleted(4) && !dv.is_deleted(1 << 40));

        let mut t = RoaringTreemap::new();
        t.extend([1u64, (1 << 33) + 7]);
        let mut bytes = Vec::new();
        t.serialize_into(&mut bytes).unwrap();
        let field = 4 + bytes.len() as i32;
        let file = framed(MAGIC_V2.to_le_bytes(), &bytes, field);
        let dv = decode(&file, 3, field + 8, "index/i").unwrap();
        assert!(dv.is_deleted((1 << 33) + 7) && dv.is_deleted(1) && !dv.is_deleted(2));

        let err = decode(&file, 3, field, "index/i").unwrap_err();
        assert!(err.to_string().contains("index/i"), "{err}");
        assert!(decode(&file[..10], 3, field + 8, "index/i").is_err());
        assert!(decode(&[0; 16], 0, 4, "index/i").is_err());
    }
}
