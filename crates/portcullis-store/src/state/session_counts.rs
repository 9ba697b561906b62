//! Per-session counters across nodes: what each node admitted for a session, so a node that continues
//! the session counts on from there instead of from zero.
//!
//! Each node reports its own cumulative contribution to each of a session's counters, off the call
//! path and debounced. A node's contribution only grows within a window, so apply keeps the larger of
//! the stored and the reported value: a re-sent or reordered report changes nothing. Entries whose
//! window ended at the proposer's stamped time are dropped then, and the whole tally goes with the
//! session's record.

use std::sync::Arc;

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use super::State;
use crate::{Applied, NodeId};

/// One per-session counter in one window. `member` names the server inside an aggregate (`/mcp`)
/// session, whose members count apart; it is empty for a session of one server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCountKey {
    /// The member server of an aggregate session; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub member: String,
    /// The policy counter's scope (a tool name or `_global`).
    pub scope: String,
    /// The policy counter's name.
    pub name: String,
    /// First millisecond of the window.
    pub window_start_ms: u64,
    /// Length of the window in milliseconds.
    pub window_len_ms: u64,
}

impl SessionCountKey {
    /// The first millisecond after the window.
    pub fn window_end_ms(&self) -> u64 {
        self.window_start_ms.saturating_add(self.window_len_ms)
    }
}

/// One counter's value, as a node reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCount {
    /// Which counter and window.
    pub key: SessionCountKey,
    /// What the node committed in that window so far (cumulative, not a delta).
    pub value: f64,
}

/// One node's contribution to one counter of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSessionCount {
    /// The node that admitted the calls.
    pub node: NodeId,
    /// Which counter and window.
    pub key: SessionCountKey,
    /// The largest value the node reported.
    pub value: f64,
}

/// Every node's contributions to one session's counters, ordered by key, then node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTally {
    /// The contributions.
    pub counts: Vec<NodeSessionCount>,
}

impl SessionTally {
    /// What nodes other than `me` counted for `key`.
    pub fn others(&self, me: NodeId, key: &SessionCountKey) -> f64 {
        self.for_key(key).filter(|c| c.node != me).map(|c| c.value).sum()
    }

    /// What `node` reported, every key.
    pub fn of_node(&self, node: NodeId) -> impl Iterator<Item = &NodeSessionCount> {
        self.counts.iter().filter(move |c| c.node == node)
    }

    fn for_key<'a>(&'a self, key: &'a SessionCountKey) -> impl Iterator<Item = &'a NodeSessionCount> {
        let start = self.counts.partition_point(|c| c.key < *key);
        self.counts[start..].iter().take_while(move |c| c.key == *key)
    }
}

/// One session's values in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionReport {
    /// The session id.
    pub session: String,
    /// The node's values for it (an aggregate's members may come as separate reports).
    pub counts: Vec<SessionCount>,
}

/// Merges `node`'s report. A session without a record is skipped: a report that lands after the
/// session's removal must not bring its tally back.
pub(super) fn report(
    state: &mut State,
    node: NodeId,
    at: Timestamp,
    sessions: Vec<SessionReport>,
) -> Applied {
    for report in sessions {
        if state.sessions.contains_key(&report.session) {
            merge(state, node, at, report);
        }
    }
    Applied::Done
}

fn merge(state: &mut State, node: NodeId, at: Timestamp, report: SessionReport) {
    let all = Arc::make_mut(&mut state.session_counts);
    let tally = all.entry(report.session.clone()).or_default();
    tally.counts.retain(|c| c.key.window_end_ms() > at.0);
    for count in report.counts {
        if count.key.window_end_ms() <= at.0 {
            continue;
        }
        let found = tally
            .counts
            .binary_search_by(|c| (&c.key, c.node).cmp(&(&count.key, node)));
        match found {
            Ok(i) => {
                if let Some(held) = tally.counts.get_mut(i) {
                    held.value = held.value.max(count.value);
                }
            }
            Err(i) => tally.counts.insert(
                i,
                NodeSessionCount {
                    node,
                    key: count.key,
                    value: count.value,
                },
            ),
        }
    }
    if tally.counts.is_empty() {
        all.remove(&report.session);
    }
}

/// Drops a session's tally (its record is being removed).
pub(super) fn forget(state: &mut State, session: &str) {
    if state.session_counts.contains_key(session) {
        Arc::make_mut(&mut state.session_counts).remove(session);
    }
}
