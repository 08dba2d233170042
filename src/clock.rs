//! Time, injected. Library logic never reads the wall clock itself: commands take a [`Clock`],
//! so tests can fix or advance time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the epoch (UTC).
    fn now_millis(&self) -> i64;

    /// The local wall-clock time, zone-less, as Java's `LocalDateTime.now()` gives it. Paimon
    /// stores this in `tagCreateTime` and `_CREATION_TIME`.
    fn now_local(&self) -> NaiveDateTime;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_millis(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    #[allow(clippy::disallowed_methods)]
    fn now_local(&self) -> NaiveDateTime {
        chrono::Local::now().naive_local()
    }
}

/// A clock for tests: fixed until advanced; its local zone is UTC.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing this time.
    pub fn new(millis: i64) -> Self {
        ManualClock {
            millis: Arc::new(AtomicI64::new(millis)),
        }
    }

    /// Move time forward.
    pub fn advance_millis(&self, delta: i64) {
        self.millis.fetch_add(delta, Ordering::SeqCst);
    }

    /// Set the time.
    pub fn set_millis(&self, millis: i64) {
        self.millis.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }

    fn now_local(&self) -> NaiveDateTime {
        DateTime::from_timestamp_millis(self.now_millis())
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }
}
