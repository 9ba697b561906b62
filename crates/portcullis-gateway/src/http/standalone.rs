//! The session's own endpoints besides POST: GET opens the standalone server-to-client stream, DELETE
//! ends the session.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{Reject, auth};
use crate::node::Node;
use crate::protocol::SESSION_HEADER;
use crate::session::SessionHandle;

/// GET: an SSE stream of server messages that belong to no request (list changes, resource updates).
/// It ends when the session ends or the node begins to shut down.
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
        let messages = session
            .listen()
            .map_err(|_| Reject::status(StatusCode::NOT_FOUND, "unknown session: initialize again"))?;
        Ok((messages, node.draining.subscribe()))
    };
    let (messages, draining) = match opened.await {
        Ok(opened) => opened,
        Err(reject) => return reject.into_response(),
    };
    let stream =
        futures_util::stream::unfold((messages, draining), |(mut messages, mut draining)| async move {
            if *draining.borrow() {
                return None;
            }
            let message = tokio::select! {
                message = messages.recv() => message?,
                _ = draining.changed() => return None,
            };
            let data = serde_json::to_string(&message).unwrap_or_default();
            let event = Bytes::from(format!("event: message\ndata: {data}\n\n"));
            Some((Ok::<_, Infallible>(event), (messages, draining)))
        });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
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
            super::resume::forget(&node, &session.info().id);
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
