//! Classify a Paimon file by its name alone, with no I/O.
//!
//! Orphan cleaning deletes only files whose names match these patterns, so an `Unknown` name is
//! never deleted. Names of versioned files (`snapshot-N`, `schema-N`, `changelog-N`) must have an
//! all-digit suffix: a stray `snapshot-5.tmp` is `Unknown`, not a snapshot.
//!
//! [`PaimonFile::orphan_role`] adds the directory: a name Paimon writes elsewhere (a data-file
//! name in `manifest/`) is as unknown as a name Paimon never writes.

use crate::format::ids::{SchemaId, SnapshotId, TagName};

/// Why `name` cannot be the plain file name a manifest, manifest list or snapshot refers to,
/// or `None` when it can. Paimon writes bare names (the directory comes from the layout), so a
/// name with a separator, a `.`/`..`, a backslash or a control character is damage or an
/// attack; checked at decode time so the error names the file that holds the bad reference.
pub fn plain_name_problem(name: &str) -> Option<&'static str> {
    let (separator, control) = if name.is_ascii() {
        separator_and_control_ascii(name)
    } else {
        separator_and_control(name)
    };
    if name.is_empty() {
        Some("is empty")
    } else if name == "." || name == ".." {
        Some("is '.' or '..'")
    } else if separator {
        Some("contains a path separator")
    } else if control {
        Some("contains a control character")
    } else {
        None
    }
}

/// Whether `name` holds a path separator (`/` or `\`), and a control character.
fn separator_and_control(name: &str) -> (bool, bool) {
    (
        name.contains('/') || name.contains('\\'),
        name.chars().any(char::is_control),
    )
}

/// [`separator_and_control`] for ASCII names (the names Paimon writes, a million per huge
/// manifest), in one pass over the bytes instead of three.
fn separator_and_control_ascii(name: &str) -> (bool, bool) {
    let (mut separator, mut control) = (false, false);
    for &b in name.as_bytes() {
        separator |= b == b'/' || b == b'\\';
        control |= b < 0x20 || b == 0x7f;
    }
    (separator, control)
}

/// The name a hidden temporary file of an atomic write was to be published as:
/// `.<name>.<uuid>.tmp` → `<name>`. Java (`Path.createTempPath`), pypaimon (`create_temp_path`)
/// and tagkeeper's local store all stage writes under this name, in the target's directory.
/// The shape is Java's `FileType.unwrapTempFileName`: a leading dot, a non-empty name, a dot, a
/// 36-character UUID, `.tmp`. Paimon's listings match by prefix (`snapshot-`, `tag-`, …), so a
/// dot-prefixed name is never mistaken for a table file.
pub fn temporary_target(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (target, uuid) = inner.rsplit_once('.')?;
    let is_uuid = uuid.len() == 36
        && uuid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    (is_uuid && !target.is_empty()).then_some(target)
}

/// The name object_store's local store was writing when it stopped: it stages a write as
/// `<name>#<n>` and renames or links it into place, so a crash in between leaves that name. It
/// never lists such names (nor can it address them), so tagkeeper finds them with a plain
/// directory listing of a local table; on object stores they cannot arise (a PUT is atomic).
/// Paimon readers do list them: `tag-x#1` is a tag named `x#1` to them, and an empty one makes
/// the table's tags unreadable.
pub fn store_staging_target(name: &str) -> Option<&str> {
    let (target, n) = name.rsplit_once('#')?;
    (!target.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(target)
}

/// What a file name says about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaimonFile {
    /// `snapshot-<id>` in `snapshot/`.
    Snapshot(SnapshotId),
    /// `LATEST` hint.
    LatestHint,
    /// `EARLIEST` hint.
    EarliestHint,
    /// `tag-<name>` in `tag/`.
    Tag(TagName),
    /// `schema-<id>` in `schema/`.
    Schema(SchemaId),
    /// `changelog-<id>`: long-lived changelog metadata in `changelog/`.
    ChangelogMeta(SnapshotId),
    /// `consumer-<id>` in `consumer/`.
    Consumer(String),
    /// `manifest-list-<uuid>-<n>`.
    ManifestList,
    /// `manifest-<uuid>-<n>`.
    Manifest,
    /// `index-manifest-<uuid>-<n>`.
    IndexManifest,
    /// `index-<uuid>-<n>`: a table index file (hash index, deletion vectors).
    IndexFile,
    /// `stat-<uuid>-<n>`: table statistics.
    Statistics,
    /// `data-<uuid>-<n>.<ext>` in a bucket directory.
    DataFile,
    /// `changelog-<uuid>-<n>.<ext>` in a bucket directory.
    ChangelogFile,
    /// `data-<uuid>-<n>.<ext>.index`: a data file's index, listed in `_EXTRA_FILES`.
    DataFileIndex,
    /// `.<name>.<uuid>.tmp`: the temporary file of an atomic write (Java, pypaimon, and
    /// tagkeeper on a local filesystem); see [`temporary_target`].
    Temporary,
    /// Anything else. Never deleted by tagkeeper.
    Unknown,
}

