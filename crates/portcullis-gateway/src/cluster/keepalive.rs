//! Keeping this node's session records alive in the cluster's directory. The cluster forgets a
//! record nobody touched for the idle timeout (its client went away, or its node died), so the node
//! serving a session says, every quarter of the timeout and in one batch, which of its sessions
//! were used. Requests never wait for this: a round reads when each session was last used.

use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use super::SessionEntry;
use crate::node::Node;
use crate::session::Sessions;

/// The shortest round, whatever the idle timeout (tests use short ones).
const MIN_ROUND: Duration = Duration::from_millis(50);

/// A served session that is not one registry session (an `/mcp` aggregate fans out to several):
/// it says itself whether it was used.
pub(crate) trait Usage: Send + Sync {
    /// Whether it was used within `since` (or is busy now); `None` once it is no longer held here.
    fn used_within(&self, sessions: &Sessions, since: Duration) -> Option<bool>;
}

/// How a live record's use is read.
enum Probe {
    /// The registry session under the record's id.
    Registry,
    /// Something else, dropped when it ends.
    Other(Weak<dyn Usage>),
}

/// The records of the sessions this node serves (created or continued here), by session id.
#[derive(Default)]
pub struct LiveRecords(DashMap<Arc<str>, (Arc<SessionEntry>, Probe)>);

impl LiveRecords {
    /// This node now serves the session of `entry`, a registry session.
    pub(crate) fn insert(&self, entry: SessionEntry) {
        self.0
            .insert(Arc::from(entry.id.as_str()), (Arc::new(entry), Probe::Registry));
    }

    /// This node now serves the session of `entry`, whose use `usage` tells.
    pub(crate) fn insert_with(&self, entry: SessionEntry, usage: Weak<dyn Usage>) {
        self.0.insert(
            Arc::from(entry.id.as_str()),
            (Arc::new(entry), Probe::Other(usage)),
        );
    }

    /// This node no longer serves session `id`; whether it did.
    pub(crate) fn remove(&self, id: &str) -> bool {
        self.0.remove(id).is_some()
    }

    /// The records of sessions used within `since` (or busy now); forgets those whose session is
    /// no longer held here.
    fn used_within(&self, sessions: &Sessions, since: Duration) -> Vec<Arc<SessionEntry>> {
        let mut used = Vec::new();
        self.0.retain(|id, (entry, probe)| {
            let in_use = match probe {
                Probe::Registry => sessions
                    .get(id)
                    .map(|handle| handle.idle_for() <= since || handle.is_busy()),
                Probe::Other(usage) => usage.upgrade().and_then(|u| u.used_within(sessions, since)),
            };
            if in_use == Some(true) {
                used.push(Arc::clone(entry));
            }
            in_use.is_some()
        });
        used
    }
}

/// Rounds of touches, every quarter of the idle timeout. They run in the idle reaper's loop, after
/// it closed (and released) idle sessions: a round run beside it could see a session the reaper
/// just closed as gone for another reason and drop its record before the release.
pub(crate) struct Keeper {
    period: Duration,
    last: Instant,
}

impl Keeper {
    pub(crate) fn new(node: &Node) -> Self {
        Self {
            period: (node.settings.idle_session_timeout / 4).max(MIN_ROUND),
            last: Instant::now(),
        }
    }

    /// Touches the records of the sessions used since the last round, when a round is due. Does
    /// nothing on a node without a directory.
    pub(crate) fn tick(&mut self, node: &Node) {
        let Some(directory) = &node.cluster.sessions else {
            return;
        };
        let since = self.last.elapsed();
        // The reaper may tick exactly every period: a tick a hair early still counts.
        if since < self.period - self.period / 8 {
            return;
        }
        self.last = Instant::now();
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
