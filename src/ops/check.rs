//! check: is a table whole? Reads every version and reports, without changing anything:
//!
//! * every file a retained snapshot, tag or long-lived changelog references exists — manifest
//!   lists, manifests, index manifests and index files, statistics, schemas, live data files
//!   and their extra files, changelog files — and with `deep`, has the recorded size, and each
//!   Parquet data file has a readable footer with the recorded row count;
//! * the `LATEST` and `EARLIEST` hints do not mislead a reader, and the snapshot ids a reader
//!   can see have no gap and nothing stranded beyond `LATEST`;
//! * every tag, changelog and consumer decodes and its schema loads;
//! * files in metadata directories whose names Paimon does not write there are listed (names
//!   such as `snapshot-5.tmp` break Java ≤ 2.0's directory listing and are problems).
//!
//! Existence is checked against one listing of the table, so the cost is one LIST plus one GET
//! per distinct metadata file (and, deep, two ranged GETs per Parquet file). Files stored
//! outside the table (`_EXTERNAL_PATH`) are counted, not checked. Snapshots a reader cannot
//! see (below a valid `EARLIEST`) are reported as warnings and not checked.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::file_name::PaimonFile;
use crate::format::hint::parse_hint;
use crate::format::ids::{SchemaId, SnapshotId};
use crate::format::manifest::{
    decode_index_manifest, decode_manifest, decode_manifest_list, FileKind, ManifestEntry,
    ManifestFileMeta,
};
use crate::format::partition::PartitionSpec;
use crate::format::snapshot::Snapshot;
use crate::reach::live_entries;
use crate::table::layout::{
    earliest_hint_key, latest_hint_key, manifest_key, schema_key, statistics_key, tag_key,
    CHANGELOG_DIR, CONSUMER_DIR, INDEX_DIR, MANIFEST_DIR, SCHEMA_DIR, SNAPSHOT_DIR, STATISTICS_DIR,
    TAG_DIR,
};
use crate::table::{locate_entries, ordered, Branch, Table};

/// What to check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Also compare sizes with the recorded ones and read every Parquet footer.
    pub deep: bool,
}

/// The kind of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A file a version references does not exist.
    MissingFile,
    /// A metadata file exists but cannot be decoded.
    Unreadable,
    /// A file's size differs from the size recorded for it (deep).
    SizeMismatch,
    /// A Parquet data file whose footer cannot be read or disagrees with its row count (deep).
    BadParquet,
    /// A hint that sends readers to a snapshot that does not exist, or holds garbage.
    Hint,
    /// A gap in the snapshot ids readers see, or snapshots stranded beyond `LATEST`.
    SnapshotIds,
    /// A name in a metadata directory that breaks Java ≤ 2.0's listing (`snapshot-5.tmp`).
    JavaListingHazard,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// Its kind.
    pub kind: ProblemKind,
    /// The file concerned, relative to the table root.
    pub path: String,
    /// What is wrong, and who refers to the file.
    pub detail: String,
}

/// The report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// True when no problem was found.
    pub whole: bool,
    /// Sizes and Parquet footers were checked too.
    pub deep: bool,
    /// Branches checked, main first.
    pub branches: Vec<String>,
    /// Snapshots checked (over all branches).
    pub snapshots: u64,
    /// Tags checked.
    pub tags: u64,
    /// Long-lived changelogs checked.
    pub changelogs: u64,
    /// Consumers checked.
    pub consumers: u64,
    /// Distinct metadata files checked: schemas, manifest lists, manifests, index manifests,
    /// statistics.
    pub metadata_files: u64,
    /// Distinct data, changelog, extra and index files checked.
    pub data_files: u64,
    /// Parquet footers read (deep).
    pub footers_read: u64,
    /// Files stored outside the table, not checked.
    pub external_files: u64,
    /// Problems (the table is whole when there are none), sorted.
    pub problems: Vec<Problem>,
    /// Things that do not make the table unreadable (stale hints, leftovers, vanished files).
    pub warnings: Vec<String>,
    /// Files in metadata directories with names Paimon does not write there.
    pub unknown_files: Vec<String>,
}

impl CheckReport {
    fn problem(&mut self, kind: ProblemKind, path: impl Into<String>, detail: impl Into<String>) {
        self.problems.push(Problem {
            kind,
            path: path.into(),
            detail: detail.into(),
        });
    }