impl PaimonFile {
    /// Classify a bare file name (no directory).
    pub fn parse(name: &str) -> PaimonFile {
        match name {
            "LATEST" => return PaimonFile::LatestHint,
            "EARLIEST" => return PaimonFile::EarliestHint,
            _ => {}
        }
        if let Some(id) = versioned(name, "snapshot-") {
            return PaimonFile::Snapshot(SnapshotId(id));
        }
        if let Some(id) = versioned(name, "schema-") {
            return PaimonFile::Schema(SchemaId(id));
        }
        if let Some(id) = versioned(name, "changelog-") {
            return PaimonFile::ChangelogMeta(SnapshotId(id));
        }
        if let Some(rest) = name.strip_prefix("tag-") {
            return match TagName::from_listing(rest) {
                Some(tag) => PaimonFile::Tag(tag),
                None => PaimonFile::Unknown,
            };
        }
        if let Some(rest) = name.strip_prefix("consumer-") {
            if !rest.is_empty() {
                return PaimonFile::Consumer(rest.to_string());
            }
        }
        if temporary_target(name).is_some() {
            return PaimonFile::Temporary;
        }
        if is_uuid_counter(name, "manifest-list-") {
            return PaimonFile::ManifestList;
        }
        // pypaimon names index manifests `index-manifest-<uuid>` without a counter.
        if is_uuid_counter(name, "index-manifest-") || is_uuid(name, "index-manifest-") {
            return PaimonFile::IndexManifest;
        }
        if is_uuid_counter(name, "manifest-") {
            return PaimonFile::Manifest;
        }
        if is_uuid_counter(name, "index-") {
            return PaimonFile::IndexFile;
        }
        if is_uuid_counter(name, "stat-") {
            return PaimonFile::Statistics;
        }
        if let Some(kind) = data_like(name) {
            return kind;
        }
        PaimonFile::Unknown
    }

    /// What remove-orphan-files may do with a file of this name found in `dir`.
    pub fn orphan_role(&self, dir: FileDir) -> OrphanRole {
        use PaimonFile as F;
        // A crashed atomic write's temporary file is a candidate wherever it is found: no
        // version references it, and the cutoff protects one still being written.
        let candidate = matches!(self, F::Temporary)
            || match dir {
                FileDir::Manifest => {
                    matches!(self, F::ManifestList | F::Manifest | F::IndexManifest)
                }
                FileDir::Index => matches!(self, F::IndexFile),
                FileDir::Statistics => matches!(self, F::Statistics),
                // Index files sit in bucket directories with `index-file-in-data-file-dir`.
                FileDir::Bucket => self.is_bucket_file() || matches!(self, F::IndexFile),
                // Only the leftovers of crashed atomic writes; versions, hints, tags, schemas,
                // consumers and plans are the table.
                FileDir::Versioned | FileDir::Table => false,
            };
        let kept = match dir {
            FileDir::Versioned => matches!(
                self,
                F::Snapshot(_) | F::ChangelogMeta(_) | F::LatestHint | F::EarliestHint
            ),
            // check reports names Paimon does not write in these directories; orphan
            // cleaning only takes temporaries out of them.
            FileDir::Table => true,
            _ => false,
        };
        match (candidate, kept) {
            (true, _) => OrphanRole::Candidate,
            (false, true) => OrphanRole::Kept,
            (false, false) => OrphanRole::Unknown,
        }
    }

    /// [`PaimonFile::orphan_role`] of the file named `name` in `dir`, where a temporary file is
    /// a candidate only if what it was to become is a name Paimon writes there (a
    /// `.manifest-….tmp` in `manifest/`, not a `.snapshot-3.….tmp`): a stray name stays
    /// unknown, never deleted.
    pub fn orphan_role_of(name: &str, dir: FileDir) -> OrphanRole {
        let file = PaimonFile::parse(name);
        if let (PaimonFile::Temporary, Some(target)) = (&file, temporary_target(name)) {
            let target_role = PaimonFile::parse(target).orphan_role(dir);
            if dir != FileDir::Table && target_role == OrphanRole::Unknown {
                return OrphanRole::Unknown;
            }
        }
        file.orphan_role(dir)
    }

    /// True for files that live in bucket directories (data, changelog and their index files).
    pub fn is_bucket_file(&self) -> bool {
        matches!(
            self,
            PaimonFile::DataFile | PaimonFile::ChangelogFile | PaimonFile::DataFileIndex
        )
    }
}

