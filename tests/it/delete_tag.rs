//! delete-tag: exactly the files only the deleted tag kept are removed, checked against a
//! brute-force reachability computation on random histories; fail-closed when a protector is
//! unreadable; dry runs change nothing; pypaimon reads everything that remains.

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;
use tagkeeper::format::ids::{SnapshotId, TagName};
use tagkeeper::io::fault::InjectedError;
use tagkeeper::ops::delete_tag;
use tagkeeper::ops::tag::{create_tag, CreateTag, TagSource};
use tagkeeper::table::Table;
use tagkeeper::write::commit::{commit, CommitOptions, CommitRequest, OverwriteScope};
use tagkeeper::write::merge::MergeOptions;
use tagkeeper::write::synthetic::{build, SyntheticSpec};

use crate::fixtures::walk;
use crate::oracle;

/// Every file a version references: data files, manifests, manifest lists (brute force, via
/// the oracle for data files and a plain read of the lists for metadata).
pub async fn referenced(table: &Table, dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let state = oracle::observe(dir);
    let by_name: std::collections::HashMap<String, String> = walk(dir)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .map(|p| (p.rsplit('/').next().unwrap().to_string(), p))
        .collect();
    for v in state.versions.values() {
        for (_, name) in &v.files {
            out.insert(by_name[name].clone());
        }
    }
    let mut metas = Vec::new();
    for id in table.snapshot_range().await.unwrap().ids {
        metas.push(table.try_load_snapshot(id).await.unwrap().unwrap());
    }
    for t in table.tags().await.unwrap() {
        metas.push(t.tag.snapshot);
    }
    for s in metas {
        for list in [&s.base_manifest_list, &s.delta_manifest_list] {
            out.insert(format!("manifest/{list}"));
            for m in table.manifest_list(list, "test").await.unwrap() {
                out.insert(format!("manifest/{}", m.file_name));
            }
        }
    }
    out
}

pub fn on_disk(dir: &Path) -> BTreeSet<String> {
    walk(dir)
        .into_iter()
        .filter(|p| p.ends_with(".parquet") || p.starts_with("manifest/"))
        .collect()
}

struct History {
    snapshots: usize,
    partitions: usize,
    overwrite_every: usize,
    tags: Vec<i64>,
    expire_before: i64,
    delete: usize,
    record: bool,
}

/// A table on local disk with `snapshots` commits of two placeholder files each (an overwrite
/// every `overwrite_every`-th), small manifests so that merging happens, and files that record
/// their commit snapshot or not. Shared by the delete-tag and expiration property tests.
pub async fn history_table(
    snapshots: usize,
    partitions: usize,
    overwrite_every: usize,
    record: bool,
) -> (tempfile::TempDir, Table) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        tagkeeper::io::open_location(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    let spec = SyntheticSpec {
        snapshots,
        files: snapshots * 2,
        tags: 0,
        partitions,
        overwrite_every,
        overwrite_until: 0,
        record_commit_snapshot: record,
        write_placeholders: true,
        merge: MergeOptions {
            target_size: 2048,
            min_count: 3,
            full_compaction_threshold: 8192,
        },
    };
    let t = build(store, &spec).await.unwrap().table;
    (dir, t)
}

