//! The liveness model, proven on random histories: every command that deletes is checked
//! against brute-force reachability computed by the independent oracle (which shares no code
//! with tagkeeper and merges every version on its own).
//!
//! A history is a random sequence of appends and partition overwrites (with or without
//! `_COMMIT_SNAPSHOT`, so both of expire's fast paths run), tags, branches created from tags
//! (as Java's `createBranch` lays them out), history deleted by hand, and the deleting
//! commands: expire-snapshots, delete-tag, rollback-to (`--purge` and `--as-latest`) and
//! remove-orphan-files. After every step:
//! - **safe:** every retained version of every branch has every file it needs;
//! - **exact:** no command leaves a file that no version needs which it was its job to delete:
//!   the unneeded files after a step are a subset of those before it, and after
//!   remove-orphan-files there are none.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use tagkeeper::clock::{Clock, ManualClock};
use tagkeeper::format::binary_row::{self, Datum};
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::format::manifest::{DataFileMeta, FileKind, ManifestEntry, SimpleStats};
use tagkeeper::format::types::DataType;
use tagkeeper::io::StoreOptions;
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions};
use tagkeeper::ops::rollback::{RollbackMode, RollbackTarget};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::commit::{commit, CommitOptions, CommitRequest, OverwriteScope};
use tagkeeper::write::data_file::{NewFile, EMPTY_ROW};
use tagkeeper::write::manifests::ManifestWriter;
use tagkeeper::write::merge::MergeOptions;
use tagkeeper::write::schema::{create_table, TableSpec};

use crate::oracle;

#[derive(Debug, Clone)]
enum Op {
    /// Append `files` placeholder files to partition `part`; `record` writes `_COMMIT_SNAPSHOT`.
    Append { part: u8, files: u8, record: bool },
    /// Overwrite partition `part` with one new file.
    Overwrite { part: u8, record: bool },
    /// Tag the `pick`-th retained snapshot.
    Tag { pick: u8 },
    /// Delete the `pick`-th tag.
    DeleteTag { pick: u8 },
    /// Expire, keeping `retain` snapshots.
    Expire { retain: u8 },
    /// Destructive rollback with purge to the `pick`-th version (snapshots, then tags).
    Purge { pick: u8 },
    /// Roll back as a new latest snapshot to the `pick`-th version.
    AsLatest { pick: u8 },
    /// Branch from the `pick`-th tag.
    Branch { pick: u8 },
    /// Delete the oldest `k` snapshot files by hand (history lost outside tagkeeper).
    DropByHand { k: u8 },
    /// remove-orphan-files with a cutoff in the future.
    Orphans,
    /// An append to partition `part` whose commit also produces a changelog file (a changelog
    /// producer): the snapshot names a changelog manifest list.
    Changelog { part: u8 },
    /// Paimon's compaction "upgrade": the `pick`-th live file below level 5 is re-committed
    /// at level 5 under the same name (a DELETE at its level and an ADD at 5 in one commit).
    /// `record` keeps `_COMMIT_SNAPSHOT` in both entries (the file's meta copied, as Java's
    /// `DataFileMeta.upgrade` copies every field); otherwise neither has it (Java's writer).
    Upgrade { pick: u8, record: bool },
    /// A rewrite compaction: up to three live files of partition `part` deleted, one new
    /// merged file added at level 1.
    Rewrite { part: u8, record: bool },
    /// Write a consumer pinning the `pick`-th retained snapshot (or the next one), or delete the
    /// `pick`-th consumer.
    Consumer { pick: u8, drop: bool },
    /// Java's decoupled expiration of the oldest `k` snapshots (at least one stays): each
    /// snapshot file becomes `changelog/changelog-N` (a snapshot JSON outliving its snapshot),
    /// nothing else is deleted.
    Decouple { k: u8 },
    /// expire-changelogs keeping the changelogs of the newest `retain` snapshot ids
    /// (`--retain-max`), or `--delete-all` when `all` (refused unless every changelog is older
    /// than the earliest snapshot, as Java refuses it).
    ExpireChangelogs { retain: u8, all: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 1u8..4, any::<bool>()).prop_map(|(part, files, record)| Op::Append { part, files, record }),
        2 => (0u8..3, any::<bool>()).prop_map(|(part, record)| Op::Overwrite { part, record }),
        2 => any::<u8>().prop_map(|pick| Op::Tag { pick }),
        1 => any::<u8>().prop_map(|pick| Op::DeleteTag { pick }),
        2 => (1u8..4).prop_map(|retain| Op::Expire { retain }),
        1 => any::<u8>().prop_map(|pick| Op::Purge { pick }),
        1 => any::<u8>().prop_map(|pick| Op::AsLatest { pick }),
        1 => any::<u8>().prop_map(|pick| Op::Branch { pick }),
        1 => (1u8..3).prop_map(|k| Op::DropByHand { k }),
        1 => Just(Op::Orphans),
        1 => (0u8..3).prop_map(|part| Op::Changelog { part }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(pick, record)| Op::Upgrade { pick, record }),
        1 => (0u8..3, any::<bool>()).prop_map(|(part, record)| Op::Rewrite { part, record }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(pick, drop)| Op::Consumer { pick, drop }),
        1 => (1u8..3).prop_map(|k| Op::Decouple { k }),
        1 => (1u8..6, prop::bool::weighted(0.2)).prop_map(|(retain, all)| Op::ExpireChangelogs { retain, all }),
    ]
}

