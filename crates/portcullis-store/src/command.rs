//! The command language of the replicated store.
//!
//! Every command carries the times it needs, stamped by the proposer, so that applying it reads no
//! clock. Commands are checked with [`AppRequest::validate`] before they are proposed; validation
//! looks only at the command itself (shape, sizes, that a policy compiles). What depends on the state
//! (does the grant exist, is the expected revision current) is decided when the command is applied.

mod validate;

use std::collections::BTreeMap;
use std::fmt;

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::state::{AdminRole, CounterCeiling, CounterKey, PolicyRef, QuotaAsk, QuotaReturn, SessionReport};

pub use validate::ValidationError;

/// The most per-session counter values one [`AppRequest::ReportSessionCounts`] carries (a node splits
/// a larger report).
pub const MAX_REPORTED_COUNTS: usize = 4096;

/// One change to the replicated state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum AppRequest {
    /// Adds or replaces an upstream server.
    PutServer {
        /// The server's name (the `<server>` in `/mcp/<server>`).
        name: String,
        /// How to reach it: the gateway's upstream config, kept as opaque JSON (an object).
        upstream: serde_json::Value,
        /// A policy that serves requests without a token; absent: a token is required.
        anonymous_policy: Option<String>,
        /// When the change was proposed.
        at: Timestamp,
    },
    /// Removes a server. Refused while a live (unrevoked) grant still names it.
    RemoveServer {
        /// The server's name.
        name: String,
    },
    /// Stores a new version of a named policy; its revision is assigned when applied.
    PutPolicy {
        /// The policy's name (grants and servers refer to it by name).
        name: String,
        /// The policy document as written.
        text: String,
        /// How `text` is written.
        format: PolicyFormat,
        /// Who wrote this version.
        author: String,
        /// When the change was proposed.
        at: Timestamp,
        /// Compare-and-set: the revision the author edited (0 for a new policy). Absent: unconditional.
        expected_revision: Option<u64>,
        /// Store it as the policy's shadow (evaluated and audited, never enforced) instead of as a
        /// new version. An ordinary put clears the shadow.
        #[serde(default)]
        shadow: bool,
    },
    /// Adds a grant: a bearer token's hash entitled to one server under a policy.
    PutGrant {
        /// The grant's id.
        id: String,
        /// SHA-256 of the bearer token, 64 lowercase hex digits.
        token_sha256: String,
        /// Free-form labels (`identity.labels.<name>` in policies).
        labels: BTreeMap<String, String>,
        /// The grant's first server.
        server: String,
        /// Every server it may use, `server` first (served together at `/mcp`); empty: `server`
        /// alone. Absent from entries written before grants could name several servers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        servers: Vec<String>,
        /// The policy that applies; absent: every call is denied.
        policy: Option<PolicyRef>,
        /// When the grant was created.
        at: Timestamp,
    },
    /// Revokes a grant. A revoked grant stays in the state (audit trails name it) but admits nothing.
    RevokeGrant {
        /// The grant's id.
        id: String,
        /// When it was revoked.
        at: Timestamp,
    },
    /// Changes a grant: its labels, its policy, or (rotation) its token. Absent fields stay.
    UpdateGrant {
        /// The grant's id.
        id: String,
        /// The new labels.
        labels: Option<BTreeMap<String, String>>,
        /// What happens to its policy.
        #[serde(default)]
        policy: PolicyChange,
        /// The new token's SHA-256: the old token stops working when this applies.
        token_sha256: Option<String>,
    },
    /// Adds an admin API token.
    PutAdminToken {
        /// Who holds it.
        name: String,
        /// SHA-256 of the secret.
        token_sha256: String,
        /// What it may do.
        role: AdminRole,
        /// When it was created.
        at: Timestamp,
    },
    /// Revokes an admin API token.
    RevokeAdminToken {
        /// The token's name.
        name: String,
        /// When.
        at: Timestamp,
    },
    /// Announces where a node serves its admin API.
    PutNode {
        /// The node.
        id: NodeId,
        /// Its admin API address.
        admin_addr: String,
        /// When.
        at: Timestamp,
    },
    /// Adds `delta` to a counter; a positive delta must keep the counter within `ceiling`. A negative
    /// delta rolls back an earlier reservation (the counter never goes below zero).
    AddToCounter {
        /// Which counter, whose, and which window.
        key: CounterKey,
        /// How much to add (negative to roll back).
        delta: f64,
        /// The most the counter may hold afterwards.
        ceiling: Option<CounterCeiling>,
    },
    /// Sets a counter back to zero.
    ResetCounter {
        /// Which counter.
        key: CounterKey,
    },
    /// Drops every counter whose window ended at or before `before_ms`.
    PruneCounters {
        /// Milliseconds since the epoch.
        before_ms: u64,
    },
    /// One node's escrow traffic at one moment: unspent slices it gives back (applied first), then
    /// slices it asks for, each granted up to the counter's remaining headroom (see `state/quota.rs`).
    LeaseQuota {
        /// The node that will hold the slices.
        node: NodeId,
        /// When the node asked; a slice for a window already over at `at` is not granted.
        at: Timestamp,
        /// Slices wanted.
        asks: Vec<QuotaAsk>,
        /// Unspent slices given back.
        returns: Vec<QuotaReturn>,
    },
    /// Records a call waiting for a human decision.
    RequestApproval {
        /// The approval's id.
        id: String,
        /// The grant that made the call.
        grant: String,
        /// The session it came from, when it had one.
        session: Option<String>,
        /// The server and tool called.
        server: String,
        /// The tool called.
        tool: String,
        /// SHA-256 of the canonical arguments, 64 lowercase hex digits.
        args_sha256: String,
        /// The arguments themselves, when the operator chose to keep them.
        arguments: Option<serde_json::Value>,
        /// The policy version that asked for approval.
        policy: PolicyRef,
        /// When the call arrived.
        requested_at: Timestamp,
        /// When it is denied if nobody decides.
        expires_at: Timestamp,
        /// When set, approving it also admits the same tool for the same grant this long after the
        /// decision (the rule's allowance).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowance_ms: Option<u64>,
    },
    /// Approves or denies a pending call.
    DecideApproval {
        /// The approval's id.
        id: String,
        /// `true` to approve, `false` to deny.
        approve: bool,
        /// Who decided.
        by: String,
        /// Why (shown to the agent on a denial).
        reason: String,
        /// When the decision was made.
        at: Timestamp,
    },
    /// Marks every pending approval whose deadline is at or before `at` as expired.
    ExpireApprovals {
        /// The proposer's current time.
        at: Timestamp,
    },
    /// Takes an approved call's one forward: the first claim wins, later ones are refused, so an
    /// approval forwards its call exactly once whichever node (or retry) holds it.
    ClaimApproval {
        /// The approval's id.
        id: String,
        /// When the call is forwarded.
        at: Timestamp,
    },
    /// Records a new agent session so another node can continue it.
    PutSession {
        /// The session id (`Mcp-Session-Id`).
        id: String,
        /// The grant it belongs to.
        grant: String,
        /// The server it talks to.
        server: String,
        /// The upstream server's own session ids, when it issued any.
        upstream_session_ids: Vec<String>,
        /// The node that created it.
        node: NodeId,
        /// When it was created.
        at: Timestamp,
        /// The client's `initialize` params (a JSON object), replayed to a fresh upstream when
        /// another node continues the session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initialize: Option<serde_json::Value>,
        /// For an aggregate session (`/mcp` over several servers): every member server, in order;
        /// `server` is then the first. Empty for a session of one server.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<String>,
    },
    /// Replaces a session's upstream session ids (after a node re-established the upstream).
    SetSessionUpstream {
        /// The session id.
        id: String,
        /// The new upstream session ids.
        upstream_session_ids: Vec<String>,
    },
    /// Forgets a session (closed by the client or expired).
    RemoveSession {
        /// The session id.
        id: String,
    },
    /// Sessions a node served lately: their records count as used at `at`, touched by `node`.
    /// Ids without a record are skipped (the node records those again).
    TouchSessions {
        /// The node serving them.
        node: NodeId,
        /// When the node saw them used.
        at: Timestamp,
        /// The session ids.
        ids: Vec<String>,
    },
    /// Forgets sessions nobody touched for longer than `idle_ms` before `at`. Bounded work: it looks
    /// at no more than `scan` records, in id order after `after`; the answer says where to go on.
    ExpireSessions {
        /// The proposer's current time.
        at: Timestamp,
        /// How long a record may go untouched.
        idle_ms: u64,
        /// Resume after this session id; absent: from the first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// How many records to look at.
        scan: u32,
    },
    /// Node `node` closed its copy of session `id` for idleness: the record goes, unless another
    /// node touched it since (the client moved there).
    ReleaseSession {
        /// The session id.
        id: String,
        /// The node that closed it.
        node: NodeId,
    },
    /// One node's cumulative per-session counts, for every session whose counters changed since its
    /// last report (see `state/session_counts.rs`): each kept as the larger of the stored and the
    /// reported value, so re-sends and reordering are harmless. Sessions without a record are skipped.
    ReportSessionCounts {
        /// The node that admitted the calls.
        node: NodeId,
        /// When the node reported; counts of windows over by then are dropped.
        at: Timestamp,
        /// Per session, the node's values; at most [`MAX_REPORTED_COUNTS`] values in all.
        sessions: Vec<SessionReport>,
    },
}

