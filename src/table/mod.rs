//! The read side of a table: snapshots, tags, schemas, and the files of a version.
//!
//! [`Table`] joins the I/O layer with the pure codecs. It is the only place that knows which
//! file holds what; commands build on it.

pub mod layout;
mod version;

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

pub use version::{ResolvedVersion, VersionSpec};

use crate::error::{Error, Result};
use crate::format::binary_row::{self, Datum};
use crate::format::file_name::PaimonFile;
use crate::format::hint::parse_hint;
use crate::format::ids::{SchemaId, SnapshotId, TagName};
use crate::format::manifest::{
    decode_index_manifest, decode_manifest, decode_manifest_list, decode_manifest_listing,
    FileKind, IndexManifestEntry, ListingEntry, ManifestEntry, ManifestFileMeta,
};
use crate::format::partition::PartitionSpec;
use crate::format::schema::TableSchema;
use crate::format::snapshot::Snapshot;
use crate::format::tag::Tag;
use crate::io::{open_location, StoreOptions, TableStore};
use crate::reach::live_entries;
use layout::*;

/// Manifests read at once for one version (the store's semaphore bounds requests further).
const MANIFEST_READ_AHEAD: usize = 64;

/// A Paimon table in a store, or one of its branches.
///
/// A branch's snapshots, tags, schemas, changelogs and consumers live under
/// `branch/branch-<name>/` ([`Table::store`]); its manifests, index, statistics and data files
/// are main's ([`Table::root_store`]), as in Java (`FileStorePathFactory`'s root is always the
/// table path).
#[derive(Debug, Clone)]
pub struct Table {
    store: TableStore,
    /// The table root, when `store` is a branch's directory.
    root: Option<TableStore>,
    /// The branch name, when this is a branch.
    branch: Option<String>,
}

/// The snapshot ids a table retains, from a listing of `snapshot/`, and what its hints say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRange {
    /// Every `snapshot-N` found, ascending.
    pub ids: Vec<SnapshotId>,
    /// The `LATEST` hint, if present and parseable.
    pub latest_hint: Option<SnapshotId>,
    /// The `EARLIEST` hint, if present and parseable.
    pub earliest_hint: Option<SnapshotId>,
    /// Problems with the hints or gaps in the ids. Hints are advisory (readers validate them),
    /// so these are warnings, not errors.
    pub warnings: Vec<String>,
}

impl SnapshotRange {
    /// Smallest retained id.
    pub fn earliest(&self) -> Option<SnapshotId> {
        self.ids.first().copied()
    }

    /// Largest retained id.
    pub fn latest(&self) -> Option<SnapshotId> {
        self.ids.last().copied()
    }

    /// "retained snapshots are 3..=9" or "the table has no snapshots".
    pub fn describe(&self) -> String {
        match (self.earliest(), self.latest()) {
            (Some(e), Some(l)) if e == l => format!("the only retained snapshot is {e}"),
            (Some(e), Some(l)) => format!("retained snapshots are {e}..={l}"),
            _ => "the table has no snapshots".to_string(),
        }
    }
}

/// A data file live in some version, with its location resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFile {
    /// The manifest entry (kind is always ADD).
    pub entry: ManifestEntry,
    /// Decoded partition values, in partition-key order.
    pub partition: Vec<Datum>,
    /// Key relative to the table root, or the full URI for an external file.
    pub path: String,
    /// True when the file lives outside the table (`_EXTERNAL_PATH`).
    pub external: bool,
}

/// A branch: its name and the branch as a table.
///
/// A branch's snapshots, tags, schemas, changelogs and consumers live under
/// `branch/branch-<name>/`, but its manifests and data files are main's: [`Branch::table`]
/// reads its metadata through [`Table::store`] and manifests through [`Table::root_store`]
/// (paimon-format.md §1, §7.9).
#[derive(Debug, Clone)]
pub struct Branch {
    /// `main`, or the name after `branch-`.
    pub name: String,
    /// Key prefix of the branch root relative to the table root (empty for main).
    pub prefix: String,
    /// The branch root (the table itself for main).
    pub table: Table,
}