    /// Problems of these kinds (e.g. only missing and unreadable files, after a crash, when an
    /// interrupted command may leave hints for its re-run to fix).
    pub fn problems_of(&self, kinds: &[ProblemKind]) -> Vec<&Problem> {
        self.problems
            .iter()
            .filter(|p| kinds.contains(&p.kind))
            .collect()
    }
}

/// What a reader of one snapshot directory sees (pure analysis of a listing and the hints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotDir {
    /// Ids a reader can reach: from the effective earliest to the effective latest.
    pub visible: Vec<SnapshotId>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Apply Java's hint rules (paimon-format.md §1, `HintFileUtils`) to a listing of
/// `snapshot/` (`dir` is its key, for messages): `LATEST = h` is used when `snapshot-(h+1)` does
/// not exist, without checking `snapshot-h`; `EARLIEST = h` is used when `snapshot-h` exists;
/// otherwise the listing decides.
pub fn analyze_snapshot_dir(
    dir: &str,
    ids: &[SnapshotId],
    latest_hint: Option<&[u8]>,
    earliest_hint: Option<&[u8]>,
) -> SnapshotDir {
    let mut out = SnapshotDir::default();
    let mut ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let has = |id: i64| ids.binary_search(&id).is_ok();
    let mut hint = |name: &str, raw: Option<&[u8]>| -> Option<i64> {
        let raw = raw?;
        let parsed = parse_hint(raw).map(|h| h.0);
        if parsed.is_none() {
            out.problems.push(Problem {
                kind: ProblemKind::Hint,
                path: format!("{dir}/{name}"),
                detail: "does not hold a snapshot id".into(),
            });
        }
        parsed
    };
    let latest_hint = hint("LATEST", latest_hint);
    let earliest_hint = hint("EARLIEST", earliest_hint);
    let (Some(&min), Some(&max)) = (ids.first(), ids.last()) else {
        for (name, h) in [("LATEST", latest_hint), ("EARLIEST", earliest_hint)] {
            if let Some(h) = h {
                out.problems.push(Problem {
                    kind: ProblemKind::Hint,
                    path: format!("{dir}/{name}"),
                    detail: format!("names snapshot {h}, but there is no snapshot"),
                });
            }
        }
        return out;
    };
    let latest = match latest_hint {
        Some(h) if !has(h + 1) && !has(h) => {
            out.problems.push(Problem {
                kind: ProblemKind::Hint,
                path: format!("{dir}/LATEST"),
                detail: format!(
                    "names snapshot {h}, which does not exist (nor does {}): readers take it as the latest and fail",
                    h + 1
                ),
            });
            max
        }
        Some(h) if !has(h + 1) => h,
        Some(h) if h != max => {
            out.warnings.push(format!(
                "{dir}/LATEST names snapshot {h}, but the latest is {max} (a stale hint; readers list)"
            ));
            max
        }
        _ => max,
    };
    let earliest = match earliest_hint {
        Some(h) if has(h) => h,
        Some(h) => {
            out.warnings.push(format!(
                "{dir}/EARLIEST names snapshot {h}, which does not exist (a stale hint; readers list)"
            ));
            min
        }
        None => min,
    };
    if earliest > latest {
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/EARLIEST"),
            detail: format!(
                "the earliest snapshot readers see ({earliest}) is after the latest ({latest})"
            ),
        });
        return out;
    }
    let below: Vec<i64> = ids.iter().copied().filter(|i| *i < earliest).collect();
    if let (Some(a), Some(b)) = (below.first(), below.last()) {
        out.warnings.push(format!(
            "{} snapshot(s) in {a}..={b} lie below EARLIEST ({earliest}): readers do not see them \
             (left by an interrupted expiration); they are not checked",
            below.len()
        ));
    }
    let beyond: Vec<i64> = ids.iter().copied().filter(|i| *i > latest).collect();
    if let (Some(a), Some(b)) = (beyond.first(), beyond.last()) {
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/snapshot-{a}"),
            detail: format!(
                "{} snapshot(s) in {a}..={b} lie beyond LATEST ({latest}) and snapshot {} is missing: \
                 the next commit would make them visible again (an interrupted rollback? run it again)",
                beyond.len(),
                latest + 1
            ),
        });
    }
    let visible: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|i| (earliest..=latest).contains(i))
        .collect();
    let missing: Vec<i64> = (earliest..=latest).filter(|i| !has(*i)).collect();
    if let Some(first) = missing.first() {
        let shown: Vec<String> = missing.iter().take(10).map(i64::to_string).collect();
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/snapshot-{first}"),
            detail: format!(
                "snapshots {earliest}..={latest} have {} gap(s): {}{}",
                missing.len(),
                shown.join(", "),
                if missing.len() > 10 { ", …" } else { "" }
            ),
        });
    }
    out.visible = visible.into_iter().map(SnapshotId).collect();
    out
}

