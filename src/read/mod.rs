//! Time-travel read: the rows of a table as of a tag, a snapshot or a point in time, as a
//! stream of Arrow record batches.
//!
//! [`plan`] decides everything from metadata: it resolves the version, lists its live files,
//! prunes them by partition, and checks that the table is one this reader can merge. Then
//! [`ReadPlan::stream`] reads data files one at a time (append tables) or one key range of a
//! bucket at a time (primary-key tables), so memory stays bounded whatever the table's size.
//!
//! What the rows are, exactly as pypaimon and Java Paimon read them:
//!
//! * The target schema is the version's own (`schemaId` of the snapshot or tag). Files written
//!   under older schemas are read into it by field id (`evolve.rs`).
//! * Partition columns come from each file's partition (the manifest entry), not from the file.
//! * Append tables: every row of every live file.
//! * Primary-key tables: per key, the versions across all files and levels of its bucket,
//!   in Java's order (`sequence.field`, then sequence number), merged by the table's merge
//!   engine (`deduplicate`, `first-row`, `partial-update`, `aggregation`: `merge_engine.rs`);
//!   a result that is a retraction removes the key (`merge.rs`). `first-row` tables, like
//!   deletion-vector tables, skip level-0 files as Java's batch scan does. `rowkind.field` only tells writers which column holds the row
//!   kind; readers use the `_VALUE_KIND` the writer stored, as Java and pypaimon do, and the
//!   column itself is read like any other.
//!
//! Two reads reuse the same plan and file readers: [`changelog`] (the changelog rows between two
//! versions, with their row kinds) and [`diff`] (the rows added and removed between two
//! versions).
//!
//! ```no_run
//! # async fn demo() -> tagkeeper::Result<()> {
//! use futures::TryStreamExt;
//! use tagkeeper::format::ids::TagName;
//! use tagkeeper::io::StoreOptions;
//! use tagkeeper::read::{read, ReadOptions};
//! use tagkeeper::table::{Table, VersionSpec};
//!
//! let table = Table::open("/warehouse/default.db/orders", &StoreOptions::default()).await?;
//! let options = ReadOptions {
//!     version: VersionSpec::Tag(TagName::new("daily-3")?),
//!     ..ReadOptions::default()
//! };
//! let mut rows = 0;
//! let mut batches = read(&table, &options).await?;
//! while let Some(batch) = batches.try_next().await? {
//!     rows += batch.num_rows();
//! }
//! println!("{rows} rows");
//! # Ok(())
//! # }
//! ```

mod avro_file;
pub mod changelog;
pub mod diff;
mod evolve;
mod file;
mod merge;
mod merge_engine;
mod orc_file;
mod values;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::format::binary_row::{self, Datum};
use crate::format::deletion_vector::{self, DeletionVector};
use crate::format::partition::PartitionSpec;
use crate::format::schema::TableSchema;
use crate::format::types::{DataType, RowField};
use crate::table::{LiveFile, ResolvedVersion, Table, VersionSpec};
use crate::write::arrow_types::arrow_type;
use evolve::{Chunk, TargetColumn};
use file::{DataFile, FileContext};
use merge::{ChunkStream, MergeSpec};

/// Rows per batch unless told otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 8192;
/// Files opened ahead (footers fetched) while earlier ones are read, and at once when a
/// section of a bucket is opened.
const OPEN_AHEAD: usize = 8;

/// What to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// The version (default: the latest snapshot; a table with no snapshot reads as empty).
    pub version: VersionSpec,
    /// Columns to return, in this order (default: all, in schema order).
    pub columns: Option<Vec<String>>,
    /// Partition filter: `(column, value)` pairs. Files whose partition does not match are
    /// never opened. Pairs on different columns must all hold; several values for one column
    /// mean any of them. Values are text as on the command line (`2024-01-01`, `7`); the
    /// default partition name (`__DEFAULT_PARTITION__`) selects NULL.
    pub partitions: Vec<(String, String)>,
    /// Stop after this many rows.
    pub limit: Option<u64>,
    /// Rows per batch.
    pub batch_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            version: VersionSpec::Latest,
            columns: None,
            partitions: Vec::new(),
            limit: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// A read decided from metadata: the version, the schema of the rows, the files to open.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    /// The snapshot read; `None` for a table with no snapshot yet (the read is empty).
    pub snapshot_id: Option<i64>,
    /// The tag, when the version was named by one.
    pub tag: Option<String>,
    /// The schema of the rows (the version's schema id).
    pub schema_id: i64,
    /// Primary-key columns (empty for an append table).
    pub primary_keys: Vec<String>,
    /// Live data files of the version.
    pub total_files: usize,
    /// Files that will be read, after partition pruning.
    pub files: usize,
    /// Their row counts summed (before merging primary-key rows).
    pub file_rows: i64,
    schema: SchemaRef,
    groups: Vec<Group>,
    shared: Arc<Shared>,
    /// What `describe` says, when the plan is not one version's rows (a changelog range).
    description: Option<String>,
}

