//! The leader's sweep of session records nobody touched for the idle timeout: their client went
//! away without a DELETE, or their node died. The leader stamps its own time into each
//! `ExpireSessions`, so every replica forgets the same records; each entry looks at a bounded
//! number of records and says where the next one goes on.

use std::time::Duration;

use portcullis_gateway::clock::Clock as _;
use portcullis_store::{AppRequest, Applied, Store, Timestamp};

use crate::clock::SystemClock;

/// Records one expiry entry looks at.
const SCAN: u32 = 1024;
/// Bounds on the time between sweeps (a quarter of the idle timeout otherwise).
const MIN_ROUND: Duration = Duration::from_millis(100);
const MAX_ROUND: Duration = Duration::from_secs(60);

/// Sweeps, while this node leads, every quarter of `idle` until the runtime stops.
pub async fn run(store: Store, idle: Duration) {
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1);
    let round = (idle / 4).clamp(MIN_ROUND, MAX_ROUND);
    loop {
        tokio::time::sleep(round).await;
        if store.leader() != Some(store.node_id()) {
            continue;
        }
        let now = SystemClock.now();
        // Most rounds find nothing: they cost no log entry.
        let due = store
            .current()
            .state
            .sessions
            .values()
            .any(|record| record.idle_at(now, idle_ms));
        if due {
            sweep(&store, now, idle_ms).await;
        }
    }
}

/// Expires what is idle at `now`, one bounded entry at a time, from the first record to the last.
async fn sweep(store: &Store, now: Timestamp, idle_ms: u64) {
    let mut after = None;
    let mut removed = 0;
    loop {
        let command = AppRequest::ExpireSessions {
            at: now,
            idle_ms,
            after: after.take(),
            scan: SCAN,
        };
        match store
            .propose(command)
            .await
            .map(|response| response.into_result())
        {
            Ok(Ok(Applied::SessionsExpired { removed: gone, next })) => {
                removed += gone;
                match next {
                    Some(id) => after = Some(id),
                    None => break,
                }
            }
            Ok(other) => {
                tracing::warn!(?other, "the store answered a session expiry unexpectedly");
                break;
            }
            // Leadership moved or the quorum is gone: the next round (on whoever leads) retries.
            Err(error) => {
                tracing::debug!(%error, "a session expiry was not committed");
                break;
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, idle_ms, "idle session records expired");
    }
}