/// One version to check.
#[derive(Debug, Clone)]
struct Version {
    /// The branch it belongs to (its schemas are the branch's).
    branch: String,
    owner: String,
    snapshot: Snapshot,
    changelog: bool,
}

/// Everything the table's one listing says: key → size.
type Listed = BTreeMap<String, u64>;

/// Check a table.
pub async fn check(table: &Table, opts: &CheckOptions) -> Result<CheckReport> {
    let mut r = CheckReport {
        deep: opts.deep,
        ..CheckReport::default()
    };
    let listed: Listed = table
        .store()
        .list("")
        .await?
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    let branches = table.branches().await?;
    r.branches = branches.iter().map(|b| b.name.clone()).collect();
    let mut versions = Vec::new();
    for b in &branches {
        check_branch(b, &listed, &mut r, &mut versions).await?;
    }
    unknown_files(&branches, &listed, &mut r);
    let schema = table.latest_schema().await?;
    let spec = PartitionSpec::new(
        schema.partition_keys.clone(),
        schema.partition_types(),
        &schema.options,
    );
    let data_dir = schema.option("data-file.path-directory");
    check_metadata(table, &versions, &listed, &spec, data_dir, &mut r).await?;
    r.problems.sort();
    r.problems.dedup();
    r.whole = r.problems.is_empty();
    Ok(r)
}

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The files directly in `dir` (a table-relative directory key), as (key, name).
fn files_in<'a>(listed: &'a Listed, dir: &str) -> Vec<(&'a str, &'a str)> {
    let prefix = format!("{dir}/");
    listed
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter_map(|(k, _)| {
            let rest = &k[prefix.len()..];
            (!rest.contains('/')).then_some((k.as_str(), rest))
        })
        .collect()
}

