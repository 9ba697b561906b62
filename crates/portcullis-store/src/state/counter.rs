//! Counters: how much a counter has counted, per partition (grant, policy) and window.
//!
//! A counter key names the policy counter (`scope.name`), whose calls it counts (an opaque partition
//! chosen by the gateway, e.g. a grant id or a policy name) and its window. Values change only through
//! commands, and a positive change is checked against its ceiling when applied, so concurrent
//! proposers on different nodes can never push a counter past its limit.
//!
//! Cluster-wide counters are charged through escrowed quota slices (`quota.rs`): a counter's value
//! is then what nodes consumed plus what they still hold.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::State;
use crate::{Applied, ApplyError};

/// One counter in one partition and window.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterKey {
    /// The policy counter, `scope.name`.
    pub counter: String,
    /// Whose calls it counts (chosen by the gateway: a grant id, a policy name, ...).
    pub partition: String,
    /// First millisecond of the window.
    pub window_start_ms: u64,
    /// Length of the window in milliseconds.
    pub window_len_ms: u64,
}

impl CounterKey {
    /// The first millisecond after the window.
    pub fn window_end_ms(&self) -> u64 {
        self.window_start_ms.saturating_add(self.window_len_ms)
    }
}

impl fmt::Display for CounterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]@{}+{}ms",
            self.counter, self.partition, self.window_start_ms, self.window_len_ms
        )
    }
}

/// The most a counter may hold after an increment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterCeiling {
    /// The bound.
    pub max: f64,
    /// The total must stay strictly below `max` (`lt` rather than `lte`).
    pub strict: bool,
}

impl CounterCeiling {
    /// Whether a counter may hold `total`.
    pub fn admits(self, total: f64) -> bool {
        if self.strict {
            total < self.max
        } else {
            total <= self.max
        }
    }
}

impl From<portcullis_policy::Ceiling> for CounterCeiling {
    fn from(ceiling: portcullis_policy::Ceiling) -> Self {
        Self {
            max: ceiling.max,
            strict: ceiling.strict,
        }
    }
}

impl fmt::Display for CounterCeiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", if self.strict { "<" } else { "<=" }, self.max)
    }
}

pub(super) fn add(
    state: &mut State,
    key: CounterKey,
    delta: f64,
    ceiling: Option<CounterCeiling>,
) -> Result<Applied, ApplyError> {
    let current = state.counters.get(&key).copied().unwrap_or(0.0);
    let total = current + delta;
    if delta > 0.0
        && let Some(ceiling) = ceiling
        && !ceiling.admits(total)
    {
        return Err(ApplyError::CeilingExceeded {
            key,
            current,
            delta,
            ceiling,
        });
    }
    // A rollback never takes a counter below zero, whatever order reservations were undone in.
    let value = if total.is_finite() {
        total.max(0.0)
    } else {
        current
    };
    let counters = Arc::make_mut(&mut state.counters);
    if value == 0.0 {
        counters.remove(&key);
    } else {
        counters.insert(key, value);
    }
    Ok(Applied::Counter { value })
}

pub(super) fn reset(state: &mut State, key: &CounterKey) -> Result<Applied, ApplyError> {
    super::quota::reset(state, key);
    if state.counters.contains_key(key) {
        Arc::make_mut(&mut state.counters).remove(key);
    }
    Ok(Applied::Counter { value: 0.0 })
}

pub(super) fn prune(state: &mut State, before_ms: u64) -> Result<Applied, ApplyError> {
    let stale = state
        .counters
        .keys()
        .filter(|key| key.window_end_ms() <= before_ms)
        .count();
    super::quota::prune(state, before_ms);
    if stale > 0 {
        Arc::make_mut(&mut state.counters).retain(|key, _| key.window_end_ms() > before_ms);
    }
    Ok(Applied::Swept { count: stale as u64 })
}
