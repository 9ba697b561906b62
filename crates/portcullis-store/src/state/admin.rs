//! Admin tokens (who may call the admin API, with which role) and the nodes' admin addresses.

use std::sync::Arc;

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use super::State;
use crate::{Applied, ApplyError, NodeId};

/// What an admin token may do. Ordered: each role can do what the ones before it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// Read everything.
    Viewer,
    /// Read everything and decide approvals.
    Approver,
    /// Everything.
    Admin,
}

impl AdminRole {
    /// The role's name as written in configs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Approver => "approver",
            Self::Admin => "admin",
        }
    }
}

/// One admin token. The secret itself is never stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenRecord {
    /// Who holds it (shown in audit records as the actor).
    pub name: String,
    /// SHA-256 of the secret, 64 lowercase hex digits.
    pub token_sha256: String,
    /// What it may do.
    pub role: AdminRole,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<Timestamp>,
}

/// Where a node serves its admin API, so any node can ask the others (cluster status, sessions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRecord {
    /// The admin API's address (`host:port`).
    pub admin_addr: String,
    /// When the node last announced itself.
    pub updated_at: Timestamp,
}

pub(super) fn put_token(state: &mut State, token: AdminTokenRecord) -> Result<Applied, ApplyError> {
    if state
        .admin_tokens
        .get(&token.name)
        .is_some_and(|existing| existing.revoked_at.is_none())
    {
        return Err(ApplyError::TokenExists { name: token.name });
    }
    if let Some(other) = state
        .admin_tokens
        .values()
        .find(|other| other.token_sha256 == token.token_sha256)
    {
        return Err(ApplyError::DuplicateToken {
            existing: other.name.clone(),
        });
    }
    Arc::make_mut(&mut state.admin_tokens).insert(token.name.clone(), token);
    Ok(Applied::Done)
}

pub(super) fn revoke_token(state: &mut State, name: &str, at: Timestamp) -> Result<Applied, ApplyError> {
    let Some(current) = state.admin_tokens.get(name) else {
        return Err(ApplyError::UnknownToken {
            name: name.to_owned(),
        });
    };
    if current.revoked_at.is_none()
        && let Some(token) = Arc::make_mut(&mut state.admin_tokens).get_mut(name)
    {
        token.revoked_at = Some(at);
    }
    Ok(Applied::Done)
}

pub(super) fn put_node(state: &mut State, id: NodeId, record: NodeRecord) -> Applied {
    Arc::make_mut(&mut state.nodes).insert(id, record);
    Applied::Done
}
