//! Rendering: one JSON document on stdout with `--json`, aligned tables otherwise. Warnings and
//! errors go to stderr. A closed stdout (`tagkeeper … | head`) is not an error.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::DateTime;
use serde::Serialize;
use serde_json::Value;

use tagkeeper::inspect::{
    DiffReport, DiffSide, FileRef, FilesListing, SchemaReport, SnapshotsReport, TagsReport,
};
use tagkeeper::{Error, FailedDeletion};

/// Set once a document is on stdout. `--json` promises exactly one document per run, so a
/// failure that ends a command after its report was printed (the report then carries the
/// failure as its `error` member) prints no second one.
static DOCUMENT_PRINTED: AtomicBool = AtomicBool::new(false);

/// The `error` member of a failure's JSON document.
pub(crate) fn error_value(kind: &str, message: &str, exit_code: u8) -> Value {
    serde_json::json!({"kind": kind, "message": message, "exit_code": exit_code})
}

pub(crate) fn error_of(e: &Error) -> Value {
    let mut v = error_value(e.kind(), &e.to_string(), e.exit_code());
    if let (Some(hint), Value::Object(map)) = (e.hint(), &mut v) {
        map.insert("hint".into(), Value::from(hint));
    }
    v
}

/// `--list`: human output lists every file, not only the totals (JSON always has them).
static LIST_FILES: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_listing(on: bool) {
    LIST_FILES.store(on, Ordering::SeqCst);
}

/// A category's name for people, singular: `ManifestList` → `manifest list`, `Data` → `data
/// file`.
fn category_one(c: &impl std::fmt::Debug) -> String {
    let name = format!("{c:?}");
    let mut words = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(ch.to_lowercase());
    }
    match words.as_str() {
        "data" | "index" | "statistics" => format!("{words} file"),
        _ => words,
    }
}

/// A category's name for people, plural: `manifest lists`, `data files`.
pub(crate) fn category(c: &impl std::fmt::Debug) -> String {
    let one = category_one(c);
    if one.ends_with('s') {
        one
    } else {
        format!("{one}s")
    }
}

/// One line of totals: `  manifest lists: 4 files, 5.3 KiB`.
pub(crate) fn tally_line(c: &impl std::fmt::Debug, files: u64, n: i64) -> String {
    format!("  {}: {files} file(s), {}\n", category(c), bytes(n))
}

/// The file lines of a plan, shown with `--list`; otherwise one line saying how to see them.
/// Each file is (category, path, bytes).
pub(crate) fn file_lines<'a, C: std::fmt::Debug + 'a>(
    files: impl ExactSizeIterator<Item = (&'a C, &'a str, i64)>,
) -> String {
    let n = files.len();
    if n == 0 {
        return String::new();
    }
    if !LIST_FILES.load(Ordering::SeqCst) {
        return format!("  ({n} file(s); --list shows each, --json has them all)\n");
    }
    files
        .map(|(c, path, b)| format!("  {path}  {} ({})\n", bytes(b), category_one(c)))
        .collect()
}

/// A report's human form. A dry run's reads like the real run's ("Would delete" for
/// "Deleted"); its first word makes sure nobody mistakes one for the other.
pub(crate) fn human_text<T: Serialize>(report: &T, text: fn(&T) -> String) -> String {
    if super::dry_run::is_dry_run(report) {
        format!("DRY RUN: {}", text(report))
    } else {
        text(report)
    }
}

