//! A store wrapper for tests and benchmarks: counts requests by kind, and injects faults.
//!
//! * fail the k-th request with a chosen error, before or after it reaches the store (the
//!   latter is a lost response: the write happened but the caller saw an error);
//! * crash after k requests: every later request fails and nothing reaches the store, which is
//!   what a killed process looks like from the store's side;
//! * throttle: a run of requests answered with S3's `503 SlowDown`;
//! * fail every request whose path contains a string (an unreadable file);
//! * add latency to every request (an S3-like store on a laptop).
//!
//! Request numbers start at 1 and count every request the code under test makes, including
//! failed ones, in the order they are admitted.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use serde::Serialize;

/// Requests seen, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// GET requests (whole or ranged reads).
    pub get: u64,
    /// HEAD requests.
    pub head: u64,
    /// PUT requests (plain and conditional).
    pub put: u64,
    /// LIST requests (one per listing call; pagination is below this layer).
    pub list: u64,
    /// Objects deleted (keys passed to delete).
    pub delete: u64,
    /// Bulk delete requests: S3's DeleteObjects takes up to 1,000 keys, so a delete of up
    /// to 1,000 keys that are ready together is one request and one round trip of latency.
    pub delete_batches: u64,
    /// Copy and rename requests.
    pub copy: u64,
    /// Bytes returned by GETs.
    pub bytes_read: u64,
}

impl RequestCounts {
    /// All requests (deletes count per key).
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.list + self.delete + self.copy
    }

    /// Requests as an S3 client sends them: deletes count per bulk request, not per key.
    pub fn round_trips(&self) -> u64 {
        self.get + self.head + self.put + self.list + self.delete_batches + self.copy
    }
}

/// The error an injected fault produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedError {
    /// A generic I/O failure (connection reset).
    Generic,
    /// S3 throttling: `503 SlowDown`.
    SlowDown,
    /// The object does not exist.
    NotFound,
    /// Access denied.
    PermissionDenied,
    /// An HTTP timeout: the request may or may not have taken effect.
    Timeout,
}

#[derive(Debug, Clone, Copy)]
struct Injection {
    error: InjectedError,
    /// Forward the request first, then fail: the store changed but the caller sees an error.
    after_forward: bool,
}

type Hook = futures::future::BoxFuture<'static, ()>;

#[derive(Default)]
struct State {
    seq: u64,
    counts: RequestCounts,
    fail_at: BTreeMap<u64, Injection>,
    crash_after: Option<u64>,
    throttle: Option<Range<u64>>,
    failing_paths: Vec<(String, InjectedError)>,
    latency: Duration,
    crashed: bool,
    hooks: BTreeMap<u64, Hook>,
    log: Vec<(u64, &'static str, String)>,
    /// Keep only counts (benchmarks with millions of requests).
    no_log: bool,
    /// Requests sleeping through the added latency right now, and the most at once: the
    /// concurrency a benchmark actually reached.
    in_flight: u64,
    max_in_flight: u64,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("seq", &self.seq)
            .field("counts", &self.counts)
            .field("hooks", &self.hooks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Get,
    Head,
    Put,
    List,
    Delete,
    Copy,
}

/// Controls and inspects a [`FaultStore`] from the test.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle {
    state: Arc<Mutex<State>>,
}

impl FaultHandle {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests counted so far.
    pub fn counts(&self) -> RequestCounts {
        self.lock().counts
    }

    /// Number of requests admitted so far (the k of the next request is this plus one).
    pub fn requests(&self) -> u64 {
        self.lock().seq
    }

    /// Fail request number `k` with `error`, without forwarding it.
    pub fn fail_request(&self, k: u64, error: InjectedError) {
        self.lock().fail_at.insert(
            k,
            Injection {
                error,
                after_forward: false,
            },
        );
    }

    /// Forward request number `k`, then report `error` (a lost response).
    pub fn lose_response(&self, k: u64, error: InjectedError) {
        self.lock().fail_at.insert(
            k,
            Injection {
                error,
                after_forward: true,
            },
        );
    }

    /// Let `k` requests through, then fail everything: a process killed after request `k`.
    pub fn crash_after(&self, k: u64) {
        self.lock().crash_after = Some(k);
    }

