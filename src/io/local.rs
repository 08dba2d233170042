//! Local tables: object_store's `LocalFileSystem`, with every write staged under a hidden name.
//!
//! `LocalFileSystem` writes `NAME#1` and then renames or links it to `NAME`. A process killed in
//! between leaves `NAME#1` behind — `tag/tag-x#1`, `snapshot/snapshot-7#1` — and Paimon's
//! readers list those directories by prefix: to pypaimon an empty `tag-x#1` makes the table's
//! tags unreadable, a whole one is an extra tag `x#1`; Java fails to parse `snapshot-7#1` as a
//! snapshot id. object_store itself never lists nor addresses such names, so nothing tagkeeper
//! does would ever remove them.
//!
//! This store writes as Java's `FileIO.tryToWriteAtomic` and pypaimon do: the bytes go to
//! `.NAME.<uuid>.tmp` in the target's directory (a name no Paimon listing matches), are
//! fsynced, and are then published with a hard link (create-if-absent: the link fails when
//! `NAME` exists, which is what makes a snapshot commit exclusive) or a rename (overwrite), after
//! which the directory is fsynced. A crash leaves at most a hidden temporary file, which
//! remove-orphan-files reclaims once it is older than its cutoff.
//!
//! Everything else is `LocalFileSystem`'s own, except that deleting a `NAME#N` leftover (which
//! `LocalFileSystem` refuses to address) removes the file directly, so that remove-orphan-files
//! can reclaim what older versions and other object_store users left.

use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use crate::format::file_name::store_staging_target;

const STORE: &str = "LocalFileSystem";

/// A local filesystem store whose writes never show a partial file, nor any file under a name
/// Paimon lists, before they are whole (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct StagedLocalStore {
    inner: Arc<LocalFileSystem>,
    fsync: bool,
}

impl StagedLocalStore {
    /// Wrap `inner`; with `fsync`, file contents and directory entries are synced before a
    /// write returns.
    pub(crate) fn new(inner: LocalFileSystem, fsync: bool) -> Self {
        StagedLocalStore {
            inner: Arc::new(inner),
            fsync,
        }
    }

    /// The file behind `location`, including object_store's own `NAME#N` staging names (which
    /// `LocalFileSystem` refuses to map): those map next to the file `NAME` maps to.
    fn file_of(&self, location: &Path) -> Result<PathBuf> {
        let raw: &str = location.as_ref();
        let (dir, name) = raw.rsplit_once('/').unwrap_or(("", raw));
        match store_staging_target(name) {
            Some(target) => {
                let target_key = if dir.is_empty() {
                    target.to_string()
                } else {
                    format!("{dir}/{target}")
                };
                let mut file = self.inner.path_to_filesystem(&Path::parse(target_key)?)?;
                let suffix = &name[target.len()..];
                let mut os = file.into_os_string();
                os.push(suffix);
                file = PathBuf::from(os);
                Ok(file)
            }
            None => self.inner.path_to_filesystem(location),
        }
    }
}

/// Files up to this size are read on the calling task: `LocalFileSystem` hands every read to
/// the blocking pool twice (open, then read), and for the hundreds of small manifests of a
/// snapshot those thread hand-offs cost more than the reads (thousands of futex calls over
/// ~20 threads for 300 manifests).
const INLINE_READ_MAX: u64 = 4 * 1024 * 1024;

/// A whole-object read with no conditions, range or version.
fn is_plain_get(o: &GetOptions) -> bool {
    o.if_match.is_none()
        && o.if_none_match.is_none()
        && o.if_modified_since.is_none()
        && o.if_unmodified_since.is_none()
        && o.range.is_none()
        && o.version.is_none()
        && !o.head
}

