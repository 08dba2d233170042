//! Merge-on-read for primary-key tables.
//!
//! Every data file of a bucket is sorted by key (the LSM writer sorts before it flushes). The
//! files are first grouped into sections whose key ranges overlap (Java's `IntervalPartition`,
//! from the `_MIN_KEY`/`_MAX_KEY` of each file's meta); sections are read one after another,
//! and inside a section the files are merged as sorted streams. The versions of a key, across
//! all levels, are put in Java's merge order (`sequence.field` values, then `_SEQUENCE_NUMBER`)
//! and merged by the table's merge engine (`merge_engine.rs`): a whole winning row, or a row
//! built cell by cell (partial-update, aggregation). A result that is a retraction removes the
//! key (`DropDeleteReader`).
//!
//! Memory: one decoded batch per file of the current section, plus the rows picked for the next
//! output batch; never a whole bucket.

use std::cmp::Ordering;

use arrow::array::{new_null_array, Array, ArrayRef, Int64Array, Int8Array};
use arrow::compute::interleave;
use arrow::compute::SortOptions;
use arrow::datatypes::DataType as ArrowType;
use arrow::row::{RowConverter, Rows, SortField};
use futures::stream::BoxStream;
use futures::StreamExt;

use super::evolve::Chunk;
use super::merge_engine::{self, Cell, Engine, Outcome, Scalar, Version};
use crate::error::{Error, Result};
use crate::format::binary_row::Datum;

/// Batches of one file (or of a merge), in target form.
pub(crate) type ChunkStream = BoxStream<'static, Result<Chunk>>;

/// Decoded rows held per section across all its files: each file's batch size is this divided
/// by the number of files (within bounds), so a section of many level-0 files does not hold
/// many full batches.
pub(crate) const MERGE_BUFFER_ROWS: usize = 1 << 14;
/// Smallest batch a file of a large section is read in.
const MIN_FILE_BATCH: usize = 256;

/// How to merge one section.
#[derive(Debug, Clone)]
pub(crate) struct MergeSpec {
    /// Positions of the key columns in a [`Chunk`] (the primary key without partition columns).
    pub key_columns: Vec<usize>,
    /// Their Arrow types.
    pub key_types: Vec<ArrowType>,
    /// How the versions of a key merge.
    pub engine: Engine,
    /// Positions and types of the `sequence.field` columns (empty without the option).
    pub order_columns: Vec<usize>,
    pub order_types: Vec<ArrowType>,
    /// `sequence.field.sort-order = descending`.
    pub order_descending: bool,
    /// Rows per output batch.
    pub batch_size: usize,
}

/// The batch size for each file of a section of `files` files.
pub(crate) fn file_batch_size(files: usize, batch_size: usize) -> usize {
    (MERGE_BUFFER_ROWS / files.max(1)).clamp(MIN_FILE_BATCH.min(batch_size), batch_size.max(1))
}

// ----- sections -----

