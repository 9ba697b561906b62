//! The 2024-11-05 HTTP+SSE transport, for legacy clients: `GET /sse/<server>` opens the session's
//! stream and names, in its first (`endpoint`) event, where to POST: `/messages/<server>?session_id=`.
//! Each POSTed message is accepted with 202 and answered on the stream.
//!
//! Nothing here decides anything: admission is [`auth::admit`] and [`auth::owned_session`], and each
//! message goes through the Streamable HTTP front's own `dispatch`/`forward` (enforcement, audit,
//! id rewriting). This module only changes how the answers travel ([`post`]).

mod post;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post as post_route};
use bytes::Bytes;
use dashmap::DashMap;
use serde_json::Value;
use tokio::sync::mpsc;

use super::events::{self, EventSource};
use super::{Reject, auth};
use crate::node::Node;

/// Answers that may wait for the stream to take them.
const ANSWER_BUFFER: usize = 64;

/// The legacy routes.
pub(super) fn router(node: Arc<Node>) -> Router {
    let legacy = Arc::new(Legacy {
        node,
        streams: DashMap::new(),
    });
    Router::new()
        .route("/sse/{server}", get(open))
        .route("/messages/{server}", post_route(post::message))
        .with_state(legacy)
}

/// The open legacy streams, by session id: where a POST's answers go.
struct Legacy {
    node: Arc<Node>,
    streams: DashMap<Arc<str>, mpsc::Sender<Value>>,
}

/// GET: opens a session and its stream. The session lives as long as the stream (the transport has
/// no other way to end one).
async fn open(State(legacy): State<Arc<Legacy>>, Path(server): Path<String>, headers: HeaderMap) -> Response {
    let node = &legacy.node;
    let opened = async {
        let (entry, caller) = auth::admit(node, &server, &headers)?;
        let session = node
            .sessions
            .open(&entry, Arc::clone(&caller.grant_id))
            .await
            .map_err(|e| super::post::open_failed(node, &Value::Null, &e))?;
        let id = Arc::clone(&session.info().id);
        let guard = StreamGuard {
            legacy: Arc::clone(&legacy),
            id: Arc::clone(&id),
        };
        let unsolicited = session
            .listen()
            .await
            .map_err(|_| Reject::status(axum::http::StatusCode::BAD_GATEWAY, "the session ended at once"))?;
        let (answers_tx, answers) = mpsc::channel(ANSWER_BUFFER);
        legacy.streams.insert(Arc::clone(&id), answers_tx);
        tracing::debug!(session = %id, server = %entry.name, "legacy stream opened");
        let endpoint = format!("event: endpoint\ndata: /messages/{server}?session_id={id}\n\n");
        Ok::<_, Reject>(Stream {
            endpoint: Some(Bytes::from(endpoint)),
            unsolicited,
            answers,
            _guard: guard,
        })
    };
    match opened.await {
        Ok(stream) => events::response(
            stream,
            node.settings.sse_keepalive,
            Some(node.draining.subscribe()),
        ),
        Err(reject) => reject.into_response(),
    }
}

/// One legacy client's stream: the endpoint, then answers to its POSTs and the session's
/// unsolicited messages as they come.
struct Stream {
    endpoint: Option<Bytes>,
    unsolicited: mpsc::Receiver<Value>,
    answers: mpsc::Receiver<Value>,
    _guard: StreamGuard,
}

impl EventSource for Stream {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(endpoint) = self.endpoint.take() {
            return Some(endpoint);
        }
        let message = tokio::select! {
            answer = self.answers.recv() => answer?,
            // Closed when the session ends: so does the stream.
            message = self.unsolicited.recv() => message?,
        };
        let data = serde_json::to_string(&message).unwrap_or_default();
        Some(Bytes::from(format!("event: message\ndata: {data}\n\n")))
    }
}

/// Ends the session when its stream goes away (client gone, node draining).
struct StreamGuard {
    legacy: Arc<Legacy>,
    id: Arc<str>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.legacy.streams.remove(&self.id);
        if self.legacy.node.sessions.close(&self.id) {
            tracing::debug!(session = %self.id, "legacy stream closed: session ended");
        }
    }
}
