//! `rollback-to`.

use clap::Args;

use super::commands::parse_timestamp;
use super::output::{failed_text, Printer};
use super::GlobalArgs;
use tagkeeper::clock::SystemClock;
use tagkeeper::error::incomplete;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::ops::rollback::{
    pending_journals, plan, DecidedBy, ModeName, RollbackMode, RollbackReport, RollbackTarget,
};
use tagkeeper::ops::saved_plan::PlannedCommand;
use tagkeeper::{Error, Result};

const ROLLBACK_HELP: &str = "\
Destructive (default, Paimon's semantics): LATEST is set to the target first, newer snapshots are
deleted from the newest down, then newer long-lived changelogs and tags newer than the target;
a tag whose snapshot expired has its snapshot restored. Data files are left for orphan cleaning
unless --purge. STOP ALL WRITERS FIRST: a commit landing during the rollback is reported (exit 1)
and the rollback must be run again.

--as-latest keeps all history: a new OVERWRITE snapshot makes the target's files live again, with
fresh manifests that every Paimon reader reads right; a target given as a snapshot id is
protected by a tag so that expiration cannot delete the files added back. It needs no pause, but
a commit landing between planning and committing fails it with a conflict (run it again).

--dry-run prints the preview and changes nothing.";

/// `rollback-to` arguments.
#[derive(Debug, Args)]
#[command(after_help = ROLLBACK_HELP)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(false)))]
pub(crate) struct RollbackArgs {
    /// The table.
    table: String,
    /// Roll back to this tag.
    #[arg(long, group = "target")]
    tag: Option<String>,
    /// Roll back to this snapshot (an expired one through the first tag, by name, keeping it).
    #[arg(long, group = "target")]
    snapshot: Option<i64>,
    /// Roll back to the latest snapshot committed at or before this time.
    #[arg(long, group = "target", value_name = "TS")]
    timestamp: Option<String>,
    /// Roll back to the latest snapshot whose watermark is at or before this one (epoch
    /// milliseconds, or a time as for --timestamp), as Java's rollback_to_watermark.
    #[arg(long, group = "target", value_name = "MILLIS|TS")]
    watermark: Option<String>,
    /// Keep history: commit the target's state as a new latest snapshot.
    #[arg(long, conflicts_with = "purge")]
    as_latest: bool,
    /// Destructive mode: also delete data files, manifests and manifest lists only the removed
    /// snapshots and tags referenced.
    #[arg(long)]
    purge: bool,
    /// Print the preview and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Save the plan (with the table's state) to FILE and change nothing; `apply-plan FILE`
    /// executes it later, unless the table changed meanwhile.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<std::path::PathBuf>,
}

pub(crate) async fn run(a: RollbackArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let target = match (&a.tag, a.snapshot, &a.timestamp, &a.watermark) {
        (Some(t), _, _, _) => {
            RollbackTarget::Tag(
                TagName::from_listing(t).ok_or_else(|| Error::InvalidTagName {
                    name: t.clone(),
                    reason: "not a tag name".into(),
                })?,
            )
        }
        (_, Some(id), _, _) => RollbackTarget::Snapshot(SnapshotId(id)),
        (_, _, Some(ts), _) => RollbackTarget::Timestamp(parse_timestamp(ts)?),
        (_, _, _, Some(w)) => RollbackTarget::Watermark(parse_timestamp(w)?),
        _ => {
            return Err(Error::InvalidArgument(
                "one of --tag, --snapshot, --timestamp or --watermark is required".into(),
            ))
        }
    };
    let mode = if a.as_latest {
        RollbackMode::AsLatest
    } else {
        RollbackMode::Destructive { purge: a.purge }
    };
    let table = global.open(&a.table).await?;
    let dry_run = a.dry_run || a.plan_out.is_some();
    let report = if dry_run {
        // The very plan a real run executes (it fails with a conflict if the table changes
        // in between), saved with --plan-out.
        let mut planned = plan(&table, &target, mode).await?;
        if let Some(out) = &a.plan_out {
            let saved = PlannedCommand::RollbackTo(Box::new(planned.to_saved()?));
            super::plan_cmd::save(&table, saved, out).await?;
        }
        for key in pending_journals(&table).await? {
            planned.notes.push(format!(
                "an interrupted rollback ({key}) is unfinished: a real run finishes it first"
            ));
        }
        RollbackReport::of(planned, true)
    } else if super::confirm::wanted(global) {
        // An unfinished rollback is finished first by a real run, which the saved-plan path
        // does not do: then the question names it, and the run plans again after finishing it.
        let pending = pending_journals(&table).await?;
        if pending.is_empty() {
            let planned = plan(&table, &target, mode).await?;
            let saved = PlannedCommand::RollbackTo(Box::new(planned.to_saved()?));
            let preview = RollbackReport::of(planned, true);
            let question = "Roll the table back as shown?";
            return super::confirm::preview_then_apply(
                &table,
                saved,
                &preview,
                preview_text,
                question,
                printer,
            )
            .await;
        }
        let question = format!(
            "An interrupted rollback ({}) is unfinished: finish it, then roll back as asked?",
            pending.join(", ")
        );
        super::confirm::ask("rollback-to", &question).await?;
        tagkeeper::ops::rollback::execute(&table, &target, mode, &SystemClock).await?
    } else {
        tagkeeper::ops::rollback::execute(&table, &target, mode, &SystemClock).await?
    };
    printer.warnings(&report.plan.notes);
    let failure = incomplete("rollback-to", &report.failed);
    printer.finish(&report, preview_text, failure)
}