/// What every batch of a read needs.
#[derive(Debug)]
struct Shared {
    ctx: FileContext,
    schema: SchemaRef,
    output: Vec<OutputColumn>,
    merge: Option<MergeSpec>,
    limit: Option<u64>,
    batch_size: usize,
    /// A leading `_ROW_KIND` column, and where its values come from.
    row_kind: Option<RowKinds>,
}

/// The name of the row-kind column of changelog and diff reads.
pub const ROW_KIND_COLUMN: &str = "_ROW_KIND";

/// Where the `_ROW_KIND` values of a read come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKinds {
    /// The `_VALUE_KIND` each row of a key-value file stores.
    FromFile,
    /// The same kind for every row (`+I`, `-D`).
    Constant(&'static str),
}

/// Java's `RowKind.shortString()` of a stored `_VALUE_KIND` byte (`RowKind.fromByteValue`).
pub(crate) fn row_kind_text(kind: i8) -> Option<&'static str> {
    match kind {
        0 => Some("+I"),
        1 => Some("-U"),
        2 => Some("+U"),
        3 => Some("-D"),
        _ => None,
    }
}

/// Where an output column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputColumn {
    /// A column read from the files (index into the targets).
    Data(usize),
    /// A partition column (index into the partition keys).
    Partition(usize),
}

/// Files read together: one file of an append table, or a bucket of a primary-key table.
#[derive(Debug, Clone)]
struct Group {
    /// The file, or the bucket directory, for messages.
    label: String,
    partition: Vec<Datum>,
    files: Vec<DataFile>,
    /// Key-range sections of a bucket (indices into `files`), for primary-key tables.
    sections: Vec<Vec<usize>>,
    /// The serialized partition and the bucket, for pairing the buckets of two versions.
    bucket: (Vec<u8>, i32),
}

/// Plan a read and return its batches.
pub async fn read(table: &Table, options: &ReadOptions) -> Result<RecordBatchStream> {
    Ok(plan(table, options).await?.stream())
}

/// Decide a read from metadata alone: no data file is opened.
pub async fn plan(table: &Table, options: &ReadOptions) -> Result<ReadPlan> {
    plan_with(table, options, None, None).await
}

/// [`plan`], optionally reading the version's rows into another schema (`schema`: both sides
/// of a row diff are read in the newer side's schema) and with a `_ROW_KIND` column.
pub(crate) async fn plan_with(
    table: &Table,
    options: &ReadOptions,
    schema: Option<&TableSchema>,
    row_kind: Option<RowKinds>,
) -> Result<ReadPlan> {
    if options.batch_size == 0 {
        return Err(Error::InvalidArgument(
            "the batch size must be at least 1".into(),
        ));
    }
    let version = match table.resolve(&options.version).await {
        Ok(v) => Some(v),
        Err(Error::NoSnapshots { .. }) if options.version == VersionSpec::Latest => None,
        Err(e) => return Err(e),
    };
    let schema = match (schema, &version) {
        (Some(s), _) => s.clone(),
        (None, Some(v)) => table.load_schema(v.snapshot.schema_id).await?,
        (None, None) => table.latest_schema().await?,
    };
    let key_value = !schema.primary_keys.is_empty();
    let spec = PartitionSpec::new(
        schema.partition_keys.clone(),
        schema.partition_types(),
        &schema.options,
    );
    let filter = partition_filter(&spec, &options.partitions)?;
    let mut layout = Layout::new(&schema, options.columns.as_deref())?;
    // Decided before any file is listed: a table this reader cannot merge is refused at once.
    let merging = if key_value {
        Some(merge_setup(&schema, &mut layout)?)
    } else {
        None
    };

    let (live, dv_locations) = match &version {
        Some(v) => live_files(table, v, &schema).await?,
        None => (Vec::new(), DvLocations::new()),
    };
    let total_files = live.len();
    let chosen: Vec<LiveFile> = live
        .into_iter()
        .filter(|f| matches_filter(&filter, &f.partition))
        .collect();
    for f in &chosen {
        check_file(f)?;
    }
    let deletes = match &version {
        Some(v) if !dv_locations.is_empty() => {
            load_deletion_vectors(table, &chosen, &dv_locations, &v.describe()).await?
        }
        _ => HashMap::new(),
    };
    let version_label = version
        .as_ref()
        .map_or_else(|| "the latest snapshot".into(), ResolvedVersion::describe);
    let mut plan = finish_plan(
        table,
        Planned {
            schema: &schema,
            layout,
            merging,
            chosen,
            deletes,
            version_label,
            row_kind,
        },
        options,
    )
    .await?;
    plan.total_files = total_files;
    plan.snapshot_id = version.as_ref().map(|v| v.snapshot.id.0);
    plan.tag = version
        .as_ref()
        .and_then(|v| v.tag.as_ref().map(|(n, _)| n.to_string()));
    Ok(plan)
}

