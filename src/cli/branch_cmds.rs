//! Branch commands.

use clap::Args;

use super::output::{failed_text, Printer};
use super::GlobalArgs;
use tagkeeper::error::incomplete;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::ops::branch::{self, BranchAction, BranchSource};
use tagkeeper::{Error, Result};

/// `branches` arguments.
#[derive(Debug, Args)]
pub(crate) struct BranchesArgs {
    /// The table.
    table: String,
}

/// `create-branch` arguments.
#[derive(Debug, Args)]
pub(crate) struct CreateBranchArgs {
    /// The table.
    table: String,
    /// The new branch's name.
    name: String,
    /// Create it from this tag (the tag, its snapshot and the schemas are copied).
    #[arg(long, group = "source")]
    tag: Option<String>,
    /// Create it from this retained snapshot of main.
    #[arg(long, group = "source")]
    snapshot: Option<i64>,
}

/// `rename-branch` arguments.
#[derive(Debug, Args)]
pub(crate) struct RenameBranchArgs {
    /// The table.
    table: String,
    /// The branch's name.
    old: String,
    /// Its new name.
    new: String,
}

/// `fast-forward` arguments.
#[derive(Debug, Args)]
pub(crate) struct FastForwardArgs {
    /// The table.
    table: String,
    /// The branch main takes the snapshots, schemas and tags of.
    name: String,
}

/// `delete-branch` arguments.
#[derive(Debug, Args)]
pub(crate) struct DeleteBranchArgs {
    /// The table.
    table: String,
    /// Branch name(s).
    #[arg(required = true)]
    names: Vec<String>,
    /// Print the plan (the branches' files and the files only they kept) and change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn list(a: BranchesArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let table = global.open(&a.table).await?;
    let report = branch::list(&table).await?;
    printer.report(&report, |r| {
        if r.branches.is_empty() {
            return "No branches.\n".to_string();
        }
        let mut out = format!(
            "{:<24} {:<24} {:>8} {:>9} {:>5}\n",
            "BRANCH", "CREATED FROM", "LATEST", "SNAPSHOTS", "TAGS"
        );
        for b in &r.branches {
            let from = match &b.created_from {
                Some(f) => match &f.tag {
                    Some(t) => format!("tag '{t}' ({})", f.snapshot_id),
                    None => format!("snapshot {}", f.snapshot_id),
                },
                None => "-".to_string(),
            };
            let latest = b.latest_snapshot.map_or("-".to_string(), |l| l.to_string());
            out.push_str(&format!(
                "{:<24} {:<24} {:>8} {:>9} {:>5}\n",
                b.name, from, latest, b.snapshots, b.tags
            ));
        }
        out
    })
}

pub(crate) async fn create(
    a: CreateBranchArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let source =
        match (&a.tag, a.snapshot) {
            (Some(t), _) => BranchSource::Tag(TagName::from_listing(t).ok_or_else(|| {
                Error::InvalidTagName {
                    name: t.clone(),
                    reason: "not a tag name".into(),
                }
            })?),
            (_, Some(id)) if id < 1 => {
                return Err(Error::InvalidArgument(format!(
                    "--snapshot must be a positive snapshot id, got {id}"
                )))
            }
            (_, Some(id)) => BranchSource::Snapshot(SnapshotId(id)),
            _ => BranchSource::Empty,
        };
    let table = global.open(&a.table).await?;
    let report = branch::create(&table, &a.name, &source).await?;
    printer.report(&report, |r| {
        let from = match (&r.tag, r.snapshot_id) {
            (Some(t), Some(id)) => format!("from tag '{t}' (snapshot {id})"),
            (None, Some(id)) => format!("from snapshot {id}"),
            _ => "empty".to_string(),
        };
        format!(
            "{} branch '{}' {from} ({} files).\n",
            if r.resumed {
                "Finished creating"
            } else {
                "Created"
            },
            r.name,
            r.files.len()
        )
    })
}

pub(crate) async fn rename(
    a: RenameBranchArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let table = global.open(&a.table).await?;
    let report = branch::rename(&table, &a.old, &a.new).await?;
    let failure = incomplete("rename-branch", &report.failed);
    printer.finish(
        &report,
        |r| {
            let mut out = format!(
                "Renamed branch '{}' to '{}' ({} files).\n",
                r.from, r.to, r.files
            );
            out.push_str(&failed_text(&r.failed));
            out
        },
        failure,
    )
}

pub(crate) async fn fast_forward(
    a: FastForwardArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let table = global.open(&a.table).await?;
    if super::confirm::wanted(global) {
        let question = format!(
            "Replace main's snapshots, schemas and tags from branch '{}''s earliest snapshot on \
             with the branch's?",
            a.name
        );
        super::confirm::ask("fast-forward", &question).await?;
    }
    let report = branch::fast_forward(&table, &a.name).await?;
    printer.report(&report, |r| {
        format!(
            "Fast-forwarded main to branch '{}' from snapshot {}: deleted {} snapshot(s), {} schema(s), {} tag(s) of main; copied {} file(s).\n",
            r.branch,
            r.from_snapshot,
            r.deleted_snapshots.len(),
            r.deleted_schemas.len(),
            r.deleted_tags.len(),
            r.copied.len()
        )
    })
}

pub(crate) async fn delete(
    a: DeleteBranchArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<()> {
    let table = global.open(&a.table).await?;
    if !a.dry_run && super::confirm::wanted(global) {
        let preview = branch::delete_branches(&table, &a.names, true).await?;
        let question = "Delete these branches and the files only they keep?";
        super::confirm::ask_after(&preview, delete_text, "delete-branch", question, printer)
            .await?;
    }
    let report = branch::delete_branches(&table, &a.names, a.dry_run).await?;
    let skipped: Vec<String> = report
        .branches
        .iter()
        .filter(|b| b.skipped_for_safety)
        .map(|b| {
            format!(
                "branch '{}': {}",
                b.name,
                b.reason.clone().unwrap_or_default()
            )
        })
        .collect();
    printer.warnings(&skipped);
    printer.warnings(&report.notes);
    let failure = incomplete("delete-branch", &report.failed).or_else(|| {
        (!report.not_found.is_empty() && report.deleted_branches.is_empty()).then(|| {
            Error::BranchNotFound {
                name: report.not_found.join(","),
                available: "see `tagkeeper branches`".to_string(),
            }
        })
    });
    if !matches!(failure, Some(Error::BranchNotFound { .. })) {
        let missing: Vec<String> = report
            .not_found
            .iter()
            .map(|n| format!("branch '{n}' does not exist"))
            .collect();
        printer.warnings(&missing);
    }
    printer.finish(&report, delete_text, failure)
}

fn delete_text(r: &branch::DeleteBranchReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "Would delete" } else { "Deleted" };
    for b in &r.branches {
        if b.action == BranchAction::NotFound {
            continue;
        }
        out.push_str(&format!(
            "{verb} branch '{}'{}\n",
            b.name,
            b.reason
                .as_ref()
                .map(|why| format!(": its directory only, {why}"))
                .unwrap_or_default()
        ));
        if r.dry_run {
            out.push_str(&format!(
                "  the branch's own directory: {} file(s)\n",
                b.branch_files.len()
            ));
            out.push_str(&super::output::file_lines(
                b.files
                    .iter()
                    .map(|f| (&f.category, f.path.as_str(), f.bytes)),
            ));
        }
    }
    for (c, t) in &r.deleted {
        out.push_str(&super::output::tally_line(c, t.files, t.bytes));
    }
    out.push_str(&failed_text(&r.failed));
    out
}
