//! Gathering the roots and what they need: every version of every branch, read completely,
//! then each branch's latest snapshot again (a commit that landed meanwhile may use old files).
//! Every deletion decision of tagkeeper reads its references here (see the parent module).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::{Error, Result};
use crate::format::file_name::PaimonFile;
use crate::format::ids::SnapshotId;
use crate::format::manifest::{decode_index_manifest, IndexManifestEntry};
use crate::format::snapshot::Snapshot;
use crate::reach::Interner;
use crate::table::layout::{
    manifest_key, snapshot_key, tag_key, CHANGELOG_DIR, CONSUMER_DIR, SNAPSHOT_DIR,
};
use crate::table::{ordered, Branch, ManifestRecord, Table};

use super::{chain_union, live_union, LaterSnapshot, ManifestFacts, SnapshotChain};

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// One snapshot, tag or long-lived changelog: a root of the liveness model.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    /// For messages: "snapshot 3", "branch 'b' tag 'x'".
    pub(crate) owner: String,
    /// Its file, relative to the table root (to tell a vanished version from a live one).
    pub(crate) key: String,
    pub(crate) snapshot: Snapshot,
    /// A long-lived changelog: Java deletes its base and delta lists with the snapshot, so
    /// only its changelog list must exist.
    pub(crate) changelog: bool,
    /// Its base and delta lists, index manifest and statistics count. False only for a
    /// changelog an expiration is about to write whose snapshot's lists it deletes (Java's
    /// decoupled lifecycle with a changelog producer): only its changelog list stays.
    pub(crate) data_lists: bool,
}

#[derive(Debug, Default)]
struct Found {
    versions: Vec<Version>,
    vanished: Vec<String>,
    newer: Vec<String>,
    snapshots: u64,
    tags: u64,
    changelogs: u64,
    consumers: u64,
    /// Snapshot, tag and changelog files listed.
    listed: u64,
    /// The largest snapshot id listed.
    max_listed: Option<i64>,
}

/// What the retained versions need, by file name (Paimon names every file uniquely: data files
/// and manifests carry a UUID): live data files and their extra files, and every manifest
/// list, manifest, index manifest, index file and statistics file a version names.
#[derive(Debug, Default)]
pub(crate) struct References {
    pub(crate) names: super::NeededNames,
    /// Metadata files read (lists, index manifests, manifests): each is read once.
    read: HashSet<String>,
    pub(crate) manifests: u64,
    pending: Vec<Version>,
    pub(crate) vanished: BTreeSet<String>,
    pub(crate) newer: Vec<String>,
    pub(crate) snapshots: u64,
    pub(crate) tags: u64,
    pub(crate) changelogs: u64,
    pub(crate) consumers: u64,
    /// The data manifests each manifest list names, in order (lists that vanished are absent).
    lists: HashMap<String, Vec<String>>,
    /// Every data manifest read, reduced to kinds and identities.
    facts: HashMap<String, ManifestFacts>,
    /// Each version as manifest lists read in order: base and delta (a version whose data
    /// lists are all present), or a long-lived changelog's changelog list.
    versions: Vec<Vec<String>>,
    /// Data files that a version deletes without adding them first (inconsistent metadata):
    /// they are in `names` (kept), and reported.
    pub(crate) unmatched: BTreeSet<String>,
    /// Read consecutive snapshots by delta replay (the first reading only).
    replay: bool,
    /// Chains of consecutive snapshots read by delta replay: the first one's base and delta
    /// lists, then each later one's base and delta lists (bases are read for their names and
    /// counts, not their manifests).
    chains: Vec<([String; 2], Vec<[String; 2]>)>,
    /// ADD minus DELETE entries each manifest list records.
    list_net: HashMap<String, i64>,
}

impl References {
    /// A file was missing and no live version needs it: the versions naming it, if gone, are
    /// reported as vanished.
    fn mark_vanished(&mut self, need: &Need) {
        if need.required {
            self.vanished
                .extend(need.owners.iter().map(|(_, label)| label.clone()));
        }
    }

