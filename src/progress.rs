//! Progress of long phases (reading metadata, listing, deleting, reading data), reported as
//! `tracing` events under the target [`TARGET`], so the library needs no callback plumbing and
//! costs nothing when nobody listens. The CLI draws them as progress bars on a terminal; a
//! library user may subscribe to the target.
//!
//! Each event has the fields `phase` (a short description), `done`, `total` (0 when unknown)
//! and `finished` (true on the last event of a phase).

use std::sync::atomic::{AtomicU64, Ordering};

/// The tracing target of progress events.
pub const TARGET: &str = "tagkeeper::progress";

/// One phase in progress. Dropping it reports the phase finished.
#[derive(Debug)]
pub(crate) struct Phase {
    name: &'static str,
    total: u64,
    done: AtomicU64,
}

impl Phase {
    /// Start a phase of `total` steps (0: unknown).
    pub(crate) fn start(name: &'static str, total: u64) -> Phase {
        emit(name, 0, total, false);
        Phase {
            name,
            total,
            done: AtomicU64::new(0),
        }
    }

    /// `n` more steps done.
    pub(crate) fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        emit(self.name, done, self.total, false);
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        emit(
            self.name,
            self.done.load(Ordering::Relaxed),
            self.total,
            true,
        );
    }
}

fn emit(phase: &'static str, done: u64, total: u64, finished: bool) {
    tracing::info!(target: "tagkeeper::progress", phase, done, total, finished);
}