async fn check_branch(
    b: &Branch,
    listed: &Listed,
    r: &mut CheckReport,
    versions: &mut Vec<Version>,
) -> Result<()> {
    let t = &b.table;
    let snap_dir = b.key(SNAPSHOT_DIR);
    let ids: Vec<SnapshotId> = files_in(listed, &snap_dir)
        .into_iter()
        .filter_map(|(_, n)| match PaimonFile::parse(n) {
            PaimonFile::Snapshot(id) => Some(id),
            _ => None,
        })
        .collect();
    let (latest_key, earliest_key) = (latest_hint_key(), earliest_hint_key());
    let (latest, earliest) = futures::try_join!(
        t.store().get_opt(&latest_key),
        t.store().get_opt(&earliest_key),
    )?;
    let dir = analyze_snapshot_dir(&snap_dir, &ids, latest.as_deref(), earliest.as_deref());
    r.problems.extend(dir.problems);
    r.warnings.extend(dir.warnings);

    let futures: Vec<_> = dir
        .visible
        .iter()
        .map(|id| t.try_load_snapshot(*id))
        .collect();
    let loaded = futures::future::join_all(futures).await;
    for (id, s) in dir.visible.iter().zip(loaded) {
        let owner = b.label(&format!("snapshot {id}"));
        match s {
            Ok(Some(snapshot)) => {
                r.snapshots += 1;
                versions.push(Version {
                    branch: b.name.clone(),
                    owner,
                    snapshot,
                    changelog: false,
                });
            }
            Ok(None) => r
                .warnings
                .push(format!("{owner} vanished while being checked")),
            Err(e) => r.problem(
                ProblemKind::Unreadable,
                b.key(&crate::table::layout::snapshot_key(*id)),
                e.to_string(),
            ),
        }
    }
    for (_, name) in files_in(listed, &b.key(TAG_DIR)) {
        let PaimonFile::Tag(tag) = PaimonFile::parse(name) else {
            continue;
        };
        let owner = b.label(&format!("tag '{tag}'"));
        match t.try_load_tag(&tag).await {
            Ok(Some(loaded)) => {
                r.tags += 1;
                versions.push(Version {
                    branch: b.name.clone(),
                    owner,
                    snapshot: loaded.snapshot,
                    changelog: false,
                });
            }
            Ok(None) => r
                .warnings
                .push(format!("{owner} vanished while being checked")),
            Err(e) => r.problem(
                ProblemKind::Unreadable,
                b.key(&tag_key(&tag)),
                e.to_string(),
            ),
        }
    }
    for (key, name) in files_in(listed, &b.key(CHANGELOG_DIR)) {
        let PaimonFile::ChangelogMeta(id) = PaimonFile::parse(name) else {
            continue;
        };
        let rel = format!("{CHANGELOG_DIR}/{name}");
        let decoded = match t.store().get_opt(&rel).await? {
            None => continue,
            Some(bytes) => Snapshot::decode(&bytes, key),
        };
        match decoded {
            Ok(snapshot) => {
                r.changelogs += 1;
                versions.push(Version {
                    branch: b.name.clone(),
                    owner: b.label(&format!("changelog {id}")),
                    snapshot,
                    changelog: true,
                });
            }
            Err(e) => r.problem(ProblemKind::Unreadable, key, e.to_string()),
        }
    }
    for (key, name) in files_in(listed, &b.key(CONSUMER_DIR)) {
        if !matches!(PaimonFile::parse(name), PaimonFile::Consumer(_)) {
            continue;
        }
        let Some(bytes) = t.store().get_opt(&format!("{CONSUMER_DIR}/{name}")).await? else {
            continue;
        };
        let ok = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("nextSnapshot").and_then(serde_json::Value::as_i64))
            .is_some();
        r.consumers += 1;
        if !ok {
            r.problem(
                ProblemKind::Unreadable,
                key,
                "not a consumer file: expected {\"nextSnapshot\": <id>}",
            );
        }
    }
    check_schemas(b, versions, r).await
}

