//! Opening one ORC data file (Java's `file.format=orc`) with `orc-rust`: its tail is fetched
//! through the table's store, then one stripe at a time (only the projected columns), decoded
//! batch by batch and turned into target columns like a Parquet file (see [`super::evolve`]).
//!
//! Columns are matched by name through the schema the file was written with (`_SCHEMA_ID` of
//! its meta), which is how Java's own ORC reader finds them: Java also records field ids as
//! `paimon.id` type attributes, but orc-rust 0.9 does not expose type attributes. A renamed
//! column still follows its id, since the file's schema gives the id of each name it wrote.
//!
//! Memory: a stripe's projected column streams are held while its rows are decoded, so a read
//! holds about one stripe per open file (Java writes stripes of `orc.stripe.size`, 64 MiB by
//! default), never a whole file.

use std::future::Future;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use orc_rust::error::OrcError;
use orc_rust::projection::ProjectionMask;
use orc_rust::reader::AsyncChunkReader;
use orc_rust::schema::RootDataType;
use orc_rust::{ArrowReaderBuilder, TimestampPrecision};

use super::evolve::{map_file, TargetColumn};
use super::file::{check_rows, to_targets, DataFile, FileContext, StoreReader};
use super::merge::ChunkStream;
use crate::error::{Error, Result};

/// Open an ORC data file as a stream of target batches. With `limit`, stop after that many
/// rows (counted before deletions are applied only when the file has none).
pub(super) async fn open(
    ctx: &FileContext,
    file: &DataFile,
    batch_size: usize,
    limit: Option<usize>,
) -> Result<ChunkStream> {
    let reader = OrcReader(StoreReader {
        store: ctx.store.clone(),
        key: file.key.clone(),
        size: file.size,
        version: ctx.version.clone(),
    });
    let key = file.key.clone();
    // orc-rust indexes and subtracts lengths read from the file's tail; a damaged tail must be
    // an error naming the file, never a panic that ends the whole read.
    let builder = Unpanicked::new(Box::pin(ArrowReaderBuilder::try_new_async(reader)))
        .await
        .map_err(|e| orc_error(&key, e))?
        .map_err(|e| orc_error(&key, e))?;
    check_rows(file, builder.file_metadata().number_of_rows(), ctx)?;
    let mapping = map_file(
        &builder.schema(),
        ctx.schemas.get(&file.schema_id),
        &ctx.targets,
        ctx.key_value,
        &file.key,
    )?;
    let columns = orc_columns(
        builder.file_metadata().root_data_type(),
        &mapping.projection,
    );
    let mask = ProjectionMask::roots(builder.file_metadata().root_data_type(), columns);
    let stream = builder
        .with_projection(mask)
        .with_batch_size(batch_size.max(1))
        .with_timestamp_precision(timestamp_precision(&ctx.targets))
        .build_async();
    let raw = {
        let key = key.clone();
        Unpanicked::new(Box::pin(stream)).map(move |batch| match batch {
            Err(panicked) => Err(orc_error(&key, panicked)),
            Ok(Err(e)) => Err(arrow_error(&key, e)),
            Ok(Ok(b)) => Ok(b),
        })
    };
    // With deletions, a limit counts the rows that remain: it is applied after them.
    let limit = if file.deletes.is_some() { None } else { limit };
    Ok(to_targets(limited(raw, limit), file, mapping, ctx))
}

/// The ORC column indices of the root columns at `positions`. ORC numbers every type of the
/// file in pre-order (the root struct is 0), so a root column's index is not its position once
/// an earlier column is nested.
fn orc_columns(root: &RootDataType, positions: &[usize]) -> Vec<usize> {
    positions
        .iter()
        .filter_map(|&p| root.children().get(p))
        .map(|c| c.data_type().column_index())
        .collect()
}

/// Nanoseconds only when a target column keeps them: ORC stores seconds and nanoseconds, and
/// decoding to nanoseconds overflows outside 1677..2262 (a `9999-12-31` end date is common),
/// while microseconds reach any year.
fn timestamp_precision(targets: &[TargetColumn]) -> TimestampPrecision {
    let nanos = targets
        .iter()
        .any(|t| matches!(t.arrow_type, ArrowType::Timestamp(TimeUnit::Nanosecond, _)));
    if nanos {
        TimestampPrecision::Nanosecond
    } else {
        TimestampPrecision::Microsecond
    }
}

