//! Upstream servers.

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use super::State;
use crate::{Applied, ApplyError};

/// One upstream MCP server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRecord {
    /// How to reach it: the gateway's upstream config as JSON. The store keeps it opaque so the
    /// gateway's transports can grow without a change here.
    pub upstream: serde_json::Value,
    /// The policy that serves requests without a token; absent: a token is required.
    pub anonymous_policy: Option<String>,
    /// When it was last written.
    pub updated_at: Timestamp,
}

pub(super) fn put(
    state: &mut State,
    name: String,
    upstream: serde_json::Value,
    anonymous_policy: Option<String>,
    at: Timestamp,
) -> Result<Applied, ApplyError> {
    if let Some(policy) = &anonymous_policy {
        super::policy::resolve(state, policy, None)?;
    }
    let record = ServerRecord {
        upstream,
        anonymous_policy,
        updated_at: at,
    };
    std::sync::Arc::make_mut(&mut state.servers).insert(name, record);
    Ok(Applied::Done)
}

pub(super) fn remove(state: &mut State, name: &str) -> Result<Applied, ApplyError> {
    if !state.servers.contains_key(name) {
        return Err(ApplyError::UnknownServer {
            name: name.to_owned(),
        });
    }
    let live = state
        .grants
        .values()
        .filter(|grant| grant.covered().any(|covered| covered == name) && grant.revoked_at.is_none())
        .count();
    if live > 0 {
        return Err(ApplyError::ServerInUse {
            name: name.to_owned(),
            grants: live as u64,
        });
    }
    std::sync::Arc::make_mut(&mut state.servers).remove(name);
    Ok(Applied::Done)
}
