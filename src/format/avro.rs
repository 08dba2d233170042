//! Shared helpers for Paimon's Avro files: read every record of an object container file and
//! look fields up **by name**, as Java's `FieldReaderFactory.RowReader` does. Fields a Paimon
//! generation lacks read as absent; fields newer than this tool are ignored; nullable
//! (`["null", T]`) and plain shapes are both accepted (paimon-format.md §4.1).

use crate::error::{Error, Result};
use crate::format::avro_datum::{for_each_record, map_records_parallel, Datum};

/// Decode every record of an Avro object container file with `convert`, one record at a time:
/// each decoded record borrows from its block and is dropped as soon as it is converted, so
/// memory holds the converted records only.
pub(crate) fn read_records<T>(
    bytes: &[u8],
    path: &str,
    convert: impl FnMut(Rec<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    if bytes.len() < 4 || &bytes[..4] != b"Obj\x01" {
        return Err(Error::corrupt(
            path,
            "not an Avro object container file (bad magic); ORC and Parquet manifests are not supported",
        ));
    }
    let mut convert = convert;
    // The decoder is ours and checks every length, but block decompression is apache-avro's
    // and a maintenance job must never die half-way on a damaged file: a panic there becomes
    // an error naming the file. The closure only converts values, so nothing half-updated
    // is observable (the partial output is dropped with the error).
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

/// The cores this process may use, asked once: on Linux the standard library reads three
/// cgroup files per call, which was three quarters of the system calls of listing a table of
/// 3,000 small manifests.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

/// [`read_records`] for files that may be large: the blocks of a large file are decoded on
/// all cores (see [`map_records_parallel`]); records come out in file order.
pub(crate) fn read_records_parallel<T: Send>(
    bytes: &[u8],
    path: &str,
    convert: impl Fn(Rec<'_>) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    if bytes.len() < 4 || &bytes[..4] != b"Obj\x01" {
        return Err(Error::corrupt(
            path,
            "not an Avro object container file (bad magic); ORC and Parquet manifests are not supported",
        ));
    }
    let threads = cores();
    // As in `read_records`: a panic in block decompression becomes an error naming the file.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map_records_parallel(bytes, threads, |d, arena| {
            let rec = Rec::new(d, arena, path).map_err(Stop::Convert)?;
            convert(rec).map_err(Stop::Convert)
        })
    }));
    match run {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(Stop::Damaged(why))) => Err(Error::corrupt(path, why)),
        Ok(Err(Stop::Convert(e))) => Err(e),
        Err(_) => Err(Error::corrupt(
            path,
            "unreadable Avro file (the Avro decoder panicked on it)",
        )),
    }
}

/// Why a decode stopped: a damaged file (plain text) or the caller's own error.
enum Stop {
    Damaged(String),
    Convert(Error),
}

impl From<String> for Stop {
    fn from(s: String) -> Self {
        Stop::Damaged(s)
    }
}

fn decode_all<T>(
    bytes: &[u8],
    path: &str,
    convert: &mut impl FnMut(Rec<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let run = for_each_record(bytes, |d, arena| {
        let rec = Rec::new(d, arena, path).map_err(Stop::Convert)?;
        out.push(convert(rec).map_err(Stop::Convert)?);
        Ok(())
    });
    match run {
        Ok(()) => Ok(out),
        Err(Stop::Damaged(why)) => Err(Error::corrupt(path, why)),
        Err(Stop::Convert(e)) => Err(e),
    }
}

/// A record with by-name field access and errors that name the file and field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec<'a> {
    names: &'a [String],
    fields: &'a [Datum<'a>],
    /// The record's arena, where nested records and arrays keep their children.
    arena: &'a [Datum<'a>],
    path: &'a str,
}

impl<'a> Rec<'a> {
    /// View a record value whose children are in `arena`.
    pub(crate) fn new(value: &Datum<'a>, arena: &'a [Datum<'a>], path: &'a str) -> Result<Self> {
        match *value {
            Datum::Record { names, start } => Ok(Rec {
                names,
                fields: arena
                    .get(start..start + names.len())
                    .ok_or_else(|| Error::corrupt(path, "damaged Avro record"))?,
                arena,
                path,
            }),
            other => Err(Error::corrupt(
                path,
                format!("expected an Avro record, found {}", kind(&other)),
            )),
        }
    }

    /// A field's value, `None` when absent or null.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Datum<'a>> {
        let i = self.names.iter().position(|n| n == name)?;
        self.fields.get(i).filter(|v| !matches!(v, Datum::Null))
    }

    fn missing(&self, name: &str) -> Error {
        Error::corrupt(self.path, format!("record lacks required field '{name}'"))
    }

    fn wrong(&self, name: &str, want: &str, found: &Datum<'_>) -> Error {
        Error::corrupt(
            self.path,
            format!("field '{name}' must be {want}, found {}", kind(found)),
        )
    }

