//! The session directory: a record per agent session, kept where every node can read it, so a node
//! that never saw a session can rebuild it when its client arrives with the `Mcp-Session-Id`.

use std::sync::Arc;

use serde_json::Value;

/// What a node needs to continue a session it did not create.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionEntry {
    /// The session id (`Mcp-Session-Id`).
    pub id: String,
    /// The grant that opened it.
    pub grant: String,
    /// The server it talks to.
    pub server: String,
    /// The client's `initialize` params, replayed to a fresh upstream.
    pub initialize: Value,
    /// For an aggregate session (`/mcp` over several servers): every member server, in order, each
    /// re-initialized with `initialize`; `server` is then the first. Empty for one server's session.
    pub members: Vec<String>,
}

/// Where session records live (the replicated store, in a cluster).
///
/// Architecture invariant: none of these waits on consensus. Recording and forgetting are sent off
/// (a lost record only means the session can't move), and a lookup reads the node's applied state.
pub trait SessionDirectory: Send + Sync {
    /// A session was initialized on this node.
    fn record(&self, entry: SessionEntry);
    /// A session ended (the client deleted it).
    fn forget(&self, id: &str);
    /// The record of a session this node doesn't hold, if the cluster knows it.
    fn find(&self, id: &str) -> Option<SessionEntry>;
    /// Sessions this node served lately: their records count as used now, so the cluster's expiry
    /// keeps them; one the cluster already forgot is recorded again. Called off the request path,
    /// every quarter of the idle timeout or so.
    fn keep(&self, live: &[Arc<SessionEntry>]) {
        let _ = live;
    }
    /// This node closed session `id` for idleness: the record goes too, unless another node served
    /// the session since (its client moved there).
    fn release(&self, id: &str) {
        let _ = id;
    }
}
