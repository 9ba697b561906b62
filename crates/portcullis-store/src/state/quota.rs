//! Escrowed quota: nodes lease slices of a counter's remaining headroom and spend them locally.
//!
//! A counter's value (`State::counters`) is everything charged against its ceiling in its window: what
//! nodes consumed plus what they still hold unspent. Granting a slice charges it at once, so the sum of
//! every node's slices never exceeds the ceiling, whatever the nodes do afterwards; a node that dies
//! with a slice only loses it (under-admission), never over-admits. Returning an unspent slice takes it
//! off the counter again, but never more than the node was charged, so a late or repeated return can't
//! open headroom that was never leased.
//!
//! A reset (`ResetCounter`) zeroes the counter and bumps its epoch. Every grant says which epoch it
//! was charged in and every return which epoch it gives back to, so a slice leased before the reset
//! can neither be spent on top of the fresh budget (nodes drop it once they see the new epoch) nor
//! free headroom in it (a return from an older epoch frees nothing).
//!
//! One `LeaseQuota` entry carries every return and request a node has at that moment, so the log
//! sees a few entries per node per second, not one per call.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{CounterCeiling, CounterKey, State};
use crate::{Applied, ApplyError, NodeId, Timestamp};

/// A node asks for up to `want` more of a counter's headroom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaAsk {
    /// Which counter, whose, and which window.
    pub key: CounterKey,
    /// How much the node would like (a grant may be smaller, down to zero).
    pub want: f64,
    /// The counter's ceiling, from the policy that counts it.
    pub ceiling: CounterCeiling,
}

/// A node gives back part of a slice it no longer needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaReturn {
    /// Which counter.
    pub key: CounterKey,
    /// How much of its slice the node did not spend.
    pub amount: f64,
    /// The epoch the slice was granted in (see the module docs); a return from an older one frees
    /// nothing.
    #[serde(default)]
    pub epoch: u64,
}

/// What one ask got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuotaGrant {
    /// How much was leased (zero when the counter is full or its window is over).
    pub granted: f64,
    /// The grant reaches a strict (`lt`) ceiling exactly: the node must spend strictly less than it.
    pub capped: bool,
    /// The counter's headroom left after this grant (the asking node sizes its next ask by it).
    pub remaining: f64,
    /// The counter's epoch the grant was charged in: a node drops what it holds from older ones.
    #[serde(default)]
    pub epoch: u64,
}

/// How much each node is charged for one counter: what it consumed plus what it still holds.
pub type NodeCharges = BTreeMap<NodeId, f64>;

/// A read-only view of one counter's escrow, for inspection (the admin API).
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaView<'a> {
    /// Everything charged against the ceiling in this window (consumed or held by a node).
    pub charged: f64,
    /// The same, per node that leased a slice.
    pub by_node: Option<&'a NodeCharges>,
    /// How many times the counter was reset in its window.
    pub epoch: u64,
}

impl State {
    /// One counter's escrow: its value and who it is charged to.
    pub fn quota(&self, key: &CounterKey) -> QuotaView<'_> {
        QuotaView {
            charged: self.counters.get(key).copied().unwrap_or(0.0),
            by_node: self.quota_leases.get(key),
            epoch: self.quota_epoch(key),
        }
    }

    /// How many times `key` was reset in its window (0 when never).
    pub fn quota_epoch(&self, key: &CounterKey) -> u64 {
        self.quota_epochs.get(key).copied().unwrap_or(0)
    }
}

pub(super) fn lease(
    state: &mut State,
    node: NodeId,
    at: Timestamp,
    asks: Vec<QuotaAsk>,
    returns: Vec<QuotaReturn>,
) -> Result<Applied, ApplyError> {
    for back in returns {
        give_back(state, node, back);
    }
    let grants = asks.into_iter().map(|ask| grant(state, node, at, ask)).collect();
    Ok(Applied::Quota { grants })
}

fn give_back(state: &mut State, node: NodeId, back: QuotaReturn) {
    // What a node held before a reset was wiped with the counter; taking it off again would open
    // headroom in the fresh budget.
    if back.epoch != state.quota_epoch(&back.key) {
        return;
    }
    let charged = state
        .quota_leases
        .get(&back.key)
        .and_then(|nodes| nodes.get(&node))
        .copied()
        .unwrap_or(0.0);
    // `min` would pass over a NaN; validation refuses one, and apply must not trust that alone.
    let amount = if back.amount.is_finite() {
        back.amount.min(charged)
    } else {
        0.0
    };
    if amount <= 0.0 {
        return;
    }
    charge(state, node, &back.key, -amount);
}

fn grant(state: &mut State, node: NodeId, at: Timestamp, ask: QuotaAsk) -> QuotaGrant {
    let epoch = state.quota_epoch(&ask.key);
    let value = state.counters.get(&ask.key).copied().unwrap_or(0.0);
    let headroom = (ask.ceiling.max - value).max(0.0);
    // A slice for a window that is over could never be spent in it; refusing keeps pruned windows
    // from coming back.
    let open = at.as_millis() < ask.key.window_end_ms();
    let granted = if open && ask.want.is_finite() {
        ask.want.min(headroom).max(0.0)
    } else {
        0.0
    };
    if granted <= 0.0 {
        return QuotaGrant {
            granted: 0.0,
            capped: false,
            remaining: headroom,
            epoch,
        };
    }
    charge(state, node, &ask.key, granted);
    QuotaGrant {
        granted,
        capped: ask.ceiling.strict && granted >= headroom,
        remaining: headroom - granted,
        epoch,
    }
}

/// Adds `delta` to the counter and to the node's charge, dropping entries that reach zero.
fn charge(state: &mut State, node: NodeId, key: &CounterKey, delta: f64) {
    let counters = Arc::make_mut(&mut state.counters);
    let value = (counters.get(key).copied().unwrap_or(0.0) + delta).max(0.0);
    if value > 0.0 {
        counters.insert(key.clone(), value);
    } else {
        counters.remove(key);
    }
    let leases = Arc::make_mut(&mut state.quota_leases);
    let nodes = leases.entry(key.clone()).or_default();
    let mine = (nodes.get(&node).copied().unwrap_or(0.0) + delta).max(0.0);
    if mine > 0.0 {
        nodes.insert(node, mine);
    } else {
        nodes.remove(&node);
    }
    if nodes.is_empty() {
        leases.remove(key);
    }
}

/// Forgets who holds what of a counter and starts its next epoch (it was reset).
pub(super) fn reset(state: &mut State, key: &CounterKey) {
    // No node is charged, so none holds a slice to invalidate (and resets of unknown keys leave
    // nothing behind).
    if !state.quota_leases.contains_key(key) {
        return;
    }
    Arc::make_mut(&mut state.quota_leases).remove(key);
    let epochs = Arc::make_mut(&mut state.quota_epochs);
    let epoch = epochs.entry(key.clone()).or_insert(0);
    *epoch = epoch.saturating_add(1);
}

/// Forgets leases whose window ended at or before `before_ms`.
pub(super) fn prune(state: &mut State, before_ms: u64) {
    if state
        .quota_leases
        .keys()
        .any(|key| key.window_end_ms() <= before_ms)
    {
        Arc::make_mut(&mut state.quota_leases).retain(|key, _| key.window_end_ms() > before_ms);
    }
    if state
        .quota_epochs
        .keys()
        .any(|key| key.window_end_ms() <= before_ms)
    {
        Arc::make_mut(&mut state.quota_epochs).retain(|key, _| key.window_end_ms() > before_ms);
    }
}
