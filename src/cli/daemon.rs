//! The daemon loop shared by `auto-tag --every` and `maintain --every`: rounds, one event per
//! line on stderr, one summary line per round, the health file, Prometheus metrics on
//! `--metrics-addr`, and the exit policy (`--max-failed-rounds`, signals).
//!
//! The daemon writes nothing on stdout: a daemon has no single report, and stdout of a
//! supervised process usually ends up in the same log anyway. The pure parts (the state a
//! round updates, its metrics text, its health document, the HTTP answer) are plain functions
//! with unit tests; the loop only wires them to the clock, the sockets and the file system.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use serde_json::{json, Map, Value};

use super::output::{self, Printer};
use tagkeeper::format::duration::parse_cli_duration;
use tagkeeper::{Error, Result};

/// The flags every daemon takes.
#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    /// Keep running: a round now, then one per interval (auto-tag: also at each period end +
    /// delay). Events go to stderr, nothing to stdout. Stops cleanly on SIGTERM or Ctrl-C after
    /// the tables in progress (exit 0, or 2 when the last round had a failure).
    #[arg(long, value_name = "DURATION")]
    pub(crate) every: Option<String>,
    /// Daemon: after each round, replace FILE (written beside it, then renamed) with a JSON
    /// health document: the last round's times, each table's last success and last error.
    #[arg(long, value_name = "FILE", requires = "every")]
    health_file: Option<PathBuf>,
    /// Daemon: serve Prometheus metrics on http://HOST:PORT/metrics (port 0: any free port;
    /// the `started` event names the one bound).
    #[arg(long, value_name = "HOST:PORT", requires = "every")]
    metrics_addr: Option<String>,
    /// Daemon: exit with code 2 after N consecutive rounds in which some table failed
    /// (0: never).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FAILED_ROUNDS, requires = "every")]
    max_failed_rounds: u32,
}

/// Three rounds: a store hiccup that heals within a round or two does not restart the
/// daemon, while a table that stays broken ends it (its supervisor's restart count and exit
/// status then show the failure, which a log line alone would not).
const DEFAULT_MAX_FAILED_ROUNDS: u32 = 3;

impl DaemonArgs {
    /// The interval of `--every`, checked; `None` for a one-shot run.
    pub(crate) fn every(&self) -> Result<Option<Duration>> {
        let Some(text) = self.every.as_deref() else {
            return Ok(None);
        };
        let every = parse_cli_duration(text)
            .map_err(|m| Error::InvalidArgument(format!("--every: {m}")))?;
        if every < Duration::from_secs(1) {
            return Err(Error::InvalidArgument(
                "--every must be at least 1 s".into(),
            ));
        }
        Ok(Some(every))
    }
}

/// What one table's work in a round came to.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TableOutcome {
    /// The table's location (redacted before it is stored or shown).
    pub(crate) table: String,
    /// Why the table failed this round (an error, or deletions that failed); `None` when done.
    pub(crate) error: Option<String>,
    /// Done without work because its options do not enable the command (a disabled table).
    pub(crate) skipped: bool,
    pub(crate) tags_created: u64,
    pub(crate) tags_deleted: u64,
    pub(crate) snapshots_expired: u64,
    /// Its events, one log line each (without the time, added when logged).
    pub(crate) lines: Vec<Value>,
}

/// What a round came to.
#[derive(Debug, Default)]
pub(crate) struct RoundOutput {
    pub(crate) tables: Vec<TableOutcome>,
    /// Wake up at this time (epoch ms) if it comes before the next interval (a period end).
    pub(crate) wake_at_millis: Option<i64>,
}

/// One command's round, run by the daemon loop.
#[async_trait::async_trait(?Send)]
pub(crate) trait Rounds {
    /// Run one round; `stop` turns true on a signal (start no new table then).
    async fn round(&self, stop: &(dyn Fn() -> bool + Sync)) -> RoundOutput;
}

/// A table's record across rounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TableHealth {
    pub(crate) last_success: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<String>,
    pub(crate) last_error_time: Option<DateTime<Utc>>,
    pub(crate) consecutive_failures: u64,
    pub(crate) failures_total: u64,
}