/// Small manifests merge often, so manifests are rewritten and shared as in real tables.
const MERGE: MergeOptions = MergeOptions {
    target_size: 2048,
    min_count: 3,
    full_compaction_threshold: 4096,
};

struct World {
    table: Table,
    root: std::path::PathBuf,
    clock: Arc<ManualClock>,
    counter: u64,
    branches: u32,
    consumers: u32,
    /// The table keeps changelogs longer than snapshots (`changelog.num-retained.min`):
    /// expire-snapshots keeps the expired snapshots as long-lived changelogs (Java's decoupled
    /// lifecycle).
    decoupled: bool,
}

fn string() -> DataType {
    DataType::parse("STRING").expect("type")
}

async fn new_world(root: &Path, decoupled: bool) -> World {
    std::fs::create_dir_all(root).expect("table dir");
    let store =
        tagkeeper::io::open_location(root.to_str().expect("utf-8"), &StoreOptions::default())
            .expect("store");
    let spec = TableSpec {
        columns: vec![
            ("id".into(), DataType::parse("BIGINT").expect("type")),
            ("dt".into(), string()),
        ],
        partition_keys: vec!["dt".into()],
        options: if decoupled {
            vec![("changelog.num-retained.min".into(), "1000".into())]
        } else {
            Vec::new()
        },
        ..TableSpec::default()
    };
    let clock = Arc::new(ManualClock::new(1_704_067_200_000));
    let table = create_table(store, &spec, clock.now_millis())
        .await
        .expect("create");
    World {
        table,
        root: root.to_path_buf(),
        clock,
        counter: 0,
        branches: 0,
        consumers: 0,
        decoupled,
    }
}

fn meta(name: String) -> DataFileMeta {
    DataFileMeta {
        file_name: name,
        file_size: 0,
        row_count: 1,
        min_key: EMPTY_ROW.to_vec(),
        max_key: EMPTY_ROW.to_vec(),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats::empty(),
        min_sequence_number: 0,
        max_sequence_number: 0,
        schema_id: 0,
        level: 0,
        extra_files: Vec::new(),
        creation_time: None,
        delete_row_count: Some(0),
        embedded_index: None,
        file_source: Some(0),
        value_stats_cols: Some(Vec::new()),
        external_path: None,
        first_row_id: None,
        write_cols: None,
        write_cols_sequences: None,
        commit_snapshot: None,
    }
}

async fn write(w: &mut World, part: u8, files: u8, overwrite: bool, record: bool) {
    let values = vec![Datum::String(format!("p{part}"))];
    let partition = binary_row::encode(&values, &[string()]).expect("row");
    let mut new = Vec::new();
    for _ in 0..files {
        w.counter += 1;
        let name = format!("data-{:08}-0.parquet", w.counter);
        let key = format!("dt=p{part}/bucket-0/{name}");
        w.table
            .store()
            .put_overwrite(&key, Bytes::new())
            .await
            .expect("placeholder");
        new.push(NewFile {
            partition: partition.clone(),
            partition_values: values.clone(),
            bucket: 0,
            key,
            meta: meta(name),
        });
    }
    let request = CommitRequest {
        files: new,
        overwrite: overwrite.then(|| OverwriteScope::Partition(vec![(0, values[0].clone())])),
        record_commit_snapshot: record,
    };
    let opts = CommitOptions {
        merge: Some(MERGE),
        ..CommitOptions::default()
    };
    commit(&w.table, request, w.clock.as_ref(), &opts)
        .await
        .expect("commit");
}

fn partition_of(part: u8) -> (Vec<u8>, Vec<Datum>) {
    let values = vec![Datum::String(format!("p{part}"))];
    let bytes = binary_row::encode(&values, &[string()]).expect("row");
    (bytes, values)
}

/// A new placeholder file in partition `part`, bucket 0, with the given name prefix.
async fn placeholder(w: &mut World, part: u8, prefix: &str) -> String {
    w.counter += 1;
    let name = format!("{prefix}-{:08}-0.parquet", w.counter);
    w.table
        .store()
        .put_overwrite(&format!("dt=p{part}/bucket-0/{name}"), Bytes::new())
        .await
        .expect("placeholder");
    name
}

fn add_entry(part: u8, file: DataFileMeta) -> ManifestEntry {
    ManifestEntry {
        kind: FileKind::Add,
        partition: partition_of(part).0,
        bucket: 0,
        total_buckets: -1,
        file,
    }
}

/// The latest snapshot of main, if any.
async fn latest(w: &World) -> Option<tagkeeper::format::snapshot::Snapshot> {
    let id = w.table.latest_snapshot_id().await.expect("latest")?;
    w.table.try_load_snapshot(id).await.expect("load")
}

