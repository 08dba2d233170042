//! `maintain`: Paimon's after-commit maintenance, once or as a daemon (`--every`, run by
//! [`super::daemon`]).

use clap::Args;
use serde_json::{json, Value};

use super::daemon::{self, DaemonArgs, RoundOutput, Rounds, TableOutcome};
use super::expire_cmd::{changelogs_text, text};
use super::fleet::{self, Rendering, TableRun, TablesArgs};
use super::output::{failed_text, Printer};
use super::GlobalArgs;
use tagkeeper::clock::SystemClock;
use tagkeeper::error::incomplete;
use tagkeeper::ops::delete_tag::DeleteTagReport;
use tagkeeper::ops::expire_tags::MaintainReport;
use tagkeeper::table::Table;
use tagkeeper::{Error, FailedDeletion, Result};

/// `maintain` arguments.
#[derive(Debug, Args)]
pub(crate) struct MaintainArgs {
    #[command(flatten)]
    tables: TablesArgs,
    /// Print what would be done and change nothing.
    #[arg(long)]
    dry_run: bool,
    // `--every` and the daemon's flags.
    #[command(flatten)]
    pub(crate) daemon: DaemonArgs,
}

pub(crate) async fn run(a: MaintainArgs, global: &GlobalArgs, printer: &Printer) -> Result<u8> {
    match a.daemon.every()? {
        None => once(&a, global, printer).await.map(|()| 0),
        Some(_) if global.timeout.is_some() => Err(Error::InvalidArgument(
            "--timeout bounds one command; the daemon (--every) runs until stopped".into(),
        )),
        Some(every) => {
            let rounds = MaintainRounds { a: &a, global };
            daemon::run("maintain", &a.daemon, every, printer, &rounds).await
        }
    }
}

/// One run: a table alone prints its report; several tables (or a warehouse) the envelope.
async fn once(a: &MaintainArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let Some(location) = a.tables.single() else {
        fleet::refuse(global, "maintain", &[])?;
        super::confirm::ask_for_tables(global, "maintain", a.dry_run).await?;
        let render = Rendering {
            command: "maintain",
            text: maintain_text,
            totals: maintain_totals,
        };
        return fleet::run(&a.tables, global, printer, render, |table| {
            maintain_one(table, a.dry_run)
        })
        .await;
    };
    let table = global.open(location).await?;
    if !a.dry_run && super::confirm::wanted(global) {
        let preview = tagkeeper::ops::expire_tags::maintain(&table, &SystemClock, true).await?;
        let question = "Run this maintenance (it plans again when it runs)?";
        super::confirm::ask_after(&preview, maintain_text, "maintain", question, printer).await?;
    }
    maintain_one(table, a.dry_run)
        .await?
        .print(printer, maintain_text)
}

/// maintain on one table (its dry run too): what the single-table command prints.
async fn maintain_one(table: Table, dry_run: bool) -> Result<TableRun<MaintainReport>> {
    let report = tagkeeper::ops::expire_tags::maintain(&table, &SystemClock, dry_run).await?;
    let mut warnings = report.notes.clone();
    warnings.extend(report.snapshots.plan.skipped.iter().cloned());
    if let Some(c) = &report.changelogs {
        warnings.extend(c.plan.skipped.iter().cloned());
    }
    let failure = incomplete("maintain", &failed_deletions(&report));
    Ok(TableRun {
        report,
        warnings,
        failure,
    })
}

/// Every deletion maintain planned that failed: automatic tags over the maximum, expired
/// tags, consumers, the snapshots' files, then the changelogs'.
fn failed_deletions(report: &MaintainReport) -> Vec<FailedDeletion> {
    report
        .auto_tag
        .iter()
        .flat_map(|a| a.retention.iter().chain(a.expired.iter()))
        .chain(report.tags.iter())
        .flat_map(|d| d.failed.iter())
        .chain(report.consumers.iter().flat_map(|c| c.failed.iter()))
        .chain(report.snapshots.failed.iter())
        .chain(report.changelogs.iter().flat_map(|c| c.failed.iter()))
        .cloned()
        .collect()
}