    /// True once a request was refused because of [`FaultHandle::crash_after`].
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Answer requests `from..from + count` with `503 SlowDown`.
    pub fn throttle(&self, from: u64, count: u64) {
        self.lock().throttle = Some(from..from.saturating_add(count));
    }

    /// Fail every request whose path contains `needle`.
    pub fn fail_paths_containing(&self, needle: &str, error: InjectedError) {
        self.lock().failing_paths.push((needle.to_string(), error));
    }

    /// Sleep this long before each request.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Run `hook` to completion just before request number `k` is forwarded (e.g. another
    /// writer's commit landing in the middle of this one). The hook's own requests are
    /// numbered after `k`.
    pub fn before_request(&self, k: u64, hook: Hook) {
        self.lock().hooks.insert(k, hook);
    }

    /// Every request admitted: number, kind (`get`, `head`, `put`, `list`, `delete`, `copy`)
    /// and path.
    pub fn log(&self) -> Vec<(u64, &'static str, String)> {
        self.lock().log.clone()
    }

    /// Record each request in [`FaultHandle::log`] (the default) or only count it.
    pub fn set_logging(&self, on: bool) {
        let mut s = self.lock();
        s.no_log = !on;
        if !on {
            s.log = Vec::new();
        }
    }

    /// The most requests that were in their added latency at once since the last
    /// [`FaultHandle::reset_max_in_flight`] (0 without latency).
    pub fn max_in_flight(&self) -> u64 {
        self.lock().max_in_flight
    }

    /// Start measuring [`FaultHandle::max_in_flight`] afresh.
    pub fn reset_max_in_flight(&self) {
        let mut s = self.lock();
        s.max_in_flight = s.in_flight;
    }

    /// Clear all faults and counts (the store's contents are untouched).
    pub fn reset(&self) {
        *self.lock() = State::default();
    }

    /// Decide the fate of one request and count it, charging the added latency.
    async fn admit(&self, kind: Kind, path: &str) -> Result<Option<Injection>> {
        self.admit_charged(kind, path, true).await
    }

    /// Sleep through the added latency once, counted in flight (one bulk request).
    async fn charge_latency(&self) {
        let latency = self.lock().latency;
        self.sleep_in_flight(latency).await;
    }

    /// Sleep through `latency` (nothing when zero), counted as one request in flight.
    async fn sleep_in_flight(&self, latency: Duration) {
        if latency.is_zero() {
            return;
        }
        {
            let mut s = self.lock();
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
        }
        // Counted down however the sleep ends (a dropped future included).
        let _done = InFlight(self);
        tokio::time::sleep(latency).await;
    }

    /// [`FaultHandle::admit`]; `charge` false for a key of a bulk request whose latency the
    /// caller charged once for the whole batch.
    async fn admit_charged(
        &self,
        kind: Kind,
        path: &str,
        charge: bool,
    ) -> Result<Option<Injection>> {
        let (latency, outcome, hook) = {
            let mut s = self.lock();
            if s.crashed || s.crash_after.is_some_and(|k| s.seq >= k) {
                s.crashed = true;
                // Not a transient error: nothing is left to retry it.
                return Err(object_store::Error::Generic {
                    store: "FaultStore",
                    source: Box::new(FaultError::new(format!(
                        "{path}: simulated crash: the process is gone"
                    ))),
                });
            }
            s.seq += 1;
            let n = s.seq;
            let name = match kind {
                Kind::Get => {
                    s.counts.get += 1;
                    "get"
                }
                Kind::Head => {
                    s.counts.head += 1;
                    "head"
                }
                Kind::Put => {
                    s.counts.put += 1;
                    "put"
                }
                Kind::List => {
                    s.counts.list += 1;
                    "list"
                }
                Kind::Delete => {
                    s.counts.delete += 1;
                    "delete"
                }
                Kind::Copy => {
                    s.counts.copy += 1;
                    "copy"
                }
            };
            if !s.no_log {
                s.log.push((n, name, path.to_string()));
            }
            let hook = s.hooks.remove(&n);
            let outcome = if let Some(inj) = s.fail_at.get(&n).copied() {
                Some(inj)
            } else if s.throttle.as_ref().is_some_and(|r| r.contains(&n)) {
                Some(Injection {
                    error: InjectedError::SlowDown,
                    after_forward: false,
                })
            } else {
                s.failing_paths
                    .iter()
                    .find(|(needle, _)| path.contains(needle.as_str()))
                    .map(|(_, error)| Injection {
                        error: *error,
                        after_forward: false,
                    })
            };
            (s.latency, outcome, hook)
        };
        if let Some(hook) = hook {
            hook.await;
        }
        if charge {
            self.sleep_in_flight(latency).await;
        }
        match outcome {
            Some(inj) if !inj.after_forward => Err(injected(inj.error, path, "injected fault")),
            other => Ok(other),
        }
    }