/// Commit `delta` (and `changelog`, as a changelog manifest list) as the next snapshot, as
/// Paimon's commit builds it: the new base is the latest's base and delta merged. For the
/// commits tagkeeper's writer does not make (compactions, changelog producers).
async fn commit_raw(
    w: &World,
    kind: &str,
    delta: Vec<ManifestEntry>,
    changelog: Vec<ManifestEntry>,
) {
    let latest = latest(w).await.expect("a snapshot to build on");
    let owner = format!("snapshot {}", latest.id);
    let mut previous = w
        .table
        .manifest_list(&latest.base_manifest_list, &owner)
        .await
        .expect("base");
    previous.extend(
        w.table
            .manifest_list(&latest.delta_manifest_list, &owner)
            .await
            .expect("delta"),
    );
    let schema = w.table.latest_schema().await.expect("schema");
    let mut writer = ManifestWriter::new(w.table.clone(), schema.partition_types(), 2048);
    let base = tagkeeper::write::merge::merge(&w.table, &mut writer, previous, &MERGE)
        .await
        .expect("merge");
    let (base_name, base_size) = writer.write_list(&base).await.expect("base list");
    let metas = writer
        .write_manifests(&delta)
        .await
        .expect("delta manifests");
    let (delta_name, delta_size) = writer.write_list(&metas).await.expect("delta list");
    let id = latest.id.0 + 1;
    let mut json = latest.raw().clone();
    json.insert("id".into(), id.into());
    json.insert("baseManifestList".into(), base_name.into());
    json.insert("baseManifestListSize".into(), base_size.into());
    json.insert("deltaManifestList".into(), delta_name.into());
    json.insert("deltaManifestListSize".into(), delta_size.into());
    json.insert("commitKind".into(), kind.into());
    json.insert("commitUser".into(), format!("props-{id}").into());
    json.insert("timeMillis".into(), w.clock.now_millis().into());
    json.remove("changelogManifestList");
    json.remove("changelogManifestListSize");
    if !changelog.is_empty() {
        let metas = writer
            .write_manifests(&changelog)
            .await
            .expect("changelog manifests");
        let (name, size) = writer.write_list(&metas).await.expect("changelog list");
        json.insert("changelogManifestList".into(), name.into());
        json.insert("changelogManifestListSize".into(), size.into());
    }
    let bytes = serde_json::to_vec(&serde_json::Value::Object(json)).expect("json");
    w.table
        .store()
        .put_overwrite(&format!("snapshot/snapshot-{id}"), Bytes::from(bytes))
        .await
        .expect("snapshot");
    w.table
        .store()
        .put_overwrite("snapshot/LATEST", Bytes::from(id.to_string()))
        .await
        .expect("hint");
}

/// The live files of the latest snapshot.
async fn live_files(w: &World) -> Vec<tagkeeper::table::LiveFile> {
    match latest(w).await {
        None => Vec::new(),
        Some(s) => w.table.data_files(&s, "latest").await.expect("live files"),
    }
}

fn with_record(mut e: ManifestEntry, kind: FileKind, record: bool) -> ManifestEntry {
    e.kind = kind;
    if !record {
        e.file.commit_snapshot = None;
    }
    e
}

async fn upgrade(w: &mut World, pick: u8, record: bool) -> &'static str {
    let below: Vec<_> = live_files(w)
        .await
        .into_iter()
        .filter(|f| f.entry.file.level < 5)
        .collect();
    if below.is_empty() {
        return "none";
    }
    let f = &below[usize::from(pick) % below.len()];
    let delete = with_record(f.entry.clone(), FileKind::Delete, record);
    let mut add = with_record(f.entry.clone(), FileKind::Add, record);
    add.file.level = 5;
    commit_raw(w, "COMPACT", vec![delete, add], Vec::new()).await;
    "upgrade"
}

async fn rewrite(w: &mut World, part: u8, record: bool) -> &'static str {
    let (bytes, _) = partition_of(part);
    let old: Vec<_> = live_files(w)
        .await
        .into_iter()
        .filter(|f| f.entry.partition == bytes)
        .take(3)
        .collect();
    if old.is_empty() {
        return "none";
    }
    let mut delta: Vec<ManifestEntry> = old
        .into_iter()
        .map(|f| with_record(f.entry, FileKind::Delete, record))
        .collect();
    let name = placeholder(w, part, "data").await;
    let mut m = meta(name);
    m.level = 1;
    let next = latest(w).await.map_or(1, |s| s.id.0 + 1);
    m.commit_snapshot = record.then_some(next);
    delta.push(add_entry(part, m));
    commit_raw(w, "COMPACT", delta, Vec::new()).await;
    "rewrite"
}

