//! check: is a table whole? Reads every version and reports, without changing anything:
//!
//! * every file a retained snapshot, tag or long-lived changelog references exists — manifest
//!   lists, manifests, index manifests and index files, statistics, schemas, live data files
//!   and their extra files, changelog files — and with `deep`, has the recorded size, and each
//!   Parquet data file has a readable footer with the recorded row count;
//! * the `LATEST` and `EARLIEST` hints of `snapshot/` and of `changelog/` do not mislead a
//!   reader, and the snapshot and changelog ids a reader can see have no gap and nothing
//!   stranded beyond `LATEST` (gaps are reported as ranges between adjacent listed ids, so a
//!   stray `snapshot-9223372036854775807` costs nothing);
//! * index files are where Java looks for them (`index/`, or the bucket directory with
//!   `index-file-in-data-file-dir`), and the extra files manifest lists name exist in
//!   `manifest/`;
//! * every tag, changelog and consumer decodes and its schema loads;
//! * files in metadata directories whose names Paimon does not write there are listed (names
//!   such as `snapshot-5.tmp` break Java ≤ 2.0's directory listing and are problems);
//! * leftovers of crashed writes are listed: hidden temporaries (`.NAME.<uuid>.tmp`) are
//!   harmless, object_store's staging files on a local filesystem (`tag/tag-x#1`) are problems
//!   when readers list them as tags or versions.
//!
//! * with Iceberg-compatible metadata (table-location or hadoop-catalog), the Iceberg view
//!   reads: its hint, metadata, refs, manifest lists and manifests, and the data files its
//!   current snapshot and refs read (see `iceberg.rs`).
//!
//! Existence is checked against one listing of the table, so the cost is one LIST plus one GET
//! per distinct metadata file (and, deep, two ranged GETs per Parquet file). Files stored
//! outside the table (`_EXTERNAL_PATH`) are counted, not checked. Snapshots and changelogs a
//! reader cannot see (below a valid `EARLIEST`) are reported as warnings and not checked.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::file_name::PaimonFile;
use crate::format::ids::{SchemaId, SnapshotId, TagName};
use crate::format::manifest::{
    decode_index_manifest, decode_manifest_list, decode_manifest_listing,
};
use crate::format::partition::PartitionSpec;
use crate::format::snapshot::Snapshot;
use crate::table::layout::{
    earliest_hint_key, latest_hint_key, manifest_key, schema_key, snapshot_key, statistics_key,
    tag_key, CHANGELOG_DIR, CONSUMER_DIR, INDEX_DIR, MANIFEST_DIR, SCHEMA_DIR, SNAPSHOT_DIR,
    STATISTICS_DIR, TAG_DIR,
};
use crate::table::{ordered, Branch, Table};

mod files;
mod hints;
mod iceberg;

use files::{check_footers, Files, Layout};
pub use hints::{analyze_snapshot_dir, analyze_versioned_dir, SnapshotDir};

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
    /// A leftover of a crashed write under a name Paimon readers list: object_store's staging
    /// file `tag/tag-x#1` is a tag `x#1` to Java and pypaimon (and an empty one makes
    /// pypaimon fail to list the tags); `snapshot-7#1` breaks Java's snapshot listing.
    /// remove-orphan-files reclaims it.
    BreaksReaders,
    /// The Iceberg view of a table with Iceberg-compatible metadata is broken: no
    /// `version-hint.text`, or a current snapshot or ref naming a snapshot the metadata does
    /// not have (every Iceberg query fails: Paimon #6425).
    IcebergView,
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
    /// Distinct metadata files checked: schemas, manifest lists and their extra files,
    /// manifests, index manifests, statistics.
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
    /// Temporary and staging files of crashed writes (`.NAME.<uuid>.tmp` in metadata
    /// directories, object_store's `NAME#N` anywhere on a local filesystem): reclaimed by
    /// remove-orphan-files once older than its cutoff.
    pub crash_leftovers: Vec<String>,
    /// Journals of tagkeeper commands that were interrupted (`_tagkeeper/plans/`), with the
    /// command whose next run finishes each.
    pub unfinished_journals: Vec<crate::ops::journal::Unfinished>,
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
///
/// A check always covers the whole table, every branch included: on a branch (`--branch`)
/// it checks from the table root.
pub async fn check(table: &Table, opts: &CheckOptions) -> Result<CheckReport> {
    let table = &table.root_table();
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
    // object_store's staging names are invisible to its listings (local tables only).
    let leftovers: Vec<String> = table
        .store()
        .list_store_leftovers("")
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    unknown_files(&branches, &listed, &leftovers, &mut r);
    for key in listed.keys() {
        if let Some(u) = crate::ops::journal::unfinished(key) {
            r.warnings.push(format!(
                "{}: an interrupted {} is unfinished; the next {} finishes it",
                u.path, u.command, u.finished_by
            ));
            r.unfinished_journals.push(u);
        }
    }
    let schema = table.latest_schema().await?;
    let spec = PartitionSpec::new(
        schema.partition_keys.clone(),
        schema.partition_types(),
        &schema.options,
    );
    let layout = Layout {
        spec: &spec,
        data_dir: schema.option("data-file.path-directory"),
        index_in_bucket: schema
            .option("index-file-in-data-file-dir")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
    };
    check_metadata(table, &versions, &listed, &layout, &mut r).await?;
    iceberg::check_view(table, &listed, &mut r).await;
    r.problems.sort();
    r.problems.dedup();
    r.whole = r.problems.is_empty();
    Ok(r)
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
    check_snapshots(b, listed, r, versions).await?;
    check_tags(b, listed, r, versions).await?;
    check_changelogs(b, listed, r, versions).await?;
    check_consumers(b, listed, r).await?;
    check_schemas(b, versions, r).await
}