/// Group files into sections of overlapping key ranges, in key order (Java's
/// `IntervalPartition`). `ranges[i]` is file i's (min key, max key); when any range is unknown
/// or two keys cannot be compared, every file goes into one section, which is always correct,
/// only slower.
pub(crate) fn sections(ranges: &[Option<(Vec<Datum>, Vec<Datum>)>]) -> Vec<Vec<usize>> {
    let all = || vec![(0..ranges.len()).collect::<Vec<_>>()];
    if ranges.is_empty() {
        return Vec::new();
    }
    let Some(known) = ranges.iter().cloned().collect::<Option<Vec<_>>>() else {
        return all();
    };
    // Keys that all compare with the first file's min key have the same types (and decimal
    // scales) position by position, so every pair compares and the sort below sees a total
    // order (a comparator that is not total may make the standard sort panic).
    let reference = &known[0].0;
    let comparable = known
        .iter()
        .all(|(min, max)| cmp_keys(reference, min).is_some() && cmp_keys(reference, max).is_some());
    if !comparable {
        return all();
    }
    let mut order: Vec<usize> = (0..known.len()).collect();
    order.sort_by(|&a, &b| {
        let by_min = cmp_keys(&known[a].0, &known[b].0).unwrap_or(Ordering::Equal);
        let by_max = cmp_keys(&known[a].1, &known[b].1).unwrap_or(Ordering::Equal);
        by_min.then(by_max).then(a.cmp(&b))
    });
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut bound: Option<&Vec<Datum>> = None;
    for i in order {
        let (min, max) = &known[i];
        match bound.map(|b| cmp_keys(min, b)) {
            Some(None) => return all(),
            Some(Some(Ordering::Greater)) | None => {
                out.push(vec![i]);
                bound = Some(max);
            }
            Some(Some(_)) => {
                if let Some(last) = out.last_mut() {
                    last.push(i);
                }
                match bound.map(|b| cmp_keys(max, b)) {
                    Some(Some(Ordering::Greater)) => bound = Some(max),
                    Some(None) => return all(),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Compare two keys field by field; `None` when some pair of values cannot be compared.
pub(crate) fn cmp_keys(a: &[Datum], b: &[Datum]) -> Option<Ordering> {
    if a.len() != b.len() {
        return None;
    }
    for (x, y) in a.iter().zip(b) {
        match cmp_datum(x, y)? {
            Ordering::Equal => continue,
            other => return Some(other),
        }
    }
    Some(Ordering::Equal)
}

/// Paimon's order of key values (strings and bytes unsigned byte-wise, as `BinaryString`).
fn cmp_datum(a: &Datum, b: &Datum) -> Option<Ordering> {
    use Datum as D;
    Some(match (a, b) {
        (D::Null, D::Null) => Ordering::Equal,
        (D::Boolean(x), D::Boolean(y)) => x.cmp(y),
        (D::TinyInt(x), D::TinyInt(y)) => x.cmp(y),
        (D::SmallInt(x), D::SmallInt(y)) => x.cmp(y),
        (D::Int(x), D::Int(y)) | (D::Date(x), D::Date(y)) | (D::Time(x), D::Time(y)) => x.cmp(y),
        (D::BigInt(x), D::BigInt(y)) => x.cmp(y),
        (D::Float(x), D::Float(y)) => x.total_cmp(y),
        (D::Double(x), D::Double(y)) => x.total_cmp(y),
        (D::String(x), D::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (D::Binary(x), D::Binary(y)) => x.cmp(y),
        (
            D::Timestamp {
                millis: m1,
                nanos_of_milli: n1,
            },
            D::Timestamp {
                millis: m2,
                nanos_of_milli: n2,
            },
        ) => (m1, n1).cmp(&(m2, n2)),
        (
            D::Decimal {
                unscaled: u1,
                scale: s1,
            },
            D::Decimal {
                unscaled: u2,
                scale: s2,
            },
        ) if s1 == s2 => u1.cmp(u2),
        _ => return None,
    })
}

// ----- row kinds -----

fn check_kind(kind: i8, label: &str) -> Result<()> {
    if (0..=3).contains(&kind) {
        Ok(())
    } else {
        Err(Error::data_file(
            label,
            format!("_VALUE_KIND {kind} is not a row kind (0 +I, 1 -U, 2 +U, 3 -D)"),
        ))
    }
}

// ----- the merge -----

/// Merge the sorted files of one section into deduplicated batches (without system columns).
pub(crate) fn merge(inputs: Vec<(String, ChunkStream)>, spec: MergeSpec) -> Result<ChunkStream> {
    let fields = spec
        .key_types
        .iter()
        .map(|t| SortField::new(t.clone()))
        .collect();
    let converter = RowConverter::new(fields).map_err(|e| {
        Error::Unsupported(format!(
            "merging primary-key rows with key types {:?}: {e}",
            spec.key_types
        ))
    })?;
    // Java's generated `RecordComparator` puts NULL first in either sort order.
    let options = SortOptions {
        descending: spec.order_descending,
        nulls_first: true,
    };
    let order = if spec.order_columns.is_empty() {
        None
    } else {
        let fields = spec
            .order_types
            .iter()
            .map(|t| SortField::new_with_options(t.clone(), options))
            .collect();
        Some(RowConverter::new(fields).map_err(|e| {
            Error::Unsupported(format!(
                "ordering by sequence.field of types {:?}: {e}",
                spec.order_types
            ))
        })?)
    };
    let merger = Merger {
        pending: inputs,
        cursors: Vec::new(),
        heap: Vec::new(),
        slots: Vec::new(),
        picked: Vec::new(),
        held: 0,
        retired: Vec::new(),
        picks: Vec::new(),
        converter,
        order,
        spec,
    };
    Ok(futures::stream::try_unfold(merger, |mut m| async move {
        Ok(m.next_chunk().await?.map(|c| (c, m)))
    })
    .boxed())
}

/// One input file positioned at a row.
struct Cursor {
    label: String,
    input: ChunkStream,
    keys: Rows,
    /// The `sequence.field` values, byte-comparable in merge order.
    order: Option<Rows>,
    seq: Int64Array,
    kind: Int8Array,
    rows: usize,
    pos: usize,
    /// Where this file's current batch is in [`Merger::slots`].
    slot: usize,
}

struct Loaded {
    columns: Vec<ArrayRef>,
    keys: Rows,
    order: Option<Rows>,
    seq: Int64Array,
    kind: Int8Array,
    rows: usize,
}

struct Merger {
    /// Inputs not opened yet (all of them before the first batch).
    pending: Vec<(String, ChunkStream)>,
    cursors: Vec<Cursor>,
    /// Min-heap of cursor indices by current key (then by index, so ties are deterministic).
    heap: Vec<usize>,
    /// Batches rows may still be taken from: each cursor's current one, and older ones that
    /// rows were picked from since the last output.
    slots: Vec<Option<Vec<ArrayRef>>>,
    /// Per slot: rows were picked from it for the next output.
    picked: Vec<bool>,
    /// Slots in use.
    held: usize,
    /// Slots their cursors moved past while the current key is merged; released once the
    /// key's winner is known (the winner's batch must stay).
    retired: Vec<usize>,
    /// Each output row so far.
    picks: Vec<Pick>,
    converter: RowConverter,
    /// Converts `sequence.field` columns, when the table has them.
    order: Option<RowConverter>,
    spec: MergeSpec,
}

/// An output row: a whole input row, or cells.
enum Pick {
    Whole(usize, usize),
    Cells(Vec<Out>),
}

/// An output cell.
enum Out {
    Null,
    /// (slot, row) of the input cell.
    At(usize, usize),
    Value(Scalar),
}

/// The values of a key's versions, read from the held batches.
struct SlotValues<'a> {
    slots: &'a [Option<Vec<ArrayRef>>],
    versions: &'a [Version],
}

impl SlotValues<'_> {
    fn array(&self, v: usize, col: usize) -> Option<(&ArrayRef, usize)> {
        let version = self.versions.get(v)?;
        let columns = self.slots.get(version.slot)?.as_ref()?;
        Some((columns.get(col)?, version.row))
    }
}

impl merge_engine::Values for SlotValues<'_> {
    fn get(&self, v: usize, col: usize) -> Result<Option<Scalar>> {
        match self.array(v, col) {
            Some((array, row)) => merge_engine::scalar(array.as_ref(), row),
            None => Err(Error::Unsupported(format!(
                "merging primary-key rows: column {col} of version {v} is not held"
            ))),
        }
    }

    fn is_null(&self, v: usize, col: usize) -> bool {
        self.array(v, col).is_none_or(|(a, row)| a.is_null(row))
    }
}

impl Merger {
    async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if !self.pending.is_empty() {
            self.start().await?;
        }
        // Batches kept only for rows already picked are bounded too: past a few, output early
        // (a smaller batch) rather than hold more decoded rows.
        let max_held = self.cursors.len() + 4;
        while self.picks.len() < self.spec.batch_size && self.held <= max_held {
            let Some(&top) = self.heap.first() else { break };
            let group: Vec<u8> = self.key_bytes(top).to_vec();
            let mut versions: Vec<Version> = Vec::new();
            while let Some(&top) = self.heap.first() {
                if self.key_bytes(top) != group.as_slice() {
                    break;
                }
                heap_pop(&mut self.heap, &self.cursors);
                let c = &self.cursors[top];
                let (seq, kind) = (c.seq.value(c.pos), c.kind.value(c.pos));
                check_kind(kind, &c.label)?;
                versions.push(Version {
                    slot: c.slot,
                    row: c.pos,
                    seq,
                    kind,
                    order: c
                        .order
                        .as_ref()
                        .map_or_else(Vec::new, |o| o.row(c.pos).data().to_vec()),
                });
                if self.advance(top).await? {
                    heap_push(&mut self.heap, &self.cursors, top);
                }
            }
            merge_engine::sort_versions(&mut versions);
            let width = self
                .slots
                .get(versions.first().map_or(0, |v| v.slot))
                .and_then(|s| s.as_ref().map(Vec::len))
                .unwrap_or(0);
            let values = SlotValues {
                slots: &self.slots,
                versions: &versions,
            };
            let outcome = self.spec.engine.resolve(&versions, &values, width)?;
            match outcome {
                Outcome::Drop => {}
                Outcome::Whole(i) => {
                    let v = &versions[i];
                    self.picks.push(Pick::Whole(v.slot, v.row));
                    self.picked[v.slot] = true;
                }
                Outcome::Cells(cells) => {
                    let mut out = Vec::with_capacity(cells.len());
                    for cell in cells {
                        out.push(match cell {
                            Cell::Null => Out::Null,
                            Cell::From(i) => {
                                let v = &versions[i];
                                self.picked[v.slot] = true;
                                Out::At(v.slot, v.row)
                            }
                            Cell::Value(s) => Out::Value(s),
                        });
                    }
                    self.picks.push(Pick::Cells(out));
                }
            }
            // Only now, with the winner's batch marked, can the batches cursors left go.
            for slot in std::mem::take(&mut self.retired) {
                self.release(slot);
            }
        }
        if self.picks.is_empty() {
            return Ok(None);
        }
        self.emit().map(Some)
    }

    fn key_bytes(&self, cursor: usize) -> &[u8] {
        let c = &self.cursors[cursor];
        c.keys.row(c.pos).data()
    }

    /// Open every input at its first non-empty batch.
    async fn start(&mut self) -> Result<()> {
        for (label, mut input) in std::mem::take(&mut self.pending) {
            let loaded = load(
                &mut input,
                &self.converter,
                self.order.as_ref(),
                &self.spec,
                &label,
            )
            .await?;
            let Some(first) = loaded else {
                continue;
            };
            let slot = self.hold(first.columns);
            self.cursors.push(Cursor {
                label,
                input,
                keys: first.keys,
                order: first.order,
                seq: first.seq,
                kind: first.kind,
                rows: first.rows,
                pos: 0,
                slot,
            });
            heap_push(&mut self.heap, &self.cursors, self.cursors.len() - 1);
        }
        Ok(())
    }

    fn hold(&mut self, columns: Vec<ArrayRef>) -> usize {
        self.slots.push(Some(columns));
        self.picked.push(false);
        self.held += 1;
        self.slots.len() - 1
    }

    fn release(&mut self, slot: usize) {
        if !self.picked[slot] && self.slots[slot].take().is_some() {
            self.held -= 1;
        }
    }

    /// Move a cursor to its next row; false when its file is exhausted.
    async fn advance(&mut self, i: usize) -> Result<bool> {
        let c = &mut self.cursors[i];
        c.pos += 1;
        if c.pos < c.rows {
            if c.keys.row(c.pos) < c.keys.row(c.pos - 1) {
                return Err(unsorted(&c.label));
            }
            return Ok(true);
        }
        let last = c.keys.row(c.rows - 1).owned();
        let old_slot = c.slot;
        let next = load(
            &mut c.input,
            &self.converter,
            self.order.as_ref(),
            &self.spec,
            &c.label,
        )
        .await?;
        self.retired.push(old_slot);
        let Some(next) = next else {
            return Ok(false);
        };
        if next.keys.row(0) < last.row() {
            return Err(unsorted(&self.cursors[i].label));
        }
        let slot = self.hold(next.columns);
        let c = &mut self.cursors[i];
        c.keys = next.keys;
        c.order = next.order;
        c.seq = next.seq;
        c.kind = next.kind;
        c.rows = next.rows;
        c.pos = 0;
        c.slot = slot;
        Ok(true)
    }

    /// Build the output batch from the picks and keep only the batches cursors still read.
    fn emit(&mut self) -> Result<Chunk> {
        let mut remap: Vec<Option<usize>> = vec![None; self.slots.len()];
        let mut used: Vec<&Vec<ArrayRef>> = Vec::new();
        for (s, slot) in self.slots.iter().enumerate() {
            if let (true, Some(columns)) = (self.picked[s], slot) {
                remap[s] = Some(used.len());
                used.push(columns);
            }
        }
        let width = used.first().map_or(0, |c| c.len());
        let nulls_at = used.len();
        let computed_at = used.len() + 1;
        let mut columns = Vec::with_capacity(width);
        for col in 0..width {
            let mut computed: Vec<Scalar> = Vec::new();
            let mut indices: Vec<(usize, usize)> = Vec::with_capacity(self.picks.len());
            for pick in &self.picks {
                let at = |s: usize, r: usize| remap[s].map_or((nulls_at, 0), |u| (u, r));
                indices.push(match pick {
                    Pick::Whole(s, r) => at(*s, *r),
                    Pick::Cells(cells) => match cells.get(col) {
                        Some(Out::At(s, r)) => at(*s, *r),
                        Some(Out::Value(v)) => {
                            computed.push(v.clone());
                            (computed_at, computed.len() - 1)
                        }
                        Some(Out::Null) | None => (nulls_at, 0),
                    },
                });
            }
            let data_type = used[0][col].data_type().clone();
            let nulls = new_null_array(&data_type, 1);
            // Only aggregates compute values; a column without any (every column of a
            // deduplicate merge) needs no builder for its type.
            let values = if computed.is_empty() {
                arrow::array::new_empty_array(&data_type)
            } else {
                merge_engine::build(&data_type, &computed)?
            };
            let mut arrays: Vec<&dyn Array> = used.iter().map(|c| c[col].as_ref()).collect();
            arrays.push(nulls.as_ref());
            arrays.push(values.as_ref());
            columns.push(
                interleave(&arrays, &indices)
                    .map_err(|e| Error::Unsupported(format!("merging primary-key rows: {e}")))?,
            );
        }
        let rows = self.picks.len();
        self.picks.clear();
        let mut slots = Vec::with_capacity(self.heap.len());
        for &i in &self.heap {
            let c = &mut self.cursors[i];
            slots.push(self.slots[c.slot].take());
            c.slot = slots.len() - 1;
        }
        self.held = slots.len();
        self.picked = vec![false; slots.len()];
        self.slots = slots;
        Ok(Chunk {
            columns,
            rows,
            system: None,
        })
    }
}

fn unsorted(label: &str) -> Error {
    Error::data_file(
        label,
        "rows of a primary-key data file are not sorted by key, so they cannot be merged",
    )
}

/// The next non-empty batch of an input, with its keys converted for comparison.
async fn load(
    input: &mut ChunkStream,
    converter: &RowConverter,
    order: Option<&RowConverter>,
    spec: &MergeSpec,
    label: &str,
) -> Result<Option<Loaded>> {
    while let Some(chunk) = input.next().await {
        let chunk = chunk?;
        if chunk.rows == 0 {
            continue;
        }
        let Some((seq, kind)) = chunk.system else {
            return Err(Error::data_file(label, "no sequence numbers or row kinds"));
        };
        let key_columns: Vec<ArrayRef> = spec
            .key_columns
            .iter()
            .map(|&k| chunk.columns[k].clone())
            .collect();
        let keys = converter
            .convert_columns(&key_columns)
            .map_err(|e| Error::data_file(label, format!("cannot compare keys: {e}")))?;
        let order = match order {
            None => None,
            Some(o) => {
                let columns: Vec<ArrayRef> = spec
                    .order_columns
                    .iter()
                    .map(|&k| chunk.columns[k].clone())
                    .collect();
                Some(o.convert_columns(&columns).map_err(|e| {
                    Error::data_file(label, format!("cannot compare sequence.field: {e}"))
                })?)
            }
        };
        return Ok(Some(Loaded {
            columns: chunk.columns,
            keys,
            order,
            seq,
            kind,
            rows: chunk.rows,
        }));
    }
    Ok(None)
}

// ----- a binary min-heap of cursor indices -----

fn before(cursors: &[Cursor], a: usize, b: usize) -> bool {
    let (ca, cb) = (&cursors[a], &cursors[b]);
    match ca.keys.row(ca.pos).cmp(&cb.keys.row(cb.pos)) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => a < b,
    }
}

fn heap_push(heap: &mut Vec<usize>, cursors: &[Cursor], item: usize) {
    heap.push(item);
    let mut i = heap.len() - 1;
    while i > 0 {
        let parent = (i - 1) / 2;
        if before(cursors, heap[i], heap[parent]) {
            heap.swap(i, parent);
            i = parent;
        } else {
            break;
        }
    }
}

fn heap_pop(heap: &mut Vec<usize>, cursors: &[Cursor]) -> Option<usize> {
    if heap.is_empty() {
        return None;
    }
    let top = heap.swap_remove(0);
    let mut i = 0;
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut smallest = i;
        if l < heap.len() && before(cursors, heap[l], heap[smallest]) {
            smallest = l;
        }
        if r < heap.len() && before(cursors, heap[r], heap[smallest]) {
            smallest = r;
        }
        if smallest == i {
            break;
        }
        heap.swap(i, smallest);
        i = smallest;
    }
    Some(top)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};

    use super::*;

    /// A file as batches of (key, seq, kind, value).
    fn file(batches: &[&[(i64, i64, i8, &str)]]) -> ChunkStream {
        let chunks: Vec<Result<Chunk>> = batches
            .iter()
            .map(|rows| {
                Ok(Chunk {
                    columns: vec![
                        Arc::new(Int64Array::from(
                            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                        )) as ArrayRef,
                        Arc::new(StringArray::from(
                            rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                        )),
                    ],
                    rows: rows.len(),
                    system: Some((
                        Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()),
                        Int8Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>()),
                    )),
                })
            })
            .collect();
        futures::stream::iter(chunks).boxed()
    }

    fn spec(batch_size: usize, ignore_delete: bool) -> MergeSpec {
        MergeSpec {
            key_columns: vec![0],
            key_types: vec![ArrowType::Int64],
            engine: Engine::Deduplicate { ignore_delete },
            order_columns: Vec::new(),
            order_types: Vec::new(),
            order_descending: false,
            batch_size,
        }
    }

    async fn run(files: Vec<ChunkStream>, spec: MergeSpec) -> Result<Vec<(i64, String)>> {
        let inputs = files
            .into_iter()
            .enumerate()
            .map(|(i, f)| (format!("file-{i}"), f))
            .collect();
        let mut out = merge(inputs, spec)?;
        let mut rows = Vec::new();
        while let Some(chunk) = out.next().await {
            let chunk = chunk?;
            assert!(chunk.rows > 0);
            let k = chunk.columns[0]
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let v = chunk.columns[1]
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            for i in 0..chunk.rows {
                rows.push((k.value(i), v.value(i).to_string()));
            }
        }
        Ok(rows)
    }

    fn rows(v: &[(i64, &str)]) -> Vec<(i64, String)> {
        v.iter().map(|(k, s)| (*k, s.to_string())).collect()
    }

    #[tokio::test]
    async fn highest_sequence_wins_and_retractions_drop_the_key() {
        // Level-0 style: three overlapping files, batches of different sizes.
        let a = file(&[
            &[(1, 0, 0, "a1"), (2, 1, 0, "a2")],
            &[(4, 2, 0, "a4"), (5, 3, 0, "a5")],
        ]);
        let b = file(&[&[(2, 7, 2, "b2"), (4, 8, 3, "-"), (6, 9, 0, "b6")]]);
        let c = file(&[&[(1, 5, 1, "-"), (5, 4, 3, "-")], &[(7, 10, 0, "c7")]]);
        let got = run(vec![a, b, c], spec(2, false)).await.unwrap();
        // 1: -U (seq 5) beats +I (seq 0) → gone. 2: +U seq 7 wins. 4: -D seq 8 → gone.
        // 5: -D seq 4 beats +I seq 3 → gone. 6, 7 only once.
        assert_eq!(got, rows(&[(2, "b2"), (6, "b6"), (7, "c7")]));
    }

    #[tokio::test]
    async fn a_key_deleted_then_inserted_again_is_back() {
        let a = file(&[&[(1, 0, 0, "old")]]);
        let b = file(&[&[(1, 1, 3, "-")]]);
        let c = file(&[&[(1, 2, 0, "new")]]);
        let got = run(vec![c, a, b], spec(8, false)).await.unwrap();
        assert_eq!(got, rows(&[(1, "new")]));
    }

    #[tokio::test]
    async fn ignore_delete_keeps_the_last_added_version() {
        let a = file(&[&[(1, 0, 0, "a"), (2, 1, 0, "b")]]);
        let b = file(&[&[(1, 5, 3, "-"), (2, 6, 2, "b2")]]);
        let got = run(vec![a, b], spec(8, true)).await.unwrap();
        assert_eq!(got, rows(&[(1, "a"), (2, "b2")]));
    }

    #[tokio::test]
    async fn mostly_superseded_files_stream_in_small_outputs() {
        // An old file of 2,000 keys in 200 batches, all but every 100th overwritten by a newer
        // file: the merge never needs more than a few batches at once, and output batches
        // stay within the batch size.
        let old: Vec<Vec<(i64, i64, i8, &str)>> = (0..200)
            .map(|b| {
                (0..10)
                    .map(|i| (b * 10 + i, b * 10 + i, 0, "old"))
                    .collect()
            })
            .collect();
        let old_refs: Vec<&[(i64, i64, i8, &str)]> = old.iter().map(|b| b.as_slice()).collect();
        let new: Vec<(i64, i64, i8, &str)> = (0..2000)
            .filter(|k| k % 100 != 0)
            .map(|k| (k, 10_000 + k, 3, "-"))
            .collect();
        let got = run(vec![file(&old_refs), file(&[&new])], spec(7, false))
            .await
            .unwrap();
        let want: Vec<(i64, String)> = (0..2000)
            .filter(|k| k % 100 == 0)
            .map(|k| (k, "old".to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn unsorted_files_and_bad_kinds_are_errors_naming_the_file() {
        let bad = file(&[&[(2, 0, 0, "x"), (1, 1, 0, "y")]]);
        let err = run(vec![bad], spec(8, false))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("file-0") && err.contains("not sorted"),
            "{err}"
        );
        let kind = file(&[&[(1, 0, 9, "x")]]);
        let err = run(vec![kind], spec(8, false))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("file-0") && err.contains("_VALUE_KIND 9"),
            "{err}"
        );
    }

    #[test]
    fn sections_group_overlapping_key_ranges_in_key_order() {
        let r = |a: i64, b: i64| Some((vec![Datum::BigInt(a)], vec![Datum::BigInt(b)]));
        // [10,20] [1,5] [15,30] [31,40] [4,9]
        let got = sections(&[r(10, 20), r(1, 5), r(15, 30), r(31, 40), r(4, 9)]);
        assert_eq!(got, vec![vec![1, 4], vec![0, 2], vec![3]]);
        // An unknown range puts everything together.
        assert_eq!(sections(&[r(1, 2), None, r(5, 6)]), vec![vec![0, 1, 2]]);
        assert!(sections(&[]).is_empty());
        let s = |a: &str| Some((vec![Datum::String(a.into())], vec![Datum::String(a.into())]));
        // Strings compare by bytes: "B" < "a" < "é".
        assert_eq!(
            sections(&[s("é"), s("a"), s("B")]),
            vec![vec![2], vec![1], vec![0]]
        );
    }

    #[test]
    fn file_batches_shrink_with_many_files() {
        assert_eq!(file_batch_size(1, 8192), 8192);
        assert_eq!(file_batch_size(64, 8192), 256);
        assert_eq!(file_batch_size(8, 8192), 2048);
        assert_eq!(file_batch_size(100_000, 8192), 256);
        assert_eq!(file_batch_size(4, 100), 100);
    }
}
