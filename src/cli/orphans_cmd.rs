//! `remove-orphan-files` and `check`.

use clap::Args;

use super::output::{bytes, failed_text, file_lines, tally_line, Printer};
use super::GlobalArgs;
use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::error::incomplete;
use tagkeeper::ops::check::{check, CheckOptions, CheckReport};
use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions, OrphanReport};
use tagkeeper::{Error, Result};

/// `remove-orphan-files` arguments.
#[derive(Debug, Args)]
pub(crate) struct OrphansArgs {
    /// The table (or none, with --warehouse).
    #[arg(required_unless_present = "warehouse")]
    table: Option<String>,
    /// Every table of this warehouse (`<db>.db/<table>/`), one after the other, as Java's
    /// `remove_orphan_files('db.*')` does per database. A table that fails is reported and
    /// the others go on.
    #[arg(long, value_name = "URL", conflicts_with_all = ["table", "plan_out"])]
    warehouse: Option<String>,
    /// Only these databases of the warehouse (repeatable; name without .db).
    #[arg(long = "database", value_name = "DB", requires = "warehouse")]
    databases: Vec<String>,
    /// Delete only files last modified before this: a time (epoch ms, RFC 3339, local time) or
    /// a duration before now ('2d', '36 h'). Default: 1 day. A cutoff in the future or less than
    /// an hour ago is refused without --force: it is the only protection of files a running
    /// commit has written but not yet committed.
    #[arg(long, value_name = "TS|DURATION")]
    older_than: Option<String>,
    /// List the orphans (with sizes) and delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Accept a cutoff in the future or less than an hour old (only when no writer is running).
    #[arg(long)]
    force: bool,
    /// Save the plan (with the table's state) to FILE and delete nothing; `apply-plan FILE`
    /// deletes exactly those files later, unless the table changed meanwhile.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<std::path::PathBuf>,
}

/// `check` arguments.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The table.
    table: String,
    /// Also compare every file's size with the recorded one and read every Parquet footer.
    #[arg(long)]
    deep: bool,
}