    fn add_bytes(&self, n: u64) {
        self.lock().counts.bytes_read += n;
    }
}

/// Counts one request out of flight when dropped.
struct InFlight<'a>(&'a FaultHandle);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
    }
}

/// Keys per bulk delete request (S3's DeleteObjects limit).
const BULK_DELETE_KEYS: usize = 1000;

/// One key of a bulk delete: admitted (counted, faults applied) without its own latency.
async fn delete_one(
    inner: &Arc<dyn ObjectStore>,
    handle: &FaultHandle,
    store: &FaultStore,
    location: Result<Path>,
) -> Result<Path> {
    let location = location?;
    let inj = handle
        .admit_charged(Kind::Delete, location.as_ref(), false)
        .await?;
    let r = inner
        .delete_stream(futures::stream::iter([Ok(location.clone())]).boxed())
        .next()
        .await
        .unwrap_or(Ok(location.clone()));
    store.after(inj, location.as_ref(), r)
}

/// An injected failure. Shaped like object_store's own HTTP errors: the text names the request
/// and its path (as a real error names the URL), the cause is its source. The path is there on
/// purpose: error classification must not be fooled by what a path contains.
#[derive(Debug)]
struct FaultError {
    text: String,
    source: Option<object_store::client::HttpError>,
}

impl FaultError {
    fn new(text: String) -> Self {
        FaultError { text, source: None }
    }
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for FaultError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub(crate) fn injected(error: InjectedError, path: &str, why: &str) -> object_store::Error {
    let generic = |e: FaultError| object_store::Error::Generic {
        store: "FaultStore",
        source: Box::new(e),
    };
    match error {
        InjectedError::Generic => generic(FaultError::new(format!(
            "{why} on {path}: connection reset"
        ))),
        // As object_store renders an S3 throttling answer.
        InjectedError::SlowDown => generic(FaultError::new(format!(
            "{why} on {path}: Server returned non-2xx status code: 503 Service Unavailable: \
             <Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        ))),
        InjectedError::Timeout => generic(FaultError {
            text: format!("{why} on {path}: HTTP error: operation timed out"),
            source: Some(object_store::client::HttpError::new(
                object_store::client::HttpErrorKind::Timeout,
                FaultError::new("operation timed out".into()),
            )),
        }),
        InjectedError::NotFound => object_store::Error::NotFound {
            path: path.to_string(),
            source: Box::new(FaultError::new(why.to_string())),
        },
        InjectedError::PermissionDenied => object_store::Error::PermissionDenied {
            path: path.to_string(),
            source: Box::new(FaultError::new(format!("{why}: access denied"))),
        },
    }
}

/// The wrapper. Implements every trait method so that nothing bypasses the counting.
#[derive(Debug, Clone)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    handle: FaultHandle,
}

impl FaultStore {
    /// Wrap a store.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        FaultStore {
            inner,
            handle: FaultHandle::default(),
        }
    }

    /// The control handle (cheap to clone).
    pub fn handle(&self) -> FaultHandle {
        self.handle.clone()
    }

    fn after<T>(&self, inj: Option<Injection>, path: &str, result: Result<T>) -> Result<T> {
        match inj {
            Some(inj) if inj.after_forward && result.is_ok() => {
                Err(injected(inj.error, path, "injected lost response"))
            }
            _ => result,
        }
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let inj = self.handle.admit(Kind::Put, location.as_ref()).await?;
        let r = self.inner.put_opts(location, payload, opts).await;
        self.after(inj, location.as_ref(), r)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inj = self.handle.admit(Kind::Put, location.as_ref()).await?;
        let r = self.inner.put_multipart_opts(location, opts).await;
        self.after(inj, location.as_ref(), r)
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let kind = if options.head { Kind::Head } else { Kind::Get };
        let inj = self.handle.admit(kind, location.as_ref()).await?;
        let head = options.head;
        let r = self.inner.get_opts(location, options).await;
        if let (Ok(res), false) = (&r, head) {
            self.handle
                .add_bytes(res.range.end.saturating_sub(res.range.start));
        }
        self.after(inj, location.as_ref(), r)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let inj = self.handle.admit(Kind::Get, location.as_ref()).await?;
        let r = self.inner.get_ranges(location, ranges).await;
        if let Ok(parts) = &r {
            self.handle
                .add_bytes(parts.iter().map(|b| b.len() as u64).sum());
        }
        self.after(inj, location.as_ref(), r)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        // Like S3's client: the keys that are ready together, up to 1,000, go as one bulk
        // request, so the added latency is charged once per batch. Each key is still counted,
        // logged and open to faults on its own (a crash can fall between two keys of a batch,
        // as a real bulk delete can stop part-way).
        let inner = Arc::clone(&self.inner);
        let handle = self.handle.clone();
        let this = self.clone();
        locations
            .ready_chunks(BULK_DELETE_KEYS)
            .then(move |batch| {
                let inner = Arc::clone(&inner);
                let handle = handle.clone();
                let this = this.clone();
                async move {
                    handle.lock().counts.delete_batches += 1;
                    handle.charge_latency().await;
                    let mut out = Vec::with_capacity(batch.len());
                    for location in batch {
                        out.push(delete_one(&inner, &handle, &this, location).await);
                    }
                    futures::stream::iter(out)
                }
            })
            .flatten()
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let handle = self.handle.clone();
        let prefix = prefix.cloned();
        async move {
            let shown = prefix.as_ref().map(|p| p.to_string()).unwrap_or_default();
            match handle.admit(Kind::List, &shown).await {
                Ok(_) => inner.list(prefix.as_ref()),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        }
        .flatten_stream()
        .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let handle = self.handle.clone();
        let prefix = prefix.cloned();
        let offset = offset.clone();
        async move {
            let shown = prefix.as_ref().map(|p| p.to_string()).unwrap_or_default();
            match handle.admit(Kind::List, &shown).await {
                Ok(_) => inner.list_with_offset(prefix.as_ref(), &offset),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        }
        .flatten_stream()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let shown = prefix.map(|p| p.to_string()).unwrap_or_default();
        let inj = self.handle.admit(Kind::List, &shown).await?;
        let r = self.inner.list_with_delimiter(prefix).await;
        self.after(inj, &shown, r)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let inj = self.handle.admit(Kind::Copy, to.as_ref()).await?;
        let r = self.inner.copy_opts(from, to, options).await;
        self.after(inj, to.as_ref(), r)
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        let inj = self.handle.admit(Kind::Copy, to.as_ref()).await?;
        let r = self.inner.rename_opts(from, to, options).await;
        self.after(inj, to.as_ref(), r)
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutMode};

    use super::*;

    fn store() -> (FaultStore, FaultHandle) {
        let s = FaultStore::new(Arc::new(InMemory::new()));
        let h = s.handle();
        (s, h)
    }

    #[tokio::test]
    async fn counts_requests_by_kind() {
        let (s, h) = store();
        let p = Path::from("a/b");
        s.put(&p, PutPayload::from_static(b"hello")).await.unwrap();
        s.get(&p).await.unwrap().bytes().await.unwrap();
        s.head(&p).await.unwrap();
        let _: Vec<_> = s.list(None).collect().await;
        s.delete(&p).await.unwrap();
        let c = h.counts();
        assert_eq!(
            (c.put, c.get, c.head, c.list, c.delete, c.bytes_read),
            (1, 1, 1, 1, 1, 5)
        );
        assert_eq!(c.total(), 5);
    }

    #[tokio::test]
    async fn fails_the_kth_request_and_crashes_after_k() {
        let (s, h) = store();
        let p = Path::from("x");
        h.fail_request(2, InjectedError::PermissionDenied);
        s.put(&p, PutPayload::from_static(b"1")).await.unwrap();
        assert!(matches!(
            s.head(&p).await,
            Err(object_store::Error::PermissionDenied { .. })
        ));
        h.crash_after(3);
        s.head(&p).await.unwrap();
        assert!(s.head(&p).await.is_err());
        assert!(s.put(&p, PutPayload::from_static(b"2")).await.is_err());
        assert!(h.crashed());
        h.reset();
        // The crashed put never reached the store.
        assert_eq!(
            s.get(&p).await.unwrap().bytes().await.unwrap().as_ref(),
            b"1"
        );
    }

    #[tokio::test]
    async fn a_lost_response_still_writes() {
        let (s, h) = store();
        let p = Path::from("snapshot-1");
        h.lose_response(1, InjectedError::Generic);
        let r = s
            .put_opts(&p, PutPayload::from_static(b"v"), PutMode::Create.into())
            .await;
        assert!(r.is_err());
        assert!(s.head(&p).await.is_ok(), "the write happened");
    }

    #[tokio::test]
    async fn throttles_and_fails_paths() {
        let (s, h) = store();
        h.throttle(1, 2);
        h.fail_paths_containing("manifest/bad", InjectedError::Generic);
        let p = Path::from("x");
        for _ in 0..2 {
            let e = s.head(&p).await.unwrap_err().to_string();
            assert!(e.contains("SlowDown"), "{e}");
        }
        assert!(matches!(
            s.head(&p).await,
            Err(object_store::Error::NotFound { .. })
        ));
        assert!(s
            .head(&Path::from("manifest/bad-1"))
            .await
            .unwrap_err()
            .to_string()
            .contains("injected"));
    }

    #[tokio::test]
    async fn a_bulk_delete_is_one_request_per_thousand_keys_with_each_key_counted() {
        let (s, h) = store();
        let keys: Vec<Path> = (0..2500).map(|i| Path::from(format!("d/{i}"))).collect();
        for k in &keys {
            s.put(k, PutPayload::from_static(b"x")).await.unwrap();
        }
        let latency = Duration::from_millis(20);
        h.set_latency(latency);
        let stream = futures::stream::iter(keys.clone().into_iter().map(Ok)).boxed();
        let started = std::time::Instant::now();
        let deleted: Vec<Result<Path>> = s.delete_stream(stream).collect().await;
        let elapsed = started.elapsed();
        assert_eq!(deleted.len(), 2500);
        assert!(deleted.iter().all(|r| r.is_ok()));
        let c = h.counts();
        assert_eq!((c.delete, c.delete_batches), (2500, 3));
        assert_eq!(c.round_trips(), 2500 + 3);
        // Three round trips of latency, not 2,500 (which would be 50 s).
        assert!(elapsed >= latency * 3, "{elapsed:?}");
        assert!(elapsed < latency * 250, "{elapsed:?}");
        assert!(s.list(None).next().await.is_none(), "every key is gone");
    }

    #[tokio::test]
    async fn a_crash_can_fall_between_two_keys_of_one_bulk_delete() {
        let (s, h) = store();
        let keys: Vec<Path> = (0..5).map(|i| Path::from(format!("d/{i}"))).collect();
        for k in &keys {
            s.put(k, PutPayload::from_static(b"x")).await.unwrap();
        }
        h.reset();
        h.crash_after(2);
        let stream = futures::stream::iter(keys.clone().into_iter().map(Ok)).boxed();
        let deleted: Vec<Result<Path>> = s.delete_stream(stream).collect().await;
        assert_eq!(deleted.iter().filter(|r| r.is_ok()).count(), 2);
        h.reset();
        let left: Vec<String> = s
            .list(None)
            .map(|m| m.unwrap().location.to_string())
            .collect()
            .await;
        assert_eq!(left, vec!["d/2", "d/3", "d/4"]);
    }
}
