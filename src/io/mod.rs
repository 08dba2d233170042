//! The one I/O layer: every request tagkeeper makes goes through [`TableStore`].
//!
//! It moves bytes under a table root, nothing else: it knows no Paimon types. It bounds the
//! number of requests in flight (a semaphore, `--concurrency`), maps `object_store` errors onto
//! [`Error`] once (so `NotFound` becomes `Option::None` here and nowhere else), and turns the
//! table-relative keys Paimon uses (`dt=a%3Ab/bucket-0/data-….parquet`) into `object_store`
//! paths verbatim: Paimon's own escaping (`%3A`) is part of the object name on every backend,
//! so keys must never be percent-encoded again (`Path::from` would turn `%` into `%25`).

mod aws_profile;
pub mod fault;
mod local;
mod open;
pub mod retry;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::sync::Semaphore;

pub use open::{ensure_local_dir, open_location, StoreOptions};
pub use retry::RetryPolicy;

use crate::error::{Error, Result};

/// Default number of requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the table root, as Paimon spells it.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time reported by the store.
    pub last_modified: DateTime<Utc>,
}

/// What a conditional create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The object was written.
    Created,
    /// An object already existed under that key; nothing was written.
    AlreadyExists,
}

/// A store rooted at one table.
#[derive(Clone)]
pub struct TableStore {
    inner: Arc<dyn ObjectStore>,
    /// Raw key prefix of the table root inside the store, without slashes at either end.
    root: String,
    limit: Arc<Semaphore>,
    /// The location for messages, with any credentials removed.
    location: String,
    retry: RetryPolicy,
    /// The table root on the local filesystem, when the store is one: object stores have no
    /// directories, but a local filesystem keeps empty ones after their files are deleted.
    local_dir: Option<PathBuf>,
}

