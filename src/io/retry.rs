//! Retries of transient store errors, above the object store's own HTTP retries: throttling
//! (`503 SlowDown`, `429`) and dropped connections are retried with exponential backoff and
//! jitter; anything else (not found, access denied, a precondition) is final at once.
//!
//! Only idempotent requests are retried on an *ambiguous* error (one after which the request
//! may have taken effect, like a reset connection): reads, listings, overwrites of hints and
//! deletes. A conditional create is retried only when the store refused it outright
//! (throttling); after an ambiguous error the caller's read-back decides (the commit path).

use std::future::Future;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubled per attempt.
    pub base: Duration,
    /// Longest backoff.
    pub max: Duration,
    /// No retry starts once this much time has passed since the first attempt: with the
    /// per-request timeout, this bounds how long a hung endpoint can hold a command.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(50),
            max: Duration::from_secs(2),
            budget: Duration::from_secs(45),
        }
    }
}

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The store refused the request (throttling): nothing happened, retry.
    Throttled,
    /// The request may or may not have taken effect (connection reset, timeout, 500).
    Ambiguous,
    /// Final.
    Permanent,
}

/// Classify an error from its structure, never from stray text: object paths and URLs appear
/// in error messages (`db503.db`, `snapshot-429`, hex in file names), so a bare number or word
/// anywhere in the text must not make a request look throttled — a conditional create retried
/// after an ambiguous failure could come back `AlreadyExists` for its own write.
///
/// Only `Generic` errors can be transient (object_store maps 404, 409, 412, 403 and 401 onto
/// their own variants). Their source chain is read link by link: an HTTP transport error or an
/// I/O error by its kind; an HTTP status as object_store's client renders it ("Server returned
/// non-2xx status code: 503 Service Unavailable: …", where the status directly follows that
/// fixed text and comes before the response body); failing those, a few exact phrases that a
/// URL cannot contain (they have spaces or angle brackets).
pub(crate) fn classify(e: &object_store::Error) -> Failure {
    let object_store::Error::Generic { source, .. } = e else {
        return Failure::Permanent;
    };
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    // Bounded: a cyclic source chain must not hang a retry decision.
    while let Some(err) = next.filter(|_| chain.len() < 32) {
        chain.push(err);
        next = err.source();
    }
    chain
        .iter()
        .find_map(|err| typed(*err))
        .or_else(|| chain.iter().find_map(|err| http_status(&err.to_string())))
        .or_else(|| chain.iter().find_map(|err| phrase(&err.to_string())))
        .unwrap_or(Failure::Permanent)
}

/// A transport or I/O error, by kind.
fn typed(err: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    if let Some(http) = err.downcast_ref::<object_store::client::HttpError>() {
        use object_store::client::HttpErrorKind as K;
        return Some(match http.kind() {
            // object_store has retried a refused connection within its own budget already;
            // an endpoint still unreachable after that is not going to answer in a second
            // (and retrying it again only delays the error by tens of seconds).
            K::Connect | K::Unknown => Failure::Permanent,
            // Failed in transit: it may have been carried out, so only idempotent requests
            // are tried again.
            _ => Failure::Ambiguous,
        });
    }
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind as K;
        return match io.kind() {
            K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::TimedOut
            | K::UnexpectedEof
            | K::Interrupted => Some(Failure::Ambiguous),
            _ => None,
        };
    }
    None
}