/// Stop after `limit` rows, cutting the last batch; no batch is decoded past the limit.
fn limited<S>(batches: S, limit: Option<usize>) -> impl Stream<Item = Result<RecordBatch>>
where
    S: Stream<Item = Result<RecordBatch>> + Send + 'static,
{
    let left = limit.unwrap_or(usize::MAX);
    futures::stream::unfold((batches.boxed(), left), |(mut batches, left)| async move {
        if left == 0 {
            return None;
        }
        let batch = match batches.next().await? {
            Ok(batch) => batch,
            Err(e) => return Some((Err(e), (batches, left))),
        };
        let keep = batch.num_rows().min(left);
        let batch = if keep < batch.num_rows() {
            batch.slice(0, keep)
        } else {
            batch
        };
        Some((Ok(batch), (batches, left - keep)))
    })
}

/// ORC's view of a data file: exact byte ranges through the table's store.
struct OrcReader(StoreReader);

impl AsyncChunkReader for OrcReader {
    fn len(&mut self) -> BoxFuture<'_, std::io::Result<u64>> {
        let size = self.0.size;
        async move { Ok(size) }.boxed()
    }

    fn get_bytes(
        &mut self,
        offset_from_start: u64,
        length: u64,
    ) -> BoxFuture<'_, std::io::Result<Bytes>> {
        async move {
            // Offsets and lengths come from the file itself: one past its end is damage (and
            // would otherwise become a request, or an allocation, of any size).
            let range = within(offset_from_start, length, self.0.size)
                .map_err(|reason| std::io::Error::other(Error::data_file(&self.0.key, reason)))?;
            if range.is_empty() {
                return Ok(Bytes::new());
            }
            let mut parts = self
                .0
                .fetch(vec![range])
                .await
                .map_err(std::io::Error::other)?;
            match parts.pop() {
                Some(b) if b.len() as u64 == length => Ok(b),
                _ => Err(std::io::Error::other(Error::data_file(
                    &self.0.key,
                    "the store returned fewer bytes than asked for",
                ))),
            }
        }
        .boxed()
    }
}

/// The range `offset..offset + length`, if it lies within a file of `size` bytes.
fn within(offset: u64, length: u64, size: u64) -> std::result::Result<Range<u64>, String> {
    match offset.checked_add(length) {
        Some(end) if end <= size => Ok(offset..end),
        _ => Err(format!(
            "its ORC metadata points at {length} bytes at offset {offset}, past its end \
             ({size} bytes): it is damaged or truncated"
        )),
    }
}

/// A panic inside orc-rust, caught.
#[derive(Debug)]
struct Panicked;

/// A future or stream whose polls run under `catch_unwind`: a panic in the decoder becomes
/// [`Panicked`], and a stream ends after it. Nothing half-updated escapes: the decoder is
/// dropped with the error.
struct Unpanicked<T> {
    inner: Option<T>,
}

impl<T> Unpanicked<T> {
    fn new(inner: T) -> Self {
        Self { inner: Some(inner) }
    }
}

impl<F: Future + Unpin> Future for Unpanicked<F> {
    type Output = std::result::Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(Err(Panicked));
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_unpin(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(_) => {
                self.inner = None;
                Poll::Ready(Err(Panicked))
            }
        }
    }
}

impl<S: Stream + Unpin> Stream for Unpanicked<S> {
    type Item = std::result::Result<S::Item, Panicked>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_next_unpin(cx))) {
            Ok(Poll::Ready(None)) => {
                self.inner = None;
                Poll::Ready(None)
            }
            Ok(Poll::Ready(Some(item))) => Poll::Ready(Some(Ok(item))),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => {
                self.inner = None;
                Poll::Ready(Some(Err(Panicked)))
            }
        }
    }
}

/// Why an ORC read failed, as an error naming the file. Errors of the store and of our own
/// checks travel inside orc-rust's I/O errors: they come back out with their kind (a missing
/// file, a store failure).
trait IntoOrcFailure {
    fn into_error(self, key: &str) -> Error;
}

impl IntoOrcFailure for Panicked {
    fn into_error(self, key: &str) -> Error {
        Error::data_file(key, "not readable as ORC (the ORC decoder panicked on it)")
    }
}

impl IntoOrcFailure for OrcError {
    fn into_error(self, key: &str) -> Error {
        match self {
            OrcError::IoError { source, .. } => match ours(source) {
                Ok(e) => e,
                Err(other) => Error::data_file(key, format!("not readable as ORC: {other}")),
            },
            other => Error::data_file(key, format!("not readable as ORC: {other}")),
        }
    }
}

fn orc_error(key: &str, e: impl IntoOrcFailure) -> Error {
    e.into_error(key)
}

/// Our error inside an I/O error, or the I/O error back.
fn ours(e: std::io::Error) -> std::result::Result<Error, std::io::Error> {
    if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return Err(e);
    }
    let kind = e.kind();
    match e.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(ours)) => Ok(*ours),
        _ => Err(std::io::Error::from(kind)),
    }
}