impl std::fmt::Debug for TableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableStore")
            .field("location", &self.location)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl TableStore {
    /// Root a store at `root` (a raw key prefix; empty for the store's root).
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        root: &str,
        concurrency: usize,
        location: impl Into<String>,
    ) -> Self {
        TableStore {
            inner,
            root: root.trim_matches('/').to_string(),
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
            location: location.into(),
            retry: RetryPolicy::default(),
            local_dir: None,
        }
    }

    /// The same store with another retry policy for transient errors.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Declare that the store's root (`root` above) is this local directory, so that empty
    /// directories can be removed after their files are (see [`TableStore::remove_empty_dir`]).
    pub fn with_local_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let mut dir: PathBuf = dir.into();
        for segment in self.root.split('/').filter(|s| !s.is_empty()) {
            dir.push(segment);
        }
        self.local_dir = Some(dir);
        self
    }

    /// A table in a fresh in-memory store (for tests and examples).
    pub fn in_memory(root: &str) -> Self {
        let store = Arc::new(object_store::memory::InMemory::new());
        TableStore::new(
            store,
            root,
            DEFAULT_CONCURRENCY,
            format!("memory:///{root}"),
        )
    }

    /// The same store rooted at a sub-directory (e.g. a branch, or a table under a warehouse).
    pub fn child(&self, dir: &str) -> Result<Self> {
        let dir = dir.trim_matches('/');
        check_key(dir)?;
        let mut child = self.clone();
        child.root = join(&self.root, dir);
        child.location = format!("{}/{}", self.location.trim_end_matches('/'), dir);
        child.local_dir = self.local_dir.as_ref().map(|d| d.join(dir));
        Ok(child)
    }

    /// The same store rooted `up` directories above this root, then at `dir`, with the names
    /// of the `up` directories climbed (innermost last): for metadata a table keeps outside
    /// its directory, such as Iceberg metadata in a Hadoop catalog's warehouse.
    pub fn relocated(&self, up: usize, dir: &str) -> Result<(Self, Vec<String>)> {
        let dir = dir.trim_matches('/');
        check_key(dir)?;
        let too_shallow = || {
            Error::InvalidArgument(format!(
                "{} has fewer than {up} parent directories",
                self.location
            ))
        };
        let mut out = self.clone();
        let climbed: Vec<String> = match &self.local_dir {
            // A local store is rooted at the table's own directory: open one at the ancestor.
            Some(local) => {
                let base = local.ancestors().nth(up).ok_or_else(too_shallow)?;
                let names = local
                    .components()
                    .rev()
                    .take(up)
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect::<Vec<_>>();
                let (store, root, canonical) = open::local_store(base)
                    .map_err(|e| Error::InvalidArgument(format!("{}: {e}", base.display())))?;
                out.inner = store;
                out.root = join(&root, dir);
                out.local_dir = Some(canonical.join(dir));
                names.into_iter().rev().collect()
            }
            None => {
                let segments: Vec<&str> = self.root.split('/').filter(|s| !s.is_empty()).collect();
                let keep = segments.len().checked_sub(up).ok_or_else(too_shallow)?;
                out.root = join(&segments[..keep].join("/"), dir);
                segments[keep..].iter().map(|s| s.to_string()).collect()
            }
        };
        let shown: Vec<&str> = self.location.trim_end_matches('/').split('/').collect();
        let keep = shown.len().saturating_sub(up);
        out.location = format!("{}/{dir}", shown[..keep].join("/"));
        Ok((out, climbed))
    }

    /// The location for display (no credentials).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    fn path(&self, key: &str) -> Result<Path> {
        check_key(key)?;
        let full = join(&self.root, key);
        Path::parse(&full).map_err(|e| {
            Error::InvalidArgument(format!("key {key:?} is not a valid object path: {e}"))
        })
    }

    /// Turn a listed path back into a table-relative key.
    fn key_of(&self, path: &Path) -> String {
        let full: &str = path.as_ref();
        let rel = full.strip_prefix(&self.root).unwrap_or(full);
        rel.trim_start_matches('/').to_string()
    }

    fn storage(&self, operation: &'static str, key: &str, source: object_store::Error) -> Error {
        Error::Storage {
            operation,
            path: key.to_string(),
            source,
        }
    }

    /// Read a whole object; `None` when it does not exist.
    pub async fn get_opt(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.path(key)?;
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "get", key);
        let got = self
            .retry
            .run(true, || async {
                match self.inner.get(&path).await {
                    Ok(result) => result.bytes().await,
                    Err(e) => Err(e),
                }
            })
            .await;
        match got {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.storage("get", key, e)),
        }
    }

    /// Read a byte range of an object; `None` when it does not exist.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        Ok(self
            .get_ranges_opt(key, &[range])
            .await?
            .and_then(|mut parts| parts.pop()))
    }

    /// Byte ranges of an object (adjacent ranges are fetched together); `None` when the object
    /// does not exist. Readers of data files fetch only the parts they decode.
    pub async fn get_ranges_opt(
        &self,
        key: &str,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Option<Vec<Bytes>>> {
        let path = self.path(key)?;
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "get_ranges", key, ranges = ranges.len());
        match self
            .retry
            .run(true, || self.inner.get_ranges(&path, ranges))
            .await
        {
            Ok(parts) => Ok(Some(parts)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.storage("get", key, e)),
        }
    }

    /// Size and modification time of an object; `None` when it does not exist.
    pub async fn head_opt(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let path = self.path(key)?;
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "head", key);
        match self.retry.run(true, || self.inner.head(&path)).await {
            Ok(meta) => Ok(Some(ObjectInfo {
                key: key.to_string(),
                size: meta.size,
                last_modified: meta.last_modified,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.storage("head", key, e)),
        }
    }

    /// Every object under `prefix` (a directory key such as `snapshot`), recursively.
    /// A missing directory lists as empty.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let path = self.dir_path(prefix)?;
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "list", prefix);
        let listed: Vec<object_store::ObjectMeta> = match self
            .retry
            .run(true, || self.inner.list(path.as_ref()).try_collect())
            .await
        {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.storage("list", prefix, e)),
        };
        Ok(listed
            .into_iter()
            .map(|m| ObjectInfo {
                key: self.key_of(&m.location),
                size: m.size,
                last_modified: m.last_modified,
            })
            .collect())
    }

    /// Objects directly under `prefix` and the names of its sub-directories.
    pub async fn list_dir(&self, prefix: &str) -> Result<(Vec<ObjectInfo>, Vec<String>)> {
        let path = self.dir_path(prefix)?;
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "list_dir", prefix);
        let listed = match self
            .retry
            .run(true, || self.inner.list_with_delimiter(path.as_ref()))
            .await
        {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(self.storage("list", prefix, e)),
        };
        let files = listed
            .objects
            .into_iter()
            .map(|m| ObjectInfo {
                key: self.key_of(&m.location),
                size: m.size,
                last_modified: m.last_modified,
            })
            .collect();
        let dirs = listed
            .common_prefixes
            .iter()
            .map(|p| self.key_of(p))
            .collect();
        Ok((files, dirs))
    }

    fn dir_path(&self, prefix: &str) -> Result<Option<Path>> {
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() && self.root.is_empty() {
            return Ok(None);
        }
        if prefix.is_empty() {
            return Path::parse(&self.root)
                .map(Some)
                .map_err(|e| Error::InvalidArgument(format!("bad root {:?}: {e}", self.root)));
        }
        self.path(prefix).map(Some)
    }

    /// Write an object only if none exists under the key (the commit primitive).
    pub async fn put_create(&self, key: &str, bytes: Bytes) -> Result<CreateOutcome> {
        let path = self.path(key)?;
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "put_create", key);
        // Not idempotent: retried only when the store refused it (throttling).
        let put = || {
            self.inner.put_opts(
                &path,
                PutPayload::from(bytes.clone()),
                PutOptions::from(PutMode::Create),
            )
        };
        match self.retry.run(false, put).await {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(CreateOutcome::AlreadyExists),
            Err(e) => Err(self.storage("put", key, e)),
        }
    }

    /// Write an object, replacing any existing one (hints and immutable, uniquely named files).
    pub async fn put_overwrite(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(key)?;
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "put", key);
        self.retry
            .run(true, || {
                self.inner.put(&path, PutPayload::from(bytes.clone()))
            })
            .await
            .map(|_| ())
            .map_err(|e| self.storage("put", key, e))
    }

    /// Delete keys in bulk (the store batches them: 1,000 per request on S3). A key that is
    /// already gone counts as deleted.
    pub async fn delete_many(&self, keys: &[String]) -> Vec<(String, Result<()>)> {
        self.delete_many_detailed(keys)
            .await
            .into_iter()
            .map(|(k, r)| (k, r.map(|_| ())))
            .collect()
    }

    /// [`TableStore::delete_many`] in bulk-delete-sized batches (S3 takes 1,000 keys a
    /// request), reporting progress as `phase` (see [`crate::progress`]).
    pub async fn delete_all(
        &self,
        keys: &[String],
        phase: &'static str,
    ) -> Vec<(String, Result<()>)> {
        let progress = crate::progress::Phase::start(phase, keys.len() as u64);
        let mut out = Vec::with_capacity(keys.len());
        for batch in keys.chunks(1000) {
            out.extend(self.delete_many(batch).await);
            progress.add(batch.len() as u64);
        }
        out
    }

    /// [`TableStore::delete_many`], telling deleted keys from keys that were already gone —
    /// where the store says so: local filesystems do, S3 answers a delete of a missing key with
    /// success, so there every key counts as deleted.
    pub async fn delete_many_detailed(&self, keys: &[String]) -> Vec<(String, Result<Deleted>)> {
        let mut paths = Vec::with_capacity(keys.len());
        let mut out: Vec<(String, Result<Deleted>)> = Vec::with_capacity(keys.len());
        for key in keys {
            match self.path(key) {
                Ok(p) => paths.push((key.clone(), p)),
                Err(e) => out.push((key.clone(), Err(e))),
            }
        }
        let _permit = self.limit.acquire().await;
        tracing::debug!(op = "delete", count = paths.len());
        let owned: Vec<object_store::Result<Path>> =
            paths.iter().map(|(_, p)| Ok(p.clone())).collect();
        let stream = futures::stream::iter(owned).boxed();
        let results: Vec<object_store::Result<Path>> =
            self.inner.delete_stream(stream).collect().await;
        for ((key, path), result) in paths.iter().zip(results) {
            let result = match result {
                // A transient failure of one key in a bulk delete: retry that key alone.
                Err(e) if retry::classify(&e) != retry::Failure::Permanent => {
                    self.retry.run(true, || self.inner.delete(path)).await
                }
                Err(e) => Err(e),
                Ok(_) => Ok(()),
            };
            let outcome = match result {
                Ok(()) => Ok(Deleted::Now),
                Err(object_store::Error::NotFound { .. }) => Ok(Deleted::AlreadyGone),
                Err(e) => Err(self.storage("delete", key, e)),
            };
            out.push((key.clone(), outcome));
        }
        out
    }

    /// True when the store is a local filesystem whose directories tagkeeper may tidy.
    pub fn is_local(&self) -> bool {
        self.local_dir.is_some()
    }

    /// For each key, whether reaching it on a local filesystem goes through a symbolic link
    /// (any directory below the store's root, or the file itself). object_store's local
    /// listing follows links, so a linked directory shows files that live elsewhere — outside
    /// the table, or a second name for a file the table references under its real path.
    /// Deleting through such a name would delete the real file, so callers that delete leave
    /// these alone. Always `false` on object stores, which have no links. A key whose
    /// components cannot be inspected (other than vanished) is reported as linked: unsure
    /// means keep.
    pub async fn through_symlink(&self, keys: Vec<String>) -> Result<Vec<bool>> {
        let Some(base) = self.local_dir.clone() else {
            return Ok(vec![false; keys.len()]);
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let linked = |path: &std::path::Path| match std::fs::symlink_metadata(path) {
                Ok(m) => m.file_type().is_symlink(),
                Err(e) => e.kind() != std::io::ErrorKind::NotFound,
            };
            // Directories are shared by many keys: each is inspected once. Keys' last
            // components are not remembered (a million of them would be the largest thing
            // an orphan scan holds).
            let mut dirs: std::collections::HashMap<std::path::PathBuf, bool> =
                std::collections::HashMap::new();
            keys.iter()
                .map(|key| {
                    let mut path = base.clone();
                    let mut parts = key.trim_matches('/').split('/').peekable();
                    while let Some(part) = parts.next() {
                        path.push(part);
                        let is_link = if parts.peek().is_none() {
                            linked(&path)
                        } else {
                            *dirs.entry(path.clone()).or_insert_with(|| linked(&path))
                        };
                        if is_link {
                            return true;
                        }
                    }
                    false
                })
                .collect::<Vec<bool>>()
        })
        .await;
        outcome.map_err(|e| {
            self.storage(
                "lstat",
                "",
                object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                },
            )
        })
    }

    /// The leftovers of object_store's staged writes (`NAME#N`, see
    /// [`crate::format::file_name::store_staging_target`]) under the directory `prefix`,
    /// recursively, on a local filesystem; always empty on object stores, where they cannot
    /// arise. object_store's listings skip these names, so this is a plain directory walk.
    /// Symbolic links are not followed. Keys are table-relative, as listings give them.
    pub async fn list_store_leftovers(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let Some(base) = self.local_dir.clone() else {
            return Ok(Vec::new());
        };
        let prefix = prefix.trim_matches('/').to_string();
        check_key(&prefix)?;
        let walked = tokio::task::spawn_blocking(move || {
            let start = prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .fold(base, |d, s| d.join(s));
            walk_leftovers(&start, &prefix)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        walked.map_err(|e| {
            self.storage(
                "list",
                "",
                object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                },
            )
        })
    }

    /// Remove the directory `key` if it is empty (and, with `modified_before`, last modified
    /// before that time, epoch ms). Only on a local filesystem; elsewhere there are no
    /// directories and this returns `false`. A directory that is not empty, or gone, is left
    /// alone and gives `false`: the removal is `rmdir`, which the filesystem refuses atomically
    /// for a directory a concurrent writer has just put a file into. Any other failure is an
    /// error. The filesystem calls block, so they run on tokio's blocking pool.
    pub async fn remove_empty_dir(&self, key: &str, modified_before: Option<i64>) -> Result<bool> {
        let Some(base) = &self.local_dir else {
            return Ok(false);
        };
        let key = key.trim_matches('/');
        check_key(key)?;
        if key.is_empty() {
            // Never the table root.
            return Ok(false);
        }
        let dir = key.split('/').fold(base.clone(), |d, s| d.join(s));
        let outcome = tokio::task::spawn_blocking(move || rmdir_if_empty(&dir, modified_before))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match outcome {
            Ok(removed) => {
                if removed {
                    tracing::debug!(op = "rmdir", key);
                }
                Ok(removed)
            }
            Err(e) => Err(self.storage(
                "rmdir",
                key,
                object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                },
            )),
        }
    }
}

