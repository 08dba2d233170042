//! Data files: rows split by partition, written as Parquet the way Java Paimon writes them
//! (ZSTD level 1, v1 data pages, Paimon field ids), each with a complete `DataFileMeta`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::format::binary_row::{self, Datum};
use crate::format::manifest::{DataFileMeta, SimpleStats};
use crate::format::partition::PartitionSpec;
use crate::format::schema::TableSchema;
use crate::format::types::DataType;
use crate::table::layout::bucket_dir;
use crate::table::Table;
use crate::write::arrow_types::arrow_schema;
use crate::write::stats::{column_stats, datum_at, ColumnStats};

pub use crate::format::binary_row::EMPTY_ROW;

/// Rows buffered per partition before a file is written.
const FLUSH_ROWS: usize = 1 << 20;

/// Rows of one partition: serialized partition, its values, the rows.
type PartitionRows = (Vec<u8>, (Vec<Datum>, RecordBatch));

/// A data file written but not yet committed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    /// Serialized partition row.
    pub partition: Vec<u8>,
    /// Partition values.
    pub partition_values: Vec<Datum>,
    /// Bucket (0 for bucket-unaware append tables).
    pub bucket: i32,
    /// Key relative to the table root.
    pub key: String,
    /// Its metadata (`commit_snapshot` is set at commit time).
    pub meta: DataFileMeta,
}

#[derive(Debug, Default)]
struct Pending {
    values: Vec<Datum>,
    batches: Vec<RecordBatch>,
    rows: usize,
    next_sequence: i64,
}

/// Writes rows of one table into data files.
#[derive(Debug)]
pub struct DataWriter {
    table: Table,
    schema: TableSchema,
    spec: PartitionSpec,
    arrow: SchemaRef,
    parquet_schema: SchemaRef,
    partition_idx: Vec<usize>,
    data_dir: Option<String>,
    uuid: String,
    counter: u64,
    pending: BTreeMap<Vec<u8>, Pending>,
    written: Vec<NewFile>,
    clock: Arc<dyn Clock>,
}

impl DataWriter {
    /// A writer for the table's current schema. Only bucket-unaware append tables are written.
    pub fn new(table: Table, schema: TableSchema, clock: Arc<dyn Clock>) -> Result<Self> {
        if !schema.primary_keys.is_empty() {
            return Err(Error::Unsupported(
                "writing to primary-key tables is not supported yet; tagkeeper writes append-only tables".into(),
            ));
        }
        let bucket = schema.option("bucket").unwrap_or("-1");
        if bucket != "-1" {
            return Err(Error::Unsupported(format!(
                "writing to an append table with fixed buckets (bucket = {bucket}) is not supported; \
                 tagkeeper writes bucket-unaware append tables (bucket = -1)"
            )));
        }
        if let Some(fmt) = schema
            .option("file.format")
            .filter(|f| !f.eq_ignore_ascii_case("parquet"))
        {
            return Err(Error::Unsupported(format!(
                "file.format = {fmt}: tagkeeper writes Parquet only"
            )));
        }
        let arrow = arrow_schema(&schema)?;
        let parquet_schema = Arc::new(Schema::new(
            schema
                .fields
                .iter()
                .zip(arrow.fields())
                .map(|(f, a)| {
                    let meta = HashMap::from([("PARQUET:field_id".to_string(), f.id.to_string())]);
                    Field::clone(a).with_metadata(meta)
                })
                .collect::<Vec<_>>(),
        ));
        let partition_idx = schema
            .partition_keys
            .iter()
            .map(|k| arrow.index_of(k).map_err(|e| Error::corrupt("schema", e)))
            .collect::<Result<Vec<_>>>()?;
        let spec = PartitionSpec::new(
            schema.partition_keys.clone(),
            schema.partition_types(),
            &schema.options,
        );
        Ok(DataWriter {
            data_dir: schema
                .option("data-file.path-directory")
                .map(str::to_string),
            table,
            spec,
            arrow,
            parquet_schema,
            partition_idx,
            uuid: uuid::Uuid::new_v4().to_string(),
            counter: 0,
            pending: BTreeMap::new(),
            written: Vec::new(),
            clock,
            schema,
        })
    }

