//! auto-tag: Java's periodic tag creation (`TagAutoCreation`, paimon-format.md §7.6) run from
//! outside the writer, for one table or every enabled table of a warehouse.
//!
//! A run reads the table's options, resumes after the newest automatic tag, walks the
//! retained snapshots after it and creates the tags Java's rules give, each with a
//! conditional create (so two schedulers, or tagkeeper and a Java writer, never produce
//! duplicates: names are deterministic and the second creator finds the tag there). Then it
//! applies `tag.num-retained-max` and, unless told not to, time retention (`expire-tags`), both
//! through delete-tag with its data cleanup. Deliberate differences from Java: periods whose
//! deciding snapshot may have expired are reported, never guessed (see [`planner`]); a tag
//! that would already have expired, had it been made on time, is not created (see `Expiry`); a run resumes
//! after the automatic tag with the latest period, Java after the one on the highest snapshot.

pub mod period;
pub mod planner;

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
    /// (a tag of that name points at another snapshot; left alone), `would_create` (dry run),
    /// or `skipped_expired` (not created: made on time, it would have expired already).
    pub outcome: &'static str,
    /// For `exists_elsewhere`: the snapshot the existing tag points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_snapshot_id: Option<i64>,
    /// For `skipped_expired`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Periods that get no tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissedPeriods {
    /// Their tag names.
    pub tags: Vec<String>,
    /// The snapshot the decision was made at: the first retained snapshot after them, or the
    /// snapshot that was to get the tag but expired before it could.
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
    let setting = AutoTagConfig::from_options(&get).map_err(|e| {
        Error::InvalidArgument(format!("{}: auto-tag option {e}", table.location()))
    })?;
    if matches!(setting, Setting::Enabled(_)) {
        crate::ops::tag::iceberg_refs(table, &schema, "auto-tag")?;
    }
    Ok(setting)
}

/// Run auto-tag on one table.
pub async fn auto_tag(table: &Table, run: &AutoTagRun, clock: &dyn Clock) -> Result<AutoTagReport> {
    let setting = settings(table, &run.overrides).await?;
    auto_tag_with(table, setting, run, clock).await
}