/// The blocking part of [`TableStore::remove_empty_dir`]: `Ok(false)` when the directory is
/// gone, not empty, or (with `modified_before`) too young.
fn rmdir_if_empty(dir: &std::path::Path, modified_before: Option<i64>) -> std::io::Result<bool> {
    use std::io::ErrorKind;
    if let Some(limit) = modified_before {
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        if modified.is_none_or(|m| m >= limit) {
            return Ok(false);
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::DirectoryNotEmpty) => {
            Ok(false)
        }
        // Some systems say "exists" (EEXIST) for a directory that is not empty.
        Err(_) if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The blocking part of [`TableStore::list_store_leftovers`]: `dir` is the directory of the
/// table-relative key `key`. A directory that vanishes meanwhile lists as empty.
fn walk_leftovers(dir: &std::path::Path, key: &str) -> std::io::Result<Vec<ObjectInfo>> {
    use std::io::ErrorKind;
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), key.to_string())];
    while let Some((dir, key)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                continue
            }
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let child = join(&key, &name);
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                stack.push((entry.path(), child));
            } else if meta.is_file()
                && crate::format::file_name::store_staging_target(&name).is_some()
            {
                let modified: DateTime<Utc> = meta.modified().map(DateTime::from)?;
                out.push(ObjectInfo {
                    key: child,
                    size: meta.len(),
                    last_modified: modified,
                });
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The object existed and was deleted.
    Now,
    /// There was nothing to delete.
    AlreadyGone,
}

