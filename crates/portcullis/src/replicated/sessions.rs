//! The gateway's session directory on the replicated store: a session's record is proposed in the
//! background when it is created or deleted, and looked up in the applied state, so no agent call
//! waits on consensus.

use portcullis_gateway::clock::Clock as _;
use portcullis_gateway::cluster::{SessionDirectory, SessionEntry};
use portcullis_store::{AppRequest, Store};

use crate::clock::SystemClock;

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