impl Branch {
    /// A key of the branch's metadata, relative to the table root.
    pub fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// "snapshot 3" on main, "branch 'b' snapshot 3" elsewhere: for messages.
    pub fn label(&self, what: &str) -> String {
        if self.prefix.is_empty() {
            what.to_string()
        } else {
            format!("branch '{}' {what}", self.name)
        }
    }
}

/// A tag with its name.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTag {
    /// The tag's name.
    pub name: TagName,
    /// The decoded tag file.
    pub tag: Tag,
}

impl Table {
    /// A table over an already rooted store. Does no I/O.
    pub fn new(store: TableStore) -> Self {
        Table {
            store,
            root: None,
            branch: None,
        }
    }

    /// This table's branch `name` as a table (`main` is the table itself), or
    /// [`Error::BranchNotFound`] when `branch/branch-<name>/` holds no schema. Does no other I/O.
    pub async fn branch(&self, name: &str) -> Result<Table> {
        let root = self.root_table();
        if name == MAIN_BRANCH {
            return Ok(root);
        }
        crate::format::ids::validate_branch_name(name)?;
        let t = root.branch_unchecked(name)?;
        if t.schema_ids().await?.is_empty() {
            let names: Vec<String> = root.branches().await?.into_iter().map(|b| b.name).collect();
            return Err(Error::BranchNotFound {
                name: name.to_string(),
                available: names.join(", "),
            });
        }
        Ok(t)
    }

    /// The branch `name` of this table without checking that it exists.
    pub(crate) fn branch_unchecked(&self, name: &str) -> Result<Table> {
        let root = self.root_store().clone();
        Ok(Table {
            store: root.child(&branch_prefix(name))?,
            root: Some(root),
            branch: Some(name.to_string()),
        })
    }

    /// The table itself (main), also when this is a branch.
    pub fn root_table(&self) -> Table {
        Table::new(self.root_store().clone())
    }

    /// The store rooted at the table itself, where manifests, index, statistics and data files
    /// live (the same as [`Table::store`] unless this is a branch).
    pub fn root_store(&self) -> &TableStore {
        self.root.as_ref().unwrap_or(&self.store)
    }

    /// `main`, or the branch's name.
    pub fn branch_name(&self) -> &str {
        self.branch.as_deref().unwrap_or(MAIN_BRANCH)
    }

    /// True when this is a branch other than main.
    pub fn is_branch(&self) -> bool {
        self.branch.is_some()
    }

    /// A key of this branch's metadata (`snapshot/…`), relative to the table root.
    pub fn root_key(&self, key: &str) -> String {
        match &self.branch {
            None => key.to_string(),
            Some(name) => format!("{}/{key}", branch_prefix(name)),
        }
    }

    /// Open the table at a location and check that it is a Paimon table.
    pub async fn open(location: &str, options: &StoreOptions) -> Result<Self> {
        let table = Table::new(open_location(location, options)?);
        table.check_is_table().await?;
        Ok(table)
    }

    /// The store under this table.
    pub fn store(&self) -> &TableStore {
        &self.store
    }

    /// The location for messages.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// Main and every `branch/branch-<name>/` directory, main first. Does not check that a
    /// branch holds a table: callers that need its schema read it.
    /// Lists the table root's branches also when this is a branch.
    pub async fn branches(&self) -> Result<Vec<Branch>> {
        let root = self.root_table();
        let (_, dirs) = root.store.list_dir(BRANCH_DIR).await?;
        let mut out = vec![Branch {
            name: MAIN_BRANCH.to_string(),
            prefix: String::new(),
            table: root.clone(),
        }];
        let mut names: Vec<String> = dirs
            .iter()
            .filter_map(|d| d.rsplit('/').next())
            .filter_map(|d| d.strip_prefix("branch-"))
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        for name in names {
            out.push(Branch {
                table: root.branch_unchecked(&name)?,
                prefix: branch_prefix(&name),
                name,
            });
        }
        Ok(out)
    }

