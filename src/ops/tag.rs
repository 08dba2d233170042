//! Tags: create (paimon-format.md §7.4; object-store.md §6.4).

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::clock::Clock;
use crate::error::{Error, FailedDeletion, Result};
use crate::format::duration::parse_duration;
use crate::format::ids::{SnapshotId, TagName};
use crate::format::snapshot::Snapshot;
use crate::format::tag::Tag;
use crate::io::{CreateOutcome, TableStore};
use crate::table::layout::{snapshot_key, tag_key};
use crate::table::{NamedTag, Table};

/// Which snapshot a new tag points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSource {
    /// The latest snapshot.
    Latest,
    /// A snapshot id: its file, or for an expired id, an existing tag pointing at it.
    Snapshot(SnapshotId),
    /// The first snapshot committed at or after this time (epoch ms); tags count as history.
    Timestamp(i64),
    /// The first snapshot whose watermark is at or after this value; tags count as history.
    Watermark(i64),
}

/// A tag to create.
#[derive(Debug, Clone)]
pub struct CreateTag {
    /// The new tag's name (validated).
    pub name: TagName,
    /// Its snapshot.
    pub source: TagSource,
    /// Retention; `None` uses the table's `tag.default-time-retained`, if any.
    pub time_retained: Option<Duration>,
    /// An existing tag of that name is accepted instead of being an error.
    pub if_not_exists: bool,
}

/// What `create-tag` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateTagReport {
    /// The tag.
    pub name: String,
    /// Its snapshot.
    pub snapshot_id: i64,
    /// False when the tag existed already and `if_not_exists` was set.
    pub created: bool,
    /// Where the snapshot came from: `snapshot` or `tag:<name>` (an expired snapshot kept by a
    /// tag).
    pub source: String,
    /// Creation time written into the tag (only with a retention, as Java does).
    pub create_time: Option<String>,
    /// Retention in seconds.
    pub time_retained_secs: Option<f64>,
    /// Things worth knowing (e.g. an all-digit name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Where the tagged snapshot came from, for the race check after writing.
enum Origin {
    SnapshotFile,
    Tag(TagName),
}

