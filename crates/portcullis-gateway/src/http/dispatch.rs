//! One message in an established session: notifications and responses pass on, requests are forwarded
//! with the finishing step their method needs.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::forward::{Answer, Finish, finalize, forward};
use super::{Caller, json_response};
use crate::enforce::{CallPlan, plan_call};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
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

/// What a request needs once answered, or (`Err`) the answer to give without forwarding it.
pub async fn finish_for(
    node: &Node,
    caller: &Caller,
    session: &SessionHandle,
    message: &Value,
) -> Result<Finish, Value> {
    match jsonrpc::method(message) {
        Some("tools/call") => match plan_call(node, caller, session, message).await {
            CallPlan::Respond(answer) => Err(answer),
            CallPlan::Forward(completion) => Ok(Finish::Call(completion)),
        },
        Some("tools/list") => Ok(Finish::ListTools(
            caller.grant.policy.as_ref().map(|p| Arc::clone(&p.policy)),
        )),
        Some("initialize") => Err(jsonrpc::error(
            message.get("id").cloned().unwrap_or(Value::Null),
            jsonrpc::INVALID_REQUEST,
            "this session is already initialized",
        )),
        _ => Ok(Finish::Plain),
    }
}