impl StagedLocalStore {
    /// Read a small regular file whole, without the blocking pool; `None` (then
    /// `LocalFileSystem` reads it, and reports any error its own way) for anything else.
    fn read_small(&self, location: &Path) -> Result<Option<GetResult>> {
        use std::io::Read;
        let path = self.inner.path_to_filesystem(location)?;
        let Ok(mut file) = std::fs::File::open(&path) else {
            return Ok(None);
        };
        let Ok(metadata) = file.metadata() else {
            return Ok(None);
        };
        if !metadata.is_file() || metadata.len() > INLINE_READ_MAX {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        if file.read_to_end(&mut buf).is_err() {
            return Ok(None);
        }
        let size = buf.len() as u64;
        let modified = metadata.modified().ok();
        // The same ETag as `LocalFileSystem` gives (inode, mtime in µs, size).
        let mtime = modified
            .and_then(|m| m.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
            .unwrap_or_default()
            .as_micros();
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0u64;
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified: modified.map(Into::into).unwrap_or_default(),
            size,
            e_tag: Some(format!("\"{inode:x}-{mtime:x}-{:x}\"", metadata.len())),
            version: None,
        };
        let bytes = Bytes::from(buf);
        Ok(Some(GetResult {
            payload: object_store::GetResultPayload::Stream(
                futures::stream::once(async move { Ok(bytes) }).boxed(),
            ),
            meta,
            range: 0..size,
            attributes: Default::default(),
            extensions: Default::default(),
        }))
    }
}

impl fmt::Display for StagedLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Staged({})", self.inner)
    }
}

fn generic(e: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(e),
    }
}

/// Write `payload` to a hidden temporary file next to `dest`, then publish it: a hard link when
/// `create` (fails with `AlreadyExists` when `dest` exists), else a rename over `dest`. The
/// temporary file is removed on every path but a crash.
fn stage_and_publish(
    dest: &FsPath,
    payload: &PutPayload,
    create: bool,
    fsync: bool,
) -> std::io::Result<()> {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} has no parent directory", dest.display()),
        ));
    };
    create_dirs(dir, fsync)?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let temp = dir.join(temp_name);
    let published = write_temp(&temp, payload, fsync).and_then(|()| {
        if create {
            std::fs::hard_link(&temp, dest)?;
            // Published: a temporary that cannot be removed now is only a leftover, which
            // orphan cleaning reclaims; the write itself succeeded.
            let _ = std::fs::remove_file(&temp);
        } else {
            std::fs::rename(&temp, dest)?;
        }
        if fsync {
            sync_dir(dir)?;
        }
        Ok(())
    });
    if published.is_err() {
        // Best effort: what remains is a hidden temporary, which orphan cleaning reclaims.
        let _ = std::fs::remove_file(&temp);
    }
    published
}

/// Write the temporary file whole (and, with `fsync`, durably), and close it before it is
/// published: some filesystems (NFS, FUSE) report write errors or commit data only on close.
fn write_temp(temp: &FsPath, payload: &PutPayload, fsync: bool) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)?;
    for chunk in payload.iter() {
        file.write_all(chunk)?;
    }
    if fsync {
        file.sync_all()?;
    }
    drop(file);
    Ok(())
}

/// Create `dir` and its missing ancestors; with `fsync`, sync each new directory's parent so
/// that the new entries survive a power loss.
fn create_dirs(dir: &FsPath, fsync: bool) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.exists() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(p) => at = p,
            None => break,
        }
    }
    std::fs::create_dir_all(dir)?;
    if fsync {
        for d in &missing {
            if let Some(parent) = d.parent() {
                sync_dir(parent)?;
            }
        }
    }
    Ok(())
}

