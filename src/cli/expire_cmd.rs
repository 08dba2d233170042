//! `expire-snapshots`.

use clap::Args;

use super::commands::parse_cutoff;
use super::fleet::{self, Rendering, TableRun, TablesArgs};
use super::output::{failed_text, file_lines, tally_line, Printer};
use super::GlobalArgs;
use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::error::incomplete;
use tagkeeper::ops::delete_tag::DeleteTagReport;
use tagkeeper::ops::expire::{plan, ExpireOptions, ExpireReport};
use tagkeeper::table::Table;
use tagkeeper::{Error, Result};

/// `expire-snapshots` arguments. Defaults come from the table's options.
#[derive(Debug, Args)]
pub(crate) struct ExpireArgs {
    #[command(flatten)]
    tables: TablesArgs,
    /// Keep at least this many snapshots (snapshot.num-retained.min, default 10; at least 1).
    #[arg(long)]
    retain_min: Option<u64>,
    /// Keep at most this many snapshots (snapshot.num-retained.max).
    #[arg(long)]
    retain_max: Option<u64>,
    /// Expire snapshots older than this: a time (epoch ms, RFC 3339, local) or a duration
    /// ('12h', '7 d') before now (snapshot.time-retained, default 1 h).
    #[arg(long, value_name = "TS|DURATION")]
    older_than: Option<String>,
    /// Expire at most this many snapshots in this run (snapshot.expire.limit, default 50).
    #[arg(long)]
    max_deletes: Option<u64>,
    /// Print the plan (snapshots and files with sizes) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Save the plan (with the table's state) to FILE and change nothing; `apply-plan FILE`
    /// executes it later, unless the table changed meanwhile.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<std::path::PathBuf>,
}

pub(crate) async fn run(a: ExpireArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let now = SystemClock.now_millis();
    let Some(location) = a.tables.single() else {
        fleet::refuse(
            global,
            "expire-snapshots",
            &[("--plan-out", a.plan_out.is_some())],
        )?;
        // Bad flags fail once, not once per table.
        options_from_flags(&a, ExpireOptions::from_table(&[])?, now)?;
        let render = Rendering {
            command: "expire-snapshots",
            text,
            totals: expire_totals,
        };
        super::confirm::ask_for_tables(global, "expire-snapshots", a.dry_run).await?;
        return fleet::run(&a.tables, global, printer, render, |table| {
            expire_one(table, &a, now)
        })
        .await;
    };
    let table = global.open(location).await?;
    if let Some(out) = &a.plan_out {
        let opts = options(&table, &a, now).await?;
        let p = plan(&table, &opts, now).await?;
        super::plan_cmd::save(
            &table,
            tagkeeper::ops::saved_plan::PlannedCommand::ExpireSnapshots(p.clone()),
            out,
        )
        .await?;
        let report = ExpireReport::of(p, true);
        printer.warnings(&report.plan.skipped);
        return printer.finish(&report, text, None);
    }
    if !a.dry_run && super::confirm::wanted(global) {
        let opts = options(&table, &a, now).await?;
        let p = plan(&table, &opts, now).await?;
        let preview = ExpireReport::of(p.clone(), true);
        let planned = tagkeeper::ops::saved_plan::PlannedCommand::ExpireSnapshots(p);
        let question = "Expire these snapshots and delete these files?";
        return super::confirm::preview_then_apply(
            &table, planned, &preview, text, question, printer,
        )
        .await;
    }
    expire_one(table, &a, now).await?.print(printer, text)
}

/// The options of `table`, overridden by the flags.
async fn options(table: &Table, a: &ExpireArgs, now: i64) -> Result<ExpireOptions> {
    let schema = table.latest_schema().await?;
    options_from_flags(a, ExpireOptions::from_table(&schema.options)?, now)
}