/// A failed batch: orc-rust wraps its own error in Arrow's.
fn arrow_error(key: &str, e: ArrowError) -> Error {
    match e {
        ArrowError::ExternalError(inner) => match inner.downcast::<OrcError>() {
            Ok(orc) => orc.into_error(key),
            Err(other) => Error::data_file(key, format!("not readable as ORC: {other}")),
        },
        other => Error::data_file(key, format!("not readable as ORC: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{
        Array, Date32Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
        TimestampNanosecondArray,
    };
    use arrow::datatypes::{Field, Schema};
    use futures::TryStreamExt;
    use orc_rust::ArrowWriterBuilder;

    use super::*;
    use crate::format::schema::TableSchema;
    use crate::io::TableStore;

    /// An ORC file written by orc-rust, in stripes of about `stripe_bytes`.
    fn orc_bytes(batch: &RecordBatch, stripe_bytes: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = ArrowWriterBuilder::new(&mut out, batch.schema())
            .with_stripe_byte_size(stripe_bytes)
            .try_build()
            .unwrap();
        for start in (0..batch.num_rows()).step_by(100) {
            let len = 100.min(batch.num_rows() - start);
            w.write(&batch.slice(start, len)).unwrap();
        }
        w.close().unwrap();
        out
    }

    /// Written under schema 0: id BIGINT, name STRING, n INT, d DATE, ts TIMESTAMP(6)
    /// (ids 0..=4); 1000 rows with every third name and n NULL.
    fn written() -> (TableSchema, RecordBatch) {
        let schema = TableSchema::decode(
            br#"{"version":3,"id":0,"fields":[
                {"id":0,"name":"id","type":"BIGINT"},{"id":1,"name":"name","type":"STRING"},
                {"id":2,"name":"n","type":"INT"},{"id":3,"name":"d","type":"DATE"},
                {"id":4,"name":"ts","type":"TIMESTAMP(6)"}]}"#,
            "schema/schema-0",
        )
        .unwrap();
        let rows = 1000i64;
        let ts = ArrowType::Timestamp(TimeUnit::Nanosecond, None);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", ArrowType::Int64, true),
                Field::new("name", ArrowType::Utf8, true),
                Field::new("n", ArrowType::Int32, true),
                Field::new("d", ArrowType::Date32, true),
                Field::new("ts", ts, true),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter(
                    (0..rows).map(|i| (i % 3 != 0).then(|| format!("name-{i}"))),
                )),
                Arc::new(Int32Array::from_iter(
                    (0..rows).map(|i| (i % 3 != 0).then_some(i as i32 * 10)),
                )),
                Arc::new(Date32Array::from_iter_values(
                    (0..rows).map(|i| 19_723 + i as i32),
                )),
                // 2024-01-01T00:00:00.000001 plus i seconds, in nanoseconds.
                Arc::new(TimestampNanosecondArray::from_iter_values(
                    (0..rows).map(|i| (1_704_067_200 + i) * 1_000_000_000 + 1_000),
                )),
            ],
        )
        .unwrap();
        (schema, batch)
    }

    async fn context(
        bytes: Vec<u8>,
        schema: TableSchema,
        targets: Vec<TargetColumn>,
    ) -> (FileContext, DataFile) {
        let store = TableStore::in_memory("t");
        let key = "bucket-0/data-1-0.orc".to_string();
        let size = bytes.len() as u64;
        store.put_overwrite(&key, Bytes::from(bytes)).await.unwrap();
        let ctx = FileContext {
            store,
            targets: Arc::new(targets),
            schemas: Arc::new(BTreeMap::from([(0, schema)])),
            key_value: false,
            version: "snapshot 1".into(),
        };
        let file = DataFile {
            key,
            size,
            schema_id: 0,
            deletes: None,
            rows: 1000,
        };
        (ctx, file)
    }

    #[tokio::test]
    async fn an_older_schemas_file_reads_into_the_target_schema_stripe_by_stripe() {
        let (schema, batch) = written();
        // Small stripes: the file has several, read one after the other.
        let bytes = orc_bytes(&batch, 4 * 1024);
        let stripes = ArrowReaderBuilder::try_new(Bytes::from(bytes.clone()))
            .unwrap()
            .file_metadata()
            .stripe_metadatas()
            .len();
        assert!(stripes > 1, "{stripes} stripe(s)");
        // The target renamed `name` to `label`, widened `n` to BIGINT, dropped `d` and added
        // `extra`; columns come in target order.
        let micros = ArrowType::Timestamp(TimeUnit::Microsecond, None);
        let targets = vec![
            target_named(4, "ts", micros),
            target_named(1, "label", ArrowType::Utf8),
            target_named(2, "n", ArrowType::Int64),
            target_named(5, "extra", ArrowType::Int32),
            target_named(0, "id", ArrowType::Int64),
        ];
        let (ctx, file) = context(bytes, schema, targets).await;
        let chunks: Vec<_> = open(&ctx, &file, 128, None)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(chunks.iter().all(|c| c.rows <= 128));
        assert_eq!(chunks.iter().map(|c| c.rows).sum::<usize>(), 1000);
        let mut next = 0i64;
        for c in &chunks {
            let ts = c.columns[0]
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            let label = c.columns[1].as_any().downcast_ref::<StringArray>().unwrap();
            let n = c.columns[2].as_any().downcast_ref::<Int64Array>().unwrap();
            let id = c.columns[4].as_any().downcast_ref::<Int64Array>().unwrap();
            assert_eq!(c.columns[3].null_count(), c.rows);
            for r in 0..c.rows {
                let i = next;
                assert_eq!(id.value(r), i);
                assert_eq!(ts.value(r), (1_704_067_200 + i) * 1_000_000 + 1);
                if i % 3 == 0 {
                    assert!(label.is_null(r) && n.is_null(r), "row {i}");
                } else {
                    assert_eq!(label.value(r), format!("name-{i}"));
                    assert_eq!(n.value(r), i * 10);
                }
                next += 1;
            }
        }
        // A limit stops inside a batch.
        let limited: Vec<_> = open(&ctx, &file, 128, Some(130))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            limited.iter().map(|c| c.rows).collect::<Vec<_>>(),
            vec![128, 2]
        );
    }

    #[tokio::test]
    async fn damaged_files_are_errors_naming_the_file_never_panics() {
        let (schema, batch) = written();
        let good = orc_bytes(&batch, 4 * 1024);
        let targets = || {
            vec![
                target_named(0, "id", ArrowType::Int64),
                target_named(1, "name", ArrowType::Utf8),
            ]
        };
        let mut cases: Vec<(String, Vec<u8>)> = vec![
            ("empty".into(), Vec::new()),
            ("tail only".into(), good[good.len() - 1..].to_vec()),
            ("truncated".into(), good[..good.len() - 20].to_vec()),
            ("half".into(), good[..good.len() / 2].to_vec()),
        ];
        // Bytes flipped all over the file: every one must read or fail naming the file.
        for at in (0..good.len()).step_by(good.len() / 97 + 1) {
            let mut b = good.clone();
            b[at] ^= 0x5a;
            cases.push((format!("flip at {at}"), b));
        }
        for (what, bytes) in cases {
            let (ctx, file) = context(bytes, schema.clone(), targets()).await;
            let read = async {
                let chunks: Vec<_> = open(&ctx, &file, 256, None).await?.try_collect().await?;
                Ok::<_, Error>(chunks.iter().map(|c| c.rows).sum::<usize>())
            };
            match read.await {
                Ok(rows) => assert_eq!(rows, 1000, "{what}"),
                Err(e) => {
                    assert!(matches!(e, Error::DataFile { .. }), "{what}: {e:?}");
                    assert!(
                        e.to_string().contains("bucket-0/data-1-0.orc"),
                        "{what}: {e}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn a_row_count_other_than_the_manifests_is_refused() {
        let (schema, batch) = written();
        let (ctx, mut file) = context(orc_bytes(&batch, 1 << 20), schema, vec![]).await;
        file.rows = 999;
        let err = open(&ctx, &file, 256, None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("holds 1000 rows, but snapshot 1 records 999"),
            "{err}"
        );
    }

    fn target_named(id: i64, name: &str, t: ArrowType) -> TargetColumn {
        TargetColumn {
            id,
            name: name.into(),
            arrow_type: t,
        }
    }

    fn target(id: i64, t: ArrowType) -> TargetColumn {
        TargetColumn {
            id,
            name: format!("c{id}"),
            arrow_type: t,
        }
    }

    #[test]
    fn timestamps_decode_to_nanoseconds_only_when_a_column_keeps_them() {
        let micros = ArrowType::Timestamp(TimeUnit::Microsecond, None);
        let nanos = ArrowType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert_eq!(
            timestamp_precision(&[target(0, ArrowType::Int64), target(1, micros.clone())]),
            TimestampPrecision::Microsecond
        );
        assert_eq!(
            timestamp_precision(&[target(0, micros), target(1, nanos)]),
            TimestampPrecision::Nanosecond
        );
        assert_eq!(timestamp_precision(&[]), TimestampPrecision::Microsecond);
    }

    #[test]
    fn ranges_past_the_end_are_damage() {
        assert_eq!(within(0, 10, 10), Ok(0..10));
        assert_eq!(within(10, 0, 10), Ok(10..10));
        assert!(within(5, 6, 10)
            .unwrap_err()
            .contains("past its end (10 bytes)"));
        assert!(within(u64::MAX, 2, 10).is_err());
    }
}