    fn absorb(&mut self, f: Found) {
        // The model reads these snapshots and tags, never writes them.
        self.pending.extend(f.versions.into_iter().map(|v| Version {
            snapshot: v.snapshot.into_typed_only(),
            ..v
        }));
        self.vanished.extend(f.vanished);
        self.newer.extend(f.newer);
        self.snapshots += f.snapshots;
        self.tags += f.tags;
        self.changelogs += f.changelogs;
        self.consumers += f.consumers;
    }
}

/// Every version of every branch and what it needs; then each branch's latest snapshot again,
/// adding anything committed meanwhile (Paimon #3074). Versions for which `removed` is true
/// are the ones the calling command deletes: they are not roots (a version committed meanwhile
/// always is). Refuses an empty result when version files exist. `operation` names the
/// command in that refusal.
///
/// `added`: versions that do not exist yet but will once the calling command is done (the
/// changelogs a decoupled expiration writes), roots like the others.
pub(crate) async fn read_references_with(
    table: &Table,
    branches: &[Branch],
    operation: &'static str,
    removed: &(dyn Fn(&Version) -> bool + Sync),
    added: Vec<Version>,
) -> Result<References> {
    without_replay(
        operation,
        read_references_inner(table, branches, operation, removed, added, false).await?,
    )
}

/// [`read_references_with`] (nothing added), reading runs of consecutive snapshots of a branch by delta replay:
/// the first completely, each later one's delta manifests, and its base list (every manifest
/// it names is needed, and its recorded file count must match the replay). Manifests only
/// later bases name are not read: Paimon writes a snapshot's base as its predecessor's base
/// and delta merged, so their entries are known ([`crate::liveness::chain_union`], proven
/// equal to the full merge by a property test). Tags, changelogs and snapshots committed
/// meanwhile are read completely.
pub(crate) async fn read_references_replayed(
    table: &Table,
    branches: &[Branch],
    operation: &'static str,
    removed: &(dyn Fn(&Version) -> bool + Sync),
) -> Result<References> {
    if let Some(refs) =
        read_references_inner(table, branches, operation, removed, Vec::new(), true).await?
    {
        return Ok(refs);
    }
    // A chain's replayed files did not match what its later base lists record (inconsistent
    // metadata, e.g. a DELETE of a file never added): the model decides on a complete read,
    // keeping and reporting what it cannot match, as without replay.
    tracing::warn!(
        "{operation}: the snapshots' recorded file counts do not add up for delta replay; \
         reading every snapshot completely"
    );
    without_replay(
        operation,
        read_references_inner(table, branches, operation, removed, Vec::new(), false).await?,
    )
}

/// The references read without delta replay, which always gives them.
fn without_replay(operation: &'static str, refs: Option<References>) -> Result<References> {
    refs.ok_or_else(|| Error::Aborted {
        operation,
        reason: "reading the references without replay asked for a replay".into(),
    })
}

async fn read_references_inner(
    table: &Table,
    branches: &[Branch],
    operation: &'static str,
    removed: &(dyn Fn(&Version) -> bool + Sync),
    added: Vec<Version>,
    replay: bool,
) -> Result<Option<References>> {
    // Version keys and manifests are the table root's, also when `table` is a branch.
    let table = &table.root_table();
    let mut refs = References {
        replay,
        ..References::default()
    };
    let mut listed = 0u64;
    let mut max_listed: HashMap<&str, Option<i64>> = HashMap::new();
    for b in branches {
        let found = load_versions(b).await?;
        listed += found.listed;
        max_listed.insert(&b.name, found.max_listed);
        refs.absorb(found);
    }
    let mut versions = std::mem::take(&mut refs.pending);
    versions.retain(|v| !removed(v));
    versions.extend(added);
    collect(table, versions, &mut refs).await?;

    // A commit that landed meanwhile may use files listed as candidates.
    for b in branches {
        let newer = newer_versions(b, max_listed.get(b.name.as_str()).copied().flatten()).await?;
        refs.absorb(newer);
    }
    let versions = std::mem::take(&mut refs.pending);
    collect(table, versions, &mut refs).await?;
    if !refs.add_live_data()? {
        return Ok(None);
    }

    // An empty reference set is a failure to read, never a licence to delete everything.
    let read = refs.snapshots + refs.tags + refs.changelogs;
    if listed > 0 && (read == 0 || refs.names.is_empty()) {
        return Err(Error::Aborted {
            operation,
            reason: format!(
                "{listed} snapshot, tag or changelog file(s) exist but no reference could be read"
            ),
        });
    }
    Ok(Some(refs))
}

