//! `--plan-out FILE` (saving a plan) and `apply-plan FILE` (executing it), for review-and-
//! approve workflows: a person or a CI job reads the plan, and the approved file is applied.

use std::path::{Path, PathBuf};

use clap::Args;

use super::output::Printer;
use super::GlobalArgs;
use tagkeeper::clock::{Clock, SystemClock};
use tagkeeper::error::incomplete;
use tagkeeper::ops::saved_plan::{self, Applied, PlannedCommand};
use tagkeeper::table::Table;
use tagkeeper::{Error, Result};

/// `apply-plan` arguments.
#[derive(Debug, Args)]
pub(crate) struct ApplyPlanArgs {
    /// A plan written by `--plan-out`.
    file: PathBuf,
    /// The table, when it is reached under another location than the one the plan names (the
    /// same table through another mount or endpoint).
    #[arg(long, value_name = "LOCATION")]
    table: Option<String>,
}

/// Write `command`'s plan with the table's fingerprint to `out` (a new file).
pub(crate) async fn save(table: &Table, command: PlannedCommand, out: &Path) -> Result<()> {
    if table.is_branch() {
        // A saved plan records no branch: apply-plan would run it against main.
        return Err(Error::InvalidArgument(format!(
            "--plan-out cannot be used with --branch {}: saved plans are for main only",
            table.branch_name()
        )));
    }
    let saved = saved_plan::save(table, command, SystemClock.now_millis()).await?;
    let body = serde_json::to_vec_pretty(&saved)
        .map_err(|e| Error::InvalidArgument(format!("cannot encode the plan: {e}")))?;
    std::fs::write(out, body).map_err(|e| {
        Error::InvalidArgument(format!("cannot write the plan to {}: {e}", out.display()))
    })
}

pub(crate) async fn apply(a: ApplyPlanArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let path = a.file.display().to_string();
    let bytes = std::fs::read(&a.file)
        .map_err(|e| Error::InvalidArgument(format!("cannot read the plan {path}: {e}")))?;
    let saved = saved_plan::decode(&bytes, &path)?;
    let location = match &a.table {
        Some(t) => t.clone(),
        None if saved.table.contains(tagkeeper::redact::MASK) => {
            return Err(Error::InvalidArgument(format!(
                "{path}: the plan's table location had credentials, which plans never keep; \
                 name the table with --table LOCATION"
            )))
        }
        None => saved.table.clone(),
    };
    let table = Table::open(&location, &global.store_options()).await?;
    let applied = saved_plan::apply(&table, saved, &path, &SystemClock).await?;
    render_applied(printer, applied)
}

/// Print what an applied plan did, as the command itself prints it.
pub(crate) fn render_applied(printer: &Printer, applied: Applied) -> Result<()> {
    match applied {
        Applied::ExpireSnapshots(p) => {
            printer.warnings(&p.plan.skipped);
            let failure = incomplete("expire-snapshots", &p.failed);
            printer.finish(&p, super::expire_cmd::text, failure)
        }
        Applied::DeleteTag(r) => {
            printer.warnings(&r.notes);
            let failure = incomplete("delete-tag", &r.failed);
            printer.finish(&r, super::tag_cmds::delete_text, failure)
        }
        Applied::RollbackTo(r) => {
            printer.warnings(&r.plan.notes);
            let failure = incomplete("rollback-to", &r.failed);
            printer.finish(r.as_ref(), super::rollback_cmd::preview_text, failure)
        }
        Applied::ExpireTags(r) => {
            printer.warnings(&r.notes);
            let failure = incomplete("expire-tags", &r.failed);
            printer.finish(&r, super::expire_cmd::expire_tags_text, failure)
        }
        Applied::RemoveOrphanFiles(r) => {
            printer.warnings(&r.notes);
            let failure = incomplete("remove-orphan-files", &r.failed);
            printer.finish(&r, super::orphans_cmd::orphans_text, failure)
        }
    }
}
