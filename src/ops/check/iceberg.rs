//! The Iceberg view of a table with Iceberg-compatible metadata, as an Iceberg reader of a
//! Hadoop-style table finds it: `version-hint.text` names a metadata file that parses; its
//! current snapshot and every ref name one of its snapshots (a ref to a missing snapshot makes
//! every Iceberg query fail: Paimon #6425); every snapshot's manifest list and every manifest
//! those name exist; and the data files the current snapshot and the refs read exist (what an
//! expiration or rollback that left the view behind would break).
//!
//! Costs one LIST of the Iceberg `metadata/` and one GET per metadata file, manifest list and
//! manifest read; data files are checked against the table's listing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{CheckReport, Listed, ProblemKind};
use crate::format::iceberg;
use crate::format::schema::IcebergDir;
use crate::io::TableStore;
use crate::table::Table;

/// Check the Iceberg view, if the table keeps one tagkeeper can read.
pub(super) async fn check_view(table: &Table, listed: &Listed, r: &mut CheckReport) {
    let schema = match table.latest_schema().await {
        Ok(s) => s,
        // The schema's own problems are reported by the schema checks.
        Err(_) => return,
    };
    let store = match crate::ops::tag::iceberg_store(table, &schema, "check") {
        Ok(Some(store)) => store,
        Ok(None) => return,
        Err(e) => {
            r.warnings
                .push(format!("the Iceberg view is not checked: {e}"));
            return;
        }
    };
    let in_table = schema.iceberg_metadata_dir("check").ok().flatten() == Some(IcebergDir::Table);
    let shown = |key: &str| {
        if in_table {
            key.to_string()
        } else {
            format!("{}/{key}", store.location())
        }
    };
    if let Err(e) = check_store(&store, table, listed, &shown, r).await {
        r.problem(
            ProblemKind::Unreadable,
            shown("metadata"),
            format!("the Iceberg metadata cannot be listed or read: {e}"),
        );
    }
}

