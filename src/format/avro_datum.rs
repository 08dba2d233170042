//! A schema-driven decoder for the records of an Avro object container file.
//!
//! Why not apache-avro's reader: it builds a generic `Value` tree for every record, with an
//! owned `String` for every field *name* of every record and for every string value, and that
//! allocation was 80% of the time of planning an expiration (docs/PERFORMANCE.md). Here the
//! writer schema is parsed once into a small arena, and each record decodes into a [`Datum`]
//! that borrows its strings and bytes from the decompressed block and its field names from the
//! schema. Nothing about the wire format is new: the framing comes from [`super::ocf`] and the
//! block codecs from apache-avro's own `Codec::decompress`.
//!
//! Corrupt input is an error, never a panic or an unbounded loop: every length is checked
//! against the bytes left, nesting is bounded, and a block must hold exactly its records.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value as Json;

/// A decoded Avro value. Unions decode to the chosen branch (so `["null", T]` is either
/// `Null` or a `T`); logical types decode to their underlying type. Records, arrays and maps
/// keep their children in the record's [`Arena`], so a `Datum` is a plain copyable value and
/// decoding a record allocates nothing once the arena has grown to the record's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Datum<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    Bytes(&'a [u8]),
    Str(&'a str),
    Fixed(&'a [u8]),
    Enum(i32),
    /// Items at `arena[start..start + len]`.
    Array {
        start: usize,
        len: usize,
    },
    /// Keys (as `Str`) and values alternating at `arena[start..start + 2 * len]`.
    Map {
        start: usize,
        len: usize,
    },
    /// Field names (from the schema); values in the writer's order at `arena[start..]`.
    Record {
        names: &'a [String],
        start: usize,
    },
}

/// The children of the record being decoded; reused (cleared) for every record.
pub(crate) type Arena<'a> = Vec<Datum<'a>>;

/// One node of a parsed schema; children are indexes into [`Schema::nodes`].
#[derive(Debug)]
enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Record {
        names: Vec<String>,
        types: Vec<usize>,
    },
    Enum {
        symbols: usize,
    },
    Array(usize),
    Map(usize),
    Union(Vec<usize>),
    Fixed(usize),
    /// A record whose fields are still being parsed (only while parsing).
    Pending,
}

/// A parsed writer schema: an arena of nodes and the root's index.
#[derive(Debug)]
pub(crate) struct Schema {
    nodes: Vec<Node>,
    root: usize,
}

/// Deep enough for any Paimon schema (nesting depth 3); a bound for recursive schemas.
const MAX_DEPTH: usize = 64;

impl Schema {
    /// Parse the JSON of an `avro.schema` header entry.
    pub(crate) fn parse(json: &[u8]) -> Result<Schema, String> {
        let json: Json =
            serde_json::from_slice(json).map_err(|e| format!("writer schema is not JSON: {e}"))?;
        let mut parser = Parser {
            nodes: Vec::new(),
            named: HashMap::new(),
        };
        let root = parser.parse(&json, "", 0)?;
        Ok(Schema {
            nodes: parser.nodes,
            root,
        })
    }
}

/// Writer schemas parsed before, by their JSON bytes. Every manifest of a table carries the
/// same few schemas, and parsing one cost about a third of decoding a small manifest; keyed by
/// the exact bytes, so a different schema is never confused with a cached one.
static PARSED: std::sync::Mutex<Vec<ParsedSchema>> = std::sync::Mutex::new(Vec::new());

/// A writer schema's JSON bytes and what they parse to.
type ParsedSchema = (Box<[u8]>, Arc<Schema>);

/// How many parsed schemas are kept (a table has one per manifest-format version it was
/// written with; tagkeeper reads at most a few tables at once).
const PARSED_KEPT: usize = 16;

impl Schema {
    /// [`Schema::parse`], reusing a schema parsed from the same bytes before.
    pub(crate) fn parse_cached(json: &[u8]) -> Result<Arc<Schema>, String> {
        // A poisoned lock only means another thread panicked while holding it; the cache
        // holds whole entries, so it is still consistent.
        let cached = PARSED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|(bytes, _)| **bytes == *json)
            .map(|(_, schema)| Arc::clone(schema));
        if let Some(schema) = cached {
            return Ok(schema);
        }
        let schema = Arc::new(Schema::parse(json)?);
        let mut parsed = PARSED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if parsed.len() >= PARSED_KEPT {
            parsed.remove(0);
        }
        parsed.push((json.into(), Arc::clone(&schema)));
        Ok(schema)
    }
}