/// Everything the daemon has counted: what the metrics, the health file and the exit policy
/// read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DaemonState {
    pub(crate) command: &'static str,
    pub(crate) max_failed_rounds: u32,
    pub(crate) rounds: u64,
    /// Rounds in which some table failed.
    pub(crate) round_failures: u64,
    pub(crate) consecutive_failed_rounds: u32,
    pub(crate) tags_created: u64,
    pub(crate) tags_deleted: u64,
    pub(crate) snapshots_expired: u64,
    pub(crate) last_round_start: Option<DateTime<Utc>>,
    pub(crate) last_round_end: Option<DateTime<Utc>>,
    pub(crate) last_round_secs: f64,
    pub(crate) tables: BTreeMap<String, TableHealth>,
}

/// The counts of one round: its summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RoundSummary {
    pub(crate) round: u64,
    pub(crate) tables: u64,
    pub(crate) done: u64,
    pub(crate) skipped: u64,
    pub(crate) failed: u64,
    pub(crate) tags_created: u64,
    pub(crate) tags_deleted: u64,
    pub(crate) snapshots_expired: u64,
    pub(crate) secs: f64,
    pub(crate) consecutive_failed_rounds: u32,
}

impl DaemonState {
    pub(crate) fn new(command: &'static str, max_failed_rounds: u32) -> Self {
        DaemonState {
            command,
            max_failed_rounds,
            rounds: 0,
            round_failures: 0,
            consecutive_failed_rounds: 0,
            tags_created: 0,
            tags_deleted: 0,
            snapshots_expired: 0,
            last_round_start: None,
            last_round_end: None,
            last_round_secs: 0.0,
            tables: BTreeMap::new(),
        }
    }

    /// Count a finished round.
    pub(crate) fn record(
        &mut self,
        tables: &[TableOutcome],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        secs: f64,
    ) -> RoundSummary {
        self.rounds += 1;
        let mut s = RoundSummary {
            round: self.rounds,
            secs,
            ..RoundSummary::default()
        };
        for t in tables {
            s.tables += 1;
            s.tags_created += t.tags_created;
            s.tags_deleted += t.tags_deleted;
            s.snapshots_expired += t.snapshots_expired;
            let h = self.tables.entry(t.table.clone()).or_default();
            match &t.error {
                Some(e) => {
                    s.failed += 1;
                    h.last_error = Some(e.clone());
                    h.last_error_time = Some(end);
                    h.consecutive_failures += 1;
                    h.failures_total += 1;
                }
                None => {
                    if t.skipped {
                        s.skipped += 1;
                    } else {
                        s.done += 1;
                    }
                    h.last_success = Some(end);
                    h.consecutive_failures = 0;
                }
            }
        }
        self.tags_created += s.tags_created;
        self.tags_deleted += s.tags_deleted;
        self.snapshots_expired += s.snapshots_expired;
        if s.failed > 0 {
            self.round_failures += 1;
            self.consecutive_failed_rounds = self.consecutive_failed_rounds.saturating_add(1);
        } else {
            self.consecutive_failed_rounds = 0;
        }
        s.consecutive_failed_rounds = self.consecutive_failed_rounds;
        self.last_round_start = Some(start);
        self.last_round_end = Some(end);
        self.last_round_secs = secs;
        s
    }

    /// `--max-failed-rounds` consecutive rounds failed: time to give up.
    pub(crate) fn gave_up(&self) -> bool {
        self.max_failed_rounds > 0 && self.consecutive_failed_rounds >= self.max_failed_rounds
    }
}

fn iso(t: &Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}

/// The health document (`--health-file`).
pub(crate) fn health_json(s: &DaemonState) -> Value {
    let tables: Map<String, Value> = s
        .tables
        .iter()
        .map(|(name, h)| {
            (
                name.clone(),
                json!({
                    "last_success": iso(&h.last_success),
                    "last_error": h.last_error,
                    "last_error_time": iso(&h.last_error_time),
                    "consecutive_failures": h.consecutive_failures,
                }),
            )
        })
        .collect();
    json!({
        "command": s.command,
        "pid": std::process::id(),
        "round": s.rounds,
        "last_round_start": iso(&s.last_round_start),
        "last_round_end": iso(&s.last_round_end),
        "last_round_duration_secs": s.last_round_secs,
        "consecutive_failed_rounds": s.consecutive_failed_rounds,
        "max_failed_rounds": s.max_failed_rounds,
        "tables": tables,
    })
}