/// What maintain adds to a multi-table summary: tags created, tags deleted (automatic
/// retention and expiration), snapshots and changelogs expired, and the files they freed.
fn maintain_totals(r: &MaintainReport) -> Vec<(&'static str, i64)> {
    let tag_reports: Vec<&DeleteTagReport> = r
        .auto_tag
        .iter()
        .flat_map(|a| a.retention.iter().chain(a.expired.iter()))
        .chain(r.tags.iter())
        .collect();
    let sum = |f: &dyn Fn(&DeleteTagReport) -> i64| tag_reports.iter().map(|d| f(d)).sum::<i64>();
    let changelog_totals = r.changelogs.iter().flat_map(|c| c.plan.totals.values());
    let (files, bytes) = r
        .snapshots
        .plan
        .totals
        .values()
        .chain(changelog_totals)
        .fold((0i64, 0i64), |(f, b), (n, s)| (f + *n as i64, b + s));
    vec![
        (
            "tags_created",
            r.auto_tag.as_ref().map_or(0, |a| {
                a.tags
                    .iter()
                    .filter(|t| matches!(t.outcome, "created" | "would_create"))
                    .count() as i64
            }),
        ),
        ("tags_deleted", sum(&|d| d.deleted_tags.len() as i64)),
        ("snapshots", r.snapshots.plan.expired_snapshots.len() as i64),
        (
            "changelogs",
            r.changelogs
                .as_ref()
                .map_or(0, |c| c.plan.expired_changelogs.len() as i64),
        ),
        (
            "files",
            files + sum(&|d| d.deleted.values().map(|t| t.files as i64).sum()),
        ),
        (
            "bytes",
            bytes + sum(&|d| d.deleted.values().map(|t| t.bytes).sum()),
        ),
    ]
}

/// The human form of a maintain report.
fn maintain_text(r: &MaintainReport) -> String {
    let auto = r.auto_tag.as_ref().map_or(String::new(), |a| {
        let names: Vec<String> = a
            .tags
            .iter()
            .map(|t| format!("{} -> {} ({})", t.tag, t.snapshot_id, t.outcome))
            .collect();
        let missed: Vec<&String> = a.missed.iter().flat_map(|m| &m.tags).collect();
        let mut s = format!("auto-tag: {:?}\n", names);
        if !missed.is_empty() {
            s.push_str(&format!(
                "auto-tag missed (snapshots expired): {missed:?}\n"
            ));
        }
        s
    });
    let tags = r
        .tags
        .as_ref()
        .map_or("tags: not expired\n".to_string(), |t| {
            format!(
                "tags expired: {:?}\n{}",
                t.deleted_tags,
                failed_text(&t.failed)
            )
        });
    let retention: String = r
        .auto_tag
        .iter()
        .flat_map(|a| a.retention.iter().chain(a.expired.iter()))
        .map(|d| failed_text(&d.failed))
        .collect();
    let consumers = r.consumers.as_ref().map_or(String::new(), |c| {
        format!("consumers: {}", super::consumers_cmd::deleted_text(c))
    });
    let changelogs = r.changelogs.as_ref().map_or(String::new(), |c| {
        format!("changelogs: {}", changelogs_text(c))
    });
    format!(
        "{auto}{retention}{tags}{consumers}{}{changelogs}",
        text(&r.snapshots)
    )
}

/// One round of the maintain daemon: each table in turn (maintenance of one table is already
/// concurrent inside; tables one by one keep the store's load that of one `maintain`). A
/// warehouse is listed again each round, so tables created since are maintained too; a
/// warehouse that cannot be listed fails the round.
struct MaintainRounds<'a> {
    a: &'a MaintainArgs,
    global: &'a GlobalArgs,
}

fn failed_outcome(location: &str, e: &Error) -> TableOutcome {
    TableOutcome {
        table: location.to_string(),
        error: Some(e.to_string()),
        lines: vec![json!({"table": location, "outcome": "failed", "error": e.to_string()})],
        ..TableOutcome::default()
    }
}

