//! The data, changelog, extra and index files of the versions being checked: where each must
//! be, and (deep) whether each Parquet footer reads.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::Result;
use crate::format::binary_row;
use crate::format::manifest::{FileKind, IndexManifestEntry, ListingEntry, ManifestFileMeta};
use crate::format::partition::PartitionSpec;
use crate::liveness::{live_in_version, ManifestFacts};
use crate::reach::EntryIdentity;
use crate::table::layout::{bucket_dir, index_key, manifest_key};
use crate::table::{listing_key, ordered, Table};

use super::{CheckReport, Listed, ProblemKind, Version, Wanted};

/// The data, changelog, extra and index files versions reference, by key, each once.
#[derive(Debug, Default)]
pub(super) struct Files {
    pub(super) expected: BTreeMap<String, Expected>,
    /// Files stored outside the table (`_EXTERNAL_PATH`).
    pub(super) external: BTreeSet<String>,
    /// The data files (by identity) whose keys are in `expected` or `external` already.
    done: HashSet<EntryIdentity>,
    /// Partition bytes → the partition's path, decoded once.
    partitions: HashMap<Box<[u8]>, String>,
}

/// Where data and index files go, from the latest schema.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout<'a> {
    pub(super) spec: &'a PartitionSpec,
    /// `data-file.path-directory`.
    pub(super) data_dir: Option<&'a str>,
    /// `index-file-in-data-file-dir`.
    pub(super) index_in_bucket: bool,
}

impl Files {
    fn add(&mut self, key: String, owner: &str, size: Option<i64>, rows: Option<i64>) {
        self.expected.entry(key).or_insert_with(|| Expected {
            owner: owner.to_string(),
            size,
            rows,
        });
    }

    /// Index files: each is looked for exactly where Java's `IndexPathFactory` puts it —
    /// `index/<name>`, or with `index-file-in-data-file-dir` the bucket directory of its
    /// partition and bucket. A copy of the name elsewhere does not count.
    pub(super) fn index_files(
        &mut self,
        read: &BTreeMap<String, Vec<IndexManifestEntry>>,
        wanted: &BTreeMap<String, Wanted>,
        layout: &Layout<'_>,
        r: &mut CheckReport,
    ) {
        let mut partitions: BTreeMap<&[u8], Option<String>> = BTreeMap::new();
        for (im, entries) in read {
            let Some(w) = wanted.get(im) else { continue };
            let owner = format!("index manifest manifest/{im} of {}", w.owner);
            for e in entries {
                if let Some(uri) = &e.external_path {
                    self.external.insert(uri.clone());
                    continue;
                }
                if !layout.index_in_bucket {
                    self.add(index_key(&e.file_name), &owner, Some(e.file_size), None);
                    continue;
                }
                let path = partitions
                    .entry(e.partition.as_slice())
                    .or_insert_with(|| {
                        binary_row::decode(&e.partition, &layout.spec.types)
                            .ok()
                            .map(|v| layout.spec.path(&v))
                    })
                    .clone();
                match path {
                    Some(p) => {
                        let dir = bucket_dir(layout.data_dir, &p, e.bucket);
                        self.add(
                            format!("{dir}/{}", e.file_name),
                            &owner,
                            Some(e.file_size),
                            None,
                        );
                    }
                    None => r.problem(
                        ProblemKind::Unreadable,
                        manifest_key(im),
                        format!(
                            "the partition of index file {} does not decode ({owner})",
                            e.file_name
                        ),
                    ),
                }
            }
        }
    }

    /// The live data files of a snapshot or tag, and the changelog files of its changelog
    /// list, as the liveness model decides them ([`live_in_version`]: each version merged on
    /// its own). Versions with an unreadable list or manifest are skipped: reported already.
    pub(super) fn data_files(
        &mut self,
        v: &Version,
        lists: &BTreeMap<String, Vec<ManifestFileMeta>>,
        manifests: &BTreeMap<String, Vec<ListingEntry>>,
        facts: &HashMap<String, ManifestFacts>,
        layout: &Layout<'_>,
        r: &mut CheckReport,
    ) {
        let (spec, data_dir) = (layout.spec, layout.data_dir);
        let s = &v.snapshot;
        // A long-lived changelog's base and delta lists may be gone (Java deletes them with
        // its snapshot): only its changelog list is checked.
        let mut groups: Vec<Vec<&str>> = Vec::new();
        if !v.changelog {
            groups.push(vec![&s.base_manifest_list, &s.delta_manifest_list]);
        }
        if let Some(c) = &s.changelog_manifest_list {
            groups.push(vec![c]);
        }
        for group in groups {
            let Some(names) = manifests_of(&group, lists, manifests) else {
                continue;
            };
            let Ok(model) = live_in_version(&names, facts) else {
                continue;
            };
            // Files an earlier version recorded already are not looked up again: with
            // hundreds of snapshots sharing most of their files, each version contributes the
            // few it adds. (`expected` keeps the first version's owner, size and rows anyway.)
            let new: HashSet<&EntryIdentity> = model
                .live
                .iter()
                .filter(|id| !self.done.contains(*id))
                .collect();
            if new.is_empty() {
                continue;
            }
            // The entry of each new live identity (a duplicate ADD: the later one, as the
            // reader's merge keeps it), found through the facts the model merged, which are the
            // manifest's entries' identities in order.
            let mut by_id: HashMap<&EntryIdentity, &ListingEntry> =
                HashMap::with_capacity(new.len());
            for m in &names {
                let (Some(entries), Some(f)) = (manifests.get(m), facts.get(m)) else {
                    continue;
                };
                for (e, (kind, id)) in entries.iter().zip(&f.entries) {
                    if *kind == FileKind::Add && new.contains(id) {
                        by_id.insert(id, e);
                    }
                }
            }
            let live_new: Vec<&EntryIdentity> =
                model.live.iter().filter(|id| new.contains(*id)).collect();
            let live: Vec<&ListingEntry> = live_new
                .iter()
                .filter_map(|id| by_id.get(*id).copied())
                .collect();
            let located = match locate(spec, data_dir, &mut self.partitions, &live) {
                Ok(l) => l,
                Err(e) => {
                    let list = group.first().copied().unwrap_or_default();
                    r.problem(
                        ProblemKind::Unreadable,
                        manifest_key(list),
                        format!("{e} ({})", v.owner),
                    );
                    continue;
                }
            };
            for (e, path) in live.iter().zip(located) {
                if e.external_path.is_some() {
                    self.external.insert(path);
                    continue;
                }
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                for x in &e.extra_files {
                    self.add(format!("{dir}/{x}"), &v.owner, None, None);
                }
                self.add(path, &v.owner, Some(e.file_size), Some(e.row_count));
            }
            // Only once located: a version whose files do not locate is reported and adds
            // nothing, and a later version holding the same files is tried (and reported) too.
            self.done.extend(live_new.into_iter().cloned());
        }
    }
}

