//! The write path: create tables, write data files, commit them atomically.
//!
//! ```no_run
//! # async fn demo() -> tagkeeper::Result<()> {
//! use std::sync::Arc;
//! use tagkeeper::clock::SystemClock;
//! use tagkeeper::table::Table;
//! use tagkeeper::write::{append, CommitOptions};
//! # let table: Table = unimplemented!();
//! # let batch: arrow::array::RecordBatch = unimplemented!();
//! let outcome = append(&table, vec![batch], None, Arc::new(SystemClock), &CommitOptions::default()).await?;
//! println!("committed snapshot {}", outcome.snapshot_id);
//! # Ok(())
//! # }
//! ```

pub mod arrow_types;
pub mod commit;
pub mod data_file;
pub mod input;
pub mod manifests;
pub mod merge;
pub mod rollback;
pub mod schema;
pub mod stats;
pub mod synthetic;

use std::sync::Arc;

use arrow::array::RecordBatch;

pub use commit::{commit, CommitOptions, CommitOutcome, CommitRequest, OverwriteScope};
pub use data_file::{DataWriter, NewFile};
pub use schema::{create_table, TableSpec};

use crate::clock::Clock;
use crate::error::Result;
use crate::table::Table;

/// Write batches (with the table's columns) as new data files and commit them as one
/// snapshot. With `overwrite`, the files in scope are replaced. If the commit fails for a known
/// reason, the data files written are removed again.
pub async fn append(
    table: &Table,
    batches: Vec<RecordBatch>,
    overwrite: Option<OverwriteScope>,
    clock: Arc<dyn Clock>,
    opts: &CommitOptions,
) -> Result<CommitOutcome> {
    let schema = table.latest_schema().await?;
    let mut writer = DataWriter::new(table.clone(), schema, Arc::clone(&clock))?;
    for b in batches {
        let b = input::conform(&b, writer.arrow_schema(), "batch")?;
        if let Err(e) = writer.write(b).await {
            remove_files(table, writer.written()).await;
            return Err(e);
        }
    }
    let files = writer.finish().await?;
    if files.is_empty()
        && !matches!(
            overwrite,
            Some(OverwriteScope::Table | OverwriteScope::Partition(_))
        )
    {
        return Err(crate::Error::InvalidArgument(
            "nothing to commit: the input has no rows".into(),
        ));
    }
    let request = CommitRequest {
        files: files.clone(),
        overwrite,
        record_commit_snapshot: true,
    };
    match commit(table, request, clock.as_ref(), opts).await {
        Ok(o) => Ok(o),
        Err(e @ crate::Error::CommitUnknown { .. }) => Err(e),
        Err(e) => {
            remove_files(table, &files).await;
            Err(e)
        }
    }
}

async fn remove_files(table: &Table, files: &[NewFile]) {
    let keys: Vec<String> = files.iter().map(|f| f.key.clone()).collect();
    commit::remove(table, &keys).await;
}