struct Parser {
    nodes: Vec<Node>,
    /// Named types by full name.
    named: HashMap<String, usize>,
}

impl Parser {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn parse(&mut self, json: &Json, namespace: &str, depth: usize) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err("writer schema nests too deeply".into());
        }
        match json {
            Json::String(name) => self.by_name(name, namespace),
            Json::Array(branches) => {
                let branches = branches
                    .iter()
                    .map(|b| self.parse(b, namespace, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(self.push(Node::Union(branches)))
            }
            Json::Object(o) => {
                let ty = o.get("type").ok_or("writer schema object without 'type'")?;
                let Some(ty) = ty.as_str() else {
                    // `{"type": {...}}`: the object only wraps another schema.
                    return self.parse(ty, namespace, depth + 1);
                };
                match ty {
                    "record" | "error" => self.record(o, namespace, depth),
                    "enum" => {
                        let symbols = o
                            .get("symbols")
                            .and_then(Json::as_array)
                            .ok_or("enum without 'symbols'")?
                            .len();
                        let node = self.push(Node::Enum { symbols });
                        self.define(o, namespace, node)?;
                        Ok(node)
                    }
                    "fixed" => {
                        let size = o
                            .get("size")
                            .and_then(Json::as_u64)
                            .and_then(|s| usize::try_from(s).ok())
                            .ok_or("fixed without a valid 'size'")?;
                        let node = self.push(Node::Fixed(size));
                        self.define(o, namespace, node)?;
                        Ok(node)
                    }
                    "array" => {
                        let items = o.get("items").ok_or("array without 'items'")?;
                        let items = self.parse(items, namespace, depth + 1)?;
                        Ok(self.push(Node::Array(items)))
                    }
                    "map" => {
                        let values = o.get("values").ok_or("map without 'values'")?;
                        let values = self.parse(values, namespace, depth + 1)?;
                        Ok(self.push(Node::Map(values)))
                    }
                    // A primitive, perhaps with a logical type: decoded as the primitive.
                    other => self.by_name(other, namespace),
                }
            }
            other => Err(format!("writer schema has an invalid type {other}")),
        }
    }

    fn record(
        &mut self,
        o: &serde_json::Map<String, Json>,
        namespace: &str,
        depth: usize,
    ) -> Result<usize, String> {
        // Registered before its fields so that a field may refer to the record itself.
        let node = self.push(Node::Pending);
        let inner = self.define(o, namespace, node)?;
        let fields = o
            .get("fields")
            .and_then(Json::as_array)
            .ok_or("record without 'fields'")?;
        let (mut names, mut types) = (Vec::new(), Vec::new());
        for f in fields {
            let name = f
                .get("name")
                .and_then(Json::as_str)
                .ok_or("record field without a name")?;
            let ty = f
                .get("type")
                .ok_or_else(|| format!("record field '{name}' without a type"))?;
            types.push(self.parse(ty, &inner, depth + 1)?);
            names.push(name.to_owned());
        }
        self.nodes[node] = Node::Record { names, types };
        Ok(node)
    }

    /// Register a named type; returns the namespace its children inherit.
    fn define(
        &mut self,
        o: &serde_json::Map<String, Json>,
        namespace: &str,
        node: usize,
    ) -> Result<String, String> {
        let name = o
            .get("name")
            .and_then(Json::as_str)
            .ok_or("named type without a name")?;
        let full = match (name.rfind('.'), o.get("namespace").and_then(Json::as_str)) {
            (Some(_), _) => name.to_owned(),
            (None, Some(ns)) if !ns.is_empty() => format!("{ns}.{name}"),
            (None, Some(_)) => name.to_owned(),
            (None, None) if !namespace.is_empty() => format!("{namespace}.{name}"),
            (None, None) => name.to_owned(),
        };
        let inner = full.rfind('.').map_or("", |i| &full[..i]).to_owned();
        self.named.insert(full, node);
        Ok(inner)
    }

    fn by_name(&mut self, name: &str, namespace: &str) -> Result<usize, String> {
        let primitive = match name {
            "null" => Some(Node::Null),
            "boolean" => Some(Node::Boolean),
            "int" => Some(Node::Int),
            "long" => Some(Node::Long),
            "float" => Some(Node::Float),
            "double" => Some(Node::Double),
            "bytes" => Some(Node::Bytes),
            "string" => Some(Node::String),
            _ => None,
        };
        if let Some(p) = primitive {
            return Ok(self.push(p));
        }
        let qualified = format!("{namespace}.{name}");
        self.named
            .get(&qualified)
            .or_else(|| self.named.get(name))
            .copied()
            .ok_or_else(|| format!("writer schema refers to an unknown type '{name}'"))
    }
}

