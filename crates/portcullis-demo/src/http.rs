//! The Streamable HTTP transport: `POST /mcp` answers with JSON, `DELETE /mcp` ends a session,
//! `GET /mcp` (server stream) is not offered and gets 405.

mod headers;
mod sessions;

use std::future::Future;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::{
    dispatch::{DemoServer, Session},
    protocol::{self, HEADER_MISMATCH, INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION},
};
use headers::{SESSION_HEADER, reject_headers};
use sessions::Sessions;

/// Largest request body accepted (larger ones get 413).
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct HttpState {
    server: DemoServer,
    sessions: std::sync::Arc<Sessions>,
}

/// The `/mcp` routes, for callers that compose their own axum app.
pub fn router(server: DemoServer) -> Router {
    let state = HttpState {
        server,
        sessions: std::sync::Arc::new(Sessions::default()),
    };
    Router::new()
        .route("/mcp", post(post_mcp).delete(delete_mcp).get(get_mcp))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves Streamable HTTP on `listener` until `shutdown` completes, then drains open requests.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve_http(
    server: DemoServer,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "demo mcp server listening");
    // A fast upstream answers without Nagle's delay, as the gateway does (benchmarks compare the two).
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router(server))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn post_mcp(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(protocol::parse_error(&e))).into_response(),
    };
    if let Some(rejection) = reject_headers(&headers, &message) {
        return rejection;
    }
    let method = message.get("method").and_then(Value::as_str);
    if method == Some("initialize") {
        return initialize(&state, &message);
    }
    let session_id = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    let reply = match session_id {
        Some(id) => match state.sessions.get(id) {
            Some(session) => {
                let mut session = session.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                state.server.handle(&mut session, &message)
            }
            None => {
                return rpc_status(
                    StatusCode::NOT_FOUND,
                    INVALID_REQUEST,
                    "unknown or expired session",
                );
            }
        },
        None if is_sessionless(&message) => state.server.handle(&mut Session::default(), &message),
        None => {
            return rpc_status(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                "missing Mcp-Session-Id header",
            );
        }
    };
    reply_response(reply)
}

fn initialize(state: &HttpState, message: &Value) -> Response {
    let mut session = Session::default();
    let reply = state.server.handle(&mut session, message);
    let succeeded = reply.as_ref().is_some_and(|r| r.get("result").is_some());
    let mut response = reply_response(reply);
    if succeeded {
        let Some(id) = state.sessions.insert(session) else {
            return rpc_status(
                StatusCode::SERVICE_UNAVAILABLE,
                INVALID_REQUEST,
                "too many sessions",
            );
        };
        tracing::debug!(session = %id, "session started");
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(SESSION_HEADER, value);
        }
    }
    response
}

/// Messages that need no session: stateless-era requests (version in `_meta`), `server/discover`,
/// and notifications or responses, which get no reply anyway.
fn is_sessionless(message: &Value) -> bool {
    if message.get("id").is_none() || message.get("method").is_none() {
        return true;
    }
    let has_meta_version = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(protocol::META_PROTOCOL_VERSION))
        .is_some();
    has_meta_version || message.get("method").and_then(Value::as_str) == Some("server/discover")
}

fn reply_response(reply: Option<Value>) -> Response {
    let Some(reply) = reply else {
        return StatusCode::ACCEPTED.into_response();
    };
    let code = reply
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64);
    // The stateless revision answers these errors with 400; everything else is a 200 JSON-RPC reply.
    let status = match code {
        Some(UNSUPPORTED_PROTOCOL_VERSION | HEADER_MISMATCH) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    (status, Json(reply)).into_response()
}

fn rpc_status(status: StatusCode, code: i64, message: &str) -> Response {
    (status, Json(protocol::error(&Value::Null, code, message))).into_response()
}

async fn delete_mcp(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    match headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        None => rpc_status(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "missing Mcp-Session-Id header",
        ),
        Some(id) if state.sessions.remove(id) => {
            tracing::debug!(session = %id, "session ended");
            StatusCode::OK.into_response()
        }
        Some(_) => rpc_status(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            "unknown or expired session",
        ),
    }
}

async fn get_mcp() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST, DELETE")]).into_response()
}