async fn append_with_changelog(w: &mut World, part: u8) -> &'static str {
    if latest(w).await.is_none() {
        return "none";
    }
    let next = latest(w).await.map_or(1, |s| s.id.0 + 1);
    let mut data = meta(placeholder(w, part, "data").await);
    data.commit_snapshot = Some(next);
    let changelog = meta(placeholder(w, part, "changelog").await);
    commit_raw(
        w,
        "APPEND",
        vec![add_entry(part, data)],
        vec![add_entry(part, changelog)],
    )
    .await;
    "changelog"
}

/// `consumer/consumer-*` files: (name, nextSnapshot).
fn consumers(w: &World) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = std::fs::read_dir(w.root.join("consumer"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            Some((name, v["nextSnapshot"].as_i64()?))
        })
        .collect();
    out.sort();
    out
}

async fn consumer(w: &mut World, ids: &[i64], pick: u8, drop: bool) -> &'static str {
    if drop {
        let cs = consumers(w);
        if cs.is_empty() {
            return "none";
        }
        let (name, _) = &cs[usize::from(pick) % cs.len()];
        std::fs::remove_file(w.root.join("consumer").join(name)).expect("rm consumer");
        return "drop-consumer";
    }
    let Some(last) = ids.last() else {
        return "none";
    };
    // A retained snapshot, or the next one (a consumer that read everything).
    let i = usize::from(pick) % (ids.len() + 1);
    let next = ids.get(i).copied().unwrap_or(last + 1);
    w.consumers += 1;
    std::fs::create_dir_all(w.root.join("consumer")).expect("dir");
    std::fs::write(
        w.root.join(format!("consumer/consumer-c{}", w.consumers)),
        format!("{{\"nextSnapshot\":{next}}}"),
    )
    .expect("consumer");
    "consumer"
}

/// What Java's expiration does with a decoupled changelog lifecycle, reduced to its roots:
/// the oldest snapshots move to `changelog/` (their files are left in place).
fn decouple(w: &World, ids: &[i64], k: u8) -> &'static str {
    let k = usize::from(k).min(ids.len().saturating_sub(1));
    if k == 0 {
        return "none";
    }
    std::fs::create_dir_all(w.root.join("changelog")).expect("dir");
    for id in &ids[..k] {
        let from = w.root.join(format!("snapshot/snapshot-{id}"));
        std::fs::copy(&from, w.root.join(format!("changelog/changelog-{id}"))).expect("copy");
        std::fs::remove_file(from).expect("rm");
    }
    std::fs::write(w.root.join("snapshot/EARLIEST"), ids[k].to_string()).expect("hint");
    std::fs::write(w.root.join("changelog/LATEST"), ids[k - 1].to_string()).expect("hint");
    if !w.root.join("changelog/EARLIEST").exists() {
        std::fs::write(w.root.join("changelog/EARLIEST"), ids[0].to_string()).expect("hint");
    }
    "decouple"
}

async fn snapshot_ids(w: &World) -> Vec<i64> {
    w.table
        .snapshot_range()
        .await
        .expect("range")
        .ids
        .iter()
        .map(|i| i.0)
        .collect()
}

async fn tag_names(w: &World) -> Vec<TagName> {
    w.table.tag_names().await.expect("tags")
}

/// Java's `createBranch(name, tag)`: the tag, its snapshot and the schemas copied into
/// `branch/branch-NAME/`.
async fn branch_from_tag(w: &mut World, tag: &TagName) {
    w.branches += 1;
    let dir = w.root.join(format!("branch/branch-b{}", w.branches));
    let tag_file = w.root.join(format!("tag/tag-{tag}"));
    let bytes = std::fs::read(&tag_file).expect("tag file");
    let mut json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let id = json["id"].as_i64().expect("id");
    std::fs::create_dir_all(dir.join("tag")).expect("dir");
    std::fs::create_dir_all(dir.join("snapshot")).expect("dir");
    std::fs::create_dir_all(dir.join("schema")).expect("dir");
    std::fs::write(dir.join(format!("tag/tag-{tag}")), &bytes).expect("write");
    if let Some(o) = json.as_object_mut() {
        o.remove("tagCreateTime");
        o.remove("tagTimeRetained");
    }
    std::fs::write(
        dir.join(format!("snapshot/snapshot-{id}")),
        serde_json::to_vec(&json).expect("json"),
    )
    .expect("write");
    std::fs::write(dir.join("snapshot/LATEST"), id.to_string()).expect("write");
    for e in std::fs::read_dir(w.root.join("schema"))
        .expect("schemas")
        .flatten()
    {
        std::fs::copy(e.path(), dir.join("schema").join(e.file_name())).expect("copy");
    }
}

/// Data, manifest, index and statistics files: what the versions may need.
fn payload_files(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if ![
                    "snapshot",
                    "tag",
                    "schema",
                    "branch",
                    "_tagkeeper",
                    "changelog",
                    "consumer",
                ]
                .contains(&name.as_str())
                    || dir != root
                {
                    stack.push(p);
                }
            } else if dir != root {
                out.insert(name);
            }
        }
    }
    out
}