fn options_from_flags(a: &ExpireArgs, mut opts: ExpireOptions, now: i64) -> Result<ExpireOptions> {
    if let Some(v) = a.retain_min {
        opts.retain_min = v;
    }
    if let Some(v) = a.retain_max {
        opts.retain_max = v;
    }
    if let Some(v) = a.max_deletes {
        opts.expire_limit = v;
    }
    if let Some(o) = &a.older_than {
        let cutoff = parse_cutoff("--older-than", o, now)?;
        opts.time_retained_millis = now - cutoff;
    }
    Ok(opts)
}

/// expire-snapshots on one table (its dry run too): what the single-table command prints.
async fn expire_one(table: Table, a: &ExpireArgs, now: i64) -> Result<TableRun<ExpireReport>> {
    let opts = options(&table, a, now).await?;
    let report = if a.dry_run {
        ExpireReport::of(plan(&table, &opts, now).await?, true)
    } else {
        // Progress is drawn from the library's progress events (see progress_bars).
        tagkeeper::ops::expire::expire(&table, &opts, now).await?
    };
    Ok(TableRun {
        warnings: report.plan.skipped.clone(),
        failure: incomplete("expire-snapshots", &report.failed),
        report,
    })
}

/// What an expiration adds to a multi-table summary.
fn expire_totals(r: &ExpireReport) -> Vec<(&'static str, i64)> {
    let (files, bytes) = r
        .plan
        .totals
        .values()
        .fold((0u64, 0i64), |(f, b), (n, s)| (f + n, b + s));
    vec![
        ("snapshots", r.plan.expired_snapshots.len() as i64),
        ("files", files as i64),
        ("bytes", bytes),
    ]
}

/// The plan's text, then the hints rewritten and the deletions that failed.
pub(crate) fn text(p: &ExpireReport) -> String {
    let mut out = plan_text(p);
    for h in &p.hints_rewritten {
        out.push_str(&format!("  hint: {h}\n"));
    }
    out.push_str(&failed_text(&p.failed));
    out
}

fn plan_text(r: &ExpireReport) -> String {
    let p = &r.plan;
    let verb = if r.dry_run { "Would expire" } else { "Expired" };
    if p.expired_snapshots.is_empty() {
        return "Nothing to expire.\n".into();
    }
    let mut out = format!(
        "{verb} {} snapshot(s) {}..={}; earliest is now {}{}\n",
        p.expired_snapshots.len(),
        p.expired_snapshots.first().copied().unwrap_or_default(),
        p.expired_snapshots.last().copied().unwrap_or_default(),
        p.new_earliest.unwrap_or_default(),
        if r.resumed {
            " (finished an interrupted run)"
        } else {
            ""
        }
    );
    for (c, (n, b)) in &p.totals {
        out.push_str(&tally_line(c, *n, *b));
    }
    if p.limit_reached {
        out.push_str(&format!(
            "  stopped at the expire limit ({} snapshot(s) a run, snapshot.expire.limit or \
             --max-deletes): older snapshots are still due; run again or raise --max-deletes\n",
            p.expired_snapshots.len()
        ));
    }
    out.push_str(&format!(
        "  data files decided by _COMMIT_SNAPSHOT: {}, by the nearest-tag rule: {}\n",
        p.decided_by_commit_snapshot, p.decided_by_nearest_tag
    ));
    if !r.already_gone.is_empty() {
        out.push_str(&format!(
            "  already gone (deleted earlier): {} file(s)\n",
            r.already_gone.len()
        ));
    }
    if r.dry_run {
        out.push_str(&file_lines(
            p.files
                .iter()
                .map(|f| (&f.category, f.path.as_str(), f.bytes)),
        ));
    }
    out
}

