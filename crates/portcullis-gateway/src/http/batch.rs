//! JSON-RPC batches, which only protocol 2025-03-26 (and older) allows: each message is handled in
//! order, under the same policy as a single one, and the responses come back as one JSON array.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::forward::{Answer, forward_collect};
use super::{Caller, json_response};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::relay::finish_for;
use crate::session::SessionHandle;

/// Serves a batch in `session`.
pub async fn serve_batch(
    node: &Arc<Node>,
    caller: &Caller,
    session: &SessionHandle,
    messages: Vec<Value>,
) -> Response {
    if messages.is_empty() {
        let empty = jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, "an empty batch");
        return json_response(StatusCode::BAD_REQUEST, &empty);
    }
    let answer = Answer {
        sse: false,
        stateless: false,
        cacheable: false,
        announce_session: false,
    };
    let mut responses = Vec::new();
    for message in messages {
        match jsonrpc::kind(&message) {
            Some(Kind::Request) => {
                let response = match finish_for(node, caller, session, &message, None).await {
                    Ok(finish) => forward_collect(node, session, message, finish, answer).await,
                    Err(response) => response,
                };
                responses.push(response);
            }
            Some(Kind::Notification | Kind::Response) => {
                if let Err(e) = session.notify(message).await {
                    responses.push(jsonrpc::error(
                        Value::Null,
                        jsonrpc::UPSTREAM_ERROR,
                        &e.to_string(),
                    ));
                }
            }
            None => {
                let id = message.get("id").cloned().unwrap_or(Value::Null);
                let invalid = "not a JSON-RPC 2.0 request, notification or response";
                responses.push(jsonrpc::error(id, jsonrpc::INVALID_REQUEST, invalid));
            }
        }
    }
    if responses.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    json_response(StatusCode::OK, &Value::Array(responses))
}
