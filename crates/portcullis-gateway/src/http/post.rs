//! `POST /mcp/<server>`: check, authenticate, read, parse, then hand the message to its session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::dispatch::dispatch;
use super::forward::{Answer, Finish, forward};
use super::{Reject, auth, batch, body, continuity, stateless};
use crate::ingress;
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::protocol::{self, SESSION_HEADER, VERSION_HEADER};

/// The POST handler.
pub async fn post(
    State(node): State<Arc<Node>>,
    Path(server): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(node, &server, &headers, body).await {
        Ok(response) => response,
        Err(reject) => reject.into_response(),
    }
}

async fn handle(node: Arc<Node>, server: &str, headers: &HeaderMap, body: Body) -> Result<Response, Reject> {
    let (entry, caller) = auth::admit(&node, server, headers)?;
    let bytes = body::read(body, headers, node.settings.max_body_bytes).await?;
    let message: Value = ingress::parse_json(&bytes, node.settings.max_body_bytes).map_err(|e| {
        node.metrics.error("bad_request");
        bad(e.to_response())
    })?;
    let session_id = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    let session = match session_id {
        Some(id) => Some(continuity::owned_or_resumed(&node, id, &caller, &entry).await?),
        None => None,
    };
    let header_version = headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok());
    if let Some(version) = header_version
        && !protocol::is_supported(version)
    {
        return Err(bad(jsonrpc::error_with_data(
            Value::Null,
            jsonrpc::UNSUPPORTED_VERSION,
            &format!("unsupported MCP-Protocol-Version {version:?}"),
            serde_json::json!({"supported": protocol::SUPPORTED}),
        )));
    }
    if let Value::Array(messages) = message {
        let version = header_version
            .or_else(|| {
                session
                    .as_ref()
                    .and_then(|s| s.info().protocol_version.get().map(String::as_str))
            })
            .unwrap_or(protocol::ASSUMED_WITHOUT_HEADER);
        if protocol::forbids_batches(version) {
            let why = format!("JSON-RPC batches are not allowed in protocol version {version}");
            return Err(bad(jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, &why)));
        }
        let Some(session) = session else {
            let why = "a batch needs an initialized session (Mcp-Session-Id)";
            return Err(bad(jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, why)));
        };
        return Ok(batch::serve_batch(&node, &caller, &session, messages).await);
    }
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let kind = jsonrpc::kind(&message).ok_or_else(|| {
        bad(jsonrpc::error(
            id,
            jsonrpc::INVALID_REQUEST,
            "not a JSON-RPC 2.0 request, notification or response",
        ))
    })?;
    let sse = accepts_sse(headers);
    if let Some(session) = session {
        let answer = Answer {
            sse,
            stateless: false,
            cacheable: false,
            announce_session: false,
        };
        return Ok(dispatch(node, &caller, session, message, kind, answer).await);
    }
    if kind == Kind::Request && jsonrpc::method(&message) == Some("initialize") {
        let session = node
            .sessions
            .open(&entry, Arc::clone(&caller.grant_id))
            .await
            .map_err(|e| open_failed(&node, &message, &e))?;
        let answer = Answer {
            sse,
            stateless: false,
            cacheable: false,
            announce_session: true,
        };
        let params = message.get("params").cloned();
        let finish = Finish::Initialize(Box::new(message.clone()));
        let response = forward(Arc::clone(&node), session.clone(), message, finish, answer).await;
        continuity::record(&node, &session, params);
        return Ok(response);
    }
    if stateless::applies(headers, &message) {
        return stateless::handle(node, &caller, &entry, headers, message, kind, sse).await;
    }
    Err(bad(jsonrpc::error(
        message.get("id").cloned().unwrap_or(Value::Null),
        jsonrpc::INVALID_REQUEST,
        "missing Mcp-Session-Id: send initialize first, or use protocol 2026-07-28 with _meta",
    )))
}

/// A session that could not be opened: 503 when the node is full, 502 when the upstream failed.
pub(super) fn open_failed(node: &Node, message: &Value, e: &crate::session::SessionError) -> Reject {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let status = if matches!(e, crate::session::SessionError::TooMany) {
        node.metrics.error("too_many_sessions");
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        node.metrics.error("upstream");
        StatusCode::BAD_GATEWAY
    };
    Reject::Rpc(
        status,
        jsonrpc::error(id, jsonrpc::UPSTREAM_ERROR, &e.to_string()),
    )
}

fn bad(body: Value) -> Reject {
    Reject::Rpc(StatusCode::BAD_REQUEST, body)
}

pub(super) fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}
