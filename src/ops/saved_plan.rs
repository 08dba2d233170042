//! Saved plans, for review-and-approve workflows: `--plan-out FILE` writes the plan a destructive
//! command would execute, with a fingerprint of the table; `apply-plan FILE` executes exactly
//! that plan, after checking that the table has not changed in a way that could invalidate it.
//!
//! The fingerprint is every retained snapshot id of every branch (as a range and count), every
//! tag with its snapshot, and the schema ids. Any difference refuses the plan (`conflict`):
//! a new commit may reference a file an orphan plan deletes, a new tag may keep a file an
//! expiration plan deletes. Plans are executed through the same code as the commands
//! themselves (journaled where the command is), never re-planned.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ops::delete_tag::{DeleteTagPlan, DeleteTagReport};
use crate::ops::expire::{ExpirePlan, ExpireReport};
use crate::ops::orphans::{OrphanPlan, OrphanReport};
use crate::ops::rollback::{RollbackReport, SavedRollback};
use crate::table::Table;

/// The `format` of a saved plan file.
pub const FORMAT: &str = "tagkeeper-plan/1";

/// The plan of one destructive command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", content = "plan", rename_all = "kebab-case")]
pub enum PlannedCommand {
    /// `expire-snapshots`.
    ExpireSnapshots(ExpirePlan),
    /// `delete-tag`.
    DeleteTag(DeleteTagPlan),
    /// `remove-orphan-files`.
    RemoveOrphanFiles(OrphanPlan),
    /// `rollback-to` (every mode).
    RollbackTo(Box<SavedRollback>),
    /// `expire-tags`: the deletion of the tags that had expired when it was planned.
    ExpireTags(DeleteTagPlan),
}

impl PlannedCommand {
    /// The command's name, as typed on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            PlannedCommand::ExpireSnapshots(_) => "expire-snapshots",
            PlannedCommand::DeleteTag(_) => "delete-tag",
            PlannedCommand::RemoveOrphanFiles(_) => "remove-orphan-files",
            PlannedCommand::RollbackTo(_) => "rollback-to",
            PlannedCommand::ExpireTags(_) => "expire-tags",
        }
    }
}

/// The state of a table that a plan depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Per branch (`main` first): earliest and latest retained snapshot id and their count.
    pub snapshots: BTreeMap<String, (Option<i64>, Option<i64>, usize)>,
    /// Per branch: tag name → snapshot id.
    pub tags: BTreeMap<String, BTreeMap<String, i64>>,
    /// Schema ids of main.
    pub schemas: Vec<i64>,
}

/// A plan as saved to a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// [`FORMAT`].
    pub format: String,
    /// The table location the plan was made for.
    pub table: String,
    /// When it was made (epoch ms).
    pub created_at_millis: i64,
    /// The table's state then.
    pub fingerprint: Fingerprint,
    /// The command and its plan.
    #[serde(flatten)]
    pub command: PlannedCommand,
}

/// What applying a plan did: the command's own report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "command", content = "report", rename_all = "kebab-case")]
pub enum Applied {
    /// `expire-snapshots`.
    ExpireSnapshots(ExpireReport),
    /// `delete-tag`.
    DeleteTag(DeleteTagReport),
    /// `remove-orphan-files`.
    RemoveOrphanFiles(OrphanReport),
    /// `rollback-to`.
    RollbackTo(Box<RollbackReport>),
    /// `expire-tags`.
    ExpireTags(DeleteTagReport),
}

/// The table's current fingerprint.
pub async fn fingerprint(table: &Table) -> Result<Fingerprint> {
    let mut snapshots = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for b in table.branches().await? {
        let range = b.table.snapshot_range().await?;
        snapshots.insert(
            b.name.clone(),
            (
                range.earliest().map(|i| i.0),
                range.latest().map(|i| i.0),
                range.ids.len(),
            ),
        );
        let named: BTreeMap<String, i64> = b
            .table
            .tags()
            .await?
            .into_iter()
            .map(|t| (t.name.to_string(), t.tag.snapshot.id.0))
            .collect();
        tags.insert(b.name, named);
    }
    let schemas = table.schema_ids().await?.into_iter().map(|s| s.0).collect();
    Ok(Fingerprint {
        snapshots,
        tags,
        schemas,
    })
}