    pub(crate) fn opt_long(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Datum::Long(v)) => Ok(Some(*v)),
            Some(Datum::Int(v)) => Ok(Some(i64::from(*v))),
            Some(other) => Err(self.wrong(name, "a long", other)),
        }
    }

    pub(crate) fn long(&self, name: &str) -> Result<i64> {
        self.opt_long(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i32>> {
        match self.get(name) {
            None => Ok(None),
            Some(Datum::Int(v)) => Ok(Some(*v)),
            Some(d @ Datum::Long(v)) => i32::try_from(*v)
                .map(Some)
                .map_err(|_| self.wrong(name, "an int", d)),
            Some(other) => Err(self.wrong(name, "an int", other)),
        }
    }

    pub(crate) fn int(&self, name: &str) -> Result<i32> {
        self.opt_int(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Datum::Str(s)) => Ok(Some((*s).to_owned())),
            Some(d @ Datum::Bytes(b)) => std::str::from_utf8(b)
                .map(|s| Some(s.to_owned()))
                .map_err(|_| self.wrong(name, "UTF-8 text", d)),
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
            Some(Datum::Bytes(b)) | Some(Datum::Fixed(b)) => Ok(Some(b.to_vec())),
            Some(other) => Err(self.wrong(name, "bytes", other)),
        }
    }

    pub(crate) fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        self.opt_bytes(name)?.ok_or_else(|| self.missing(name))
    }

    /// The items of an array field; `None` when absent or null.
    fn opt_array(&self, name: &str) -> Result<Option<&'a [Datum<'a>]>> {
        match self.get(name) {
            None => Ok(None),
            Some(Datum::Array { start, len }) => self
                .arena
                .get(*start..start + len)
                .map(Some)
                .ok_or_else(|| Error::corrupt(self.path, "damaged Avro array")),
            Some(other) => Err(self.wrong(name, "an array", other)),
        }
    }

    /// An array of strings; `None` when absent or null.
    pub(crate) fn opt_str_array(&self, name: &str) -> Result<Option<Vec<String>>> {
        let Some(items) = self.opt_array(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| match v {
                Datum::Str(s) => Ok((*s).to_owned()),
                other => Err(self.wrong(name, "an array of strings", other)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An array of nullable longs; `None` when absent or null.
    pub(crate) fn opt_long_array(&self, name: &str) -> Result<Option<Vec<Option<i64>>>> {
        let Some(items) = self.opt_array(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| match v {
                Datum::Null => Ok(None),
                Datum::Long(x) => Ok(Some(*x)),
                Datum::Int(x) => Ok(Some(i64::from(*x))),
                other => Err(self.wrong(name, "an array of longs", other)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An array of records; `None` when absent or null.
    pub(crate) fn opt_rec_array(&self, name: &str) -> Result<Option<Vec<Rec<'a>>>> {
        let Some(items) = self.opt_array(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| Rec::new(v, self.arena, self.path))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A nested record; `None` when absent or null.
    pub(crate) fn opt_rec(&self, name: &str) -> Result<Option<Rec<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => Rec::new(v, self.arena, self.path).map(Some),
        }
    }

    pub(crate) fn rec(&self, name: &str) -> Result<Rec<'a>> {
        self.opt_rec(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn path(&self) -> &'a str {
        self.path
    }
}

fn kind(v: &Datum<'_>) -> &'static str {
    match v {
        Datum::Null => "null",
        Datum::Bool(_) => "a boolean",
        Datum::Int(_) => "an int",
        Datum::Long(_) => "a long",
        Datum::Float(_) | Datum::Double(_) => "a floating-point number",
        Datum::Bytes(_) | Datum::Fixed(_) => "bytes",
        Datum::Str(_) => "a string",
        Datum::Enum(_) => "an enum",
        Datum::Array { .. } => "an array",
        Datum::Map { .. } => "a map",
        Datum::Record { .. } => "a record",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every single-byte corruption of the header (where the writer schema lives) of a real
    /// manifest list and manifest, and every truncation of the file, must come back as a
    /// result from the decoder itself, without relying on the panic net in `read_records`.
    #[test]
    fn damaged_files_give_errors_not_panics() {
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
        let mut errors = 0;
        for name in [list, manifest] {
            let bytes = std::fs::read(format!("{dir}/{name}")).unwrap();
            for i in 4..bytes.len() {
                for x in [1u8, 8, 16, 64, 0xff] {
                    let mut b = bytes.clone();
                    b[i] ^= x;
                    if let Err(e) = decode_all(&b, name, &mut |_| Ok(())) {
                        assert!(e.to_string().contains(name.as_str()), "{e}");
                        errors += 1;
                    }
                }
            }
            for t in 0..bytes.len() {
                match decode_all(&bytes[..t], name, &mut |_| Ok(())) {
                    Err(e) => assert!(e.to_string().contains(name.as_str()), "{e}"),
                    // A cut between blocks leaves a valid, shorter container file.
                    Ok(_) => assert!(
                        crate::format::ocf::parse(&bytes[..t]).is_ok(),
                        "truncation at {t} of {name} decoded"
                    ),
                }
            }
        }
        assert!(errors > 500, "{errors}");
    }
}
