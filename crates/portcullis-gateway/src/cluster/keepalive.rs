//! Keeping this node's session records alive in the cluster's directory. The cluster forgets a
//! record nobody touched for the idle timeout (its client went away, or its node died), so the node
//! serving a session says, every quarter of the timeout and in one batch, which of its sessions
//! were used. Requests never wait for this: a round reads when each session was last used.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use super::SessionEntry;
use crate::node::Node;
use crate::session::Sessions;

/// The shortest round, whatever the idle timeout (tests use short ones).
const MIN_ROUND: Duration = Duration::from_millis(50);

/// The records of the sessions this node serves (created or continued here), by session id.
#[derive(Default)]
pub struct LiveRecords(DashMap<Arc<str>, Arc<SessionEntry>>);

impl LiveRecords {
    /// This node now serves the session of `entry`.
    pub(crate) fn insert(&self, entry: SessionEntry) {
        self.0.insert(Arc::from(entry.id.as_str()), Arc::new(entry));
    }

    /// This node no longer serves session `id`; whether it did.
    pub(crate) fn remove(&self, id: &str) -> bool {
        self.0.remove(id).is_some()
    }

    /// The records of sessions used within `since` (or busy now); forgets those whose session is
    /// no longer held here.
    fn used_within(&self, sessions: &Sessions, since: Duration) -> Vec<Arc<SessionEntry>> {
        let mut used = Vec::new();
        self.0.retain(|id, entry| match sessions.get(id) {
            Some(handle) => {
                if handle.idle_for() <= since || handle.is_busy() {
                    used.push(Arc::clone(entry));
                }
                true
            }
            None => false,
        });
        used
    }
}

/// Touches the records of the sessions used since the last round, every quarter of the idle
/// timeout, until the node stops. Does nothing on a node without a directory.
pub(crate) async fn keep_records(node: Arc<Node>) {
    let Some(directory) = node.cluster.sessions.clone() else {
        return;
    };
    let period = (node.settings.idle_session_timeout / 4).max(MIN_ROUND);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut last = tokio::time::Instant::now();
    loop {
        ticks.tick().await;
        let since = last.elapsed();
        last = tokio::time::Instant::now();
        let used = node.cluster.live.used_within(&node.sessions, since);
        if !used.is_empty() {
            tracing::debug!(sessions = used.len(), "keeping session records alive");
            directory.keep(&used);
        }
    }
}

/// The idle reaper closed `closed`: the directory forgets those this node served (unless another
/// node served them since), rather than waiting for the cluster's expiry.
pub(crate) fn released(node: &Node, closed: &[Arc<str>]) {
    let Some(directory) = &node.cluster.sessions else {
        return;
    };
    for id in closed {
        if node.cluster.live.remove(id) {
            directory.release(id);
        }
    }
}