/// Run auto-tag on one table whose settings were read already (by [`settings`], with
/// `run.overrides`), e.g. by [`discover`].
pub async fn auto_tag_with(
    table: &Table,
    setting: Setting,
    run: &AutoTagRun,
    clock: &dyn Clock,
) -> Result<AutoTagReport> {
    let mut report = AutoTagReport::new(table.location(), run.dry_run);
    let config = match setting {
        Setting::Disabled(why) => {
            report.status = "disabled";
            report.message = Some(why);
            return Ok(report);
        }
        Setting::Enabled(c) => c,
    };

    // Resume after the automatic tag with the latest period (Java resumes after the one on
    // the highest snapshot; the two agree unless such tags were made out of order).
    let names = table.tag_names().await?;
    let newest = names
        .iter()
        .filter_map(|n| config.period.tag_time(n.as_str()).map(|t| (t, n)))
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
    let mut planner = Planner::resume(config.clone(), last, range.earliest().map(|e| e.0))?;
    let decisions = walk(table, &range.ids, &mut planner, &mut report).await?;

    // Create (or plan) the tags.
    let expiry = Expiry::new(&config, clock);
    let mut planned_auto: Vec<(String, i64)> = Vec::new();
    let mut skipped = 0usize;
    for (d, time_millis) in decisions {
        match d {
            Decision::Missed { names, snapshot_id } => {
                let mut reason = "the snapshots before this one expired before they were \
                                  examined, so the snapshot that ended these periods is unknown"
                    .to_string();
                if expiry.expired(time_millis) {
                    // Their tags would have been made at or before this snapshot's commit.
                    reason.push_str(
                        "; their tags would be past tag.default-time-retained by now anyway",
                    );
                }
                report.missed.push(MissedPeriods {
                    tags: names,
                    before_snapshot_id: snapshot_id,
                    reason,
                })
            }
            Decision::Tag { name, snapshot_id } => {
                if expiry.expired(time_millis) {
                    skipped += 1;
                    report.tags.push(TagAction {
                        tag: name,
                        snapshot_id,
                        outcome: "skipped_expired",
                        existing_snapshot_id: None,
                        reason: expiry.reason(time_millis),
                    });
                    continue;
                }
                let action = if run.dry_run {
                    planned(table, &name, snapshot_id).await?
                } else {
                    match create(table, &config, &name, snapshot_id, clock).await {
                        Ok(a) => a,
                        Err(e) => {
                            // Expired between the walk and the create: the period is missed,
                            // the later ones and retention still run. Any other failure
                            // fails the table.
                            let gone = table.try_load_snapshot(SnapshotId(snapshot_id)).await;
                            if !matches!(gone, Ok(None)) {
                                return Err(e);
                            }
                            report.missed.push(MissedPeriods {
                                tags: vec![name],
                                before_snapshot_id: snapshot_id,
                                reason: format!(
                                    "snapshot {snapshot_id} expired before its tag could be \
                                     created ({e})"
                                ),
                            });
                            continue;
                        }
                    }
                };
                if action.outcome == "would_create" {
                    planned_auto.push((name, snapshot_id));
                }
                report.tags.push(action);
            }
        }
    }
    if skipped > 0 {
        report.notes.push(format!(
            "{skipped} tag(s) not created because they would have expired already: made when \
             their snapshot was committed, as Java's writer makes them, they would be past \
             tag.default-time-retained by now"
        ));
    }

    if let Some(max) = config.num_retained_max {
        report.retention = Some(retain(table, &config, max, planned_auto, run.dry_run).await?);
    }
    if config.time_expire && !run.skip_time_expire {
        report.expired = Some(expire_tags::expire_tags_by_time(table, clock, run.dry_run).await?);
    }
    Ok(report)
}

/// Whether a tag would be deleted by time retention in the run that creates it. Java's writer
/// creates a period's tag right after committing the snapshot that ends the period, so its
/// `tagCreateTime` is that commit time; time retention deletes a tag once `now >
/// tagCreateTime + tagTimeRetained` (both local wall-clock times, so the zone offset cancels
/// out and epoch millis compare the same). A tag for a period long past would be created
/// now only because its predecessors expired; it would have expired too (and a run that
/// re-creates them would do so again after each expiry).
struct Expiry {
    now_millis: i64,
    retained_millis: Option<i64>,
    retained: Option<std::time::Duration>,
}

impl Expiry {
    fn new(config: &AutoTagConfig, clock: &dyn Clock) -> Self {
        let retained = config.time_retained.filter(|_| config.time_expire);
        Expiry {
            now_millis: clock.now_millis(),
            retained_millis: retained.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            retained,
        }
    }

    fn expired(&self, commit_millis: i64) -> bool {
        self.retained_millis
            .is_some_and(|r| self.now_millis > commit_millis.saturating_add(r))
    }

    fn reason(&self, commit_millis: i64) -> Option<String> {
        let retained = self.retained?;
        let commit = chrono::DateTime::from_timestamp_millis(commit_millis)
            .map_or_else(|| commit_millis.to_string(), |t| t.to_rfc3339());
        Some(format!(
            "its snapshot was committed at {commit}, and tag.default-time-retained ({}) has \
             passed since: made on time (as Java's writer makes it), the tag would have \
             expired already",
            period::describe_duration(retained)
        ))
    }
}

/// A dry run's outcome for one tag: what a real run's conditional create would report now.
/// The tag is looked up at this point, not in the listing the run resumed from: names come
/// after the newest automatic tag listed, so only a tag created since (by another scheduler
/// or a Java writer) can be there.
async fn planned(table: &Table, name: &str, snapshot_id: i64) -> Result<TagAction> {
    let mut action = TagAction {
        tag: name.to_string(),
        snapshot_id,
        outcome: "would_create",
        existing_snapshot_id: None,
        reason: None,
    };
    if let Some(tag) = table.try_load_tag(&TagName::new(name)?).await? {
        if tag.snapshot.id.0 == snapshot_id {
            action.outcome = "exists";
        } else {
            action.outcome = "exists_elsewhere";
            action.existing_snapshot_id = Some(tag.snapshot.id.0);
        }
    }
    Ok(action)
}

