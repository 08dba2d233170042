//! expire-tags (paimon-format.md §7.7, Java `TagTimeExpire` / procedure `expire_tags`) and
//! `maintain` (Java's after-commit maintenance order).
//!
//! A tag expires when `now > tagCreateTime + tagTimeRetained`, or, with `older_than`, when it
//! was created before that time (a tag without a creation time then counts by its file's
//! modification time). Times are local wall-clock times, as Java compares them. Expired tags
//! are deleted by delete-tag, including its data cleanup and its fail-closed rules.

use chrono::{DateTime, NaiveDateTime};
use serde::Serialize;

use crate::clock::Clock;
use crate::error::Result;
use crate::format::ids::TagName;
use crate::ops::auto_tag::{auto_tag, AutoTagReport, AutoTagRun};
use crate::ops::delete_tag::{self, DeleteTagPlan, DeleteTagReport};
use crate::ops::expire::{self, ExpireOptions, ExpireReport};
use crate::table::layout::tag_key;
use crate::table::Table;

/// Tags that have expired at `clock`'s time.
pub async fn expired_tags(
    table: &Table,
    clock: &dyn Clock,
    older_than: Option<NaiveDateTime>,
) -> Result<Vec<TagName>> {
    let now_local = clock.now_local();
    // The machine's offset from UTC, to read file modification times as local times.
    let offset = now_local
        - DateTime::from_timestamp_millis(clock.now_millis())
            .map(|t| t.naive_utc())
            .unwrap_or(now_local);
    let mut out = Vec::new();
    for t in table.tags().await? {
        let created = match (t.tag.create_time, older_than) {
            (Some(c), _) => Some(c),
            (None, Some(_)) => table
                .store()
                .head_opt(&tag_key(&t.name))
                .await?
                .map(|o| o.last_modified.naive_utc() + offset),
            (None, None) => None,
        };
        let Some(created) = created else { continue };
        let by_retention = t.tag.is_expired_at(now_local);
        let by_age = older_than.is_some_and(|o| o > created);
        if by_retention || by_age {
            out.push(t.name);
        }
    }
    Ok(out)
}

/// The tags that expire at `clock`'s time: those past their time retention, and, when the
/// table creates tags automatically, the oldest automatic tags beyond `tag.num-retained-max`
/// (as auto-tag would delete them).
async fn expiring(
    table: &Table,
    clock: &dyn Clock,
    older_than: Option<NaiveDateTime>,
) -> Result<Vec<TagName>> {
    let mut names = expired_tags(table, clock, older_than).await?;
    for n in crate::ops::auto_tag::over_max(table, &[]).await? {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    Ok(names)
}

/// The plan of an expire-tags run (`--plan-out` saves it): the deletion of [`expiring`] tags,
/// by delete-tag. Changes nothing.
pub async fn plan(
    table: &Table,
    clock: &dyn Clock,
    older_than: Option<NaiveDateTime>,
) -> Result<DeleteTagPlan> {
    let names = expiring(table, clock, older_than).await?;
    delete_tag::plan(table, &names).await
}

/// Plan (and unless `dry_run`, carry out) the deletion of expired tags (see [`expiring`]).
pub async fn expire_tags(
    table: &Table,
    clock: &dyn Clock,
    older_than: Option<NaiveDateTime>,
    dry_run: bool,
) -> Result<DeleteTagReport> {
    let names = expiring(table, clock, older_than).await?;
    delete(table, &names, dry_run).await
}

/// Only time retention: what auto-tag and maintain run after their own count retention.
pub async fn expire_tags_by_time(
    table: &Table,
    clock: &dyn Clock,
    dry_run: bool,
) -> Result<DeleteTagReport> {
    let names = expired_tags(table, clock, None).await?;
    delete(table, &names, dry_run).await
}

async fn delete(table: &Table, names: &[TagName], dry_run: bool) -> Result<DeleteTagReport> {
    delete_tag::delete_tags(table, names, dry_run).await
}

/// What `maintain` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintainReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Tag auto-creation (when `tag.automatic-creation` is process-time or watermark).
    pub auto_tag: Option<AutoTagReport>,
    /// Tag expiration (skipped when `tag.time-expire-enabled` is false).
    pub tags: Option<DeleteTagReport>,
    /// Consumer expiration (when `consumer.expiration-time` is set), before the snapshots.
    pub consumers: Option<crate::ops::consumers::ConsumersDeleted>,
    /// Snapshot expiration.
    pub snapshots: ExpireReport,
    /// Changelog expiration (with the decoupled changelog lifecycle), after the snapshots.
    pub changelogs: Option<crate::ops::expire_changelogs::ExpireChangelogsReport>,
    /// Steps not run, and why.
    pub notes: Vec<String>,
}

/// Java's after-commit maintenance, from the table's options and in Java's order: tag
/// auto-creation (with `tag.num-retained-max`), tag expiration, consumer expiration (by
/// `consumer.expiration-time`, so that a dead consumer does not hold snapshots), snapshot
/// expiration, then — with the decoupled changelog lifecycle — changelog expiration.
pub async fn maintain(table: &Table, clock: &dyn Clock, dry_run: bool) -> Result<MaintainReport> {
    let schema = table.latest_schema().await?;
    // Each step keeps the Iceberg view as Java does (see expire and the tag commands).
    crate::ops::tag::iceberg_refs(table, &schema, "maintain")?;
    let opt = |k: &str| schema.option(k).map(str::to_string);
    let mut notes = Vec::new();
    let run = AutoTagRun {
        overrides: Vec::new(),
        dry_run,
        skip_time_expire: true,
    };
    let auto = auto_tag(table, &run, clock).await?;
    let auto_tag = if auto.status == "disabled" {
        None
    } else {
        Some(auto)
    };
    let tags_enabled =
        opt("tag.time-expire-enabled").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    let tags = if tags_enabled {
        Some(expire_tags_by_time(table, clock, dry_run).await?)
    } else {
        notes.push("tag.time-expire-enabled = false: tags not expired".into());
        None
    };
    let now = clock.now_millis();
    let consumers = match crate::ops::consumers::expiration_millis(&schema.options)? {
        Some(ms) => Some(crate::ops::consumers::expire(table, now - ms, dry_run).await?),
        None => None,
    };
    let opts = ExpireOptions::from_table(&schema.options)?;
    let snapshots = if dry_run {
        ExpireReport::of(expire::plan(table, &opts, now).await?, true)
    } else {
        expire::expire(table, &opts, now).await?
    };
    let changelogs = if opts.changelog_decoupled(&schema.options) {
        use crate::ops::expire_changelogs as ec;
        let copts = ec::ChangelogOptions::from_table(&schema.options, &opts)?;
        Some(if dry_run {
            ec::ExpireChangelogsReport::of(ec::plan(table, &copts, now).await?, true)
        } else {
            ec::expire(table, &copts, now).await?
        })
    } else {
        None
    };
    Ok(MaintainReport {
        dry_run,
        auto_tag,
        consumers,
        snapshots,
        changelogs,
        tags,
        notes,
    })
}