/// The directories remove-orphan-files looks into (paimon-format.md §7.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileDir {
    /// `manifest/`: manifest lists, manifests, index manifests.
    Manifest,
    /// `index/`: table index files.
    Index,
    /// `statistics/`.
    Statistics,
    /// A bucket directory (`[<partition path>/]bucket-<n>/`).
    Bucket,
    /// `snapshot/` or `changelog/` of any branch.
    Versioned,
    /// `tag/`, `schema/` and `consumer/` of any branch, and tagkeeper's `_tagkeeper/plans/`:
    /// only temporaries of crashed writes are candidates there.
    Table,
}

/// What a file found in one of those directories is to remove-orphan-files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanRole {
    /// A Paimon file that may be deleted when nothing references it and it is old enough.
    Candidate,
    /// Part of the table by itself (a snapshot file, a hint): never a candidate.
    Kept,
    /// A name Paimon does not write there: reported, never deleted.
    Unknown,
}

/// `<prefix><digits>` with nothing after the digits.
fn versioned(name: &str, prefix: &str) -> Option<i64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `<prefix><token>-<digits>`: the `<uuid>-<n>` shape of manifest, index and stat files.
fn is_uuid_counter(name: &str, prefix: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    match rest.rsplit_once('-') {
        Some((token, counter)) => {
            !token.is_empty()
                && !counter.is_empty()
                && counter.bytes().all(|b| b.is_ascii_digit())
                && token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        }
        None => false,
    }
}

/// `<prefix><uuid>` with no counter.
fn is_uuid(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 36 && rest.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    })
}

