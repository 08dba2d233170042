//! Row diff: the rows added and removed between two versions of a table, streamed, each with
//! a leading `_ROW_KIND` column (`RowKind.shortString()`).
//!
//! * Append tables: data files are immutable and named uniquely, so the rows of files live in
//!   the newer version only are added (`+I`) and the rows of files live in the older version
//!   only are removed (`-D`); files live in both contribute nothing. One file is read at a
//!   time. A file live in both whose deletion vector differs (rows deleted in place) is refused:
//!   telling which of its rows changed needs a position diff that is not implemented.
//! * Primary-key tables: both versions are read merged (as `read` reads them), bucket by
//!   bucket; a bucket's merged rows come out sorted by key, so the two versions of a bucket are
//!   merge-joined on the primary key. A key only in the older version is `-D`, only in the newer
//!   `+I`; a key whose merged row changed is `-U` (old row) followed by `+U` (new row), as
//!   Java's `IncrementalDiffSplitRead` pairs them. Buckets are paired by partition and bucket
//!   number: a key that moved to another bucket (the bucket count changed) shows as `-D` in
//!   one and `+I` in the other.
//!
//! Both versions are read in the newer version's schema (files of older schemas are evolved by
//! field id), so that their rows compare column by column.
//!
//! Memory: for a primary-key table, what merging one bucket of each version holds (one batch
//! per file of the current key-range section, see `merge.rs`) plus one output batch; for an
//! append table, one file's batch. Never a whole version.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::compute::interleave;
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use futures::stream::{self, BoxStream};
use futures::StreamExt;

use super::{
    merge_bucket, plan_with, Group, ReadOptions, ReadPlan, RecordBatchStream, RowKinds, Shared,
    DEFAULT_BATCH_SIZE, ROW_KIND_COLUMN,
};
use crate::error::{Error, Result};
use crate::table::{Table, VersionSpec};

/// A row diff decided from metadata: the two reads and the schema of the output.
#[derive(Debug, Clone)]
pub struct RowDiffPlan {
    /// The older side (as given).
    pub from: ReadPlan,
    /// The newer side.
    pub to: ReadPlan,
    schema: SchemaRef,
    append: bool,
    batch_size: usize,
}

/// Plan the row diff between `from` and `to` (rows per batch: `batch_size`, 0 for the
/// default).
pub async fn plan(
    table: &Table,
    from: &VersionSpec,
    to: &VersionSpec,
    batch_size: usize,
) -> Result<RowDiffPlan> {
    let batch_size = if batch_size == 0 {
        DEFAULT_BATCH_SIZE
    } else {
        batch_size
    };
    let newer = table.resolve(to).await?;
    let schema = table.load_schema(newer.snapshot.schema_id).await?;
    let append = schema.primary_keys.is_empty();
    let options = |version: &VersionSpec| ReadOptions {
        version: version.clone(),
        batch_size,
        ..ReadOptions::default()
    };
    let (kind_from, kind_to) = if append {
        (
            Some(RowKinds::Constant("-D")),
            Some(RowKinds::Constant("+I")),
        )
    } else {
        (None, None)
    };
    let (from_options, to_options) = (options(from), options(to));
    let (mut a, mut b) = futures::try_join!(
        plan_with(table, &from_options, Some(&schema), kind_from),
        plan_with(table, &to_options, Some(&schema), kind_to),
    )?;
    if append {
        drop_shared_files(&mut a, &mut b)?;
    }
    let data = |p: &ReadPlan| -> Vec<Field> {
        let skip = usize::from(append);
        p.schema
            .fields()
            .iter()
            .skip(skip)
            .map(|f| (**f).clone())
            .collect()
    };
    let fields: Vec<Field> = std::iter::once(Field::new(ROW_KIND_COLUMN, ArrowType::Utf8, false))
        .chain(data(&a).into_iter().zip(data(&b)).map(|(fa, fb)| {
            let nullable = fa.is_nullable() || fb.is_nullable();
            fb.with_nullable(nullable)
        }))
        .collect();
    Ok(RowDiffPlan {
        from: a,
        to: b,
        schema: Arc::new(Schema::new(fields)),
        append,
        batch_size,
    })
}

/// An append table: keep only the files one side has and the other has not.
fn drop_shared_files(a: &mut ReadPlan, b: &mut ReadPlan) -> Result<()> {
    let files = |p: &ReadPlan| -> HashMap<String, Group> {
        p.groups
            .iter()
            .filter_map(|g| g.files.first().map(|f| (f.key.clone(), g.clone())))
            .collect()
    };
    let (in_a, in_b) = (files(a), files(b));
    for (key, ga) in &in_a {
        if let Some(gb) = in_b.get(key) {
            let dv = |g: &Group| g.files.first().and_then(|f| f.deletes.clone());
            if dv(ga) != dv(gb) {
                return Err(Error::Unsupported(format!(
                    "data file {key} is live in both versions with different deletion vectors \
                     (rows deleted in place); row diffs of such append tables are not \
                     supported yet"
                )));
            }
        }
    }
    let keep = |p: &mut ReadPlan, other: &HashMap<String, Group>| {
        p.groups
            .retain(|g| g.files.first().is_some_and(|f| !other.contains_key(&f.key)));
        p.files = p.groups.len();
        p.file_rows = 0;
    };
    keep(a, &in_b);
    keep(b, &in_a);
    Ok(())
}