    /// The Arrow schema input must have.
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.arrow
    }

    /// Buffer rows (already conformed to [`DataWriter::arrow_schema`]); large partitions are
    /// flushed to files as they fill.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for (partition, (values, part)) in self.split(&batch)? {
            let p = self.pending.entry(partition.clone()).or_default();
            p.values = values;
            p.rows += part.num_rows();
            p.batches.push(part);
            if p.rows >= FLUSH_ROWS {
                self.flush(&partition).await?;
            }
        }
        Ok(())
    }

    /// Write everything buffered and return the files.
    pub async fn finish(mut self) -> Result<Vec<NewFile>> {
        let keys: Vec<Vec<u8>> = self.pending.keys().cloned().collect();
        for k in keys {
            self.flush(&k).await?;
        }
        Ok(self.written)
    }

    /// Files written so far (for cleanup after a failed commit).
    pub fn written(&self) -> &[NewFile] {
        &self.written
    }

    fn split(&self, batch: &RecordBatch) -> Result<Vec<PartitionRows>> {
        let types: Vec<DataType> = self.spec.types.clone();
        if self.partition_idx.is_empty() {
            return Ok(vec![(EMPTY_ROW.to_vec(), (Vec::new(), batch.clone()))]);
        }
        let mut groups: BTreeMap<Vec<u8>, (Vec<Datum>, Vec<u32>)> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let values: Vec<Datum> = self
                .partition_idx
                .iter()
                .map(|&i| datum_at(batch.column(i), row))
                .collect();
            let bytes = binary_row::encode(&values, &types)
                .map_err(|e| Error::InvalidArgument(format!("partition value: {e}")))?;
            groups
                .entry(bytes)
                .or_insert_with(|| (values, Vec::new()))
                .1
                .push(row as u32);
        }
        groups
            .into_iter()
            .map(|(k, (values, rows))| {
                let idx = UInt32Array::from(rows);
                let cols = batch
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &idx, None))
                    .collect::<std::result::Result<Vec<ArrayRef>, _>>()
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                let part = RecordBatch::try_new(Arc::clone(&self.arrow), cols)
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                Ok((k, (values, part)))
            })
            .collect()
    }

    async fn flush(&mut self, partition: &[u8]) -> Result<()> {
        let Some(p) = self.pending.get_mut(partition) else {
            return Ok(());
        };
        if p.rows == 0 {
            return Ok(());
        }
        let batches = std::mem::take(&mut p.batches);
        let rows = std::mem::take(&mut p.rows) as i64;
        let first_seq = p.next_sequence;
        p.next_sequence += rows;
        let values = p.values.clone();

        let name = format!("data-{}-{}.parquet", self.uuid, self.counter);
        self.counter += 1;
        let (bytes, stats) = encode_parquet(&self.parquet_schema, &batches)?;
        let value_stats = self.value_stats(&stats)?;
        let key = format!(
            "{}/{name}",
            bucket_dir(self.data_dir.as_deref(), &self.spec.path(&values), 0)
        );
        let size = bytes.len() as i64;
        self.table
            .root_store()
            .put_overwrite(&key, Bytes::from(bytes))
            .await?;
        let creation = self.clock.now_local().and_utc().timestamp_millis();
        self.written.push(NewFile {
            partition: partition.to_vec(),
            partition_values: values,
            bucket: 0,
            key,
            meta: DataFileMeta {
                file_name: name,
                file_size: size,
                row_count: rows,
                min_key: EMPTY_ROW.to_vec(),
                max_key: EMPTY_ROW.to_vec(),
                key_stats: SimpleStats::empty(),
                value_stats,
                min_sequence_number: first_seq,
                max_sequence_number: first_seq + rows - 1,
                schema_id: self.schema.id.0,
                level: 0,
                extra_files: Vec::new(),
                creation_time: Some(creation),
                delete_row_count: Some(0),
                embedded_index: None,
                file_source: Some(0),
                value_stats_cols: None,
                external_path: None,
                first_row_id: None,
                write_cols: None,
                write_cols_sequences: None,
                commit_snapshot: None,
            },
        });
        Ok(())
    }

    /// Dense value stats over every column (so `_VALUE_STATS_COLS` is null), every type
    /// nullable, as Paimon's `SimpleStatsConverter` writes them.
    fn value_stats(&self, stats: &[ColumnStats]) -> Result<SimpleStats> {
        let types: Vec<DataType> = self
            .schema
            .fields
            .iter()
            .map(|f| DataType {
                nullable: true,
                ..f.data_type.clone()
            })
            .collect();
        let mins: Vec<Datum> = stats.iter().map(|s| s.min.clone()).collect();
        let maxs: Vec<Datum> = stats.iter().map(|s| s.max.clone()).collect();
        let enc = |v: &[Datum]| {
            binary_row::encode(v, &types)
                .map_err(|e| Error::InvalidArgument(format!("statistics: {e}")))
        };
        Ok(SimpleStats {
            min_values: enc(&mins)?,
            max_values: enc(&maxs)?,
            null_counts: Some(stats.iter().map(|s| Some(s.null_count)).collect()),
        })
    }
}

/// Parquet bytes of the batches plus per-column statistics.
fn encode_parquet(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(Vec<u8>, Vec<ColumnStats>)> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| Error::Unsupported(e.to_string()))?,
        ))
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_created_by(format!("tagkeeper version {}", env!("CARGO_PKG_VERSION")))
        .build();
    let fail =
        |e: parquet::errors::ParquetError| Error::Unsupported(format!("cannot write Parquet: {e}"));
    let mut writer =
        ArrowWriter::try_new(Vec::new(), Arc::clone(schema), Some(props)).map_err(fail)?;
    let mut stats: Option<Vec<ColumnStats>> = None;
    for b in batches {
        let b = b
            .clone()
            .with_schema(Arc::clone(schema))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        writer.write(&b).map_err(fail)?;
        let these: Vec<ColumnStats> = b.columns().iter().map(column_stats).collect();
        stats = Some(match stats {
            None => these,
            Some(prev) => prev
                .into_iter()
                .zip(these)
                .map(|(a, b)| a.merge(b))
                .collect(),
        });
    }
    let bytes = writer.into_inner().map_err(fail)?;
    Ok((bytes, stats.unwrap_or_default()))
}