/// Create a tag with a conditional create. Two creators of one name: exactly one wins.
pub async fn create_tag(
    table: &Table,
    req: &CreateTag,
    clock: &dyn Clock,
) -> Result<CreateTagReport> {
    let schema = table.latest_schema().await?;
    let iceberg = iceberg_refs(table, &schema, "create-tag")?;
    let mut warnings = Vec::new();
    if req.name.is_all_digits() {
        warnings.push(format!(
            "tag name '{}' is all digits: Paimon's VERSION AS OF reads such a value as a snapshot id",
            req.name
        ));
    }
    let (snapshot, origin) = resolve_source(table, &req.source).await?;
    let retained = match req.time_retained {
        Some(d) => Some(d),
        None => match schema.option("tag.default-time-retained") {
            None => None,
            Some(v) => Some(parse_duration(v).map_err(|e| {
                Error::InvalidArgument(format!("table option tag.default-time-retained: {e}"))
            })?),
        },
    };
    let tag = Tag {
        create_time: retained.map(|_| clock.now_local()),
        time_retained: retained,
        snapshot,
    };
    let key = tag_key(&req.name);
    let report = |created: bool, t: &Tag, source: String, warnings: Vec<String>| CreateTagReport {
        name: req.name.to_string(),
        snapshot_id: t.snapshot.id.0,
        created,
        source,
        create_time: t
            .create_time
            .map(|c| c.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        time_retained_secs: t.time_retained.map(|d| d.as_secs_f64()),
        warnings,
    };
    match table
        .store()
        .put_create(&key, Bytes::from(tag.encode()))
        .await?
    {
        CreateOutcome::Created => {}
        CreateOutcome::AlreadyExists => {
            let existing = table.load_tag(&req.name).await?;
            if req.if_not_exists {
                return Ok(report(false, &existing, "existing tag".into(), warnings));
            }
            return Err(Error::TagExists {
                name: req.name.to_string(),
                snapshot_id: existing.snapshot.id.0,
            });
        }
    }
    // The handshake with expiration (object-store.md §6.4): the snapshot was read before the tag
    // existed, so an expiration that ran in between did not see the tag. Check the snapshot is
    // still there (or still kept by the tag we copied it from); if not, its files may be gone.
    let id = tag.snapshot.id;
    let still_protected = match &origin {
        Origin::SnapshotFile => table.store().head_opt(&snapshot_key(id)).await?.is_some(),
        Origin::Tag(source) => table.store().head_opt(&tag_key(source)).await?.is_some(),
    };
    if !still_protected {
        let removal = table.store().delete_many(std::slice::from_ref(&key)).await;
        let removed = match removal.into_iter().next() {
            Some((_, Ok(()))) => "the tag was removed again".to_string(),
            Some((_, Err(e))) => format!("removing the tag failed ({e}): delete {key} by hand"),
            None => format!("delete {key} by hand"),
        };
        return Err(Error::Conflict(format!(
            "snapshot {id} was expired while tag '{}' was being created, so its files may already \
             be deleted; {removed}",
            req.name
        )));
    }
    let source = match origin {
        Origin::SnapshotFile => "snapshot".to_string(),
        Origin::Tag(t) => format!("tag:{t}"),
    };
    if success_files_enabled(&schema) {
        mark_success(table, &req.name, clock.now_millis()).await?;
    }
    if iceberg {
        warnings.extend(iceberg_tag_created(table, &req.name, id.0).await?);
    }
    Ok(report(true, &tag, source, warnings))
}

/// Whether tag changes must be mirrored as Iceberg refs (see
/// [`TableSchema::iceberg_metadata_dir`](crate::format::schema::TableSchema::iceberg_metadata_dir)).
/// Java keeps Iceberg metadata for main only: a branch of such a table is refused.
pub(crate) fn iceberg_refs(
    table: &Table,
    schema: &crate::format::schema::TableSchema,
    command: &str,
) -> Result<bool> {
    let refs = schema.iceberg_metadata_dir(command)?.is_some();
    if refs && table.is_branch() {
        return Err(Error::Unsupported(format!(
            "{command}: tags of a branch of a table with Iceberg-compatible metadata are not \
             supported"
        )));
    }
    Ok(refs)
}

/// The store of the table's Iceberg metadata (its `metadata/` directory inside), as
/// [`TableSchema::iceberg_metadata_dir`](crate::format::schema::TableSchema::iceberg_metadata_dir)
/// places it; `None` without Iceberg metadata. A Hadoop catalog's directory is
/// `<warehouse>/iceberg/<db>/<table>`, beside the Paimon warehouse's `<db>.db/<table>`.
pub(crate) fn iceberg_store(
    table: &Table,
    schema: &crate::format::schema::TableSchema,
    command: &str,
) -> Result<Option<crate::io::TableStore>> {
    use crate::format::schema::IcebergDir;
    match schema.iceberg_metadata_dir(command)? {
        None => Ok(None),
        Some(IcebergDir::Table) => Ok(Some(table.root_store().clone())),
        Some(IcebergDir::Catalog) => {
            let root = table.root_store();
            let (_, names) = root.relocated(2, "")?;
            let (db, name) = match names.as_slice() {
                [db, name] => (db.strip_suffix(".db"), name),
                _ => (None, &String::new()),
            };
            let Some(db) = db.filter(|d| !d.is_empty()) else {
                return Err(Error::Unsupported(format!(
                    "{command}: {} is not a table in a Paimon warehouse (<warehouse>/<db>.db/\
                     <table>), so its hadoop-catalog Iceberg metadata has no place (Java refuses \
                     it too)",
                    root.location()
                )));
            };
            Ok(Some(root.relocated(2, &format!("iceberg/{db}/{name}"))?.0))
        }
    }
}

/// What a tag deletion must do besides deleting the tag file: (edit Iceberg refs, delete the
/// `_SUCCESS` marker). A schema that cannot be read counts as neither: deleting a tag file does
/// not depend on it, and the data cleanup fails closed on unreadable metadata by itself. (A
/// ref left behind still names a snapshot of the Iceberg metadata; a marker left is inert.)
pub(crate) async fn tag_callbacks(table: &Table, command: &str) -> Result<(bool, bool)> {
    match table.latest_schema().await {
        Ok(schema) => Ok((
            iceberg_refs(table, &schema, command)?,
            success_files_enabled(&schema),
        )),
        Err(e) => {
            tracing::warn!("{command}: the schema cannot be read ({e}); Iceberg refs and _SUCCESS markers are left alone");
            Ok((false, false))
        }
    }
}

/// The Iceberg metadata store and its latest metadata file: Java names it after the latest
/// Paimon snapshot and rewrites it in place for tag changes.
async fn iceberg_metadata(table: &Table, command: &str) -> Result<Option<(TableStore, String)>> {
    let schema = table.latest_schema().await?;
    let Some(store) = iceberg_store(table, &schema, command)? else {
        return Ok(None);
    };
    Ok(table
        .latest_snapshot_id()
        .await?
        .map(|id| (store, format!("metadata/v{}.metadata.json", id.0))))
}

/// Java's `IcebergCommitCallback.notifyCreation`: the tag becomes an Iceberg ref of the latest
/// metadata, when its snapshot is an Iceberg snapshot there. Returns warnings for what was
/// left out (as Java only logs them); a metadata file that cannot be read or written is an
/// error (the tag stays; running the command again, or `replace-tag` to the same snapshot,
/// sets the ref).
pub(crate) async fn iceberg_tag_created(
    table: &Table,
    name: &TagName,
    snapshot_id: i64,
) -> Result<Vec<String>> {
    use crate::format::iceberg::{set_tag_ref, RefEdit};
    let Some((store, key)) = iceberg_metadata(table, "create-tag").await? else {
        return Ok(vec![format!(
            "no snapshot: tag '{name}' has no Iceberg ref"
        )]);
    };
    let Some(bytes) = store.get_opt(&key).await? else {
        return Ok(vec![format!(
            "the Iceberg metadata {key} does not exist: tag '{name}' has no Iceberg ref (Java's \
             next commit writes the metadata)"
        )]);
    };
    match set_tag_ref(&bytes, name.as_str(), snapshot_id, &key)? {
        RefEdit::Updated(body) => {
            store.put_overwrite(&key, Bytes::from(body)).await?;
            Ok(Vec::new())
        }
        RefEdit::SnapshotNotInIceberg => Ok(vec![format!(
            "snapshot {snapshot_id} is not in the Iceberg metadata {key}: tag '{name}' is left \
             out of the Iceberg view, as Java does (a ref to a missing snapshot breaks Iceberg \
             reads)"
        )]),
    }
}

/// Java's `IcebergCommitCallback.notifyDeletion`: the tag's Iceberg ref goes. Returns a note
/// when there is no metadata to edit.
pub(crate) async fn iceberg_tag_deleted(table: &Table, name: &str) -> Result<Option<String>> {
    let Some((store, key)) = iceberg_metadata(table, "delete-tag").await? else {
        return Ok(None);
    };
    let Some(bytes) = store.get_opt(&key).await? else {
        return Ok(Some(format!(
            "the Iceberg metadata {key} does not exist: no Iceberg ref of tag '{name}' to remove"
        )));
    };
    if let Some(body) = crate::format::iceberg::remove_tag_ref(&bytes, name, &key)? {
        store.put_overwrite(&key, Bytes::from(body)).await?;
    }
    Ok(None)
}

/// `tag.create-success-file` is on (Java's `CoreOptions.TAG_CREATE_SUCCESS_FILE`).
pub(crate) fn success_files_enabled(schema: &crate::format::schema::TableSchema) -> bool {
    schema
        .option("tag.create-success-file")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Java's `SuccessFileTagCallback.notifyCreation`: write or refresh the tag's `_SUCCESS`
/// marker once the tag exists. A failure is an error naming the marker (as in Java); the tag
/// stays, and `replace-tag` to the same snapshot writes the marker again.
async fn mark_success(table: &Table, name: &TagName, now_millis: i64) -> Result<()> {
    let key = crate::format::tag::success_file_key(name.as_str());
    let existing = table.store().get_opt(&key).await?;
    let body = crate::format::tag::success_file_json(
        existing.as_deref(),
        now_millis,
        &table.root_key(&key),
    )?;
    table.store().put_overwrite(&key, Bytes::from(body)).await?;
    Ok(())
}

async fn resolve_source(table: &Table, source: &TagSource) -> Result<(Snapshot, Origin)> {
    match source {
        TagSource::Latest => {
            let range = table.snapshot_range().await?;
            let id = range.latest().ok_or_else(|| Error::NoSnapshots {
                table: table.location().to_string(),
            })?;
            by_id(table, id).await
        }
        TagSource::Snapshot(id) => by_id(table, *id).await,
        TagSource::Timestamp(ts) => {
            first_at_or_after(table, |s| Some(s.time_millis), *ts, "time").await
        }
        TagSource::Watermark(w) => first_at_or_after(table, |s| s.watermark, *w, "watermark").await,
    }
}

async fn by_id(table: &Table, id: SnapshotId) -> Result<(Snapshot, Origin)> {
    if let Some(s) = table.try_load_snapshot(id).await? {
        return Ok((s, Origin::SnapshotFile));
    }
    // An expired snapshot is still reachable through a tag (Java takes the first by name).
    let tags = table.tags().await?;
    if let Some(t) = tags.into_iter().find(|t| t.tag.snapshot.id == id) {
        return Ok((t.tag.snapshot, Origin::Tag(t.name)));
    }
    let range = table.snapshot_range().await?;
    Err(Error::SnapshotNotFound {
        id: id.0,
        available: format!("{}, and no tag points at it", range.describe()),
    })
}

/// Paimon's create-from-timestamp/watermark: the first snapshot whose value is >= the bound;
/// a tag with an earlier such snapshot wins (expired history kept by tags counts).
async fn first_at_or_after(
    table: &Table,
    value: fn(&Snapshot) -> Option<i64>,
    bound: i64,
    what: &str,
) -> Result<(Snapshot, Origin)> {
    let range = table.snapshot_range().await?;
    let snapshots = table.load_snapshots(&range.ids).await?;
    let candidate = snapshots
        .into_iter()
        .find(|s| value(s).is_some_and(|v| v >= bound));
    let mut tags: Vec<NamedTag> = table.tags().await?;
    tags.sort_by_key(|t| t.tag.snapshot.id);
    let tagged = tags
        .into_iter()
        .find(|t| value(&t.tag.snapshot).is_some_and(|v| v >= bound));
    match (candidate, tagged) {
        (Some(s), Some(t)) if t.tag.snapshot.id < s.id => Ok((t.tag.snapshot, Origin::Tag(t.name))),
        (Some(s), _) => Ok((s, Origin::SnapshotFile)),
        (None, Some(t)) => Ok((t.tag.snapshot, Origin::Tag(t.name))),
        (None, None) => Err(Error::NoSnapshotAtTime {
            timestamp_millis: bound,
            detail: format!("no snapshot or tag has a {what} at or after {bound}"),
        }),
    }
}

/// What rename-tag did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenameTagReport {
    /// Old name.
    pub from: String,
    /// New name.
    pub to: String,
    /// The tag's snapshot.
    pub snapshot_id: i64,
    /// True when an earlier, interrupted rename was finished (or had already completed).
    pub resumed: bool,
    /// The old name's file, when deleting it failed (with the error): the tag now has both
    /// names and the rename is incomplete; running it again finishes it.
    pub failed: Vec<FailedDeletion>,
}

/// The journal of a rename: both names and the tag's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
struct RenameJournal {
    from: String,
    to: String,
    snapshot_id: i64,
}

const RENAME_JOURNAL: &str = "rename-tag";

/// Rename a tag: a conditional create of the new name with the old file's bytes verbatim (so
/// `tagCreateTime` and every field survive), then deletion of the old name. The rename is
/// journaled first: a crash in between leaves both names, and the next rename-tag (this one or
/// any other) finishes it.
pub async fn rename_tag(table: &Table, from: &TagName, to: &TagName) -> Result<RenameTagReport> {
    // Java's renameTag calls no tag callback: an Iceberg ref keeps the old name, a
    // `_SUCCESS` marker stays where it is. tagkeeper does the same.
    tag_callbacks(table, "rename-tag").await?;
    let finished = resume_renames(table).await?;
    let mut report = rename_once(table, from, to, true).await?;
    report.resumed |= finished.iter().any(|(f, t)| f == from && t == to);
    Ok(report)
}

/// Finish the renames that were interrupted (their journals); returns their (from, to) names.
async fn resume_renames(table: &Table) -> Result<Vec<(TagName, TagName)>> {
    let pending: Vec<(String, RenameJournal)> =
        crate::ops::journal::pending(table, RENAME_JOURNAL).await?;
    let mut out = Vec::new();
    for (key, j) in pending {
        let names = (TagName::from_listing(&j.from), TagName::from_listing(&j.to));
        let (Some(from), Some(to)) = names else {
            return Err(Error::corrupt(&key, "not a rename of two tag names"));
        };
        // The old name still there and still the same tag: finish; otherwise it is done.
        let old = table.try_load_tag(&from).await?;
        if old.is_some_and(|t| t.snapshot.id.0 == j.snapshot_id) {
            let r = rename_once(table, &from, &to, false).await?;
            if !r.failed.is_empty() {
                continue; // the journal stays; the next run tries again
            }
        }
        crate::ops::journal::finish(table, &key).await;
        out.push((from, to));
    }
    Ok(out)
}

/// One rename, journaled when `journal` (a resumed one is journaled already).
async fn rename_once(
    table: &Table,
    from: &TagName,
    to: &TagName,
    journal: bool,
) -> Result<RenameTagReport> {
    let (from_key, to_key) = (tag_key(from), tag_key(to));
    let old = table.store().get_opt(&from_key).await?;
    let Some(old) = old else {
        // Already renamed by an earlier run?
        return match table.try_load_tag(to).await? {
            Some(t) => Ok(RenameTagReport {
                from: from.to_string(),
                to: to.to_string(),
                snapshot_id: t.snapshot.id.0,
                resumed: true,
                failed: Vec::new(),
            }),
            None => Err(Error::TagNotFound {
                name: from.to_string(),
            }),
        };
    };
    let tag = Tag::decode(&old, &from_key)?;
    // A name taken by another tag is refused before anything is written.
    if let Some(existing) = table.store().get_opt(&to_key).await? {
        if existing != old {
            let id = table.load_tag(to).await?.snapshot.id.0;
            return Err(Error::TagExists {
                name: to.to_string(),
                snapshot_id: id,
            });
        }
    }
    let key = if journal {
        let j = RenameJournal {
            from: from.to_string(),
            to: to.to_string(),
            snapshot_id: tag.snapshot.id.0,
        };
        Some(crate::ops::journal::record(table, RENAME_JOURNAL, &j).await?)
    } else {
        None
    };
    let resumed = match table.store().put_create(&to_key, old.clone()).await? {
        CreateOutcome::Created => false,
        CreateOutcome::AlreadyExists => {
            let existing = table.store().get_opt(&to_key).await?;
            if existing.as_deref() != Some(&old[..]) {
                if let Some(key) = &key {
                    crate::ops::journal::finish(table, key).await;
                }
                let id = table.load_tag(to).await?.snapshot.id.0;
                return Err(Error::TagExists {
                    name: to.to_string(),
                    snapshot_id: id,
                });
            }
            true
        }
    };
    let failed: Vec<FailedDeletion> = table
        .store()
        .delete_many(std::slice::from_ref(&from_key))
        .await
        .into_iter()
        .filter_map(|(key, r)| r.err().map(|e| FailedDeletion::new(key, &e)))
        .collect();
    if let (Some(key), true) = (&key, failed.is_empty()) {
        crate::ops::journal::finish(table, key).await;
    }
    Ok(RenameTagReport {
        from: from.to_string(),
        to: to.to_string(),
        snapshot_id: tag.snapshot.id.0,
        resumed,
        failed,
    })
}

/// What replace-tag did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplaceTagReport {
    /// The tag.
    pub name: String,
    /// Snapshot it pointed at.
    pub old_snapshot_id: i64,
    /// Snapshot it points at now.
    pub new_snapshot_id: i64,
    /// Retention written (seconds).
    pub time_retained_secs: Option<f64>,
    /// Files only the old tag kept: nothing references them any more. They are left for
    /// orphan cleaning, as Java leaves them.
    pub unprotected_files: Vec<crate::ops::delete_tag::PlannedFile>,
    /// Their total size.
    pub unprotected_bytes: i64,
    /// Set when the unprotected files could not be determined (listing them is best effort).
    pub note: Option<String>,
}

