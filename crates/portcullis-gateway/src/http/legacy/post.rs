//! `POST /messages/<server>?session_id=...`: admitted like any request, handed to the session by the
//! Streamable HTTP front's own dispatch, accepted at once with 202, and answered on the session's
//! stream (what the front would have answered over HTTP, relayed event by event).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::Legacy;
use crate::http::dispatch::dispatch;
use crate::http::forward::{Answer, Finish, forward};
use crate::http::{Reject, auth, batch, body};
use crate::jsonrpc::{self, Kind};
use crate::upstream::SseParser;

/// The POST handler.
pub(super) async fn message(
    State(legacy): State<Arc<Legacy>>,
    Path(server): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&legacy, &server, query.as_deref(), &headers, body).await {
        Ok(status) => status.into_response(),
        Err(reject) => reject.into_response(),
    }
}

async fn accept(
    legacy: &Arc<Legacy>,
    server: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<StatusCode, Reject> {
    let node = Arc::clone(&legacy.node);
    let (entry, caller) = auth::admit(&node, server, headers)?;
    let id = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| {
            pair.strip_prefix("session_id=")
                .or_else(|| pair.strip_prefix("sessionId="))
        })
        .ok_or_else(|| Reject::status(StatusCode::BAD_REQUEST, "session_id is missing from the query"))?;
    let session = auth::owned_session(&node, id, &caller, &entry)?;
    let stream = legacy
        .streams
        .get(id)
        .map(|s| s.value().clone())
        .ok_or_else(|| Reject::status(StatusCode::NOT_FOUND, "this session has no open stream"))?;
    let bytes = body::read(body, headers, node.settings.max_body_bytes).await?;
    let message: Value = serde_json::from_slice(&bytes).map_err(|e| {
        node.metrics.error("bad_request");
        let parse = jsonrpc::error(Value::Null, jsonrpc::PARSE_ERROR, &format!("parse error: {e}"));
        Reject::Rpc(StatusCode::BAD_REQUEST, parse)
    })?;
    let answer = Answer {
        sse: true,
        stateless: false,
        cacheable: false,
        announce_session: false,
    };
    if let Value::Array(messages) = message {
        tokio::spawn(async move {
            relay(
                batch::serve_batch(&node, &caller, &session, messages).await,
                &stream,
            )
            .await;
        });
        return Ok(StatusCode::ACCEPTED);
    }
    let Some(kind) = jsonrpc::kind(&message) else {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let invalid = "not a JSON-RPC 2.0 request, notification or response";
        return Err(Reject::Rpc(
            StatusCode::BAD_REQUEST,
            jsonrpc::error(id, jsonrpc::INVALID_REQUEST, invalid),
        ));
    };
    if kind != Kind::Request {
        // Quick (a cast to the session): its status is the answer.
        return Ok(dispatch(node, &caller, session, message, kind, answer)
            .await
            .status());
    }
    // The client's first initialize opens the upstream's session, as a POST without a session would
    // on the Streamable HTTP front.
    let initializes =
        jsonrpc::method(&message) == Some("initialize") && session.info().protocol_version.get().is_none();
    tokio::spawn(async move {
        let response = if initializes {
            let finish = Finish::Initialize(Box::new(message.clone()));
            forward(node, session, message, finish, answer).await
        } else {
            dispatch(node, &caller, session, message, kind, answer).await
        };
        relay(response, &stream).await;
    });
    Ok(StatusCode::ACCEPTED)
}

/// Puts what the front answered (JSON, a JSON array, or an SSE stream of messages) on the legacy
/// stream, message by message, as it arrives.
async fn relay(response: Response, stream: &mpsc::Sender<Value>) {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut body = response.into_body();
    if is_sse {
        let mut parser = SseParser::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Some(chunk) = frame.data_ref() else {
                continue;
            };
            for data in parser.feed(chunk) {
                if let Ok(message) = serde_json::from_str::<Value>(&data)
                    && stream.send(message).await.is_err()
                {
                    // The stream is gone, and with it the session.
                    return;
                }
            }
        }
        return;
    }
    let Ok(bytes) = body.collect().await.map(http_body_util::Collected::to_bytes) else {
        return;
    };
    let messages = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(messages)) => messages,
        Ok(message) => vec![message],
        Err(_) if bytes.is_empty() => return,
        Err(_) => {
            let text = String::from_utf8_lossy(&bytes);
            tracing::debug!(answer = %text.trim(), "legacy message refused without a json-rpc answer");
            return;
        }
    };
    for message in messages {
        if stream.send(message).await.is_err() {
            return;
        }
    }
}