impl RowDiffPlan {
    /// The schema of every batch: `_ROW_KIND`, then the newer version's columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// "snapshot 3 → tag 'x' (snapshot 5)", for messages.
    pub fn describe(&self) -> String {
        format!("{} → {}", self.from.describe(), self.to.describe())
    }

    /// The changed rows. Append tables: removed rows, then added rows. Primary-key tables:
    /// bucket by bucket (the newer version's buckets first), in key order within a bucket.
    pub fn stream(&self) -> RecordBatchStream {
        let schema = self.schema();
        let inner = if self.append {
            let cast = Arc::clone(&schema);
            self.from
                .stream()
                .chain(self.to.stream())
                .map(move |b| {
                    b.and_then(|b| {
                        RecordBatch::try_new(Arc::clone(&cast), b.columns().to_vec())
                            .map_err(|e| Error::Unsupported(format!("diff rows: {e}")))
                    })
                })
                .boxed()
        } else {
            self.join()
        };
        RecordBatchStream { schema, inner }
    }

    /// Pair the buckets of both versions and merge-join each pair.
    fn join(&self) -> BoxStream<'static, Result<RecordBatch>> {
        let key_columns: Vec<usize> = self
            .to
            .primary_keys
            .iter()
            .filter_map(|k| {
                self.schema
                    .fields()
                    .iter()
                    .skip(1)
                    .position(|f| f.name() == k)
            })
            .collect();
        let mut older: HashMap<(Vec<u8>, i32), Group> = self
            .from
            .groups
            .iter()
            .map(|g| (g.bucket.clone(), g.clone()))
            .collect();
        let mut pairs: Vec<(Option<Group>, Option<Group>)> = Vec::new();
        for g in &self.to.groups {
            pairs.push((older.remove(&g.bucket), Some(g.clone())));
        }
        let rest: BTreeSet<(Vec<u8>, i32)> = older.keys().cloned().collect();
        for id in rest {
            pairs.push((older.remove(&id), None));
        }
        let (sa, sb) = (Arc::clone(&self.from.shared), Arc::clone(&self.to.shared));
        let (schema, batch_size) = (self.schema(), self.batch_size);
        stream::iter(pairs)
            .map(move |(ga, gb)| {
                let open = |shared: &Arc<Shared>, g: Option<Group>| match g {
                    Some(g) => merge_bucket(Arc::clone(shared), g),
                    None => stream::empty().boxed(),
                };
                let label = gb
                    .as_ref()
                    .or(ga.as_ref())
                    .map(|g| g.label.clone())
                    .unwrap_or_default();
                let join = Join {
                    a: Side::new(open(&sa, ga)),
                    b: Side::new(open(&sb, gb)),
                    keys: key_columns.clone(),
                    schema: Arc::clone(&schema),
                    batch_size,
                    label,
                };
                join.into_stream()
            })
            .flatten()
            .boxed()
    }
}

/// One version's merged rows of a bucket, with a cursor.
struct Side {
    input: BoxStream<'static, Result<RecordBatch>>,
    batch: Option<RecordBatch>,
    /// Keys and whole rows of `batch` in Arrow's row format (comparable bytes).
    keys: Option<Rows>,
    rows: Option<Rows>,
    pos: usize,
    done: bool,
    /// The last key of the previous batch, to check that keys ascend across batches.
    last: Option<OwnedRow>,
}

impl Side {
    fn new(input: BoxStream<'static, Result<RecordBatch>>) -> Self {
        Side {
            input,
            batch: None,
            keys: None,
            rows: None,
            pos: 0,
            done: false,
            last: None,
        }
    }

    fn len(&self) -> usize {
        self.batch.as_ref().map_or(0, RecordBatch::num_rows)
    }

    fn available(&self) -> bool {
        self.pos < self.len()
    }

    fn key(&self) -> Option<arrow::row::Row<'_>> {
        self.keys.as_ref().map(|k| k.row(self.pos))
    }
}

/// The merge join of one bucket.
struct Join {
    a: Side,
    b: Side,
    keys: Vec<usize>,
    schema: SchemaRef,
    batch_size: usize,
    label: String,
}

