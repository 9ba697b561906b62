//! Approvals: calls parked for a human decision, decidable from any node.

use std::fmt;
use std::sync::Arc;

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use super::State;
use super::policy::PolicyRef;
use crate::{Applied, ApplyError};

/// One call waiting for (or past) a decision. It binds to the grant, tool, argument digest and policy
/// version, so approving one call approves no other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRecord {
    /// The approval's id.
    pub id: String,
    /// The grant that made the call.
    pub grant: String,
    /// The session it came from, when it had one.
    pub session: Option<String>,
    /// The server called.
    pub server: String,
    /// The tool called.
    pub tool: String,
    /// SHA-256 of the canonical arguments.
    pub args_sha256: String,
    /// The arguments, when the operator chose to keep them.
    pub arguments: Option<serde_json::Value>,
    /// The policy version that asked for approval.
    pub policy: PolicyRef,
    /// When the call arrived.
    pub requested_at: Timestamp,
    /// When it is denied if nobody decides.
    pub expires_at: Timestamp,
    /// Where it stands.
    pub state: ApprovalState,
    /// When the approved call was forwarded (claimed); an approval forwards once.
    #[serde(default)]
    pub forwarded_at: Option<Timestamp>,
    /// The rule's allowance: approving this call also admits the same tool for the same grant this
    /// long after the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowance_ms: Option<u64>,
    /// Until when that allowance admits calls, set when approved: the decision's own stamped time plus
    /// the allowance, so every replica computes the same instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowance_until: Option<Timestamp>,
}

impl ApprovalRecord {
    /// Until when this approval's allowance admits calls, were it approved at `decided_at`.
    pub fn allowance_end(&self, decided_at: Timestamp) -> Option<Timestamp> {
        self.allowance_ms
            .map(|ms| Timestamp(decided_at.as_millis().saturating_add(ms)))
    }

    /// Whether this approval's allowance admits `tool` of `server` for `grant` at `now`.
    pub fn allows(&self, grant: &str, server: &str, tool: &str, now: Timestamp) -> bool {
        self.allowance_until.is_some_and(|until| now < until)
            && self.grant == grant
            && self.server == server
            && self.tool == tool
    }
}

/// Where an approval stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApprovalState {
    /// Nobody has decided yet.
    Pending,
    /// Approved: the call may be forwarded once.
    Approved {
        /// Who approved.
        by: String,
        /// Why.
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// Denied.
    Denied {
        /// Who denied.
        by: String,
        /// Why (shown to the agent).
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// Nobody decided before the deadline.
    Expired {
        /// The deadline that passed.
        at: Timestamp,
    },
}

impl fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pending => f.write_str("pending"),
            Self::Approved { by, .. } => write!(f, "approved by {by}"),
            Self::Denied { by, .. } => write!(f, "denied by {by}"),
            Self::Expired { .. } => f.write_str("expired"),
        }
    }
}

pub(super) fn request(state: &mut State, record: ApprovalRecord) -> Result<Applied, ApplyError> {
    if state.approvals.contains_key(&record.id) {
        return Err(ApplyError::ApprovalExists { id: record.id });
    }
    let pending = record.state.clone();
    Arc::make_mut(&mut state.approvals).insert(record.id.clone(), record);
    Ok(Applied::Approval { state: pending })
}

pub(super) fn decide(
    state: &mut State,
    id: &str,
    approve: bool,
    by: String,
    reason: String,
    at: Timestamp,
) -> Result<Applied, ApplyError> {
    let Some(current) = state.approvals.get(id) else {
        return Err(ApplyError::UnknownApproval { id: id.to_owned() });
    };
    if current.state != ApprovalState::Pending {
        return Err(ApplyError::ApprovalClosed {
            id: id.to_owned(),
            state: current.state.clone(),
        });
    }
    if at >= current.expires_at {
        return Err(ApplyError::ApprovalExpired { id: id.to_owned() });
    }
    let decided = if approve {
        ApprovalState::Approved { by, reason, at }
    } else {
        ApprovalState::Denied { by, reason, at }
    };
    if let Some(record) = Arc::make_mut(&mut state.approvals).get_mut(id) {
        record.state = decided.clone();
        if approve {
            record.allowance_until = record.allowance_end(at);
        }
    }
    Ok(Applied::Approval { state: decided })
}

pub(super) fn expire(state: &mut State, at: Timestamp) -> Result<Applied, ApplyError> {
    let due = |record: &ApprovalRecord| record.state == ApprovalState::Pending && record.expires_at <= at;
    let count = state.approvals.values().filter(|record| due(record)).count();
    if count > 0 {
        for record in Arc::make_mut(&mut state.approvals).values_mut() {
            if due(record) {
                record.state = ApprovalState::Expired {
                    at: record.expires_at,
                };
            }
        }
    }
    Ok(Applied::Swept { count: count as u64 })
}

pub(super) fn claim(state: &mut State, id: &str, at: Timestamp) -> Result<Applied, ApplyError> {
    let Some(current) = state.approvals.get(id) else {
        return Err(ApplyError::UnknownApproval { id: id.to_owned() });
    };
    if !matches!(current.state, ApprovalState::Approved { .. }) || current.forwarded_at.is_some() {
        return Err(ApplyError::ApprovalClosed {
            id: id.to_owned(),
            state: current.state.clone(),
        });
    }
    let approved = current.state.clone();
    if let Some(record) = Arc::make_mut(&mut state.approvals).get_mut(id) {
        record.forwarded_at = Some(at);
    }
    Ok(Applied::Approval { state: approved })
}
