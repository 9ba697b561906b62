//! The gateway's per-session counter book on the replicated store: other nodes' contributions are
//! read from the applied state, this node's are proposed in the background (see
//! `portcullis_gateway::cluster::SessionCountSharing` for the debounce), so no agent call waits on
//! consensus.

use std::time::Duration;

use portcullis_gateway::clock::Clock as _;
use portcullis_gateway::cluster::{SessionCountBook, SessionCountValue, ShareKey};
use portcullis_policy::{CounterId, Window};
use portcullis_store::{
    AppRequest, MAX_REPORTED_COUNTS, NodeSessionCount, SessionCount, SessionCountKey, SessionReport, Store,
    StoreError,
};
use tokio::time::Instant;

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

    fn report(&self, reports: Vec<(ShareKey, Vec<SessionCountValue>)>) {
        let node = self.0.node_id();
        let at = SystemClock.now();
        for sessions in batches(reports) {
            let total: f64 = sessions
                .iter()
                .flat_map(|s| s.counts.iter().map(|c| c.value))
                .sum();
            let command = AppRequest::ReportSessionCounts { node, at, sessions };
            tokio::spawn(propose(self.0.clone(), command, total));
        }
    }
}

/// How long a report keeps being retried while no leader can take it. A later report carries the
/// same values (they are cumulative), but a session that moved away sends none.
const PATIENCE: Duration = Duration::from_secs(5);

async fn propose(store: Store, command: AppRequest, total: f64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match store.propose(command.clone()).await {
            Ok(response) => {
                match response.into_result() {
                    Ok(_) => tracing::debug!(total, "session counts committed"),
                    Err(error) => tracing::warn!(%error, "the store refused session counts"),
                }
                return;
            }
            Err(
                StoreError::NotLeader { .. }
                | StoreError::NoQuorum { .. }
                | StoreError::LeaderChanged { .. }
                | StoreError::LeaderUnreachable { .. },
            ) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => {
                tracing::warn!(%error, total, "session counts were not committed");
                return;
            }
        }
    }
}

/// The store's form of `reports`, split so that no command carries more than the store takes.
fn batches(reports: Vec<(ShareKey, Vec<SessionCountValue>)>) -> Vec<Vec<SessionReport>> {
    let mut batches = Vec::new();
    let mut batch: Vec<SessionReport> = Vec::new();
    let mut values = 0;
    for (key, counts) in reports {
        for chunk in counts.chunks(MAX_REPORTED_COUNTS) {
            if values + chunk.len() > MAX_REPORTED_COUNTS {
                batches.push(std::mem::take(&mut batch));
                values = 0;
            }
            values += chunk.len();
            batch.push(SessionReport {
                session: key.session.to_string(),
                counts: chunk
                    .iter()
                    .map(|(counter, window, value)| SessionCount {
                        key: SessionCountKey {
                            member: key.member.to_string(),
                            scope: counter.scope.to_string(),
                            name: counter.name.to_string(),
                            window_start_ms: window.start_ms,
                            window_len_ms: window.len_ms,
                        },
                        value: *value,
                    })
                    .collect(),
            });
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}