/// What reading one version file gave.
type Loaded = Result<Option<Snapshot>>;

/// Run reads with bounded read-ahead, keeping each outcome (a bad file is a problem, not the
/// end of the check).
async fn load_each<F>(futures: Vec<F>) -> Result<Vec<Loaded>>
where
    F: std::future::Future<Output = Loaded>,
{
    let wrapped: Vec<_> = futures
        .into_iter()
        .map(|f| async move { Ok::<Loaded, Error>(f.await) })
        .collect();
    ordered(wrapped).await
}

/// Record one version: checked, vanished, or unreadable. Store failures stop the check.
fn accept(
    b: &Branch,
    (owner, key): (String, String),
    loaded: Loaded,
    changelog: bool,
    r: &mut CheckReport,
    versions: &mut Vec<Version>,
) -> Result<bool> {
    match loaded {
        Ok(Some(snapshot)) => {
            versions.push(Version {
                branch: b.name.clone(),
                owner,
                snapshot,
                changelog,
            });
            Ok(true)
        }
        Ok(None) => {
            r.warnings
                .push(format!("{owner} vanished while being checked"));
            Ok(false)
        }
        Err(e @ Error::Storage { .. }) => Err(e),
        Err(e) => {
            r.problem(ProblemKind::Unreadable, key, e.to_string());
            Ok(false)
        }
    }
}

/// The hints and ids of `snapshot/`, and every snapshot a reader can reach.
async fn check_snapshots(
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
    for (id, loaded) in dir.visible.iter().zip(load_each(futures).await?) {
        let who = (
            b.label(&format!("snapshot {id}")),
            b.key(&snapshot_key(*id)),
        );
        if accept(b, who, loaded, false, r, versions)? {
            r.snapshots += 1;
        }
    }
    Ok(())
}

/// Every tag file decodes.
async fn check_tags(
    b: &Branch,
    listed: &Listed,
    r: &mut CheckReport,
    versions: &mut Vec<Version>,
) -> Result<()> {
    let names: Vec<TagName> = files_in(listed, &b.key(TAG_DIR))
        .into_iter()
        .filter_map(|(_, n)| match PaimonFile::parse(n) {
            PaimonFile::Tag(tag) => Some(tag),
            _ => None,
        })
        .collect();
    let futures: Vec<_> = names
        .iter()
        .map(|n| async move { Ok(b.table.try_load_tag(n).await?.map(|t| t.snapshot)) })
        .collect();
    for (name, loaded) in names.iter().zip(load_each(futures).await?) {
        let who = (b.label(&format!("tag '{name}'")), b.key(&tag_key(name)));
        if accept(b, who, loaded, false, r, versions)? {
            r.tags += 1;
        }
    }
    Ok(())
}