/// What an [`AppRequest::UpdateGrant`] does to the grant's policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyChange {
    /// Leave it.
    #[default]
    Keep,
    /// Remove it: every call of the grant is denied.
    Clear,
    /// Use this one.
    Set(PolicyRef),
}

/// How a policy document is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyFormat {
    /// JSON (`policy.json`).
    Json,
    /// YAML.
    Yaml,
}

impl PolicyFormat {
    /// The policy engine's format.
    pub fn engine_format(self) -> portcullis_policy::Format {
        match self {
            Self::Json => portcullis_policy::Format::Json,
            Self::Yaml => portcullis_policy::Format::Yaml,
        }
    }
}

impl AppRequest {
    /// The command's name, as in its serialized `op` field (for logs and metrics).
    pub fn op(&self) -> &'static str {
        match self {
            Self::PutServer { .. } => "put_server",
            Self::RemoveServer { .. } => "remove_server",
            Self::PutPolicy { .. } => "put_policy",
            Self::PutGrant { .. } => "put_grant",
            Self::RevokeGrant { .. } => "revoke_grant",
            Self::UpdateGrant { .. } => "update_grant",
            Self::PutAdminToken { .. } => "put_admin_token",
            Self::RevokeAdminToken { .. } => "revoke_admin_token",
            Self::PutNode { .. } => "put_node",
            Self::AddToCounter { .. } => "add_to_counter",
            Self::ResetCounter { .. } => "reset_counter",
            Self::PruneCounters { .. } => "prune_counters",
            Self::LeaseQuota { .. } => "lease_quota",
            Self::RequestApproval { .. } => "request_approval",
            Self::DecideApproval { .. } => "decide_approval",
            Self::ExpireApprovals { .. } => "expire_approvals",
            Self::ClaimApproval { .. } => "claim_approval",
            Self::PutSession { .. } => "put_session",
            Self::SetSessionUpstream { .. } => "set_session_upstream",
            Self::RemoveSession { .. } => "remove_session",
            Self::TouchSessions { .. } => "touch_sessions",
            Self::ExpireSessions { .. } => "expire_sessions",
            Self::ReleaseSession { .. } => "release_session",
            Self::ReportSessionCounts { .. } => "report_session_counts",
        }
    }
}

// openraft logs entries through `Display`; the op name is enough and keeps payloads out of logs.
impl fmt::Display for AppRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op())
    }
}