/// Print `{"error": …}` on stdout unless a document was printed already.
pub(crate) fn print_error_document(error: Value) {
    if !DOCUMENT_PRINTED.swap(true, Ordering::SeqCst) {
        write_stdout(&format!("{:#}\n", serde_json::json!({ "error": error })));
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    json: bool,
    quiet: bool,
}

impl Printer {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Printer { json, quiet }
    }

    /// Print a report as JSON or through its text renderer.
    pub(crate) fn report<T: Serialize>(
        &self,
        report: &T,
        text: fn(&T) -> String,
    ) -> tagkeeper::Result<()> {
        self.finish(report, text, None)
    }

    /// Print the one report of a command that ends with `failure` (e.g. [`Error::Incomplete`]
    /// when planned deletions failed), or successfully when `None`. With `--json` the failure
    /// is the report's `error` member (`{"kind", "message", "exit_code"}`), the same member an
    /// error document without a report has; the text form lists the failures itself. The
    /// failure is returned for the exit code and the `error:` line on stderr.
    pub(crate) fn finish<T: Serialize>(
        &self,
        report: &T,
        text: fn(&T) -> String,
        failure: Option<Error>,
    ) -> tagkeeper::Result<()> {
        if self.json && failure.is_none() {
            // The same bytes as the tree below, without the tree (a report's JSON tree is
            // several times the report: large diffs and plans).
            return self.stream_json(report);
        }
        let body = if self.json {
            let mut doc = serde_json::to_value(report)
                .map_err(|e| Error::InvalidArgument(format!("cannot render JSON: {e}")))?;
            if let Some(f) = &failure {
                if let Value::Object(map) = &mut doc {
                    map.insert("error".into(), error_of(f));
                } else {
                    doc = serde_json::json!({"report": doc, "error": error_of(f)});
                }
            }
            format!("{doc:#}\n")
        } else {
            human_text(report, text)
        };
        DOCUMENT_PRINTED.store(true, Ordering::SeqCst);
        write_stdout(&body);
        failure.map_or(Ok(()), Err)
    }

    /// Print a successful report as JSON while serializing it, instead of building the whole
    /// document first: the same bytes as [`Printer::report`] with `--json` (pretty JSON and a
    /// newline, redacted), written in chunks that end at a line break. Pretty JSON keeps every
    /// string on one line, so redacting line-aligned chunks is redacting the whole text.
    pub(crate) fn stream_json<T: Serialize>(&self, report: &T) -> tagkeeper::Result<()> {
        self.stream_text(|out| {
            serde_json::to_writer_pretty(&mut *out, report)
                .map_err(io::Error::other)
                .and_then(|()| out.write_all(b"\n"))
        })
    }

    /// Print a successful report's human text while formatting it (see
    /// [`Printer::stream_json`]): `write` writes the text, which goes out redacted in chunks
    /// that end at a line break.
    pub(crate) fn stream_text(
        &self,
        write: impl FnOnce(&mut StdoutLines) -> io::Result<()>,
    ) -> tagkeeper::Result<()> {
        DOCUMENT_PRINTED.store(true, Ordering::SeqCst);
        let mut out = RedactingLines {
            out: io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
            pending: Vec::with_capacity(REDACT_CHUNK + 4096),
        };
        report_written(write(&mut out).and_then(|()| out.finish()))
    }

    /// Print a successful report formatted in `n` pieces on several threads (see
    /// [`write_pieces_in_order`]): `format(i, buf)` appends piece `i`, which must end at a line
    /// break; each piece is redacted on the thread that formatted it and written in order. The
    /// same bytes as formatting and printing the pieces one after the other.
    pub(crate) fn stream_pieces(
        &self,
        n: usize,
        format: impl Fn(usize, &mut Vec<u8>) + Sync,
    ) -> tagkeeper::Result<()> {
        DOCUMENT_PRINTED.store(true, Ordering::SeqCst);
        let workers = std::thread::available_parallelism().map_or(1, |c| c.get().min(8));
        let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        let redacted = |i: usize, buf: &mut Vec<u8>| {
            format(i, buf);
            redact_in_place(buf);
        };
        report_written(
            write_pieces_in_order(n, workers, redacted, &mut out).and_then(|()| out.flush()),
        )
    }

    /// Print a plan before asking whether to execute it (see `confirm`).
    pub(crate) fn preview(&self, text: &str) {
        write_stdout(text);
    }

    /// Print generated text (completions, man pages) verbatim: not a report, so `--json` does
    /// not wrap it.
    pub(crate) fn raw(&self, text: &str) {
        DOCUMENT_PRINTED.store(true, Ordering::SeqCst);
        write_stdout(text);
    }

    /// `--json` was given.
    pub(crate) fn is_json(&self) -> bool {
        self.json
    }

    /// `-q` was given.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub(crate) fn warnings(&self, warnings: &[String]) {
        if self.quiet {
            return;
        }
        for w in warnings {
            eprintln_safe(&format!("warning: {w}"));
        }
    }

    /// The error that ended the command: on stderr, and with `--json` as the one document
    /// on stdout (unless the command's report already carried it).
    pub(crate) fn error(&self, e: &Error) {
        eprintln_safe(&format!("error: {e}"));
        if let Some(hint) = e.hint() {
            eprintln_safe(&format!("hint: {hint}"));
        }
        if self.json {
            print_error_document(error_of(e));
        }
    }

    /// A failure outside the library's errors (the runtime could not start): kind `internal`.
    pub(crate) fn internal_error(&self, msg: &str, exit_code: u8) {
        eprintln_safe(&format!("error: {msg}"));
        if self.json {
            print_error_document(error_value("internal", msg, exit_code));
        }
    }
}

