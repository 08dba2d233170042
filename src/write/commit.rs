//! Atomic, conflict-safe commits (object-store.md §6.3).
//!
//! Each attempt reads the latest snapshot L, builds snapshot L+1 (a merged base manifest list,
//! a delta manifest list with this commit's entries, each ADD recording the new snapshot id in
//! `_COMMIT_SNAPSHOT`) and publishes `snapshot/snapshot-<L+1>` with a conditional create:
//!
//! * created → committed; then the `LATEST` hint is updated (best effort: readers validate it);
//! * already exists → read it back: ours (same commit user and identifier) means a retried
//!   request already committed it; someone else's means we lost the race: remove this
//!   attempt's manifests, back off (jittered, exponential) and retry on the new latest;
//! * the store failed → the outcome is unknown: read back the same way; if even that fails,
//!   stop with [`Error::CommitUnknown`] and delete nothing.
//!
//! An overwrite retried after a lost race first checks the snapshots committed since its base:
//! if any changed a partition the overwrite replaces, it fails with [`Error::Conflict`] rather
//! than silently replacing data it never saw.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::format::binary_row::{self, Datum};
use crate::format::hint::encode_hint;
use crate::format::ids::SnapshotId;
use crate::format::jackson;
use crate::format::manifest::{FileKind, ManifestEntry, SimpleStats};
use crate::format::snapshot::Snapshot;
use crate::format::types::DataType;
use crate::io::CreateOutcome;
use crate::table::layout::{latest_hint_key, snapshot_key};
use crate::table::Table;
use crate::write::data_file::NewFile;
use crate::write::manifests::ManifestWriter;
use crate::write::merge::{merge, MergeOptions};
use crate::write::stats::compare;

/// Java's commit identifier for batch commits.
pub const BATCH_COMMIT_IDENTIFIER: i64 = i64::MAX;

/// Which partitions an overwrite replaces.
#[derive(Debug, Clone, PartialEq)]
pub enum OverwriteScope {
    /// Every live file of the table.
    Table,
    /// Live files whose partition has these values (by partition-column index). A partial
    /// spec such as `dt=2024-01-01` on a `(dt, hr)` table matches every `hr`.
    Partition(Vec<(usize, Datum)>),
    /// The partitions the new files are in (Paimon's default dynamic partition overwrite).
    Dynamic,
}

/// What to commit.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// New data files to add.
    pub files: Vec<NewFile>,
    /// Replace existing files too.
    pub overwrite: Option<OverwriteScope>,
    /// Record the committing snapshot in each ADD entry (`_COMMIT_SNAPSHOT`). Always on for
    /// real writes; off only to simulate files written by other engines in tests.
    pub record_commit_snapshot: bool,
}

impl Default for CommitRequest {
    fn default() -> Self {
        CommitRequest {
            files: Vec::new(),
            overwrite: None,
            record_commit_snapshot: true,
        }
    }
}

/// Retry behaviour.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// Attempts before giving up (`commit.max-retries` + 1).
    pub max_attempts: u32,
    /// First backoff (`commit.min-retry-wait`).
    pub min_retry_wait: Duration,
    /// Largest backoff (`commit.max-retry-wait`).
    pub max_retry_wait: Duration,
    /// Manifest merging; `None` reads the table's options.
    pub merge: Option<MergeOptions>,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            max_attempts: 11,
            min_retry_wait: Duration::from_millis(10),
            max_retry_wait: Duration::from_secs(10),
            merge: None,
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitOutcome {
    /// The new snapshot.
    pub snapshot_id: i64,
    /// `APPEND` or `OVERWRITE`.
    pub commit_kind: String,
    /// Attempts used (1 when no race was lost).
    pub attempts: u32,
    /// Files added.
    pub added_files: usize,
    /// Files deleted (by an overwrite).
    pub deleted_files: usize,
    /// Records added minus records deleted.
    pub delta_record_count: i64,
}

