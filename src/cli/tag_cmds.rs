//! Tag commands.

use clap::Args;

use super::commands::parse_timestamp;
use super::output::Printer;
use super::GlobalArgs;
use tagkeeper::clock::SystemClock;
use tagkeeper::format::duration::parse_duration;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
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
    let time_retained = a
        .time_retained
        .as_deref()
        .map(|d| {
            parse_duration(d).map_err(|e| Error::InvalidArgument(format!("--time-retained: {e}")))
        })
        .transpose()?;
    let table = Table::open(&a.table, &global.store_options()).await?;
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