impl References {
    /// The names of the data files live in some version (and their extra files), by the model's
    /// merge ([`live_union`]) over the manifests read.
    /// False, with nothing added, when a chain read by delta replay does not add up.
    fn add_live_data(&mut self) -> Result<bool> {
        let versions: Vec<Vec<String>> = self
            .versions
            .iter()
            .filter_map(|lists| {
                let mut manifests = Vec::new();
                for l in lists {
                    // A list that vanished belongs to a version that vanished (collect decided).
                    manifests.extend(self.lists.get(l)?.iter().cloned());
                }
                Some(manifests)
            })
            // A manifest that vanished likewise.
            .filter(|ms: &Vec<String>| ms.iter().all(|m| self.facts.contains_key(m)))
            .collect();
        let mut union = live_union(&versions, &self.facts)?;
        for (first, later) in &self.chains {
            let manifests_of = |list: &String| {
                self.lists.get(list).cloned().ok_or_else(|| Error::Aborted {
                    operation: "reading references",
                    reason: format!(
                        "manifest list manifest/{list} vanished while it was read (a concurrent \
                         expiration?): run again"
                    ),
                })
            };
            let mut chain = SnapshotChain {
                first: manifests_of(&first[0])?,
                later: Vec::new(),
            };
            chain.first.extend(manifests_of(&first[1])?);
            for [base, delta] in later {
                chain.later.push(LaterSnapshot {
                    base_list: base.clone(),
                    base_net_files: self.list_net.get(base).copied().unwrap_or(-1),
                    delta: manifests_of(delta)?,
                });
            }
            let Ok(one) = chain_union(&chain, &self.facts) else {
                return Ok(false);
            };
            union.live.extend(one.live);
            union.unmatched.extend(one.unmatched);
        }
        for id in union.live.iter().chain(&union.unmatched) {
            self.names.insert(id.shared_file_name());
            self.names
                .extend(id.extra_files().iter().map(|f| f.as_str().into()));
        }
        self.unmatched = union
            .unmatched
            .iter()
            .map(|id| id.file_name().to_string())
            .collect();
        Ok(true)
    }
}

/// Every snapshot, tag, changelog and consumer of one branch. A file that vanished between
/// listing and reading is skipped and recorded; any other failure is an error.
async fn load_versions(b: &Branch) -> Result<Found> {
    // One kind after another: tests (and a reader of the request log) rely on the snapshot
    // listing being followed by the snapshots' reads; each kind is read concurrently.
    let mut found = Found::default();
    let ids = listed_snapshot_ids(b).await?;
    found.listed += ids.len() as u64;
    found.max_listed = ids.last().map(|i| i.0);
    load_snapshots(b, &ids, &mut found).await?;
    load_tags(b, &mut found).await?;
    load_changelogs(b, &mut found).await?;
    found.consumers = read_consumers(b).await?;
    Ok(found)
}

async fn load_tags(b: &Branch, found: &mut Found) -> Result<()> {
    let names = b.table.tag_names().await?;
    found.listed += names.len() as u64;
    let futures: Vec<_> = names.iter().map(|n| b.table.try_load_tag(n)).collect();
    for (name, tag) in names.iter().zip(ordered(futures).await?) {
        let owner = b.label(&format!("tag '{name}'"));
        match tag {
            None => found.vanished.push(owner),
            Some(tag) => {
                found.tags += 1;
                found.versions.push(Version {
                    owner,
                    key: b.key(&tag_key(name)),
                    snapshot: tag.snapshot,
                    changelog: false,
                    data_lists: true,
                });
            }
        }
    }
    Ok(())
}

