//! `auto-tag`: one-shot (cron) or daemon (`--every`, run by [`super::daemon`]).

use clap::Args;
use serde_json::{json, Value};

use super::daemon::{self, line_text, DaemonArgs, RoundOutput, Rounds, TableOutcome};
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
    // The daemon (`--every`): besides each interval, it also wakes at each period end (+ delay).
    #[command(flatten)]
    pub(crate) daemon: DaemonArgs,
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

pub(crate) async fn run(a: AutoTagArgs, global: &GlobalArgs, printer: &Printer) -> Result<u8> {
    let every = a.daemon.every()?;
    if every.is_some() && global.timeout.is_some() {
        return Err(Error::InvalidArgument(
            "--timeout bounds one command; the daemon (--every) runs until stopped".into(),
        ));
    }
    if a.tables.is_empty() && a.warehouse.is_none() {
        return Err(Error::InvalidArgument(
            "name at least one TABLE, or --warehouse URL".into(),
        ));
    }
    if a.warehouse.is_some() {
        // Checked before a daemon starts, not failed in each of its rounds.
        global.refuse_branch("auto-tag --warehouse")?;
    }
    let overrides = a.overrides()?;
    let run = AutoTagRun {
        overrides,
        dry_run: a.dry_run,
        skip_time_expire: false,
    };
    match every {
        None => once(&a, global, printer, &run).await.map(|()| 0),
        Some(every) => {
            let rounds = AutoTagRounds {
                a: &a,
                global,
                run: &run,
            };
            daemon::run("auto-tag", &a.daemon, every, printer, &rounds).await
        }
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

/// One round of the auto-tag daemon.
struct AutoTagRounds<'a> {
    a: &'a AutoTagArgs,
    global: &'a GlobalArgs,
    run: &'a AutoTagRun,
}

#[async_trait::async_trait(?Send)]
impl Rounds for AutoTagRounds<'_> {
    async fn round(&self, stop: &(dyn Fn() -> bool + Sync)) -> RoundOutput {
        let clock = SystemClock;
        let (tables, failed_open) =
            match targets(self.a, self.global, &self.run.overrides, stop).await {
                Ok(t) => t,
                Err(e) => {
                    // The warehouse itself could not be listed: a failure of this round, under the
                    // warehouse's name; the next round tries again.
                    let w = self.a.warehouse.clone().unwrap_or_default();
                    let report = AutoTagReport::failed(&w, self.run.dry_run, &e);
                    (Vec::new(), vec![report])
                }
            };
        // The next period end of any process-time table, read from the settings of this round.
        let now = clock.now_millis();
        let wake_at_millis = tables
            .iter()
            .filter_map(|t| match &t.setting {
                Setting::Enabled(c) => c.next_period_end_millis(now),
                _ => None,
            })
            .min();
        let mut reports = failed_open;
        reports.extend(
            auto_tag_targets(tables, self.run, &clock, self.a.table_concurrency, stop).await,
        );
        RoundOutput {
            tables: reports.iter().map(table_outcome).collect(),
            wake_at_millis,
        }
    }
}

/// A table's report as the daemon counts and logs it. Deletions that failed make the table
/// failed for the round, as they make a one-shot run incomplete.
pub(crate) fn table_outcome(r: &AutoTagReport) -> TableOutcome {
    let lines = match serde_json::to_value(r) {
        Ok(v) => action_lines(&v),
        Err(e) => vec![json!({"table": r.table, "outcome": "failed",
                              "error": format!("cannot render the report: {e}")})],
    };
    let deletions = || r.retention.iter().chain(r.expired.iter());
    let failed_deletions: usize = deletions().map(|d| d.failed.len()).sum();
    let error = match (r.status, failed_deletions) {
        ("failed", _) => Some(r.message.clone().unwrap_or_default()),
        (_, 0) => None,
        (_, n) => Some(format!("{n} deletion(s) failed")),
    };
    let real = |n: usize| if r.dry_run { 0 } else { n as u64 };
    TableOutcome {
        table: r.table.clone(),
        error,
        skipped: r.status == "disabled",
        tags_created: r.tags.iter().filter(|t| t.outcome == "created").count() as u64,
        tags_deleted: real(deletions().map(|d| d.deleted_tags.len()).sum()),
        snapshots_expired: 0,
        lines,
    }
}