/// Commit new files as one snapshot.
pub async fn commit(
    table: &Table,
    request: CommitRequest,
    clock: &dyn Clock,
    opts: &CommitOptions,
) -> Result<CommitOutcome> {
    let schema = table.latest_schema().await?;
    schema.refuse_iceberg_compat("write")?;
    if let Some(OverwriteScope::Partition(spec)) = &request.overwrite {
        if let Some(f) = request.files.iter().find(|f| {
            !in_scope(
                &OverwriteScope::Partition(spec.clone()),
                &BTreeSet::new(),
                &f.partition,
                &f.partition_values,
            )
        }) {
            return Err(Error::InvalidArgument(format!(
                "a static partition overwrite may only write into that partition, but {} lies outside it",
                f.key
            )));
        }
    }
    let merge_opts = match opts.merge {
        Some(m) => m,
        None => MergeOptions::from_options(&schema.options)?,
    };
    let commit_user = uuid::Uuid::new_v4().to_string();
    let mut writer = ManifestWriter::new(
        table.clone(),
        schema.partition_types(),
        merge_opts.target_size,
    );
    let mut first_base: Option<Option<SnapshotId>> = None;
    let scope_partitions = overwrite_partitions(&request);

    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let latest_id = table.latest_snapshot_id().await?;
        let base_id = *first_base.get_or_insert(latest_id);
        if let (Some(scope), true) = (&request.overwrite, latest_id != base_id) {
            check_overwrite_conflict(table, scope, &scope_partitions, base_id, latest_id).await?;
        }
        let latest = match latest_id {
            Some(id) => Some(table.try_load_snapshot(id).await?.ok_or_else(|| {
                Error::Conflict(format!(
                "snapshot {id} vanished while committing (a concurrent rollback or expiration?)"
            ))
            })?),
            None => None,
        };
        let new_id = SnapshotId(latest_id.map_or(1, |l| l.0 + 1));
        let built = build(
            table,
            &request,
            &scope_partitions,
            latest.as_ref(),
            new_id,
            &schema.id,
            &commit_user,
            &mut writer,
            &merge_opts,
            clock,
        )
        .await?;
        let key = snapshot_key(new_id);
        let published = table
            .store()
            .put_create(&key, Bytes::from(built.json.clone()))
            .await;
        let ours = match published {
            Ok(CreateOutcome::Created) => true,
            Ok(CreateOutcome::AlreadyExists) => read_back(table, new_id, &commit_user).await?,
            Err(e) => {
                tracing::warn!(
                    "publishing {key} failed ({e}); reading it back to learn the outcome"
                );
                read_back(table, new_id, &commit_user)
                    .await
                    .map_err(|re| Error::CommitUnknown {
                        path: key.clone(),
                        reason: format!("{e}; reading it back failed too: {re}"),
                    })?
            }
        };
        if ours {
            writer.clear_written();
            let hint = Bytes::from(encode_hint(new_id));
            if let Err(e) = table.store().put_overwrite(&latest_hint_key(), hint).await {
                tracing::warn!(
                    "could not update snapshot/LATEST ({e}); readers fall back to listing"
                );
            }
            return Ok(CommitOutcome {
                snapshot_id: new_id.0,
                commit_kind: built.kind.to_string(),
                attempts: attempt,
                added_files: built.added,
                deleted_files: built.deleted,
                delta_record_count: built.delta_records,
            });
        }
        // Lost the race: this attempt's manifests are referenced by nothing.
        remove(table, writer.written()).await;
        writer.clear_written();
        if attempt >= opts.max_attempts {
            return Err(Error::Conflict(format!(
                "gave up after {attempt} attempts: other writers kept committing snapshot {new_id} first"
            )));
        }
        tokio::time::sleep(backoff(attempt, opts)).await;
    }
}

/// Delete files this commit wrote and nothing references (best effort; orphans otherwise).
pub async fn remove(table: &Table, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    for (key, r) in table.root_store().delete_many(keys).await {
        if let Err(e) = r {
            tracing::warn!("could not remove unreferenced {key}: {e}");
        }
    }
}

