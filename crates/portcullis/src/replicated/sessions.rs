//! The gateway's session directory on the replicated store: a session's record is proposed in the
//! background when it is created, touched or deleted, and looked up in the applied state, so no
//! agent call waits on consensus. The leader forgets records nobody touched (`session_expiry.rs`).

use std::sync::Arc;

use portcullis_gateway::clock::Clock as _;
use portcullis_gateway::cluster::{SessionDirectory, SessionEntry};
use portcullis_store::{AppRequest, Store};

use crate::clock::SystemClock;

/// Sessions touched per entry (the store takes up to 4096).
const TOUCH_BATCH: usize = 1024;

/// Session records in the store.
pub struct StoreSessions(pub Store);

impl StoreSessions {
    /// Proposes `command` off the caller's task; a failure is logged (the session simply can't move).
    fn propose(&self, command: AppRequest) {
        let store = self.0.clone();
        tokio::spawn(async move {
            let op = command.op();
            match store
                .propose(command)
                .await
                .map(portcullis_store::AppResponse::into_result)
            {
                Ok(Ok(_)) => tracing::info!(op, "session record committed"),
                Ok(Err(error)) => tracing::warn!(op, %error, "the store refused a session record"),
                Err(error) => tracing::warn!(op, %error, "a session record was not committed"),
            }
        });
    }
}

impl SessionDirectory for StoreSessions {
    fn record(&self, entry: SessionEntry) {
        self.propose(AppRequest::PutSession {
            id: entry.id,
            grant: entry.grant,
            server: entry.server,
            upstream_session_ids: Vec::new(),
            node: self.0.node_id(),
            at: SystemClock.now(),
            initialize: Some(entry.initialize),
            members: entry.members,
        });
    }

    fn forget(&self, id: &str) {
        self.propose(AppRequest::RemoveSession { id: id.to_owned() });
    }

    fn keep(&self, live: &[Arc<SessionEntry>]) {
        let applied = self.0.current();
        let (known, lost): (Vec<&Arc<SessionEntry>>, Vec<&Arc<SessionEntry>>) = live
            .iter()
            .partition(|entry| applied.state.sessions.contains_key(&entry.id));
        let at = SystemClock.now();
        for batch in known.chunks(TOUCH_BATCH) {
            self.propose(AppRequest::TouchSessions {
                node: self.0.node_id(),
                at,
                ids: batch.iter().map(|entry| entry.id.clone()).collect(),
            });
        }
        // The cluster forgot a session still in use here (this node was cut off longer than the
        // idle timeout, say): record it again so it can still move.
        for entry in lost {
            tracing::info!(session = %entry.id, "recording a session again that the cluster expired");
            self.record(SessionEntry::clone(entry));
        }
    }

    fn release(&self, id: &str) {
        self.propose(AppRequest::ReleaseSession {
            id: id.to_owned(),
            node: self.0.node_id(),
        });
    }

    fn find(&self, id: &str) -> Option<SessionEntry> {
        let applied = self.0.current();
        let record = applied.state.sessions.get(id)?;
        Some(SessionEntry {
            id: record.id.clone(),
            grant: record.grant.clone(),
            server: record.server.clone(),
            initialize: record.initialize.clone().unwrap_or_else(|| serde_json::json!({})),
            members: record.members.clone(),
        })
    }
}