/// `expire-changelogs` arguments (Java's `expire_changelogs` procedure: without a flag,
/// nothing expires).
#[derive(Debug, Args)]
pub(crate) struct ExpireChangelogsArgs {
    /// The table.
    table: String,
    /// Keep changelogs of at least the newest N snapshot ids (default 1).
    #[arg(long)]
    retain_min: Option<u64>,
    /// Keep changelogs of at most the newest N snapshot ids (default unbounded).
    #[arg(long)]
    retain_max: Option<u64>,
    /// Expire changelogs older than this: a time (epoch ms, RFC 3339, local) or a duration
    /// before now (default: no time limit).
    #[arg(long, value_name = "TS|DURATION")]
    older_than: Option<String>,
    /// Expire at most this many changelogs in this run (default unbounded).
    #[arg(long)]
    max_deletes: Option<u64>,
    /// Expire every changelog and remove the changelog hints (Java's delete_all; only when the
    /// latest changelog is older than the earliest snapshot).
    #[arg(long)]
    delete_all: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn run_expire_changelogs(
    a: ExpireChangelogsArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    use tagkeeper::ops::expire_changelogs::{self as ec, ChangelogOptions, ExpireChangelogsReport};
    global.refuse_branch("expire-changelogs")?;
    let table = global.open(&a.table).await?;
    let now = SystemClock.now_millis();
    let mut opts = ChangelogOptions::procedure_defaults();
    if let Some(v) = a.retain_min {
        opts.retain_min = v;
    }
    if let Some(v) = a.retain_max {
        opts.retain_max = v;
    }
    if let Some(v) = a.max_deletes {
        opts.max_deletes = v;
    }
    if let Some(o) = &a.older_than {
        opts.time_retained_millis = now - super::consumers_cmd::cutoff(o, now)?;
    }
    opts.delete_all = a.delete_all;
    let report = if a.dry_run {
        ExpireChangelogsReport::of(ec::plan(&table, &opts, now).await?, true)
    } else {
        if super::confirm::wanted(global) {
            let preview = ExpireChangelogsReport::of(ec::plan(&table, &opts, now).await?, true);
            let question = "Expire these changelogs and delete these files?";
            super::confirm::ask_after(
                &preview,
                changelogs_text,
                "expire-changelogs",
                question,
                printer,
            )
            .await?;
        }
        ec::expire(&table, &opts, now).await?
    };
    printer.warnings(&report.plan.skipped);
    let failure = incomplete("expire-changelogs", &report.failed);
    printer.finish(&report, changelogs_text, failure)
}

/// The human form of an expire-changelogs report.
pub(crate) fn changelogs_text(
    r: &tagkeeper::ops::expire_changelogs::ExpireChangelogsReport,
) -> String {
    let p = &r.plan;
    if p.expired_changelogs.is_empty() {
        return "No changelog to expire.\n".into();
    }
    let verb = if r.dry_run { "Would expire" } else { "Expired" };
    let mut out = format!(
        "{verb} {} changelog(s) {}..={}{}{}\n",
        p.expired_changelogs.len(),
        p.expired_changelogs.first().copied().unwrap_or_default(),
        p.expired_changelogs.last().copied().unwrap_or_default(),
        p.new_earliest.map_or(String::new(), |e| format!(
            "; earliest changelog is now {e}"
        )),
        if r.resumed {
            " (finished an interrupted run)"
        } else {
            ""
        }
    );
    for (c, (n, b)) in &p.totals {
        out.push_str(&tally_line(c, *n, *b));
    }
    out.push_str(&format!(
        "  kept because a remaining version needs them: {}\n",
        p.kept_needed
    ));
    if r.dry_run {
        out.push_str(&file_lines(
            p.files
                .iter()
                .map(|f| (&f.category, f.path.as_str(), f.bytes)),
        ));
    }
    out.push_str(&failed_text(&r.failed));
    out
}

/// `expire-tags` arguments.
#[derive(Debug, Args)]
pub(crate) struct ExpireTagsArgs {
    #[command(flatten)]
    tables: TablesArgs,
    /// Also expire tags created before this time (local time or RFC 3339); tags without a
    /// creation time count by their file's modification time.
    #[arg(long, value_name = "TS")]
    older_than: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Save the plan (with the table's state) to FILE and change nothing; `apply-plan FILE`
    /// executes it later, unless the table changed meanwhile.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<std::path::PathBuf>,
}

pub(crate) async fn run_expire_tags(
    a: ExpireTagsArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let Some(location) = a.tables.single() else {
        fleet::refuse(
            global,
            "expire-tags",
            &[("--plan-out", a.plan_out.is_some())],
        )?;
        let older_than = tags_cutoff(&a)?;
        let render = Rendering {
            command: "expire-tags",
            text: expire_tags_text,
            totals: tag_totals,
        };
        super::confirm::ask_for_tables(global, "expire-tags", a.dry_run).await?;
        return fleet::run(&a.tables, global, printer, render, |table| {
            expire_tags_one(table, older_than, a.dry_run)
        })
        .await;
    };
    let table = global.open(location).await?;
    let older_than = tags_cutoff(&a)?;
    if let Some(out) = &a.plan_out {
        let plan = tagkeeper::ops::expire_tags::plan(&table, &SystemClock, older_than).await?;
        let saved = tagkeeper::ops::saved_plan::PlannedCommand::ExpireTags(plan.clone());
        super::plan_cmd::save(&table, saved, out).await?;
        let report = tagkeeper::ops::delete_tag::summarize(&plan, true);
        return printer.report(&report, expire_tags_text);
    }
    if !a.dry_run && super::confirm::wanted(global) {
        let plan = tagkeeper::ops::expire_tags::plan(&table, &SystemClock, older_than).await?;
        let preview = tagkeeper::ops::delete_tag::summarize(&plan, true);
        let planned = tagkeeper::ops::saved_plan::PlannedCommand::ExpireTags(plan);
        let question = "Delete these tags and the files only they keep?";
        return super::confirm::preview_then_apply(
            &table,
            planned,
            &preview,
            expire_tags_text,
            question,
            printer,
        )
        .await;
    }
    expire_tags_one(table, older_than, a.dry_run)
        .await?
        .print(printer, expire_tags_text)
}

/// `--older-than` as the local wall-clock time tags are compared in.
fn tags_cutoff(a: &ExpireTagsArgs) -> Result<Option<chrono::NaiveDateTime>> {
    match &a.older_than {
        None => Ok(None),
        Some(ts) => {
            let millis = parse_cutoff("--older-than", ts, SystemClock.now_millis())?;
            let utc = chrono::DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                Error::InvalidArgument(format!("--older-than {ts:?} is out of range"))
            })?;
            Ok(Some(utc.with_timezone(&chrono::Local).naive_local()))
        }
    }
}

