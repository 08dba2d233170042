//! `read`: the rows of a version as an aligned table, CSV, JSON lines or Parquet, streamed to
//! stdout or to a file.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::{Args, ValueEnum};
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::commands::VersionArgs;
use super::output::Printer;
use super::{parse_key_value, GlobalArgs};
use tagkeeper::read::changelog::ChangelogOptions;
use tagkeeper::read::{self, ReadOptions, RecordBatchStream};
use tagkeeper::{Error, Result};

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people, with a row count at the end.
    Table,
    /// CSV with a header line (NULL is an empty field).
    Csv,
    /// One JSON object per line (NULL is null; DATE is "YYYY-MM-DD").
    Jsonl,
    /// A Parquet file (ZSTD), with the table's column types.
    Parquet,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }

    /// The format a file name asks for.
    fn of_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }
}

/// `read` arguments.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// Table location: a local path or an object-store URL.
    table: String,
    #[command(flatten)]
    version: VersionArgs,
    /// Read the changelog rows the commits after --from up to --to produced (tables with a
    /// changelog-producer), each with its row kind (+I, -U, +U, -D) in a leading _ROW_KIND
    /// column, in commit order.
    #[arg(long, requires_all = ["from", "to"], conflicts_with = "version")]
    changelog: bool,
    /// With --changelog: the version after which to start (a tag name, or a snapshot id; a tag
    /// of that name wins). Exclusive.
    #[arg(long, value_name = "TAG|SNAPSHOT", requires = "changelog")]
    from: Option<String>,
    /// With --changelog: the version to read up to. Inclusive.
    #[arg(long, value_name = "TAG|SNAPSHOT", requires = "changelog")]
    to: Option<String>,
    /// Columns to return, in this order (comma-separated; default: all).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    columns: Option<Vec<String>>,
    /// Read only the partitions where PARTITION has VALUE; repeatable. Several values of one
    /// column mean any of them; __DEFAULT_PARTITION__ selects NULL. Files of other partitions
    /// are never opened.
    #[arg(long = "where", value_name = "PARTITION=VALUE", value_parser = parse_key_value)]
    filters: Vec<(String, String)>,
    /// Stop after N rows.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    #[command(flatten)]
    out: OutputArgs,
}

/// Where and how rows are written (`read`, `diff --rows`).
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Output format [default: from the --output extension (.csv, .jsonl, .parquet), else
    /// table; jsonl with --json].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the rows to this local file instead of stdout and print a summary. The file
    /// appears only when the read is complete.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// The summary printed after writing a file.
#[derive(Debug, Serialize)]
struct ReadReport {
    snapshot_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    schema_id: i64,
    rows: u64,
    files_read: usize,
    files_pruned: usize,
    format: &'static str,
    output: String,
    /// What a changelog read covered ("the changelog after snapshot 1 up to snapshot 3").
    #[serde(skip_serializing_if = "Option::is_none")]
    changelog: Option<String>,
}

impl OutputArgs {
    /// The format, refusing Parquet on a terminal.
    pub(crate) fn format(&self, json: bool) -> Result<Format> {
        let format = choose_format(self.format, self.output.as_deref(), json)?;
        if self.output.is_none() && format == Format::Parquet && io::stdout().is_terminal() {
            return Err(Error::InvalidArgument(
                "Parquet is binary: use --output FILE, or redirect stdout to a file".into(),
            ));
        }
        Ok(format)
    }

    /// True when any output option was given.
    pub(crate) fn given(&self) -> bool {
        self.format.is_some() || self.output.is_some()
    }
}

pub(crate) async fn run(a: ReadArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let format = a.out.format(global.json)?;
    let spec = a.version.spec()?;
    let table = global.open(&a.table).await?;
    let plan = if a.changelog {
        let (from, to) = match (&a.from, &a.to) {
            (Some(f), Some(t)) => {
                futures::try_join!(table.version_named(f), table.version_named(t))?
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "--changelog needs --from and --to".into(),
                ))
            }
        };
        let options = ChangelogOptions {
            columns: a.columns,
            partitions: a.filters,
            limit: a.limit,
            ..ChangelogOptions::between(from, to)
        };
        read::changelog::plan(&table, &options).await?
    } else {
        let options = ReadOptions {
            version: spec,
            columns: a.columns,
            partitions: a.filters,
            limit: a.limit,
            ..ReadOptions::default()
        };
        read::plan(&table, &options).await?
    };
    let describe = plan.describe();
    match &a.out.output {
        None => emit(plan.stream(), format, None, &describe)
            .await
            .map(|_| ()),
        Some(path) => {
            let rows = write_file(plan.stream(), format, path).await?;
            let report = ReadReport {
                snapshot_id: plan.snapshot_id,
                tag: plan.tag.clone(),
                schema_id: plan.schema_id,
                rows,
                files_read: plan.files,
                files_pruned: plan.total_files - plan.files,
                format: format.name(),
                output: path.display().to_string(),
                changelog: a.changelog.then(|| describe.clone()),
            };
            printer.report(&report, |r| {
                format!(
                    "{} rows of {} written to {} ({}; {} of {} files read)\n",
                    r.rows,
                    r.changelog
                        .clone()
                        .unwrap_or_else(|| version_text(r.snapshot_id, r.tag.as_deref())),
                    r.output,
                    r.format,
                    r.files_read,
                    r.files_read + r.files_pruned
                )
            })
        }
    }
}