/// Files no version needs (brute force: the oracle merges every version on its own).
fn unneeded(root: &Path) -> BTreeSet<String> {
    let state = oracle::observe(root);
    state.assert_whole("after the step");
    let needed: BTreeSet<String> = state
        .versions
        .values()
        .chain(state.changelogs.values())
        .flat_map(|v| v.needs.iter().cloned())
        .collect();
    payload_files(root)
        .into_iter()
        .filter(|f| !needed.contains(f))
        .collect()
}

async fn step(w: &mut World, op: &Op) -> &'static str {
    w.clock.advance_millis(60_000);
    let ids = snapshot_ids(w).await;
    let tags = tag_names(w).await;
    match op {
        Op::Append {
            part,
            files,
            record,
        } => {
            write(w, *part, *files, false, *record).await;
            "append"
        }
        Op::Overwrite { part, record } => {
            write(w, *part, 1, true, *record).await;
            "overwrite"
        }
        Op::Tag { pick } => {
            if ids.is_empty() {
                return "none";
            }
            let id = ids[usize::from(*pick) % ids.len()];
            let req = CreateTag {
                name: TagName::new(&format!("t{}", w.clock.now_millis())).expect("name"),
                source: TagSource::Snapshot(SnapshotId(id)),
                time_retained: None,
                if_not_exists: false,
            };
            create_tag(&w.table, &req, w.clock.as_ref())
                .await
                .expect("create-tag");
            "create-tag"
        }
        Op::DeleteTag { pick } => {
            if tags.is_empty() {
                return "none";
            }
            let name = tags[usize::from(*pick) % tags.len()].clone();
            let plan = tagkeeper::ops::delete_tag::plan(&w.table, &[name])
                .await
                .expect("delete-tag plan");
            let report = tagkeeper::ops::delete_tag::execute(&w.table, plan)
                .await
                .expect("delete-tag");
            assert!(report.failed.is_empty(), "{report:?}");
            assert!(
                report.tags.iter().all(|t| !t.skipped_for_safety),
                "{report:?}"
            );
            "delete-tag"
        }
        Op::Expire { retain } => {
            let opts = ExpireOptions {
                retain_min: u64::from(*retain),
                retain_max: u64::MAX / 2,
                time_retained_millis: 0,
                expire_limit: 1000,
                ignore_commit_snapshot: false,
            };
            // Long-lived changelogs that exist already (moved by hand, or kept by a rollback
            // that restored their snapshot from a tag) stay as they are.
            let changelogs_before: Vec<bool> = ids
                .iter()
                .map(|id| w.root.join(format!("changelog/changelog-{id}")).is_file())
                .collect();
            let result = expire(&w.table, &opts, w.clock.now_millis()).await;
            let p = result.expect("expire");
            assert!(p.failed.is_empty() && p.plan.skipped.is_empty(), "{p:?}");
            // Java's decoupled lifecycle: every expired snapshot is kept as a changelog (the
            // oracle then checks that nothing it needs was deleted).
            assert_eq!(p.plan.changelog_decoupled, w.decoupled);
            for id in &p.plan.expired_snapshots {
                let existed = ids
                    .iter()
                    .position(|i| i == id)
                    .is_some_and(|at| changelogs_before[at]);
                assert_eq!(
                    w.root.join(format!("changelog/changelog-{id}")).is_file(),
                    w.decoupled || existed,
                    "changelog-{id} after expiring it (decoupled: {}, existed before: {existed})",
                    w.decoupled
                );
            }
            // Java's range: the newest `retain` stay, and nothing from the smallest consumer's
            // next snapshot on expires (`ConsumerManager.minNextSnapshot`).
            if let Some(last) = ids.last() {
                let mut end = last - i64::from(*retain) + 1;
                let cs = consumers(w);
                if let Some(c) = cs.iter().map(|(_, n)| *n).min() {
                    end = end.min(c);
                }
                let want: Vec<i64> = ids.iter().copied().filter(|i| *i >= end).collect();
                assert_eq!(
                    snapshot_ids(w).await,
                    want,
                    "expire --retain-min {retain} with consumers {cs:?} from {ids:?}"
                );
            }
            "expire-snapshots"
        }
        Op::Purge { pick } | Op::AsLatest { pick } => {
            let n = ids.len() + tags.len();
            if n == 0 {
                return "none";
            }
            let i = usize::from(*pick) % n;
            let target = if i < ids.len() {
                RollbackTarget::Snapshot(SnapshotId(ids[i]))
            } else {
                RollbackTarget::Tag(tags[i - ids.len()].clone())
            };
            let (mode, what) = match op {
                Op::Purge { .. } => (
                    RollbackMode::Destructive { purge: true },
                    "rollback --purge",
                ),
                _ => (RollbackMode::AsLatest, "rollback --as-latest"),
            };
            if let Op::Purge { .. } = op {
                purge_fast_path_equals_the_model(w, &target).await;
            }
            match tagkeeper::ops::rollback::execute(&w.table, &target, mode, w.clock.as_ref()).await
            {
                Ok(p) => {
                    assert!(
                        p.plan.notes.iter().all(|n| !n.contains("skipped")),
                        "{what}: {p:?}"
                    );
                }
                // Rolling back to the latest snapshot as a new latest changes nothing.
                Err(tagkeeper::Error::InvalidArgument(m)) if m.contains("already") => {}
                Err(e) => panic!("{what}: {e}"),
            }
            what
        }
        Op::Branch { pick } => {
            if tags.is_empty() {
                return "none";
            }
            let tag = tags[usize::from(*pick) % tags.len()].clone();
            branch_from_tag(w, &tag).await;
            "branch"
        }
        Op::DropByHand { k } => {
            let k = usize::from(*k).min(ids.len().saturating_sub(1));
            for id in &ids[..k] {
                std::fs::remove_file(w.root.join(format!("snapshot/snapshot-{id}"))).expect("rm");
            }
            if k > 0 {
                std::fs::write(w.root.join("snapshot/EARLIEST"), ids[k].to_string()).expect("hint");
            }
            "drop-by-hand"
        }
        Op::Orphans => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_millis() as i64;
            let opts = OrphanOptions {
                older_than_millis: Some(now + 86_400_000),
                force: true,
            };
            let r = remove_orphan_files(&w.table, &opts, false, w.clock.as_ref())
                .await
                .expect("remove-orphan-files");
            assert!(r.failed.is_empty(), "{r:?}");
            "remove-orphan-files"
        }
        Op::Changelog { part } => append_with_changelog(w, *part).await,
        Op::Upgrade { pick, record } => upgrade(w, *pick, *record).await,
        Op::Rewrite { part, record } => rewrite(w, *part, *record).await,
        Op::Consumer { pick, drop } => consumer(w, &ids, *pick, *drop).await,
        Op::Decouple { k } => decouple(w, &ids, *k),
        Op::ExpireChangelogs { retain, all } => {
            use tagkeeper::ops::expire_changelogs as ec;
            let before = ec::changelog_ids(&w.table).await.expect("changelogs");
            let mut opts = ec::ChangelogOptions::procedure_defaults();
            opts.retain_max = u64::from(*retain);
            opts.delete_all = *all;
            let result = ec::expire(&w.table, &opts, w.clock.now_millis()).await;
            let after = ec::changelog_ids(&w.table).await.expect("changelogs");
            if *all {
                let refused = before
                    .last()
                    .zip(ids.first())
                    .is_some_and(|(cl, s)| cl >= s);
                if refused {
                    assert!(
                        matches!(result, Err(tagkeeper::Error::InvalidArgument(_))),
                        "{result:?}"
                    );
                    assert_eq!(after, before);
                    return "expire-changelogs-refused";
                }
                let r = result.expect("expire-changelogs --delete-all");
                assert!(r.failed.is_empty(), "{r:?}");
                assert!(after.is_empty(), "{after:?}");
                return "expire-changelogs";
            }
            let r = result.expect("expire-changelogs");
            assert!(r.failed.is_empty(), "{r:?}");
            // Java's range: keep from `latest - retain + 1` on, and always the latest changelog
            // and what a consumer still needs.
            if let (Some(latest), Some(&latest_cl)) = (ids.last(), before.last()) {
                let mut end = (latest - i64::from(*retain) + 1).min(latest_cl);
                if let Some(c) = consumers(w).iter().map(|(_, n)| *n).min() {
                    end = end.min(c);
                }
                let want: Vec<i64> = before.iter().copied().filter(|i| *i >= end).collect();
                assert_eq!(
                    after, want,
                    "expire-changelogs --retain-max {retain} from {before:?}"
                );
            }
            "expire-changelogs"
        }
    }
}

