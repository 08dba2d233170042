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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(50),
            max: Duration::from_secs(2),
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

pub(crate) fn classify(e: &object_store::Error) -> Failure {
    let object_store::Error::Generic { source, .. } = e else {
        return Failure::Permanent;
    };
    let m = source.to_string().to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if any(&[
        "slowdown",
        "slow down",
        "503",
        "429",
        "too many requests",
        "throttl",
        "reduce your request rate",
    ]) {
        Failure::Throttled
    } else if any(&[
        "connection reset",
        "connection closed",
        "broken pipe",
        "timed out",
        "timeout",
        "500 internal",
        "internal error",
    ]) {
        Failure::Ambiguous
    } else {
        Failure::Permanent
    }
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
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let retry = match classify(&e) {
                        Failure::Throttled => true,
                        Failure::Ambiguous => idempotent,
                        Failure::Permanent => false,
                    };
                    if !retry || attempt >= self.attempts {
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

    #[test]
    fn classification() {
        assert_eq!(
            classify(&generic(
                "HTTP 503 SlowDown: Please reduce your request rate"
            )),
            Failure::Throttled
        );
        assert_eq!(classify(&generic("connection reset")), Failure::Ambiguous);
        assert_eq!(classify(&generic("access denied")), Failure::Permanent);
        let nf = object_store::Error::NotFound {
            path: "x".into(),
            source: "503".to_string().into(),
        };
        assert_eq!(classify(&nf), Failure::Permanent);
    }

    #[tokio::test]
    async fn retries_transient_errors_only_as_allowed() {
        let p = RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
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
        assert_eq!(p.run(false, flaky("503 SlowDown", 3)).await.ok(), Some(3));
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        assert!(p.run(false, flaky("connection reset", 1)).await.is_err());
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            p.run(true, flaky("connection reset", 1)).await.ok(),
            Some(1)
        );
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        assert!(p.run(true, flaky("503 SlowDown", 9)).await.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
