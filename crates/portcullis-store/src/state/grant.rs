//! Grants: a bearer token's hash entitled to one server under a policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use super::State;
use super::policy::PolicyRef;
use crate::{Applied, ApplyError, PolicyChange};

/// One grant. Its labels, policy and token can change ([`crate::AppRequest::UpdateGrant`]); a
/// revoked grant stays revoked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRecord {
    /// The grant's id.
    pub id: String,
    /// SHA-256 of the bearer token, 64 lowercase hex digits; the token itself is never stored.
    pub token_sha256: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Its first server.
    pub server: String,
    /// Every server it may use, `server` first; empty: `server` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// The policy that applies; absent: every call is denied.
    pub policy: Option<PolicyRef>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked grant admits nothing.
    pub revoked_at: Option<Timestamp>,
}

impl GrantRecord {
    /// Every server this grant may use: `server`, then the others in `servers`.
    pub fn covered(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.server.as_str()).chain(
            self.servers
                .iter()
                .map(String::as_str)
                .filter(|name| *name != self.server),
        )
    }
}

pub(super) fn put(state: &mut State, grant: GrantRecord) -> Result<Applied, ApplyError> {
    if state.grants.contains_key(&grant.id) {
        return Err(ApplyError::GrantExists { id: grant.id });
    }
    // A linear scan keeps the state free of derived indexes; grants number in the thousands at most.
    if let Some(existing) = state
        .grants
        .values()
        .find(|other| other.token_sha256 == grant.token_sha256)
    {
        return Err(ApplyError::DuplicateToken {
            existing: existing.id.clone(),
        });
    }
    if let Some(unknown) = grant.covered().find(|name| !state.servers.contains_key(*name)) {
        return Err(ApplyError::UnknownServer {
            name: unknown.to_owned(),
        });
    }
    if let Some(policy) = &grant.policy {
        super::policy::resolve(state, &policy.name, policy.revision)?;
    }
    Arc::make_mut(&mut state.grants).insert(grant.id.clone(), grant);
    Ok(Applied::Done)
}

pub(super) fn revoke(state: &mut State, id: &str, at: Timestamp) -> Result<Applied, ApplyError> {
    let Some(current) = state.grants.get(id) else {
        return Err(ApplyError::UnknownGrant { id: id.to_owned() });
    };
    if current.revoked_at.is_some() {
        // Revoking twice keeps the first time: idempotent for retrying operators.
        return Ok(Applied::Done);
    }
    if let Some(grant) = Arc::make_mut(&mut state.grants).get_mut(id) {
        grant.revoked_at = Some(at);
    }
    Ok(Applied::Done)
}

pub(super) fn update(
    state: &mut State,
    id: &str,
    labels: Option<BTreeMap<String, String>>,
    policy: PolicyChange,
    token_sha256: Option<String>,
) -> Result<Applied, ApplyError> {
    let Some(current) = state.grants.get(id) else {
        return Err(ApplyError::UnknownGrant { id: id.to_owned() });
    };
    if current.revoked_at.is_some() {
        return Err(ApplyError::GrantRevoked { id: id.to_owned() });
    }
    if let PolicyChange::Set(policy) = &policy {
        super::policy::resolve(state, &policy.name, policy.revision)?;
    }
    if let Some(token) = &token_sha256
        && let Some(other) = state.grants.values().find(|other| &other.token_sha256 == token)
    {
        return Err(ApplyError::DuplicateToken {
            existing: other.id.clone(),
        });
    }
    let Some(grant) = Arc::make_mut(&mut state.grants).get_mut(id) else {
        return Err(ApplyError::UnknownGrant { id: id.to_owned() });
    };
    if let Some(labels) = labels {
        grant.labels = labels;
    }
    match policy {
        PolicyChange::Keep => {}
        PolicyChange::Clear => grant.policy = None,
        PolicyChange::Set(policy) => grant.policy = Some(policy),
    }
    if let Some(token) = token_sha256 {
        grant.token_sha256 = token;
    }
    Ok(Applied::Done)
}
