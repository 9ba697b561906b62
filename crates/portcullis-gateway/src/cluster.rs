//! Seams for a node that belongs to a cluster: whether it can serve (`/readyz`), and where session
//! records live so a session can continue on another node. A standalone node has neither.

mod directory;
mod keepalive;

use std::sync::Arc;

pub use directory::{SessionDirectory, SessionEntry};
pub(crate) use keepalive::{Keeper, LiveRecords, Usage, released};

/// Whether the node's shared state is good enough to serve traffic.
pub trait Readiness: Send + Sync {
    /// Why the node is not ready, or `None` when it is.
    fn not_ready(&self) -> Option<String>;
}

/// What a clustered node adds to a gateway node.
#[derive(Clone, Default)]
pub struct ClusterHooks {
    /// Consulted by `/readyz` (after draining).
    pub readiness: Option<Arc<dyn Readiness>>,
    /// Where sessions are recorded, so another node can continue them.
    pub sessions: Option<Arc<dyn SessionDirectory>>,
    /// Held while a session unknown here is rebuilt, so two first requests rebuild it once.
    pub(crate) resuming: Arc<tokio::sync::Mutex<()>>,
    /// The records of sessions this node serves, kept alive in the directory while they are used.
    pub(crate) live: Arc<LiveRecords>,
}