/// The text form of failed deletions, one line each.
pub(crate) fn failed_text(failed: &[FailedDeletion]) -> String {
    failed
        .iter()
        .map(|f| format!("FAILED to delete {} ({}): {}\n", f.path, f.kind, f.message))
        .collect()
}

/// Every line tagkeeper prints goes through here or [`eprintln_safe`], redacted
/// (`tagkeeper::redact`): no secret reaches stdout or stderr, whatever text quoted it.
fn write_stdout(s: &str) {
    let s = tagkeeper::redact::redact(s);
    let mut out = io::stdout().lock();
    // A reader that went away (broken pipe) is fine: there is nobody left to tell.
    let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
}

pub(crate) fn eprintln_safe(s: &str) {
    let s = tagkeeper::redact::redact(s);
    let _ = writeln!(io::stderr().lock(), "{s}");
}

/// Bytes [`RedactingLines`] gathers before it redacts and writes them.
const REDACT_CHUNK: usize = 1 << 20;

/// Stdout, buffered, through the redactor (what [`Printer::stream_text`] writes to).
pub(crate) type StdoutLines = RedactingLines<io::BufWriter<io::StdoutLock<'static>>>;

/// Stdout through the redactor, in chunks that end at a line break.
pub(crate) struct RedactingLines<W: Write> {
    out: W,
    pending: Vec<u8>,
}

impl<W: Write> RedactingLines<W> {
    fn emit(&mut self, upto: usize) -> io::Result<()> {
        // Valid UTF-8 (always, from serde_json and our formatting) is checked, not copied.
        let text = match std::str::from_utf8(&self.pending[..upto]) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(&self.pending[..upto]),
        };
        let redacted = tagkeeper::redact::redact_cow(&text);
        self.out.write_all(redacted.as_bytes())?;
        self.pending.drain(..upto);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.emit(self.pending.len())?;
        self.out.flush()
    }
}

impl<W: Write> Write for RedactingLines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    // serde_json writes a report a token at a time: each is appended here directly (the
    // default `write_all` loops over `write`, a measurable share of a large report).
    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= REDACT_CHUNK {
            if let Some(at) = memchr::memrchr(b'\n', &self.pending) {
                self.emit(at + 1)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The outcome of writing a streamed report to stdout.
fn report_written(written: io::Result<()>) -> tagkeeper::Result<()> {
    match written {
        // A reader that went away (broken pipe) is fine: there is nobody left to tell.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::InvalidArgument(format!(
            "cannot write the report: {e}"
        ))),
        Ok(()) => Ok(()),
    }
}

/// Redact a piece of text (whole lines) where it lies: it is left alone when nothing in it is
/// masked, the usual case.
fn redact_in_place(buf: &mut Vec<u8>) {
    let masked = match std::str::from_utf8(buf) {
        Ok(text) => match tagkeeper::redact::redact_cow(text) {
            std::borrow::Cow::Borrowed(_) => return,
            std::borrow::Cow::Owned(masked) => masked,
        },
        // Never from our formatting; redacted like any other text if it were.
        Err(_) => tagkeeper::redact::redact(&String::from_utf8_lossy(buf)),
    };
    *buf = masked.into_bytes();
}

