//! Seams for a node that belongs to a cluster: whether it can serve (`/readyz`), and where session
//! records live so a session can continue on another node. A standalone node has neither.

mod directory;
mod keepalive;
mod session_counts;

use std::sync::Arc;

pub use directory::{SessionDirectory, SessionEntry};
pub(crate) use keepalive::{Keeper, LiveRecords, Usage, released};
pub(crate) use session_counts::Share;
pub use session_counts::{REPORT_EVERY, SessionCountBook, SessionCountSharing, SessionCountValue, ShareKey};

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
    /// Where per-session counters are shared, so they follow a session to another node.
    pub session_counts: Option<Arc<SessionCountSharing>>,
    /// Held while a session unknown here is rebuilt, so two first requests rebuild it once.
    pub(crate) resuming: Arc<tokio::sync::Mutex<()>>,
    /// The records of sessions this node serves, kept alive in the directory while they are used.
    pub(crate) live: Arc<LiveRecords>,
}