/// What a plan is built from once its files are chosen.
struct Planned<'a> {
    schema: &'a TableSchema,
    layout: Layout,
    /// The merge of a primary-key read; `None` reads every file on its own, unmerged.
    merging: Option<(merge_engine::Engine, Vec<usize>, bool)>,
    chosen: Vec<LiveFile>,
    deletes: HashMap<String, Arc<DeletionVector>>,
    version_label: String,
    row_kind: Option<RowKinds>,
}

/// The plan for chosen files: groups (a bucket per group when merging, else a file per group),
/// file schemas, the output schema.
async fn finish_plan(table: &Table, p: Planned<'_>, options: &ReadOptions) -> Result<ReadPlan> {
    let Planned {
        schema,
        layout,
        merging,
        chosen,
        deletes,
        version_label,
        row_kind,
    } = p;
    let key_value = !schema.primary_keys.is_empty();
    let schemas = file_schemas(table, schema, &chosen).await?;
    let file_rows = chosen.iter().map(|f| f.entry.file.row_count).sum();
    let files = chosen.len();
    let groups = if merging.is_some() {
        bucket_groups(chosen, &layout.key_types)
    } else {
        chosen
            .into_iter()
            .map(|f| Group {
                label: f.path.clone(),
                partition: f.partition.clone(),
                files: vec![data_file(&f)],
                sections: Vec::new(),
                bucket: (f.entry.partition.clone(), f.entry.bucket),
            })
            .collect()
    };
    let mut groups = groups;
    if !deletes.is_empty() {
        for f in groups.iter_mut().flat_map(|g| g.files.iter_mut()) {
            let name = f.key.rsplit('/').next().unwrap_or(&f.key);
            f.deletes = deletes.get(name).cloned();
        }
    }
    let arrow_schema = layout.arrow_schema(&schemas, row_kind.is_some());
    let ctx = FileContext {
        store: table.root_store().clone(),
        targets: Arc::new(layout.targets.clone()),
        schemas: Arc::new(schemas),
        key_value,
        version: version_label,
    };
    let merge = merging.map(|(engine, order_columns, order_descending)| MergeSpec {
        key_columns: layout.key_columns.clone(),
        key_types: layout.key_arrow_types.clone(),
        order_types: order_columns
            .iter()
            .map(|&i| layout.targets[i].arrow_type.clone())
            .collect(),
        engine,
        order_columns,
        order_descending,
        batch_size: options.batch_size,
    });
    Ok(ReadPlan {
        snapshot_id: None,
        tag: None,
        schema_id: schema.id.0,
        primary_keys: schema.primary_keys.clone(),
        total_files: files,
        files,
        file_rows,
        schema: Arc::clone(&arrow_schema),
        groups,
        shared: Arc::new(Shared {
            ctx,
            schema: arrow_schema,
            output: layout.output,
            merge,
            limit: options.limit,
            batch_size: options.batch_size,
            row_kind,
        }),
        description: None,
    })
}

impl ReadPlan {
    /// The Arrow schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// "tag 'x' (snapshot 5)", "snapshot 5", or "the table (no snapshot yet)" for messages.
    pub fn describe(&self) -> String {
        if let Some(d) = &self.description {
            return d.clone();
        }
        match (&self.tag, self.snapshot_id) {
            (Some(t), Some(id)) => format!("tag '{t}' (snapshot {id})"),
            (_, Some(id)) => format!("snapshot {id}"),
            _ => "the table (no snapshot yet)".to_string(),
        }
    }

