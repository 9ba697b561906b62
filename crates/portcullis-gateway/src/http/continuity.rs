//! Session continuity: a session this node doesn't hold but the cluster recorded is rebuilt here (the
//! same id, a fresh upstream initialized with the client's original params), so an agent whose node
//! died carries on with its `Mcp-Session-Id`. A standalone node has no directory and answers 404.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Caller, Reject, auth};
use crate::cluster::{SessionEntry, ShareKey};
use crate::node::Node;
use crate::relay::handshake;
use crate::session::SessionHandle;
use crate::state::ServerEntry;

/// The session `id` of `caller` on `server`: held here, or continued from the cluster's record.
///
/// # Errors
/// [`auth::owned_session`]'s 404 when neither holds it (or it is another grant's); 502 when the
/// upstream can't be re-established.
pub(super) async fn owned_or_resumed(
    node: &Node,
    id: &str,
    caller: &Caller,
    server: &ServerEntry,
) -> Result<SessionHandle, Reject> {
    let missing = match auth::owned_session(node, id, caller, server) {
        Ok(session) => return Ok(session),
        Err(missing) => missing,
    };
    let Some(directory) = &node.cluster.sessions else {
        return Err(missing);
    };
    // Held here under another grant or server: it must look exactly like a missing one.
    if node.sessions.get(id).is_some() {
        return Err(missing);
    }
    let Some(record) = directory.find(id).filter(|record| {
        // An aggregate session is `/mcp`'s, even though its first member is this server.
        record.members.is_empty() && *record.grant == *caller.grant_id && *record.server == *server.name
    }) else {
        return Err(missing);
    };
    let _one_at_a_time = node.cluster.resuming.lock().await;
    if let Ok(session) = auth::owned_session(node, id, caller, server) {
        return Ok(session);
    }
    let failed = |why: String| {
        node.metrics.error("upstream");
        tracing::warn!(session = id, server = %server.name, error = %why, "could not continue a session");
        Reject::status(
            StatusCode::BAD_GATEWAY,
            format!("cannot continue this session on this node ({why}): initialize again"),
        )
    };
    let session = node
        .sessions
        .adopt(id, server, Arc::clone(&caller.grant_id))
        .await
        .map_err(|e| failed(e.to_string()))?;
    share_counts(node, &session, &session.info().id, "");
    match handshake::initialize(node, &session, record.initialize.clone()).await {
        Ok(result) => {
            if let Some(version) = result.get("protocolVersion").and_then(Value::as_str) {
                let _ = session.info().protocol_version.set(version.to_owned());
            }
            tracing::info!(session = id, server = %server.name, "session continued from another node");
            // This node serves it now: say so at once, so the node that served it before does not
            // release the record when its own copy goes idle.
            directory.keep(&[Arc::new(record.clone())]);
            node.cluster.live.insert(record);
            Ok(session)
        }
        Err(e) => {
            node.sessions.close(id);
            Err(failed(e.to_string()))
        }
    }
}

/// Records a session just initialized here, unless its initialize failed (then it is closed).
pub(super) fn record(node: &Node, session: &SessionHandle, params: Option<Value>) {
    let Some(directory) = &node.cluster.sessions else {
        return;
    };
    let info = session.info();
    if node.sessions.get(&info.id).is_none() {
        return;
    }
    share_counts(node, session, &info.id, "");
    let entry = SessionEntry {
        id: info.id.to_string(),
        grant: info.grant.to_string(),
        server: info.server.to_string(),
        initialize: params.unwrap_or_else(|| json!({})),
        members: Vec::new(),
    };
    directory.record(entry.clone());
    node.cluster.live.insert(entry);
}

/// Links a recorded session's per-session counters to the cluster's, so they follow it to another
/// node; `member` names the server inside an aggregate session (empty otherwise). Session-era
/// sessions only: a stateless client's calls have no session to follow.
pub(crate) fn share_counts(node: &Node, session: &SessionHandle, session_id: &Arc<str>, member: &str) {
    // A stateless client's calls (internal keys) have no record to follow.
    if !crate::session::looks_minted(session_id) {
        return;
    }
    if let Some(sharing) = &node.cluster.session_counts {
        let key = ShareKey {
            session: Arc::clone(session_id),
            member: Arc::from(member),
        };
        sharing.attach(&session.info().counters, key);
    }
}

/// The client ended session `id`: the cluster forgets it too.
pub(super) fn forget(node: &Node, id: &str) {
    if let Some(directory) = &node.cluster.sessions {
        node.cluster.live.remove(id);
        directory.forget(id);
    }
}