/// The hints and ids of `changelog/` (Java reads them with the same rules as `snapshot/`), and
/// every long-lived changelog a reader can reach.
async fn check_changelogs(
    b: &Branch,
    listed: &Listed,
    r: &mut CheckReport,
    versions: &mut Vec<Version>,
) -> Result<()> {
    let dir = b.key(CHANGELOG_DIR);
    let ids: Vec<SnapshotId> = files_in(listed, &dir)
        .into_iter()
        .filter_map(|(_, n)| match PaimonFile::parse(n) {
            PaimonFile::ChangelogMeta(id) => Some(id),
            _ => None,
        })
        .collect();
    let (latest_key, earliest_key) = (
        format!("{CHANGELOG_DIR}/LATEST"),
        format!("{CHANGELOG_DIR}/EARLIEST"),
    );
    let (latest, earliest) = futures::try_join!(
        b.table.store().get_opt(&latest_key),
        b.table.store().get_opt(&earliest_key),
    )?;
    let found = analyze_versioned_dir(
        &dir,
        "changelog",
        &ids,
        latest.as_deref(),
        earliest.as_deref(),
    );
    r.problems.extend(found.problems);
    r.warnings.extend(found.warnings);
    let futures: Vec<_> = found
        .visible
        .iter()
        .map(|id| async move {
            let rel = format!("{CHANGELOG_DIR}/changelog-{id}");
            match b.table.store().get_opt(&rel).await? {
                None => Ok(None),
                Some(bytes) => Snapshot::decode(&bytes, &b.key(&rel)).map(Some),
            }
        })
        .collect();
    for (id, loaded) in found.visible.iter().zip(load_each(futures).await?) {
        let who = (
            b.label(&format!("changelog {id}")),
            b.key(&format!("{CHANGELOG_DIR}/changelog-{id}")),
        );
        if accept(b, who, loaded, true, r, versions)? {
            r.changelogs += 1;
        }
    }
    Ok(())
}

