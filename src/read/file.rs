//! Opening one data file: Parquet fetched through the table's store in byte ranges, decoded
//! batch by batch, and turned into target columns (see [`super::evolve`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::avro_file::AvroBatches;
use super::evolve::{map_file, FileMapping, TargetColumn};
use super::merge::ChunkStream;
use crate::error::{Error, Result};
use crate::format::deletion_vector::DeletionVector;
use crate::format::schema::TableSchema;
use crate::io::TableStore;

/// A data file to read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataFile {
    /// Key relative to the table root.
    pub key: String,
    /// Size in bytes (from the manifest, which saves a HEAD request per file).
    pub size: u64,
    /// The schema the file was written with.
    pub schema_id: i64,
    /// The rows deleted by the version's deletion vector for this file, if any.
    pub deletes: Option<Arc<DeletionVector>>,
    /// The row count the manifest records for the file.
    pub rows: u64,
}

/// A file whose own footer disagrees with the manifest about its row count is not the file
/// the version wrote (replaced, or damaged in a way that still parses): reading it would
/// silently return other rows.
pub(super) fn check_rows(file: &DataFile, found: u64, ctx: &FileContext) -> Result<()> {
    if found == file.rows {
        return Ok(());
    }
    Err(Error::data_file(
        &file.key,
        format!(
            "it holds {found} rows, but {} records {} rows: it was replaced or damaged",
            ctx.version, file.rows
        ),
    ))
}

/// Drop the rows of `batch` that `dv` deletes; `first` is the batch's first row position in
/// its file.
fn drop_deleted(
    batch: RecordBatch,
    first: u64,
    dv: &DeletionVector,
    key: &str,
) -> Result<RecordBatch> {
    let keep: BooleanArray = (0..batch.num_rows() as u64)
        .map(|i| Some(!dv.is_deleted(first + i)))
        .collect();
    arrow::compute::filter_record_batch(&batch, &keep)
        .map_err(|e| Error::data_file(key, format!("applying its deletion vector: {e}")))
}

/// A file's raw batches with the rows its deletion vector deletes dropped (positions count the
/// file's rows in order, before the drop).
fn without_deleted<S>(
    batches: S,
    dv: Option<Arc<DeletionVector>>,
    key: String,
) -> impl Stream<Item = Result<RecordBatch>>
where
    S: Stream<Item = Result<RecordBatch>>,
{
    let mut position = 0u64;
    batches.map(move |batch| {
        let batch = batch?;
        let first = position;
        position += batch.num_rows() as u64;
        match &dv {
            None => Ok(batch),
            Some(dv) => drop_deleted(batch, first, dv, &key),
        }
    })
}

/// A file's raw batches with the rows its deletion vector deletes dropped (positions count the
/// file's rows in order, before the drop), then turned into target columns.
pub(super) fn to_targets<S>(
    batches: S,
    file: &DataFile,
    mapping: FileMapping,
    ctx: &FileContext,
) -> ChunkStream
where
    S: Stream<Item = Result<RecordBatch>> + Send + 'static,
{
    let (key, targets) = (file.key.clone(), Arc::clone(&ctx.targets));
    without_deleted(batches, file.deletes.clone(), key.clone())
        .map(move |batch| batch.and_then(|b| mapping.apply(&b, &targets, &key)))
        .boxed()
}

/// What every file of one read shares.
#[derive(Debug, Clone)]
pub(crate) struct FileContext {
    /// The table's store.
    pub store: TableStore,
    /// The columns read from data files, in target order.
    pub targets: Arc<Vec<TargetColumn>>,
    /// The schemas files were written with, by id.
    pub schemas: Arc<BTreeMap<i64, TableSchema>>,
    /// Primary-key files (with system columns).
    pub key_value: bool,
    /// The version, for messages.
    pub version: String,
}