/// The bytes of one block, consumed front to back.
struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for (i, b) in self.bytes.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(if self.bytes.len() < 10 {
            "truncated Avro data".into()
        } else {
            "invalid Avro varint".into()
        })
    }

    fn int(&mut self) -> Result<i32, String> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("Avro int out of range: {v}"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err("truncated Avro data".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("negative Avro length {n}"))
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| "Avro string is not UTF-8".into())
    }

    /// The item count of the next array or map block (0 ends the sequence).
    fn block_count(&mut self) -> Result<usize, String> {
        let mut count = self.long()?;
        if count < 0 {
            count = count.checked_neg().ok_or("invalid Avro block count")?;
            self.long()?; // the block's byte size, which only skipping readers need
        }
        let count = usize::try_from(count).map_err(|_| "invalid Avro block count")?;
        // Every item of any type a Paimon file holds takes at least one byte; a count beyond
        // the bytes left (with slack for zero-width items) can only come from damage.
        if count > self.bytes.len().saturating_add(4096) {
            return Err(format!(
                "Avro block claims {count} items in {} bytes",
                self.bytes.len()
            ));
        }
        Ok(count)
    }
}

impl Schema {
    /// Decode one value of type `node` into `arena[slot]`; its children are appended to the
    /// arena.
    fn decode<'a>(
        &'a self,
        node: usize,
        input: &mut Input<'a>,
        depth: usize,
        arena: &mut Arena<'a>,
        slot: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("Avro data nests too deeply".into());
        }
        let node = self.nodes.get(node).ok_or("invalid schema reference")?;
        let value = match node {
            Node::Null => Datum::Null,
            Node::Boolean => match input.take(1)?[0] {
                0 => Datum::Bool(false),
                1 => Datum::Bool(true),
                b => return Err(format!("invalid Avro boolean {b}")),
            },
            Node::Int => Datum::Int(input.int()?),
            Node::Long => Datum::Long(input.long()?),
            Node::Float => {
                let b = input.take(4)?;
                Datum::Float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            Node::Double => {
                let mut a = [0u8; 8];
                a.copy_from_slice(input.take(8)?);
                Datum::Double(f64::from_le_bytes(a))
            }
            Node::Bytes => {
                let n = input.len()?;
                Datum::Bytes(input.take(n)?)
            }
            Node::String => Datum::Str(input.str()?),
            Node::Fixed(size) => Datum::Fixed(input.take(*size)?),
            Node::Enum { symbols } => {
                let i = input.int()?;
                if usize::try_from(i).map_or(true, |i| i >= *symbols) {
                    return Err(format!("Avro enum index {i} out of range"));
                }
                Datum::Enum(i)
            }
            Node::Union(branches) => {
                let i = input.long()?;
                let branch = usize::try_from(i)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| format!("Avro union index {i} out of range"))?;
                return self.decode(*branch, input, depth + 1, arena, slot);
            }
            Node::Record { names, types } => {
                let start = arena.len();
                arena.resize(start + types.len(), Datum::Null);
                for (i, t) in types.iter().enumerate() {
                    self.decode(*t, input, depth + 1, arena, start + i)?;
                }
                Datum::Record { names, start }
            }
            Node::Array(items) => {
                let (start, len) = self.sequence(
                    input,
                    arena,
                    |s, input, arena, at| s.decode(*items, input, depth + 1, arena, at),
                    1,
                )?;
                Datum::Array { start, len }
            }
            Node::Map(values) => {
                let (start, len) = self.sequence(
                    input,
                    arena,
                    |s, input, arena, at| {
                        arena[at] = Datum::Str(input.str()?);
                        s.decode(*values, input, depth + 1, arena, at + 1)
                    },
                    2,
                )?;
                Datum::Map { start, len }
            }
            Node::Pending => return Err("invalid schema reference".into()),
        };
        let target = arena.get_mut(slot).ok_or("invalid arena slot")?;
        *target = value;
        Ok(())
    }

    /// The blocks of an array or map: `width` slots per item, decoded by `item` into
    /// contiguous slots. Returns the first slot and the item count.
    fn sequence<'a>(
        &'a self,
        input: &mut Input<'a>,
        arena: &mut Arena<'a>,
        mut item: impl FnMut(&'a Self, &mut Input<'a>, &mut Arena<'a>, usize) -> Result<(), String>,
        width: usize,
    ) -> Result<(usize, usize), String> {
        // Almost every array is one block: its place is kept without a heap allocation (a
        // `Vec` per array was millions of allocations for a large manifest).
        let mut first: Option<(usize, usize)> = None;
        let mut more: Vec<(usize, usize)> = Vec::new();
        loop {
            let count = input.block_count()?;
            if count == 0 {
                break;
            }
            let start = arena.len();
            arena.resize(start + count * width, Datum::Null);
            for i in 0..count {
                item(self, input, arena, start + i * width)?;
            }
            if first.is_none() {
                first = Some((start, count));
            } else {
                more.push((start, count));
            }
        }
        match first {
            None => Ok((arena.len(), 0)),
            Some(one) if more.is_empty() => Ok(one),
            // Items of later blocks follow the children of earlier ones: copy them all to
            // one contiguous run (they are plain values; their own children stay put).
            Some(one) => {
                let start = arena.len();
                let mut len = 0;
                for &(from, count) in std::iter::once(&one).chain(&more) {
                    arena.extend_from_within(from..from + count * width);
                    len += count;
                }
                Ok((start, len))
            }
        }
    }
}

