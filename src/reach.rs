//! Pure set logic over decoded manifests: which files are live.

use std::collections::HashMap;

use crate::format::manifest::{FileKind, ListingEntry, ManifestEntry};

/// Paimon's identity of a file entry (`FileEntry.Identifier`): partition bytes, bucket, level,
/// file name, extra files, embedded index and external path. Level is part of it, so an
/// in-place level upgrade (`DELETE` at level a, `ADD` at level b of the same name) keeps the
/// file live.
///
/// Shared (`Arc`): the liveness model holds one identity per entry of every manifest it reads,
/// millions on a large table, and the same file appears in many manifests. Interning them
/// ([`Interner`]) makes each further entry a pointer; equal identities compare
/// equal whether shared or not. Kept small for the same reason (a million of them on a
/// million-file table): the file name is shared with the needed-names set
/// ([`EntryIdentity::shared_file_name`]), a partition is shared by every identity of its
/// partition ([`Interner`]), and the fields most files leave empty sit
/// behind one pointer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryIdentity(std::sync::Arc<Parts>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct Parts {
    partition: std::sync::Arc<[u8]>,
    bucket: i32,
    level: i32,
    file_name: std::sync::Arc<str>,
    /// `None` exactly when there are no extra files, no embedded index and no external path
    /// (one normal form, so derived equality is the identity's).
    rare: Option<Box<RareParts>>,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RareParts {
    extra_files: Vec<String>,
    embedded_index: Option<Vec<u8>>,
    external_path: Option<String>,
}

impl RareParts {
    fn of(
        extra_files: &[String],
        embedded_index: Option<&[u8]>,
        external_path: Option<&str>,
    ) -> Option<Box<Self>> {
        if extra_files.is_empty() && embedded_index.is_none() && external_path.is_none() {
            return None;
        }
        Some(Box::new(RareParts {
            extra_files: extra_files.to_vec(),
            embedded_index: embedded_index.map(<[u8]>::to_vec),
            external_path: external_path.map(str::to_string),
        }))
    }
}

impl EntryIdentity {
    /// The identity of an entry.
    pub fn of(e: &ManifestEntry) -> Self {
        Self::of_ref(&IdentityRef::of(e), None)
    }

    fn of_ref(r: &IdentityRef<'_>, partition: Option<std::sync::Arc<[u8]>>) -> Self {
        EntryIdentity(std::sync::Arc::new(Parts {
            partition: partition.unwrap_or_else(|| r.partition.into()),
            bucket: r.bucket,
            level: r.level,
            file_name: r.file_name.into(),
            rare: RareParts::of(r.extra_files, r.embedded_index, r.external_path),
        }))
    }

    /// The data file's name.
    pub fn file_name(&self) -> &str {
        &self.0.file_name
    }

    /// The data file's name, shared (a set of needed names holds it without a copy).
    pub fn shared_file_name(&self) -> std::sync::Arc<str> {
        self.0.file_name.clone()
    }

    /// Its level.
    pub fn level(&self) -> i32 {
        self.0.level
    }

    /// The names of its extra files (in the data file's directory).
    pub fn extra_files(&self) -> &[String] {
        self.0
            .rare
            .as_ref()
            .map_or(&[][..], |r| r.extra_files.as_slice())
    }
}

/// Shares equal identities, and equal partitions among identities: a file named by many
/// manifests is held once, and a partition once however many files it has.
#[derive(Debug, Default)]
pub struct Interner {
    identities: std::collections::HashSet<EntryIdentity>,
    partitions: std::collections::HashSet<std::sync::Arc<[u8]>>,
}

impl Interner {
    /// The identity of a listing entry, shared with an equal one seen before.
    pub fn identity(&mut self, e: &ListingEntry) -> EntryIdentity {
        let partition = match self.partitions.get(&*e.partition) {
            Some(p) => p.clone(),
            None => {
                let p: std::sync::Arc<[u8]> = e.partition.as_ref().into();
                self.partitions.insert(p.clone());
                p
            }
        };
        let id = EntryIdentity::of_ref(&e.identity(), Some(partition));
        match self.identities.get(&id) {
            Some(known) => known.clone(),
            None => {
                self.identities.insert(id.clone());
                id
            }
        }
    }

