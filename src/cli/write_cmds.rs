//! `create-table` and `write`.

use std::sync::Arc;

use bytes::Bytes;
use clap::Args;

use super::output::Printer;
use super::GlobalArgs;
use tagkeeper::clock::SystemClock;
use tagkeeper::format::binary_row::Datum;
use tagkeeper::io::{ensure_local_dir, open_location};
use tagkeeper::write::arrow_types::parse_column_type;
use tagkeeper::write::input::{read_input, InputFormat};
use tagkeeper::write::{self, CommitOptions, OverwriteScope, TableSpec};
use tagkeeper::{Error, Result};

/// `create-table` arguments.
#[derive(Debug, Args)]
pub(crate) struct CreateTableArgs {
    /// Where the table goes (a directory or an object-store URL); it must not hold a table.
    table: String,
    /// A column NAME:TYPE, e.g. id:BIGINT, name:STRING, dt:DATE, amount:'DECIMAL(10, 2)'.
    #[arg(long = "column", value_name = "NAME:TYPE", required = true)]
    columns: Vec<String>,
    /// A partition column (repeatable, in path order).
    #[arg(long = "partition", value_name = "COL")]
    partitions: Vec<String>,
    /// A primary-key column (repeatable).
    #[arg(long = "primary-key", value_name = "COL")]
    primary_keys: Vec<String>,
    /// Number of buckets (the `bucket` option; -1, the default, is bucket-unaware).
    #[arg(long)]
    bucket: Option<i32>,
    /// A table option KEY=VALUE (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    options: Vec<(String, String)>,
    /// A table comment.
    #[arg(long)]
    comment: Option<String>,
}

/// `write` arguments.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// The table.
    table: String,
    /// An input file: .parquet, .csv (with a header) or .jsonl (repeatable).
    #[arg(long = "input", value_name = "FILE", required = true)]
    inputs: Vec<String>,
    /// Input format when the extension does not say.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Replace data: the partitions the input touches (or, with --partition, that partition;
    /// on an unpartitioned table, the whole table).
    #[arg(long)]
    overwrite: bool,
    /// With --overwrite: replace this partition (K=V, repeatable for several columns).
    #[arg(long = "partition", value_name = "K=V", value_parser = super::parse_key_value, requires = "overwrite")]
    partition: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum FormatArg {
    Parquet,
    Csv,
    Jsonl,
}

pub(crate) async fn create_table(
    a: CreateTableArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let mut columns = Vec::new();
    for c in &a.columns {
        let (name, ty) = c
            .split_once(':')
            .ok_or_else(|| Error::InvalidArgument(format!("--column {c:?}: expected NAME:TYPE")))?;
        columns.push((name.trim().to_string(), parse_column_type(ty)?));
    }
    let mut options = a.options.clone();
    if let Some(b) = a.bucket {
        options.retain(|(k, _)| k != "bucket");
        options.push(("bucket".into(), b.to_string()));
    }
    let spec = TableSpec {
        columns,
        partition_keys: a.partitions,
        primary_keys: a.primary_keys,
        options,
        comment: a.comment,
    };
    spec.validate()?;
    ensure_local_dir(&a.table)?;
    let store = open_location(&a.table, &global.store_options())?;
    let now = tagkeeper::clock::Clock::now_millis(&SystemClock);
    let table = write::create_table(store, &spec, now).await?;
    let report = tagkeeper::inspect::schema(&table).await?;
    printer.report(&report, |r| {
        format!(
            "Created table with schema {}.\n{}",
            r.id,
            super::output::schema_text(r)
        )
    })
}

pub(crate) async fn write_data(a: WriteArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let table = global.open(&a.table).await?;
    let schema = table.latest_schema().await?;
    let arrow = write::arrow_types::arrow_schema(&schema)?;
    let mut batches = Vec::new();
    for path in &a.inputs {
        let format = match a.format {
            Some(FormatArg::Parquet) => InputFormat::Parquet,
            Some(FormatArg::Csv) => InputFormat::Csv,
            Some(FormatArg::Jsonl) => InputFormat::JsonLines,
            None => InputFormat::from_name(path).ok_or_else(|| {
                Error::InvalidArgument(format!("input {path}: unknown extension; use --format"))
            })?,
        };
        let bytes = std::fs::read(path)
            .map_err(|e| Error::InvalidArgument(format!("input {path}: {e}")))?;
        batches.extend(read_input(Bytes::from(bytes), format, &arrow, path)?);
    }
    let overwrite = if !a.overwrite {
        None
    } else if schema.partition_keys.is_empty() {
        if !a.partition.is_empty() {
            return Err(Error::InvalidArgument(
                "--partition: the table is not partitioned".into(),
            ));
        }
        Some(OverwriteScope::Table)
    } else if a.partition.is_empty() {
        Some(OverwriteScope::Dynamic)
    } else {
        Some(OverwriteScope::Partition(partition_spec(
            &schema,
            &a.partition,
        )?))
    };
    let outcome = write::append(
        &table,
        batches,
        overwrite,
        Arc::new(SystemClock),
        &CommitOptions::default(),
    )
    .await?;
    printer.report(&outcome, |o| {
        format!(
            "Committed snapshot {} ({}): {} file(s) added, {} deleted, {:+} rows{}.\n",
            o.snapshot_id,
            o.commit_kind,
            o.added_files,
            o.deleted_files,
            o.delta_record_count,
            if o.attempts > 1 {
                format!(" after {} attempts", o.attempts)
            } else {
                String::new()
            }
        )
    })
}

/// `K=V` pairs → partition-column index and typed value.
fn partition_spec(
    schema: &tagkeeper::format::schema::TableSchema,
    pairs: &[(String, String)],
) -> Result<Vec<(usize, Datum)>> {
    let types = schema.partition_types();
    let default_name = schema
        .option("partition.default-name")
        .unwrap_or("__DEFAULT_PARTITION__");
    pairs
        .iter()
        .map(|(k, v)| {
            let i = schema
                .partition_keys
                .iter()
                .position(|p| p == k)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "--partition {k}={v}: '{k}' is not a partition column (they are {})",
                        schema.partition_keys.join(", ")
                    ))
                })?;
            let datum = if v == default_name {
                Datum::Null
            } else {
                tagkeeper::format::partition::parse_value(&types[i], v)
                    .map_err(|e| Error::InvalidArgument(format!("--partition {k}={v}: {e}")))?
            };
            Ok((i, datum))
        })
        .collect()
}