#[async_trait::async_trait(?Send)]
impl Rounds for MaintainRounds<'_> {
    async fn round(&self, stop: &(dyn Fn() -> bool + Sync)) -> RoundOutput {
        let mut tables = Vec::new();
        let targets = match fleet::targets(&self.a.tables, self.global).await {
            Ok((targets, _)) => targets,
            Err(e) => {
                let what = self.a.tables.warehouse().unwrap_or("the tables");
                return RoundOutput {
                    tables: vec![failed_outcome(what, &e)],
                    wake_at_millis: None,
                };
            }
        };
        for target in targets {
            if stop() {
                break;
            }
            let location = target.location().to_string();
            let report = match fleet::open_target(target, self.global).await {
                None => continue,
                Some(Ok(table)) => {
                    tagkeeper::ops::expire_tags::maintain(&table, &SystemClock, self.a.dry_run)
                        .await
                }
                Some(Err(e)) => Err(e),
            };
            tables.push(match report {
                Ok(r) => table_outcome(&location, &r),
                Err(e) => failed_outcome(&location, &e),
            });
        }
        RoundOutput {
            tables,
            wake_at_millis: None,
        }
    }
}

/// A table's maintenance as the daemon counts and logs it: one line per tag created or
/// deleted, one per step that expired something, one per failed deletion (which makes the
/// table failed for the round, as it makes a one-shot run incomplete), and the notes.
fn table_outcome(location: &str, r: &MaintainReport) -> TableOutcome {
    let dry = r.dry_run;
    let outcome = |done: &str| {
        if dry {
            format!("would_be_{done}")
        } else {
            done.to_string()
        }
    };
    let mut lines = Vec::new();
    let mut tags_created = 0;
    let mut tags_deleted = 0;
    if let Some(a) = &r.auto_tag {
        let counted = super::auto_tag_cmd::table_outcome(a);
        tags_created = counted.tags_created;
        tags_deleted = counted.tags_deleted;
        // The failed deletions of auto-tag's retention are listed below with the others.
        lines.extend(
            counted
                .lines
                .into_iter()
                .filter(|l| l.get("outcome").and_then(Value::as_str) != Some("failed_deletion")),
        );
    }
    if let Some(t) = &r.tags {
        for tag in &t.deleted_tags {
            lines.push(json!({"table": location, "tag": tag, "outcome": outcome("expired")}));
        }
        if !dry {
            tags_deleted += t.deleted_tags.len() as u64;
        }
    }
    if let Some(c) = &r.consumers {
        for consumer in &c.deleted {
            lines.push(
                json!({"table": location, "outcome": outcome("consumer_expired"),
                              "consumer": consumer.id}),
            );
        }
    }
    let range = |ids: &[i64], what: &str| -> Option<Value> {
        Some(
            json!({"table": location, "outcome": outcome(what), "count": ids.len(),
                    "first": ids.first()?, "last": ids.last()?}),
        )
    };
    let expired = &r.snapshots.plan.expired_snapshots;
    lines.extend(range(expired, "snapshots_expired"));
    if let Some(c) = &r.changelogs {
        lines.extend(range(&c.plan.expired_changelogs, "changelogs_expired"));
    }
    let notes = r
        .notes
        .iter()
        .chain(&r.snapshots.plan.skipped)
        .chain(r.changelogs.iter().flat_map(|c| &c.plan.skipped));
    for n in notes {
        lines.push(json!({"table": location, "outcome": "note", "note": n}));
    }
    let failed = failed_deletions(r);
    for f in &failed {
        lines.push(
            json!({"table": location, "outcome": "failed_deletion", "path": f.path,
                          "kind": f.kind, "error": f.message}),
        );
    }
    TableOutcome {
        table: location.to_string(),
        error: (!failed.is_empty()).then(|| format!("{} deletion(s) failed", failed.len())),
        skipped: false,
        tags_created,
        tags_deleted,
        snapshots_expired: if dry { 0 } else { expired.len() as u64 },
        lines,
    }
}
