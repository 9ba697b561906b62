//! The record shape: what the caller supplies ([`AuditEntry`]) and what is written ([`AuditRecord`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the gateway decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    Hide,
    RateLimited,
    RequireApproval,
    /// The decision could not be made (e.g. a failed counter store); the call was refused.
    Error,
}

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Forwarded and the upstream answered.
    Ok,
    /// Forwarded and the upstream failed (error reply, crash, timeout).
    UpstreamError,
    /// Forwarded and the tool reported an error (`isError: true`); counters were rolled back.
    ToolError,
    /// Never forwarded: refused by policy.
    Denied,
    /// The client cancelled or went away before the answer.
    Cancelled,
    /// Refused because of an internal failure.
    Error,
}

/// One audited event as the caller describes it. The writer adds `seq`, `prev` and `hash`.
///
/// Everything that only makes sense for a tool call is optional, so the same shape can carry admin
/// actions (`actor` says who made them) without a new chain format. `None` members are omitted from
/// the line, so adding optional members later never changes the hash of old records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix time in milliseconds, supplied by the caller.
    pub time_ms: u64,
    /// The node that made the decision.
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    pub decision: Decision,
    /// The rule that decided, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The name of the policy that decided, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub policy_revision: u64,
    /// Hex SHA-256 of the canonical argument JSON (see [`crate::args_sha256`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_sha256: Option<String>,
    /// The arguments themselves, only when the operator asked for payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_latency_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Who made an admin action (absent for tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What the policy's shadow (evaluated, never enforced) would have decided, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowVerdict>,
}

/// A shadow policy's verdict on a call, recorded beside the decision that was enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowVerdict {
    /// What the shadow would have decided.
    pub decision: Decision,
    /// The rule of the shadow that decided.
    pub rule: String,
    /// The shadow's revision (the one it would get as the next version).
    pub revision: u64,
}

impl AuditEntry {
    /// An entry with the required members set and every optional one empty.
    #[must_use]
    pub fn new(time_ms: u64, node: impl Into<String>, decision: Decision, policy_revision: u64) -> Self {
        Self {
            time_ms,
            node: node.into(),
            session: None,
            grant: None,
            server: None,
            tool: None,
            decision,
            rule: None,
            message: None,
            policy: None,
            policy_revision,
            args_sha256: None,
            args: None,
            upstream_latency_us: None,
            outcome: None,
            actor: None,
            shadow: None,
        }
    }
}

/// One line of the audit log: an entry plus its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, starting at 1, without gaps.
    pub seq: u64,
    /// `hash` of the previous record; [`crate::GENESIS_HASH`] for the first.
    pub prev: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// See the crate documentation for exactly what is hashed.
    pub hash: String,
}