/// A label value in the Prometheus text format: backslash, double quote and line feed escaped.
fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The metrics in the Prometheus text exposition format (version 0.0.4).
pub(crate) fn render_metrics(s: &DaemonState) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let one = |v: String| [(String::new(), v)];
    family(
        "tagkeeper_up",
        "gauge",
        "1 while the daemon runs.",
        &one("1".into()),
    );
    family(
        "tagkeeper_rounds_total",
        "counter",
        "Rounds finished.",
        &one(s.rounds.to_string()),
    );
    family(
        "tagkeeper_round_failures_total",
        "counter",
        "Rounds in which some table failed.",
        &one(s.round_failures.to_string()),
    );
    family(
        "tagkeeper_consecutive_failed_rounds",
        "gauge",
        "Rounds in a row, up to the last, in which some table failed.",
        &one(s.consecutive_failed_rounds.to_string()),
    );
    family(
        "tagkeeper_tags_created_total",
        "counter",
        "Tags created.",
        &one(s.tags_created.to_string()),
    );
    family(
        "tagkeeper_tags_deleted_total",
        "counter",
        "Tags deleted by retention or expiration.",
        &one(s.tags_deleted.to_string()),
    );
    family(
        "tagkeeper_snapshots_expired_total",
        "counter",
        "Snapshots expired.",
        &one(s.snapshots_expired.to_string()),
    );
    family(
        "tagkeeper_last_round_duration_seconds",
        "gauge",
        "How long the last round took.",
        &one(format!("{}", s.last_round_secs)),
    );
    let label = |t: &str| format!("{{table=\"{}\"}}", label_value(t));
    let failures: Vec<(String, String)> = s
        .tables
        .iter()
        .map(|(t, h)| (label(t), h.failures_total.to_string()))
        .collect();
    family(
        "tagkeeper_table_failures_total",
        "counter",
        "Rounds in which the table failed.",
        &failures,
    );
    let successes: Vec<(String, String)> = s
        .tables
        .iter()
        .filter_map(|(t, h)| {
            h.last_success.map(|when| {
                let secs = when.timestamp_millis() as f64 / 1000.0;
                (label(t), format!("{secs}"))
            })
        })
        .collect();
    family(
        "tagkeeper_table_last_success_timestamp_seconds",
        "gauge",
        "When the table last finished a round without failure (Unix time).",
        &successes,
    );
    out
}

