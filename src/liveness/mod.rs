//! The one liveness model: which files the retained versions of a table need.
//!
//! **Roots.** Every version a reader can still open: the snapshots, tags and long-lived
//! changelogs of main and of every `branch/branch-*` (consumers pin snapshots that are in the
//! snapshot listing anyway; they are read so that a corrupt one stops a deletion).
//!
//! **Live.** A data file is live in a version when it survives merging the version's base and
//! delta manifests in order (Paimon's `FileEntry.mergeEntries`, [`crate::reach::live_entries`]):
//! an ADD inserts it, a DELETE removes it. A long-lived changelog's changelog files are live in
//! it. Manifest lists, manifests, index manifests and files and statistics are live when a
//! retained version names them. A file is **needed** when it is live in at least one retained
//! version, and a command may delete a file only when it is not needed after the command.
//! A DELETE entry in a retained manifest needs nothing: a file that only DELETE entries mention
//! is not live anywhere, whatever history left that entry behind.
//!
//! **Who decides through it.** `delete-tag`, `rollback-to --purge`, `expire-changelogs` and
//! `remove-orphan-files`
//! compute the needed set with [`gather::read_references_replayed`] (every root; consecutive snapshots by delta replay)
//! and delete only candidates outside it. `expire-snapshots` keeps its fast paths
//! (`_COMMIT_SNAPSHOT`, the nearest tag) and `rollback-to` its `_COMMIT_SNAPSHOT` one (which
//! hands every file it cannot decide, and every table with branches, to this model), which the
//! property tests in `tests/it/liveness_props.rs` prove equal to this model on random
//! histories; branch versions protect through this model there too.
//!
//! **Consistency.** A tag is a copy of one snapshot. One whose id is not a positive id at or below
//! the latest snapshot, or whose manifest lists differ from the retained snapshot of that id, is
//! corrupt for every deletion that depends on its id ([`check_tag`]).
//!
//! [`live_union`] is the pure heart: decoded manifests in, the set of live identities out.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::format::ids::SnapshotId;
use crate::format::manifest::{FileKind, ListingEntry, ManifestEntry};
use crate::format::snapshot::Snapshot;
use crate::reach::{EntryIdentity, Interner};

/// Names of the files retained versions need (Paimon names every file uniquely). Shared
/// strings: a data file's name is its identity's ([`EntryIdentity::shared_file_name`]), held
/// once for a million files.
pub(crate) type NeededNames = HashSet<std::sync::Arc<str>>;

pub(crate) mod gather;

/// The entries of one data manifest, reduced to what liveness needs: kind and identity.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ManifestFacts {
    /// In manifest order.
    pub entries: Vec<(FileKind, EntryIdentity)>,
}

impl ManifestFacts {
    /// The facts of a decoded manifest.
    pub fn of(entries: &[ManifestEntry]) -> Self {
        ManifestFacts {
            entries: entries
                .iter()
                .map(|e| (e.kind, EntryIdentity::of(e)))
                .collect(),
        }
    }

    /// The facts of a manifest decoded for listing, its identities shared with equal ones
    /// `seen` has ([`Interner`]): a file named by many manifests is held once.
    pub fn interned(entries: &[ListingEntry], seen: &mut Interner) -> Self {
        ManifestFacts {
            entries: entries.iter().map(|e| (e.kind, seen.identity(e))).collect(),
        }
    }
}

/// What the model finds over a set of versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveUnion {
    /// Identities live in at least one version.
    pub live: HashSet<EntryIdentity>,
    /// Identities a version deletes without having added them before (in its own read order).
    /// Consistent metadata has none: Paimon's manifests list every file's ADD before its
    /// DELETE, and merging keeps a DELETE only while its ADD is in an earlier manifest. One is
    /// damage (a flipped kind, a changed bucket or level) or a history the table does not
    /// explain, so the files they name are kept: nothing is deleted on the word of
    /// inconsistent metadata.
    pub unmatched: HashSet<EntryIdentity>,
}

