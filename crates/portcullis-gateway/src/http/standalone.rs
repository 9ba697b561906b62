//! The session's own endpoints besides POST: GET opens the standalone server-to-client stream, DELETE
//! ends the session.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Reject, auth};
use crate::node::Node;
use crate::protocol::SESSION_HEADER;
use crate::session::SessionHandle;

/// GET: an SSE stream of server messages that belong to no request (list changes, resource updates),
/// or, with `Last-Event-ID`, the resumption of a stream the client lost ([`super::resume`]). It ends
/// when the session ends or the node begins to shut down.
pub async fn get(State(node): State<Arc<Node>>, Path(server): Path<String>, headers: HeaderMap) -> Response {
    let opened = async {
        let session = owned_session(&node, &server, &headers)?;
        let takes_sse = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
        if !takes_sse {
            return Err(Reject::status(
                StatusCode::NOT_ACCEPTABLE,
                "the GET stream is text/event-stream: send Accept: text/event-stream",
            ));
        }
        super::resume::open(&node, &session, &headers).await
    };
    match opened.await {
        Ok(response) => response,
        Err(reject) => reject.into_response(),
    }
}

/// DELETE: ends the session and stops its upstream.
pub async fn delete(
    State(node): State<Arc<Node>>,
    Path(server): Path<String>,
    headers: HeaderMap,
) -> Response {
    match owned_session(&node, &server, &headers) {
        Ok(session) => {
            node.sessions.close(&session.info().id);
            super::continuity::forget(&node, &session.info().id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(reject) => reject.into_response(),
    }
}

/// The session named in `Mcp-Session-Id`, if it exists and belongs to this caller and server.
fn owned_session(node: &Node, server: &str, headers: &HeaderMap) -> Result<SessionHandle, Reject> {
    let (entry, caller) = auth::admit(node, server, headers)?;
    let Some(id) = headers.get(SESSION_HEADER) else {
        return Err(Reject::status(
            StatusCode::BAD_REQUEST,
            "this needs an Mcp-Session-Id header",
        ));
    };
    let id = id
        .to_str()
        .map_err(|_| Reject::status(StatusCode::NOT_FOUND, "unknown session: initialize again"))?;
    auth::owned_session(node, id, &caller, &entry)
}