/// Decode every record of a container file with `each`, block by block. Errors are plain
/// text; the caller adds the file's path.
pub(crate) fn for_each_record<E: From<String>>(
    bytes: &[u8],
    mut each: impl FnMut(&Datum<'_>, &[Datum<'_>]) -> Result<(), E>,
) -> Result<(), E> {
    let file = super::ocf::parse(bytes).map_err(|e| format!("unreadable Avro file: {e}"))?;
    let schema = Schema::parse_cached(&file.schema)?;
    let codec_name = String::from_utf8_lossy(&file.codec);
    let codec = apache_avro::Codec::from_str(&codec_name)
        .map_err(|_| format!("unsupported Avro codec '{codec_name}'"))?;
    let mut blocks = Decompressor::new(codec)?;
    for (count, data) in file.blocks {
        let count =
            usize::try_from(count).map_err(|_| format!("invalid Avro block count {count}"))?;
        let block = blocks.block(data)?;
        let mut input = Input { bytes: block };
        let mut arena: Arena<'_> = Vec::new();
        for _ in 0..count {
            arena.clear();
            arena.push(Datum::Null);
            schema.decode(schema.root, &mut input, 0, &mut arena, 0)?;
            each(&arena[0], &arena)?;
        }
        if !input.bytes.is_empty() {
            return Err(format!(
                "Avro block has {} bytes after its {count} records",
                input.bytes.len()
            )
            .into());
        }
    }
    Ok(())
}

/// Below this many compressed bytes a file is decoded on the calling thread: starting
/// threads costs more than decoding a small manifest (most manifests hold a few entries).
const PARALLEL_MIN_BYTES: usize = 64 * 1024;