/// rollback-to's fast path (recorded commit snapshots, only the target and the removed
/// snapshots read) plans exactly what the model (every remaining version read) plans, when it
/// decides at all (in about a quarter of the purges of these histories: those whose removed
/// files all have `_COMMIT_SNAPSHOT` after the target, on a table without branches;
/// `rollback_purge_decides_by_commit_snapshot_as_the_model_does` makes sure it runs).
async fn purge_fast_path_equals_the_model(
    w: &World,
    target: &RollbackTarget,
) -> Option<tagkeeper::ops::rollback::RollbackPlan> {
    use tagkeeper::ops::rollback::{plan_with, DecidedBy};
    let mode = RollbackMode::Destructive { purge: true };
    let model = plan_with(&w.table, target, mode, true).await;
    let fast = plan_with(&w.table, target, mode, false).await;
    match (model, fast) {
        (Ok(model), Ok(fast)) => {
            assert_eq!(model.unreferenced_decided_by, Some(DecidedBy::Model));
            assert_eq!(
                fast.unreferenced, model.unreferenced,
                "the fast path and the model disagree on rolling back to {target:?}"
            );
            assert_eq!(fast.unreferenced_bytes, model.unreferenced_bytes);
            Some(fast)
        }
        (model, fast) => {
            assert_eq!(
                model.map(|_| ()).map_err(|e| e.to_string()),
                fast.map(|_| ()).map_err(|e| e.to_string())
            );
            None
        }
    }
}

