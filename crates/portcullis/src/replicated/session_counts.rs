//! The gateway's per-session counter book on the replicated store: other nodes' contributions are
//! read from the applied state, this node's are proposed in the background (see
//! `portcullis_gateway::cluster::SessionCountSharing` for the debounce), so no agent call waits on
//! consensus.

use portcullis_gateway::clock::Clock as _;
use portcullis_gateway::cluster::{SessionCountBook, SessionCountValue, ShareKey};
use portcullis_policy::{CounterId, Window};
use portcullis_store::{AppRequest, NodeSessionCount, SessionCount, SessionCountKey, Store};

use crate::clock::SystemClock;

/// Per-session counts in the store.
pub struct StoreSessionCounts(pub Store);

fn same(count: &NodeSessionCount, key: &ShareKey, counter: &CounterId, window: Window) -> bool {
    count.key.window_start_ms == window.start_ms
        && count.key.window_len_ms == window.len_ms
        && *count.key.member == *key.member
        && *count.key.scope == *counter.scope
        && *count.key.name == *counter.name
}

impl SessionCountBook for StoreSessionCounts {
    fn others(&self, key: &ShareKey, counter: &CounterId, window: Window) -> f64 {
        let me = self.0.node_id();
        let applied = self.0.current();
        applied
            .state
            .session_counts
            .get(&*key.session)
            .map_or(0.0, |tally| {
                // A handful of entries per session: a scan, with no key to allocate per call.
                tally
                    .counts
                    .iter()
                    .filter(|c| c.node != me && same(c, key, counter, window))
                    .map(|c| c.value)
                    .sum()
            })
    }

    fn own(&self, key: &ShareKey) -> Vec<SessionCountValue> {
        let applied = self.0.current();
        let Some(tally) = applied.state.session_counts.get(&*key.session) else {
            return Vec::new();
        };
        tally
            .of_node(self.0.node_id())
            .filter(|c| *c.key.member == *key.member)
            .map(|c| {
                let counter = CounterId {
                    scope: c.key.scope.as_str().into(),
                    name: c.key.name.as_str().into(),
                };
                let window = Window {
                    start_ms: c.key.window_start_ms,
                    len_ms: c.key.window_len_ms,
                };
                (counter, window, c.value)
            })
            .collect()
    }

    fn report(&self, key: &ShareKey, counts: Vec<SessionCountValue>) {
        if counts.is_empty() {
            return;
        }
        let total: f64 = counts.iter().map(|(_, _, value)| value).sum();
        let command = AppRequest::ReportSessionCounts {
            session: key.session.to_string(),
            node: self.0.node_id(),
            at: SystemClock.now(),
            counts: counts
                .into_iter()
                .map(|(counter, window, value)| SessionCount {
                    key: SessionCountKey {
                        member: key.member.to_string(),
                        scope: counter.scope.to_string(),
                        name: counter.name.to_string(),
                        window_start_ms: window.start_ms,
                        window_len_ms: window.len_ms,
                    },
                    value,
                })
                .collect(),
        };
        let store = self.0.clone();
        let session = key.session.clone();
        tokio::spawn(async move {
            match store
                .propose(command)
                .await
                .map(portcullis_store::AppResponse::into_result)
            {
                Ok(Ok(_)) => tracing::debug!(%session, total, "session counts committed"),
                // The record is gone (the session ended) or not committed yet: the next report repairs
                // the latter.
                Ok(Err(error)) => tracing::debug!(%session, %error, "the store refused session counts"),
                Err(error) => tracing::debug!(%session, %error, "session counts were not committed"),
            }
        });
    }
}