async fn run(h: History) {
    let (dir, t) = history_table(h.snapshots, h.partitions, h.overwrite_every, h.record).await;
    let clock = tagkeeper::clock::ManualClock::new(0);
    for id in &h.tags {
        let req = CreateTag {
            name: TagName::new(&format!("t{id}")).unwrap(),
            source: TagSource::Snapshot(SnapshotId(*id)),
            time_retained: None,
            if_not_exists: true,
        };
        create_tag(&t, &req, &clock).await.unwrap();
    }
    // Expire a prefix of snapshots: remove their files (leaving their data, as a crashed
    // expiration could; nothing referenced by a retained version is removed).
    for id in 1..h.expire_before {
        std::fs::remove_file(dir.path().join(format!("snapshot/snapshot-{id}"))).unwrap();
    }
    let victim = format!("t{}", h.tags[h.delete % h.tags.len()]);
    let before_refs = referenced(&t, dir.path()).await;
    let before_disk = on_disk(dir.path());
    let before_state = oracle::observe(dir.path());
    let name = TagName::new(&victim).unwrap();
    let plan = delete_tag::plan(&t, std::slice::from_ref(&name))
        .await
        .unwrap();
    // A dry run is the plan and changes nothing.
    assert_eq!(on_disk(dir.path()), before_disk);
    delete_tag::execute(&t, plan).await.unwrap();
    let after_refs = referenced(&t, dir.path()).await;
    let after_disk = on_disk(dir.path());
    let removed: BTreeSet<String> = before_disk.difference(&after_disk).cloned().collect();
    // Brute force: what the deleted tag referenced and no remaining version references, among
    // files that exist.
    let expected: BTreeSet<String> = before_refs
        .difference(&after_refs)
        .filter(|p| before_disk.contains(*p))
        .cloned()
        .collect();
    assert_eq!(
        removed, expected,
        "deleting {victim} (tags {:?}, expired < {})",
        h.tags, h.expire_before
    );
    // Every remaining version reads as before, nothing it needs is missing.
    let after_state = oracle::observe(dir.path());
    after_state.assert_whole("after delete-tag");
    crate::check::assert_whole(dir.path(), false, "after delete-tag").await;
    for (k, v) in &after_state.versions {
        assert_eq!(before_state.versions[k], *v, "{k}");
    }
    assert!(!after_state.versions.contains_key(&format!("tag-{victim}")));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn deletes_exactly_what_only_the_tag_kept(
        snapshots in 6usize..18,
        partitions in 1usize..4,
        overwrite_every in prop_oneof![Just(0usize), 2usize..5],
        tag_picks in proptest::collection::btree_set(1i64..18, 1..5),
        expire_frac in 0usize..100,
        delete in 0usize..5,
        record in any::<bool>(),
    ) {
        let tags: Vec<i64> = tag_picks.into_iter().filter(|t| *t <= snapshots as i64).collect();
        prop_assume!(!tags.is_empty());
        // Bias toward late expirations: that is where tags alone keep files.
        let expire_before = 1 + ((expire_frac * expire_frac / 100) * (snapshots - 1) / 100) as i64;
        let expire_before = (snapshots as i64) - (expire_before - 1).min(snapshots as i64 - 1);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(History { snapshots, partitions, overwrite_every, tags, expire_before, delete, record }));
    }
}

/// p1 files are committed at even snapshots and wiped by the overwrites at 4, 8 and 12. The
/// file committed at 2 lives in tags t2 and t3 and is gone by the earliest snapshot: deleting
/// t3 must keep it for t2 (the left protector), whether or not files record their commit.
#[tokio::test]
async fn the_left_protector_keeps_files_an_earlier_tag_needs() {
    for record in [true, false] {
        let h = History {
            snapshots: 12,
            partitions: 2,
            overwrite_every: 4,
            tags: vec![2, 3],
            expire_before: 12,
            delete: 1,
            record,
        };
        run(h).await;
    }
}

#[tokio::test]
async fn reclaims_files_of_an_expired_tagged_snapshot() {
    let h = History {
        snapshots: 12,
        partitions: 2,
        overwrite_every: 3,
        tags: vec![2, 5, 9],
        expire_before: 11,
        delete: 1,
        record: true,
    };
    run(h).await;
}

