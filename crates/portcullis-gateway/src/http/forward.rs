//! Forwarding one request through its session and answering with JSON, or with an SSE stream when the
//! upstream sends messages (progress, logs, server requests) before its response. The request's life
//! (timeouts, cancellation, settling) is the [`crate::relay`]'s; this file only shapes the answer.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::json_response;
use crate::node::Node;
use crate::protocol::SESSION_HEADER;
pub(super) use crate::relay::Finish;
use crate::relay::input_required::{self, Target};
use crate::relay::{Abandon, Exchange, Step, stateless_result};
use crate::session::SessionHandle;
use crate::session::replay::{self, StreamKind};

/// How to answer.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    /// The client accepts `text/event-stream`.
    pub sse: bool,
    /// The client is stateless (2026-07-28): results get a `resultType`.
    pub stateless: bool,
    /// A stateless client's cacheable method (`tools/list`, ...): results also get `ttlMs`/`cacheScope`.
    pub cacheable: bool,
    /// Put `Mcp-Session-Id` on the response (the answer to `initialize`).
    pub announce_session: bool,
}

impl Answer {
    /// A 2026-07-28 client closing its response stream cancels the request; a session-era client's
    /// disconnect does not (its request runs to the end and is settled then).
    fn abandon(self) -> Abandon {
        if self.stateless {
            Abandon::Cancel
        } else {
            Abandon::RunToEnd
        }
    }
}

/// Forwards `message` and answers the client: JSON when the response comes first or the client takes
/// no SSE, otherwise an SSE stream of everything the upstream says about the request.
pub async fn forward(
    node: Arc<Node>,
    session: SessionHandle,
    message: Value,
    finish: Finish,
    answer: Answer,
) -> Response {
    let target = answer.stateless.then(|| Target::of(&message));
    match Exchange::open(&node, &session, message, finish, answer.abandon()).await {
        Ok(exchange) => respond(node, session, exchange, target, answer).await,
        Err(failed) => json_response(StatusCode::OK, &finalize(failed, answer)),
    }
}

/// A 2026-07-28 client's retry with `inputResponses`: continues the parked call it names.
pub async fn resume(node: Arc<Node>, session: SessionHandle, retry: Value, answer: Answer) -> Response {
    match input_required::resume(&node, &session, &retry).await {
        Ok(exchange) => respond(node, session, exchange, Some(Target::of(&retry)), answer).await,
        Err(error) => json_response(StatusCode::OK, &finalize(error, answer)),
    }
}

/// Answers from `exchange`. `target` is set for 2026-07-28 clients: an upstream request to the
/// client parks the call and the answer is an `InputRequiredResult`.
async fn respond(
    node: Arc<Node>,
    session: SessionHandle,
    mut exchange: Exchange,
    target: Option<Target>,
    answer: Answer,
) -> Response {
    let out = loop {
        match exchange.next().await {
            Step::Done(out) => break out,
            Step::Update(asked) if target.is_some() && input_required::is_server_request(&asked) => {
                let Some(target) = target else { continue };
                break input_required::park(&node, &session, target, exchange, asked);
            }
            // Without SSE nothing but the answer reaches the client.
            Step::Update(_) if !answer.sse => {}
            Step::Update(update) => return stream(&node, &session, exchange, update, target, answer),
        }
    };
    let mut response = json_response(StatusCode::OK, &finalize(out, answer));
    announce(&mut response, &node, &session, answer);
    response
}

/// Answers with an SSE stream that starts with `first` and ends with the response. If the client
/// closes it, the exchange is dropped and so abandoned as the client's era says.
fn stream(
    node: &Arc<Node>,
    session: &SessionHandle,
    mut exchange: Exchange,
    first: Value,
    target: Option<Target>,
    answer: Answer,
) -> Response {
    let announced = answer.announce_session && node.sessions.get(&session.info().id).is_some();
    let keepalive = node.settings.sse_keepalive;
    let (events, body) = mpsc::channel::<Bytes>(16);
    let pump_session = session.clone();
    let pump_node = Arc::clone(node);
    // Session-era clients may come back for the rest with `Last-Event-ID`; stateless ones cannot.
    let resumable = (!answer.stateless).then(|| session.info().replay.open_stream(StreamKind::Response));
    let window = node.settings.sse_replay_window;
    tokio::spawn(async move {
        let frame = |message: &Value, last: bool| match resumable {
            Some(stream) => pump_session.info().replay.record(stream, message, last, window),
            None => sse_event(message),
        };
        let mut step = Step::Update(first);
        loop {
            match step {
                Step::Done(out) => {
                    let _ = events.send(frame(&finalize(out, answer), true)).await;
                    if resumable.is_some() {
                        replay::prune_later(pump_session.info(), window);
                    }
                    return;
                }
                Step::Update(asked) if target.is_some() && input_required::is_server_request(&asked) => {
                    let Some(target) = target else { return };
                    let out = input_required::park(&pump_node, &pump_session, target, exchange, asked);
                    let _ = events.send(frame(&finalize(out, answer), true)).await;
                    return;
                }
                Step::Update(message) => {
                    // A session-era client that left may resume: the rest goes to its replay log.
                    if events.send(frame(&message, false)).await.is_err() && resumable.is_none() {
                        return;
                    }
                }
            }
            // Only the wait races a stateless client's departure (dropping the exchange cancels it);
            // settling the answer is never cut short.
            let received = if resumable.is_some() {
                exchange.receive().await
            } else {
                tokio::select! {
                    received = exchange.receive() => received,
                    () = events.closed() => return,
                }
            };
            step = exchange.conclude(received).await;
        }
    });
    // A long call may be quiet for minutes: keep-alives hold the stream open through proxies. It is
    // not cut when the node drains: shutdown waits for in-flight answers.
    let mut response = super::events::response(body, keepalive, None);
    if announced && let Ok(value) = HeaderValue::from_str(&session.info().id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

/// Forwards `message` and returns the response alone (batches, where no stream is possible).
pub async fn forward_collect(
    node: &Arc<Node>,
    session: &SessionHandle,
    message: Value,
    finish: Finish,
    answer: Answer,
) -> Value {
    let out = match Exchange::open(node, session, message, finish, answer.abandon()).await {
        Ok(exchange) => exchange.settle().await,
        Err(failed) => failed,
    };
    finalize(out, answer)
}

/// Stateless clients expect `resultType` on results; session-era upstreams do not send it.
pub(super) fn finalize(response: Value, answer: Answer) -> Value {
    if answer.stateless {
        stateless_result(response, answer.cacheable)
    } else {
        response
    }
}

fn announce(response: &mut Response, node: &Node, session: &SessionHandle, answer: Answer) {
    // A failed initialize closed its session: announcing it would only earn the client a 404.
    if answer.announce_session
        && node.sessions.get(&session.info().id).is_some()
        && let Ok(value) = HeaderValue::from_str(&session.info().id)
    {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
}

fn sse_event(message: &Value) -> Bytes {
    let data = serde_json::to_string(message).unwrap_or_default();
    Bytes::from(format!("event: message\ndata: {data}\n\n"))
}
