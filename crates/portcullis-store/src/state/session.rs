//! Session records: enough to continue an agent's session on another node after its node died.

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