/// The union over `versions` of each version's live entries, and the DELETE entries that
/// match no earlier ADD. A version is the names of its data manifests in read order (base
/// list, then delta list); every name must be in `manifests`, or the version is unreadable and
/// an error names the manifest.
///
/// Pure and exact: it equals merging each version separately ([`live_union_per_version`]) and
/// taking the union, but most identities are decided once for all versions: one that some
/// manifest adds and no manifest deletes is live in every version holding that ADD; one that
/// is only deleted is live nowhere (and unmatched wherever it is deleted). Only identities
/// both added and deleted somewhere (level changes, compactions, rollbacks that add a file
/// back) are merged version by version.
pub fn live_union(
    versions: &[Vec<String>],
    manifests: &HashMap<String, ManifestFacts>,
) -> Result<LiveUnion> {
    let facts = |name: &str| {
        manifests.get(name).ok_or_else(|| Error::MissingFile {
            path: crate::table::layout::manifest_key(name),
            referenced_by: "a retained version (the liveness model)".into(),
        })
    };
    let mut used: HashSet<&str> = HashSet::new();
    for v in versions {
        for m in v {
            facts(m)?;
            used.insert(m);
        }
    }
    // Which kinds each identity has across every manifest a version uses.
    let mut kinds: HashMap<&EntryIdentity, (bool, bool)> = HashMap::new();
    for m in &used {
        for (kind, id) in &facts(m)?.entries {
            let k = kinds.entry(id).or_default();
            match kind {
                FileKind::Add => k.0 = true,
                FileKind::Delete => k.1 = true,
            }
        }
    }
    let mut out = LiveUnion::default();
    for (id, (add, del)) in &kinds {
        match (add, del) {
            (true, false) => {
                out.live.insert((*id).clone());
            }
            (false, true) => {
                out.unmatched.insert((*id).clone());
            }
            _ => {}
        }
    }
    let doubtful: HashSet<&EntryIdentity> = kinds
        .iter()
        .filter(|(_, (add, del))| *add && *del)
        .map(|(id, _)| *id)
        .collect();
    if doubtful.is_empty() {
        return Ok(out);
    }
    // Per manifest, only its entries of doubtful identities.
    let mut doubtful_in: HashMap<&str, Vec<(FileKind, &EntryIdentity)>> = HashMap::new();
    for m in &used {
        let picked: Vec<(FileKind, &EntryIdentity)> = facts(m)?
            .entries
            .iter()
            .filter(|(_, id)| doubtful.contains(id))
            .map(|(k, id)| (*k, id))
            .collect();
        if !picked.is_empty() {
            doubtful_in.insert(m, picked);
        }
    }
    for v in versions {
        let mut state: HashSet<&EntryIdentity> = HashSet::new();
        for m in v {
            for (kind, id) in doubtful_in.get(m.as_str()).into_iter().flatten() {
                merge_entry(&mut state, *kind, id, &mut out.unmatched);
            }
        }
        out.live.extend(state.into_iter().cloned());
    }
    Ok(out)
}

/// The model by definition: merge every version on its own, then take the union. Slow
/// (every entry of every version), used to prove [`live_union`] and the fast paths equal to it.
pub fn live_union_per_version(
    versions: &[Vec<String>],
    manifests: &HashMap<String, ManifestFacts>,
) -> Result<LiveUnion> {
    let mut out = LiveUnion::default();
    for v in versions {
        let one = live_in_version(v, manifests)?;
        out.live.extend(one.live);
        out.unmatched.extend(one.unmatched);
    }
    Ok(out)
}

/// What is live in one version (its data manifests in read order), in order of first ADD, and
/// the DELETE entries that match no earlier ADD. For callers that need to know which version
/// a file is live in (check names the version that needs a missing file).
pub fn live_in_version(
    version: &[String],
    manifests: &HashMap<String, ManifestFacts>,
) -> Result<LiveInVersion> {
    let mut out = LiveInVersion::default();
    let mut order: Vec<&EntryIdentity> = Vec::new();
    let mut state: HashSet<&EntryIdentity> = HashSet::new();
    for m in version {
        let facts = manifests.get(m).ok_or_else(|| Error::MissingFile {
            path: crate::table::layout::manifest_key(m),
            referenced_by: "a retained version (the liveness model)".into(),
        })?;
        for (kind, id) in &facts.entries {
            if merge_entry(&mut state, *kind, id, &mut out.unmatched) {
                order.push(id);
            }
        }
    }
    out.live = order
        .into_iter()
        .filter(|id| state.contains(id))
        .cloned()
        .collect();
    Ok(out)
}