    /// Read the rows: files are opened only as the stream reaches them.
    pub fn stream(&self) -> RecordBatchStream {
        let shared = Arc::clone(&self.shared);
        let groups = stream::iter(self.groups.clone());
        // Progress in data files, counted as each file (or bucket) is opened; the phase ends
        // when the stream is dropped.
        let files: usize = self.groups.iter().map(|g| g.files.len()).sum();
        let phase = Arc::new(crate::progress::Phase::start(
            "reading data files",
            files as u64,
        ));
        let batches = if self.shared.merge.is_none() {
            groups
                .map(move |group| {
                    phase.add(group.files.len() as u64);
                    open_file(Arc::clone(&shared), group)
                })
                .buffered(OPEN_AHEAD)
                .try_flatten()
                .boxed()
        } else {
            groups
                .map(move |group| {
                    phase.add(group.files.len() as u64);
                    merge_bucket(Arc::clone(&shared), group)
                })
                .flatten()
                .boxed()
        };
        let batches = match self.shared.limit {
            None => batches,
            Some(limit) => limit_rows(batches, limit),
        };
        RecordBatchStream {
            schema: self.schema(),
            inner: batches,
        }
    }
}

/// Record batches with a known schema.
pub struct RecordBatchStream {
    schema: SchemaRef,
    inner: BoxStream<'static, Result<RecordBatch>>,
}

impl RecordBatchStream {
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl std::fmt::Debug for RecordBatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatchStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Stream for RecordBatchStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

// ----- planning helpers -----

/// The merge engine of a primary-key table (or why its rows cannot be merged), with the
/// `sequence.field` columns and their order. Columns the merge needs besides the asked-for
/// ones (sequence fields, sequence groups' fields) are added to the read targets, as Java's
/// `adjustReadType` adds them.
fn merge_setup(
    schema: &TableSchema,
    layout: &mut Layout,
) -> Result<(merge_engine::Engine, Vec<usize>, bool)> {
    let options: BTreeMap<String, String> = schema.options.iter().cloned().collect();
    let sequence_fields: Vec<String> = schema
        .option("sequence.field")
        .map(|v| v.split(',').map(|f| f.trim().to_string()).collect())
        .unwrap_or_default();
    let descending = match schema.option("sequence.field.sort-order") {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("ascending") => false,
        Some(o) if o.eq_ignore_ascii_case("descending") => true,
        Some(o) => {
            return Err(Error::Unsupported(format!(
                "sequence.field.sort-order '{o}' (Java knows ascending and descending)"
            )))
        }
    };
    let mut order_columns = Vec::new();
    for f in &sequence_fields {
        let i = layout.target(schema, f)?;
        if !merge_engine::comparable(&layout.targets[i].arrow_type) {
            return Err(Error::Unsupported(format!(
                "sequence.field '{f}' of type {}",
                layout.targets[i].arrow_type
            )));
        }
        order_columns.push(i);
    }
    if schema
        .option("merge-engine")
        .is_some_and(|e| e.eq_ignore_ascii_case("partial-update"))
    {
        for (seq, _) in merge_engine::sequence_groups(&options) {
            for f in &seq {
                layout.target(schema, f)?;
            }
        }
    }
    let engine = merge_engine::EngineOptions {
        options: &options,
        columns: layout
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.arrow_type.clone()))
            .collect(),
        primary_keys: &schema.primary_keys,
        sequence_fields: &sequence_fields,
    }
    .engine()?;
    Ok((engine, order_columns, descending))
}

