//! Whether this node is in touch with a working leader: what a node's readiness rests on. A leader is
//! when a quorum acknowledged it lately; a follower when its leader's appends (or heartbeats) arrived
//! lately. Knowing a leader's id is not enough: a node restarted alone remembers the leader it voted
//! for, dead or not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::Instant as _;
use openraft::async_runtime::watch::WatchReceiver;
use tokio::time::Instant;

use super::Store;

/// When this node last took an append from its leader.
#[derive(Debug)]
pub(crate) struct Contact {
    epoch: Instant,
    /// Milliseconds since `epoch`, plus one; zero for never.
    heard: AtomicU64,
}

impl Contact {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            heard: AtomicU64::new(0),
        })
    }

    /// The leader's append (or heartbeat) was taken just now.
    pub(crate) fn heard_from_leader(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.heard.store(ms + 1, Ordering::Relaxed);
    }

    fn heard_within(&self, within: Duration) -> bool {
        match self.heard.load(Ordering::Relaxed) {
            0 => false,
            heard => {
                let at = self.epoch + Duration::from_millis(heard - 1);
                at.elapsed() <= within
            }
        }
    }
}

impl Store {
    /// Whether this node is in touch with a working leader: it leads and a quorum acknowledged it, or
    /// it follows and heard from its leader, within twice the longest election timeout. A lone voter
    /// that leads always is.
    pub fn in_touch(&self) -> bool {
        let within = self.config.election_timeout.1 * 2;
        let metrics = self.raft.metrics().borrow_watched().clone();
        let me = self.config.node_id;
        if metrics.current_leader != Some(me) {
            return metrics.current_leader.is_some() && self.contact.heard_within(within);
        }
        let alone = metrics.membership_config.membership().voter_ids().eq([me]);
        alone
            || metrics
                .last_quorum_acked
                .is_some_and(|acked| acked.elapsed() <= within)
    }
}