/// The summary of `diff --rows` written to a file.
#[derive(Debug, Serialize)]
struct DiffRowsReport {
    from: String,
    to: String,
    rows: u64,
    format: &'static str,
    output: String,
}

/// `diff --rows`: the changed rows between two versions.
pub(crate) async fn diff_rows(
    table: &tagkeeper::table::Table,
    from: &tagkeeper::table::VersionSpec,
    to: &tagkeeper::table::VersionSpec,
    out: &OutputArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let format = out.format(global.json)?;
    let plan = read::diff::plan(table, from, to, 0).await?;
    let what = format!("the diff {}", plan.describe());
    let rows = emit(plan.stream(), format, out.output.as_deref(), &what).await?;
    let Some(path) = &out.output else {
        return Ok(());
    };
    let report = DiffRowsReport {
        from: plan.from.describe(),
        to: plan.to.describe(),
        rows,
        format: format.name(),
        output: path.display().to_string(),
    };
    printer.report(&report, |r| {
        format!(
            "{} changed rows from {} to {} written to {} ({})\n",
            r.rows, r.from, r.to, r.output, r.format
        )
    })
}

fn version_text(snapshot: Option<i64>, tag: Option<&str>) -> String {
    match (tag, snapshot) {
        (Some(t), Some(id)) => format!("tag '{t}' (snapshot {id})"),
        (_, Some(id)) => format!("snapshot {id}"),
        _ => "an empty table".to_string(),
    }
}

fn choose_format(given: Option<Format>, output: Option<&Path>, json: bool) -> Result<Format> {
    let format = match (given, output) {
        (Some(f), _) => f,
        (None, Some(path)) => Format::of_path(path).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "cannot tell the format of {} from its name: add --format \
                 table|csv|jsonl|parquet",
                path.display()
            ))
        })?,
        (None, None) if json => Format::Jsonl,
        (None, None) => Format::Table,
    };
    if json && output.is_none() && format != Format::Jsonl {
        return Err(Error::InvalidArgument(format!(
            "--json writes rows as JSON lines on stdout, not {}: drop --json, use \
             --format jsonl, or add --output FILE for a JSON summary",
            format.name()
        )));
    }
    Ok(format)
}

/// Write to a temporary file next to `path`, then rename it into place: a failed read leaves
/// no half-written file behind.
/// Rows to stdout (the table format ends with "N rows in WHAT"), or to `path` (then the
/// number of rows is returned for a summary).
pub(crate) async fn emit(
    batches: RecordBatchStream,
    format: Format,
    path: Option<&Path>,
    what: &str,
) -> Result<u64> {
    match path {
        Some(path) => write_file(batches, format, path).await,
        None => {
            let broken = Arc::new(AtomicBool::new(false));
            let out = PipeWriter {
                inner: io::stdout(),
                broken: Arc::clone(&broken),
            };
            match write_rows(batches, format, BufWriter::new(out), "stdout").await {
                Ok(rows) if format == Format::Table => {
                    let footer = format!("{rows} rows in {what}\n");
                    let _ = io::stdout().lock().write_all(footer.as_bytes());
                    Ok(rows)
                }
                Ok(rows) => Ok(rows),
                Err(_) if broken.load(Ordering::Relaxed) => Ok(0),
                Err(e) => Err(e),
            }
        }
    }
}

async fn write_file(batches: RecordBatchStream, format: Format, path: &Path) -> Result<u64> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::InvalidArgument(format!("--output {} is not a file name", path.display()))
        })?;
    let temp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let shown = path.display().to_string();
    let file = File::create(&temp).map_err(|e| output_error(&shown, e))?;
    let result = write_rows(batches, format, BufWriter::new(file), &shown).await;
    let renamed = result.and_then(|rows| {
        std::fs::rename(&temp, path)
            .map(|()| rows)
            .map_err(|e| output_error(&shown, e))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    renamed
}

fn output_error(path: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("cannot write {path}: {e}"))
}

/// Stream the plan's batches into a writer; returns the rows written.
async fn write_rows<W: Write + Send>(
    mut batches: RecordBatchStream,
    format: Format,
    out: W,
    shown: &str,
) -> Result<u64> {
    let mut sink = Sink::new(format, out, batches.schema()).map_err(|e| output_error(shown, e))?;
    let mut rows = 0u64;
    while let Some(batch) = batches.try_next().await? {
        rows += batch.num_rows() as u64;
        sink.write(&batch).map_err(|e| output_error(shown, e))?;
    }
    sink.finish().map_err(|e| output_error(shown, e))?;
    Ok(rows)
}