fn join(root: &str, key: &str) -> String {
    match (root.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => root.to_string(),
        _ => format!("{root}/{key}"),
    }
}

/// Refuse keys that could leave the table root or that no store can address: empty, `.` or
/// `..` segments, backslashes and control characters. Keys come from tag names, manifests and
/// listings, so this is the last line of defence against a hostile manifest entry.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Ok(());
    }
    if key.is_ascii() {
        return check_ascii_key(key);
    }
    check_key_segments(key)
}

const LEAVES_ROOT: &str = "path has an empty, '.' or '..' segment and would leave the table root";
const BAD_CHARACTER: &str = "path contains a backslash or a control character";

/// [`check_key`] for ASCII keys (every key Paimon builds), in one pass over the bytes: the same
/// answer as segment by segment (a segment fails at most one way, and the first failing
/// segment is the one reported).
fn check_ascii_key(key: &str) -> Result<()> {
    let bytes = key.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'/' {
            if matches!(&bytes[start..i], b"" | b"." | b"..") {
                return Err(Error::corrupt(key, LEAVES_ROOT));
            }
            start = i + 1;
        } else if b == b'\\' || b < 0x20 || b == 0x7f {
            return Err(Error::corrupt(key, BAD_CHARACTER));
        }
    }
    if matches!(&bytes[start..], b"" | b"." | b"..") {
        return Err(Error::corrupt(key, LEAVES_ROOT));
    }
    Ok(())
}

