//! The Avro object-container framing, for copying data blocks between files without decoding
//! them (what Java's `ManifestFileBlockMerger` does). A file is a header (magic, metadata map,
//! 16-byte sync marker) followed by blocks of `[count][size][data][sync]`.

/// A parsed container file: its header metadata and its blocks, still compressed.
#[derive(Debug)]
pub(crate) struct Ocf<'a> {
    /// The header including the sync marker.
    pub header: &'a [u8],
    /// `avro.schema` metadata.
    pub schema: Vec<u8>,
    /// `avro.codec` metadata (`null` when absent).
    pub codec: Vec<u8>,
    /// The sync marker.
    pub sync: [u8; 16],
    /// Data blocks: record count and compressed bytes.
    pub blocks: Vec<(i64, &'a [u8])>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            value |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err("varint too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.bytes.get(self.pos..end).ok_or("truncated block")?;
        self.pos = end;
        Ok(s)
    }

    fn bytes_field(&mut self) -> Result<&'a [u8], String> {
        let n = self.long()?;
        self.take(usize::try_from(n).map_err(|_| "negative length")?)
    }
}

/// Parse the framing of a container file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Ocf<'_>, String> {
    if bytes.len() < 4 || &bytes[..4] != b"Obj\x01" {
        return Err("not an Avro object container file".into());
    }
    let mut c = Cursor { bytes, pos: 4 };
    let (mut schema, mut codec) = (Vec::new(), b"null".to_vec());
    loop {
        let mut count = c.long()?;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = count.checked_neg().ok_or("invalid header map count")?;
            c.long()?;
        }
        for _ in 0..count {
            let key = c.bytes_field()?;
            let value = c.bytes_field()?;
            match key {
                b"avro.schema" => schema = value.to_vec(),
                b"avro.codec" => codec = value.to_vec(),
                _ => {}
            }
        }
    }
    let mut sync = [0u8; 16];
    sync.copy_from_slice(c.take(16)?);
    let header = &bytes[..c.pos];
    let mut blocks = Vec::new();
    while c.pos < bytes.len() {
        let count = c.long()?;
        if count < 0 {
            return Err(format!("negative block record count {count}"));
        }
        let size = usize::try_from(c.long()?).map_err(|_| "negative block size")?;
        let data = c.take(size)?;
        if c.take(16)? != sync {
            return Err("block sync marker does not match the header".into());
        }
        blocks.push((count, data));
    }
    Ok(Ocf {
        header,
        schema,
        codec,
        sync,
        blocks,
    })
}

fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7F) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A file with `header` (which ends with `sync`) and these blocks.
pub(crate) fn assemble<'a>(
    header: &[u8],
    sync: &[u8; 16],
    blocks: impl IntoIterator<Item = (i64, &'a [u8])>,
) -> Vec<u8> {
    let mut out = header.to_vec();
    for (count, data) in blocks {
        put_long(&mut out, count);
        put_long(&mut out, data.len() as i64);
        out.extend_from_slice(data);
        out.extend_from_slice(sync);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::decode_manifest;
    use crate::format::manifest_write::{encode_manifest, tests::sample_entry};

    #[test]
    fn copies_blocks_between_files() {
        let a = encode_manifest(&[sample_entry("a", Some(1)), sample_entry("b", Some(1))])
            .unwrap_or_default();
        let b = encode_manifest(&[sample_entry("c", Some(2))]).unwrap_or_default();
        let (pa, pb) = (
            parse(&a).unwrap_or_else(|e| unreachable!("{e}")),
            parse(&b).unwrap_or_else(|e| unreachable!("{e}")),
        );
        assert_eq!(pa.schema, pb.schema);
        assert_eq!(pa.codec, b"zstandard");
        let joined = assemble(
            pa.header,
            &pa.sync,
            pa.blocks.iter().copied().chain(pb.blocks.iter().copied()),
        );
        let names: Vec<String> = decode_manifest(&joined, "m")
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.file.file_name)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(parse(&a[..a.len() - 3]).is_err());
        // A header map count of i64::MIN (zigzag: all ones) must not overflow on negation.
        let mut bad = b"Obj\x01".to_vec();
        bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn zigzag() {
        for v in [0i64, 1, -1, 63, -64, 64, 1 << 40, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_long(&mut out, v);
            assert_eq!(
                Cursor {
                    bytes: &out,
                    pos: 0
                }
                .long(),
                Ok(v)
            );
        }
    }
}