/// Open a data file as a stream of target batches. With `limit`, stop after that many rows.
pub(crate) async fn open(
    ctx: &FileContext,
    file: &DataFile,
    batch_size: usize,
    limit: Option<usize>,
) -> Result<ChunkStream> {
    if file.key.ends_with(".avro") {
        return open_avro(ctx, file, batch_size, limit).await;
    }
    if file.key.ends_with(".orc") {
        return super::orc_file::open(ctx, file, batch_size, limit).await;
    }
    let reader = StoreReader {
        store: ctx.store.clone(),
        key: file.key.clone(),
        size: file.size,
        version: ctx.version.clone(),
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| read_error(&file.key, e))?;
    let rows = builder.metadata().file_metadata().num_rows();
    check_rows(file, u64::try_from(rows).unwrap_or(u64::MAX), ctx)?;
    let mapping = map_file(
        builder.schema(),
        ctx.schemas.get(&file.schema_id),
        &ctx.targets,
        ctx.key_value,
        &file.key,
    )?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), mapping.projection.clone());
    let mut builder = builder.with_projection(mask).with_batch_size(batch_size);
    // With deletions, a limit counts the rows that remain: it is applied after them.
    if let (Some(limit), None) = (limit, &file.deletes) {
        builder = builder.with_limit(limit);
    }
    let stream = builder.build().map_err(|e| read_error(&file.key, e))?;
    let key = file.key.clone();
    let raw = stream.map(move |batch| batch.map_err(|e| read_error(&key, e)));
    Ok(to_targets(raw, file, mapping, ctx))
}

/// An Avro data file: its bytes, decoded batch by batch ([`super::avro_file`]).
async fn open_avro(
    ctx: &FileContext,
    file: &DataFile,
    batch_size: usize,
    limit: Option<usize>,
) -> Result<ChunkStream> {
    let bytes = ctx.store.get_opt(&file.key).await?.ok_or_else(|| {
        Error::data_file(
            &file.key,
            format!(
                "it does not exist, but {} lists it: the table has lost data",
                ctx.version
            ),
        )
    })?;
    let limit = if file.deletes.is_some() { None } else { limit };
    let batches = AvroBatches::open(bytes, &file.key, batch_size, limit)?;
    let mapping = map_file(
        &batches.schema(),
        ctx.schemas.get(&file.schema_id),
        &ctx.targets,
        ctx.key_value,
        &file.key,
    )?;
    Ok(to_targets(
        futures::stream::iter(batches),
        file,
        mapping,
        ctx,
    ))
}

/// Parquet's and ORC's view of a data file: byte ranges through the table's store, so requests
/// share its concurrency limit and error mapping. The size comes from the manifest, which saves
/// a HEAD.
pub(super) struct StoreReader {
    pub(super) store: TableStore,
    pub(super) key: String,
    pub(super) size: u64,
    pub(super) version: String,
}

impl StoreReader {
    /// The bytes of `ranges`, or an error of ours naming the file (shared by the Parquet and
    /// the ORC reader, which wrap it in their own error types).
    pub(super) async fn fetch(&self, ranges: Vec<Range<u64>>) -> Result<Vec<Bytes>> {
        match self.store.get_ranges_opt(&self.key, &ranges).await {
            Ok(Some(parts)) => Ok(parts),
            Ok(None) => Err(Error::data_file(
                &self.key,
                format!(
                    "it does not exist, but {} lists it: the table has lost data",
                    self.version
                ),
            )),
            Err(e) => Err(self.explain(e).await),
        }
    }

    async fn ranges(&self, ranges: Vec<Range<u64>>) -> parquet::errors::Result<Vec<Bytes>> {
        self.fetch(ranges)
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))
    }

    /// A range the store refuses often means the file is not the one the manifest describes.
    async fn explain(&self, e: Error) -> Error {
        match self.store.head_opt(&self.key).await {
            Ok(Some(info)) if info.size != self.size => Error::data_file(
                &self.key,
                format!(
                    "it is {} bytes, but {} records {} bytes: it was changed or truncated",
                    info.size, self.version, self.size
                ),
            ),
            _ => e,
        }
    }
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let mut parts = self.ranges(vec![range]).await?;
            parts
                .pop()
                .ok_or_else(|| ParquetError::General("the store returned no bytes".into()))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.ranges(ranges).await }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Errors of the store and of our own checks come back through Parquet's error type; unwrap
/// them so they keep their kind (a missing file, a store failure). The rest is a bad file.
fn read_error(key: &str, e: ParquetError) -> Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::data_file(key, format!("not readable as Parquet: {other}")),
        },
        other => Error::data_file(key, format!("not readable as Parquet: {other}")),
    }
}
