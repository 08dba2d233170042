//! auto-tag: Java's periodic tag creation (`TagAutoCreation`, paimon-format.md §7.6) run from
//! outside the writer, for one table or every enabled table of a warehouse.
//!
//! A run reads the table's options, resumes after the newest automatic tag (as Java does),
//! walks the retained snapshots after it and creates the tags Java's rules give, each with a
//! conditional create (so two schedulers, or tagkeeper and a Java writer, never produce
//! duplicates: names are deterministic and the second creator finds the tag there). Then it
//! applies `tag.num-retained-max` and, unless told not to, time retention (`expire-tags`), both
//! through delete-tag with its data cleanup. See [`planner`] for the one deliberate difference
//! from Java: periods whose deciding snapshot may have expired are reported, never guessed.

pub mod period;
pub mod planner;

use std::collections::BTreeSet;

use futures::StreamExt;
use serde::Serialize;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::format::ids::{SnapshotId, TagName};
use crate::io::TableStore;
use crate::ops::delete_tag::{self, DeleteTagReport};
use crate::ops::expire_tags;
use crate::ops::tag::{create_tag, CreateTag, TagSource};
use crate::table::Table;

pub use planner::{AutoTagConfig, Decision, LastAutoTag, Mode, Planner, Setting};

/// Snapshots read ahead while walking history.
const SNAPSHOT_READ_AHEAD: usize = 16;

/// How one run behaves.
#[derive(Debug, Clone, Default)]
pub struct AutoTagRun {
    /// Option overrides (`KEY`, `VALUE`) that win over the table's own options.
    pub overrides: Vec<(String, String)>,
    /// Plan only.
    pub dry_run: bool,
    /// Skip time retention (`maintain` runs it itself, as its own step).
    pub skip_time_expire: bool,
}

/// One tag the run created, found, or would create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagAction {
    /// The tag name.
    pub tag: String,
    /// The snapshot it was meant for.
    pub snapshot_id: i64,
    /// `created`, `exists` (same snapshot: another scheduler was first), `exists_elsewhere`
    /// (a tag of that name points at another snapshot; left alone), or `would_create`.
    pub outcome: &'static str,
    /// For `exists_elsewhere`: the snapshot the existing tag points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_snapshot_id: Option<i64>,
}

/// Periods that get no tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissedPeriods {
    /// Their tag names.
    pub tags: Vec<String>,
    /// The first retained snapshot after them.
    pub before_snapshot_id: i64,
    /// Why.
    pub reason: String,
}

/// What auto-tag did to one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoTagReport {
    /// The table location.
    pub table: String,
    /// `done`, `disabled` or `failed`.
    pub status: &'static str,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Why the table was skipped, or the error that stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The newest automatic tag before the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_after: Option<String>,
    /// Snapshots examined.
    pub snapshots_examined: u64,
    /// Tags created (or found, or planned).
    pub tags: Vec<TagAction>,
    /// Periods reported instead of tagged.
    pub missed: Vec<MissedPeriods>,
    /// Automatic tags deleted by `tag.num-retained-max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<DeleteTagReport>,
    /// Tags deleted by time retention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<DeleteTagReport>,
    /// Things worth knowing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl AutoTagReport {
    fn new(table: &str, dry_run: bool) -> Self {
        AutoTagReport {
            table: table.to_string(),
            status: "done",
            dry_run,
            message: None,
            resumed_after: None,
            snapshots_examined: 0,
            tags: Vec::new(),
            missed: Vec::new(),
            retention: None,
            expired: None,
            notes: Vec::new(),
        }
    }

    /// The report of a table whose run failed.
    pub fn failed(table: &str, dry_run: bool, error: &Error) -> Self {
        AutoTagReport {
            status: "failed",
            message: Some(error.to_string()),
            ..AutoTagReport::new(table, dry_run)
        }
    }
}

/// The table's auto-tag settings with overrides applied.
pub async fn settings(table: &Table, overrides: &[(String, String)]) -> Result<Setting> {
    let schema = table.latest_schema().await?;
    let get = |k: &str| {
        overrides
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .or_else(|| schema.option(k).map(str::to_string))
    };
    AutoTagConfig::from_options(&get)
        .map_err(|e| Error::InvalidArgument(format!("{}: auto-tag option {e}", table.location())))
}

