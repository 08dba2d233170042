//! `auto-tag`: one-shot (cron) or daemon (`--every`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use super::output::Printer;
use super::{parse_key_value, GlobalArgs};
use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::error::incomplete;
use tagkeeper::format::duration::parse_cli_duration;
use tagkeeper::io::open_location;
use tagkeeper::ops::auto_tag::{
    auto_tag_targets, discover, settings, AutoTagReport, AutoTagRun, Setting, Target,
};
use tagkeeper::{Error, FailedDeletion, Result};

/// `auto-tag` arguments. Settings come from each table's options; flags override them.
#[derive(Debug, Args)]
pub(crate) struct AutoTagArgs {
    /// Tables to tag.
    tables: Vec<String>,
    /// Also every table under this warehouse whose options enable tag.automatic-creation.
    #[arg(long, value_name = "URL")]
    warehouse: Option<String>,
    /// Only these databases of the warehouse (repeatable; name without .db).
    #[arg(long = "database", value_name = "DB", requires = "warehouse")]
    databases: Vec<String>,
    /// Show what would be created and deleted; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep running: a round now, then one per interval and at each period end (+ delay).
    /// Stops cleanly on SIGTERM or Ctrl-C after the tables in progress.
    #[arg(long, value_name = "DURATION")]
    every: Option<String>,
    /// Tables processed at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    table_concurrency: usize,
    /// tag.automatic-creation: process-time or watermark.
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// tag.creation-period: daily, hourly or two-hours.
    #[arg(long, value_name = "PERIOD")]
    period: Option<String>,
    /// tag.creation-period-duration (overrides the period; names yyyyMMddHHmm).
    #[arg(long, value_name = "DURATION")]
    period_duration: Option<String>,
    /// tag.creation-delay.
    #[arg(long, value_name = "DURATION")]
    delay: Option<String>,
    /// tag.period-formatter: with_dashes, without_dashes, without_dashes_and_spaces.
    #[arg(long, value_name = "FORMAT")]
    formatter: Option<String>,
    /// tag.num-retained-max.
    #[arg(long, value_name = "N")]
    num_retained_max: Option<u64>,
    /// tag.default-time-retained, written into new tags.
    #[arg(long, value_name = "DURATION")]
    time_retained: Option<String>,
    /// tag.automatic-completion: true or false.
    #[arg(long, value_name = "BOOL")]
    completion: Option<bool>,
    /// sink.process-time-zone and sink.watermark-time-zone (e.g. UTC, Asia/Shanghai, +08:00).
    #[arg(long, value_name = "ZONE")]
    time_zone: Option<String>,
    /// Any other table option override, KEY=VALUE (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    options: Vec<(String, String)>,
}

/// A duration as a table option value, in its largest exact unit (Java's parser takes a
/// 32-bit count of units).
fn java_duration(millis: u128) -> String {
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1000),
    ] {
        if millis % per == 0 {
            return format!("{} {unit}", millis / per);
        }
    }
    format!("{millis} ms")
}

impl AutoTagArgs {
    /// The flags as table option overrides. Durations given as flags need a unit (see
    /// [`parse_cli_duration`]) and are passed on in milliseconds with their unit.
    fn overrides(&self) -> Result<Vec<(String, String)>> {
        let duration = |flag: &str, v: &Option<String>| -> Result<Option<String>> {
            v.as_deref()
                .map(|t| {
                    parse_cli_duration(t)
                        .map(|d| java_duration(d.as_millis()))
                        .map_err(|e| Error::InvalidArgument(format!("{flag}: {e}")))
                })
                .transpose()
        };
        let period_duration = duration("--period-duration", &self.period_duration)?;
        let delay = duration("--delay", &self.delay)?;
        let time_retained = duration("--time-retained", &self.time_retained)?;
        let mut o: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                o.push((k.to_string(), v));
            }
        };
        set("tag.automatic-creation", self.mode.clone());
        set("tag.creation-period", self.period.clone());
        set("tag.creation-period-duration", period_duration);
        set("tag.creation-delay", delay);
        set("tag.period-formatter", self.formatter.clone());
        set(
            "tag.num-retained-max",
            self.num_retained_max.map(|n| n.to_string()),
        );
        set("tag.default-time-retained", time_retained);
        set(
            "tag.automatic-completion",
            self.completion.map(|b| b.to_string()),
        );
        set("sink.process-time-zone", self.time_zone.clone());
        set("sink.watermark-time-zone", self.time_zone.clone());
        o.extend(self.options.iter().cloned());
        Ok(o)
    }
}