/// A run that could not delete everything ends `incomplete` (exit 2); its report, the one
/// JSON document, carries the failures and the `error` member.
pub(crate) async fn run_orphans(
    a: OrphansArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<u8> {
    let clock = SystemClock;
    let now = clock.now_millis();
    let older_than_millis = match &a.older_than {
        None => None,
        Some(o) => Some(super::commands::parse_cutoff("--older-than", o, now)?),
    };
    let opts = OrphanOptions {
        older_than_millis,
        force: a.force,
    };
    if let Some(w) = &a.warehouse {
        return run_warehouse(w, &a.databases, &opts, a.dry_run, global, printer).await;
    }
    let location = a.table.as_deref().unwrap_or_default();
    let table = global.open(location).await?;
    let report = if let Some(out) = &a.plan_out {
        let plan = tagkeeper::ops::orphans::plan(&table, &opts, &clock).await?;
        let report = OrphanReport::of(&plan, true);
        let saved = tagkeeper::ops::saved_plan::PlannedCommand::RemoveOrphanFiles(plan);
        super::plan_cmd::save(&table, saved, out).await?;
        report
    } else if !a.dry_run && super::confirm::wanted(global) {
        let plan = tagkeeper::ops::orphans::plan(&table, &opts, &clock).await?;
        let preview = OrphanReport::of(&plan, true);
        let planned = tagkeeper::ops::saved_plan::PlannedCommand::RemoveOrphanFiles(plan);
        let question = "Delete these orphan files?";
        return super::confirm::preview_then_apply(
            &table,
            planned,
            &preview,
            orphans_text,
            question,
            printer,
        )
        .await
        .map(|()| 0);
    } else {
        remove_orphan_files(&table, &opts, a.dry_run, &clock).await?
    };
    printer.warnings(&report.notes);
    let failure = incomplete("remove-orphan-files", &report.failed);
    printer.finish(&report, orphans_text, failure).map(|()| 0)
}

/// One table of a warehouse-wide run: its report, or why it failed.
#[derive(Debug, serde::Serialize)]
struct TableOrphans {
    table: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    report: Option<OrphanReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

/// A warehouse-wide run: every table's report, in database and table order.
#[derive(Debug, serde::Serialize)]
struct WarehouseOrphans {
    dry_run: bool,
    warehouse: String,
    tables: Vec<TableOrphans>,
    /// Files deleted (or that would be) over all tables, and their bytes.
    files: u64,
    bytes: i64,
    /// Tables that failed or could not delete everything.
    failed: usize,
}

/// `remove-orphan-files --warehouse`: each table (a directory with a schema) in turn, through
/// the same code as one table. Exit 2 (`incomplete`) when any table failed.
async fn run_warehouse(
    warehouse: &str,
    databases: &[String],
    opts: &OrphanOptions,
    dry_run: bool,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<u8> {
    global.refuse_branch("remove-orphan-files")?;
    let store = tagkeeper::io::open_location(warehouse, &global.store_options())?;
    let listing = tagkeeper::ops::warehouse::list(&store, databases, &|| false).await?;
    let mut out = WarehouseOrphans {
        dry_run,
        warehouse: warehouse.to_string(),
        tables: Vec::new(),
        files: 0,
        bytes: 0,
        failed: 0,
    };
    let failure = |table: String, e: &Error| TableOrphans {
        table,
        report: None,
        error: Some(serde_json::json!({"kind": e.kind(), "message": e.to_string()})),
    };
    for (location, e) in &listing.failed {
        out.tables.push(failure(location.clone(), e));
    }
    for table in listing.candidates {
        match table.schema_ids().await {
            Ok(ids) if ids.is_empty() => continue, // not a table
            Ok(_) => {}
            Err(e) => {
                out.tables.push(failure(table.location().to_string(), &e));
                continue;
            }
        }
        match remove_orphan_files(&table, opts, dry_run, &SystemClock).await {
            Ok(r) => {
                out.files += r.deleted.values().map(|t| t.files).sum::<u64>();
                out.bytes += r.deleted.values().map(|t| t.bytes).sum::<i64>();
                printer.warnings(&r.notes);
                out.tables.push(TableOrphans {
                    table: table.location().to_string(),
                    report: Some(r),
                    error: None,
                });
            }
            Err(e) => out.tables.push(failure(table.location().to_string(), &e)),
        }
    }
    out.failed = out
        .tables
        .iter()
        .filter(|t| t.error.is_some() || t.report.as_ref().is_some_and(|r| !r.failed.is_empty()))
        .count();
    let failure = (out.failed > 0).then(|| {
        Error::Incomplete(format!(
            "remove-orphan-files failed on {} table(s) of the warehouse; the others were \
             processed",
            out.failed
        ))
    });
    printer.finish(&out, warehouse_text, failure).map(|()| 0)
}

fn warehouse_text(w: &WarehouseOrphans) -> String {
    let verb = if w.dry_run { "Would delete" } else { "Deleted" };
    let mut out = format!(
        "{verb} {} orphan file(s), {}, in {} table(s) of {}\n",
        w.files,
        bytes(w.bytes),
        w.tables.len(),
        w.warehouse
    );
    for t in &w.tables {
        match (&t.report, &t.error) {
            (Some(r), _) => {
                let files: u64 = r.deleted.values().map(|t| t.files).sum();
                let b: i64 = r.deleted.values().map(|t| t.bytes).sum();
                let failed = if r.failed.is_empty() {
                    String::new()
                } else {
                    format!(", {} failed", r.failed.len())
                };
                out.push_str(&format!(
                    "  {}: {files} file(s), {}{failed}\n",
                    t.table,
                    bytes(b)
                ));
            }
            (None, Some(e)) => out.push_str(&format!(
                "  {}: FAILED: {}\n",
                t.table,
                e["message"].as_str().unwrap_or_default()
            )),
            (None, None) => {}
        }
    }
    out
}

pub(crate) fn orphans_text(r: &OrphanReport) -> String {
    let total: u64 = r.deleted.values().map(|t| t.files).sum();
    let total_bytes: i64 = r.deleted.values().map(|t| t.bytes).sum();
    let verb = if r.dry_run { "Would delete" } else { "Deleted" };
    let mut out = format!(
        "{verb} {total} orphan file(s), {} (modified before {}), in {:.1} s\n",
        bytes(total_bytes),
        r.cutoff,
        r.duration_millis as f64 / 1000.0
    );
    for (c, t) in &r.deleted {
        out.push_str(&tally_line(c, t.files, t.bytes));
    }
    out.push_str(&format!(
        "References: {} snapshot(s), {} tag(s), {} changelog(s), {} consumer(s), {} manifest(s) over {} branch(es)\n",
        r.snapshots_read,
        r.tags_read,
        r.changelogs_read,
        r.consumers_read,
        r.manifests_read,
        r.branches.len()
    ));
    if r.too_young > 0 {
        out.push_str(&format!(
            "{} file(s) newer than the cutoff were not considered\n",
            r.too_young
        ));
    }
    if !r.newer_snapshots.is_empty() {
        out.push_str(&format!(
            "Committed during the run (their files kept): {}\n",
            r.newer_snapshots.join(", ")
        ));
    }
    if !r.vanished.is_empty() {
        out.push_str(&format!(
            "Vanished while being read (expired concurrently): {}\n",
            r.vanished.join(", ")
        ));
    }
    if !r.unknown_files.is_empty() {
        out.push_str(&format!(
            "{} unknown file(s), left alone:\n",
            r.unknown_files.len()
        ));
        for u in &r.unknown_files {
            out.push_str(&format!("  {} ({} bytes)\n", u.path, u.bytes));
        }
    }
    if !r.removed_dirs.is_empty() {
        out.push_str(&format!(
            "Removed {} empty directory(ies)\n",
            r.removed_dirs.len()
        ));
    }
    out.push_str(&failed_text(&r.failed));
    // The file list last: the summary above is what a person reads first.
    if r.dry_run {
        out.push_str(&file_lines(r.files.iter().map(|f| {
            (
                &f.category,
                f.path.as_str(),
                i64::try_from(f.bytes).unwrap_or(i64::MAX),
            )
        })));
    }
    out
}

pub(crate) async fn run_check(a: CheckArgs, global: &GlobalArgs, printer: &Printer) -> Result<u8> {
    let table = global.open(&a.table).await?;
    let report = check(&table, &CheckOptions { deep: a.deep }).await?;
    printer.warnings(&report.warnings);
    // Problems found end the command with exit 1 and kind `problems_found`, carried by the
    // report (the one document) like every failure after a report.
    let failure = (!report.whole).then(|| {
        Error::ProblemsFound(format!(
            "the table is not whole: {} problem(s) found (listed in the report)",
            report.problems.len()
        ))
    });
    printer.finish(&report, check_text, failure).map(|()| 0)
}

fn check_text(r: &CheckReport) -> String {
    let mut out = format!(
        "{}: {} snapshot(s), {} tag(s), {} changelog(s), {} consumer(s) over {} branch(es); \
         {} metadata file(s), {} data file(s){}\n",
        if r.whole { "Whole" } else { "PROBLEMS FOUND" },
        r.snapshots,
        r.tags,
        r.changelogs,
        r.consumers,
        r.branches.len(),
        r.metadata_files,
        r.data_files,
        if r.deep {
            format!(", {} Parquet footer(s) read", r.footers_read)
        } else {
            String::new()
        }
    );
    if r.external_files > 0 {
        out.push_str(&format!(
            "{} file(s) outside the table not checked\n",
            r.external_files
        ));
    }
    for p in &r.problems {
        out.push_str(&format!("  {:?} {}: {}\n", p.kind, p.path, p.detail));
    }
    if !r.unknown_files.is_empty() {
        out.push_str(&format!(
            "{} unknown file(s) in metadata directories:\n",
            r.unknown_files.len()
        ));
        for u in &r.unknown_files {
            out.push_str(&format!("  {u}\n"));
        }
    }
    out
}