/// Run auto-tag on one table.
pub async fn auto_tag(table: &Table, run: &AutoTagRun, clock: &dyn Clock) -> Result<AutoTagReport> {
    let mut report = AutoTagReport::new(table.location(), run.dry_run);
    let config = match settings(table, &run.overrides).await? {
        Setting::Disabled(why) => {
            report.status = "disabled";
            report.message = Some(why);
            return Ok(report);
        }
        Setting::Enabled(c) => c,
    };

    // Resume after the newest automatic tag, as Java does.
    let names = table.tag_names().await?;
    let auto: Vec<&TagName> = names
        .iter()
        .filter(|n| config.period.is_auto_tag(n.as_str()))
        .collect();
    let newest = auto
        .iter()
        .filter_map(|n| config.period.tag_time(n.as_str()).map(|t| (t, *n)))
        .max();
    let last = match newest {
        None => None,
        Some((time, name)) => {
            let tag = table.load_tag(name).await?;
            report.resumed_after = Some(name.to_string());
            Some(LastAutoTag {
                time,
                snapshot_id: tag.snapshot.id,
            })
        }
    };

    let range = table.snapshot_range().await?;
    let mut planner = Planner::resume(config.clone(), last, range.earliest().map(|e| e.0));
    let decisions = walk(table, &range.ids, &mut planner, &mut report).await?;

    // Create (or plan) the tags.
    let existing: BTreeSet<&str> = names.iter().map(TagName::as_str).collect();
    let mut planned_auto: Vec<(String, i64)> = Vec::new();
    for d in decisions {
        match d {
            Decision::Missed { names, snapshot_id } => report.missed.push(MissedPeriods {
                tags: names,
                before_snapshot_id: snapshot_id,
                reason: "the snapshots before this one expired before they were examined, so \
                         the snapshot that ended these periods is unknown"
                    .into(),
            }),
            Decision::Tag { name, snapshot_id } => {
                let action = if run.dry_run {
                    TagAction {
                        outcome: if existing.contains(name.as_str()) {
                            "exists"
                        } else {
                            "would_create"
                        },
                        tag: name.clone(),
                        snapshot_id,
                        existing_snapshot_id: None,
                    }
                } else {
                    create(table, &config, &name, snapshot_id, clock).await?
                };
                if action.outcome == "would_create" {
                    planned_auto.push((name, snapshot_id));
                }
                report.tags.push(action);
            }
        }
    }

    if let Some(max) = config.num_retained_max {
        report.retention = Some(retain(table, &config, max, planned_auto, run.dry_run).await?);
    }
    if config.time_expire && !run.skip_time_expire {
        report.expired = Some(expire_tags::expire_tags_by_time(table, clock, run.dry_run).await?);
    }
    Ok(report)
}

/// Feed the planner the retained snapshots from where it resumes, in id order, as Java's
/// `run()` loop does: jump to the earliest when the next id expired, stop at a gap.
async fn walk(
    table: &Table,
    ids: &[SnapshotId],
    planner: &mut Planner,
    report: &mut AutoTagReport,
) -> Result<Vec<Decision>> {
    let Some(earliest) = ids.first() else {
        return Ok(Vec::new());
    };
    planner.jump_to(earliest.0);
    let start = ids.partition_point(|id| id.0 < planner.next_snapshot());
    // The contiguous run of ids from the planner's next one.
    let mut run: Vec<SnapshotId> = Vec::new();
    for id in &ids[start..] {
        if id.0 != planner.next_snapshot() + run.len() as i64 {
            report.notes.push(format!(
                "snapshot {} is missing: stopped before it, as Java does",
                planner.next_snapshot() + run.len() as i64
            ));
            break;
        }
        run.push(*id);
    }
    let mut decisions = Vec::new();
    let mut loaded = futures::stream::iter(run)
        .map(|id| async move { (id, table.try_load_snapshot(id).await) })
        .buffered(SNAPSHOT_READ_AHEAD);
    while let Some((id, snapshot)) = loaded.next().await {
        let Some(snapshot) = snapshot? else {
            report.notes.push(format!(
                "snapshot {id} vanished while being read (expired concurrently): stopped there"
            ));
            break;
        };
        report.snapshots_examined += 1;
        if let Some(d) = planner.process(id.0, snapshot.time_millis, snapshot.watermark) {
            decisions.push(d);
        }
    }
    Ok(decisions)
}

async fn create(
    table: &Table,
    config: &AutoTagConfig,
    name: &str,
    snapshot_id: i64,
    clock: &dyn Clock,
) -> Result<TagAction> {
    let tag_name = TagName::new(name)?;
    let made = create_tag(
        table,
        &CreateTag {
            name: tag_name,
            source: TagSource::Snapshot(SnapshotId(snapshot_id)),
            time_retained: config.time_retained,
            if_not_exists: true,
        },
        clock,
    )
    .await?;
    let (outcome, existing) = match (made.created, made.snapshot_id == snapshot_id) {
        (true, _) => ("created", None),
        (false, true) => ("exists", None),
        (false, false) => ("exists_elsewhere", Some(made.snapshot_id)),
    };
    Ok(TagAction {
        tag: name.to_string(),
        snapshot_id,
        outcome,
        existing_snapshot_id: existing,
    })
}