/// [`check_key`], segment by segment (any key).
fn check_key_segments(key: &str) -> Result<()> {
    for segment in key.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(Error::corrupt(key, LEAVES_ROOT));
        }
        if segment.contains('\\') || segment.chars().any(char::is_control) {
            return Err(Error::corrupt(key, BAD_CHARACTER));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_relocated_store_reaches_beside_the_table_in_the_same_store() {
        let table = TableStore::in_memory("wh/default.db/t");
        let (beside, names) = table.relocated(2, "iceberg/default/t").unwrap();
        assert_eq!(names, ["default.db", "t"]);
        assert_eq!(beside.location(), "memory:///wh/iceberg/default/t");
        beside
            .put_overwrite("metadata/a", Bytes::from_static(b"x"))
            .await
            .unwrap();
        // Same bucket: the table's own root sees it two levels up.
        let (wh, _) = table.relocated(2, "").unwrap();
        assert!(wh
            .get_opt("iceberg/default/t/metadata/a")
            .await
            .unwrap()
            .is_some());
        assert!(table.relocated(4, "x").is_err());
        assert!(table.relocated(1, "../x").is_err());

        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("default.db/t");
        std::fs::create_dir_all(&t).unwrap();
        let local = open_location(t.to_str().unwrap(), &StoreOptions::default()).unwrap();
        let (beside, names) = local.relocated(2, "iceberg/default/t").unwrap();
        assert_eq!(names, ["default.db", "t"]);
        beside
            .put_overwrite("metadata/v1.metadata.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert!(dir
            .path()
            .join("iceberg/default/t/metadata/v1.metadata.json")
            .exists());
    }

    #[test]
    fn keys_cannot_escape() {
        for bad in ["../x", "a/../b", "a//b", "./a", "a/\u{0}", "a\\b", "/abs"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        for good in [
            "snapshot/snapshot-1",
            "dt=a%3Ab/bucket-0/data-1-0.parquet",
            "tag/tag-x y",
        ] {
            assert!(check_key(good).is_ok(), "{good:?}");
        }
    }

    #[tokio::test]
    async fn local_store_addresses_percent_names() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let part = dir.path().join("dt=a%3Ab").join("bucket-0");
        std::fs::create_dir_all(&part).unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(part.join("data-1-0.parquet"), b"x").unwrap_or_else(|e| unreachable!("{e}"));
        let (store, root, _) =
            open::local_store(dir.path()).unwrap_or_else(|e| unreachable!("{e}"));
        let store = TableStore::new(store, &root, 4, "test");
        let listed = store.list("").await.unwrap_or_default();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "dt=a%3Ab/bucket-0/data-1-0.parquet");
        let bytes = store.get_opt(&listed[0].key).await.ok().flatten();
        assert_eq!(bytes.as_deref(), Some(&b"x"[..]));
    }

    #[tokio::test]
    async fn create_is_exclusive_and_delete_is_idempotent() {
        let store = TableStore::in_memory("t");
        let key = "snapshot/snapshot-1";
        let first = store.put_create(key, Bytes::from_static(b"a")).await.ok();
        let second = store.put_create(key, Bytes::from_static(b"b")).await.ok();
        assert_eq!(
            (first, second),
            (
                Some(CreateOutcome::Created),
                Some(CreateOutcome::AlreadyExists)
            )
        );
        assert_eq!(
            store.get_opt(key).await.ok().flatten().as_deref(),
            Some(&b"a"[..])
        );
        let keys = vec![key.to_string(), "snapshot/missing".to_string()];
        let outcomes = store.delete_many(&keys).await;
        assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
        assert_eq!(store.get_opt(key).await.ok().flatten(), None);
    }

    proptest::proptest! {
        /// The ASCII one-pass key check answers as the segment-by-segment one does.
        #[test]
        fn check_key_fast_path_equals_the_segment_rules(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "a", "1", ".", "..", "/", "\\", "\u{0}", "\n", "\u{7f}", "-", " ", "\u{85}",
            ]), 1..8),
        ) {
            let key: String = parts.concat();
            let fast = check_key(&key).map_err(|e| e.to_string());
            let general = check_key_segments(&key).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(fast, general);
        }
    }
}