async fn check_store(
    store: &TableStore,
    table: &Table,
    listed: &Listed,
    shown: &(dyn Fn(&str) -> String + Sync),
    r: &mut CheckReport,
) -> crate::error::Result<()> {
    let files: BTreeSet<String> = store
        .list("metadata")
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let versions: BTreeMap<i64, &String> = files
        .iter()
        .filter_map(|k| Some((iceberg::metadata_version(k.rsplit('/').next()?)?, k)))
        .collect();
    if versions.is_empty() {
        r.warnings.push(
            "the table keeps Iceberg-compatible metadata but has none yet (Java's next commit \
             writes it)"
                .into(),
        );
        return Ok(());
    }
    let hint_key = "metadata/version-hint.text";
    let version = match store.get_opt(hint_key).await? {
        Some(b) => match String::from_utf8_lossy(&b).trim().parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                r.problem(
                    ProblemKind::IcebergView,
                    shown(hint_key),
                    "not a version number: Iceberg readers cannot find the metadata",
                );
                return Ok(());
            }
        },
        None => {
            r.problem(
                ProblemKind::IcebergView,
                shown(hint_key),
                "missing: Iceberg readers of a Hadoop-style table cannot find the metadata",
            );
            return Ok(());
        }
    };
    let key = format!("metadata/v{version}.metadata.json");
    let Some(bytes) = store.get_opt(&key).await? else {
        r.problem(
            ProblemKind::MissingFile,
            shown(&key),
            format!("named by {hint_key}"),
        );
        return Ok(());
    };
    let parsed = serde_json::from_slice::<Value>(&bytes);
    let (Ok(m), Ok(snapshots), Ok(location)) = (
        parsed,
        iceberg::snapshots(&bytes, &key),
        iceberg::location(&bytes, &key),
    ) else {
        r.problem(
            ProblemKind::Unreadable,
            shown(&key),
            "not Iceberg table metadata",
        );
        return Ok(());
    };
    let ids: BTreeMap<i64, &String> = snapshots.iter().map(|(id, l)| (*id, l)).collect();
    // What readers read: the current snapshot and each ref.
    let mut read = BTreeSet::new();
    match m.get("current-snapshot-id").and_then(Value::as_i64) {
        Some(id) if id >= 0 && !ids.contains_key(&id) => r.problem(
            ProblemKind::IcebergView,
            shown(&key),
            format!("the current snapshot {id} is not among the Iceberg snapshots"),
        ),
        Some(id) if id >= 0 => {
            read.insert(id);
        }
        _ => {}
    }
    for (name, v) in m
        .get("refs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        match v.get("snapshot-id").and_then(Value::as_i64) {
            Some(id) if ids.contains_key(&id) => {
                read.insert(id);
            }
            other => r.problem(
                ProblemKind::IcebergView,
                shown(&key),
                format!(
                    "ref '{name}' names snapshot {}, which the metadata does not have: every \
                     Iceberg query fails (Paimon #6425)",
                    other.map_or("(none)".into(), |i| i.to_string())
                ),
            ),
        }
    }
    // The Paimon table's location as Java wrote the data file paths.
    let paimon_location = if table.root_store().location() == store.location() {
        location.clone()
    } else {
        paimon_location_of(&location).unwrap_or_default()
    };
    let mut manifests_seen = BTreeSet::new();
    for (id, list) in &ids {
        let Some(list_key) = iceberg::relative_key(&location, list) else {
            r.warnings.push(format!(
                "Iceberg snapshot {id}: manifest list {list} is outside {location}, not checked"
            ));
            continue;
        };
        if !files.contains(&list_key) {
            r.problem(
                ProblemKind::MissingFile,
                shown(&list_key),
                format!("the manifest list of Iceberg snapshot {id} ({key})"),
            );
            continue;
        }
        let Some(list_bytes) = store.get_opt(&list_key).await? else {
            continue;
        };
        r.metadata_files += 1;
        let manifests = match iceberg::manifest_paths(&list_bytes, &list_key) {
            Ok(m) => m,
            Err(e) => {
                r.problem(ProblemKind::Unreadable, shown(&list_key), e.to_string());
                continue;
            }
        };
        for manifest in manifests {
            let Some(mk) = iceberg::relative_key(&location, &manifest) else {
                continue;
            };
            if !files.contains(&mk) {
                r.problem(
                    ProblemKind::MissingFile,
                    shown(&mk),
                    format!("named by {list_key} (Iceberg snapshot {id})"),
                );
                continue;
            }
            if !read.contains(id) || !manifests_seen.insert(mk.clone()) {
                continue;
            }
            let Some(mb) = store.get_opt(&mk).await? else {
                continue;
            };
            r.metadata_files += 1;
            match iceberg::live_data_files(&mb, &mk) {
                Ok(paths) => {
                    for path in paths {
                        let Some(dk) = iceberg::relative_key(&paimon_location, &path) else {
                            continue;
                        };
                        if !listed.contains_key(&dk) {
                            r.problem(
                                ProblemKind::MissingFile,
                                dk,
                                format!("read by Iceberg snapshot {id} through {mk}"),
                            );
                        }
                    }
                }
                Err(e) => r.problem(ProblemKind::Unreadable, shown(&mk), e.to_string()),
            }
        }
    }
    Ok(())
}

/// `<warehouse>/<db>.db/<table>` from a Hadoop catalog's `<warehouse>/iceberg/<db>/<table>`.
fn paimon_location_of(iceberg_location: &str) -> Option<String> {
    let parts: Vec<&str> = iceberg_location
        .trim_end_matches('/')
        .rsplitn(4, '/')
        .collect();
    match parts.as_slice() {
        [table, db, "iceberg", warehouse] => Some(format!("{warehouse}/{db}.db/{table}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hadoop_catalog_location_maps_back_to_the_paimon_table() {
        assert_eq!(
            paimon_location_of("s3://b/wh/iceberg/default/t").as_deref(),
            Some("s3://b/wh/default.db/t")
        );
        assert_eq!(
            paimon_location_of("/w/iceberg/db/t/").as_deref(),
            Some("/w/db.db/t")
        );
        assert_eq!(paimon_location_of("/w/db.db/t"), None);
    }
}