/// `min(min_wait · 2^(attempt-1), max_wait)` plus up to 20 % jitter (Paimon's backoff).
fn backoff(attempt: u32, opts: &CommitOptions) -> Duration {
    let exp = opts
        .min_retry_wait
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let base = exp.min(opts.max_retry_wait);
    let jitter_permille = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 200 / 255;
    base + base.mul_f64(jitter_permille as f64 / 1000.0)
}

async fn read_back(table: &Table, id: SnapshotId, commit_user: &str) -> Result<bool> {
    match table.try_load_snapshot(id).await? {
        Some(s) => {
            Ok(s.commit_user == commit_user && s.commit_identifier == BATCH_COMMIT_IDENTIFIER)
        }
        None => Ok(false),
    }
}

fn overwrite_partitions(request: &CommitRequest) -> BTreeSet<Vec<u8>> {
    request.files.iter().map(|f| f.partition.clone()).collect()
}

fn in_scope(
    scope: &OverwriteScope,
    new_partitions: &BTreeSet<Vec<u8>>,
    partition_bytes: &[u8],
    values: &[Datum],
) -> bool {
    match scope {
        OverwriteScope::Table => true,
        OverwriteScope::Dynamic => new_partitions.contains(partition_bytes),
        OverwriteScope::Partition(spec) => spec.iter().all(|(i, v)| values.get(*i) == Some(v)),
    }
}

/// Whether a manifest with partition statistics `stats` may hold a partition the overwrite
/// replaces. Conservative: stats that cannot be decoded, a field without a min or max, or a
/// comparison that is undefined keep the manifest.
fn manifest_in_scope(
    scope: &OverwriteScope,
    targets: &[&[Datum]],
    types: &[DataType],
    stats: &SimpleStats,
) -> bool {
    if matches!(scope, OverwriteScope::Table) {
        return true;
    }
    // Stats rows are written with every field nullable.
    let nullable = DataType::all_nullable(types);
    let (Ok(lo), Ok(hi)) = (
        binary_row::decode(&stats.min_values, &nullable),
        binary_row::decode(&stats.max_values, &nullable),
    ) else {
        return true;
    };
    let nulls = |i: usize| -> Option<i64> {
        stats
            .null_counts
            .as_ref()
            .and_then(|c| c.get(i).copied().flatten())
    };
    let may_hold = |i: usize, value: &Datum| -> bool {
        if *value == Datum::Null {
            return nulls(i).is_none_or(|n| n > 0);
        }
        match (lo.get(i), hi.get(i)) {
            (Some(l), Some(h)) if *l != Datum::Null && *h != Datum::Null => {
                compare(value, l) != Some(Ordering::Less)
                    && compare(value, h) != Some(Ordering::Greater)
            }
            _ => true,
        }
    };
    match scope {
        OverwriteScope::Dynamic => targets
            .iter()
            .any(|values| values.iter().enumerate().all(|(i, v)| may_hold(i, v))),
        OverwriteScope::Partition(spec) => spec.iter().all(|(i, v)| may_hold(*i, v)),
        OverwriteScope::Table => true,
    }
}

async fn check_overwrite_conflict(
    table: &Table,
    scope: &OverwriteScope,
    new_partitions: &BTreeSet<Vec<u8>>,
    base: Option<SnapshotId>,
    latest: Option<SnapshotId>,
) -> Result<()> {
    let (Some(latest), spec) = (latest, table.partition_spec().await?) else {
        return Ok(());
    };
    let from = base.map_or(1, |b| b.0 + 1);
    for id in from..=latest.0 {
        let Some(s) = table.try_load_snapshot(SnapshotId(id)).await? else {
            continue;
        };
        let entries = table
            .entries_of_list(&s.delta_manifest_list, &format!("snapshot {id}"))
            .await?;
        for e in entries {
            let values = binary_row::decode(&e.partition, &spec.types).map_err(|err| {
                Error::corrupt(
                    format!("manifest/{}", s.delta_manifest_list),
                    format!(
                        "partition of {} (delta of snapshot {id}): {err}",
                        e.file.file_name
                    ),
                )
            })?;
            if in_scope(scope, new_partitions, &e.partition, &values) {
                return Err(Error::Conflict(format!(
                    "snapshot {id} ({}) changed partition {} while this overwrite was committing; \
                     nothing was committed: re-run the overwrite to replace the new data too",
                    s.commit_kind.as_str(),
                    if spec.keys.is_empty() {
                        "(the table)".to_string()
                    } else {
                        spec.path(&values)
                    }
                )));
            }
        }
    }
    Ok(())
}

