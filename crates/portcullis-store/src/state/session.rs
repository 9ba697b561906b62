//! Session records: enough to continue an agent's session on another node after its node died.

use std::ops::Bound;
use std::sync::Arc;

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use super::State;
use crate::{Applied, ApplyError, NodeId};

/// One agent session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRecord {
    /// The session id (`Mcp-Session-Id`).
    pub id: String,
    /// The grant it belongs to.
    pub grant: String,
    /// The server it talks to.
    pub server: String,
    /// The upstream server's own session ids.
    pub upstream_session_ids: Vec<String>,
    /// The node that created it.
    pub node: NodeId,
    /// When it was created.
    pub created_at: Timestamp,
    /// The client's `initialize` params, replayed to a fresh upstream on another node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialize: Option<serde_json::Value>,
    /// For an aggregate session (`/mcp`): its member servers, in order (`server` is the first).
    /// Empty for a session of one server, and in records written before aggregates were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// When a node last said the session was in use (stamped by that node); absent: never since
    /// it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched_at: Option<Timestamp>,
    /// The node that touched it last; absent: the node that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched_by: Option<NodeId>,
}

impl SessionRecord {
    /// When the session was last known to be in use.
    pub fn last_touched(&self) -> Timestamp {
        self.touched_at.unwrap_or(self.created_at)
    }

    /// The node that last served it.
    pub fn last_toucher(&self) -> NodeId {
        self.touched_by.unwrap_or(self.node)
    }

    /// Whether nobody touched it for longer than `idle_ms` before `now`.
    pub fn idle_at(&self, now: Timestamp, idle_ms: u64) -> bool {
        now.as_millis().saturating_sub(self.last_touched().as_millis()) > idle_ms
    }
}

pub(super) fn put(state: &mut State, record: SessionRecord) -> Result<Applied, ApplyError> {
    if state.sessions.contains_key(&record.id) {
        return Err(ApplyError::SessionExists { id: record.id });
    }
    Arc::make_mut(&mut state.sessions).insert(record.id.clone(), record);
    Ok(Applied::Done)
}

pub(super) fn set_upstream(
    state: &mut State,
    id: &str,
    upstream: Vec<String>,
) -> Result<Applied, ApplyError> {
    if !state.sessions.contains_key(id) {
        return Err(ApplyError::UnknownSession { id: id.to_owned() });
    }
    if let Some(record) = Arc::make_mut(&mut state.sessions).get_mut(id) {
        record.upstream_session_ids = upstream;
    }
    Ok(Applied::Done)
}

pub(super) fn remove(state: &mut State, id: &str) -> Result<Applied, ApplyError> {
    if !state.sessions.contains_key(id) {
        return Err(ApplyError::UnknownSession { id: id.to_owned() });
    }
    Arc::make_mut(&mut state.sessions).remove(id);
    super::session_counts::forget(state, id);
    Ok(Applied::Done)
}

/// Marks the records of `ids` used at `at` by `node`. Time never goes back: a node with a slower
/// clock moves the toucher but keeps the later instant.
pub(super) fn touch(state: &mut State, node: NodeId, at: Timestamp, ids: &[String]) -> Applied {
    let known = ids
        .iter()
        .filter(|id| state.sessions.contains_key(id.as_str()))
        .count();
    if known > 0 {
        let sessions = Arc::make_mut(&mut state.sessions);
        for id in ids {
            if let Some(record) = sessions.get_mut(id.as_str()) {
                record.touched_at = Some(record.last_touched().max(at));
                record.touched_by = Some(node);
            }
        }
    }
    Applied::Swept { count: known as u64 }
}

/// Forgets, among at most `scan` records after `after` in id order, those idle for longer than
/// `idle_ms` at `at`.
pub(super) fn expire(
    state: &mut State,
    at: Timestamp,
    idle_ms: u64,
    after: Option<&str>,
    scan: u32,
) -> Applied {
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut looked = 0_u32;
    let mut last = None;
    let mut due = Vec::new();
    for (id, record) in state
        .sessions
        .range::<str, _>((start, Bound::Unbounded))
        .take(scan as usize)
    {
        looked += 1;
        last = Some(id);
        if record.idle_at(at, idle_ms) {
            due.push(id.clone());
        }
    }
    let next = (looked == scan).then(|| last.cloned()).flatten();
    if !due.is_empty() {
        let sessions = Arc::make_mut(&mut state.sessions);
        for id in &due {
            sessions.remove(id);
        }
        // A session's counts go with its record, whichever way it goes.
        for id in &due {
            super::session_counts::forget(state, id);
        }
    }
    Applied::SessionsExpired {
        removed: due.len() as u64,
        next,
    }
}

/// Forgets session `id` if `node` touched it last; otherwise leaves it to the node serving it now.
pub(super) fn release(state: &mut State, id: &str, node: NodeId) -> Applied {
    let mine = state
        .sessions
        .get(id)
        .is_some_and(|record| record.last_toucher() == node);
    if mine {
        Arc::make_mut(&mut state.sessions).remove(id);
        super::session_counts::forget(state, id);
    }
    Applied::Swept {
        count: u64::from(mine),
    }
}
