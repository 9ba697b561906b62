//! What applying a command produced: the change made, or why the state refused it.

use serde::{Deserialize, Serialize};

use crate::state::{ApprovalState, CounterCeiling, CounterKey, QuotaGrant};

/// The outcome of one applied log entry, the same on every node.
#[must_use = "a rejected command changed nothing; check the response"]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppResponse {
    /// The command changed the state.
    Applied(Applied),
    /// The command was committed but refused by the state; nothing changed.
    Rejected(ApplyError),
}

impl AppResponse {
    /// The change made, or the refusal as an error.
    ///
    /// # Errors
    /// The [`ApplyError`] when the state refused the command.
    pub fn into_result(self) -> Result<Applied, ApplyError> {
        match self {
            Self::Applied(applied) => Ok(applied),
            Self::Rejected(error) => Err(error),
        }
    }
}

/// What a command changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// A Raft-internal entry (blank or membership): no application change.
    Nothing,
    /// A server was added, replaced or removed; a grant or session was written.
    Done,
    /// A policy version was stored under this revision.
    PolicyVersion {
        /// The policy's name.
        name: String,
        /// The revision assigned (1 for a new policy), or the current one when unchanged.
        revision: u64,
        /// The text and format equal the latest version's, so no version was added (re-seeding a
        /// node from unchanged policy files leaves the history alone).
        unchanged: bool,
    },
    /// A counter's value after the change.
    Counter {
        /// The counter's new value.
        value: f64,
    },
    /// What each ask of a `LeaseQuota` got, in the order asked.
    Quota {
        /// One grant per ask.
        grants: Vec<QuotaGrant>,
    },
    /// An approval's state after the change.
    Approval {
        /// The new state.
        state: ApprovalState,
    },
    /// How many records a sweep (prune, expire) touched.
    Swept {
        /// The number of records.
        count: u64,
    },
    /// What one bounded round of session expiry did.
    SessionsExpired {
        /// How many records it forgot.
        removed: u64,
        /// Where the next round goes on (the last id looked at); absent: it reached the end.
        next: Option<String>,
    },
}

/// Why the state refused a committed command. Deterministic: every node refuses it the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum ApplyError {
    /// The policy changed since the proposer read it.
    #[error("policy {name:?} is at revision {actual}, not {expected}: reload it, merge, and propose again")]
    StaleRevision {
        /// The policy.
        name: String,
        /// The revision the proposer expected.
        expected: u64,
        /// The current revision (0: no such policy yet).
        actual: u64,
    },
    /// A name refers to no server.
    #[error("no server named {name:?}: add the server first")]
    UnknownServer {
        /// The name.
        name: String,
    },
    /// A server can't be removed while grants use it.
    #[error("server {name:?} is used by {grants} live grant(s): revoke them first")]
    ServerInUse {
        /// The server.
        name: String,
        /// How many unrevoked grants name it.
        grants: u64,
    },
    /// A policy reference names no policy, or no such revision.
    #[error("no policy {name:?}{}: store the policy first", revision.map(|r| format!(" at revision {r}")).unwrap_or_default())]
    UnknownPolicy {
        /// The policy.
        name: String,
        /// The revision asked for, when pinned.
        revision: Option<u64>,
    },
    /// A grant id that is already taken.
    #[error("grant {id:?} already exists: grants are immutable; revoke it and add a new one")]
    GrantExists {
        /// The id.
        id: String,
    },
    /// A token hash that another grant already has.
    #[error("grant {existing:?} already has this token: mint a new token")]
    DuplicateToken {
        /// The grant holding the token.
        existing: String,
    },
    /// The grant was revoked; it can't change any more.
    #[error("grant {id:?} is revoked: create a new grant")]
    GrantRevoked {
        /// The id.
        id: String,
    },
    /// An admin token name that is already taken by a live token.
    #[error("admin token {name:?} already exists: revoke it first or pick another name")]
    TokenExists {
        /// The name.
        name: String,
    },
    /// An admin token name that names no token.
    #[error("no admin token {name:?}")]
    UnknownToken {
        /// The name.
        name: String,
    },
    /// A grant id that names no grant.
    #[error("no grant {id:?}")]
    UnknownGrant {
        /// The id.
        id: String,
    },
    /// A positive delta would take the counter past its ceiling.
    #[error("counter {key} is at {current}; adding {delta} would break its ceiling {ceiling}")]
    CeilingExceeded {
        /// The counter.
        key: CounterKey,
        /// Its value before the change.
        current: f64,
        /// The delta refused.
        delta: f64,
        /// The ceiling.
        ceiling: CounterCeiling,
    },
    /// An approval id that is already taken.
    #[error("approval {id:?} already exists")]
    ApprovalExists {
        /// The id.
        id: String,
    },
    /// An approval id that names no approval.
    #[error("no approval {id:?}")]
    UnknownApproval {
        /// The id.
        id: String,
    },
    /// The approval was already decided or expired.
    #[error("approval {id:?} is no longer pending ({state})")]
    ApprovalClosed {
        /// The id.
        id: String,
        /// Its final state.
        state: ApprovalState,
    },
    /// The decision came after the approval's deadline.
    #[error("approval {id:?} expired before the decision was made")]
    ApprovalExpired {
        /// The id.
        id: String,
    },
    /// A session id that is already taken.
    #[error("session {id:?} already exists")]
    SessionExists {
        /// The id.
        id: String,
    },
    /// A session id that names no session.
    #[error("no session {id:?}")]
    UnknownSession {
        /// The id.
        id: String,
    },
}