/// Remembers that the reader of a pipe went away, so that the error it causes is not reported.
struct PipeWriter<W> {
    inner: W,
    broken: Arc<AtomicBool>,
}

impl<W: Write> Write for PipeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.note(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|e| self.note(e))
    }
}

impl<W> PipeWriter<W> {
    fn note(&self, e: &io::Error) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// One writer per format.
enum Sink<W: Write + Send> {
    Table(TableWriter<W>),
    /// The writer, the schema, and whether a batch was written (the header comes with one).
    Csv(arrow::csv::Writer<W>, SchemaRef, bool),
    Jsonl(arrow::json::LineDelimitedWriter<W>),
    Parquet(ArrowWriter<W>),
}

impl<W: Write + Send> Sink<W> {
    fn new(format: Format, out: W, schema: SchemaRef) -> std::result::Result<Self, String> {
        Ok(match format {
            Format::Table => Sink::Table(TableWriter::new(out, &schema)),
            Format::Csv => Sink::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
                schema,
                false,
            ),
            Format::Jsonl => Sink::Jsonl(
                arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build(out),
            ),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                Sink::Parquet(
                    ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| e.to_string())?,
                )
            }
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), String> {
        match self {
            Sink::Table(w) => w.write(batch),
            Sink::Csv(w, _, wrote) => {
                *wrote = true;
                w.write(batch).map_err(|e| e.to_string())
            }
            Sink::Jsonl(w) => w.write(batch).map_err(|e| e.to_string()),
            Sink::Parquet(w) => w.write(batch).map_err(|e| e.to_string()),
        }
    }

    fn finish(self) -> std::result::Result<(), String> {
        match self {
            Sink::Table(w) => w.finish(),
            Sink::Csv(mut w, schema, wrote) => {
                if !wrote {
                    // No rows: still a header, so that the file says what its columns are.
                    w.write(&RecordBatch::new_empty(schema))
                        .map_err(|e| e.to_string())?;
                }
                w.into_inner().flush().map_err(|e| e.to_string())
            }
            Sink::Jsonl(mut w) => {
                w.finish().map_err(|e| e.to_string())?;
                w.into_inner().flush().map_err(|e| e.to_string())
            }
            Sink::Parquet(w) => w
                .into_inner()
                .map_err(|e| e.to_string())?
                .flush()
                .map_err(|e| e.to_string()),
        }
    }
}

/// Aligned columns. Widths come from the header and the first batch, so rows stream out
/// without buffering the read; a longer value later just widens its own line.
struct TableWriter<W> {
    out: W,
    names: Vec<String>,
    right: Vec<bool>,
    widths: Option<Vec<usize>>,
}

impl<W: Write> TableWriter<W> {
    fn new(out: W, schema: &SchemaRef) -> Self {
        TableWriter {
            out,
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            right: schema
                .fields()
                .iter()
                .map(|f| f.data_type().is_numeric())
                .collect(),
            widths: None,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), String> {
        let options = FormatOptions::new().with_null("NULL");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref() as &dyn Array, &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let rows: Vec<Vec<String>> = (0..batch.num_rows())
            .map(|r| formatters.iter().map(|f| f.value(r).to_string()).collect())
            .collect();
        if self.widths.is_none() {
            let mut widths: Vec<usize> = self.names.iter().map(|n| n.chars().count()).collect();
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let header = self.line(&self.names, &widths);
            self.widths = Some(widths);
            self.out
                .write_all(header.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let widths = self.widths.clone().unwrap_or_default();
        let mut text = String::new();
        for row in &rows {
            text.push_str(&self.line(row, &widths));
        }
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())
    }

    fn line(&self, cells: &[String], widths: &[usize]) -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            let right = self.right.get(i).copied().unwrap_or(false);
            if right {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i != last {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                s.push_str("  ");
            }
        }
        s.push('\n');
        s
    }

    fn finish(mut self) -> std::result::Result<(), String> {
        if self.widths.is_none() {
            let widths: Vec<usize> = self.names.iter().map(|n| n.chars().count()).collect();
            let header = self.line(&self.names, &widths);
            self.out
                .write_all(header.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        self.out.flush().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_flags_then_file_names() {
        let p = |s: &str| Some(Path::new(s).to_path_buf());
        assert_eq!(choose_format(None, None, false).ok(), Some(Format::Table));
        assert_eq!(choose_format(None, None, true).ok(), Some(Format::Jsonl));
        assert_eq!(
            choose_format(None, p("x.parquet").as_deref(), false).ok(),
            Some(Format::Parquet)
        );
        assert_eq!(
            choose_format(Some(Format::Csv), p("x.parquet").as_deref(), true).ok(),
            Some(Format::Csv)
        );
        assert!(choose_format(None, p("x.bin").as_deref(), false).is_err());
        assert!(choose_format(Some(Format::Csv), None, true).is_err());
    }
}