/// Feed the planner the retained snapshots from where it resumes, in id order, as Java's
/// `run()` loop does: jump to the earliest when the next id expired, stop at a gap. Each
/// decision comes with the commit time of its snapshot.
async fn walk(
    table: &Table,
    ids: &[SnapshotId],
    planner: &mut Planner,
    report: &mut AutoTagReport,
) -> Result<Vec<(Decision, i64)>> {
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
        if let Some(d) = planner.process(id.0, snapshot.time_millis, snapshot.watermark)? {
            decisions.push((d, snapshot.time_millis));
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
        reason: None,
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

/// A table to run auto-tag on, with its settings (read once per round).
#[derive(Debug, Clone)]
pub struct Target {
    /// The table.
    pub table: Table,
    /// Its settings, with the overrides applied.
    pub setting: Setting,
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Tables whose options enable automatic tags.
    pub targets: Vec<Target>,
    /// Tables (or whole databases) that could not be examined: location and error. They are
    /// failures of the run, not reasons to stop it.
    pub failed: Vec<(String, Error)>,
}

/// Every table of a warehouse (`<db>.db/<table>/` with a schema) whose options, with the
/// overrides, enable automatic tags. `databases` limits the search (names without `.db`).
/// A table whose schemas or options cannot be read, and a database that cannot be listed,
/// are returned as failures; the rest of the warehouse is still examined. Only a warehouse
/// root that cannot be listed, or a requested database that does not exist, is an error.
/// `stop` is checked between databases and before each table is examined (a daemon's
/// shutdown signal): once it is set, the tables found so far are returned.
pub async fn discover(
    warehouse: &TableStore,
    databases: &[String],
    overrides: &[(String, String)],
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Discovery> {
    let listing = crate::ops::warehouse::list(warehouse, databases, stop).await?;
    let mut found = Discovery {
        targets: Vec::new(),
        failed: listing.failed,
    };
    let candidates = listing.candidates;
    let checks = candidates.into_iter().map(|table| async move {
        if stop() {
            return None;
        }
        let failed = |e| Some(Err((table.location().to_string(), e)));
        match table.schema_ids().await {
            Ok(ids) if ids.is_empty() => return None,
            Ok(_) => {}
            Err(e) => return failed(e),
        }
        match settings(&table, overrides).await {
            Ok(Setting::Disabled(_)) => None,
            Ok(setting) => Some(Ok(Target { table, setting })),
            Err(e) => failed(e),
        }
    });
    let checked: Vec<Option<std::result::Result<Target, (String, Error)>>> =
        futures::stream::iter(checks)
            .buffered(SNAPSHOT_READ_AHEAD)
            .collect()
            .await;
    for c in checked.into_iter().flatten() {
        match c {
            Ok(t) => found.targets.push(t),
            Err(f) => found.failed.push(f),
        }
    }
    Ok(found)
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

/// [`auto_tag_many`] for tables whose settings were read already (e.g. by [`discover`]).
pub async fn auto_tag_targets(
    targets: Vec<Target>,
    run: &AutoTagRun,
    clock: &dyn Clock,
    concurrency: usize,
    stop: &(dyn Fn() -> bool + Sync),
) -> Vec<AutoTagReport> {
    futures::stream::iter(targets)
        .map(|t| async move {
            if stop() {
                return None;
            }
            Some(match auto_tag_with(&t.table, t.setting, run, clock).await {
                Ok(r) => r,
                Err(e) => AutoTagReport::failed(t.table.location(), run.dry_run, &e),
            })
        })
        .buffered(concurrency.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await
}