/// Convert every record of a container file with `convert`, decoding and decompressing the
/// blocks of a large file on all cores (`threads`, at least 1). Each thread takes a contiguous
/// run of blocks (split by compressed bytes) with its own decompressor and arena, so the
/// output is in file order whatever the threads' timing; the first error in file order wins.
/// Errors are plain text; the caller adds the file's path.
pub(crate) fn map_records_parallel<T, E>(
    bytes: &[u8],
    threads: usize,
    convert: impl Fn(&Datum<'_>, &[Datum<'_>]) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    T: Send,
    E: From<String> + Send,
{
    let file = super::ocf::parse(bytes).map_err(|e| format!("unreadable Avro file: {e}"))?;
    let schema = Schema::parse_cached(&file.schema)?;
    let codec_name = String::from_utf8_lossy(&file.codec);
    let codec = apache_avro::Codec::from_str(&codec_name)
        .map_err(|_| format!("unsupported Avro codec '{codec_name}'"))?;
    let total: usize = file.blocks.iter().map(|(_, d)| d.len()).sum();
    let threads = threads.clamp(1, file.blocks.len().max(1));
    if threads == 1 || total < PARALLEL_MIN_BYTES {
        return decode_run(&schema, codec, &file.blocks, &convert);
    }
    // Contiguous runs of roughly equal compressed size.
    let mut runs: Vec<&[(i64, &[u8])]> = Vec::with_capacity(threads);
    let share = total.div_ceil(threads);
    let (mut start, mut acc) = (0, 0);
    for (i, (_, d)) in file.blocks.iter().enumerate() {
        acc += d.len();
        if acc >= share && runs.len() + 1 < threads {
            runs.push(&file.blocks[start..=i]);
            (start, acc) = (i + 1, 0);
        }
    }
    runs.push(&file.blocks[start..]);
    let (schema, convert) = (&schema, &convert);
    let parts: Vec<Result<Vec<T>, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .skip(1)
            .map(|run| scope.spawn(move || decode_run(schema, codec, run, convert)))
            .collect();
        // The calling thread decodes the first run itself.
        let mut parts = vec![decode_run(schema, codec, runs[0], convert)];
        for h in handles {
            // A panic in a decoding thread is re-raised here, where the caller's
            // catch_unwind turns it into an error naming the file.
            parts.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        parts
    });
    let mut out = Vec::new();
    for part in parts {
        let mut part = part?;
        if out.is_empty() {
            out = part;
        } else {
            out.append(&mut part);
        }
    }
    Ok(out)
}

/// Decode a run of blocks of one file, converting each record.
fn decode_run<T, E: From<String>>(
    schema: &Schema,
    codec: apache_avro::Codec,
    blocks: &[(i64, &[u8])],
    convert: &impl Fn(&Datum<'_>, &[Datum<'_>]) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut decompressor = Decompressor::new(codec)?;
    let mut out = Vec::new();
    for &(count, data) in blocks {
        let count =
            usize::try_from(count).map_err(|_| format!("invalid Avro block count {count}"))?;
        let block = decompressor.block(data)?;
        let mut input = Input { bytes: block };
        let mut arena: Arena<'_> = Vec::new();
        out.reserve(count);
        for _ in 0..count {
            arena.clear();
            arena.push(Datum::Null);
            schema.decode(schema.root, &mut input, 0, &mut arena, 0)?;
            out.push(convert(&arena[0], &arena)?);
        }
        if !input.bytes.is_empty() {
            return Err(format!(
                "Avro block has {} bytes after its {count} records",
                input.bytes.len()
            )
            .into());
        }
    }
    Ok(out)
}

/// Decompresses the blocks of one file, reusing its buffer and (for zstd, the codec Java
/// Paimon writes manifests with) one decoding context: creating a zstd context per block
/// cost more than decoding a block's records.
enum Decompressor {
    Null,
    Zstd {
        /// Always present until the decompressor is dropped (then left for the next file).
        context: Option<zstd::zstd_safe::DCtx<'static>>,
        out: Vec<u8>,
    },
    Other {
        codec: apache_avro::Codec,
        out: Vec<u8>,
    },
}

thread_local! {
    /// A zstd decoding context a finished file left for the next one on this thread: creating
    /// one per file was a noticeable part of reading thousands of small manifests. A context
    /// carries no data between frames (each block is one frame, decoded from its start).
    static SPARE_DCTX: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        if let Decompressor::Zstd { context, .. } = self {
            if let Some(context) = context.take() {
                SPARE_DCTX.with(|spare| *spare.borrow_mut() = Some(context));
            }
        }
    }
}

impl Decompressor {
    fn new(codec: apache_avro::Codec) -> Result<Self, String> {
        Ok(match codec {
            apache_avro::Codec::Null => Decompressor::Null,
            apache_avro::Codec::Zstandard(_) => Decompressor::Zstd {
                context: Some(match SPARE_DCTX.with(std::cell::RefCell::take) {
                    Some(mut context) => {
                        // Whatever the last file left half-decoded (a damaged block) is gone.
                        context
                            .reset(zstd::zstd_safe::ResetDirective::SessionOnly)
                            .map_err(|_| "cannot reset a zstd decoding context")?;
                        context
                    }
                    None => zstd::zstd_safe::DCtx::try_create()
                        .ok_or("cannot create a zstd decoding context")?,
                }),
                out: Vec::new(),
            },
            codec => Decompressor::Other {
                codec,
                out: Vec::new(),
            },
        })
    }