fn sync_dir(dir: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl ObjectStore for StagedLocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let create = match opts.mode {
            PutMode::Create => true,
            PutMode::Overwrite => false,
            // Not supported locally: LocalFileSystem says so.
            PutMode::Update(_) => return self.inner.put_opts(location, payload, opts).await,
        };
        if !opts.attributes.is_empty() {
            return self.inner.put_opts(location, payload, opts).await;
        }
        let dest = self.inner.path_to_filesystem(location)?;
        let fsync = self.fsync;
        let shown = location.to_string();
        let done =
            tokio::task::spawn_blocking(move || stage_and_publish(&dest, &payload, create, fsync))
                .await
                .map_err(generic)?;
        match done {
            Ok(()) => Ok(PutResult {
                e_tag: None,
                version: None,
                extensions: Default::default(),
            }),
            Err(e) if create && e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(object_store::Error::AlreadyExists {
                    path: shown,
                    source: Box::new(e),
                })
            }
            Err(e) => Err(generic(e)),
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        // LocalFileSystem's multipart upload stages under `NAME#N`, which Paimon lists; tagkeeper
        // writes every file in one put.
        Err(object_store::Error::NotImplemented {
            operation: format!("multipart upload of {location} (writes are staged whole)"),
            implementer: self.to_string(),
        })
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if is_plain_get(&options) {
            if let Some(got) = self.read_small(location)? {
                return Ok(got);
            }
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let this = self.clone();
        locations
            .then(move |location| {
                let this = this.clone();
                async move {
                    let location = location?;
                    let raw: &str = location.as_ref();
                    let name = raw.rsplit('/').next().unwrap_or(raw);
                    if store_staging_target(name).is_none() {
                        return this
                            .inner
                            .delete_stream(futures::stream::iter([Ok(location.clone())]).boxed())
                            .next()
                            .await
                            .unwrap_or(Ok(location));
                    }
                    // A `NAME#N` leftover: LocalFileSystem cannot address it.
                    let file = this.file_of(&location)?;
                    let removed = tokio::task::spawn_blocking(move || std::fs::remove_file(&file))
                        .await
                        .map_err(generic)?;
                    match removed {
                        Ok(()) => Ok(location),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            Err(object_store::Error::NotFound {
                                path: location.to_string(),
                                source: Box::new(e),
                            })
                        }
                        Err(e) => Err(generic(e)),
                    }
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    // tagkeeper never copies or renames through the store (rename-tag reads and writes the
    // bytes); these are LocalFileSystem's, for other users of the store.
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{open_location, CreateOutcome, StoreOptions};

    fn names(dir: &FsPath) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[tokio::test]
    async fn writes_publish_whole_files_and_leave_nothing_else() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let loc = dir.path().to_string_lossy().into_owned();
        let store =
            open_location(&loc, &StoreOptions::default()).unwrap_or_else(|e| unreachable!("{e}"));
        let first = store
            .put_create("tag/tag-a", Bytes::from_static(b"one"))
            .await
            .ok();
        let second = store
            .put_create("tag/tag-a", Bytes::from_static(b"two"))
            .await
            .ok();
        assert_eq!(
            (first, second),
            (
                Some(CreateOutcome::Created),
                Some(CreateOutcome::AlreadyExists)
            )
        );
        store
            .put_overwrite("snapshot/LATEST", Bytes::from_static(b"1"))
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        store
            .put_overwrite("snapshot/LATEST", Bytes::from_static(b"22"))
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        // No staging file of either kind is left, and the contents are the published ones.
        assert_eq!(names(&dir.path().join("tag")), vec!["tag-a"]);
        assert_eq!(names(&dir.path().join("snapshot")), vec!["LATEST"]);
        let read = |k: &str| std::fs::read(dir.path().join(k)).unwrap_or_default();
        assert_eq!(read("tag/tag-a"), b"one");
        assert_eq!(read("snapshot/LATEST"), b"22");
    }

    #[test]
    fn a_failed_publish_removes_its_temporary() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        // The target is a non-empty directory: the rename fails after the temporary is written.
        let dest = dir.path().join("x");
        std::fs::create_dir_all(dest.join("y")).unwrap_or_else(|e| unreachable!("{e}"));
        let payload = PutPayload::from(Bytes::from_static(b"data"));
        assert!(stage_and_publish(&dest, &payload, false, true).is_err());
        assert_eq!(names(dir.path()), vec!["x"]);
    }

    #[tokio::test]
    async fn store_leftovers_are_listed_and_deleted_only_by_a_plain_walk() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let tag_dir = dir.path().join("tag");
        std::fs::create_dir_all(&tag_dir).unwrap_or_else(|e| unreachable!("{e}"));
        for n in ["tag-a", "tag-a#1", "tag-b#x"] {
            std::fs::write(tag_dir.join(n), b"{}").unwrap_or_else(|e| unreachable!("{e}"));
        }
        let loc = dir.path().to_string_lossy().into_owned();
        let store =
            open_location(&loc, &StoreOptions::default()).unwrap_or_else(|e| unreachable!("{e}"));
        // object_store's own listing hides `tag-a#1`.
        let listed: Vec<String> = store
            .list("tag")
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(!listed.contains(&"tag/tag-a#1".to_string()));
        let leftovers: Vec<String> = store
            .list_store_leftovers("")
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(leftovers, vec!["tag/tag-a#1"]);
        let deleted = store.delete_many(&leftovers).await;
        assert!(deleted.iter().all(|(_, r)| r.is_ok()), "{deleted:?}");
        assert_eq!(names(&tag_dir), vec!["tag-a", "tag-b#x"]);
    }
}