    /// Fail with [`Error::NotATable`] unless `schema/schema-N` exists.
    pub async fn check_is_table(&self) -> Result<()> {
        if self.schema_ids().await?.is_empty() {
            return Err(Error::NotATable {
                location: self.location().to_string(),
                reason: "no schema/schema-N file found".to_string(),
            });
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.store.get_opt(key).await
    }

    /// A key under the table root (manifests), also for a branch.
    async fn get_root(&self, key: &str) -> Result<Option<Bytes>> {
        self.root_store().get_opt(key).await
    }

    /// A file under the table root that `referenced_by` names: missing is [`Error::MissingFile`].
    async fn get_root_referenced(&self, key: &str, referenced_by: &str) -> Result<Bytes> {
        self.get_root(key).await?.ok_or_else(|| Error::MissingFile {
            path: key.to_string(),
            referenced_by: referenced_by.to_string(),
        })
    }

    /// Ids of the files in a versioned directory (`snapshot-N`, `schema-N`).
    async fn listed_files(&self, dir: &str) -> Result<Vec<PaimonFile>> {
        let (files, _) = self.store.list_dir(dir).await?;
        Ok(files
            .iter()
            .map(|f| PaimonFile::parse(f.key.rsplit('/').next().unwrap_or_default()))
            .collect())
    }

    // ----- schemas -----

    /// Schema ids, ascending.
    pub async fn schema_ids(&self) -> Result<Vec<SchemaId>> {
        let mut ids: Vec<SchemaId> = self
            .listed_files(SCHEMA_DIR)
            .await?
            .into_iter()
            .filter_map(|f| match f {
                PaimonFile::Schema(id) => Some(id),
                _ => None,
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Load one schema.
    pub async fn load_schema(&self, id: SchemaId) -> Result<TableSchema> {
        let key = schema_key(id);
        let bytes = self.get(&key).await?.ok_or_else(|| Error::MissingFile {
            path: key.clone(),
            referenced_by: "a snapshot or the table".to_string(),
        })?;
        TableSchema::decode(&bytes, &key)
    }

    /// The newest schema.
    pub async fn latest_schema(&self) -> Result<TableSchema> {
        let ids = self.schema_ids().await?;
        let id = ids.last().copied().ok_or_else(|| Error::NotATable {
            location: self.location().to_string(),
            reason: "no schema/schema-N file found".to_string(),
        })?;
        self.load_schema(id).await
    }

    // ----- snapshots -----

    /// The retained snapshot ids, validated against the hints.
    pub async fn snapshot_range(&self) -> Result<SnapshotRange> {
        let (latest_key, earliest_key) = (latest_hint_key(), earliest_hint_key());
        let (listing, latest_bytes, earliest_bytes) = futures::try_join!(
            self.listed_files(SNAPSHOT_DIR),
            self.get(&latest_key),
            self.get(&earliest_key),
        )?;
        let mut ids: Vec<SnapshotId> = listing
            .into_iter()
            .filter_map(|f| match f {
                PaimonFile::Snapshot(id) => Some(id),
                _ => None,
            })
            .collect();
        ids.sort();
        let mut range = SnapshotRange {
            latest_hint: latest_bytes.as_deref().and_then(parse_hint),
            earliest_hint: earliest_bytes.as_deref().and_then(parse_hint),
            ids,
            warnings: Vec::new(),
        };
        let (latest, earliest) = (range.latest(), range.earliest());
        check_hint(&mut range, "LATEST", latest_bytes.as_deref(), latest)?;
        check_hint(&mut range, "EARLIEST", earliest_bytes.as_deref(), earliest)?;
        if let (Some(e), Some(l)) = (range.earliest(), range.latest()) {
            // Ids come from file names: 0..=i64::MAX is possible, so count in i128.
            let expected = i128::from(l.0) - i128::from(e.0) + 1;
            let missing = expected - range.ids.len() as i128;
            if missing > 0 {
                range
                    .warnings
                    .push(format!("snapshot ids {e}..={l} have {missing} gap(s)"));
            }
        }
        Ok(range)
    }

    /// The latest snapshot id, cheaply: the `LATEST` hint, checked with HEAD requests and
    /// advanced past any newer snapshot (as Java reads it); a listing only when the hint is
    /// missing, unreadable or points at nothing. On object stores this is 2–3 requests instead
    /// of a listing that grows with the number of snapshots.
    pub async fn latest_snapshot_id(&self) -> Result<Option<SnapshotId>> {
        let hint = self
            .get(&latest_hint_key())
            .await?
            .as_deref()
            .and_then(parse_hint);
        if let Some(h) = hint {
            if self.store.head_opt(&snapshot_key(h)).await?.is_some() {
                // Forward while the next snapshot exists: bounded by the files that exist, and
                // nothing can follow `i64::MAX` (a stray name may hold it).
                let mut id = h;
                while let Some(next) = id.0.checked_add(1).map(SnapshotId) {
                    if self.store.head_opt(&snapshot_key(next)).await?.is_none() {
                        break;
                    }
                    id = next;
                }
                return Ok(Some(id));
            }
        }
        Ok(self.snapshot_range().await?.latest())
    }

    /// Load a snapshot; `None` if its file does not exist.
    pub async fn try_load_snapshot(&self, id: SnapshotId) -> Result<Option<Snapshot>> {
        let key = snapshot_key(id);
        match self.get(&key).await? {
            None => Ok(None),
            Some(bytes) => {
                let s = Snapshot::decode(&bytes, &key)?;
                if s.id != id {
                    return Err(Error::corrupt(
                        key,
                        format!("file holds snapshot id {}, not {id}", s.id),
                    ));
                }
                Ok(Some(s))
            }
        }
    }

    /// Load snapshots in parallel, in the order given. Missing ones are errors.
    pub async fn load_snapshots(&self, ids: &[SnapshotId]) -> Result<Vec<Snapshot>> {
        let futures: Vec<_> = ids
            .iter()
            .map(|id| async move {
                self.try_load_snapshot(*id)
                    .await?
                    .ok_or_else(|| Error::SnapshotNotFound {
                        id: id.0,
                        available: "it vanished while being read (expired concurrently?)"
                            .to_string(),
                    })
            })
            .collect();
        ordered(futures).await
    }

    // ----- tags -----

    /// Tag names, sorted. `tag/tag-success-file/` and other directories are not tags.
    pub async fn tag_names(&self) -> Result<Vec<TagName>> {
        let mut names: Vec<TagName> = self
            .listed_files(TAG_DIR)
            .await?
            .into_iter()
            .filter_map(|f| match f {
                PaimonFile::Tag(name) => Some(name),
                _ => None,
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Load a tag; `None` if it does not exist.
    pub async fn try_load_tag(&self, name: &TagName) -> Result<Option<Tag>> {
        let key = tag_key(name);
        match self.get(&key).await? {
            None => Ok(None),
            Some(bytes) => Tag::decode(&bytes, &key).map(Some),
        }
    }

    /// Load a tag or fail with [`Error::TagNotFound`].
    pub async fn load_tag(&self, name: &TagName) -> Result<Tag> {
        self.try_load_tag(name)
            .await?
            .ok_or_else(|| Error::TagNotFound {
                name: name.to_string(),
            })
    }

    /// Every tag, sorted by name. A tag deleted between listing and reading is skipped.
    pub async fn tags(&self) -> Result<Vec<NamedTag>> {
        let names = self.tag_names().await?;
        let futures: Vec<_> = names
            .into_iter()
            .map(|name| async move {
                Ok::<_, Error>(
                    self.try_load_tag(&name)
                        .await?
                        .map(|tag| NamedTag { name, tag }),
                )
            })
            .collect();
        let loaded: Vec<Option<NamedTag>> = ordered(futures).await?;
        Ok(loaded.into_iter().flatten().collect())
    }

    // ----- manifests -----

    /// Read a manifest list named by `referenced_by`.
    pub async fn manifest_list(
        &self,
        name: &str,
        referenced_by: &str,
    ) -> Result<Vec<ManifestFileMeta>> {
        let key = manifest_key(name);
        let bytes = self.get_root_referenced(&key, referenced_by).await?;
        decode_manifest_list(&bytes, &key)
    }

    /// Read a manifest named by `referenced_by`.
    pub async fn manifest(&self, name: &str, referenced_by: &str) -> Result<Vec<ManifestEntry>> {
        let key = manifest_key(name);
        let bytes = self.get_root_referenced(&key, referenced_by).await?;
        decode_manifest(&bytes, &key)
    }

    /// [`Table::manifest`] decoding only what a listing needs (no statistics or keys), with
    /// the same checks.
    pub(crate) async fn manifest_listing(
        &self,
        name: &str,
        referenced_by: &str,
    ) -> Result<Vec<ListingEntry>> {
        let key = manifest_key(name);
        let bytes = self.get_root_referenced(&key, referenced_by).await?;
        decode_manifest_listing(&bytes, &key)
    }

    /// Read a manifest a manifest list names, and check it against what the list recorded:
    /// its size and how many ADD and DELETE entries it holds. A manifest cut at a block
    /// boundary is still a valid Avro file; only these catch it, and a manifest that lost
    /// entries must never be read as complete (orphan cleaning would delete the files of the
    /// missing entries). Lists that record no counts (zero) are checked by size only.
    pub async fn manifest_of(
        &self,
        meta: &ManifestFileMeta,
        referenced_by: &str,
    ) -> Result<Vec<ManifestEntry>> {
        let key = manifest_key(&meta.file_name);
        let bytes = self.get_root_referenced(&key, referenced_by).await?;
        // Decoding first: a file that does not decode says so; one that decodes but is not
        // what the list recorded is caught after.
        let entries = decode_manifest(&bytes, &key)?;
        let added = entries.iter().filter(|e| e.kind == FileKind::Add).count() as i64;
        check_manifest(
            &ManifestRecord::of(meta),
            &key,
            bytes.len(),
            added,
            entries.len() as i64,
            referenced_by,
        )?;
        Ok(entries)
    }

    /// [`Table::manifest_of`] decoding only what a listing needs, with the same checks.
    pub(crate) async fn manifest_listing_of(
        &self,
        meta: &ManifestFileMeta,
        referenced_by: &str,
    ) -> Result<Vec<ListingEntry>> {
        self.manifest_listing_recorded(&ManifestRecord::of(meta), referenced_by)
            .await
    }

    /// [`Table::manifest_listing_of`] from the part of the list's entry the checks use.
    pub(crate) async fn manifest_listing_recorded(
        &self,
        meta: &ManifestRecord,
        referenced_by: &str,
    ) -> Result<Vec<ListingEntry>> {
        let key = manifest_key(&meta.file_name);
        let bytes = self.get_root_referenced(&key, referenced_by).await?;
        let entries = decode_manifest_listing(&bytes, &key)?;
        let added = entries.iter().filter(|e| e.kind == FileKind::Add).count() as i64;
        check_manifest(
            meta,
            &key,
            bytes.len(),
            added,
            entries.len() as i64,
            referenced_by,
        )?;
        Ok(entries)
    }

    /// The live entries of a snapshot (base then delta entries merged in order, §7.1), each
    /// kept as a compact [`ListingEntry`]: what `files` lists. Every manifest of both lists is
    /// requested as soon as its list is read, and entries are merged by the one
    /// [`live_entries`].
    pub(crate) async fn live_listing_of(
        &self,
        snapshot: &Snapshot,
        owner: &str,
    ) -> Result<Vec<ListingEntry>> {
        let (base, delta) = futures::try_join!(
            self.listing_of_list(&snapshot.base_manifest_list, owner),
            self.listing_of_list(&snapshot.delta_manifest_list, owner),
        )?;
        Ok(live_entries(base.into_iter().chain(delta).flatten()))
    }

    /// The compact entries of every manifest a manifest list names, one chunk per manifest,
    /// in list order; each manifest is requested as soon as the list is read.
    async fn listing_of_list(&self, list: &str, owner: &str) -> Result<Vec<Vec<ListingEntry>>> {
        let by = format!("manifest list manifest/{list} of {owner}");
        let metas = self.manifest_list(list, owner).await?;
        let futures: Vec<_> = metas
            .iter()
            .map(|m| self.manifest_listing_of(m, &by))
            .collect();
        ordered(futures).await
    }

    /// The names of the files a version needs for its data, as the liveness model names them:
    /// its live data files and the changelog files it produced, internal ones only (an
    /// external file is not the table's to delete), and their extra files. The same files as
    /// [`Table::data_files`] and [`Table::changelog_files`] give, read through the compact
    /// listing: a million-file version's full entries, statistics and all, are over a
    /// gigabyte; these are a fifth of it. Entries are checked as [`Table::locate`] checks
    /// them (partition bytes decode, keys are valid): metadata the full read rejects is
    /// rejected here too.
    pub(crate) async fn live_names_of(
        &self,
        snapshot: &Snapshot,
        owner: &str,
    ) -> Result<std::collections::HashSet<String>> {
        let changelog = async {
            match &snapshot.changelog_manifest_list {
                None => Ok(Vec::new()),
                Some(list) => Ok(live_entries(
                    self.listing_of_list(list, owner)
                        .await?
                        .into_iter()
                        .flatten(),
                )),
            }
        };
        let (data, changelog) =
            futures::try_join!(self.live_listing_of(snapshot, owner), changelog)?;
        let mut names = std::collections::HashSet::with_capacity(data.len() + changelog.len());
        if data.is_empty() && changelog.is_empty() {
            return Ok(names);
        }
        let schema = self.latest_schema().await?;
        let spec = PartitionSpec::new(
            schema.partition_keys.clone(),
            schema.partition_types(),
            &schema.options,
        );
        let data_dir = schema.option("data-file.path-directory");
        // Partition bytes → partition path, decoded once per partition.
        let mut paths = std::collections::HashMap::new();
        for e in data.into_iter().chain(changelog) {
            // The key is built only to be checked, as reading full entries checks it.
            listing_key(&spec, data_dir, &mut paths, &e)?;
            if e.external_path.is_some() {
                continue;
            }
            names.extend(e.extra_files);
            names.insert(e.file_name.into_string());
        }
        Ok(names)
    }
}

/// What a manifest list records of a manifest that reading it checks (the rest of the entry,
/// partition statistics above all, is several times larger: a reader that holds the entries
/// of many lists keeps this instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManifestRecord {
    pub(crate) file_name: String,
    pub(crate) file_size: i64,
    pub(crate) num_added_files: i64,
    pub(crate) num_deleted_files: i64,
}

impl ManifestRecord {
    pub(crate) fn of(meta: &ManifestFileMeta) -> Self {
        ManifestRecord {
            file_name: meta.file_name.clone(),
            file_size: meta.file_size,
            num_added_files: meta.num_added_files,
            num_deleted_files: meta.num_deleted_files,
        }
    }
}

/// Check a manifest against what its list recorded: its size and how many ADD and DELETE
/// entries it holds. A manifest cut at a block boundary is still a valid Avro file; only these
/// catch it, and a manifest that lost entries must never be read as complete. Lists that
/// record no counts (zero) are checked by size only.
fn check_manifest(
    meta: &ManifestRecord,
    key: &str,
    len: usize,
    added: i64,
    total: i64,
    referenced_by: &str,
) -> Result<()> {
    {
        let bytes_len = len;
        if meta.file_size > 0 && bytes_len as i64 != meta.file_size {
            return Err(Error::corrupt(
                key,
                format!(
                    "{} bytes, but {referenced_by} records {} (truncated or replaced)",
                    bytes_len, meta.file_size
                ),
            ));
        }

        if meta.num_added_files + meta.num_deleted_files > 0 {
            let deleted = total - added;
            if (added, deleted) != (meta.num_added_files, meta.num_deleted_files) {
                return Err(Error::corrupt(
                    key,
                    format!(
                        "{added} ADD and {deleted} DELETE entries, but {referenced_by} records {} and {}",
                        meta.num_added_files, meta.num_deleted_files
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl Table {
    /// All entries of the manifests a manifest list names, in list order.
    pub async fn entries_of_list(
        &self,
        list_name: &str,
        owner: &str,
    ) -> Result<Vec<ManifestEntry>> {
        let metas = self.manifest_list(list_name, owner).await?;
        let by = format!("manifest list manifest/{list_name} of {owner}");
        self.entries_of(&metas, &by).await
    }

    /// All entries of the given manifests, in order, read concurrently.
    pub async fn entries_of(
        &self,
        metas: &[ManifestFileMeta],
        by: &str,
    ) -> Result<Vec<ManifestEntry>> {
        let futures: Vec<_> = metas.iter().map(|m| self.manifest_of(m, by)).collect();
        let chunks: Vec<Vec<ManifestEntry>> = ordered(futures).await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    /// The live data files among the given manifests (which must hold every entry of the
    /// partitions asked about, as a partition-pruned subset of a snapshot's lists does).
    pub async fn live_files_of(
        &self,
        metas: &[ManifestFileMeta],
        by: &str,
    ) -> Result<Vec<LiveFile>> {
        let entries = self.entries_of(metas, by).await?;
        self.locate(live_entries(entries)).await
    }

    /// The live data files of a snapshot: base then delta entries merged in order (§7.1).
    pub async fn data_files(&self, snapshot: &Snapshot, owner: &str) -> Result<Vec<LiveFile>> {
        let (base, delta) = futures::try_join!(
            self.entries_of_list(&snapshot.base_manifest_list, owner),
            self.entries_of_list(&snapshot.delta_manifest_list, owner),
        )?;
        let live = live_entries(base.into_iter().chain(delta));
        self.locate(live).await
    }

    /// The changelog files a snapshot produced (ADD entries of its changelog manifest list).
    pub async fn changelog_files(&self, snapshot: &Snapshot, owner: &str) -> Result<Vec<LiveFile>> {
        match &snapshot.changelog_manifest_list {
            None => Ok(Vec::new()),
            Some(list) => {
                let entries = self.entries_of_list(list, owner).await?;
                self.locate(live_entries(entries)).await
            }
        }
    }

    /// The index files of a snapshot (its index manifest is a full list).
    pub async fn index_files(
        &self,
        snapshot: &Snapshot,
        owner: &str,
    ) -> Result<Vec<IndexManifestEntry>> {
        let Some(name) = &snapshot.index_manifest else {
            return Ok(Vec::new());
        };
        let key = manifest_key(name);
        let bytes = self.get_root_referenced(&key, owner).await?;
        decode_index_manifest(&bytes, &key)
    }

    /// Resolve paths and partition values of live entries.
    pub(crate) async fn locate(&self, entries: Vec<ManifestEntry>) -> Result<Vec<LiveFile>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let schema = self.latest_schema().await?;
        let spec = PartitionSpec::new(
            schema.partition_keys.clone(),
            schema.partition_types(),
            &schema.options,
        );
        locate_entries(&spec, schema.option("data-file.path-directory"), entries)
    }

    /// The partition spec of the table (latest schema).
    pub async fn partition_spec(&self) -> Result<PartitionSpec> {
        let schema = self.latest_schema().await?;
        Ok(PartitionSpec::new(
            schema.partition_keys.clone(),
            schema.partition_types(),
            &schema.options,
        ))
    }
}

/// Resolve paths and partition values of entries with a known partition spec and data
/// directory (`data-file.path-directory`). Pure: no I/O.
pub(crate) fn locate_entries(
    spec: &PartitionSpec,
    data_dir: Option<&str>,
    entries: Vec<ManifestEntry>,
) -> Result<Vec<LiveFile>> {
    let mut cache: BTreeMap<Vec<u8>, (Vec<Datum>, String)> = BTreeMap::new();
    entries
        .into_iter()
        .map(|entry| {
            if !cache.contains_key(&entry.partition) {
                let values = binary_row::decode(&entry.partition, &spec.types).map_err(|e| {
                    Error::corrupt(
                        format!("manifest entry for {}", entry.file.file_name),
                        format!("partition bytes: {e}"),
                    )
                })?;
                let path = spec.path(&values);
                cache.insert(entry.partition.clone(), (values, path));
            }
            let (values, partition_path) = cache.get(&entry.partition).cloned().unwrap_or_default();
            let (path, external) = match &entry.file.external_path {
                Some(uri) => (uri.clone(), true),
                None => {
                    let dir = bucket_dir(data_dir, &partition_path, entry.bucket);
                    let key = format!("{dir}/{}", entry.file.file_name);
                    crate::io::check_key(&key)?;
                    (key, false)
                }
            };
            Ok(LiveFile {
                entry,
                partition: values,
                path,
                external,
            })
        })
        .collect()
}

/// The key of a compact entry, as [`locate_entries`] builds it for a full one: the URI of a
/// file stored outside the table, else the bucket directory of its partition and its name,
/// checked. `partitions` caches partition bytes → partition path: each partition is decoded
/// once, for external files too (a partition that does not decode is corrupt metadata
/// either way).
pub(crate) fn listing_key(
    spec: &PartitionSpec,
    data_dir: Option<&str>,
    partitions: &mut std::collections::HashMap<Box<[u8]>, String>,
    e: &ListingEntry,
) -> Result<String> {
    if !partitions.contains_key(&e.partition) {
        let values = binary_row::decode(&e.partition, &spec.types).map_err(|err| {
            Error::corrupt(
                format!("manifest entry for {}", e.file_name),
                format!("partition bytes: {err}"),
            )
        })?;
        partitions.insert(e.partition.clone(), spec.path(&values));
    }
    if let Some(uri) = &e.external_path {
        return Ok(uri.to_string());
    }
    let partition_path = partitions.get(&e.partition).map_or("", String::as_str);
    let key = format!(
        "{}/{}",
        bucket_dir(data_dir, partition_path, e.bucket),
        e.file_name
    );
    crate::io::check_key(&key)?;
    Ok(key)
}

/// Run futures with bounded read-ahead, keeping their order. The futures are built up front: a
/// stream that maps borrowing closures to futures is not `Send` for every lifetime, which would
/// make the public futures of this crate unusable with `tokio::spawn`.
pub(crate) async fn ordered<T, F>(futures: Vec<F>) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T>>,
{
    futures::stream::iter(futures)
        .buffered(MANIFEST_READ_AHEAD)
        .try_collect()
        .await
}

fn check_hint(
    range: &mut SnapshotRange,
    name: &str,
    raw: Option<&[u8]>,
    listed: Option<SnapshotId>,
) -> Result<()> {
    let Some(raw) = raw else { return Ok(()) };
    let key = format!("{SNAPSHOT_DIR}/{name}");
    let Some(hint) = parse_hint(raw) else {
        range.warnings.push(format!(
            "{key} does not hold a snapshot id; using the listing instead"
        ));
        return Ok(());
    };
    match listed {
        None => Err(Error::corrupt(
            key,
            format!("names snapshot {hint}, but no snapshot file exists"),
        )),
        Some(l) if l != hint && !range.ids.contains(&hint) => {
            range.warnings.push(format!(
                "{key} names snapshot {hint}, which does not exist; using the listing ({l})"
            ));
            Ok(())
        }
        Some(l) if l != hint => {
            range.warnings.push(format!(
                "{key} names snapshot {hint}, but the listing says {l} (a stale hint)"
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}
