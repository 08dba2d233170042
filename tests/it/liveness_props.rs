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
use tagkeeper::format::manifest::{DataFileMeta, SimpleStats};
use tagkeeper::format::types::DataType;
use tagkeeper::io::StoreOptions;
use tagkeeper::ops::expire::{expire, ExpireOptions};
use tagkeeper::ops::orphans::{remove_orphan_files, OrphanOptions};
use tagkeeper::ops::rollback::{RollbackMode, RollbackTarget};
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::commit::{commit, CommitOptions, CommitRequest, OverwriteScope};
use tagkeeper::write::data_file::{NewFile, EMPTY_ROW};
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
    ]
}

struct World {
    table: Table,
    root: std::path::PathBuf,
    clock: Arc<ManualClock>,
    counter: u64,
    branches: u32,
}

fn string() -> DataType {
    DataType::parse("STRING").expect("type")
}

async fn new_world(root: &Path) -> World {
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
    // Small manifests merge often, so manifests are rewritten and shared as in real tables.
    let opts = CommitOptions {
        merge: Some(tagkeeper::write::merge::MergeOptions {
            target_size: 2048,
            min_count: 3,
            full_compaction_threshold: 4096,
        }),
        ..CommitOptions::default()
    };
    commit(&w.table, request, w.clock.as_ref(), &opts)
        .await
        .expect("commit");
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
            let p = expire(&w.table, &opts, w.clock.now_millis())
                .await
                .expect("expire");
            assert!(p.failed.is_empty() && p.plan.skipped.is_empty(), "{p:?}");
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
    }
}

fn run_history(ops: &[Op]) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("t");
        let mut w = new_world(&root).await;
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
    fn every_deleting_command_agrees_with_brute_force_reachability(ops in prop::collection::vec(op(), 1..24)) {
        run_history(&ops);
    }
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
