//! `consumers`, `reset-consumer`, `clear-consumers`, `expire-consumers`.

use clap::Args;

use super::output::{failed_text, Printer};
use super::GlobalArgs;
use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::error::incomplete;
use tagkeeper::ops::consumers::{self, ConsumersDeleted, ConsumersReport, ResetReport};
use tagkeeper::{Error, Result};

/// `consumers` arguments.
#[derive(Debug, Args)]
pub(crate) struct ConsumersArgs {
    /// The table.
    table: String,
}

/// `reset-consumer` arguments.
#[derive(Debug, Args)]
pub(crate) struct ResetConsumerArgs {
    /// The table.
    table: String,
    /// The consumer id (`consumer/consumer-<ID>`).
    id: String,
    /// The next snapshot the consumer reads (it must exist). Without it the consumer is
    /// deleted, as Java's reset_consumer does.
    #[arg(long)]
    snapshot: Option<i64>,
}

/// `clear-consumers` arguments.
#[derive(Debug, Args)]
pub(crate) struct ClearConsumersArgs {
    /// The table.
    table: String,
    /// Delete the consumers whose whole id matches this regular expression (default: all).
    #[arg(long, value_name = "REGEX")]
    including: Option<String>,
    /// ... except those whose whole id matches this one.
    #[arg(long, value_name = "REGEX")]
    excluding: Option<String>,
    /// Print what would be deleted and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `expire-consumers` arguments.
#[derive(Debug, Args)]
pub(crate) struct ExpireConsumersArgs {
    /// The table.
    table: String,
    /// Delete consumers whose file was last modified before this: a time (epoch ms, RFC 3339,
    /// local) or a duration ('1 d') before now (default: the table's consumer.expiration-time).
    #[arg(long, value_name = "TS|DURATION")]
    older_than: Option<String>,
    /// Print what would be deleted and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// A time or a duration before `now`, as --older-than takes it.
pub(crate) fn cutoff(o: &str, now: i64) -> Result<i64> {
    super::commands::parse_cutoff("--older-than", o, now)
}

pub(crate) async fn list(a: ConsumersArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let table = global.open(&a.table).await?;
    let report = consumers::list(&table).await?;
    printer.report(&report, list_text)
}

fn millis_text(m: i64) -> String {
    chrono::DateTime::from_timestamp_millis(m)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| m.to_string())
}

fn list_text(r: &ConsumersReport) -> String {
    if r.consumers.is_empty() {
        return "No consumers.\n".into();
    }
    let mut out = String::from("ID\tNEXT SNAPSHOT\tMODIFIED\n");
    for c in &r.consumers {
        out.push_str(&format!(
            "{}\t{}\t{}\n",
            c.id,
            c.next_snapshot,
            millis_text(c.modified_millis)
        ));
    }
    out
}

pub(crate) async fn reset(
    a: ResetConsumerArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let table = global.open(&a.table).await?;
    let report = consumers::reset(&table, &a.id, a.snapshot).await?;
    printer.report(&report, reset_text)
}

fn reset_text(r: &ResetReport) -> String {
    match (r.next_snapshot, r.previous) {
        (Some(n), Some(p)) => format!("Consumer '{}': next snapshot {p} -> {n}\n", r.id),
        (Some(n), None) => format!("Consumer '{}' created: next snapshot {n}\n", r.id),
        (None, Some(p)) => format!("Consumer '{}' deleted (its next snapshot was {p})\n", r.id),
        (None, None) => format!("Consumer '{}' does not exist; nothing to delete\n", r.id),
    }
}

pub(crate) async fn clear(
    a: ClearConsumersArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let table = global.open(&a.table).await?;
    if !a.dry_run && super::confirm::wanted(global) {
        let inc = a.including.as_deref();
        let preview = consumers::clear(&table, inc, a.excluding.as_deref(), true).await?;
        let question = "Delete these consumers?";
        super::confirm::ask_after(&preview, deleted_text, "clear-consumers", question, printer)
            .await?;
    }
    let report = consumers::clear(
        &table,
        a.including.as_deref(),
        a.excluding.as_deref(),
        a.dry_run,
    )
    .await?;
    let failure = incomplete("clear-consumers", &report.failed);
    printer.finish(&report, deleted_text, failure)
}

pub(crate) async fn expire(
    a: ExpireConsumersArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let table = global.open(&a.table).await?;
    let now = SystemClock.now_millis();
    let cut = match &a.older_than {
        Some(o) => cutoff(o, now)?,
        None => {
            let schema = table.latest_schema().await?;
            match consumers::expiration_millis(&schema.options)? {
                Some(ms) => now - ms,
                None => {
                    return Err(Error::InvalidArgument(
                        "the table sets no consumer.expiration-time: give --older-than".into(),
                    ))
                }
            }
        }
    };
    if !a.dry_run && super::confirm::wanted(global) {
        let preview = consumers::expire(&table, cut, true).await?;
        let question = "Delete these consumers?";
        super::confirm::ask_after(
            &preview,
            deleted_text,
            "expire-consumers",
            question,
            printer,
        )
        .await?;
    }
    let report = consumers::expire(&table, cut, a.dry_run).await?;
    let failure = incomplete("expire-consumers", &report.failed);
    printer.finish(&report, deleted_text, failure)
}

pub(crate) fn deleted_text(r: &ConsumersDeleted) -> String {
    let verb = if r.dry_run { "Would delete" } else { "Deleted" };
    let mut out = if r.deleted.is_empty() {
        "No consumer to delete.\n".to_string()
    } else {
        let ids: Vec<String> = r
            .deleted
            .iter()
            .map(|c| format!("{} (next snapshot {})", c.id, c.next_snapshot))
            .collect();
        format!("{verb} consumer(s): {}\n", ids.join(", "))
    };
    if !r.kept.is_empty() {
        let ids: Vec<&str> = r.kept.iter().map(|c| c.id.as_str()).collect();
        out.push_str(&format!("Kept: {}\n", ids.join(", ")));
    }
    out.push_str(&failed_text(&r.failed));
    out
}