/// Consecutive snapshots of one branch, for [`chain_union`]: the first one's data manifests in
/// read order (base, then delta), and for each later one its base list's name, the net number
/// of files that list records (ADDs minus DELETEs over its manifests) and its delta manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotChain {
    /// The first snapshot's data manifests (base list, then delta list).
    pub first: Vec<String>,
    /// Each later snapshot, in id order.
    pub later: Vec<LaterSnapshot>,
}

/// A snapshot after the first of a [`SnapshotChain`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaterSnapshot {
    /// Its base manifest list (for messages).
    pub base_list: String,
    /// ADD minus DELETE entries over the manifests its base list names, as the list records.
    pub base_net_files: i64,
    /// Its delta manifests, in order.
    pub delta: Vec<String>,
}

/// The model's union over a chain of consecutive snapshots, by delta replay: the first
/// snapshot merged completely, then each later snapshot's delta applied to the previous
/// snapshot's live set. Paimon writes every snapshot's base as its predecessor's base and
/// delta merged, so this equals merging each snapshot on its own ([`live_union_per_version`],
/// proven by the property test below) while reading each delta once instead of every base.
/// A base whose recorded file count differs from its predecessor's live count breaks that
/// premise and is an error naming the list (fail closed: the caller deletes nothing).
pub fn chain_union(
    chain: &SnapshotChain,
    manifests: &HashMap<String, ManifestFacts>,
) -> Result<LiveUnion> {
    let facts = |name: &str| {
        manifests.get(name).ok_or_else(|| Error::MissingFile {
            path: crate::table::layout::manifest_key(name),
            referenced_by: "a retained version (the liveness model)".into(),
        })
    };
    let mut out = LiveUnion::default();
    let mut state: HashSet<&EntryIdentity> = HashSet::new();
    for m in &chain.first {
        for (kind, id) in &facts(m)?.entries {
            merge_entry(&mut state, *kind, id, &mut out.unmatched);
        }
    }
    out.live.extend(state.iter().map(|id| (*id).clone()));
    for s in &chain.later {
        if s.base_net_files != state.len() as i64 {
            return Err(Error::corrupt(
                crate::table::layout::manifest_key(&s.base_list),
                format!(
                    "the base list records {} live files, but its predecessor snapshot has {}:                      the history does not add up, so no file is deleted on its word",
                    s.base_net_files,
                    state.len()
                ),
            ));
        }
        let mut added: Vec<&EntryIdentity> = Vec::new();
        for m in &s.delta {
            for (kind, id) in &facts(m)?.entries {
                if merge_entry(&mut state, *kind, id, &mut out.unmatched) {
                    added.push(id);
                }
            }
        }
        // What this snapshot adds and still holds at its end is live in it; the rest of its
        // live set was live in its predecessor already.
        for id in added {
            if state.contains(id) && !out.live.contains(id) {
                out.live.insert(id.clone());
            }
        }
    }
    Ok(out)
}

/// The model's merge of one manifest entry into a version's live set: an ADD inserts its
/// identity, a DELETE removes it, and a DELETE with nothing to remove is recorded in
/// `unmatched` (inconsistent metadata: the file is kept). True when an ADD inserted an
/// identity not yet live.
fn merge_entry<'a>(
    state: &mut HashSet<&'a EntryIdentity>,
    kind: FileKind,
    id: &'a EntryIdentity,
    unmatched: &mut HashSet<EntryIdentity>,
) -> bool {
    match kind {
        FileKind::Add => state.insert(id),
        FileKind::Delete => {
            if !state.remove(id) {
                unmatched.insert(id.clone());
            }
            false
        }
    }
}

/// One version's answer of the model ([`live_in_version`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveInVersion {
    /// Live identities, in order of first ADD.
    pub live: Vec<EntryIdentity>,
    /// DELETE entries without an earlier ADD in this version.
    pub unmatched: HashSet<EntryIdentity>,
}

