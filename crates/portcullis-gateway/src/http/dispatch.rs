//! One message in an established session: notifications and responses pass on, requests are forwarded
//! with the finishing step their method needs.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use super::forward::{Answer, Decision, Opening, finalize, forward, stream};
use super::{Caller, json_response};
use crate::enforce::progress_token;
use crate::jsonrpc::Kind;
use crate::node::Node;
use crate::relay::finish_for;
use crate::relay::input_required::Target;
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
    if answer.sse && progress_token(&message).is_some() {
        return dispatch_with_progress(node, caller, session, message, answer).await;
    }
    match finish_for(&node, caller, &session, &message, None).await {
        Ok(finish) => forward(node, session, message, finish, answer).await,
        // The gateway's own answers (denials, errors) follow the client's era like forwarded ones.
        Err(reply) => json_response(StatusCode::OK, &finalize(reply, answer)),
    }
}

/// A request whose client takes progress over SSE: decided as usual, but when the call is parked for
/// approval (its first heartbeat comes before the decision) the answer starts streaming at once, so
/// the heartbeats reach the client while it waits.
async fn dispatch_with_progress(
    node: Arc<Node>,
    caller: &Caller,
    session: SessionHandle,
    message: Value,
    answer: Answer,
) -> Response {
    let target = answer.stateless.then(|| Target::of(&message));
    let (sink, mut beats) = mpsc::channel(8);
    let mut decision: Decision = {
        let (node, caller, session) = (Arc::clone(&node), caller.clone(), session.clone());
        Box::pin(async move {
            let finish = finish_for(&node, &caller, &session, &message, Some(sink)).await;
            (message, finish)
        })
    };
    tokio::select! {
        biased;
        (message, finish) = &mut decision => match finish {
            Ok(finish) => forward(node, session, message, finish, answer).await,
            Err(reply) => json_response(StatusCode::OK, &finalize(reply, answer)),
        },
        Some(first) = beats.recv() => {
            stream(&node, &session, Opening::Parked { first, beats, decision }, target, answer)
        }
    }
}
