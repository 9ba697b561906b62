//! The approvals seam: where a call that policy sends to a human is recorded, and how the gateway
//! learns the decision. The gateway knows nothing of how decisions are replicated; the binary
//! implements [`Approvals`] over its store. A node without one denies such calls.

use std::future::Future;
use std::pin::Pin;

use portcullis_policy::Timestamp;
use serde_json::Value;

/// A boxed future, so [`Approvals`] can live behind `dyn`.
pub type ApprovalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A call waiting for a human, as the gateway asks for it. It binds to the grant, tool, argument
/// digest and policy version: a decision on it decides no other call.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalTicket {
    /// The grant that made the call.
    pub grant: String,
    /// The agent session it came from.
    pub session: Option<String>,
    /// The server called.
    pub server: String,
    /// The tool called.
    pub tool: String,
    /// SHA-256 of the arguments, lowercase hex.
    pub args_sha256: String,
    /// The arguments, when the operator keeps payloads.
    pub arguments: Option<Value>,
    /// The policy that asked for approval.
    pub policy: String,
    /// Its revision.
    pub policy_revision: u64,
    /// When the call arrived.
    pub requested_at: Timestamp,
    /// When it is denied if nobody decides.
    pub expires_at: Timestamp,
    /// The rule's allowance: approving this call also admits the same tool for the same grant this
    /// long after the decision.
    pub allowance_ms: Option<u64>,
}

/// A standing allowance: an approval that admits the same tool for the same grant until `until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// The approval that granted it.
    pub approval: String,
    /// Who approved.
    pub by: String,
    /// When it ends.
    pub until: Timestamp,
}

/// How a parked call ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Approved, and this request holds the approval's one forward.
    Approved {
        /// Who approved.
        by: String,
        /// Why.
        reason: String,
    },
    /// Denied by a human.
    Denied {
        /// Who denied.
        by: String,
        /// Why.
        reason: String,
    },
    /// Nobody decided before the deadline.
    Expired {
        /// The deadline.
        at: Timestamp,
    },
    /// Approved, but another request (a retry of the same call) already forwarded it.
    Spent {
        /// Who approved.
        by: String,
    },
}

/// Why an approval could not be requested or followed.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// The place approvals are kept could not take or report the request.
    #[error("approvals are unavailable: {0}")]
    Unavailable(String),
}

/// Where approvals are kept and decided.
pub trait Approvals: Send + Sync + 'static {
    /// Records `ticket` and returns its approval id. A call that already has an open request or a
    /// standing decision (the agent retrying, perhaps on another node) gets that one's id instead.
    fn request(&self, ticket: ApprovalTicket) -> ApprovalFuture<'_, Result<String, ApprovalError>>;

    /// Waits until approval `id` is decided or its deadline passes. An approval is claimed before it
    /// is reported, so exactly one request forwards the call.
    fn outcome(&self, id: String) -> ApprovalFuture<'_, Result<Verdict, ApprovalError>>;

    /// An allowance that admits `tool` of `server` for `grant` at `now`, read from shared state
    /// without waiting (it is on the call path). None by default: no allowances are kept.
    fn allowance(&self, grant: &str, server: &str, tool: &str, now: Timestamp) -> Option<Allowance> {
        let _ = (grant, server, tool, now);
        None
    }
}
