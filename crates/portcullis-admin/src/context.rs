//! What the services share: the store, the node's clock, and what only the node knows.

use std::path::PathBuf;
use std::sync::Arc;

use portcullis_audit::{AuditEntry, Decision};
use portcullis_policy::Timestamp;
use portcullis_store::Store;

/// One live agent session on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The `Mcp-Session-Id`.
    pub id: String,
    /// The grant it belongs to.
    pub grant: String,
    /// The server it talks to.
    pub server: String,
    /// How long it has existed, in milliseconds.
    pub age_ms: u64,
    /// How many requests it has handled.
    pub calls: u64,
}

/// The node-local side of the admin API, implemented by the gateway node.
pub trait LocalNode: Send + Sync + 'static {
    /// The sessions this node holds.
    fn sessions(&self) -> Vec<SessionInfo>;
    /// Ends a session held here; `false` when this node doesn't hold it.
    fn end_session(&self, id: &str) -> bool;
    /// Appends an admin action to the node's audit log.
    fn audit(&self, entry: AuditEntry);
    /// The node's audit log file, when auditing is on.
    fn audit_path(&self) -> Option<PathBuf>;
}

/// Shared by every service of one node.
#[derive(Clone)]
pub struct AdminContext {
    /// The node's replica of the store.
    pub store: Store,
    /// The node's name in audit records.
    pub node_name: String,
    /// The node's clock (the store's commands carry the proposer's time).
    pub clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    /// What only this node knows.
    pub local: Arc<dyn LocalNode>,
}

impl AdminContext {
    /// Now, by the node's clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Audits an admin action by `actor`: `action` is the RPC, `target` what it changed.
    pub fn audit(&self, actor: &str, action: &str, target: &str, message: Option<String>) {
        let Timestamp(time_ms) = self.now();
        self.local.audit(AuditEntry {
            time_ms,
            node: self.node_name.clone(),
            session: None,
            grant: None,
            server: None,
            tool: Some(format!("admin.{action}")),
            decision: Decision::Allow,
            rule: Some(target.to_owned()),
            message,
            policy: None,
            policy_revision: 0,
            args_sha256: None,
            args: None,
            upstream_latency_us: None,
            outcome: None,
            actor: Some(actor.to_owned()),
            shadow: None,
        });
    }
}