/// What a data file should be.
#[derive(Debug, Clone)]
pub(super) struct Expected {
    pub(super) owner: String,
    pub(super) size: Option<i64>,
    pub(super) rows: Option<i64>,
}

/// The keys of live entries (see [`listing_key`]).
fn locate(
    spec: &PartitionSpec,
    data_dir: Option<&str>,
    partitions: &mut HashMap<Box<[u8]>, String>,
    entries: &[&ListingEntry],
) -> Result<Vec<String>> {
    entries
        .iter()
        .map(|e| listing_key(spec, data_dir, partitions, e))
        .collect()
}

/// The manifests of these lists, in read order; `None` if any could not be read.
fn manifests_of(
    lists: &[&str],
    read_lists: &BTreeMap<String, Vec<ManifestFileMeta>>,
    read_manifests: &BTreeMap<String, Vec<ListingEntry>>,
) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for list in lists {
        for m in read_lists.get(*list)? {
            read_manifests.get(&m.file_name)?;
            out.push(m.file_name.clone());
        }
    }
    Some(out)
}

/// Read the footer of every Parquet data file: it must decode and hold the recorded row count.
pub(super) async fn check_footers(
    table: &Table,
    files: &BTreeMap<String, Expected>,
    listed: &Listed,
    r: &mut CheckReport,
) -> Result<()> {
    let parquet: Vec<(&String, &Expected, u64)> = files
        .iter()
        .filter(|(k, _)| k.ends_with(".parquet"))
        .filter_map(|(k, e)| listed.get(k).map(|s| (k, e, *s)))
        .collect();
    let futures: Vec<_> = parquet
        .iter()
        .map(|(key, _, size)| footer_rows(table, key, *size))
        .collect();
    for ((key, exp, _), rows) in parquet.iter().zip(ordered(futures).await?) {
        r.footers_read += 1;
        match (rows, exp.rows) {
            (Err(why), _) => r.problem(
                ProblemKind::BadParquet,
                *key,
                format!("{why} (referenced by {})", exp.owner),
            ),
            (Ok(got), Some(want)) if got != want => r.problem(
                ProblemKind::BadParquet,
                *key,
                format!(
                    "the footer holds {got} rows, but {} records {want}",
                    exp.owner
                ),
            ),
            _ => {}
        }
    }
    Ok(())
}

/// The row count in a Parquet footer, or why it cannot be read. Store failures are errors.
async fn footer_rows(
    table: &Table,
    key: &str,
    size: u64,
) -> Result<std::result::Result<i64, String>> {
    use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    if size < 12 {
        return Ok(Err(format!("{size} bytes is too short for a Parquet file")));
    }
    let Some(tail) = table.root_store().get_range(key, size - 8..size).await? else {
        return Ok(Err("vanished while being checked".into()));
    };
    let tail = match FooterTail::try_from(tail.as_ref()) {
        Ok(t) => t,
        Err(e) => return Ok(Err(format!("no Parquet footer: {e}"))),
    };
    let len = tail.metadata_length() as u64;
    if len + 8 > size {
        return Ok(Err(format!(
            "the footer claims {len} bytes in a {size}-byte file"
        )));
    }
    let Some(meta) = table
        .root_store()
        .get_range(key, size - 8 - len..size - 8)
        .await?
    else {
        return Ok(Err("vanished while being checked".into()));
    };
    Ok(ParquetMetaDataReader::decode_metadata(&meta)
        .map(|m| m.file_metadata().num_rows())
        .map_err(|e| format!("unreadable Parquet footer: {e}")))
}