/// The HTTP/1.1 answer to a request whose head (request line and headers) is `head`: the
/// metrics on `GET /metrics`, 405 for another method there, 404 anywhere else.
pub(crate) fn http_response(head: &str, metrics: impl FnOnce() -> String) -> String {
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let method = words.next().unwrap_or_default();
    // The query string does not select anything.
    let path = words
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics(),
        ),
        (_, "/metrics") => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
        _ => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found; metrics are at /metrics\n".to_string(),
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The state behind a mutex; a panic elsewhere while holding it cannot poison what is only
/// counters, so a poisoned lock is used as it is.
fn lock(state: &Mutex<DaemonState>) -> std::sync::MutexGuard<'_, DaemonState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Listen on `addr` and answer each connection from its own task.
async fn serve_metrics(addr: &str, state: Arc<Mutex<DaemonState>>) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::InvalidArgument(format!("--metrics-addr {addr}: cannot listen: {e}"))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::InvalidArgument(format!("--metrics-addr {addr}: {e}")))?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((socket, _)) => {
                    tokio::spawn(answer(socket, Arc::clone(&state)));
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(e) => {
                    tracing::warn!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(bound)
}

/// Read the request head (bounded in size and time: a client that never sends one does not
/// hold a task forever) and write the answer.
async fn answer(mut socket: tokio::net::TcpStream, state: Arc<Mutex<DaemonState>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::with_capacity(1024);
    let read = async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .is_err()
    {
        return;
    }
    let response = http_response(&String::from_utf8_lossy(&head), || {
        render_metrics(&lock(&state))
    });
    // Metrics hold table labels already redacted; redact again as every output is.
    let response = tagkeeper::redact::redact(&response);
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// Replace `path` with `body`: written to a temporary file beside it, then renamed over it,
/// so a reader (a liveness probe) never sees half a document.
pub(crate) fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes the daemon's events: one line each on stderr, JSON with `--json`; with `-q` only
/// errors.
struct EventLog {
    command: &'static str,
    json: bool,
    quiet: bool,
}

impl EventLog {
    fn info(&self, line: Value) {
        if !self.quiet {
            self.write("info", line);
        }
    }

    fn error(&self, line: Value) {
        self.write("error", line);
    }

    fn write(&self, level: &str, mut line: Value) {
        let now = chrono::Local::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        if let Value::Object(map) = &mut line {
            // Time and level first: the order a reader scans a log in.
            let mut ordered = Map::new();
            ordered.insert("time".into(), Value::String(now.clone()));
            ordered.insert("level".into(), Value::String(level.into()));
            ordered.append(map);
            *map = ordered;
        }
        let text = if self.json {
            line.to_string()
        } else {
            self.text(&now, &line)
        };
        output::eprintln_safe(&text);
    }

    fn text(&self, now: &str, l: &Value) -> String {
        let command = self.command;
        match l.get("event").and_then(Value::as_str) {
            Some("round") => {
                let n = |k: &str| l.get(k).and_then(Value::as_u64).unwrap_or(0);
                format!(
                    "{now} {command} round {}: {} table(s): {} done, {} skipped, {} failed; \
                     {} tag(s) created, {} tag(s) deleted, {} snapshot(s) expired; {:.3} s",
                    n("round"),
                    n("tables"),
                    n("done"),
                    n("skipped"),
                    n("failed"),
                    n("tags_created"),
                    n("tags_deleted"),
                    n("snapshots_expired"),
                    l.get("duration_secs")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0)
                )
            }
            Some(event) => {
                let mut out = format!("{now} {command} {event}");
                for (k, v) in l.as_object().into_iter().flatten() {
                    if ["time", "level", "event"].contains(&k.as_str()) || v.is_null() {
                        continue;
                    }
                    out.push_str(&format!(" {k}={}", scalar(v)));
                }
                out
            }
            None => {
                let table = l.get("table").and_then(Value::as_str).unwrap_or("");
                format!("{now} {table}: {}", line_text(l))
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // An error object reads as its message.
        Value::Object(o) if o.contains_key("message") => scalar(&o["message"]),
        v => v.to_string(),
    }
}

/// The text form of a table's event line.
pub(crate) fn line_text(l: &Value) -> String {
    let field = |k: &str| match l.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let mut text = field("outcome");
    if l.get("tag").is_some() {
        text.push_str(&format!(" {}", field("tag")));
    }
    if l.get("snapshot_id").is_some() {
        text.push_str(&format!(" (snapshot {})", field("snapshot_id")));
    }
    for key in ["count", "first", "last", "consumer", "path"] {
        if l.get(key).is_some() {
            text.push_str(&format!(" {key}={}", field(key)));
        }
    }
    for key in ["error", "reason", "note"] {
        if l.get(key).is_some() {
            text.push_str(&format!(": {}", field(key)));
        }
    }
    text
}

/// Outcomes that describe a state, not an action: they would come back every round
/// unchanged, so each is logged once.
fn is_steady(line: &Value) -> bool {
    matches!(
        line.get("outcome").and_then(Value::as_str),
        Some("missed" | "skipped_expired" | "note" | "disabled")
    )
}

fn is_error(line: &Value) -> bool {
    matches!(
        line.get("outcome").and_then(Value::as_str),
        Some("failed" | "failed_deletion")
    )
}

/// Which lines of a round to log. A table's error lines are logged when they first appear
/// and when they change, not again while the table keeps failing the same way (the round's
/// summary and the metrics still count each failure); when the table succeeds again, a
/// `recovered` line says so.
#[derive(Debug, Default)]
struct Dedup {
    steady: HashSet<String>,
    errors: HashMap<String, HashSet<String>>,
}

impl Dedup {
    fn filter(&mut self, t: &TableOutcome) -> Vec<(bool, Value)> {
        let mut out = Vec::new();
        let mut errors = HashSet::new();
        for line in &t.lines {
            let key = line.to_string();
            if is_error(line) {
                let seen = self
                    .errors
                    .get(&t.table)
                    .is_some_and(|set| set.contains(&key));
                if !seen {
                    out.push((true, line.clone()));
                }
                errors.insert(key);
            } else if !is_steady(line) || self.steady.insert(key) {
                out.push((false, line.clone()));
            }
        }
        if t.error.is_none() {
            if self.errors.remove(&t.table).is_some() {
                out.push((false, json!({"table": t.table, "outcome": "recovered"})));
            }
        } else {
            self.errors.insert(t.table.clone(), errors);
        }
        out
    }
}

/// Run `rounds` until a signal, or until `--max-failed-rounds` rounds in a row failed.
/// Returns the exit code.
pub(crate) async fn run(
    command: &'static str,
    args: &DaemonArgs,
    every: Duration,
    printer: &Printer,
    rounds: &dyn Rounds,
) -> Result<u8> {
    let log = EventLog {
        command,
        json: printer.is_json(),
        quiet: printer.is_quiet(),
    };
    let state = Arc::new(Mutex::new(DaemonState::new(
        command,
        args.max_failed_rounds,
    )));
    // Both checked before the first round: a daemon that cannot report its health must not
    // look healthy by running.
    if let Some(path) = &args.health_file {
        write_health(path, &lock(&state))?;
    }
    let metrics = match &args.metrics_addr {
        Some(addr) => Some(serve_metrics(addr, Arc::clone(&state)).await?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(tokio::sync::Notify::new());
    spawn_signal_listener(command, Arc::clone(&stop), Arc::clone(&wake))?;
    let is_stopping = || stop.load(Ordering::SeqCst);
    log.info(json!({
        "event": "started",
        "every_secs": every.as_secs_f64(),
        "metrics_addr": metrics.map(|a| a.to_string()),
        "health_file": args.health_file.as_ref().map(|p| p.display().to_string()),
        "max_failed_rounds": args.max_failed_rounds,
    }));
    let mut dedup = Dedup::default();
    let mut last_failed = false;
    while !is_stopping() {
        let start = Utc::now();
        let timer = Instant::now();
        let mut out = rounds.round(&is_stopping).await;
        let secs = timer.elapsed().as_secs_f64();
        let end = Utc::now();
        for t in &mut out.tables {
            // The one place locations enter the daemon's state: labels, health and lines all
            // show the redacted form.
            t.table = tagkeeper::redact::redact(&t.table);
        }
        for t in &out.tables {
            for (error, line) in dedup.filter(t) {
                if error {
                    log.error(line);
                } else {
                    log.info(line);
                }
            }
        }
        let (summary, health, gave_up) = {
            let mut s = lock(&state);
            let summary = s.record(&out.tables, start, end, secs);
            (summary, health_json(&s), s.gave_up())
        };
        last_failed = summary.failed > 0;
        // The health file first: whoever reads the summary line finds the file as new.
        if let Some(path) = &args.health_file {
            if let Err(e) = write_health_value(path, &health) {
                log.error(json!({"event": "health_file_failed", "error": e.to_string()}));
            }
        }
        log.info(json!({
            "event": "round",
            "round": summary.round,
            "tables": summary.tables,
            "done": summary.done,
            "skipped": summary.skipped,
            "failed": summary.failed,
            "tags_created": summary.tags_created,
            "tags_deleted": summary.tags_deleted,
            "snapshots_expired": summary.snapshots_expired,
            "duration_secs": summary.secs,
            "consecutive_failed_rounds": summary.consecutive_failed_rounds,
        }));
        if gave_up {
            let e = Error::Incomplete(format!(
                "{command}: {} consecutive round(s) had failing tables (--max-failed-rounds {}); \
                 exiting so that the failure is seen",
                summary.consecutive_failed_rounds, args.max_failed_rounds
            ));
            log.error(json!({
                "event": "stopped",
                "reason": "max_failed_rounds",
                "exit_code": e.exit_code(),
                "error": output::error_value(e.kind(), &e.to_string(), e.exit_code()),
            }));
            return Ok(e.exit_code());
        }
        let now = Utc::now().timestamp_millis();
        let mut next = now.saturating_add(i64::try_from(every.as_millis()).unwrap_or(i64::MAX));
        if let Some(due) = out.wake_at_millis {
            next = next.min(due);
        }
        let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
    // A signal ends the daemon; its code still says whether the tables were healthy.
    let code = if last_failed { 2 } else { 0 };
    log.info(json!({"event": "stopped", "reason": "signal", "exit_code": code}));
    Ok(code)
}

fn write_health(path: &Path, s: &DaemonState) -> Result<()> {
    write_health_value(path, &health_json(s))
}

fn write_health_value(path: &Path, doc: &Value) -> Result<()> {
    // Errors quote what the store said, which may hold a URL with credentials: the file is
    // output like any other.
    let body = tagkeeper::redact::redact(&format!("{doc:#}\n"));
    write_atomically(path, body.as_bytes()).map_err(|e| {
        Error::InvalidArgument(format!(
            "--health-file {}: cannot write: {e}",
            path.display()
        ))
    })
}

/// The library's log events in a daemon run with `--json`: one JSON object per line, like the
/// daemon's own events, so that stderr stays machine-readable line by line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonLogLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLogLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = FieldsToJson(Map::new());
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "time".into(),
            Value::String(chrono::Local::now().to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().as_str().to_ascii_lowercase()),
        );
        line.append(&mut fields.0);
        writeln!(writer, "{}", Value::Object(line))
    }
}

struct FieldsToJson(Map<String, Value>);

impl tracing::field::Visit for FieldsToJson {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

/// Exit code when a second signal ends the daemon at once: 128 + the signal number, as a
/// shell reports a process killed by it (130 for SIGINT, 143 for SIGTERM).
const EXIT_SIGINT: i32 = 130;
#[cfg(unix)]
const EXIT_SIGTERM: i32 = 143;

/// The first SIGTERM or SIGINT sets `stop` (the daemon finishes the tables in progress and
/// exits); a second one exits at once. Tags are conditional creates and every deletion can be
/// re-run, so an interrupted table is finished by the next run.
fn spawn_signal_listener(
    command: &'static str,
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
) -> Result<()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::InvalidArgument(format!("cannot listen for SIGTERM: {e}")))?;
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            let code = tokio::select! {
                _ = tokio::signal::ctrl_c() => EXIT_SIGINT,
                _ = term.recv() => EXIT_SIGTERM,
            };
            #[cfg(not(unix))]
            let code = {
                let _ = tokio::signal::ctrl_c().await;
                EXIT_SIGINT
            };
            if stop.swap(true, Ordering::SeqCst) {
                output::eprintln_safe(&format!(
                    "{command}: second signal: exiting now, without finishing the tables in \
                     progress (a later run finishes them)"
                ));
                std::process::exit(code);
            }
            wake.notify_one();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn ok(table: &str, created: u64) -> TableOutcome {
        TableOutcome {
            table: table.into(),
            tags_created: created,
            ..TableOutcome::default()
        }
    }

    fn failed(table: &str, error: &str) -> TableOutcome {
        TableOutcome {
            table: table.into(),
            error: Some(error.into()),
            lines: vec![json!({"table": table, "outcome": "failed", "error": error})],
            ..TableOutcome::default()
        }
    }

    #[test]
    fn record_counts_rounds_failures_and_gives_up_after_n_failed_rounds_in_a_row() {
        let mut s = DaemonState::new("auto-tag", 2);
        let r1 = s.record(&[ok("a", 3), failed("b", "boom")], at(100), at(101), 1.5);
        assert_eq!(
            r1,
            RoundSummary {
                round: 1,
                tables: 2,
                done: 1,
                failed: 1,
                tags_created: 3,
                secs: 1.5,
                consecutive_failed_rounds: 1,
                ..RoundSummary::default()
            }
        );
        assert!(!s.gave_up());
        // A round without failure resets the count.
        s.record(&[ok("a", 0), ok("b", 0)], at(200), at(201), 1.0);
        assert_eq!(s.consecutive_failed_rounds, 0);
        s.record(&[failed("b", "boom")], at(300), at(301), 1.0);
        assert!(!s.gave_up());
        s.record(&[failed("b", "boom")], at(400), at(401), 1.0);
        assert!(s.gave_up());
        assert_eq!((s.rounds, s.round_failures, s.tags_created), (4, 3, 3));
        let b = &s.tables["b"];
        assert_eq!(b.failures_total, 3);
        assert_eq!(b.consecutive_failures, 2);
        assert_eq!(b.last_success, Some(at(201)));
        assert_eq!(b.last_error_time, Some(at(401)));
        // 0: never gives up.
        let mut never = DaemonState::new("maintain", 0);
        for i in 0..10 {
            never.record(&[failed("b", "boom")], at(i), at(i), 0.0);
        }
        assert!(!never.gave_up());
    }

    #[test]
    fn metrics_text_is_exact_with_escaped_labels() {
        let mut s = DaemonState::new("auto-tag", 3);
        let weird = "s3://b/wh/x\"y\\z\nq";
        s.record(
            &[ok("/wh/db.db/a", 2), failed(weird, "e")],
            at(1_700_000_000),
            at(1_700_000_001),
            0.25,
        );
        let text = render_metrics(&s);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "tagkeeper_up 1",
                "tagkeeper_rounds_total 1",
                "tagkeeper_round_failures_total 1",
                "tagkeeper_consecutive_failed_rounds 1",
                "tagkeeper_tags_created_total 2",
                "tagkeeper_tags_deleted_total 0",
                "tagkeeper_snapshots_expired_total 0",
                "tagkeeper_last_round_duration_seconds 0.25",
                "tagkeeper_table_failures_total{table=\"/wh/db.db/a\"} 0",
                "tagkeeper_table_failures_total{table=\"s3://b/wh/x\\\"y\\\\z\\nq\"} 1",
                "tagkeeper_table_last_success_timestamp_seconds{table=\"/wh/db.db/a\"} 1700000001",
            ]
        );
        // Every family has its HELP and TYPE lines, just before its samples.
        assert!(text.starts_with(
            "# HELP tagkeeper_up 1 while the daemon runs.\n# TYPE tagkeeper_up gauge\n"
        ));
        assert!(text.contains(
            "# TYPE tagkeeper_table_failures_total counter\ntagkeeper_table_failures_total{"
        ));
        assert_eq!(text.matches("# HELP ").count(), 10);
        assert_eq!(text.matches("# TYPE ").count(), 10);
    }

    #[test]
    fn health_document_names_times_in_iso_8601_utc() {
        let mut s = DaemonState::new("maintain", 3);
        let fresh = health_json(&s);
        assert_eq!(fresh["round"], 0);
        assert_eq!(fresh["last_round_end"], Value::Null);
        s.record(&[ok("a", 0), failed("b", "boom")], at(0), at(2), 2.0);
        let h = health_json(&s);
        assert_eq!(h["command"], "maintain");
        assert_eq!(h["round"], 1);
        assert_eq!(h["last_round_start"], "1970-01-01T00:00:00.000Z");
        assert_eq!(h["last_round_end"], "1970-01-01T00:00:02.000Z");
        assert_eq!(h["consecutive_failed_rounds"], 1);
        assert_eq!(h["max_failed_rounds"], 3);
        assert_eq!(
            h["tables"],
            json!({
                "a": {"last_success": "1970-01-01T00:00:02.000Z", "last_error": null,
                      "last_error_time": null, "consecutive_failures": 0},
                "b": {"last_success": null, "last_error": "boom",
                      "last_error_time": "1970-01-01T00:00:02.000Z", "consecutive_failures": 1},
            })
        );
    }

    #[test]
    fn http_answers_metrics_404_and_405() {
        let get = http_response("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", || {
            "m 1\n".into()
        });
        assert_eq!(
            get,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\nm 1\n"
        );
        let query = http_response("GET /metrics?x=1 HTTP/1.1\r\n\r\n", || "m\n".into());
        assert!(query.starts_with("HTTP/1.1 200 OK\r\n"));
        let other = http_response("GET / HTTP/1.1\r\n\r\n", || unreachable!());
        assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n"));
        let post = http_response("POST /metrics HTTP/1.1\r\n\r\n", || unreachable!());
        assert!(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(http_response("", || unreachable!()).starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn repeated_errors_are_logged_once_and_recovery_is_logged() {
        let mut d = Dedup::default();
        let lines = |o: Vec<(bool, Value)>| -> Vec<String> {
            o.into_iter()
                .map(|(e, l)| format!("{e} {}", l["outcome"].as_str().unwrap()))
                .collect()
        };
        assert_eq!(lines(d.filter(&failed("b", "boom"))), ["true failed"]);
        assert!(d.filter(&failed("b", "boom")).is_empty());
        // A different error is logged.
        assert_eq!(lines(d.filter(&failed("b", "bang"))), ["true failed"]);
        assert_eq!(lines(d.filter(&ok("b", 0))), ["false recovered"]);
        assert!(d.filter(&ok("b", 0)).is_empty());
        assert_eq!(lines(d.filter(&failed("b", "bang"))), ["true failed"]);
    }

    #[test]
    fn health_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