    /// Distinct identities seen.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// None seen yet.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

/// [`EntryIdentity`] borrowed from an entry, for merging without copying every entry's
/// partition, name and extra files (that copying and SipHash were a quarter of listing a
/// 100,000-file snapshot).
#[derive(Debug, PartialEq, Eq, Hash)]
#[doc(hidden)]
pub struct IdentityRef<'a> {
    partition: &'a [u8],
    bucket: i32,
    level: i32,
    file_name: &'a str,
    extra_files: &'a [String],
    embedded_index: Option<&'a [u8]>,
    external_path: Option<&'a str>,
}

/// An entry [`live_entries`] can merge: its kind and its identity.
pub trait MergeEntry {
    /// ADD or DELETE.
    fn kind(&self) -> FileKind;
    /// The file's identity, borrowed.
    #[doc(hidden)]
    fn identity(&self) -> IdentityRef<'_>;
}

impl MergeEntry for ManifestEntry {
    fn kind(&self) -> FileKind {
        self.kind
    }
    fn identity(&self) -> IdentityRef<'_> {
        IdentityRef::of(self)
    }
}

impl MergeEntry for crate::format::manifest::ListingEntry {
    fn kind(&self) -> FileKind {
        self.kind
    }
    fn identity(&self) -> IdentityRef<'_> {
        IdentityRef {
            partition: &self.partition,
            bucket: self.bucket,
            level: self.level,
            file_name: &self.file_name,
            extra_files: &self.extra_files,
            embedded_index: self.embedded_index.as_deref(),
            external_path: self.external_path.as_deref(),
        }
    }
}

impl<'a> IdentityRef<'a> {
    fn of(e: &'a ManifestEntry) -> Self {
        IdentityRef {
            partition: &e.partition,
            bucket: e.bucket,
            level: e.file.level,
            file_name: &e.file.file_name,
            extra_files: &e.file.extra_files,
            embedded_index: e.file.embedded_index.as_deref(),
            external_path: e.file.external_path.as_deref(),
        }
    }
}

/// The multiply-rotate hash rustc uses (FxHash): several times faster than SipHash on short
/// keys. Keys here are file identities from the table's own manifests (random UUID names), so
/// hash flooding is not a concern.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// Merge entries in manifest order (`FileEntry.mergeEntries`) and keep the live ADDs.
///
/// An ADD inserts the file; a DELETE removes it if present. Order matters: a file that is
/// deleted and later added again (as a non-destructive rollback does) is live. A DELETE of a
/// file never added is ignored here, as Paimon's readers do when listing.
///
/// Generic over the entry type so that the compact entries of a listing
/// ([`ListingEntry`](crate::format::manifest::ListingEntry)) merge through this same code.
pub fn live_entries<T: MergeEntry>(entries: impl IntoIterator<Item = T>) -> Vec<T> {
    let entries: Vec<T> = entries.into_iter().collect();
    if all_distinct_adds(&entries) {
        // Nothing to merge: what the merge below would return, without its index of a
        // million identities (the largest cost of listing one huge compacted manifest).
        return entries;
    }
    merge_live(entries)
}

/// True when every entry is an ADD and no two have the same identity: then
/// [`merge_live`] returns the entries unchanged. Decided on 64-bit hashes of the identities,
/// sorted: equal identities have equal hashes, so distinct hashes prove distinct identities;
/// an equal pair (a duplicate, or a collision) answers false and the full merge decides.
fn all_distinct_adds<T: MergeEntry>(entries: &[T]) -> bool {
    use std::hash::BuildHasher;
    if entries.iter().any(|e| e.kind() != FileKind::Add) {
        return false;
    }
    let build = FxBuild::default();
    let mut hashes: Vec<u64> = entries
        .iter()
        .map(|e| build.hash_one(e.identity()))
        .collect();
    hashes.sort_unstable();
    hashes.windows(2).all(|w| w[0] != w[1])
}

