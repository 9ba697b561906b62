//! The wall clock, injected: policy windows and audit records need Unix time, and tests need to move it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use portcullis_policy::Timestamp;

/// Tells the current Unix time. The binary passes a system clock; tests pass a [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch, UTC.
    fn now(&self) -> Timestamp;
}

/// A clock that only moves when told to: deterministic windows in tests and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock stopped at `ms` since the epoch.
    pub fn at(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::Relaxed))
    }
}