#[tokio::test]
async fn an_unreadable_protector_deletes_the_tag_file_only() {
    let fault = tagkeeper::io::fault::FaultStore::new(std::sync::Arc::new(
        object_store::memory::InMemory::new(),
    ));
    let handle = fault.handle();
    let store = tagkeeper::io::TableStore::new(std::sync::Arc::new(fault), "t", 4, "memory:///t");
    let spec = SyntheticSpec {
        snapshots: 10,
        files: 20,
        tags: 0,
        partitions: 2,
        overwrite_every: 2,
        write_placeholders: true,
        ..Default::default()
    };
    let t = build(store, &spec).await.unwrap().table;
    let clock = tagkeeper::clock::ManualClock::new(0);
    for id in [3, 6] {
        let req = CreateTag {
            name: TagName::new(&format!("t{id}")).unwrap(),
            source: TagSource::Snapshot(SnapshotId(id)),
            time_retained: None,
            if_not_exists: false,
        };
        create_tag(&t, &req, &clock).await.unwrap();
    }
    let ids: Vec<String> = (1..9).map(|i| format!("snapshot/snapshot-{i}")).collect();
    t.store().delete_many(&ids).await;
    // The right protector of t3 is t6: make its base manifest list unreadable.
    let t6 = t.load_tag(&TagName::new("t6").unwrap()).await.unwrap();
    handle.fail_paths_containing(
        &t6.snapshot.base_manifest_list,
        InjectedError::PermissionDenied,
    );
    let before = t.store().list("").await.unwrap().len();
    let plan = delete_tag::plan(&t, &[TagName::new("t3").unwrap()])
        .await
        .unwrap();
    assert_eq!(
        plan.tags[0].action,
        tagkeeper::ops::delete_tag::TagAction::TagFileOnly
    );
    assert!(plan.tags[0].skipped_for_safety);
    assert!(
        plan.tags[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("unreadable"),
        "{:?}",
        plan.tags[0].reason
    );
    let report = delete_tag::execute(&t, plan).await.unwrap();
    assert_eq!(report.deleted_tags, vec!["t3"]);
    assert_eq!(
        t.store().list("").await.unwrap().len(),
        before - 1,
        "only the tag file went"
    );
}

#[tokio::test]
async fn live_snapshots_and_shared_snapshots_keep_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        tagkeeper::io::open_location(dir.path().to_str().unwrap(), &Default::default()).unwrap();
    let spec = SyntheticSpec {
        snapshots: 6,
        files: 12,
        tags: 0,
        partitions: 1,
        overwrite_every: 2,
        write_placeholders: true,
        ..Default::default()
    };
    let t = build(store, &spec).await.unwrap().table;
    let clock = tagkeeper::clock::ManualClock::new(0);
    for name in ["a", "b"] {
        let req = CreateTag {
            name: TagName::new(name).unwrap(),
            source: TagSource::Snapshot(SnapshotId(2)),
            time_retained: None,
            if_not_exists: false,
        };
        create_tag(&t, &req, &clock).await.unwrap();
    }
    let disk = on_disk(dir.path());
    // Snapshot 2 is live: only the tag file goes.
    let plan = delete_tag::plan(&t, &[TagName::new("a").unwrap()])
        .await
        .unwrap();
    assert_eq!(
        (plan.tags[0].action, plan.tags[0].files.len()),
        (tagkeeper::ops::delete_tag::TagAction::TagFileOnly, 0)
    );
    delete_tag::execute(&t, plan).await.unwrap();
    // Expired, but tag 'c' shares the snapshot: again only the tag file.
    let req = CreateTag {
        name: TagName::new("c").unwrap(),
        source: TagSource::Snapshot(SnapshotId(2)),
        time_retained: None,
        if_not_exists: false,
    };
    create_tag(&t, &req, &clock).await.unwrap();
    std::fs::remove_file(dir.path().join("snapshot/snapshot-1")).unwrap();
    std::fs::remove_file(dir.path().join("snapshot/snapshot-2")).unwrap();
    let plan = delete_tag::plan(
        &t,
        &[TagName::new("b").unwrap(), TagName::new("nope").unwrap()],
    )
    .await
    .unwrap();
    assert_eq!(
        plan.tags[0].action,
        tagkeeper::ops::delete_tag::TagAction::TagFileOnly
    );
    assert!(plan.tags[0].reason.as_deref().unwrap().contains("tag 'c'"));
    assert_eq!(
        plan.tags[1].action,
        tagkeeper::ops::delete_tag::TagAction::NotFound
    );
    delete_tag::execute(&t, plan).await.unwrap();
    assert_eq!(on_disk(dir.path()), disk);
    // Now 'c' is the last tag on the expired snapshot: its exclusive files go.
    let plan = delete_tag::plan(&t, &[TagName::new("c").unwrap()])
        .await
        .unwrap();
    assert_eq!(
        plan.tags[0].action,
        tagkeeper::ops::delete_tag::TagAction::Reclaim
    );
    assert!(!plan.tags[0].files.is_empty());
    let _ = (
        commit,
        CommitRequest::default(),
        CommitOptions::default(),
        OverwriteScope::Table,
    );
}
