//! One message in an established session: notifications and responses pass on, requests are forwarded
//! with the finishing step their method needs.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::forward::{Answer, finalize, forward};
use super::{Caller, json_response};
use crate::jsonrpc::Kind;
use crate::node::Node;
use crate::relay::finish_for;
use crate::session::{SessionError, SessionHandle};

/// Handles `message` of `kind` for `caller` in `session`.
pub async fn dispatch(
    node: Arc<Node>,
    caller: &Caller,
    session: SessionHandle,
    message: Value,
    kind: Kind,
    answer: Answer,
) -> Response {
    if kind != Kind::Request {
        return match session.notify(message).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(SessionError::Busy) => (StatusCode::SERVICE_UNAVAILABLE, "session is busy\n").into_response(),
            Err(_) => (StatusCode::NOT_FOUND, "session has ended\n").into_response(),
        };
    }
    match finish_for(&node, caller, &session, &message).await {
        Ok(finish) => forward(node, session, message, finish, answer).await,
        // The gateway's own answers (denials, errors) follow the client's era like forwarded ones.
        Err(reply) => json_response(StatusCode::OK, &finalize(reply, answer)),
    }
}