/// Wrap a plan for saving.
pub async fn save(table: &Table, command: PlannedCommand, now_millis: i64) -> Result<SavedPlan> {
    Ok(SavedPlan {
        format: FORMAT.to_string(),
        // Never a secret in a file tagkeeper writes: a location's credentials are masked (then
        // `apply-plan --table` names the table again).
        table: crate::redact::redact(table.location()),
        created_at_millis: now_millis,
        fingerprint: fingerprint(table).await?,
        command,
    })
}

/// Decode a saved plan file (`path` names it in errors).
pub fn decode(bytes: &[u8], path: &str) -> Result<SavedPlan> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidArgument(format!("{path}: not a saved plan ({e})")))?;
    match v.get("format").and_then(serde_json::Value::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
            "{path}: plan format {other:?} is not {FORMAT:?} (made by another tagkeeper version?)"
        )))
        }
        None => {
            return Err(Error::InvalidArgument(format!(
                "{path}: not a saved plan (no \"format\"); write one with --plan-out"
            )))
        }
    }
    serde_json::from_value(v)
        .map_err(|e| Error::InvalidArgument(format!("{path}: a damaged saved plan ({e})")))
}

/// How two fingerprints differ, for the refusal.
fn differences(then: &Fingerprint, now: &Fingerprint) -> Vec<String> {
    let mut out = Vec::new();
    let branches: std::collections::BTreeSet<&String> =
        then.snapshots.keys().chain(now.snapshots.keys()).collect();
    for b in branches {
        let (a, z) = (then.snapshots.get(b), now.snapshots.get(b));
        if a != z {
            out.push(format!("branch {b}: snapshots {a:?} then, {z:?} now"));
        }
        let (ta, tz) = (then.tags.get(b), now.tags.get(b));
        if ta != tz {
            let empty = BTreeMap::new();
            let (ta, tz) = (ta.unwrap_or(&empty), tz.unwrap_or(&empty));
            for (name, id) in ta {
                match tz.get(name) {
                    None => out.push(format!("branch {b}: tag '{name}' was deleted")),
                    Some(n) if n != id => out.push(format!(
                        "branch {b}: tag '{name}' moved from snapshot {id} to {n}"
                    )),
                    Some(_) => {}
                }
            }
            for name in tz.keys().filter(|n| !ta.contains_key(*n)) {
                out.push(format!("branch {b}: tag '{name}' was created"));
            }
        }
    }
    if then.schemas != now.schemas {
        out.push(format!(
            "schemas {:?} then, {:?} now",
            then.schemas, now.schemas
        ));
    }
    out
}

/// Execute a saved plan on `table` after checking its fingerprint. Nothing is re-planned (an
/// as-latest rollback's commit is derived again from the unchanged snapshots and must equal
/// the saved one; see [`crate::ops::rollback::from_saved`]). `origin` names the file in errors.
pub async fn apply(
    table: &Table,
    saved: SavedPlan,
    origin: &str,
    clock: &dyn Clock,
) -> Result<Applied> {
    let now = fingerprint(table).await?;
    let diff = differences(&saved.fingerprint, &now);
    if !diff.is_empty() {
        return Err(Error::Conflict(format!(
            "the table changed since the {} plan was made ({}); nothing was done: plan again",
            saved.command.name(),
            diff.join("; ")
        )));
    }
    Ok(match saved.command {
        PlannedCommand::ExpireSnapshots(p) => {
            Applied::ExpireSnapshots(crate::ops::expire::execute(table, p, &|_, _| {}).await?)
        }
        PlannedCommand::DeleteTag(p) => {
            Applied::DeleteTag(crate::ops::delete_tag::execute(table, p).await?)
        }
        PlannedCommand::RemoveOrphanFiles(r) => {
            Applied::RemoveOrphanFiles(crate::ops::orphans::execute(table, r, clock).await?)
        }
        PlannedCommand::RollbackTo(r) => {
            let plan = crate::ops::rollback::from_saved(table, *r, origin).await?;
            Applied::RollbackTo(Box::new(
                crate::ops::rollback::execute_plan(table, plan, clock).await?,
            ))
        }
        PlannedCommand::ExpireTags(p) => {
            Applied::ExpireTags(crate::ops::delete_tag::execute(table, p).await?)
        }
    })
}