/// Write pieces `0..n` to `out` in order while `workers` threads format them: worker `w`
/// formats pieces `w`, `w + workers`, … and hands each over through its own channel of two,
/// so at most three pieces per worker are held, and the writer takes them round-robin, in
/// order. A write error stops the formatting (the workers' channels close) and is returned.
fn write_pieces_in_order(
    n: usize,
    workers: usize,
    format: impl Fn(usize, &mut Vec<u8>) + Sync,
    out: &mut impl Write,
) -> io::Result<()> {
    let workers = workers.clamp(1, n.max(1));
    if workers == 1 {
        let mut buf = Vec::new();
        for i in 0..n {
            buf.clear();
            format(i, &mut buf);
            out.write_all(&buf)?;
        }
        return Ok(());
    }
    // Written pieces' buffers go back to the workers: a fresh megabyte per piece was page
    // faults and allocator work on every piece.
    let spare: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (format, spare) = (&format, &spare);
        let receivers: Vec<_> = (0..workers)
            .map(|w| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
                scope.spawn(move || {
                    for i in (w..n).step_by(workers) {
                        let mut buf = spare
                            .lock()
                            .ok()
                            .and_then(|mut s| s.pop())
                            .unwrap_or_default();
                        buf.clear();
                        format(i, &mut buf);
                        if tx.send(buf).is_err() {
                            return; // the writer stopped
                        }
                    }
                });
                rx
            })
            .collect();
        for i in 0..n {
            let piece = receivers[i % workers]
                .recv()
                .map_err(|_| io::Error::other("a formatting thread stopped"))?;
            out.write_all(&piece)?;
            if let Ok(mut s) = spare.lock() {
                if s.len() < workers {
                    s.push(piece);
                }
            }
        }
        // Returning drops the receivers, which ends any worker still sending; the scope then
        // joins them.
        Ok(())
    })
}

/// Log output: each event is buffered and written redacted, like every other line.
pub(crate) struct RedactingStderr(Vec<u8>);

impl RedactingStderr {
    pub(crate) fn new() -> Self {
        RedactingStderr(Vec::new())
    }
}

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingStderr {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let text = tagkeeper::redact::redact(&String::from_utf8_lossy(&self.0));
            let _ = io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

/// Columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

fn time(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| millis.to_string())
}

pub(crate) fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn duration(secs: f64) -> String {
    let s = secs.round() as i64;
    match s {
        _ if s % 86400 == 0 && s > 0 => format!("{}d", s / 86400),
        _ if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 && s > 0 => format!("{}min", s / 60),
        _ => format!("{s}s"),
    }
}

pub(crate) fn snapshots_text(r: &SnapshotsReport) -> String {
    if r.snapshots.is_empty() {
        return "No snapshots.\n".to_string();
    }
    let rows: Vec<Vec<String>> = r
        .snapshots
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                time(s.time_millis),
                s.commit_kind.clone(),
                s.schema_id.to_string(),
                opt(s.total_record_count),
                opt(s.delta_record_count),
                opt(s.watermark),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID",
            "COMMITTED (UTC)",
            "KIND",
            "SCHEMA",
            "TOTAL ROWS",
            "DELTA ROWS",
            "WATERMARK",
        ],
        &rows,
    );
    out.push_str(&format!(
        "{} snapshots, earliest {}, latest {}\n",
        r.snapshots.len(),
        opt(r.earliest),
        opt(r.latest)
    ));
    out
}

pub(crate) fn tags_text(r: &TagsReport) -> String {
    if r.tags.is_empty() {
        return "No tags.\n".to_string();
    }
    let sizes = r
        .tags
        .iter()
        .any(|t| t.total_bytes.is_some() || t.sizes_note.is_some());
    let rows: Vec<Vec<String>> = r
        .tags
        .iter()
        .map(|t| {
            let mut row = vec![
                t.name.clone(),
                t.snapshot_id.to_string(),
                time(t.snapshot_time_millis),
                if t.snapshot_live {
                    "yes".into()
                } else {
                    "no".into()
                },
                opt(t.create_time.clone()),
                t.time_retained_secs
                    .map_or_else(|| "-".to_string(), duration),
                match (&t.expires_at, t.expired) {
                    (Some(at), true) => format!("{at} (expired)"),
                    (at, _) => opt(at.clone()),
                },
            ];
            if sizes {
                row.push(t.exclusive_bytes.map_or_else(|| "?".into(), bytes));
                row.push(t.shared_bytes.map_or_else(|| "?".into(), bytes));
            }
            row
        })
        .collect();
    let mut header = vec![
        "NAME",
        "SNAPSHOT",
        "SNAPSHOT TIME (UTC)",
        "LIVE",
        "CREATED (LOCAL)",
        "RETAINED",
        "EXPIRES (LOCAL)",
    ];
    if sizes {
        header.extend(["EXCLUSIVE", "SHARED"]);
    }
    let mut out = table(&header, &rows);
    out.push_str(&format!("{} tags\n", r.tags.len()));
    for t in r.tags.iter().filter(|t| t.sizes_note.is_some()) {
        out.push_str(&format!(
            "sizes of '{}' unknown: {}\n",
            t.name,
            t.sizes_note.clone().unwrap_or_default()
        ));
    }
    out
}