/// Point an existing tag at another snapshot (Java `replaceTag`): the file is overwritten with
/// the new snapshot's JSON (and a new creation time when a retention is given).
pub async fn replace_tag(
    table: &Table,
    name: &TagName,
    source: &TagSource,
    time_retained: Option<Duration>,
    clock: &dyn Clock,
) -> Result<ReplaceTagReport> {
    let schema = table.latest_schema().await?;
    let iceberg = iceberg_refs(table, &schema, "replace-tag")?;
    let old = table.load_tag(name).await?;
    let (snapshot, _) = resolve_source(table, source).await?;
    let new = Tag {
        create_time: time_retained.map(|_| clock.now_local()),
        time_retained,
        snapshot,
    };
    // What only the old tag kept (computed before the change, against the tags after it).
    let mut note = None;
    let mut unprotected = Vec::new();
    let old_id = old.snapshot.id;
    let tags = table.tags().await?;
    let shared = tags
        .iter()
        .any(|t| &t.name != name && t.tag.snapshot.id == old_id);
    if old_id != new.snapshot.id
        && !shared
        && table
            .store()
            .head_opt(&snapshot_key(old_id))
            .await?
            .is_none()
    {
        let victim = NamedTag {
            name: name.clone(),
            tag: old.clone(),
        };
        // Needed after the change: every other version, and the tag's new snapshot.
        let needed = async {
            let mut needed =
                crate::ops::delete_tag::needed_without(table, "replace-tag", &[tag_key(name)])
                    .await?;
            let after =
                crate::ops::delete_tag::footprint_names(table, &new.snapshot, "the new tag")
                    .await?;
            needed.extend(after.into_iter().map(std::sync::Arc::from));
            let owner = format!("tag '{}'", victim.name);
            crate::ops::delete_tag::reclaimable(table, &victim.tag.snapshot, &owner, &needed).await
        };
        match needed.await {
            Ok(files) => unprotected = files,
            Err(e) => {
                note = Some(format!(
                    "could not determine the files only the old tag kept: {e}"
                ))
            }
        }
    }
    table
        .store()
        .put_overwrite(&tag_key(name), Bytes::from(new.encode()))
        .await?;
    if success_files_enabled(&schema) {
        mark_success(table, name, clock.now_millis()).await?;
    }
    if iceberg {
        let warnings = iceberg_tag_created(table, name, new.snapshot.id.0).await?;
        if !warnings.is_empty() {
            note = Some(
                note.into_iter()
                    .chain(warnings)
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
    }
    Ok(ReplaceTagReport {
        name: name.to_string(),
        old_snapshot_id: old_id.0,
        new_snapshot_id: new.snapshot.id.0,
        time_retained_secs: time_retained.map(|d| d.as_secs_f64()),
        unprotected_bytes: unprotected.iter().map(|f| f.bytes).sum(),
        unprotected_files: unprotected,
        note,
    })
}
