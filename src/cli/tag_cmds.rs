//! Tag commands.

use clap::Args;

use super::commands::parse_timestamp;
use super::output::{failed_text, Printer};
use super::GlobalArgs;
use tagkeeper::clock::SystemClock;
use tagkeeper::error::incomplete;
use tagkeeper::format::duration::parse_cli_duration;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::{Error, Result};

/// `create-tag` arguments.
#[derive(Debug, Args)]
pub(crate) struct CreateTagArgs {
    /// The table.
    table: String,
    /// The tag's name.
    name: String,
    /// Tag this snapshot (an expired id works when another tag still keeps it).
    #[arg(long, group = "source")]
    snapshot: Option<i64>,
    /// Tag the first snapshot committed at or after this time (tags count as history).
    #[arg(long, group = "source", value_name = "TS")]
    timestamp: Option<String>,
    /// Tag the first snapshot whose watermark is at or after this value.
    #[arg(long, group = "source", value_name = "W")]
    watermark: Option<i64>,
    /// Keep the tag this long (e.g. '7 d', '12h'); default: the table's tag.default-time-retained.
    #[arg(long, value_name = "DUR")]
    time_retained: Option<String>,
    /// An existing tag of this name is not an error.
    #[arg(long)]
    if_not_exists: bool,
}

pub(crate) async fn create(a: CreateTagArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let name = TagName::new(&a.name)?;
    let source = match (a.snapshot, &a.timestamp, a.watermark) {
        (Some(id), _, _) => TagSource::Snapshot(SnapshotId(id)),
        (_, Some(ts), _) => TagSource::Timestamp(parse_timestamp(ts)?),
        (_, _, Some(w)) => TagSource::Watermark(w),
        _ => TagSource::Latest,
    };
    let time_retained = retention(a.time_retained.as_deref())?;
    let table = global.open(&a.table).await?;
    let req = CreateTag {
        name,
        source,
        time_retained,
        if_not_exists: a.if_not_exists,
    };
    let report = create_tag(&table, &req, &SystemClock).await?;
    printer.warnings(&report.warnings);
    printer.report(&report, |r| {
        if r.created {
            format!(
                "Created tag '{}' on snapshot {} (from {}).\n",
                r.name, r.snapshot_id, r.source
            )
        } else {
            format!(
                "Tag '{}' already exists on snapshot {}; left as it is.\n",
                r.name, r.snapshot_id
            )
        }
    })
}

/// `delete-tag` arguments.
#[derive(Debug, Args)]
pub(crate) struct DeleteTagArgs {
    /// The table.
    table: String,
    /// Tag name(s), comma-separated.
    names: String,
    /// Print the plan (tags and files with sizes) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Save the plan (with the table's state) to FILE and change nothing; `apply-plan FILE`
    /// executes it later, unless the table changed meanwhile.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<std::path::PathBuf>,
}