    fn block<'s>(&'s mut self, data: &'s [u8]) -> Result<&'s [u8], String> {
        match self {
            Decompressor::Null => Ok(data),
            Decompressor::Zstd { context, out } => {
                use std::io::Read;
                let context = context.as_mut().ok_or("no zstd decoding context")?;
                out.clear();
                zstd::stream::read::Decoder::with_context(data, context)
                    .read_to_end(out)
                    .map_err(|e| format!("cannot decompress an Avro block (zstd): {e}"))?;
                Ok(out)
            }
            Decompressor::Other { codec, out } => {
                // apache-avro slices off a 4-byte checksum without checking the length first.
                if matches!(codec, apache_avro::Codec::Snappy) && data.len() < 4 {
                    return Err("truncated snappy block".into());
                }
                out.clear();
                out.extend_from_slice(data);
                codec
                    .decompress(out)
                    .map_err(|e| format!("cannot decompress an Avro block: {e}"))?;
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value;

    fn roundtrip(schema: &str, values: Vec<Value>, codec: apache_avro::Codec) -> Vec<String> {
        let parsed = apache_avro::Schema::parse_str(schema).unwrap_or_else(|e| panic!("{e}"));
        let mut w = apache_avro::Writer::with_codec(&parsed, Vec::new(), codec);
        for v in values {
            w.append(v).unwrap_or_else(|e| panic!("{e}"));
        }
        let bytes = w.into_inner().unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for_each_record::<String>(&bytes, |d, arena| {
            out.push(show(d, arena));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        out
    }

    /// A value with its children, in the shape of `Debug` of a tree.
    fn show(d: &Datum<'_>, arena: &[Datum<'_>]) -> String {
        let list = |items: &[Datum<'_>]| {
            items
                .iter()
                .map(|d| show(d, arena))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match *d {
            Datum::Record { names, start } => {
                format!(
                    "Record({names:?}, [{}])",
                    list(&arena[start..start + names.len()])
                )
            }
            Datum::Array { start, len } => format!("Array([{}])", list(&arena[start..start + len])),
            Datum::Map { start, len } => format!(
                "Map([{}])",
                arena[start..start + 2 * len]
                    .chunks(2)
                    .map(|kv| format!("({}, {})", show(&kv[0], arena), show(&kv[1], arena)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn decodes_every_type_with_every_codec() {
        let schema = r#"{"type":"record","name":"R","namespace":"org.x","fields":[
            {"name":"n","type":"null"},{"name":"b","type":"boolean"},
            {"name":"i","type":"int"},{"name":"l","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"f","type":"float"},{"name":"d","type":"double"},
            {"name":"by","type":"bytes"},{"name":"s","type":"string"},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
            {"name":"fx","type":{"type":"fixed","name":"F","size":2}},
            {"name":"a","type":{"type":"array","items":["null","long"]}},
            {"name":"m","type":{"type":"map","values":"int"}},
            {"name":"u","type":["null",{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}]},
            {"name":"again","type":["null","org.x.In"]},
            {"name":"short","type":["null","In"]}]}"#;
        let record = Value::Record(vec![
            ("n".into(), Value::Null),
            ("b".into(), Value::Boolean(true)),
            ("i".into(), Value::Int(-7)),
            ("l".into(), Value::TimestampMillis(1_700_000_000_000)),
            ("f".into(), Value::Float(1.5)),
            ("d".into(), Value::Double(-2.25)),
            ("by".into(), Value::Bytes(vec![1, 2, 3])),
            ("s".into(), Value::String("héllo".into())),
            ("e".into(), Value::Enum(1, "B".into())),
            ("fx".into(), Value::Fixed(2, vec![9, 8])),
            (
                "a".into(),
                Value::Array(vec![
                    Value::Union(1, Box::new(Value::Long(i64::MIN))),
                    Value::Union(0, Box::new(Value::Null)),
                ]),
            ),
            (
                "m".into(),
                Value::Map([("k".to_string(), Value::Int(3))].into_iter().collect()),
            ),
            (
                "u".into(),
                Value::Union(
                    1,
                    Box::new(Value::Record(vec![("x".into(), Value::Int(42))])),
                ),
            ),
            ("again".into(), Value::Union(0, Box::new(Value::Null))),
            (
                "short".into(),
                Value::Union(
                    1,
                    Box::new(Value::Record(vec![("x".into(), Value::Int(1))])),
                ),
            ),
        ]);
        let want = concat!(
            r#"Record(["n", "b", "i", "l", "f", "d", "by", "s", "e", "fx", "a", "m", "u", "again", "short"], "#,
            r#"[Null, Bool(true), Int(-7), Long(1700000000000), Float(1.5), Double(-2.25), "#,
            r#"Bytes([1, 2, 3]), Str("héllo"), Enum(1), Fixed([9, 8]), "#,
            r#"Array([Long(-9223372036854775808), Null]), Map([(Str("k"), Int(3))]), "#,
            r#"Record(["x"], [Int(42)]), Null, Record(["x"], [Int(1)])])"#
        );
        for codec in [
            apache_avro::Codec::Null,
            apache_avro::Codec::Deflate(Default::default()),
            apache_avro::Codec::Snappy,
            apache_avro::Codec::Zstandard(Default::default()),
        ] {
            let got = roundtrip(schema, vec![record.clone(), record.clone()], codec);
            assert_eq!(got, vec![want.to_string(), want.to_string()], "{codec:?}");
        }
    }

    /// Arrays and maps written in several blocks (a negative count carries the block's byte
    /// size) decode to one contiguous run of items; one block and no block at all as well.
    #[test]
    fn arrays_and_maps_in_several_blocks() {
        let schema = Schema::parse(
            br#"{"type":"record","name":"R","fields":[
                {"name":"a","type":{"type":"array","items":"long"}},
                {"name":"m","type":{"type":"map","values":"int"}},
                {"name":"one","type":{"type":"array","items":"long"}},
                {"name":"none","type":{"type":"array","items":"long"}}]}"#,
        )
        .unwrap();
        let bytes: &[u8] = &[
            4, 2, 4, // a: a block of 2 items (1, 2)
            1, 2, 6, // a: a block of 1 item with its byte size (-1, 1 byte): 3
            0, // a: end
            2, 2, b'k', 10, // m: a block of 1 entry: k → 5
            2, 2, b'j', 12, // m: another: j → 6
            0,  // m: end
            2, 14, 0, // one: a block of 1 item (7)
            0, // none
        ];
        let mut input = Input { bytes };
        let mut arena = vec![Datum::Null];
        schema
            .decode(schema.root, &mut input, 0, &mut arena, 0)
            .unwrap();
        assert!(input.bytes.is_empty());
        assert_eq!(
            show(&arena[0], &arena),
            concat!(
                r#"Record(["a", "m", "one", "none"], [Array([Long(1), Long(2), Long(3)]), "#,
                r#"Map([(Str("k"), Int(5)), (Str("j"), Int(6))]), Array([Long(7)]), Array([])])"#
            )
        );
    }

    #[test]
    fn a_root_union_is_decoded() {
        let got = roundtrip(
            r#"["null", {"type":"record","name":"R","fields":[{"name":"x","type":"long"}]}]"#,
            vec![
                Value::Union(
                    1,
                    Box::new(Value::Record(vec![("x".into(), Value::Long(5))])),
                ),
                Value::Union(0, Box::new(Value::Null)),
            ],
            apache_avro::Codec::Null,
        );
        assert_eq!(got, [r#"Record(["x"], [Long(5)])"#, "Null"]);
    }

    #[test]
    fn damage_is_an_error() {
        let mut input = Input { bytes: &[0xff; 11] };
        assert!(input.long().is_err());
        let mut input = Input { bytes: &[0x80] };
        assert!(input.long().is_err());
        // An array claiming far more items than bytes left.
        let mut input = Input {
            bytes: &[0xfe, 0xff, 0xff, 0xff, 0x0f],
        };
        assert!(input.block_count().is_err());
        // A self-referencing record recurses only as deep as the data, and no deeper than the bound.
        let schema = Schema::parse(
            br#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let decode = |bytes: &[u8]| {
            let mut arena = vec![Datum::Null];
            schema.decode(schema.root, &mut Input { bytes }, 0, &mut arena, 0)
        };
        assert!(decode(&[2u8; 200]).is_err());
        assert!(decode(&[2u8, 2, 0]).is_ok());
        assert!(Schema::parse(
            br#"{"type":"record","name":"R","fields":[{"name":"x","type":"Nope"}]}"#
        )
        .is_err());
    }
}