/// The HTTP status in object_store's rendering of a failed request, if the text is one.
fn http_status(text: &str) -> Option<Failure> {
    const STATUS: &str = "Server returned non-2xx status code: ";
    // S3 can answer 200 with an error document; object_store reports it as this.
    const ERROR_BODY: &str = "Server returned error response: ";
    if let Some(at) = text.find(STATUS) {
        let digits: String = text[at + STATUS.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let status: u16 = digits.parse().ok()?;
        return Some(match status {
            429 | 503 => Failure::Throttled,
            408 | 500..=599 => Failure::Ambiguous,
            _ => Failure::Permanent,
        });
    }
    let at = text.find(ERROR_BODY)?;
    let body = &text[at + ERROR_BODY.len()..];
    Some(if body.contains("<Code>SlowDown</Code>") {
        Failure::Throttled
    } else {
        Failure::Ambiguous
    })
}

/// Exact phrases, for errors that do not come from object_store's HTTP client (other
/// wrappers, the fault-injecting store). None of them can occur in a URL.
fn phrase(text: &str) -> Option<Failure> {
    const THROTTLED: [&str; 5] = [
        "503 Service Unavailable",
        "429 Too Many Requests",
        "Please reduce your request rate",
        "<Code>SlowDown</Code>",
        "(code: SlowDown)",
    ];
    const AMBIGUOUS: [&str; 7] = [
        "500 Internal Server Error",
        "<Code>InternalError</Code>",
        "(code: InternalError)",
        "connection reset",
        "connection closed",
        "broken pipe",
        "timed out",
    ];
    if THROTTLED.iter().any(|p| text.contains(p)) {
        return Some(Failure::Throttled);
    }
    let lower = text.to_ascii_lowercase();
    AMBIGUOUS
        .iter()
        .any(|p| lower.contains(&p.to_ascii_lowercase()))
        .then_some(Failure::Ambiguous)
}

impl RetryPolicy {
    /// The pause before attempt `n` (1-based retries), with up to 50 % random jitter so that
    /// many clients throttled together do not return together.
    fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max);
        let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
        exp + exp.saturating_mul(jitter) / 2000
    }

    /// Run `op` until it succeeds, fails for good, or attempts run out. `idempotent` allows
    /// retrying ambiguous failures.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        idempotent: bool,
        mut op: F,
    ) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let mut attempt = 1;
        let started = tokio::time::Instant::now();
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let retry = match classify(&e) {
                        Failure::Throttled => true,
                        Failure::Ambiguous => idempotent,
                        Failure::Permanent => false,
                    };
                    if !retry || attempt >= self.attempts || started.elapsed() >= self.budget {
                        return Err(e);
                    }
                    tracing::debug!(attempt, error = %e, "transient store error; retrying");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(m: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: m.to_string().into(),
        }
    }

    /// An error shaped like object_store's `RetryError`: its text names the method and URL
    /// and ends with the cause, which is also its source.
    #[derive(Debug)]
    struct Request {
        text: String,
        source: Option<object_store::client::HttpError>,
    }

    impl std::fmt::Display for Request {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.text)
        }
    }

    impl std::error::Error for Request {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source
                .as_ref()
                .map(|e| e as &(dyn std::error::Error + 'static))
        }
    }

    fn http(text: &str, kind: Option<object_store::client::HttpErrorKind>) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(Request {
                text: text.to_string(),
                source: kind.map(|k| {
                    object_store::client::HttpError::new(
                        k,
                        std::io::Error::other("operation failed"),
                    )
                }),
            }),
        }
    }

    #[test]
    fn numbers_and_words_in_paths_are_not_throttling() {
        use object_store::client::HttpErrorKind;
        // Each of these was classified as throttling from the text of its URL or path.
        let permanent = [
            "Error performing GET http://127.0.0.1:9000/bucket/wh/db503.db/t/snapshot/snapshot-503 \
             in 2ms - Server returned non-2xx status code: 400 Bad Request: <Error><Code>InvalidRequest</Code></Error>",
            "Error performing PUT http://h/b/t/manifest/manifest-5b03a429-0 in 1ms - Server returned \
             non-2xx status code: 400 Bad Request: ",
            "Unable to open file /data/wh/db503.db/t/timeout/data-429-0.parquet: Is a directory (os error 21)",
            "Unable to read /tmp/slowdown/SlowDown/too-many-requests-503: Invalid argument",
        ];
        for m in permanent {
            assert_eq!(classify(&generic(m)), Failure::Permanent, "{m}");
            assert_eq!(classify(&http(m, None)), Failure::Permanent, "{m}");
        }
        // A timeout of a conditional create whose URL holds 503: ambiguous (the create may have
        // happened), never throttled (which would retry it and find its own write).
        let e = http(
            "Error performing PUT http://h/b/db503.db/t/tag/tag-v503 in 30s - HTTP error: timeout",
            Some(HttpErrorKind::Timeout),
        );
        assert_eq!(classify(&e), Failure::Ambiguous);
        let e = http(
            "Error performing PUT http://h/b/t/snapshot/snapshot-429 in 1s - HTTP error: reset",
            Some(HttpErrorKind::Interrupted),
        );
        assert_eq!(classify(&e), Failure::Ambiguous);
        // An endpoint that refuses connections (object_store retried it already), even with
        // "timeout" and "503" in its URL.
        let e = http(
            "Error performing GET http://h:9/b/timeout503/t?list-type=2 in 6s, after 10 retries \
             - HTTP error: error sending request",
            Some(HttpErrorKind::Connect),
        );
        assert_eq!(classify(&e), Failure::Permanent);
        // Not found and friends are final whatever their text says.
        let nf = object_store::Error::NotFound {
            path: "x".into(),
            source: "503 Service Unavailable".to_string().into(),
        };
        assert_eq!(classify(&nf), Failure::Permanent);
    }

    #[test]
    fn real_throttling_and_transient_errors() {
        let throttled = [
            "Error performing PUT http://h/b/t/snapshot/snapshot-1 in 1s, after 10 retries, \
             max_retries: 10, retry_timeout: 180s  - Server returned non-2xx status code: \
             503 Service Unavailable: <Error><Code>SlowDown</Code><Message>Please reduce your \
             request rate.</Message></Error>",
            "Error performing GET https://storage.googleapis.com/b/t in 3s - Server returned \
             non-2xx status code: 429 Too Many Requests: rateLimitExceeded",
            "Error performing POST http://h/b/t/x in 1s - Server returned error response: \
             <Error><Code>SlowDown</Code></Error>",
            "DeleteObjects request failed for key t/manifest/m-1: Please reduce your request \
             rate. (code: SlowDown)",
            "injected fault: HTTP 503 SlowDown: Please reduce your request rate",
        ];
        for m in throttled {
            assert_eq!(classify(&http(m, None)), Failure::Throttled, "{m}");
        }
        let ambiguous = [
            "Error performing PUT http://h/b/t/x in 1s - Server returned non-2xx status code: \
             500 Internal Server Error: <Error><Code>InternalError</Code></Error>",
            "Error performing POST http://h/b/t/x in 1s - Server returned error response: \
             <Error><Code>InternalError</Code></Error>",
            "connection reset",
            "operation timed out",
        ];
        for m in ambiguous {
            assert_eq!(classify(&http(m, None)), Failure::Ambiguous, "{m}");
        }
        let io = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "peer went away",
            )),
        };
        assert_eq!(classify(&io), Failure::Ambiguous);
        assert_eq!(classify(&generic("access denied")), Failure::Permanent);
    }

    #[test]
    fn the_fault_store_s_errors_classify_as_intended() {
        use crate::io::fault::{injected, InjectedError};
        let path = "wh/db503.db/t/tag/tag-429-timeout";
        let cases = [
            (InjectedError::SlowDown, Failure::Throttled),
            (InjectedError::Generic, Failure::Ambiguous),
            (InjectedError::Timeout, Failure::Ambiguous),
            (InjectedError::NotFound, Failure::Permanent),
            (InjectedError::PermissionDenied, Failure::Permanent),
        ];
        for (error, want) in cases {
            assert_eq!(
                classify(&injected(error, path, "injected fault")),
                want,
                "{error:?}"
            );
        }
    }

    const SLOW_DOWN: &str = "Server returned non-2xx status code: 503 Service Unavailable: ";

    #[tokio::test]
    async fn retries_transient_errors_only_as_allowed() {
        let p = RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
            budget: Duration::from_secs(60),
        };
        let calls = std::sync::atomic::AtomicU32::new(0);
        let flaky = |msg: &'static str, fail: u32| {
            let calls = &calls;
            move || {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if n < fail {
                        Err(generic(msg))
                    } else {
                        Ok(n)
                    }
                }
            }
        };
        assert_eq!(p.run(false, flaky(SLOW_DOWN, 3)).await.ok(), Some(3));
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        assert!(p.run(false, flaky("connection reset", 1)).await.is_err());
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            p.run(true, flaky("connection reset", 1)).await.ok(),
            Some(1)
        );
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        assert!(p.run(true, flaky(SLOW_DOWN, 9)).await.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