impl Join {
    fn into_stream(self) -> BoxStream<'static, Result<RecordBatch>> {
        stream::unfold(Some(self), |state| async move {
            let mut join = state?;
            match join.next_batch().await {
                Ok(Some(b)) => Some((Ok(b), Some(join))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
        .boxed()
    }

    /// Load the next non-empty batch of a side whose batch is used up.
    async fn fill(side: &mut Side, keys: &[usize], label: &str) -> Result<()> {
        while !side.done && !side.available() {
            if let (Some(k), Some(b)) = (&side.keys, &side.batch) {
                if b.num_rows() > 0 {
                    side.last = Some(k.row(b.num_rows() - 1).owned());
                }
            }
            match side.input.next().await {
                None => {
                    side.done = true;
                    side.batch = None;
                    side.keys = None;
                    side.rows = None;
                }
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let key_arrays: Vec<ArrayRef> =
                        keys.iter().map(|&i| Arc::clone(batch.column(i))).collect();
                    let k = convert(&key_arrays, label)?;
                    let r = convert(batch.columns(), label)?;
                    // A bucket's merged rows ascend strictly by key (`merge.rs`); the join
                    // relies on it, so say so rather than pair the wrong rows.
                    let mut ascending = (1..k.num_rows()).all(|i| k.row(i - 1) < k.row(i));
                    if let Some(last) = &side.last {
                        ascending &= last.row() < k.row(0);
                    }
                    if !ascending {
                        return Err(Error::Unsupported(format!(
                            "{label}: merged rows are not in key order, so the two versions \
                             cannot be merge-joined"
                        )));
                    }
                    side.batch = Some(batch);
                    side.keys = Some(k);
                    side.rows = Some(r);
                    side.pos = 0;
                }
            }
        }
        Ok(())
    }

    /// The next output batch of changed rows, or `None` when the bucket is done.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            Self::fill(&mut self.a, &self.keys, &self.label).await?;
            Self::fill(&mut self.b, &self.keys, &self.label).await?;
            if self.a.done && self.b.done {
                return Ok(None);
            }
            // (side, row) picks and their kinds; side 0 is the older version.
            let mut picks: Vec<(usize, usize)> = Vec::new();
            let mut kinds: Vec<&'static str> = Vec::new();
            while picks.len() < self.batch_size {
                let (a, b) = (&mut self.a, &mut self.b);
                // A side whose batch is used up must be refilled before comparing again.
                if (!a.available() && !a.done) || (!b.available() && !b.done) {
                    break;
                }
                let order = match (a.key(), b.key()) {
                    (None, None) => break,
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(ka), Some(kb)) => ka.cmp(&kb),
                };
                match order {
                    Ordering::Less => {
                        picks.push((0, a.pos));
                        kinds.push("-D");
                        a.pos += 1;
                    }
                    Ordering::Greater => {
                        picks.push((1, b.pos));
                        kinds.push("+I");
                        b.pos += 1;
                    }
                    Ordering::Equal => {
                        let same = match (&a.rows, &b.rows) {
                            (Some(ra), Some(rb)) => ra.row(a.pos) == rb.row(b.pos),
                            _ => false,
                        };
                        if !same {
                            picks.push((0, a.pos));
                            kinds.push("-U");
                            picks.push((1, b.pos));
                            kinds.push("+U");
                        }
                        a.pos += 1;
                        b.pos += 1;
                    }
                }
            }
            if picks.is_empty() {
                continue;
            }
            return self.emit(&picks, kinds).map(Some);
        }
    }

    fn emit(&self, picks: &[(usize, usize)], kinds: Vec<&'static str>) -> Result<RecordBatch> {
        let empty = |s: &Side| {
            s.batch.clone().unwrap_or_else(|| {
                RecordBatch::new_empty(Arc::new(Schema::new(
                    self.schema
                        .fields()
                        .iter()
                        .skip(1)
                        .map(|f| (**f).clone())
                        .collect::<Vec<_>>(),
                )))
            })
        };
        let (ba, bb) = (empty(&self.a), empty(&self.b));
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(kinds))];
        for i in 0..ba.num_columns() {
            let sources: [&dyn Array; 2] = [ba.column(i).as_ref(), bb.column(i).as_ref()];
            columns.push(interleave(&sources, picks).map_err(|e| {
                Error::Unsupported(format!("{}: building diff rows: {e}", self.label))
            })?);
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| Error::Unsupported(format!("{}: building diff rows: {e}", self.label)))
    }
}

/// Columns in Arrow's row format, whose bytes compare as the values do.
fn convert(columns: &[ArrayRef], label: &str) -> Result<Rows> {
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)
        .map_err(|e| Error::Unsupported(format!("{label}: comparing rows: {e}")))?;
    converter
        .convert_columns(columns)
        .map_err(|e| Error::Unsupported(format!("{label}: comparing rows: {e}")))
}