/// What is wrong with a tag, if anything, against the snapshots of its branch: its id must be
/// positive and at most `latest` (a tag of a branch without snapshots has no bound), and when
/// the snapshot of that id is retained the tag must name the same manifest lists — a tag is a
/// copy of one snapshot. `retained` is that snapshot when it exists.
///
/// Deletions that depend on the tag's id (which neighbours protect what, which tags a rollback
/// removes, which snapshots the tag pins) must not trust a tag that fails this.
pub fn check_tag(
    tag_key: &str,
    tag: &Snapshot,
    latest: Option<SnapshotId>,
    retained: Option<&Snapshot>,
) -> Result<()> {
    let id = tag.id;
    let corrupt = |reason: String| {
        Err(Error::corrupt(
            tag_key,
            format!("{reason}; a tag is a copy of one snapshot, so deletions that depend on it are refused (fix or delete the tag file by hand)"),
        ))
    };
    if id.0 <= 0 {
        return corrupt(format!("the tag's snapshot id {id} is not a valid id"));
    }
    if let Some(latest) = latest {
        if id > latest {
            return corrupt(format!(
                "the tag's snapshot id {id} is beyond the latest snapshot {latest} (a rollback-to interrupted after deleting newer snapshots leaves such tags: run it again to finish)"
            ));
        }
    }
    if let Some(s) = retained {
        if s.base_manifest_list != tag.base_manifest_list
            || s.delta_manifest_list != tag.delta_manifest_list
        {
            return corrupt(format!(
                "the tag claims snapshot {id}, but its manifest lists ({}, {}) differ from those of {} ({}, {}): one of the two files is damaged",
                tag.base_manifest_list,
                tag.delta_manifest_list,
                crate::table::layout::snapshot_key(id),
                s.base_manifest_list,
                s.delta_manifest_list
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reach::tests::entry;
    use proptest::prelude::*;

    fn names(set: &HashSet<EntryIdentity>) -> Vec<String> {
        let mut v: Vec<String> = set.iter().map(|id| format!("{id:?}")).collect();
        v.sort();
        v
    }

    /// Every manifest of the pypaimon and Java fixtures: the facts the model reads (listing
    /// decoder, identities interned) equal those of the full decoder, and an identity named
    /// by several manifests is held once.
    #[test]
    fn interned_listing_facts_equal_full_facts_on_every_fixture_manifest() {
        fn manifests(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().to_string();
                if p.is_dir() {
                    manifests(&p, out);
                } else if name.starts_with("manifest-")
                    && !name.starts_with("manifest-list-")
                    && p.parent().is_some_and(|d| d.ends_with("manifest"))
                {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let mut files = Vec::new();
        manifests(&root.join("warehouse"), &mut files);
        manifests(&root.join("java"), &mut files);
        let mut seen = Interner::default();
        let (mut compared, mut entries) = (0, 0);
        for f in &files {
            let bytes = std::fs::read(f).expect("fixture readable");
            let path = f.display().to_string();
            // Damaged fixtures (testdata/bad) are not under these roots; an index manifest
            // or other non-data manifest does not decode as one and is skipped.
            let Ok(full) = crate::format::manifest::decode_manifest(&bytes, &path) else {
                continue;
            };
            let listing = crate::format::manifest::decode_manifest_listing(&bytes, &path)
                .expect("what decodes fully decodes for listing");
            let interned = ManifestFacts::interned(&listing, &mut seen);
            assert_eq!(interned, ManifestFacts::of(&full), "{path}");
            compared += 1;
            entries += interned.entries.len();
        }
        assert!(compared >= 50, "only {compared} fixture manifests found");
        // Shared: as many allocations as distinct identities, however many entries.
        assert!(
            seen.len() < entries,
            "{} identities for {entries} entries",
            seen.len()
        );
    }

    #[test]
    fn a_file_only_deleted_is_live_nowhere_and_a_readded_file_is_live() {
        use FileKind::*;
        let mut m = HashMap::new();
        m.insert(
            "base".to_string(),
            ManifestFacts::of(&[entry(Add, "a", 0), entry(Delete, "gone", 0)]),
        );
        m.insert(
            "d1".to_string(),
            ManifestFacts::of(&[entry(Delete, "a", 0)]),
        );
        m.insert("d2".to_string(), ManifestFacts::of(&[entry(Add, "a", 0)]));
        // Version 1 deletes a; version 2 adds it back.
        let v1 = vec![vec!["base".to_string(), "d1".to_string()]];
        let u = live_union(&v1, &m).expect("readable");
        assert!(u.live.is_empty(), "{:?}", names(&u.live));
        // "gone" is deleted without an ADD before it: inconsistent, so it is kept.
        assert_eq!(u.unmatched.len(), 1);
        let v2 = vec![
            vec!["base".to_string(), "d1".to_string()],
            vec!["base".to_string(), "d1".to_string(), "d2".to_string()],
        ];
        let u = live_union(&v2, &m).expect("readable");
        assert_eq!(u, live_union_per_version(&v2, &m).expect("ok"));
        assert_eq!(u.live.len(), 1);
    }

    #[test]
    fn a_missing_manifest_is_an_error_naming_it() {
        let m = HashMap::new();
        let err = live_union(&[vec!["m-1".to_string()]], &m).expect_err("missing");
        assert!(err.to_string().contains("manifest/m-1"), "{err}");
    }

    #[test]
    fn tag_consistency() {
        let s = |id: i64, base: &str| {
            let json = format!(
                r#"{{"version":3,"id":{id},"schemaId":0,"baseManifestList":"{base}","deltaManifestList":"d","commitUser":"u","commitIdentifier":1,"commitKind":"APPEND","timeMillis":1}}"#
            );
            Snapshot::decode(json.as_bytes(), "x").expect("valid")
        };
        let latest = Some(SnapshotId(9));
        assert!(check_tag("tag/tag-a", &s(5, "b5"), latest, None).is_ok());
        assert!(check_tag("tag/tag-a", &s(5, "b5"), latest, Some(&s(5, "b5"))).is_ok());
        for bad in [0, -1, 10, i64::MAX] {
            let e = check_tag("tag/tag-a", &s(bad, "b5"), latest, None).expect_err("bad id");
            assert_eq!(e.kind(), "corrupt", "{e}");
            assert!(e.to_string().contains("tag/tag-a"), "{e}");
        }
        let e = check_tag("tag/tag-a", &s(5, "b9"), latest, Some(&s(5, "b5")))
            .expect_err("lists differ");
        assert!(e.to_string().contains("differ"), "{e}");
    }

    /// Manifests as (add?, file, level) entries, and versions as manifest indexes.
    type History = (Vec<Vec<(bool, u8, u8)>>, Vec<Vec<usize>>);

    fn arb_versions() -> impl Strategy<Value = History> {
        // Up to 6 manifests of up to 8 entries (add?, file 0..6, level 0..2); up to 5 versions
        // each naming up to 5 manifests (with repeats, as shared bases do).
        let manifests = prop::collection::vec(
            prop::collection::vec((any::<bool>(), 0u8..6, 0u8..2), 0..8),
            1..6,
        );
        manifests.prop_flat_map(|ms| {
            let n = ms.len();
            let versions = prop::collection::vec(prop::collection::vec(0..n, 0..5), 0..5);
            (Just(ms), versions)
        })
    }

    /// A history as Paimon writes it: each delta is (add?, file, level) entries; snapshot i's
    /// base is one manifest of ADDs of snapshot i-1's live files (split in two at `split`).
    type Deltas = Vec<Vec<(bool, u8, u8)>>;

    fn arb_chain() -> impl Strategy<Value = (Deltas, usize)> {
        (
            prop::collection::vec(
                prop::collection::vec((any::<bool>(), 0u8..8, 0u8..2), 0..8),
                1..7,
            ),
            0usize..4,
        )
    }

    proptest! {
        #[test]
        fn chain_union_equals_the_model((deltas, split) in arb_chain()) {
            use FileKind::*;
            let mut m: HashMap<String, ManifestFacts> = HashMap::new();
            let to_entries = |d: &Vec<(bool, u8, u8)>| -> Vec<ManifestEntry> {
                d.iter()
                    .map(|(add, f, l)| entry(if *add { Add } else { Delete }, &format!("f{f}"), i32::from(*l)))
                    .collect()
            };
            let mut versions: Vec<Vec<String>> = Vec::new();
            let mut chain = SnapshotChain::default();
            let mut previous: Vec<String> = Vec::new();
            for (i, d) in deltas.iter().enumerate() {
                // Base of snapshot i: snapshot i-1's live files, as Paimon's merge writes them.
                let mut live = live_in_version(&previous, &m).expect("readable").live;
                // (A file added, deleted and added again is listed once per ADD.)
                let mut seen = HashSet::new();
                live.retain(|id| seen.insert(id.clone()));
                let adds: Vec<ManifestEntry> = live
                    .iter()
                    .map(|id| entry(Add, id.file_name(), id.level()))
                    .collect();
                let cut = split.min(adds.len());
                let (b1, b2) = (format!("b{i}a"), format!("b{i}b"));
                m.insert(b1.clone(), ManifestFacts::of(&adds[..cut]));
                m.insert(b2.clone(), ManifestFacts::of(&adds[cut..]));
                let dn = format!("d{i}");
                m.insert(dn.clone(), ManifestFacts::of(&to_entries(d)));
                let version = vec![b1.clone(), b2.clone(), dn.clone()];
                if i == 0 {
                    chain.first = version.clone();
                } else {
                    chain.later.push(LaterSnapshot {
                        base_list: format!("list-{i}"),
                        base_net_files: adds.len() as i64,
                        delta: vec![dn.clone()],
                    });
                }
                previous = version.clone();
                versions.push(version);
            }
            let replay = chain_union(&chain, &m).expect("consistent");
            let model = live_union_per_version(&versions, &m).expect("readable");
            prop_assert_eq!(names(&replay.live), names(&model.live));
            prop_assert_eq!(names(&replay.unmatched), names(&model.unmatched));
        }

        #[test]
        fn chain_union_refuses_a_base_that_does_not_add_up(extra in 1i64..3) {
            use FileKind::*;
            let mut m: HashMap<String, ManifestFacts> = HashMap::new();
            m.insert("d0".into(), ManifestFacts::of(&[entry(Add, "a", 0)]));
            m.insert("d1".into(), ManifestFacts::of(&[entry(Add, "b", 0)]));
            let chain = SnapshotChain {
                first: vec!["d0".into()],
                later: vec![LaterSnapshot {
                    base_list: "list-1".into(),
                    base_net_files: 1 + extra,
                    delta: vec!["d1".into()],
                }],
            };
            let e = chain_union(&chain, &m).expect_err("does not add up");
            prop_assert_eq!(e.kind(), "corrupt");
            prop_assert!(e.to_string().contains("manifest/list-1"), "{}", e);
        }

        #[test]
        fn live_union_equals_the_model((ms, vs) in arb_versions()) {
            let mut m = HashMap::new();
            for (i, entries) in ms.iter().enumerate() {
                let decoded: Vec<ManifestEntry> = entries
                    .iter()
                    .map(|(add, f, l)| {
                        entry(if *add { FileKind::Add } else { FileKind::Delete }, &format!("f{f}"), i32::from(*l))
                    })
                    .collect();
                m.insert(format!("m{i}"), ManifestFacts::of(&decoded));
            }
            let versions: Vec<Vec<String>> = vs
                .iter()
                .map(|v| v.iter().map(|i| format!("m{i}")).collect())
                .collect();
            let fast = live_union(&versions, &m).expect("readable");
            let model = live_union_per_version(&versions, &m).expect("readable");
            // And the model agrees with the reader's merge, version by version.
            let mut by_reader = HashSet::new();
            for v in &versions {
                let entries: Vec<ManifestEntry> = v
                    .iter()
                    .flat_map(|name| {
                        let i: usize = name[1..].parse().expect("index");
                        ms[i].iter().map(|(add, f, l)| {
                            entry(if *add { FileKind::Add } else { FileKind::Delete }, &format!("f{f}"), i32::from(*l))
                        }).collect::<Vec<_>>()
                    })
                    .collect();
                by_reader.extend(crate::reach::live_entries(entries).iter().map(EntryIdentity::of));
            }
            prop_assert_eq!(names(&fast.live), names(&model.live));
            prop_assert_eq!(names(&fast.unmatched), names(&model.unmatched));
            prop_assert_eq!(names(&model.live), names(&by_reader));
        }
    }
}