/// The fast path's plan of a purge the fast path must decide, checked against the model.
async fn fast_purge_plan(
    w: &World,
    target: &RollbackTarget,
) -> tagkeeper::ops::rollback::RollbackPlan {
    let fast = purge_fast_path_equals_the_model(w, target)
        .await
        .expect("both plan");
    assert_eq!(
        fast.unreferenced_decided_by,
        Some(tagkeeper::ops::rollback::DecidedBy::CommitSnapshot)
    );
    fast
}

/// The runtime every history runs on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn run_history(ops: &[Op]) {
    run_history_on(false, ops);
}

/// `decoupled`: the table keeps changelogs longer than snapshots (expire keeps changelogs).
fn run_history_on(decoupled: bool, ops: &[Op]) {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("t");
        let mut w = new_world(&root, decoupled).await;
        // Start with some history.
        write(&mut w, 0, 2, false, true).await;
        write(&mut w, 1, 1, false, false).await;
        let mut before = unneeded(&root);
        let mut done = Vec::new();
        for op in ops {
            let what = step(&mut w, op).await;
            done.push(format!("{op:?}"));
            let after = unneeded(&root);
            match what {
                // History removed outside the deleting commands: what it needed is left.
                "drop-by-hand" => {}
                "remove-orphan-files" => assert!(
                    after.is_empty(),
                    "remove-orphan-files left unneeded files {after:?} after {done:?}"
                ),
                _ => assert!(
                    after.is_subset(&before),
                    "{what} left unneeded files {:?} after {done:?}",
                    after.difference(&before).collect::<Vec<_>>()
                ),
            }
            before = after;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("LIVENESS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn every_deleting_command_agrees_with_brute_force_reachability(
        decoupled in prop::bool::weighted(0.25),
        ops in prop::collection::vec(op(), 1..24),
    ) {
        run_history_on(decoupled, &ops);
    }
}

/// Found by the property test: a long-lived changelog moved by hand, then a rollback that
/// restores its snapshot from a tag, then an expiration without the decoupled lifecycle: the
/// changelog that existed before stays (Java's expiration writes none and deletes none here).
#[test]
fn expiring_a_snapshot_whose_changelog_already_exists_keeps_that_changelog() {
    run_history_on(
        false,
        &[
            Op::Changelog { part: 0 },
            Op::Tag { pick: 21 },
            Op::Decouple { k: 1 },
            Op::Purge { pick: 2 },
            Op::Append {
                part: 0,
                files: 1,
                record: false,
            },
            Op::Expire { retain: 1 },
        ],
    );
}

/// A rollback as a new latest snapshot adds back files that an earlier snapshot deleted: they
/// live twice. Once the tag protecting the target is gone, expiring the snapshot that deleted
/// them must still keep them (the latest snapshot reads them).
#[test]
fn expiring_past_a_rollback_as_latest_keeps_the_files_it_added_back() {
    run_history(&[
        Op::Overwrite {
            part: 0,
            record: true,
        },
        Op::AsLatest { pick: 0 },
        Op::DeleteTag { pick: 0 },
        Op::Expire { retain: 1 },
        Op::Orphans,
    ]);
    run_history(&[
        Op::Overwrite {
            part: 0,
            record: false,
        },
        Op::AsLatest { pick: 0 },
        Op::DeleteTag { pick: 0 },
        Op::Expire { retain: 1 },
    ]);
    // A tag in the file's first life, the file deleted again after the rollback: expiring the
    // second deletion must not take it from the tag (both fast paths assume one life).
    for record in [true, false] {
        run_history(&[
            Op::Tag { pick: 0 },
            Op::Overwrite { part: 0, record },
            Op::Tag { pick: 2 },
            Op::AsLatest { pick: 0 },
            Op::Overwrite { part: 0, record },
            Op::Expire { retain: 1 },
            Op::Orphans,
        ]);
    }
}

/// Level changes and rewrites, with and without `_COMMIT_SNAPSHOT`: a file upgraded in place
/// (DELETE at level 0, ADD at level 5 in one commit) stays while any version has it at any
/// level, and goes once none does.
#[test]
fn upgraded_and_rewritten_files_follow_the_model() {
    for record in [true, false] {
        run_history(&[
            Op::Upgrade { pick: 0, record },
            Op::Expire { retain: 1 },
            Op::Orphans,
        ]);
        run_history(&[
            Op::Tag { pick: 0 },
            Op::Upgrade { pick: 0, record },
            Op::Rewrite { part: 0, record },
            Op::Expire { retain: 1 },
            Op::DeleteTag { pick: 0 },
            Op::Expire { retain: 1 },
            Op::Orphans,
        ]);
    }
}

/// On a history tagkeeper wrote with `_COMMIT_SNAPSHOT` (appends, an overwrite, an upgrade of a
/// file without it, a rewrite, a tag on a snapshot the rollback removes), rollback-to's
/// unreferenced files are decided by the fast path, equal the model's, and are what the
/// removed snapshots added: the overwrite's and rewrite's new files and the removed commits'
/// lists and manifests, never a file the target or an older snapshot has.
#[test]
fn rollback_purge_decides_by_commit_snapshot_as_the_model_does() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("t");
        let mut w = new_world(&root, false).await;
        write(&mut w, 0, 2, false, true).await;
        write(&mut w, 1, 1, false, false).await;
        write(&mut w, 2, 1, false, true).await;
        let target = RollbackTarget::Snapshot(SnapshotId(3));
        let kept: BTreeSet<String> = live_files(&w)
            .await
            .into_iter()
            .map(|f| f.entry.file.file_name)
            .collect();
        for op in [
            Op::Upgrade {
                pick: 2,
                record: false,
            },
            Op::Append {
                part: 0,
                files: 2,
                record: true,
            },
            Op::Overwrite {
                part: 1,
                record: true,
            },
            Op::Tag { pick: 5 },
            Op::Rewrite {
                part: 0,
                record: true,
            },
            Op::Append {
                part: 2,
                files: 1,
                record: true,
            },
        ] {
            assert_ne!(step(&mut w, &op).await, "none", "{op:?}");
        }
        let fast = fast_purge_plan(&w, &target).await;
        let data: BTreeSet<String> = fast
            .unreferenced
            .iter()
            .filter(|f| f.category == tagkeeper::ops::delete_tag::Category::Data)
            .map(|f| f.path.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        // Added after snapshot 3: 2 appended to part 0, the overwrite's, the rewrite's, 1 to
        // part 2; the upgraded file was live in snapshot 3, so it stays.
        assert_eq!(data.len(), 5, "{data:?}");
        assert!(data.is_disjoint(&kept), "{data:?} {kept:?}");
        assert_eq!(fast.tags_removed.len(), 1);
    });
}