async fn load_changelogs(b: &Branch, found: &mut Found) -> Result<()> {
    let (files, _) = b.table.store().list_dir(CHANGELOG_DIR).await?;
    let keys: Vec<(SnapshotId, String)> = files
        .iter()
        .filter_map(|f| match PaimonFile::parse(name_of(&f.key)) {
            PaimonFile::ChangelogMeta(id) => Some((id, f.key.clone())),
            _ => None,
        })
        .collect();
    found.listed += keys.len() as u64;
    let futures: Vec<_> = keys
        .iter()
        .map(|(_, k)| b.table.store().get_opt(k))
        .collect();
    for ((id, key), bytes) in keys.iter().zip(ordered(futures).await?) {
        let owner = b.label(&format!("changelog {id}"));
        match bytes {
            None => found.vanished.push(owner),
            Some(bytes) => {
                found.changelogs += 1;
                found.versions.push(Version {
                    owner,
                    key: b.key(key),
                    snapshot: Snapshot::decode(&bytes, &b.key(key))?,
                    changelog: true,
                    data_lists: true,
                });
            }
        }
    }
    Ok(())
}

/// Consumers pin snapshots that are in the listing anyway; they are read so that a corrupt one
/// stops the run like any other unreadable metadata. Returns how many were read.
pub(crate) async fn read_consumers(b: &Branch) -> Result<u64> {
    let (files, _) = b.table.store().list_dir(CONSUMER_DIR).await?;
    let keys: Vec<&str> = files
        .iter()
        .filter(|f| matches!(PaimonFile::parse(name_of(&f.key)), PaimonFile::Consumer(_)))
        .map(|f| f.key.as_str())
        .collect();
    let futures: Vec<_> = keys.iter().map(|k| b.table.store().get_opt(k)).collect();
    let mut n = 0;
    for (k, bytes) in keys.iter().zip(ordered(futures).await?) {
        let Some(bytes) = bytes else {
            continue;
        };
        let key = b.key(k);
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(&key, e))?;
        v.get("nextSnapshot")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| Error::corrupt(&key, "missing 'nextSnapshot'"))?;
        n += 1;
    }
    Ok(n)
}

async fn load_snapshots(b: &Branch, ids: &[SnapshotId], found: &mut Found) -> Result<()> {
    let futures: Vec<_> = ids
        .iter()
        .map(|id| b.table.try_load_snapshot(*id))
        .collect();
    for (id, s) in ids.iter().zip(ordered(futures).await?) {
        let owner = b.label(&format!("snapshot {id}"));
        match s {
            None => found.vanished.push(owner),
            Some(snapshot) => {
                found.snapshots += 1;
                found.versions.push(Version {
                    owner,
                    key: b.key(&snapshot_key(*id)),
                    snapshot,
                    changelog: false,
                    data_lists: true,
                });
            }
        }
    }
    Ok(())
}

/// Ids after the largest one listed that are read one by one (each a GET) when the latest
/// snapshot is close; beyond that, one listing says which exist.
const MAX_PROBES: i64 = 64;

/// Snapshots of a branch newer than the largest id listed before. Ids come from file names and
/// may be anything up to `i64::MAX`, so the ids read are bounded by the files that exist:
/// a few probes right after the listed maximum, otherwise a fresh listing — in particular when
/// the branch had no snapshot at all at listing time (the first one may be any id).
async fn newer_versions(b: &Branch, max_listed: Option<i64>) -> Result<Found> {
    let mut found = Found::default();
    let Some(latest) = b.table.latest_snapshot_id().await? else {
        return Ok(found);
    };
    let from = match max_listed {
        // Nothing can follow the largest possible id.
        Some(m) => match m.checked_add(1) {
            Some(from) => Some(from),
            None => return Ok(found),
        },
        None => None,
    };
    let ids: Vec<SnapshotId> = match from {
        Some(from) if latest.0 < from => return Ok(found),
        Some(from) if latest.0 - from < MAX_PROBES => (from..=latest.0).map(SnapshotId).collect(),
        _ => listed_snapshot_ids(b)
            .await?
            .into_iter()
            .filter(|id| from.is_none_or(|f| id.0 >= f))
            .collect(),
    };
    load_snapshots(b, &ids, &mut found).await?;
    found.newer = found.versions.iter().map(|v| v.owner.clone()).collect();
    Ok(found)
}