/// `tag.num-retained-max`: delete the oldest automatic tags (with data cleanup).
async fn retain(
    table: &Table,
    config: &AutoTagConfig,
    max: u64,
    planned: Vec<(String, i64)>,
    dry_run: bool,
) -> Result<DeleteTagReport> {
    let names = over_max_of(table, config, max, planned).await?;
    let plan = delete_tag::plan(table, &names).await?;
    if dry_run {
        Ok(delete_tag::summarize(&plan, true))
    } else {
        delete_tag::execute(table, plan).await
    }
}

/// The automatic tags beyond the table's `tag.num-retained-max`, oldest first (none when the
/// table does not create tags automatically or sets no maximum).
pub async fn over_max(table: &Table, overrides: &[(String, String)]) -> Result<Vec<TagName>> {
    match settings(table, overrides).await? {
        Setting::Enabled(c) => match c.num_retained_max {
            Some(max) => over_max_of(table, &c, max, Vec::new()).await,
            None => Ok(Vec::new()),
        },
        Setting::Disabled(_) => Ok(Vec::new()),
    }
}

async fn over_max_of(
    table: &Table,
    config: &AutoTagConfig,
    max: u64,
    planned: Vec<(String, i64)>,
) -> Result<Vec<TagName>> {
    let mut auto: Vec<(String, i64)> = table
        .tags()
        .await?
        .into_iter()
        .filter(|t| config.period.is_auto_tag(t.name.as_str()))
        .map(|t| (t.name.to_string(), t.tag.snapshot.id.0))
        .collect();
    auto.extend(planned);
    let doomed = planner::over_retention(&auto, max)
        .map_err(|e| Error::Conflict(format!("{}: {e}", table.location())))?;
    doomed
        .iter()
        .map(|n| TagName::from_listing(n).ok_or_else(|| Error::InvalidArgument(n.clone())))
        .collect()
}

/// Every table of a warehouse (`<db>.db/<table>/` with a schema) whose options, with the
/// overrides, enable automatic tags. `databases` limits the search (names without `.db`).
/// Tables whose options cannot be read are returned too, so that their failure is reported.
pub async fn discover(
    warehouse: &TableStore,
    databases: &[String],
    overrides: &[(String, String)],
) -> Result<Vec<Table>> {
    let (_, dirs) = warehouse.list_dir("").await?;
    let mut dbs: Vec<String> = dirs
        .into_iter()
        .filter(|d| d.ends_with(".db"))
        .filter(|d| {
            databases.is_empty()
                || databases
                    .iter()
                    .any(|want| d.strip_suffix(".db") == Some(want.as_str()))
        })
        .collect();
    dbs.sort();
    for want in databases {
        if !dbs
            .iter()
            .any(|d| d.strip_suffix(".db") == Some(want.as_str()))
        {
            return Err(Error::InvalidArgument(format!(
                "no database {want:?} under {} (expected a directory {want}.db)",
                warehouse.location()
            )));
        }
    }
    let mut candidates = Vec::new();
    for db in dbs {
        let (_, tables) = warehouse.list_dir(&db).await?;
        for t in tables {
            candidates.push(Table::new(warehouse.child(&t)?));
        }
    }
    let checks = candidates.into_iter().map(|table| async move {
        if table.schema_ids().await.map_or(true, |ids| ids.is_empty()) {
            return None;
        }
        match settings(&table, overrides).await {
            Ok(Setting::Disabled(_)) => None,
            _ => Some(table),
        }
    });
    let found: Vec<Option<Table>> = futures::stream::iter(checks)
        .buffered(SNAPSHOT_READ_AHEAD)
        .collect()
        .await;
    Ok(found.into_iter().flatten().collect())
}

/// Run auto-tag over many tables with bounded concurrency. A failing table is reported and the
/// others go on. `stop` is checked before each table starts (a daemon's shutdown signal).
pub async fn auto_tag_many(
    tables: Vec<Table>,
    run: &AutoTagRun,
    clock: &dyn Clock,
    concurrency: usize,
    stop: &(dyn Fn() -> bool + Sync),
) -> Vec<AutoTagReport> {
    futures::stream::iter(tables)
        .map(|table| async move {
            if stop() {
                return None;
            }
            Some(match auto_tag(&table, run, clock).await {
                Ok(r) => r,
                Err(e) => AutoTagReport::failed(table.location(), run.dry_run, &e),
            })
        })
        .buffered(concurrency.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await
}
