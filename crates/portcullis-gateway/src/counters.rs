//! The counter seam: reserve before forwarding, then commit or roll back.
//!
//! Per-session counters live with the session (a [`MemoryCounters`] of its own); identity and global
//! counters live in a shared [`CounterStore`], in memory today and in the replicated store later. The
//! policy engine reads both through [`CallCounters`], a [`CounterView`](portcullis_policy::CounterView).

mod memory;
mod reserved;
mod view;

use std::sync::Arc;

use portcullis_policy::{Ceiling, CounterId, Window};

pub use memory::MemoryCounters;
pub use reserved::{Reserved, reserve};
pub use view::CallCounters;

/// Whose calls one stored counter counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Partition {
    /// The session that owns the store.
    Session,
    /// One grant, under one policy.
    Identity {
        /// The grant id.
        grant: Arc<str>,
        /// The policy name.
        policy: Arc<str>,
    },
    /// Everyone under one policy.
    Global {
        /// The policy name.
        policy: Arc<str>,
    },
}

/// One stored counter value: a counter, in one partition, in one window.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CounterKey {
    /// Whose calls.
    pub partition: Partition,
    /// Which counter.
    pub counter: CounterId,
    /// Which window.
    pub window: Window,
}

/// One increment to reserve, with the ceiling the store must re-check atomically.
#[derive(Clone, Debug, PartialEq)]
pub struct Increment {
    /// Where.
    pub key: CounterKey,
    /// How much.
    pub amount: f64,
    /// What the counter may hold afterwards (strict for Intercept `lt` ceilings).
    pub ceiling: Option<Ceiling>,
}

/// A reservation the store refused: a counter would pass its ceiling, or (cluster-wide counters) the
/// node could not get a share of the quota to decide with.
#[derive(Clone, Debug, PartialEq)]
pub struct Exhausted {
    /// The counter that was full.
    pub counter: CounterId,
    /// Its ceiling.
    pub ceiling: Ceiling,
    /// The window it is full in.
    pub window: Window,
    /// Why the quota could not be had, when the counter itself is not known to be full.
    pub unavailable: Option<Arc<str>>,
    /// When to retry, if sooner than the window's end.
    pub retry_after_ms: Option<u64>,
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.unavailable {
            Some(cause) => write!(f, "quota unavailable for counter {}: {cause}", self.counter),
            None => write!(
                f,
                "counter {} would break its ceiling ({})",
                self.counter, self.ceiling
            ),
        }
    }
}

impl std::error::Error for Exhausted {}

/// Counter storage. Reserved amounts count toward [`CounterStore::current`] at once, so concurrent
/// calls cannot overshoot a limit; a rollback takes them back.
pub trait CounterStore: Send + Sync + 'static {
    /// The value of one counter, including reservations not yet committed.
    fn current(&self, key: &CounterKey) -> f64;

    /// Reserves every increment, or none of them.
    ///
    /// # Errors
    /// [`Exhausted`] when an increment would take its counter past its ceiling.
    fn reserve(&self, increments: &[Increment]) -> Result<(), Exhausted>;

    /// Makes earlier reservations final.
    fn commit(&self, increments: &[Increment]);

    /// Takes earlier reservations back.
    fn rollback(&self, increments: &[Increment]);

    /// Forgets counters whose window ended before `now_ms`.
    fn prune(&self, now_ms: u64);
}