/// The snapshot ids in a branch's `snapshot/`, ascending.
async fn listed_snapshot_ids(b: &Branch) -> Result<Vec<SnapshotId>> {
    let (files, _) = b.table.store().list_dir(SNAPSHOT_DIR).await?;
    let mut ids: Vec<SnapshotId> = files
        .iter()
        .filter_map(|f| match PaimonFile::parse(name_of(&f.key)) {
            PaimonFile::Snapshot(id) => Some(id),
            _ => None,
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// A file versions need, and who needs it.
#[derive(Debug, Default)]
struct Need {
    /// Some live version cannot be read without it (a long-lived changelog's base and delta
    /// lists, index and statistics may be gone: Java deletes them with its snapshot).
    required: bool,
    /// The versions naming it: (file key, label).
    owners: Vec<(String, String)>,
}

impl Need {
    fn add(&mut self, v: &Version, required: bool) {
        self.required |= required;
        self.owners.push((v.key.clone(), v.owner.clone()));
    }

    fn inherit(&mut self, from: &Need) {
        self.required |= from.required;
        self.owners.extend(from.owners.iter().cloned());
    }

    fn by(&self) -> String {
        self.owners
            .first()
            .map_or_else(|| "a version".to_string(), |(_, label)| label.clone())
    }
}

/// Read the references of `versions` into `refs`: their manifest lists, index manifests and
/// manifests, each file once however many versions share it, and none read before.
async fn collect(table: &Table, versions: Vec<Version>, refs: &mut References) -> Result<()> {
    let mut lists: BTreeMap<String, Need> = BTreeMap::new();
    let mut indexes: BTreeMap<String, Need> = BTreeMap::new();
    for v in &versions {
        let s = &v.snapshot;
        if v.data_lists {
            for list in [&s.base_manifest_list, &s.delta_manifest_list] {
                lists.entry(list.clone()).or_default().add(v, !v.changelog);
            }
            if let Some(im) = &s.index_manifest {
                indexes.entry(im.clone()).or_default().add(v, !v.changelog);
            }
            refs.names
                .extend(s.statistics.iter().map(|f| f.as_str().into()));
        }
        if let Some(list) = &s.changelog_manifest_list {
            lists.entry(list.clone()).or_default().add(v, true);
        }
    }
    refs.names.extend(lists.keys().map(|f| f.as_str().into()));
    refs.names.extend(indexes.keys().map(|f| f.as_str().into()));
    lists.retain(|name, _| refs.read.insert(name.clone()));
    indexes.retain(|name, _| refs.read.insert(name.clone()));

    // Manifest lists first: what each records decides which manifests are read.
    let phase = crate::progress::Phase::start("reading manifest lists", lists.len() as u64);
    let futures: Vec<_> = lists
        .iter()
        .map(|(name, need)| {
            let phase = &phase;
            async move {
                let by = need.by();
                let read = read_needed(table, need, table.manifest_list(name, &by)).await;
                phase.add(1);
                read
            }
        })
        .collect();
    let mut listed: HashMap<String, Vec<ManifestRecord>> = HashMap::new();
    for ((list, need), metas) in lists.iter().zip(ordered(futures).await?) {
        let Some(metas) = metas else {
            refs.mark_vanished(need);
            continue;
        };
        refs.lists.insert(
            list.clone(),
            metas.iter().map(|m| m.file_name.clone()).collect(),
        );
        refs.list_net.insert(
            list.clone(),
            metas
                .iter()
                .map(|m| m.num_added_files - m.num_deleted_files)
                .sum(),
        );
        for m in &metas {
            refs.names
                .extend(m.extra_files.iter().map(|f| f.as_str().into()));
            refs.names.insert(m.file_name.as_str().into());
        }
        // Kept until the manifests are read, for the checks against what the list records:
        // name, size and counts (the whole entries of 20,000 lists were 43 MB).
        listed.insert(list.clone(), metas.iter().map(ManifestRecord::of).collect());
    }
    drop(phase);

    // Chains of consecutive snapshots (delta replay): later snapshots' base lists' manifests
    // are not read.
    if std::mem::take(&mut refs.replay) {
        refs.chains = chains_of(&versions, &refs.list_net);
    }
    // The data lists of every snapshot in a chain; true for a chain's first snapshot (read
    // completely), false for a later one (only its delta is read). Any version with the same
    // lists (that snapshot, or a tag of it: a tag is a copy of one) has exactly that
    // snapshot's live files, which the chain's union holds already: it is not merged again,
    // and a later snapshot's base is not read for it (that read was most of the orphan
    // scan's memory on a table whose tags are of retained snapshots).
    let mut in_chain: HashMap<[&str; 2], bool> = HashMap::new();
    for (first, rest) in &refs.chains {
        in_chain.insert([first[0].as_str(), first[1].as_str()], true);
        for l in rest {
            in_chain
                .entry([l[0].as_str(), l[1].as_str()])
                .or_insert(false);
        }
    }
    // The lists whose manifests are read.
    let mut content: HashSet<&String> = HashSet::new();
    for v in &versions {
        let s = &v.snapshot;
        let pair = [
            s.base_manifest_list.as_str(),
            s.delta_manifest_list.as_str(),
        ];
        if v.data_lists {
            content.insert(&s.delta_manifest_list);
            if in_chain.get(&pair) != Some(&false) {
                content.insert(&s.base_manifest_list);
            }
            if !in_chain.contains_key(&pair) {
                refs.versions.push(vec![
                    s.base_manifest_list.clone(),
                    s.delta_manifest_list.clone(),
                ]);
            }
        }
        if let Some(list) = &s.changelog_manifest_list {
            content.insert(list);
            refs.versions.push(vec![list.clone()]);
        }
    }
    let mut manifests: BTreeMap<String, Need> = BTreeMap::new();
    // What the lists record of each manifest (size, entry counts), to check it when read.
    // With the list that recorded it: a mismatch may be the list's damage as well as the
    // manifest's, so the error names both.
    let mut recorded: HashMap<String, (ManifestRecord, String)> = HashMap::new();
    for (list, need) in &lists {
        // Lists read in this call whose manifests are needed (a list read before was handled
        // then; one that vanished has no entries).
        if !content.contains(list) {
            continue;
        }
        let Some(metas) = listed.remove(list) else {
            continue;
        };
        for m in metas {
            manifests
                .entry(m.file_name.clone())
                .or_default()
                .inherit(need);
            recorded
                .entry(m.file_name.clone())
                .or_insert_with(|| (m, list.clone()));
        }
    }
    let futures: Vec<_> = indexes
        .iter()
        .map(|(name, need)| read_needed(table, need, index_manifest(table, name, need)))
        .collect();
    for ((_, need), entries) in indexes.iter().zip(ordered(futures).await?) {
        match entries {
            None => refs.mark_vanished(need),
            Some(entries) => refs
                .names
                .extend(entries.into_iter().map(|e| e.file_name.into())),
        }
    }

    // Every manifest's entries, for the model's merge once all versions are read: a file only
    // DELETE entries mention is needed by no version (issue: such files were kept forever).
    manifests.retain(|name, _| refs.read.insert(name.clone()));
    let phase = crate::progress::Phase::start("reading manifests", manifests.len() as u64);
    // Each identity once: the facts share them (one file is named by many manifests).
    let identities: std::sync::Mutex<Interner> = Default::default();
    // In chunks: ten thousand read futures built up front were 30 MB of a million-file
    // scan (a lazy iterator of them is not `Send`, rustc #64552).
    let manifests: Vec<(&String, &Need)> = manifests.iter().collect();
    for chunk in manifests.chunks(READ_CHUNK) {
        let futures: Vec<_> = chunk
            .iter()
            .map(|(name, need)| read_facts(table, name, need, &recorded, &phase, &identities))
            .collect();
        for ((name, need), facts) in chunk.iter().zip(ordered(futures).await?) {
            let Some(facts) = facts else {
                refs.mark_vanished(need);
                continue;
            };
            refs.manifests += 1;
            refs.facts.insert((*name).clone(), facts);
        }
    }
    Ok(())
}

/// Manifests whose reads are built at once (each read's future is a few KiB).
const READ_CHUNK: usize = 1024;

/// One manifest read for the model: decoded without statistics and keys, and reduced to its
/// facts as soon as it is read (the full entries of every manifest held at once were most of
/// the scan's memory). `None` when it vanished and no live version needs it.
async fn read_facts(
    table: &Table,
    name: &str,
    need: &Need,
    recorded: &HashMap<String, (ManifestRecord, String)>,
    phase: &crate::progress::Phase,
    identities: &std::sync::Mutex<Interner>,
) -> Result<Option<ManifestFacts>> {
    let _step = Step(phase);
    let entries = match recorded.get(name) {
        Some((meta, list)) => {
            let by = format!("manifest list manifest/{list} of {}", need.by());
            read_needed(table, need, table.manifest_listing_recorded(meta, &by)).await
        }
        None => read_needed(table, need, table.manifest_listing(name, &need.by())).await,
    };
    entries.map(|e| {
        e.map(|entries| {
            let mut seen = identities
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            ManifestFacts::interned(&entries, &mut seen)
        })
    })
}

/// Split the snapshots among `versions` into chains of consecutive ids per branch: each
/// chain's first snapshot's base and delta lists, then each later snapshot's. A snapshot joins
/// its predecessor's chain only when its base list records as many
/// live files as the predecessor's base and delta lists together (`net`: ADD minus DELETE
/// entries per list, as read): a snapshot whose base was not made from its predecessor's (an
/// as-latest rollback's, or a list that vanished) starts a chain of its own and is read
/// completely, so a history that does not add up is read, not refused. [`chain_union`] checks
/// the same count against the replayed files.
fn chains_of(
    versions: &[Version],
    net: &HashMap<String, i64>,
) -> Vec<([String; 2], Vec<[String; 2]>)> {
    // Snapshot files by their directory (one per branch), with ids.
    let mut by_dir: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, v) in versions.iter().enumerate() {
        if v.changelog || !v.data_lists {
            continue;
        }
        let Some((dir, name)) = v.key.rsplit_once('/') else {
            continue;
        };
        let in_snapshot_dir = dir == SNAPSHOT_DIR || dir.ends_with(&format!("/{SNAPSHOT_DIR}"));
        if let (true, PaimonFile::Snapshot(id)) = (in_snapshot_dir, PaimonFile::parse(name)) {
            if id == v.snapshot.id {
                by_dir.entry(dir).or_default().push((id.0, i));
            }
        }
    }
    let lists = |i: usize| {
        let s = &versions[i].snapshot;
        [s.base_manifest_list.clone(), s.delta_manifest_list.clone()]
    };
    let links = |prev: usize, next: usize| {
        let (p, n) = (&versions[prev].snapshot, &versions[next].snapshot);
        match (
            net.get(&p.base_manifest_list),
            net.get(&p.delta_manifest_list),
            net.get(&n.base_manifest_list),
        ) {
            (Some(base), Some(delta), Some(next_base)) => base + delta == *next_base,
            _ => false,
        }
    };
    let mut chains = Vec::new();
    for (_, mut ids) in by_dir {
        ids.sort();
        let mut k = 0;
        while k < ids.len() {
            let mut end = k + 1;
            while end < ids.len()
                && ids[end].0 == ids[end - 1].0 + 1
                && links(ids[end - 1].1, ids[end].1)
            {
                end += 1;
            }
            if end - k > 1 {
                let rest: Vec<[String; 2]> =
                    ids[k + 1..end].iter().map(|(_, i)| lists(*i)).collect();
                chains.push((lists(ids[k].1), rest));
            }
            k = end;
        }
    }
    chains
}

async fn index_manifest(table: &Table, name: &str, need: &Need) -> Result<Vec<IndexManifestEntry>> {
    let key = manifest_key(name);
    let bytes = table
        .store()
        .get_opt(&key)
        .await?
        .ok_or_else(|| Error::MissingFile {
            path: key.clone(),
            referenced_by: need.by(),
        })?;
    decode_index_manifest(&bytes, &key)
}

/// Read a file versions need. A missing file is `None` when no live version needs it — every
/// version naming it vanished meanwhile (a concurrent expiration), or only versions that may
/// lack it name it — and an error otherwise: a live version's metadata is never read as empty.
async fn read_needed<T>(
    table: &Table,
    need: &Need,
    read: impl std::future::Future<Output = Result<T>>,
) -> Result<Option<T>> {
    match read.await {
        Ok(v) => Ok(Some(v)),
        Err(e @ Error::MissingFile { .. }) => {
            if !need.required
                || all_gone(table, need.owners.iter().map(|(k, _)| k.as_str())).await?
            {
                Ok(None)
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// True when none of these version files exists any more.
async fn all_gone(table: &Table, keys: impl Iterator<Item = &str>) -> Result<bool> {
    for k in keys {
        if table.store().head_opt(k).await?.is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Counts one step of a phase when dropped (whichever way the step's future ends).
struct Step<'a>(&'a crate::progress::Phase);

impl Drop for Step<'_> {
    fn drop(&mut self) {
        self.0.add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(id: i64) -> Version {
        let json = format!(
            r#"{{"version":3,"id":{id},"schemaId":0,"baseManifestList":"base-{id}",
            "deltaManifestList":"delta-{id}","commitUser":"u","commitIdentifier":{id},
            "commitKind":"APPEND","timeMillis":{id}}}"#
        );
        Version {
            owner: format!("snapshot {id}"),
            key: format!("snapshot/snapshot-{id}"),
            snapshot: Snapshot::decode(json.as_bytes(), "snapshot").unwrap(),
            changelog: false,
            data_lists: true,
        }
    }

    /// The chain of snapshot `first` and the `later` ones, as lists.
    fn chain(first: i64, later: &[i64]) -> ([String; 2], Vec<[String; 2]>) {
        let lists = |id: &i64| [format!("base-{id}"), format!("delta-{id}")];
        (lists(&first), later.iter().map(lists).collect())
    }

    /// ADD minus DELETE per list: each delta adds one file; snapshot 4's base does not hold
    /// what 3's base and delta did (as after a rollback that wrote its own base).
    fn nets() -> HashMap<String, i64> {
        let mut net = HashMap::new();
        for (id, base) in [(1, 0), (2, 1), (3, 2), (4, 7), (5, 8)] {
            net.insert(format!("base-{id}"), base);
            net.insert(format!("delta-{id}"), 1);
        }
        net
    }

    #[test]
    fn a_chain_ends_where_the_base_counts_do_not_add_up() {
        let versions: Vec<Version> = (1..=5).map(snapshot).collect();
        // 1-2-3 replay; 4 is read completely and starts the chain 4-5.
        assert_eq!(
            chains_of(&versions, &nets()),
            [chain(1, &[2, 3]), chain(4, &[5])]
        );
    }

    #[test]
    fn a_list_not_read_or_a_gap_in_ids_ends_a_chain() {
        let versions: Vec<Version> = [1, 2, 3, 5].into_iter().map(snapshot).collect();
        let mut net = nets();
        net.remove("delta-2");
        // 1-2 replay; 3 (predecessor's delta unknown) and 5 (gap) are read completely.
        assert_eq!(chains_of(&versions, &net), [chain(1, &[2])]);
    }
}
