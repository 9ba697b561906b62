//! Counters as the engine sees them: a read-only view in, reservations out.
//!
//! The engine never changes a counter. It reads current values through [`CounterView`] and, when it
//! allows a call, lists the [`Reservation`]s the caller must make (atomically, before forwarding), then
//! commit on success or roll back on failure.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::window::Window;

/// A counter as named in the policy: `state.<scope>.<name>`. The scope is the tool key the counter was
/// defined under, or `_global` for `all_tools` and `"*"` counters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CounterId {
    /// The tool key (or `_global`).
    pub scope: Arc<str>,
    /// The counter's name within its scope.
    pub name: Arc<str>,
}

impl fmt::Display for CounterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.scope, self.name)
    }
}

impl serde::Serialize for CounterId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Whose calls a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// One agent session: local to the session, exact, needs no coordination.
    Session,
    /// One grant (identity), across all its sessions and nodes.
    Identity,
    /// Everyone using this policy, across the cluster.
    Global,
}

impl Per {
    /// The name policies use: `session`, `identity` or `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Identity => "identity",
            Self::Global => "global",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "session" => Some(Self::Session),
            "identity" => Some(Self::Identity),
            "global" => Some(Self::Global),
            _ => None,
        }
    }
}

/// Reads counter values. Implemented by the gateway (per-session counters, the replicated store).
pub trait CounterView {
    /// The value of `counter` for this call's session/identity (as `per` says) in `window`; zero when
    /// nothing was counted yet.
    fn current(&self, counter: &CounterId, per: Per, window: Window) -> f64;
}

/// A view in which every counter is zero.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCounters;

impl CounterView for NoCounters {
    fn current(&self, _: &CounterId, _: Per, _: Window) -> f64 {
        0.0
    }
}

/// Fixed values keyed by `scope.name`, whatever the partition or window: for `policy explain` and tests.
#[derive(Clone, Debug, Default)]
pub struct StaticCounters(pub BTreeMap<String, f64>);

impl CounterView for StaticCounters {
    fn current(&self, counter: &CounterId, _: Per, _: Window) -> f64 {
        // Explain and tests are not a hot path; formatting the key keeps the map's keys human-written.
        self.0.get(&counter.to_string()).copied().unwrap_or(0.0)
    }
}

/// An increment the caller must reserve before forwarding an allowed call.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Reservation {
    /// Which counter.
    pub counter: CounterId,
    /// Whose calls it counts.
    pub per: Per,
    /// The window the increment lands in.
    pub window: Window,
    /// How much to add.
    pub amount: f64,
    /// The ceiling the counter must respect after the increment, when the counter is a limit. The store
    /// checks it again atomically, since the view the engine read may be stale by the time it reserves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
}

/// The most a counter may hold after an increment.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Ceiling {
    /// The bound.
    pub max: f64,
    /// `lt` rather than `lte`: the total must stay strictly below `max`.
    pub strict: bool,
}

impl Ceiling {
    /// Whether a counter may hold `total`.
    pub fn admits(self, total: f64) -> bool {
        if self.strict {
            total < self.max
        } else {
            total <= self.max
        }
    }
}

impl std::fmt::Display for Ceiling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", if self.strict { "<" } else { "<=" }, self.max)
    }
}