/// Found by the property test: rolling back to a tag whose snapshot expired removes every
/// snapshot left, and the first of them follows snapshots that expired, so its delta alone does
/// not say what it holds beyond the target. The fast path reads it completely and purges what
/// the model purges: the files appended after the tag and live in it.
#[test]
fn rollback_purge_to_a_tag_whose_snapshot_expired_matches_the_model() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("t");
        let mut w = new_world(&root, false).await;
        write(&mut w, 0, 2, false, true).await;
        for op in [
            Op::Tag { pick: 0 },
            Op::Append {
                part: 1,
                files: 2,
                record: true,
            },
            Op::Append {
                part: 2,
                files: 1,
                record: true,
            },
            Op::Expire { retain: 1 },
            Op::Append {
                part: 2,
                files: 1,
                record: true,
            },
        ] {
            assert_ne!(step(&mut w, &op).await, "none", "{op:?}");
        }
        assert_eq!(snapshot_ids(&w).await, vec![3, 4]);
        let tag = tag_names(&w).await.remove(0);
        let target = RollbackTarget::Tag(tag);
        let fast = fast_purge_plan(&w, &target).await;
        let data = fast
            .unreferenced
            .iter()
            .filter(|f| f.category == tagkeeper::ops::delete_tag::Category::Data)
            .count();
        // The three appended after the tag (two live only in expired snapshot 2 and in 3, one
        // in 3) and the one in 4.
        assert_eq!(data, 4, "{:?}", fast.unreferenced);
    });
}

/// A consumer pins its next snapshot; long-lived changelogs keep their changelog files
/// through delete-tag, rollback --purge and orphan cleaning; a decoupled table's expiration
/// keeps its snapshots as changelogs, and expire-changelogs removes them with what only they
/// need.
#[test]
fn consumers_and_changelogs_follow_the_model() {
    run_history(&[
        Op::Consumer {
            pick: 0,
            drop: false,
        },
        Op::Append {
            part: 0,
            files: 1,
            record: true,
        },
        Op::Expire { retain: 1 },
        Op::Consumer {
            pick: 0,
            drop: true,
        },
        Op::Expire { retain: 1 },
    ]);
    for decoupled in [false, true] {
        run_history_on(
            decoupled,
            &[
                // Snapshot 3 produces changelog; its tag and then its changelog-3 keep it.
                Op::Changelog { part: 0 },
                Op::Tag { pick: 2 },
                Op::Changelog { part: 1 },
                Op::Decouple { k: 3 },
                Op::DeleteTag { pick: 0 },
                Op::Orphans,
                Op::Expire { retain: 1 },
                Op::Purge { pick: 0 },
                Op::Orphans,
            ],
        );
        run_history_on(
            decoupled,
            &[
                Op::Changelog { part: 0 },
                Op::Append {
                    part: 1,
                    files: 2,
                    record: false,
                },
                Op::Overwrite {
                    part: 0,
                    record: true,
                },
                Op::Changelog { part: 1 },
                Op::Expire { retain: 1 },
                Op::ExpireChangelogs {
                    retain: 2,
                    all: false,
                },
                Op::Orphans,
                Op::ExpireChangelogs {
                    retain: 1,
                    all: true,
                },
                Op::Orphans,
            ],
        );
    }
}