/// The merge itself (see [`live_entries`]): an index of identities to output positions.
fn merge_live<T: MergeEntry>(entries: Vec<T>) -> Vec<T> {
    let mut entries: Vec<Option<T>> = entries.into_iter().map(Some).collect();
    // For each ADD's position (first occurrence order), the entry that fills it: a duplicate
    // ADD is a Paimon error; the later entry wins and the file stays once, where it was first.
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(entries.len());
    {
        let mut index: HashMap<IdentityRef<'_>, usize, FxBuild> =
            HashMap::with_capacity_and_hasher(entries.len(), FxBuild::default());
        for (i, entry) in entries.iter().enumerate() {
            let Some(entry) = entry else { continue };
            let id = entry.identity();
            match entry.kind() {
                FileKind::Add => match index.get(&id) {
                    Some(&at) => slots[at] = Some(i),
                    None => {
                        index.insert(id, slots.len());
                        slots.push(Some(i));
                    }
                },
                FileKind::Delete => {
                    if let Some(at) = index.remove(&id) {
                        slots[at] = None;
                    }
                }
            }
        }
    }
    slots
        .into_iter()
        .flatten()
        .filter_map(|i| entries.get_mut(i).and_then(Option::take))
        .collect()
}

/// Java's `FileEntry.mergeEntries` for manifest merging: like [`live_entries`], but a DELETE
/// whose file is not among the entries is kept (it deletes a file in an earlier manifest).
pub fn merge_entries(entries: impl IntoIterator<Item = ManifestEntry>) -> Vec<ManifestEntry> {
    let mut slots: Vec<Option<ManifestEntry>> = Vec::new();
    let mut index: HashMap<EntryIdentity, usize> = HashMap::new();
    for entry in entries {
        let id = EntryIdentity::of(&entry);
        match (entry.kind, index.get(&id).copied()) {
            (FileKind::Add, Some(at)) => slots[at] = Some(entry),
            (FileKind::Delete, Some(at))
                if slots[at].as_ref().is_some_and(|e| e.kind == FileKind::Add) =>
            {
                slots[at] = None;
                index.remove(&id);
            }
            (_, _) => {
                index.insert(id, slots.len());
                slots.push(Some(entry));
            }
        }
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::manifest::{DataFileMeta, SimpleStats};

    /// A manifest entry of one file (shared by the liveness tests).
    pub(crate) fn entry(kind: FileKind, name: &str, level: i32) -> ManifestEntry {
        ManifestEntry {
            kind,
            partition: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            bucket: 0,
            total_buckets: 1,
            file: DataFileMeta {
                file_name: name.into(),
                file_size: 1,
                row_count: 1,
                min_key: vec![],
                max_key: vec![],
                key_stats: SimpleStats::default(),
                value_stats: SimpleStats::default(),
                min_sequence_number: 0,
                max_sequence_number: 0,
                schema_id: 0,
                level,
                extra_files: vec![],
                creation_time: None,
                delete_row_count: None,
                embedded_index: None,
                file_source: None,
                value_stats_cols: None,
                external_path: None,
                first_row_id: None,
                write_cols: None,
                write_cols_sequences: None,
                commit_snapshot: None,
            },
        }
    }

    fn names(v: &[ManifestEntry]) -> Vec<(&str, i32)> {
        v.iter()
            .map(|e| (e.file.file_name.as_str(), e.file.level))
            .collect()
    }

    #[test]
    fn add_delete_and_level_upgrade() {
        use FileKind::*;
        let live = live_entries(vec![
            entry(Add, "a", 0),
            entry(Add, "b", 0),
            entry(Delete, "a", 0),
            entry(Delete, "b", 0),
            entry(Add, "b", 1),
            entry(Add, "c", 0),
        ]);
        assert_eq!(names(&live), vec![("b", 1), ("c", 0)]);
    }

    #[test]
    fn re_added_files_are_live() {
        use FileKind::*;
        let live = live_entries(vec![
            entry(Add, "a", 0),
            entry(Delete, "a", 0),
            entry(Add, "a", 0),
        ]);
        assert_eq!(names(&live), vec![("a", 0)]);
    }

    #[test]
    fn merging_keeps_unmatched_deletes() {
        use FileKind::*;
        let merged = merge_entries(vec![
            entry(Delete, "x", 0),
            entry(Add, "y", 0),
            entry(Delete, "y", 0),
        ]);
        assert_eq!(names(&merged), vec![("x", 0)]);
        assert_eq!(merged[0].kind, Delete);
    }

    #[test]
    fn delete_of_unknown_file_is_ignored() {
        use FileKind::*;
        let live = live_entries(vec![entry(Delete, "x", 0), entry(Add, "y", 0)]);
        assert_eq!(names(&live), vec![("y", 0)]);
    }

    /// What a listing decodes of an entry (`decode_manifest_listing`).
    fn listing(e: &ManifestEntry) -> crate::format::manifest::ListingEntry {
        crate::format::manifest::ListingEntry {
            kind: e.kind,
            bucket: e.bucket,
            level: e.file.level,
            partition: e.partition.clone().into_boxed_slice(),
            file_name: e.file.file_name.clone().into_boxed_str(),
            extra_files: e.file.extra_files.clone(),
            embedded_index: e.file.embedded_index.clone().map(Vec::into_boxed_slice),
            external_path: e.file.external_path.clone().map(String::into_boxed_str),
            file_size: e.file.file_size,
            row_count: e.file.row_count,
            commit_snapshot: e.file.commit_snapshot,
        }
    }

    proptest::proptest! {
        /// Merging the compact entries `files` lists gives exactly the live entries that
        /// merging full entries gives, in the same order: their identities are the same.
        #[test]
        fn listing_entries_merge_as_manifest_entries(
            ops in proptest::collection::vec(
                (proptest::bool::ANY, 0u8..6, 0i32..2, 0i32..2, 0u8..3, 0u8..3), 0..60)
        ) {
            let entries: Vec<ManifestEntry> = ops
                .iter()
                .map(|&(add, name, level, bucket, extra, ext)| {
                    let kind = if add { FileKind::Add } else { FileKind::Delete };
                    let mut e = entry(kind, &format!("f{name}"), level);
                    e.bucket = bucket;
                    e.file.extra_files = (0..extra).map(|i| format!("x{i}")).collect();
                    e.file.external_path = (ext == 1).then(|| "s3://b/f".to_string());
                    e.file.embedded_index = (ext == 2).then(|| vec![1, 2]);
                    e
                })
                .collect();
            let full: Vec<_> = live_entries(entries.clone()).iter().map(listing).collect();
            let compact = live_entries(entries.iter().map(listing));
            proptest::prop_assert_eq!(full, compact);
        }
    }

    proptest::proptest! {
        /// The fast path (nothing to merge) answers exactly what the merge answers, on inputs
        /// with and without DELETEs and duplicates.
        #[test]
        fn live_entries_equal_the_full_merge(
            ops in proptest::collection::vec((proptest::bool::ANY, 0u8..40, 0i32..2), 0..80),
            adds_only in proptest::bool::ANY,
        ) {
            let entries: Vec<ManifestEntry> = ops
                .iter()
                .map(|&(add, name, level)| {
                    let kind = if add || adds_only { FileKind::Add } else { FileKind::Delete };
                    entry(kind, &format!("f{name}"), level)
                })
                .collect();
            let fast = live_entries(entries.clone());
            proptest::prop_assert_eq!(&fast, &merge_live(entries.clone()));
            if all_distinct_adds(&entries) {
                proptest::prop_assert_eq!(fast, entries);
            }
        }
    }
}