/// `data-<uuid>-<n>.<ext>[.index]` and `changelog-<uuid>-<n>.<ext>`.
fn data_like(name: &str) -> Option<PaimonFile> {
    let (is_data, rest) = if let Some(rest) = name.strip_prefix("data-") {
        (true, rest)
    } else if let Some(rest) = name.strip_prefix("changelog-") {
        (false, rest)
    } else {
        return None;
    };
    let (stem, ext) = rest.split_once('.')?;
    // Managed blob packs are shared by reference and never orphan-cleaned (Java skips them).
    if ext.ends_with("managed.blob") {
        return None;
    }
    if ext.is_empty() || !is_uuid_counter(&format!("x-{stem}"), "x-") {
        return None;
    }
    if ext.ends_with(".index") {
        return is_data.then_some(PaimonFile::DataFileIndex);
    }
    Some(if is_data {
        PaimonFile::DataFile
    } else {
        PaimonFile::ChangelogFile
    })
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    const U: &str = "4ccc4a25-2b29-4d42-b9a8-8a2fba47ae7a";

    #[test]
    fn plain_names() {
        for ok in [
            "manifest-list-a-0",
            "data-a-0.parquet",
            "data-a-0.parquet.index",
            "x y",
        ] {
            assert_eq!(plain_name_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("..", "is '.' or '..'"),
            ("../snapshot-1", "contains a path separator"),
            ("a\\b", "contains a path separator"),
            ("manifest-\u{7}a-0", "contains a control character"),
        ] {
            assert_eq!(plain_name_problem(bad), Some(why), "{bad:?}");
        }
    }

    #[test]
    fn classifies_every_kind() {
        let cases: Vec<(String, PaimonFile)> = vec![
            ("snapshot-12".into(), PaimonFile::Snapshot(SnapshotId(12))),
            ("LATEST".into(), PaimonFile::LatestHint),
            ("EARLIEST".into(), PaimonFile::EarliestHint),
            ("schema-0".into(), PaimonFile::Schema(SchemaId(0))),
            (
                "changelog-7".into(),
                PaimonFile::ChangelogMeta(SnapshotId(7)),
            ),
            ("consumer-job1".into(), PaimonFile::Consumer("job1".into())),
            (format!("manifest-list-{U}-3"), PaimonFile::ManifestList),
            (format!("manifest-{U}-0"), PaimonFile::Manifest),
            (format!("index-manifest-{U}-0"), PaimonFile::IndexManifest),
            (format!("index-manifest-{U}"), PaimonFile::IndexManifest),
            (format!("index-{U}-1"), PaimonFile::IndexFile),
            (format!("stat-{U}-0"), PaimonFile::Statistics),
            (format!("data-{U}-0.parquet"), PaimonFile::DataFile),
            (format!("data-{U}-0.zstd.parquet"), PaimonFile::DataFile),
            (
                format!("data-{U}-0.parquet.index"),
                PaimonFile::DataFileIndex,
            ),
            (format!("changelog-{U}-0.orc"), PaimonFile::ChangelogFile),
            (format!(".snapshot-3.{U}.tmp"), PaimonFile::Temporary),
            ("snapshot-5.tmp".into(), PaimonFile::Unknown),
            // Java's shape only: a dot, a name, a dot, a UUID, `.tmp`.
            (format!(".{U}.tmp"), PaimonFile::Unknown),
            (".snapshot-3.1234.tmp".into(), PaimonFile::Unknown),
            (format!("snapshot-3.{U}.tmp"), PaimonFile::Unknown),
            ("snapshot-".into(), PaimonFile::Unknown),
            ("README".into(), PaimonFile::Unknown),
            (format!("data-{U}.parquet"), PaimonFile::Unknown),
            ("data-.parquet".into(), PaimonFile::Unknown),
            ("manifest-xyz-1".into(), PaimonFile::Unknown),
            (format!("data-{U}-0.blob"), PaimonFile::DataFile),
            (format!("data-{U}-0.managed.blob"), PaimonFile::Unknown),
        ];
        for (name, want) in cases {
            assert_eq!(PaimonFile::parse(&name), want, "{name}");
        }
    }

    #[test]
    fn orphan_roles_depend_on_the_directory() {
        use FileDir::*;
        use OrphanRole::*;
        let cases: Vec<(String, FileDir, OrphanRole)> = vec![
            (format!("manifest-{U}-0"), Manifest, Candidate),
            (format!("manifest-list-{U}-0"), Manifest, Candidate),
            (format!("index-manifest-{U}"), Manifest, Candidate),
            (format!("data-{U}-0.parquet"), Manifest, Unknown),
            (format!("index-{U}-0"), Index, Candidate),
            (format!("manifest-{U}-0"), Index, Unknown),
            (format!("stat-{U}-0"), Statistics, Candidate),
            (format!("data-{U}-0.parquet"), Bucket, Candidate),
            (format!("data-{U}-0.parquet.index"), Bucket, Candidate),
            (format!("changelog-{U}-0.parquet"), Bucket, Candidate),
            (format!("index-{U}-3"), Bucket, Candidate),
            (format!("data-{U}-0.managed.blob"), Bucket, Unknown),
            ("notes.txt".into(), Bucket, Unknown),
            (format!("manifest-{U}-0"), Bucket, Unknown),
            (format!(".snapshot-3.{U}.tmp"), Versioned, Candidate),
            (format!(".snapshot-3.{U}.tmp"), Manifest, Unknown),
            ("snapshot-3".into(), Versioned, Kept),
            ("changelog-3".into(), Versioned, Kept),
            ("LATEST".into(), Versioned, Kept),
            ("snapshot-3.tmp".into(), Versioned, Unknown),
            (format!(".data-{U}-0.parquet.{U}.tmp"), Bucket, Candidate),
            (format!(".manifest-{U}-0.{U}.tmp"), Manifest, Candidate),
            (format!(".tag-t1.{U}.tmp"), Table, Candidate),
            (format!(".expire-3.json.{U}.tmp"), Table, Candidate),
            ("tag-t1".into(), Table, Kept),
            ("schema-0".into(), Table, Kept),
            (".tag-t1.not-a-uuid.tmp".into(), Table, Kept),
            (format!(".notes.txt.{U}.tmp"), Bucket, Unknown),
        ];
        for (name, dir, want) in cases {
            assert_eq!(
                PaimonFile::orphan_role_of(&name, dir),
                want,
                "{name} in {dir:?}"
            );
        }
    }

    #[test]
    fn leftovers_of_crashed_writes_name_their_target() {
        assert_eq!(
            temporary_target(&format!(".tag-a.b.{U}.tmp")),
            Some("tag-a.b")
        );
        assert_eq!(temporary_target(&format!("..{U}.tmp")), None);
        assert_eq!(store_staging_target("tag-t1#1"), Some("tag-t1"));
        assert_eq!(
            store_staging_target("expire-3.json#12"),
            Some("expire-3.json")
        );
        for not in ["tag-a#", "#1", "tag-a#1x", "tag-a"] {
            assert_eq!(store_staging_target(not), None, "{not}");
        }
    }

    #[test]
    fn tags_keep_their_names() {
        assert_eq!(
            PaimonFile::parse("tag-2024-01-01 10"),
            PaimonFile::Tag(
                TagName::from_listing("2024-01-01 10").unwrap_or_else(|| unreachable!())
            )
        );
        assert_eq!(PaimonFile::parse("tag-success-file"), PaimonFile::Unknown);
        assert_eq!(PaimonFile::parse("tag-"), PaimonFile::Unknown);
    }

    proptest::proptest! {
        /// The ASCII one-pass scan answers as the general one does.
        #[test]
        fn plain_name_problem_fast_path_equals_the_general_rules(
            name in proptest::collection::vec(proptest::sample::select(vec![
                "a", "1", ".", "/", "\\", "\u{0}", "\n", "\u{7f}", "-", " ",
            ]), 0..6).prop_map(|v| v.concat()),
        ) {
            proptest::prop_assert_eq!(
                separator_and_control_ascii(&name),
                separator_and_control(&name)
            );
        }
    }
}