pub(crate) async fn delete(a: DeleteTagArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    use tagkeeper::ops::delete_tag;
    use tagkeeper::ops::saved_plan::PlannedCommand;
    let names = a
        .names
        .split(',')
        .map(|n| {
            TagName::from_listing(n.trim()).ok_or_else(|| Error::InvalidTagName {
                name: n.to_string(),
                reason: "not a tag name".into(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let table = global.open(&a.table).await?;
    if let Some(out) = &a.plan_out {
        let plan = delete_tag::plan(&table, &names).await?;
        super::plan_cmd::save(&table, PlannedCommand::DeleteTag(plan.clone()), out).await?;
        return printer.report(&delete_tag::summarize(&plan, true), delete_text);
    }
    if !a.dry_run && super::confirm::wanted(global) {
        let plan = delete_tag::plan(&table, &names).await?;
        let preview = delete_tag::summarize(&plan, true);
        let planned = PlannedCommand::DeleteTag(plan);
        let question = "Delete these tags and the files only they keep?";
        return super::confirm::preview_then_apply(
            &table,
            planned,
            &preview,
            delete_text,
            question,
            printer,
        )
        .await;
    }
    let report = delete_tag::delete_tags(&table, &names, a.dry_run).await?;
    let skipped: Vec<String> = report
        .tags
        .iter()
        .filter(|t| t.skipped_for_safety)
        .map(|t| format!("tag '{}': {}", t.name, t.reason.clone().unwrap_or_default()))
        .collect();
    printer.warnings(&skipped);
    printer.warnings(&report.notes);
    // One report, which carries the failure that ends the command: deletions that failed,
    // else every named tag missing (the error then names them, so no warning repeats it).
    let failure = incomplete("delete-tag", &report.failed).or_else(|| {
        (!report.not_found.is_empty() && report.deleted_tags.is_empty()).then(|| {
            Error::TagNotFound {
                name: report.not_found.join(","),
            }
        })
    });
    if !matches!(failure, Some(Error::TagNotFound { .. })) {
        let missing: Vec<String> = report
            .not_found
            .iter()
            .map(|n| format!("tag '{n}' does not exist"))
            .collect();
        printer.warnings(&missing);
    }
    printer.finish(&report, delete_text, failure)
}

/// The human form of a delete-tag report.
pub(crate) fn delete_text(r: &tagkeeper::ops::delete_tag::DeleteTagReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "Would delete" } else { "Deleted" };
    for t in &r.tags {
        if t.action == tagkeeper::ops::delete_tag::TagAction::NotFound {
            continue;
        }
        out.push_str(&format!(
            "{verb} tag '{}' (snapshot {}){}\n",
            t.name,
            t.snapshot_id.unwrap_or_default(),
            t.reason
                .as_ref()
                .map(|why| format!(": tag file only, {why}"))
                .unwrap_or_default()
        ));
        if r.dry_run {
            out.push_str(&super::output::file_lines(
                t.files
                    .iter()
                    .map(|f| (&f.category, f.path.as_str(), f.bytes)),
            ));
        }
    }
    for (category, tally) in &r.deleted {
        out.push_str(&super::output::tally_line(
            category,
            tally.files,
            tally.bytes,
        ));
    }
    out.push_str(&failed_text(&r.failed));
    out
}

/// `rename-tag` arguments.
#[derive(Debug, Args)]
pub(crate) struct RenameTagArgs {
    /// The table.
    table: String,
    /// Current name.
    from: String,
    /// New name.
    to: String,
}

pub(crate) async fn rename(a: RenameTagArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let from = TagName::from_listing(&a.from).ok_or_else(|| Error::InvalidTagName {
        name: a.from.clone(),
        reason: "not a tag name".into(),
    })?;
    let to = TagName::new(&a.to)?;
    let table = global.open(&a.table).await?;
    let r = tagkeeper::ops::tag::rename_tag(&table, &from, &to).await?;
    let failure = incomplete("rename-tag", &r.failed);
    printer.finish(
        &r,
        |r| {
            format!(
                "Renamed tag '{}' to '{}' (snapshot {}){}.\n{}",
                r.from,
                r.to,
                r.snapshot_id,
                if r.resumed {
                    ", finishing an earlier rename"
                } else {
                    ""
                },
                failed_text(&r.failed)
            )
        },
        failure,
    )
}

/// `replace-tag` arguments.
#[derive(Debug, Args)]
pub(crate) struct ReplaceTagArgs {
    /// The table.
    table: String,
    /// The tag.
    name: String,
    /// The new snapshot (default: the latest).
    #[arg(long)]
    snapshot: Option<i64>,
    /// New retention (e.g. '7 d').
    #[arg(long, value_name = "DUR")]
    time_retained: Option<String>,
}

pub(crate) async fn replace(
    a: ReplaceTagArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let name = TagName::from_listing(&a.name).ok_or_else(|| Error::InvalidTagName {
        name: a.name.clone(),
        reason: "not a tag name".into(),
    })?;
    let source = a
        .snapshot
        .map_or(TagSource::Latest, |id| TagSource::Snapshot(SnapshotId(id)));
    let retained = retention(a.time_retained.as_deref())?;
    let table = global.open(&a.table).await?;
    let r =
        tagkeeper::ops::tag::replace_tag(&table, &name, &source, retained, &SystemClock).await?;
    if let Some(n) = &r.note {
        printer.warnings(std::slice::from_ref(n));
    }
    printer.report(&r, |r| {
        format!(
            "Tag '{}' now points at snapshot {} (was {}). {} file(s), {} bytes only the old tag kept are unreferenced now and left for orphan cleaning.\n",
            r.name, r.new_snapshot_id, r.old_snapshot_id, r.unprotected_files.len(), r.unprotected_bytes
        )
    })
}

/// `--time-retained`: a duration with a unit (a bare number is refused; see
/// [`parse_cli_duration`]).
fn retention(arg: Option<&str>) -> Result<Option<std::time::Duration>> {
    arg.map(|d| {
        parse_cli_duration(d).map_err(|e| Error::InvalidArgument(format!("--time-retained: {e}")))
    })
    .transpose()
}