/// The tables of one round with their settings (read once: the round and the daemon's
/// wake-up time both use them), and the reports of those that could not be opened or read.
/// `stop` is checked between tables, so a shutdown does not wait for a whole warehouse.
async fn targets(
    a: &AutoTagArgs,
    global: &GlobalArgs,
    overrides: &[(String, String)],
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<(Vec<Target>, Vec<AutoTagReport>)> {
    let opts = global.store_options();
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for t in &a.tables {
        if stop() {
            return Ok((found, failed));
        }
        let opened = match global.open(t).await {
            Ok(table) => settings(&table, overrides)
                .await
                .map(|setting| Target { table, setting }),
            Err(e) => Err(e),
        };
        match opened {
            Ok(target) => found.push(target),
            Err(e) => failed.push(AutoTagReport::failed(t, a.dry_run, &e)),
        }
    }
    if let Some(w) = &a.warehouse {
        // A warehouse's tables are discovered on main; a branch is named per table.
        global.refuse_branch("auto-tag --warehouse")?;
        let store = open_location(w, &opts)?;
        let d = discover(&store, &a.databases, overrides, stop).await?;
        found.extend(d.targets);
        failed.extend(
            d.failed
                .iter()
                .map(|(location, e)| AutoTagReport::failed(location, a.dry_run, e)),
        );
    }
    Ok((found, failed))
}

pub(crate) async fn run(a: AutoTagArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    if a.every.is_some() && global.timeout.is_some() {
        return Err(Error::InvalidArgument(
            "--timeout bounds one command; the daemon (--every) runs until stopped".into(),
        ));
    }
    if a.tables.is_empty() && a.warehouse.is_none() {
        return Err(Error::InvalidArgument(
            "name at least one TABLE, or --warehouse URL".into(),
        ));
    }
    let overrides = a.overrides()?;
    let every = a
        .every
        .as_deref()
        .map(|e| parse_cli_duration(e).map_err(|m| Error::InvalidArgument(format!("--every: {m}"))))
        .transpose()?;
    let run = AutoTagRun {
        overrides: overrides.clone(),
        dry_run: a.dry_run,
        skip_time_expire: false,
    };
    match every {
        None => once(&a, global, printer, &run).await,
        Some(every) if every < Duration::from_secs(1) => Err(Error::InvalidArgument(
            "--every must be at least 1 s".into(),
        )),
        Some(every) => daemon(&a, global, printer, &run, every).await,
    }
}

async fn once(
    a: &AutoTagArgs,
    global: &GlobalArgs,
    printer: &Printer,
    run: &AutoTagRun,
) -> Result<()> {
    let never = || false;
    let (tables, mut reports) = targets(a, global, &run.overrides, &never).await?;
    reports.extend(auto_tag_targets(tables, run, &SystemClock, a.table_concurrency, &never).await);
    let failed = reports.iter().filter(|r| r.status == "failed").count();
    // Deletions by tag retention that failed on tables that otherwise finished.
    let failed_deletions: Vec<FailedDeletion> = reports
        .iter()
        .flat_map(|r| r.retention.iter().chain(r.expired.iter()))
        .flat_map(|d| d.failed.iter().cloned())
        .collect();
    let doc = json!({"dry_run": run.dry_run, "tables": reports, "failed": failed});
    let failure = if failed > 0 {
        Some(Error::Incomplete(format!(
            "auto-tag failed on {failed} table(s); the others were processed"
        )))
    } else {
        incomplete("auto-tag", &failed_deletions)
    };
    printer.finish(
        &doc,
        |d| {
            let mut out = String::new();
            if let Some(rs) = d.get("tables").and_then(Value::as_array) {
                if rs.is_empty() {
                    out.push_str("No table has tag.automatic-creation enabled.\n");
                }
                for r in rs {
                    out.push_str(&table_text(r));
                }
            }
            out
        },
        failure,
    )
}

/// Human text for one table's report (rendered from its JSON form).
fn table_text(r: &Value) -> String {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let table = s(r, "table");
    match s(r, "status").as_str() {
        "failed" => return format!("{table}: FAILED: {}\n", s(r, "message")),
        "disabled" => return format!("{table}: skipped ({})\n", s(r, "message")),
        _ => {}
    }
    let mut out = format!(
        "{table}: {} snapshot(s) examined\n",
        r.get("snapshots_examined")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    );
    for line in action_lines(r) {
        out.push_str(&format!("  {}\n", line_text(&line)));
    }
    out
}

/// One line per action of a table's report: what the daemon logs.
fn action_lines(r: &Value) -> Vec<Value> {
    let table = r.get("table").cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    match r.get("status").and_then(Value::as_str) {
        Some("failed") => {
            out.push(json!({"table": table, "outcome": "failed", "error": r.get("message")}));
            return out;
        }
        Some("disabled") => {
            out.push(json!({"table": table, "outcome": "disabled", "reason": r.get("message")}));
            return out;
        }
        _ => {}
    }
    for t in r
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut line = json!({"table": table, "tag": t["tag"], "snapshot_id": t["snapshot_id"],
                              "outcome": t["outcome"]});
        for key in ["existing_snapshot_id", "reason"] {
            if let Some(v) = t.get(key) {
                line[key] = v.clone();
            }
        }
        out.push(line);
    }
    for m in r
        .get("missed")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for tag in m["tags"].as_array().into_iter().flatten() {
            out.push(
                json!({"table": table, "tag": tag, "snapshot_id": m["before_snapshot_id"],
                            "outcome": "missed", "reason": m["reason"]}),
            );
        }
    }
    for (key, outcome) in [("retention", "deleted_over_max"), ("expired", "expired")] {
        let deleted = r
            .get(key)
            .and_then(|d| d.get("deleted_tags"))
            .and_then(Value::as_array);
        for tag in deleted.into_iter().flatten() {
            let outcome = if r["dry_run"].as_bool() == Some(true) {
                format!("would_be_{outcome}")
            } else {
                outcome.to_string()
            };
            out.push(json!({"table": table, "tag": tag, "outcome": outcome}));
        }
        // Deletions that failed: the run is incomplete (the daemon logs them each round).
        let failed = r
            .get(key)
            .and_then(|d| d.get("failed"))
            .and_then(Value::as_array);
        for f in failed.into_iter().flatten() {
            out.push(
                json!({"table": table, "outcome": "failed_deletion", "path": f["path"],
                            "kind": f["kind"], "error": f["message"]}),
            );
        }
    }
    for n in r
        .get("notes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push(json!({"table": table, "outcome": "note", "note": n}));
    }
    out
}