/// Every consumer file holds `{"nextSnapshot": <id>}`.
async fn check_consumers(b: &Branch, listed: &Listed, r: &mut CheckReport) -> Result<()> {
    for (key, name) in files_in(listed, &b.key(CONSUMER_DIR)) {
        if !matches!(PaimonFile::parse(name), PaimonFile::Consumer(_)) {
            continue;
        }
        let rel = format!("{CONSUMER_DIR}/{name}");
        let Some(bytes) = b.table.store().get_opt(&rel).await? else {
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
    Ok(())
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
fn unknown_files(branches: &[Branch], listed: &Listed, leftovers: &[String], r: &mut CheckReport) {
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
    for (dir, expect, hazard) in dirs {
        for (key, name) in files_in(listed, &dir) {
            let kind = PaimonFile::parse(name);
            if expect(&kind) {
                continue;
            }
            if kind == F::Temporary {
                r.crash_leftovers.push(key.to_string());
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
    // Directories Paimon readers list by prefix, with the prefix and what they take it for.
    // Directories Paimon readers list by prefix: (directory, prefix, what a reader takes a
    // listed name for; `None` for versioned names, whose id Java ≤ 2.0 fails to parse).
    let mut listed_by_readers: Vec<(String, &str, Option<&str>)> = Vec::new();
    for b in branches {
        for (dir, prefix, named) in [
            (TAG_DIR, "tag-", Some("tag")),
            (CONSUMER_DIR, "consumer-", Some("consumer")),
            (SNAPSHOT_DIR, "snapshot-", None),
            (CHANGELOG_DIR, "changelog-", None),
            (SCHEMA_DIR, "schema-", None),
        ] {
            listed_by_readers.push((b.key(dir), prefix, named));
        }
    }
    for key in leftovers {
        r.crash_leftovers.push(key.clone());
        let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
        let hazard = listed_by_readers
            .iter()
            .find(|(d, prefix, _)| d == dir && name.starts_with(prefix));
        let Some((_, prefix, named)) = hazard else {
            continue;
        };
        let harm = match named {
            Some(what) => format!(
                "Java and pypaimon list it as a {what} named '{}' (pypaimon cannot list the \
                 {what}s at all while it is incomplete)",
                &name[prefix.len()..]
            ),
            None => format!(
                "Java ≤ 2.0 fails to list {dir}/ while it exists (a '{prefix}' name with no id)"
            ),
        };
        r.problem(
            ProblemKind::BreaksReaders,
            key,
            format!(
                "a crashed write's staging file under a name Paimon readers list: {harm}; \
                 remove-orphan-files reclaims it once it is older than the cutoff \
                 (--older-than, and --force if no writer is running)"
            ),
        );
    }
    r.crash_leftovers.sort();
    let others = r.crash_leftovers.len()
        - r.problems
            .iter()
            .filter(|p| p.kind == ProblemKind::BreaksReaders)
            .count();
    if others > 0 {
        r.warnings.push(format!(
            "{others} temporary file(s) of crashed writes, harmless to readers \
             (remove-orphan-files reclaims them)"
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
    layout: &Layout<'_>,
    r: &mut CheckReport,
) -> Result<()> {
    let (lists, indexes) = wanted_metadata(versions, listed, r);
    let read_lists = read_all(table, r, listed, &lists, decode_manifest_list).await?;
    let mut manifests: BTreeMap<String, Wanted> = BTreeMap::new();
    // Files a manifest list names as sharing a manifest's lifecycle (`_EXTRA_FILES`), in
    // `manifest/`.
    let mut extras: BTreeMap<String, Wanted> = BTreeMap::new();
    for (list, metas) in &read_lists {
        let Some(w) = lists.get(list) else { continue };
        for m in metas {
            let owner = format!("manifest list manifest/{list} of {}", w.owner);
            want(
                &mut manifests,
                &m.file_name,
                &owner,
                w.required,
                Some(m.file_size),
            );
            for x in &m.extra_files {
                let owner = format!("manifest {} in {owner}", m.file_name);
                want(&mut extras, x, &owner, w.required, None);
            }
        }
    }
    for (name, w) in &extras {
        r.metadata_files += 1;
        let key = manifest_key(name);
        if w.required && !listed.contains_key(&key) {
            r.problem(
                ProblemKind::MissingFile,
                key,
                format!("extra file of {}", w.owner),
            );
        }
    }
    // Compact entries (identity, sizes, rows: what check reports), decoded with the same
    // checks as full ones: every manifest of hundreds of versions is held at once.
    let read_manifests = read_all(table, r, listed, &manifests, decode_manifest_listing).await?;
    let read_indexes = read_all(table, r, listed, &indexes, decode_index_manifest).await?;

    let mut files = Files::default();
    files.index_files(&read_indexes, &indexes, layout, r);
    // What the liveness model needs of each manifest (kinds and identities), each identity
    // held once however many manifests name it.
    let mut interner = crate::reach::Interner::default();
    let facts: std::collections::HashMap<String, crate::liveness::ManifestFacts> = read_manifests
        .iter()
        .map(|(name, entries)| {
            let facts = crate::liveness::ManifestFacts::interned(entries, &mut interner);
            (name.clone(), facts)
        })
        .collect();
    drop(interner);
    for v in versions {
        files.data_files(v, &read_lists, &read_manifests, &facts, layout, r);
    }
    r.data_files += files.expected.len() as u64;
    r.external_files += files.external.len() as u64;
    for (key, exp) in &files.expected {
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
        check_footers(table, &files.expected, listed, r).await?;
    }
    Ok(())
}

/// The manifest lists and index manifests the versions name (with the sizes recorded in the
/// snapshot), and a check of their statistics files.
fn wanted_metadata(
    versions: &[Version],
    listed: &Listed,
    r: &mut CheckReport,
) -> (BTreeMap<String, Wanted>, BTreeMap<String, Wanted>) {
    let mut lists: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut indexes: BTreeMap<String, Wanted> = BTreeMap::new();
    for v in versions {
        let s = &v.snapshot;
        let size = |field: &str| s.raw().get(field).and_then(serde_json::Value::as_i64);
        // A long-lived changelog's base and delta lists, index and statistics may be gone:
        // Java deletes them with its snapshot (`ChangelogDeletion`).
        let required = !v.changelog;
        for (list, field) in [
            (&s.base_manifest_list, "baseManifestListSize"),
            (&s.delta_manifest_list, "deltaManifestListSize"),
        ] {
            want(&mut lists, list, &v.owner, required, size(field));
        }
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
            want(&mut indexes, im, &v.owner, required, None);
        }
        if let (Some(st), true) = (&s.statistics, required) {
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
    (lists, indexes)
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
