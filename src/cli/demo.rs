//! `tagkeeper demo`: a sample warehouse and a short tour of it.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use clap::Args;

use super::output::{self, Printer};
use super::GlobalArgs;
use tagkeeper::clock::ManualClock;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::format::types::DataType;
use tagkeeper::inspect;
use tagkeeper::io::{ensure_local_dir, open_location};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::{Table, VersionSpec};
use tagkeeper::write::{self, append, CommitOptions, TableSpec};
use tagkeeper::Result;

/// `demo` arguments.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to build the warehouse (a directory or an object-store URL).
    #[arg(default_value = "tagkeeper-demo")]
    dir: String,
}

const DAYS: i64 = 30;
/// 2024-01-01T23:30:00Z: each day's batch lands half an hour before midnight.
const FIRST_COMMIT_MILLIS: i64 = 1_704_151_800_000;

pub(crate) async fn run(a: DemoArgs, global: &GlobalArgs, printer: &Printer) -> Result<()> {
    let location = format!("{}/default.db/orders", a.dir.trim_end_matches('/'));
    ensure_local_dir(&location)?;
    let store = open_location(&location, &global.store_options())?;
    let existing = Table::new(store.clone());
    let built = if existing.schema_ids().await?.is_empty() {
        build(Table::new(store), printer).await?;
        true
    } else {
        false
    };
    let table = Table::new(open_location(&location, &global.store_options())?);
    let snapshots = inspect::snapshots(&table).await?;
    let tags = inspect::tags(&table).await?;
    let tag = TagName::new("2024-01-14").map(VersionSpec::Tag)?;
    let files = inspect::files_listing(&table, &tag).await?;
    #[derive(serde::Serialize)]
    struct Tour {
        table: String,
        built: bool,
        snapshots: inspect::SnapshotsReport,
        tags: inspect::TagsReport,
        files_of_tag: inspect::FilesListing,
    }
    let tour = Tour {
        table: location.clone(),
        built,
        snapshots,
        tags,
        files_of_tag: files,
    };
    printer.report(&tour, |t| {
        let recent: Vec<_> = t.snapshots.snapshots.iter().rev().take(5).rev().cloned().collect();
        let recent = inspect::SnapshotsReport { snapshots: recent, ..t.snapshots.clone() };
        format!(
            "{}Demo table: {}\n\n== The last 5 of its {} snapshots (tagkeeper snapshots TABLE)\n{}\n\
             == Its tags (tagkeeper tags TABLE)\n{}\n\
             == The files tag '2024-01-14' keeps (tagkeeper files TABLE --tag 2024-01-14)\n{}\n\
             Try: tagkeeper files {} --timestamp 2024-01-10T12:00:00Z\n",
            if t.built { "Built a month of daily commits and weekly tags.\n" } else { "" },
            t.table,
            t.snapshots.snapshots.len(),
            output::snapshots_text(&recent),
            output::tags_text(&t.tags),
            output::files_text(&t.files_of_tag),
            t.table,
        )
    })
}

async fn build(table: Table, _printer: &Printer) -> Result<()> {
    let spec = TableSpec {
        columns: vec![
            (
                "order_id".into(),
                DataType::parse("BIGINT NOT NULL").map_err(tagkeeper::Error::InvalidArgument)?,
            ),
            (
                "customer".into(),
                DataType::parse("STRING").map_err(tagkeeper::Error::InvalidArgument)?,
            ),
            (
                "amount".into(),
                DataType::parse("DOUBLE").map_err(tagkeeper::Error::InvalidArgument)?,
            ),
            (
                "dt".into(),
                DataType::parse("STRING").map_err(tagkeeper::Error::InvalidArgument)?,
            ),
        ],
        partition_keys: vec!["dt".into()],
        primary_keys: vec![],
        options: vec![("snapshot.num-retained.max".into(), "100".into())],
        comment: Some("tagkeeper demo: daily orders".into()),
    };
    let clock = Arc::new(ManualClock::new(FIRST_COMMIT_MILLIS - 86_400_000));
    let table = write::create_table(
        table.store().clone(),
        &spec,
        clock.as_ref().now_millis_value(),
    )
    .await?;
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("order_id", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("customer", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("amount", arrow::datatypes::DataType::Float64, true),
        arrow::datatypes::Field::new("dt", arrow::datatypes::DataType::Utf8, true),
    ]));
    let customers = [
        "ada", "grace", "linus", "barbara", "ken", "margaret", "dennis",
    ];
    for day in 0..DAYS {
        clock.set_millis(FIRST_COMMIT_MILLIS + day * 86_400_000);
        let dt = format!("2024-01-{:02}", day + 1);
        let rows = 20 + (day * 7) % 13;
        let ids: Vec<i64> = (0..rows).map(|r| day * 1000 + r).collect();
        let who: Vec<&str> = ids
            .iter()
            .map(|i| customers[(*i as usize * 31) % customers.len()])
            .collect();
        let amounts: Vec<f64> = ids
            .iter()
            .map(|i| ((i * 7919) % 10_000) as f64 / 100.0)
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(who)),
                Arc::new(Float64Array::from(amounts)),
                Arc::new(StringArray::from(vec![dt.as_str(); rows as usize])),
            ],
        )
        .map_err(|e| tagkeeper::Error::InvalidArgument(e.to_string()))?;
        let clock_dyn: Arc<dyn tagkeeper::clock::Clock> = clock.clone();
        append(
            &table,
            vec![batch],
            None,
            clock_dyn,
            &CommitOptions::default(),
        )
        .await?;
        // A weekly tag on Sundays, kept for 30 days; the tag is created a few minutes later.
        if (day + 1) % 7 == 0 {
            clock.advance_millis(5 * 60_000);
            let req = CreateTag {
                name: TagName::new(&dt)?,
                source: TagSource::Snapshot(SnapshotId(day + 1)),
                time_retained: Some(Duration::from_secs(30 * 86_400)),
                if_not_exists: true,
            };
            create_tag(&table, &req, clock.as_ref()).await?;
        }
    }
    let month_end = CreateTag {
        name: TagName::new("month-end")?,
        source: TagSource::Latest,
        time_retained: None,
        if_not_exists: true,
    };
    create_tag(&table, &month_end, clock.as_ref()).await?;
    Ok(())
}

trait NowValue {
    fn now_millis_value(&self) -> i64;
}

impl NowValue for ManualClock {
    fn now_millis_value(&self) -> i64 {
        tagkeeper::clock::Clock::now_millis(self)
    }
}
