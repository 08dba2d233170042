//! Shared by the benchmarks: environment knobs, request reports, and the brute-force
//! reachability baseline that the expiration strategies are compared against.

#![allow(dead_code, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use tagkeeper::format::ids::SnapshotId;
use tagkeeper::format::manifest::{FileKind, ManifestEntry};
use tagkeeper::io::fault::FaultHandle;
use tagkeeper::reach::live_entries;
use tagkeeper::table::Table;

pub(crate) fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Requests since `start`, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Requests {
    pub(crate) total: usize,
    pub(crate) get: usize,
    pub(crate) head: usize,
    pub(crate) list: usize,
    pub(crate) put: usize,
    pub(crate) delete: usize,
}

impl Requests {
    pub(crate) fn since(h: &FaultHandle, start: u64) -> Self {
        let log: Vec<_> = h.log().into_iter().filter(|(n, _, _)| *n > start).collect();
        let count = |k: &str| log.iter().filter(|(_, kind, _)| *kind == k).count();
        Requests {
            total: log.len(),
            get: count("get"),
            head: count("head"),
            list: count("list"),
            put: count("put"),
            delete: count("delete"),
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{} (get {}, head {}, list {}, put {}, delete {})",
            self.total, self.get, self.head, self.list, self.put, self.delete
        )
    }
}

/// Brute-force reachability: the data files that expiring snapshots `expired` deletes, found by
/// computing everything the retained snapshots and the tags reference, without
/// `_COMMIT_SNAPSHOT` and without Java's nearest-tag rule. Every retained snapshot is read:
/// the first one completely, each later one by its delta (whatever a later snapshot adds was
/// live in it, so the union of the first live set and the later deltas' additions is exactly
/// the union of the retained snapshots' live sets, at the cost of one full read instead of
/// thousands); every tag completely. Each distinct manifest is read once.
pub(crate) async fn brute_force_data_files(
    table: &Table,
    expired: &[i64],
    retained: &[i64],
) -> BTreeSet<String> {
    let mut cache: HashMap<String, Arc<Vec<ManifestEntry>>> = HashMap::new();
    let mut referenced: HashSet<String> = HashSet::new();
    let mut full: Vec<tagkeeper::format::snapshot::Snapshot> = Vec::new();
    if let Some(first) = retained.first() {
        full.push(load(table, *first).await);
    }
    for t in table.tags().await.unwrap() {
        full.push(t.tag.snapshot.clone());
    }
    for s in &full {
        let mut entries = Vec::new();
        for list in [&s.base_manifest_list, &s.delta_manifest_list] {
            entries.extend(read_list(table, list, &mut cache).await);
        }
        for e in live_entries(entries) {
            referenced.insert(e.file.file_name);
        }
    }
    for id in retained.iter().skip(1) {
        let s = load(table, *id).await;
        for e in read_list(table, &s.delta_manifest_list, &mut cache).await {
            if e.kind == FileKind::Add {
                referenced.insert(e.file.file_name);
            }
        }
    }
    let mut deleted = BTreeSet::new();
    for id in expired {
        let s = load(table, *id).await;
        let delta = read_list(table, &s.delta_manifest_list, &mut cache).await;
        let added: HashSet<&str> = delta
            .iter()
            .filter(|e| e.kind == FileKind::Add)
            .map(|e| e.file.file_name.as_str())
            .collect();
        for e in &delta {
            if e.kind == FileKind::Delete
                && !added.contains(e.file.file_name.as_str())
                && !referenced.contains(&e.file.file_name)
            {
                deleted.insert(e.file.file_name.clone());
            }
        }
    }
    deleted
}

async fn read_list(
    table: &Table,
    list: &str,
    cache: &mut HashMap<String, Arc<Vec<ManifestEntry>>>,
) -> Vec<ManifestEntry> {
    let mut out = Vec::new();
    for m in table.manifest_list(list, "brute force").await.unwrap() {
        if !cache.contains_key(&m.file_name) {
            let e = table.manifest(&m.file_name, "brute force").await.unwrap();
            cache.insert(m.file_name.clone(), Arc::new(e));
        }
        out.extend(cache[&m.file_name].iter().cloned());
    }
    out
}

async fn load(table: &Table, id: i64) -> tagkeeper::format::snapshot::Snapshot {
    table
        .try_load_snapshot(SnapshotId(id))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("snapshot {id} is missing"))
}