pub(crate) fn preview_text(r: &RollbackReport) -> String {
    let p = &r.plan;
    let will = if r.dry_run { "would" } else { "did" };
    let mut out = format!(
        "{} rollback: latest snapshot {} ({} rows) -> target snapshot {} ({} rows, from {})\n",
        if p.mode == ModeName::AsLatest {
            "Non-destructive"
        } else {
            "Destructive"
        },
        p.current.snapshot_id,
        p.current
            .total_record_count
            .map_or("?".into(), |r| r.to_string()),
        p.target.snapshot_id,
        p.target
            .total_record_count
            .map_or("?".into(), |r| r.to_string()),
        p.target.source
    );
    if p.mode == ModeName::AsLatest {
        out.push_str(&format!(
            "  {will} commit a new snapshot{}: {} file(s) ({} bytes) deleted, {} file(s) ({} bytes) added back\n",
            r.new_snapshot_id.map_or(String::new(), |id| format!(" {id}")),
            p.files_deleted, p.bytes_deleted, p.files_added_back, p.bytes_added_back
        ));
        if let Some(t) = &p.protection_tag {
            out.push_str(&format!("  {will} protect the target with tag {t}\n"));
        }
    } else {
        out.push_str(&format!(
            "  snapshots removed: {:?}\n  tags removed: {:?}\n",
            p.snapshots_removed, p.tags_removed
        ));
        if !p.changelogs_removed.is_empty() {
            out.push_str(&format!(
                "  changelogs removed: {:?}\n",
                p.changelogs_removed
            ));
        }
        if let Some(v) = &p.iceberg {
            out.push_str(&format!(
                "  Iceberg view at {}: {} -> {} ({} newer metadata file(s), {} manifest \
                 list(s), {} manifest(s) removed)\n",
                v.location,
                v.metadata_from,
                v.metadata_to,
                v.metadata_removed.len(),
                v.manifest_lists_removed.len(),
                v.manifests_removed.len()
            ));
        }
        if p.restores_snapshot {
            out.push_str(&format!(
                "  snapshot {} {will} be restored from its tag\n",
                p.target.snapshot_id
            ));
        }
        out.push_str(&format!(
            "  {} file(s), {} bytes become unreferenced: {}\n",
            p.unreferenced.len(),
            p.unreferenced_bytes,
            if p.purge {
                "purged"
            } else {
                "left for orphan cleaning (use --purge to delete them)"
            }
        ));
        if let Some(by) = p.unreferenced_decided_by {
            out.push_str(match by {
                DecidedBy::CommitSnapshot => {
                    "  decided by _COMMIT_SNAPSHOT: only the target and the removed snapshots read\n"
                }
                DecidedBy::Model => "  decided by reading every remaining version\n",
            });
        }
    }
    out.push_str(&failed_text(&r.failed));
    out
}