/// Every version of branch `b` (those labelled with it) has a loadable schema.
async fn check_schemas(b: &Branch, versions: &[Version], r: &mut CheckReport) -> Result<()> {
    let mut needed: BTreeMap<SchemaId, String> = BTreeMap::new();
    for v in versions.iter().filter(|v| v.branch == b.name) {
        needed
            .entry(v.snapshot.schema_id)
            .or_insert_with(|| v.owner.clone());
    }
    for (id, owner) in needed {
        r.metadata_files += 1;
        match b.table.load_schema(id).await {
            Ok(_) => {}
            Err(Error::MissingFile { .. }) => r.problem(
                ProblemKind::MissingFile,
                b.key(&schema_key(id)),
                format!("referenced by {owner}"),
            ),
            Err(e @ (Error::Corrupt { .. } | Error::Unsupported(_))) => r.problem(
                ProblemKind::Unreadable,
                b.key(&schema_key(id)),
                format!("{e} (referenced by {owner})"),
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Names in metadata directories that Paimon does not write there.
fn unknown_files(branches: &[Branch], listed: &Listed, r: &mut CheckReport) {
    use PaimonFile as F;
    type Expect = fn(&PaimonFile) -> bool;
    let mut dirs: Vec<(String, Expect, Option<&str>)> = Vec::new();
    for b in branches {
        dirs.push((
            b.key(SNAPSHOT_DIR),
            |f| matches!(f, F::Snapshot(_) | F::LatestHint | F::EarliestHint),
            Some("snapshot-"),
        ));
        dirs.push((b.key(TAG_DIR), |f| matches!(f, F::Tag(_)), None));
        dirs.push((
            b.key(SCHEMA_DIR),
            |f| matches!(f, F::Schema(_)),
            Some("schema-"),
        ));
        dirs.push((
            b.key(CHANGELOG_DIR),
            |f| matches!(f, F::ChangelogMeta(_) | F::LatestHint | F::EarliestHint),
            Some("changelog-"),
        ));
        dirs.push((b.key(CONSUMER_DIR), |f| matches!(f, F::Consumer(_)), None));
    }
    dirs.push((
        MANIFEST_DIR.to_string(),
        |f| matches!(f, F::ManifestList | F::Manifest | F::IndexManifest),
        None,
    ));
    dirs.push((INDEX_DIR.to_string(), |f| matches!(f, F::IndexFile), None));
    dirs.push((
        STATISTICS_DIR.to_string(),
        |f| matches!(f, F::Statistics),
        None,
    ));
    let mut temporary = 0;
    for (dir, expect, hazard) in dirs {
        for (key, name) in files_in(listed, &dir) {
            let kind = PaimonFile::parse(name);
            if expect(&kind) {
                continue;
            }
            if kind == F::Temporary {
                temporary += 1;
                continue;
            }
            r.unknown_files.push(key.to_string());
            if hazard.is_some_and(|p| name.starts_with(p)) {
                r.problem(
                    ProblemKind::JavaListingHazard,
                    key,
                    "a name with a versioned prefix but no id: Java ≤ 2.0 fails to list this directory",
                );
            }
        }
    }
    if temporary > 0 {
        r.warnings.push(format!(
            "{temporary} temporary file(s) of crashed writes in metadata directories (remove-orphan-files reclaims them)"
        ));
    }
}

/// A metadata file and the first version naming it.
#[derive(Debug, Clone)]
struct Wanted {
    owner: String,
    /// Absent is a problem (false for what Java may delete with a changelog's snapshot).
    required: bool,
    /// The size recorded for it, if any.
    size: Option<i64>,
}

fn want(
    map: &mut BTreeMap<String, Wanted>,
    name: &str,
    owner: &str,
    required: bool,
    size: Option<i64>,
) {
    let w = map.entry(name.to_string()).or_insert_with(|| Wanted {
        owner: owner.to_string(),
        required,
        size,
    });
    w.required |= required;
    w.size = w.size.or(size);
}

/// Lists, manifests, index files, statistics and data files of every version.
async fn check_metadata(
    table: &Table,
    versions: &[Version],
    listed: &Listed,
    spec: &PartitionSpec,
    data_dir: Option<&str>,
    r: &mut CheckReport,
) -> Result<()> {
    let mut lists: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut indexes: BTreeMap<String, Wanted> = BTreeMap::new();
    for v in versions {
        let s = &v.snapshot;
        let size = |field: &str| s.raw().get(field).and_then(serde_json::Value::as_i64);
        want(
            &mut lists,
            &s.base_manifest_list,
            &v.owner,
            !v.changelog,
            size("baseManifestListSize"),
        );
        want(
            &mut lists,
            &s.delta_manifest_list,
            &v.owner,
            !v.changelog,
            size("deltaManifestListSize"),
        );
        if let Some(c) = &s.changelog_manifest_list {
            want(
                &mut lists,
                c,
                &v.owner,
                true,
                size("changelogManifestListSize"),
            );
        }
        if let Some(im) = &s.index_manifest {
            want(&mut indexes, im, &v.owner, !v.changelog, None);
        }
        if let (Some(st), false) = (&s.statistics, v.changelog) {
            r.metadata_files += 1;
            let key = statistics_key(st);
            if !listed.contains_key(&key) {
                r.problem(
                    ProblemKind::MissingFile,
                    key,
                    format!("referenced by {}", v.owner),
                );
            }
        }
    }
    let read_lists = read_all(table, r, listed, &lists, |b, k| decode_manifest_list(b, k)).await?;
    let mut manifests: BTreeMap<String, Wanted> = BTreeMap::new();
    for (list, metas) in &read_lists {
        for m in metas {
            let owner = format!("manifest list manifest/{list} of {}", lists[list].owner);
            want(
                &mut manifests,
                &m.file_name,
                &owner,
                lists[list].required,
                Some(m.file_size),
            );
        }
    }
    let read_manifests =
        read_all(table, r, listed, &manifests, |b, k| decode_manifest(b, k)).await?;
    let read_indexes = read_all(table, r, listed, &indexes, |b, k| {
        decode_index_manifest(b, k)
    })
    .await?;

    // Index files: in index/, or in a bucket directory (index-file-in-data-file-dir).
    let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
    for k in listed.keys() {
        by_name.entry(name_of(k)).or_default().push(k);
    }
    let mut files: BTreeMap<String, Expected> = BTreeMap::new();
    for (im, entries) in &read_indexes {
        for e in entries {
            if e.external_path.is_some() {
                r.external_files += 1;
                continue;
            }
            let key = by_name
                .get(e.file_name.as_str())
                .and_then(|ks| ks.first())
                .map_or_else(
                    || crate::table::layout::index_key(&e.file_name),
                    |k| k.to_string(),
                );
            files.entry(key).or_insert(Expected {
                owner: format!("index manifest manifest/{im} of {}", indexes[im].owner),
                size: Some(e.file_size),
                rows: None,
            });
        }
    }

    // Live data files of every snapshot and tag; changelog files of every changelog list.
    for v in versions {
        let s = &v.snapshot;
        let mut groups: Vec<(bool, Vec<&str>)> = Vec::new();
        if !v.changelog {
            groups.push((true, vec![&s.base_manifest_list, &s.delta_manifest_list]));
        }
        if let Some(c) = &s.changelog_manifest_list {
            groups.push((false, vec![c]));
        }
        for (data, group) in groups {
            let Some(entries) = entries_of(&group, &read_lists, &read_manifests) else {
                continue; // a list or manifest is missing or unreadable: reported above
            };
            let live = if data {
                live_entries(entries)
            } else {
                entries
                    .into_iter()
                    .filter(|e| e.kind == FileKind::Add)
                    .collect()
            };
            match locate_entries(spec, data_dir, live) {
                Ok(located) => {
                    for f in located {
                        if f.external {
                            r.external_files += 1;
                            continue;
                        }
                        let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                        for x in &f.entry.file.extra_files {
                            files.entry(format!("{dir}/{x}")).or_insert(Expected {
                                owner: v.owner.clone(),
                                size: None,
                                rows: None,
                            });
                        }
                        files.entry(f.path).or_insert(Expected {
                            owner: v.owner.clone(),
                            size: Some(f.entry.file.file_size),
                            rows: Some(f.entry.file.row_count),
                        });
                    }
                }
                Err(e) => r.problem(
                    ProblemKind::Unreadable,
                    "manifest",
                    format!("{e} ({})", v.owner),
                ),
            }
        }
    }
    r.data_files += files.len() as u64;
    for (key, exp) in &files {
        match listed.get(key) {
            None => r.problem(
                ProblemKind::MissingFile,
                key,
                format!("referenced by {}", exp.owner),
            ),
            Some(size) if r.deep => {
                if let Some(want) = exp.size.filter(|w| *w != *size as i64) {
                    r.problem(
                        ProblemKind::SizeMismatch,
                        key,
                        format!("{size} bytes, but {} records {want}", exp.owner),
                    );
                }
            }
            Some(_) => {}
        }
    }
    if r.deep {
        check_footers(table, &files, listed, r).await?;
    }
    Ok(())
}

/// What a data file should be.
#[derive(Debug, Clone)]
struct Expected {
    owner: String,
    size: Option<i64>,
    rows: Option<i64>,
}

/// The entries of the manifests of these lists, in order; `None` if any could not be read.
fn entries_of(
    lists: &[&str],
    read_lists: &BTreeMap<String, Vec<ManifestFileMeta>>,
    read_manifests: &BTreeMap<String, Vec<ManifestEntry>>,
) -> Option<Vec<ManifestEntry>> {
    let mut out = Vec::new();
    for list in lists {
        for m in read_lists.get(*list)? {
            out.extend(read_manifests.get(&m.file_name)?.iter().cloned());
        }
    }
    Some(out)
}

/// Read and decode each wanted metadata file in `manifest/` once; report the missing, the
/// unreadable and (deep) the wrong-sized ones.
async fn read_all<T>(
    table: &Table,
    r: &mut CheckReport,
    listed: &Listed,
    wanted: &BTreeMap<String, Wanted>,
    decode: fn(&[u8], &str) -> Result<T>,
) -> Result<BTreeMap<String, T>> {
    let present: Vec<(&String, &Wanted, String)> = wanted
        .iter()
        .filter_map(|(name, w)| {
            let key = manifest_key(name);
            r.metadata_files += 1;
            if listed.contains_key(&key) {
                Some((name, w, key))
            } else {
                if w.required {
                    r.problem(
                        ProblemKind::MissingFile,
                        &key,
                        format!("referenced by {}", w.owner),
                    );
                }
                None
            }
        })
        .collect();
    let futures: Vec<_> = present
        .iter()
        .map(|(_, _, key)| table.store().get_opt(key))
        .collect();
    let mut out = BTreeMap::new();
    for ((name, w, key), bytes) in present.iter().zip(ordered(futures).await?) {
        let Some(bytes) = bytes else {
            if w.required {
                r.problem(
                    ProblemKind::MissingFile,
                    key,
                    format!("referenced by {} (vanished)", w.owner),
                );
            }
            continue;
        };
        if r.deep {
            if let Some(size) = w.size.filter(|s| *s != bytes.len() as i64) {
                r.problem(
                    ProblemKind::SizeMismatch,
                    key,
                    format!("{} bytes, but {} records {size}", bytes.len(), w.owner),
                );
            }
        }
        match decode(&bytes, key) {
            Ok(v) => {
                out.insert((*name).clone(), v);
            }
            Err(e) => r.problem(
                ProblemKind::Unreadable,
                key,
                format!("{e} (referenced by {})", w.owner),
            ),
        }
    }
    Ok(out)
}

/// Read the footer of every Parquet data file: it must decode and hold the recorded row count.
async fn check_footers(
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
    let Some(tail) = table.store().get_range(key, size - 8..size).await? else {
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
        .store()
        .get_range(key, size - 8 - len..size - 8)
        .await?
    else {
        return Ok(Err("vanished while being checked".into()));
    };
    Ok(ParquetMetaDataReader::decode_metadata(&meta)
        .map(|m| m.file_metadata().num_rows())
        .map_err(|e| format!("unreadable Parquet footer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[i64]) -> Vec<SnapshotId> {
        v.iter().copied().map(SnapshotId).collect()
    }

    fn kinds(d: &SnapshotDir) -> Vec<ProblemKind> {
        d.problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn contiguous_ids_and_good_hints_are_whole() {
        let d = analyze_snapshot_dir("snapshot", &ids(&[3, 4, 5]), Some(b"5"), Some(b"3"));
        assert_eq!(
            (kinds(&d), d.warnings.len(), d.visible),
            (vec![], 0, ids(&[3, 4, 5]))
        );
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2]), None, None);
        assert_eq!((kinds(&d), d.visible), (vec![], ids(&[1, 2])));
        let d = analyze_snapshot_dir("snapshot", &[], None, None);
        assert!(d.problems.is_empty() && d.visible.is_empty());
    }

    #[test]
    fn gaps_and_misleading_hints_are_problems() {
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2, 4]), None, None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert!(
            d.problems[0].detail.contains("1 gap(s): 3"),
            "{:?}",
            d.problems
        );
        // LATEST names a missing snapshot whose successor is missing too: Java fails.
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2]), Some(b"4"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        let d = analyze_snapshot_dir("snapshot", &ids(&[1]), Some(b"x"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        let d = analyze_snapshot_dir("snapshot", &[], Some(b"3"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        // An interrupted rollback: LATEST=5, 6 missing, 7 and 8 stranded.
        let d = analyze_snapshot_dir("snapshot", &ids(&[5, 7, 8]), Some(b"5"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert_eq!(d.visible, ids(&[5]));
    }

    #[test]
    fn stale_hints_and_leftovers_below_earliest_are_warnings() {
        // LATEST behind with its successor present: readers list. EARLIEST moved first by an
        // interrupted expiration: 3 and 4 are invisible.
        let d = analyze_snapshot_dir("snapshot", &ids(&[3, 4, 5, 6, 7]), Some(b"6"), Some(b"5"));
        assert_eq!(
            (kinds(&d), d.warnings.len()),
            (vec![], 2),
            "{:?}",
            d.warnings
        );
        assert_eq!(d.visible, ids(&[5, 6, 7]));
        let d = analyze_snapshot_dir("snapshot", &ids(&[5, 6]), None, Some(b"2"));
        assert_eq!((kinds(&d), d.warnings.len()), (vec![], 1));
    }
}