fn line_text(l: &Value) -> String {
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
    for key in ["error", "reason", "note"] {
        if l.get(key).is_some() {
            text.push_str(&format!(": {}", field(key)));
        }
    }
    text
}

async fn daemon(
    a: &AutoTagArgs,
    global: &GlobalArgs,
    printer: &Printer,
    run: &AutoTagRun,
    every: Duration,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(tokio::sync::Notify::new());
    spawn_signal_listener(Arc::clone(&stop), Arc::clone(&wake))?;
    let clock = SystemClock;
    log(
        printer,
        json!({"event": "started", "every_secs": every.as_secs_f64()}),
    );
    let is_stopping = || stop.load(Ordering::SeqCst);
    // Steady-state lines (a period missed or past its retention, a note, a disabled table)
    // would come back every round unchanged: each is logged once. Actions and failures are
    // logged every time they happen.
    let mut logged_once: std::collections::HashSet<String> = std::collections::HashSet::new();
    while !is_stopping() {
        let (tables, failed_open) = match targets(a, global, &run.overrides, &is_stopping).await {
            Ok(t) => t,
            Err(e) => {
                // The warehouse itself could not be listed: report and try again next round.
                log(
                    printer,
                    json!({"outcome": "failed", "error": e.to_string()}),
                );
                (Vec::new(), Vec::new())
            }
        };
        let now = clock.now_millis();
        let mut next = now.saturating_add(i64::try_from(every.as_millis()).unwrap_or(i64::MAX));
        for t in &tables {
            if let Setting::Enabled(c) = &t.setting {
                if let Some(due) = c.next_period_end_millis(now) {
                    next = next.min(due);
                }
            }
        }
        let mut reports = failed_open;
        reports
            .extend(auto_tag_targets(tables, run, &clock, a.table_concurrency, &is_stopping).await);
        for r in &reports {
            match serde_json::to_value(r) {
                Ok(v) => {
                    for line in action_lines(&v) {
                        let steady = matches!(
                            line.get("outcome").and_then(Value::as_str),
                            Some("missed" | "skipped_expired" | "note" | "disabled")
                        );
                        if steady && !logged_once.insert(line.to_string()) {
                            continue;
                        }
                        log(printer, line);
                    }
                }
                Err(e) => printer.error_message(&format!("cannot render a report: {e}")),
            }
        }
        let wait = Duration::from_millis(u64::try_from(next - clock.now_millis()).unwrap_or(0));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
    log(printer, json!({"event": "stopped"}));
    Ok(())
}

/// Print one daemon log line: JSON with `--json`, else text; with the time.
fn log(printer: &Printer, mut line: Value) {
    let now = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    line["time"] = Value::String(now.clone());
    printer.line(&line, |l| {
        if let Some(e) = l.get("event").and_then(Value::as_str) {
            return format!("{} auto-tag {e}", now);
        }
        let table = l.get("table").and_then(Value::as_str).unwrap_or("");
        format!("{now} {table}: {}", line_text(l))
    });
}

/// Exit code when a second signal ends the daemon at once: 128 + the signal number, as a
/// shell reports a process killed by it (130 for SIGINT, 143 for SIGTERM).
const EXIT_SIGINT: i32 = 130;
#[cfg(unix)]
const EXIT_SIGTERM: i32 = 143;

/// The first SIGTERM or SIGINT sets `stop` (the daemon finishes the tables in progress and
/// exits 0); a second one exits at once. Tags are conditional creates and delete-tag can be
/// re-run, so an interrupted table is finished by the next run.
fn spawn_signal_listener(stop: Arc<AtomicBool>, wake: Arc<tokio::sync::Notify>) -> Result<()> {
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
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "auto-tag: second signal: exiting now, without finishing the tables in \
                     progress (a later run finishes them)"
                );
                std::process::exit(code);
            }
            wake.notify_one();
        }
    });
    Ok(())
}
