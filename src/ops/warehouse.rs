//! The tables of a warehouse (`<db>.db/<table>/`), for the commands that run over many
//! (`auto-tag --warehouse`, `remove-orphan-files --warehouse`).

use crate::error::{Error, Result};
use crate::io::TableStore;
use crate::table::Table;

/// What listing a warehouse found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every directory under a database, in database and name order. Not every one needs to be
    /// a table: callers check for a schema.
    pub candidates: Vec<Table>,
    /// Databases that could not be listed: location and error. Failures of the run, not
    /// reasons to stop it.
    pub failed: Vec<(String, Error)>,
}

/// List the table directories of the warehouse at `warehouse`, only in `databases` when any
/// are named (names without `.db`). Only a warehouse root that cannot be listed, or a named
/// database that does not exist, is an error. `stop` is checked between databases (a
/// daemon's shutdown signal): once it is set, what was found so far is returned.
pub async fn list(
    warehouse: &TableStore,
    databases: &[String],
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Listing> {
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
    let mut found = Listing::default();
    for db in dbs {
        if stop() {
            return Ok(found);
        }
        let listed = match warehouse.list_dir(&db).await {
            Ok((_, mut tables)) => {
                tables.sort();
                tables.iter().map(|t| warehouse.child(t)).collect()
            }
            Err(e) => Err(e),
        };
        let listed: Result<Vec<TableStore>> = listed;
        match listed {
            Ok(stores) => found.candidates.extend(stores.into_iter().map(Table::new)),
            Err(e) => {
                let location = format!("{}/{db}", warehouse.location().trim_end_matches('/'));
                found.failed.push((location, e));
            }
        }
    }
    Ok(found)
}