fn option_true(schema: &TableSchema, key: &str) -> bool {
    schema
        .option(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Where a data file's deletion vector is: (index file key, offset, length).
type DvLocations = HashMap<String, (String, i32, i32)>;

/// The version's live files, with the batch-read rules of Java applied: a postpone-bucket
/// table (`bucket = -2`) shows only files already in real buckets; a primary-key table with
/// deletion vectors (unless `deletion-vectors.merge-on-read`) skips level 0, whose rows are not
/// visible until compacted (Java's `batchScanSkipLevel0`). Also where each file's deletion
/// vector is, by data file name.
async fn live_files(
    table: &Table,
    version: &ResolvedVersion,
    schema: &TableSchema,
) -> Result<(Vec<LiveFile>, DvLocations)> {
    let owner = version.describe();
    let (files, index) = futures::try_join!(
        table.data_files(&version.snapshot, &owner),
        table.index_files(&version.snapshot, &owner),
    )?;
    let mut dvs = DvLocations::new();
    for e in index.iter().filter(|e| e.index_type == "DELETION_VECTORS") {
        if e.external_path.is_some() {
            return Err(Error::Unsupported(format!(
                "{owner}: deletion vector file {} is stored outside the table; reading external \
                 index files is not supported yet",
                e.file_name
            )));
        }
        for dv in e.deletion_vectors.iter().flatten() {
            dvs.insert(
                dv.data_file_name.clone(),
                (format!("index/{}", e.file_name), dv.offset, dv.length),
            );
        }
    }
    let key_value = !schema.primary_keys.is_empty();
    let postpone = key_value && schema.option("bucket") == Some("-2");
    // Java's `CoreOptions.batchScanSkipLevel0`: deletion vectors, or the first-row engine
    // (its level-0 rows become visible when compacted).
    let first_row = schema
        .option("merge-engine")
        .is_some_and(|e| e.eq_ignore_ascii_case("first-row"));
    let skip_level0 = key_value
        && ((option_true(schema, "deletion-vectors.enabled")
            && !option_true(schema, "deletion-vectors.merge-on-read"))
            || first_row);
    let files = files
        .into_iter()
        .filter(|f| !postpone || f.entry.bucket >= 0)
        .filter(|f| !skip_level0 || f.entry.file.level > 0)
        .collect();
    Ok((files, dvs))
}

/// Read and decode the deletion vectors of `files` (each index file once).
async fn load_deletion_vectors(
    table: &Table,
    files: &[LiveFile],
    locations: &DvLocations,
    owner: &str,
) -> Result<HashMap<String, Arc<DeletionVector>>> {
    let mut by_index: BTreeMap<&str, Vec<(&str, i32, i32)>> = BTreeMap::new();
    for f in files {
        let name = f.entry.file.file_name.as_str();
        if let Some((index, offset, length)) = locations.get(name) {
            by_index
                .entry(index.as_str())
                .or_default()
                .push((name, *offset, *length));
        }
    }
    let mut out = HashMap::new();
    for (index, wanted) in by_index {
        let bytes = table
            .root_store()
            .get_opt(index)
            .await?
            .ok_or_else(|| Error::MissingFile {
                path: index.to_string(),
                referenced_by: format!("{owner} (its deletion vectors)"),
            })?;
        for (name, offset, length) in wanted {
            let dv = deletion_vector::decode(&bytes, offset, length, index)?;
            out.insert(name.to_string(), Arc::new(dv));
        }
    }
    Ok(out)
}

/// Refuse files this reader cannot open, naming them.
fn check_file(f: &LiveFile) -> Result<()> {
    let name = &f.entry.file.file_name;
    if f.external {
        return Err(Error::Unsupported(format!(
            "data file {} is stored outside the table; reading external data files is not \
             supported yet",
            f.path
        )));
    }
    if ![".parquet", ".avro", ".orc"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        return Err(Error::Unsupported(format!(
            "data file {} is not Parquet, ORC or Avro; tagkeeper reads only those data files",
            f.path
        )));
    }
    if f.entry.file.write_cols.is_some() {
        return Err(Error::Unsupported(format!(
            "data file {} holds only some columns (data evolution); reading such tables is \
             not supported yet",
            f.path
        )));
    }
    Ok(())
}

fn data_file(f: &LiveFile) -> DataFile {
    DataFile {
        key: f.path.clone(),
        size: u64::try_from(f.entry.file.file_size).unwrap_or(0),
        schema_id: f.entry.file.schema_id,
        deletes: None,
        rows: u64::try_from(f.entry.file.row_count).unwrap_or(0),
    }
}

/// The schemas the chosen files were written with. A schema that cannot be loaded is left out:
/// files written with Parquet field ids do not need it, and the others fail naming the file.
async fn file_schemas(
    table: &Table,
    target: &TableSchema,
    files: &[LiveFile],
) -> Result<BTreeMap<i64, TableSchema>> {
    let ids: BTreeSet<i64> = files.iter().map(|f| f.entry.file.schema_id).collect();
    let mut out = BTreeMap::new();
    for id in ids {
        if id == target.id.0 {
            out.insert(id, target.clone());
            continue;
        }
        match table.load_schema(crate::format::ids::SchemaId(id)).await {
            Ok(s) => {
                out.insert(id, s);
            }
            Err(Error::MissingFile { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Per partition column, the accepted values.
type PartitionFilter = Vec<(usize, Vec<Datum>)>;

fn partition_filter(spec: &PartitionSpec, pairs: &[(String, String)]) -> Result<PartitionFilter> {
    let mut filter: PartitionFilter = Vec::new();
    for (column, text) in pairs {
        let Some(i) = spec.keys.iter().position(|k| k == column) else {
            let keys = if spec.keys.is_empty() {
                "the table is not partitioned".to_string()
            } else {
                format!("partition columns: {}", spec.keys.join(", "))
            };
            return Err(Error::InvalidArgument(format!(
                "cannot filter on '{column}': only partition columns can be filtered ({keys})"
            )));
        };
        let value = spec
            .parse_value(i, text)
            .map_err(|e| Error::InvalidArgument(format!("{column}={text}: {e}")))?;
        match filter.iter_mut().find(|(c, _)| *c == i) {
            Some((_, values)) => values.push(value),
            None => filter.push((i, vec![value])),
        }
    }
    Ok(filter)
}

fn matches_filter(filter: &[(usize, Vec<Datum>)], partition: &[Datum]) -> bool {
    filter
        .iter()
        .all(|(i, values)| partition.get(*i).is_some_and(|v| values.contains(v)))
}

/// Group primary-key files by partition and bucket, in the order they were listed, and split
/// each bucket into key-range sections.
fn bucket_groups(files: Vec<LiveFile>, key_types: &[DataType]) -> Vec<Group> {
    let mut at: BTreeMap<(Vec<u8>, i32), usize> = BTreeMap::new();
    let mut buckets: Vec<(Vec<Datum>, Vec<LiveFile>)> = Vec::new();
    for f in files {
        let id = (f.entry.partition.clone(), f.entry.bucket);
        let i = *at.entry(id).or_insert_with(|| {
            buckets.push((f.partition.clone(), Vec::new()));
            buckets.len() - 1
        });
        buckets[i].1.push(f);
    }
    buckets
        .into_iter()
        .map(|(partition, files)| {
            let ranges: Vec<_> = files
                .iter()
                .map(|f| {
                    let min = binary_row::decode(&f.entry.file.min_key, key_types).ok()?;
                    let max = binary_row::decode(&f.entry.file.max_key, key_types).ok()?;
                    (min.len() == key_types.len() && max.len() == key_types.len())
                        .then_some((min, max))
                })
                .collect();
            let label = files
                .first()
                .and_then(|f| f.path.rsplit_once('/'))
                .map_or_else(String::new, |(dir, _)| dir.to_string());
            let bucket = files
                .first()
                .map(|f| (f.entry.partition.clone(), f.entry.bucket))
                .unwrap_or_default();
            Group {
                label,
                partition,
                bucket,
                sections: merge::sections(&ranges),
                files: files.iter().map(data_file).collect(),
            }
        })
        .collect()
}

/// The output columns and the columns read from files.
#[derive(Debug)]
struct Layout {
    output: Vec<OutputColumn>,
    names: Vec<String>,
    /// Per output column: field id, Arrow type, nullable in the schema.
    fields: Vec<(i64, ArrowType, bool)>,
    targets: Vec<TargetColumn>,
    /// Positions of the merge key in `targets` (primary-key tables).
    key_columns: Vec<usize>,
    key_types: Vec<DataType>,
    key_arrow_types: Vec<ArrowType>,
}

impl Layout {
    fn new(schema: &TableSchema, columns: Option<&[String]>) -> Result<Self> {
        let names: Vec<String> = match columns {
            Some([]) => return Err(Error::InvalidArgument("no columns to read".into())),
            Some(c) => c.to_vec(),
            None => schema.fields.iter().map(|f| f.name.clone()).collect(),
        };
        let mut layout = Layout {
            output: Vec::new(),
            names: Vec::new(),
            fields: Vec::new(),
            targets: Vec::new(),
            key_columns: Vec::new(),
            key_types: Vec::new(),
            key_arrow_types: Vec::new(),
        };
        for name in &names {
            if layout.names.contains(name) {
                return Err(Error::InvalidArgument(format!(
                    "column '{name}' is asked for twice"
                )));
            }
            let column = match schema.partition_keys.iter().position(|k| k == name) {
                Some(p) => OutputColumn::Partition(p),
                None => OutputColumn::Data(layout.target(schema, name)?),
            };
            let field = find_field(schema, name)?;
            layout.output.push(column);
            layout.names.push(name.clone());
            layout
                .fields
                .push((field.id, column_type(field)?, field.data_type.nullable));
        }
        // The merge key: the primary key without the partition columns (all rows of a bucket
        // share the partition), or the whole key when it is only partition columns.
        let trimmed: Vec<&String> = schema
            .primary_keys
            .iter()
            .filter(|k| !schema.partition_keys.contains(k))
            .collect();
        let key: Vec<&String> = if trimmed.is_empty() {
            schema.primary_keys.iter().collect()
        } else {
            trimmed
        };
        for name in key {
            let i = layout.target(schema, name)?;
            layout.key_columns.push(i);
            layout
                .key_types
                .push(find_field(schema, name)?.data_type.clone());
            layout
                .key_arrow_types
                .push(layout.targets[i].arrow_type.clone());
        }
        Ok(layout)
    }

    /// The index of a column in the targets, adding it if needed.
    fn target(&mut self, schema: &TableSchema, name: &str) -> Result<usize> {
        let field = find_field(schema, name)?;
        if let Some(i) = self.targets.iter().position(|t| t.id == field.id) {
            return Ok(i);
        }
        self.targets.push(TargetColumn {
            id: field.id,
            name: name.to_string(),
            arrow_type: column_type(field)?,
        });
        Ok(self.targets.len() - 1)
    }

    /// The schema of the output. A NOT NULL column is nullable here when some file was written
    /// before the column existed (its rows read as NULL).
    fn arrow_schema(&self, files: &BTreeMap<i64, TableSchema>, row_kind: bool) -> SchemaRef {
        let kind = row_kind.then(|| Field::new(ROW_KIND_COLUMN, ArrowType::Utf8, false));
        let fields: Vec<Field> = kind
            .into_iter()
            .chain(self.output.iter().zip(&self.names).zip(&self.fields).map(
                |((col, name), (id, t, nullable))| {
                    let added_later = matches!(col, OutputColumn::Data(_))
                        && files
                            .values()
                            .any(|s| !s.fields.iter().any(|f| f.id == *id));
                    Field::new(name, t.clone(), *nullable || added_later)
                },
            ))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

fn find_field<'a>(schema: &'a TableSchema, name: &str) -> Result<&'a RowField> {
    schema.field(name).ok_or_else(|| {
        let all: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        Error::InvalidArgument(format!(
            "no column '{name}' in schema {} (columns: {})",
            schema.id,
            all.join(", ")
        ))
    })
}

/// The Arrow type of a column, or why it cannot be read.
fn column_type(field: &RowField) -> Result<ArrowType> {
    arrow_type(&field.data_type).map_err(|_| {
        Error::Unsupported(format!(
            "column '{}' has type {}, which tagkeeper cannot read yet (leave it out with \
             --columns)",
            field.name,
            field.data_type.sql()
        ))
    })
}

// ----- reading -----

/// Open the file of an append table's group: its footer is read now, its rows when polled.
/// The stream opens a few files ahead this way, so that requests overlap with decoding.
async fn open_file(
    shared: Arc<Shared>,
    group: Group,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let limit = shared.limit.and_then(|l| usize::try_from(l).ok());
    let chunks: ChunkStream = match group.files.first() {
        Some(f) => file::open(&shared.ctx, f, shared.batch_size, limit).await?,
        None => stream::empty().boxed(),
    };
    Ok(with_partition(shared, group, chunks))
}

/// The rows of a primary-key bucket, merged section by section.
fn merge_bucket(shared: Arc<Shared>, group: Group) -> BoxStream<'static, Result<RecordBatch>> {
    let Some(spec) = shared.merge.clone() else {
        return stream::empty().boxed();
    };
    let (opener, files) = (Arc::clone(&shared), Arc::new(group.files.clone()));
    let chunks = stream::iter(group.sections.clone())
        .map(move |section| {
            let (shared, spec, files) = (Arc::clone(&opener), spec.clone(), Arc::clone(&files));
            stream::once(async move { open_section(&shared, &files, &section, spec).await })
                .try_flatten()
        })
        .flatten()
        .boxed();
    with_partition(shared, group, chunks)
}

/// Target batches → output batches, with the group's partition values filled in.
fn with_partition(
    shared: Arc<Shared>,
    group: Group,
    chunks: ChunkStream,
) -> BoxStream<'static, Result<RecordBatch>> {
    let (partition, label) = (group.partition, group.label);
    chunks
        .map(move |chunk| chunk.and_then(|c| assemble(&shared, &partition, &label, c)))
        .boxed()
}

/// Open every file of a section and merge them.
async fn open_section(
    shared: &Shared,
    files: &[DataFile],
    section: &[usize],
    spec: MergeSpec,
) -> Result<ChunkStream> {
    let batch = merge::file_batch_size(section.len(), shared.batch_size);
    // The futures are built up front: a stream mapping borrowing closures to futures is not
    // `Send` for every lifetime (see `table::ordered`).
    let opening: Vec<_> = section
        .iter()
        .filter_map(|&i| files.get(i))
        .map(|f| open_labelled(shared, f, batch))
        .collect();
    let opened: Vec<(String, ChunkStream)> = stream::iter(opening)
        .buffered(OPEN_AHEAD)
        .try_collect()
        .await?;
    merge::merge(opened, spec)
}

async fn open_labelled(
    shared: &Shared,
    f: &DataFile,
    batch: usize,
) -> Result<(String, ChunkStream)> {
    Ok((
        f.key.clone(),
        file::open(&shared.ctx, f, batch, None).await?,
    ))
}

/// A target batch plus partition columns, in output order.
fn assemble(
    shared: &Shared,
    partition: &[Datum],
    label: &str,
    chunk: Chunk,
) -> Result<RecordBatch> {
    let rows = chunk.rows;
    let kinds = match shared.row_kind {
        None => None,
        Some(RowKinds::Constant(k)) => {
            Some(Arc::new(arrow::array::StringArray::from(vec![k; rows])) as ArrayRef)
        }
        Some(RowKinds::FromFile) => Some(kind_column(&chunk, label)?),
    };
    let data_fields = shared
        .schema
        .fields()
        .iter()
        .skip(usize::from(kinds.is_some()));
    let columns =
        kinds
            .into_iter()
            .map(Ok)
            .chain(shared.output.iter().zip(data_fields).map(|(col, field)| {
                match col {
                    OutputColumn::Data(i) => chunk.columns.get(*i).cloned().ok_or_else(|| {
                        Error::Unsupported(format!("column {i} missing in a batch"))
                    }),
                    OutputColumn::Partition(p) => {
                        let value = partition.get(*p).unwrap_or(&Datum::Null);
                        values::constant(value, field.data_type(), rows).map_err(|e| {
                            Error::corrupt(
                                "manifest",
                                format!("partition value of '{}': {e}", field.name()),
                            )
                        })
                    }
                }
            }))
            .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new_with_options(
        Arc::clone(&shared.schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| Error::data_file(label, format!("rows do not fit the table's schema: {e}")))
}

/// The `_ROW_KIND` column of a key-value chunk, from its stored `_VALUE_KIND`.
fn kind_column(chunk: &Chunk, label: &str) -> Result<ArrayRef> {
    let Some((_, kinds)) = &chunk.system else {
        return Err(Error::data_file(label, "it has no _VALUE_KIND column"));
    };
    let texts = kinds
        .iter()
        .map(|k| {
            let k = k.unwrap_or(-1);
            row_kind_text(k).ok_or_else(|| Error::data_file(label, format!("unknown row kind {k}")))
        })
        .collect::<Result<Vec<&str>>>()?;
    Ok(Arc::new(arrow::array::StringArray::from(texts)))
}

/// Stop after `limit` rows (the last batch is cut). Files past the limit are not read, except
/// that up to [`OPEN_AHEAD`] footers may already have been fetched (their errors are dropped
/// with the stream).
fn limit_rows(
    batches: BoxStream<'static, Result<RecordBatch>>,
    limit: u64,
) -> BoxStream<'static, Result<RecordBatch>> {
    stream::unfold((batches, limit), |(mut batches, left)| async move {
        if left == 0 {
            return None;
        }
        match batches.next().await? {
            Err(e) => Some((Err(e), (batches, 0))),
            Ok(b) => {
                let n = b.num_rows() as u64;
                if n <= left {
                    Some((Ok(b), (batches, left - n)))
                } else {
                    let cut = b.slice(0, usize::try_from(left).unwrap_or(0));
                    Some((Ok(cut), (batches, 0)))
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::TableStore;

    /// Library users spawn reads on a runtime: the futures and the stream must be `Send`.
    #[test]
    fn reads_can_be_spawned() {
        fn send<T: Send>(_: &T) {}
        fn send_static<T: Send + 'static>() {}
        let table = Table::new(TableStore::in_memory("t"));
        let options = ReadOptions::default();
        send(&read(&table, &options));
        send(&plan(&table, &options));
        send_static::<RecordBatchStream>();
    }

    #[test]
    fn partition_filters_need_every_column_and_any_of_its_values() {
        let string = DataType::parse("STRING").unwrap_or_else(|e| unreachable!("{e}"));
        let int = DataType::parse("INT").unwrap_or_else(|e| unreachable!("{e}"));
        let spec = PartitionSpec::new(vec!["dt".into(), "hr".into()], vec![string, int], &[]);
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let f = partition_filter(&spec, &pairs(&[("dt", "a"), ("hr", "1"), ("dt", "b")]))
            .unwrap_or_default();
        let part = |dt: &str, hr: Option<i32>| {
            vec![Datum::String(dt.into()), hr.map_or(Datum::Null, Datum::Int)]
        };
        assert!(matches_filter(&f, &part("a", Some(1))));
        assert!(matches_filter(&f, &part("b", Some(1))));
        assert!(!matches_filter(&f, &part("c", Some(1))));
        assert!(!matches_filter(&f, &part("a", Some(2))));
        assert!(!matches_filter(&f, &part("a", None)));
        let nulls =
            partition_filter(&spec, &pairs(&[("hr", "__DEFAULT_PARTITION__")])).unwrap_or_default();
        assert!(matches_filter(&nulls, &part("x", None)));
        assert!(matches_filter(&[], &part("x", None)));
        assert!(partition_filter(&spec, &pairs(&[("hr", "one")])).is_err());
        assert!(partition_filter(&spec, &pairs(&[("v", "1")])).is_err());
    }
}