struct Built {
    json: Vec<u8>,
    kind: &'static str,
    added: usize,
    deleted: usize,
    delta_records: i64,
}

#[allow(clippy::too_many_arguments)]
async fn build(
    table: &Table,
    request: &CommitRequest,
    new_partitions: &BTreeSet<Vec<u8>>,
    latest: Option<&Snapshot>,
    new_id: SnapshotId,
    schema_id: &crate::format::ids::SchemaId,
    commit_user: &str,
    writer: &mut ManifestWriter,
    merge_opts: &MergeOptions,
    clock: &dyn Clock,
) -> Result<Built> {
    // The latest snapshot's manifests, read once: the overwrite prunes them and the merge
    // builds the new base from them.
    let previous = match latest {
        None => Vec::new(),
        Some(l) => {
            let owner = format!("snapshot {}", l.id);
            let mut v = table.manifest_list(&l.base_manifest_list, &owner).await?;
            v.extend(table.manifest_list(&l.delta_manifest_list, &owner).await?);
            v
        }
    };
    let mut delta: Vec<ManifestEntry> = Vec::new();
    if let (Some(scope), Some(l)) = (&request.overwrite, latest) {
        // Only manifests whose partition statistics admit a replaced partition are read, as
        // Java's scan with a partition filter does: an overwrite of one day of a long history
        // reads that day's manifests, not every live entry. Stats cover ADD and DELETE entries
        // alike, so the pruned set still nets out correctly for the partitions kept.
        let owner = format!("snapshot {}", l.id);
        let mut metas = previous.clone();
        let types = writer.partition_types();
        let targets: Vec<&[Datum]> = request
            .files
            .iter()
            .map(|f| f.partition_values.as_slice())
            .collect();
        metas.retain(|m| manifest_in_scope(scope, &targets, types, &m.partition_stats));
        let live = table.live_files_of(&metas, &owner).await?;
        for f in live {
            if in_scope(scope, new_partitions, &f.entry.partition, &f.partition) {
                delta.push(ManifestEntry {
                    kind: FileKind::Delete,
                    ..f.entry
                });
            }
        }
    }
    let deleted = delta.len();
    for f in &request.files {
        let mut meta = f.meta.clone();
        meta.commit_snapshot = request.record_commit_snapshot.then_some(new_id.0);
        delta.push(ManifestEntry {
            kind: FileKind::Add,
            partition: f.partition.clone(),
            bucket: f.bucket,
            total_buckets: -1,
            file: meta,
        });
    }
    let delta_records: i64 = delta
        .iter()
        .map(|e| {
            if e.kind == FileKind::Add {
                e.file.row_count
            } else {
                -e.file.row_count
            }
        })
        .sum();

    let base = merge(table, writer, previous, merge_opts).await?;
    let (base_name, base_size) = writer.write_list(&base).await?;
    let delta_metas = writer.write_manifests(&delta).await?;
    let (delta_name, delta_size) = writer.write_list(&delta_metas).await?;

    let kind = if request.overwrite.is_some() {
        "OVERWRITE"
    } else {
        "APPEND"
    };
    let mut m = Map::new();
    m.insert("version".into(), json!(3));
    m.insert("uuid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("id".into(), json!(new_id.0));
    m.insert("schemaId".into(), json!(schema_id.0));
    m.insert("baseManifestList".into(), json!(base_name));
    m.insert("baseManifestListSize".into(), json!(base_size));
    m.insert("deltaManifestList".into(), json!(delta_name));
    m.insert("deltaManifestListSize".into(), json!(delta_size));
    if let Some(index) = latest.and_then(|l| l.index_manifest.clone()) {
        m.insert("indexManifest".into(), json!(index));
    }
    m.insert("commitUser".into(), json!(commit_user));
    m.insert(
        "writerVersion".into(),
        json!(format!("tagkeeper-{}", env!("CARGO_PKG_VERSION"))),
    );
    m.insert("commitIdentifier".into(), json!(BATCH_COMMIT_IDENTIFIER));
    m.insert("commitKind".into(), json!(kind));
    m.insert("timeMillis".into(), json!(clock.now_millis()));
    let total = latest.and_then(|l| l.total_record_count).unwrap_or(0) + delta_records;
    m.insert("totalRecordCount".into(), json!(total));
    m.insert("deltaRecordCount".into(), json!(delta_records));
    if let Some(w) = latest.and_then(|l| l.watermark) {
        m.insert("watermark".into(), json!(w));
    }
    if let Some(stats) = latest
        .filter(|l| l.schema_id == *schema_id)
        .and_then(|l| l.statistics.clone())
    {
        m.insert("statistics".into(), json!(stats));
    }
    let next_row_id = latest
        .and_then(|l| l.raw().get("nextRowId").and_then(Value::as_i64))
        .unwrap_or(0);
    m.insert("nextRowId".into(), json!(next_row_id));
    Ok(Built {
        json: jackson::to_pretty_string(&Value::Object(m)).into_bytes(),
        kind,
        added: request.files.len(),
        deleted,
        delta_records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(lo: &[Datum], hi: &[Datum], nulls: &[i64]) -> SimpleStats {
        let t = vec![DataType::parse("STRING").unwrap(); lo.len()];
        SimpleStats {
            min_values: binary_row::encode(lo, &t).unwrap(),
            max_values: binary_row::encode(hi, &t).unwrap(),
            null_counts: Some(nulls.iter().map(|n| Some(*n)).collect()),
        }
    }

    #[test]
    fn manifests_are_pruned_by_partition_range() {
        let s = |v: &str| Datum::String(v.into());
        let types = vec![DataType::parse("STRING").unwrap(); 2];
        let m = stats(
            &[s("2024-01-03"), s("a")],
            &[s("2024-01-05"), s("c")],
            &[0, 1],
        );
        let dynamic = |vals: Vec<Datum>| {
            manifest_in_scope(&OverwriteScope::Dynamic, &[vals.as_slice()], &types, &m)
        };
        assert!(dynamic(vec![s("2024-01-03"), s("a")]));
        assert!(dynamic(vec![s("2024-01-04"), s("b")]));
        assert!(!dynamic(vec![s("2024-01-02"), s("b")]));
        assert!(!dynamic(vec![s("2024-01-06"), s("b")]));
        assert!(!dynamic(vec![s("2024-01-04"), s("d")]));
        // Field 2 has one null in this manifest; field 1 has none.
        assert!(dynamic(vec![s("2024-01-04"), Datum::Null]));
        assert!(!dynamic(vec![Datum::Null, s("b")]));
        // A static partial spec checks only its fields.
        let part = |spec: Vec<(usize, Datum)>| {
            manifest_in_scope(&OverwriteScope::Partition(spec), &[], &types, &m)
        };
        assert!(part(vec![(0, s("2024-01-05"))]));
        assert!(!part(vec![(0, s("2024-01-06"))]));
        assert!(manifest_in_scope(&OverwriteScope::Table, &[], &types, &m));
        // Unreadable stats keep the manifest.
        let broken = SimpleStats {
            min_values: vec![1, 2],
            ..m.clone()
        };
        assert!(manifest_in_scope(
            &OverwriteScope::Dynamic,
            &[&[s("2030-01-01"), s("z")]],
            &types,
            &broken
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let o = CommitOptions::default();
        let b1 = backoff(1, &o);
        assert!(
            b1 >= Duration::from_millis(10) && b1 <= Duration::from_millis(12),
            "{b1:?}"
        );
        let b5 = backoff(5, &o);
        assert!(
            b5 >= Duration::from_millis(160) && b5 <= Duration::from_millis(192),
            "{b5:?}"
        );
        assert!(backoff(30, &o) <= Duration::from_secs(12));
    }
}