/// expire-tags on one table (its dry run too): what the single-table command prints.
async fn expire_tags_one(
    table: Table,
    older_than: Option<chrono::NaiveDateTime>,
    dry_run: bool,
) -> Result<TableRun<DeleteTagReport>> {
    let report =
        tagkeeper::ops::expire_tags::expire_tags(&table, &SystemClock, older_than, dry_run).await?;
    Ok(TableRun {
        warnings: report.notes.clone(),
        failure: incomplete("expire-tags", &report.failed),
        report,
    })
}

/// What a tag deletion adds to a multi-table summary.
fn tag_totals(r: &DeleteTagReport) -> Vec<(&'static str, i64)> {
    vec![
        ("tags", r.deleted_tags.len() as i64),
        ("files", r.deleted.values().map(|t| t.files as i64).sum()),
        ("bytes", r.deleted.values().map(|t| t.bytes).sum()),
    ]
}

/// The human form of an expire-tags report.
pub(crate) fn expire_tags_text(r: &DeleteTagReport) -> String {
    let verb = if r.dry_run { "Would delete" } else { "Deleted" };
    let mut out = if r.deleted_tags.is_empty() {
        "No tag has expired.\n".to_string()
    } else {
        format!("{verb} expired tag(s): {}\n", r.deleted_tags.join(", "))
    };
    for (c, t) in &r.deleted {
        out.push_str(&tally_line(c, t.files, t.bytes));
    }
    out.push_str(&failed_text(&r.failed));
    out
}