fn partition_text(p: &serde_json::Map<String, Value>) -> String {
    if p.is_empty() {
        return "-".to_string();
    }
    p.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            Value::Null => format!("{k}=NULL"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `files`' human output as one string (for small listings: the demo's).
pub(crate) fn files_text(listing: &FilesListing) -> String {
    let mut out = Vec::new();
    // Writing into memory does not fail.
    let _ = write_files_text(listing, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `files`' human output, written as it is formatted: the table of files (aligned columns,
/// as [`table`] lays them out) and the totals line. Two passes over the listing (widths, then
/// lines) instead of a table of strings: a million files would be gigabytes of cells.
pub(crate) fn write_files_text(listing: &FilesListing, out: &mut dyn Write) -> io::Result<()> {
    const HEADER: [&str; 6] = ["PATH", "PARTITION", "BUCKET", "LEVEL", "BYTES", "ROWS"];
    // Each partition's text once (files of a partition share it).
    let partition_texts: Vec<String> = listing.partitions().iter().map(partition_text).collect();
    let no_partition = partition_text(&serde_json::Map::new());
    let partition_of = |f: &FileRef<'_>| -> &str {
        partition_texts
            .get(f.partition_index)
            .map_or(no_partition.as_str(), String::as_str)
    };
    let digits = |n: i64| n.to_string().len();
    if listing.total_files() > 0 {
        let mut widths: [usize; 5] = std::array::from_fn(|i| HEADER[i].len());
        for f in listing.files() {
            widths[0] = widths[0].max(f.path.chars().count());
            widths[1] = widths[1].max(partition_of(&f).chars().count());
            widths[2] = widths[2].max(digits(f.bucket.into()));
            widths[3] = widths[3].max(digits(f.level.into()));
            widths[4] = widths[4].max(digits(f.file_size));
        }
        let line = |out: &mut dyn Write, cells: [&str; 6]| -> io::Result<()> {
            let mut s = String::new();
            for (cell, w) in cells.iter().zip(widths) {
                s.push_str(&format!("{cell:<w$}  "));
            }
            s.push_str(cells[5]);
            writeln!(out, "{}", s.trim_end())
        };
        line(out, HEADER)?;
        for f in listing.files() {
            line(
                out,
                [
                    f.path,
                    partition_of(&f),
                    &f.bucket.to_string(),
                    &f.level.to_string(),
                    &f.file_size.to_string(),
                    &f.row_count.to_string(),
                ],
            )?;
        }
    }
    let version = match listing.tag() {
        Some(t) => format!("tag '{t}' (snapshot {})", listing.snapshot_id()),
        None => format!("snapshot {}", listing.snapshot_id()),
    };
    writeln!(
        out,
        "{} files, {} ({} bytes), {} rows in {version}",
        listing.total_files(),
        bytes(listing.total_bytes()),
        listing.total_bytes(),
        listing.total_rows()
    )
}

fn side_text(s: &DiffSide) -> String {
    let version = match &s.tag {
        Some(t) => format!("tag '{t}' (snapshot {})", s.snapshot_id),
        None => format!("snapshot {}", s.snapshot_id),
    };
    format!(
        "{version}: {} files, {} rows, {}",
        s.total_files,
        s.total_rows,
        bytes(s.total_bytes)
    )
}

pub(crate) fn diff_text(r: &DiffReport) -> String {
    let mut out = format!(
        "from {}
to   {}
",
        side_text(&r.from),
        side_text(&r.to)
    );
    let rows: Vec<Vec<String>> = r
        .removed
        .iter()
        .map(|f| ("-", f))
        .chain(r.added.iter().map(|f| ("+", f)))
        .map(|(sign, f)| {
            vec![
                sign.to_string(),
                f.path.clone(),
                partition_text(&f.partition),
                f.row_count.to_string(),
                bytes(f.file_size),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(&["", "PATH", "PARTITION", "ROWS", "SIZE"], &rows));
    }
    out.push_str(&format!(
        "{} added ({} rows, {}), {} removed ({} rows, {}), {} unchanged
",
        r.added.len(),
        r.added_rows,
        bytes(r.added_bytes),
        r.removed.len(),
        r.removed_rows,
        bytes(r.removed_bytes),
        r.unchanged_files
    ));
    out
}

pub(crate) fn schema_text(r: &SchemaReport) -> String {
    let rows: Vec<Vec<String>> = r
        .fields
        .iter()
        .map(|f| vec![f.id.to_string(), f.name.clone(), f.data_type.clone()])
        .collect();
    let mut out = format!("Schema {}\n", r.id);
    out.push_str(&table(&["ID", "NAME", "TYPE"], &rows));
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    out.push_str(&format!("Partition keys: {}\n", list(&r.partition_keys)));
    out.push_str(&format!("Primary keys:   {}\n", list(&r.primary_keys)));
    if !r.options.is_empty() {
        out.push_str("Options:\n");
        for (k, v) in &r.options {
            out.push_str(&format!("  {k} = {}\n", v.as_str().unwrap_or_default()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tagkeeper::ops::delete_tag::Category;

    #[test]
    fn categories_read_as_words() {
        let cases = [
            (Category::Data, "data file", "data files"),
            (Category::Manifest, "manifest", "manifests"),
            (Category::ManifestList, "manifest list", "manifest lists"),
            (Category::Index, "index file", "index files"),
            (Category::Statistics, "statistics file", "statistics files"),
        ];
        for (c, one, many) in cases {
            assert_eq!(
                (category_one(&c).as_str(), category(&c).as_str()),
                (one, many)
            );
        }
        assert_eq!(
            tally_line(&Category::ManifestList, 4, 5443),
            "  manifest lists: 4 file(s), 5.3 KiB\n"
        );
    }

    /// Pieces come out in order whatever the number of workers, slow pieces included.
    #[test]
    fn pieces_are_written_in_order() {
        let format = |i: usize, buf: &mut Vec<u8>| {
            if i % 7 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            buf.extend_from_slice(format!("piece {i}\n").as_bytes());
        };
        let want: String = (0..50).map(|i| format!("piece {i}\n")).collect();
        for (n, workers) in [(50, 1), (50, 2), (50, 3), (50, 8), (50, 64)] {
            let mut out = Vec::new();
            write_pieces_in_order(n, workers, format, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{workers} workers");
        }
        let mut out = Vec::new();
        write_pieces_in_order(0, 4, format, &mut out).unwrap();
        assert!(out.is_empty());
    }

    /// A writer that fails (a closed pipe) stops the formatting and its error comes back; the
    /// workers end instead of waiting forever to hand over their pieces.
    #[test]
    fn a_failed_write_stops_the_workers() {
        struct FailsAfter(usize);
        impl Write for FailsAfter {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                self.0 -= 1;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let formatted = std::sync::atomic::AtomicUsize::new(0);
        let format = |i: usize, buf: &mut Vec<u8>| {
            formatted.fetch_add(1, Ordering::SeqCst);
            buf.extend_from_slice(format!("{i}\n").as_bytes());
        };
        let err = write_pieces_in_order(10_000, 2, format, &mut FailsAfter(3)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        // At most the three written, the failed one and what the two workers held.
        assert!(
            formatted.load(Ordering::SeqCst) <= 4 + 2 * 3,
            "{formatted:?}"
        );
    }

    /// Pieces are redacted one by one as the whole text would be.
    #[test]
    fn pieces_are_redacted() {
        let mut clean = b"{\n  \"path\": \"bucket-0/data-1.parquet\"\n}\n".to_vec();
        let before = clean.clone();
        redact_in_place(&mut clean);
        assert_eq!(clean, before);
        let text = "  \"path\": \"s3://AKIAEXAMPLE:secretvalue@bucket/x?X-Amz-Signature=abc\"\n";
        let mut piece = text.as_bytes().to_vec();
        redact_in_place(&mut piece);
        assert_eq!(
            String::from_utf8(piece).unwrap(),
            tagkeeper::redact::redact(text)
        );
        assert_ne!(tagkeeper::redact::redact(text), text);
    }

    #[test]
    fn file_lists_only_with_list() {
        let files = [(
            Category::Data,
            "bucket-0/data-1.parquet".to_string(),
            2048_i64,
        )];
        let lines = || file_lines(files.iter().map(|(c, p, b)| (c, p.as_str(), *b)));
        set_listing(false);
        assert_eq!(
            lines(),
            "  (1 file(s); --list shows each, --json has them all)\n"
        );
        set_listing(true);
        assert_eq!(lines(), "  bucket-0/data-1.parquet  2.0 KiB (data file)\n");
        set_listing(false);
        assert_eq!(file_lines(std::iter::empty::<(&Category, &str, i64)>()), "");
    }
}
