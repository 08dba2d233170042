//! `remove-orphan-files` and `check`.

use clap::Args;

use super::fleet::{self, Rendering, TableRun, TablesArgs};
use super::output::{bytes, failed_text, file_lines, tally_line, Printer};
use super::GlobalArgs;
use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::error::incomplete;
use tagkeeper::ops::check::{check, CheckOptions, CheckReport};
use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions, OrphanReport};
use tagkeeper::table::Table;
use tagkeeper::{Error, Result};

/// `remove-orphan-files` arguments.
#[derive(Debug, Args)]
pub(crate) struct OrphansArgs {
    #[command(flatten)]
    tables: TablesArgs,
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
    #[command(flatten)]
    tables: TablesArgs,
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
    let Some(location) = a.tables.single() else {
        fleet::refuse(
            global,
            "remove-orphan-files",
            &[("--plan-out", a.plan_out.is_some())],
        )?;
        // A refused cutoff fails once, not once per table.
        tagkeeper::ops::orphans::resolve_cutoff(&opts, now)?;
        super::confirm::ask_for_tables(global, "remove-orphan-files", a.dry_run).await?;
        let render = Rendering {
            command: "remove-orphan-files",
            text: orphans_text,
            totals: orphans_totals,
        };
        return fleet::run(&a.tables, global, printer, render, |table| {
            orphans_one(table, &opts, a.dry_run)
        })
        .await
        .map(|()| 0);
    };
    let table = global.open(location).await?;
    if let Some(out) = &a.plan_out {
        let plan = tagkeeper::ops::orphans::plan(&table, &opts, &clock).await?;
        let report = OrphanReport::of(&plan, true);
        let saved = tagkeeper::ops::saved_plan::PlannedCommand::RemoveOrphanFiles(plan);
        super::plan_cmd::save(&table, saved, out).await?;
        printer.warnings(&report.notes);
        let failure = incomplete("remove-orphan-files", &report.failed);
        return printer.finish(&report, orphans_text, failure).map(|()| 0);
    }
    if !a.dry_run && super::confirm::wanted(global) {
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
    }
    orphans_one(table, &opts, a.dry_run)
        .await?
        .print(printer, orphans_text)
        .map(|()| 0)
}

/// remove-orphan-files on one table (its dry run too): what the single-table command prints.
async fn orphans_one(
    table: Table,
    opts: &OrphanOptions,
    dry_run: bool,
) -> Result<TableRun<OrphanReport>> {
    let report = remove_orphan_files(&table, opts, dry_run, &SystemClock).await?;
    Ok(TableRun {
        warnings: report.notes.clone(),
        failure: incomplete("remove-orphan-files", &report.failed),
        report,
    })
}

/// What an orphan cleaning adds to a multi-table summary.
fn orphans_totals(r: &OrphanReport) -> Vec<(&'static str, i64)> {
    vec![
        ("files", r.deleted.values().map(|t| t.files as i64).sum()),
        ("bytes", r.deleted.values().map(|t| t.bytes).sum()),
    ]
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
    let opts = CheckOptions { deep: a.deep };
    let Some(location) = a.tables.single() else {
        fleet::refuse(global, "check", &[])?;
        let render = Rendering {
            command: "check",
            text: check_text,
            totals: check_totals,
        };
        return fleet::run(&a.tables, global, printer, render, |table| {
            check_one(table, &opts)
        })
        .await
        .map(|()| 0);
    };
    let table = global.open(location).await?;
    check_one(table, &opts)
        .await?
        .print(printer, check_text)
        .map(|()| 0)
}

/// check on one table: what the single-table command prints. Problems found end the command
/// with exit 1 and kind `problems_found`, carried by the report (the one document) like every
/// failure after a report.
async fn check_one(table: Table, opts: &CheckOptions) -> Result<TableRun<CheckReport>> {
    let report = check(&table, opts).await?;
    let failure = (!report.whole).then(|| {
        Error::ProblemsFound(format!(
            "the table is not whole: {} problem(s) found (listed in the report)",
            report.problems.len()
        ))
    });
    Ok(TableRun {
        warnings: report.warnings.clone(),
        failure,
        report,
    })
}

/// What a check adds to a multi-table summary.
fn check_totals(r: &CheckReport) -> Vec<(&'static str, i64)> {
    vec![
        ("problems", r.problems.len() as i64),
        ("snapshots", r.snapshots as i64),
        ("data_files", r.data_files as i64),
    ]
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
