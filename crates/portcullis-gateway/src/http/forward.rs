//! Forwarding one request through its session and answering with JSON, or with an SSE stream when the
//! upstream sends messages (progress, logs, server requests) before its response.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::json_response;
use crate::enforce::{CallCompletion, filter_tools};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::protocol::SESSION_HEADER;
use crate::session::{ReplyStream, SessionHandle};
use portcullis_policy::CompiledPolicy;

/// How long a session actor may take to accept a request.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What to do with the upstream's response before the client sees it.
pub enum Finish {
    /// Pass it through.
    Plain,
    /// A client `initialize` (the request): remember the negotiated version; when the upstream
    /// refused, try it as a 2026-07-28 upstream; close the session if that fails too.
    Initialize(Box<Value>),
    /// `tools/list`: keep only what the policy shows (`None`: no policy, show nothing).
    ListTools(Option<Arc<CompiledPolicy>>),
    /// `tools/call`: settle counters and audit.
    Call(Box<CallCompletion>),
}

impl Finish {
    async fn apply(self, node: &Node, session: &SessionHandle, mut response: Value, took: Duration) -> Value {
        session.undress(&mut response);
        match self {
            Self::Plain => response,
            Self::Initialize(request) => {
                if response.pointer("/result/protocolVersion").is_none()
                    && let Some(bridged) =
                        super::stateless_upstream::answer_initialize(node, session, &request, &response).await
                {
                    response = bridged;
                }
                match response
                    .pointer("/result/protocolVersion")
                    .and_then(Value::as_str)
                {
                    Some(version) => {
                        let _ = session.info().protocol_version.set(version.to_owned());
                    }
                    None => {
                        node.sessions.close(&session.info().id);
                    }
                }
                response
            }
            Self::ListTools(policy) => {
                filter_tools(policy.as_deref(), &mut response);
                response
            }
            Self::Call(completion) => completion.finish(node, response, took).await,
        }
    }
}

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

/// Forwards `message` and answers the client: JSON when the response comes first or the client takes
/// no SSE, otherwise an SSE stream of everything the upstream says about the request.
pub async fn forward(
    node: Arc<Node>,
    session: SessionHandle,
    message: Value,
    finish: Finish,
    answer: Answer,
) -> Response {
    let started = Instant::now();
    let (mut replies, first) = match open(&node, &session, message, started).await {
        Ok(opened) => opened,
        Err(failed) => {
            let failed = finish.apply(&node, &session, failed, started.elapsed()).await;
            return json_response(StatusCode::OK, &failed);
        }
    };
    if is_final(&first) || !answer.sse {
        let out = settle(&node, &session, &mut replies, first, finish, answer, started).await;
        let mut response = json_response(StatusCode::OK, &out);
        announce(&mut response, &node, &session, answer);
        return response;
    }
    let announced = answer.announce_session && node.sessions.get(&session.info().id).is_some();
    let (events, body) = mpsc::channel::<Bytes>(16);
    let pump_session = session.clone();
    tokio::spawn(async move {
        let mut message = first;
        loop {
            if is_final(&message) {
                let took = started.elapsed();
                let out = finalize(finish.apply(&node, &pump_session, message, took).await, answer);
                let _ = events.send(sse_event(&out)).await;
                return;
            }
            if events.send(sse_event(&message)).await.is_err() {
                // The client left: give up on the request; the finish hook settles counters as failed.
                pump_session.cancel(replies.upstream_id, "client disconnected");
                let gone = jsonrpc::error(replies.id.clone(), jsonrpc::UPSTREAM_ERROR, "client disconnected");
                finish.apply(&node, &pump_session, gone, started.elapsed()).await;
                return;
            }
            message = replies.next(&node, &pump_session).await;
        }
    });
    let stream = futures_util::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (Ok::<_, Infallible>(chunk), body))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if announced && let Ok(value) = HeaderValue::from_str(&session.info().id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

/// Forwards `message` and returns the response alone (batches, where no stream is possible).
pub async fn forward_collect(
    node: &Node,
    session: &SessionHandle,
    message: Value,
    finish: Finish,
    answer: Answer,
) -> Value {
    let started = Instant::now();
    match open(node, session, message, started).await {
        Ok((mut replies, first)) => settle(node, session, &mut replies, first, finish, answer, started).await,
        Err(failed) => finish.apply(node, session, failed, started.elapsed()).await,
    }
}

/// Sends the request and waits for the first message about it; `Err` is the error response to give.
async fn open(
    node: &Node,
    session: &SessionHandle,
    message: Value,
    started: Instant,
) -> Result<(Replies, Value), Value> {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    match session.request(message, ACK_TIMEOUT).await {
        Ok((upstream_id, replies)) => {
            let mut replies = Replies {
                upstream_id,
                replies,
                deadline: started + node.settings.upstream_timeout,
                id,
            };
            let first = replies.next(node, session).await;
            Ok((replies, first))
        }
        Err(e) => {
            node.metrics.error("session");
            let code = match e {
                crate::session::SessionError::Busy => jsonrpc::SESSION_BUSY,
                _ => jsonrpc::UPSTREAM_ERROR,
            };
            Err(jsonrpc::error(id, code, &e.to_string()))
        }
    }
}

/// Waits for the response, dropping what comes before it (the client cannot receive it), and applies
/// the finishing step.
async fn settle(
    node: &Node,
    session: &SessionHandle,
    replies: &mut Replies,
    first: Value,
    finish: Finish,
    answer: Answer,
    started: Instant,
) -> Value {
    let mut message = first;
    while !is_final(&message) {
        message = replies.next(node, session).await;
    }
    finalize(
        finish.apply(node, session, message, started.elapsed()).await,
        answer,
    )
}

/// The messages of one forwarded request.
struct Replies {
    upstream_id: u64,
    replies: ReplyStream,
    deadline: Instant,
    id: Value,
}

impl Replies {
    /// The next message; a timeout or a lost session becomes an error response.
    async fn next(&mut self, node: &Node, session: &SessionHandle) -> Value {
        match tokio::time::timeout_at(self.deadline, self.replies.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => {
                node.metrics.error("upstream");
                jsonrpc::error(
                    self.id.clone(),
                    jsonrpc::UPSTREAM_ERROR,
                    "upstream server went away",
                )
            }
            Err(_) => {
                node.metrics.error("timeout");
                session.cancel(self.upstream_id, "gateway timeout");
                jsonrpc::error(
                    self.id.clone(),
                    jsonrpc::UPSTREAM_ERROR,
                    "upstream server timed out",
                )
            }
        }
    }
}

fn is_final(message: &Value) -> bool {
    jsonrpc::kind(message) == Some(Kind::Response)
}

/// Stateless clients expect `resultType` on results; session-era upstreams do not send it.
pub(super) fn finalize(mut response: Value, answer: Answer) -> Value {
    if answer.stateless
        && let Some(result) = response.get_mut("result").and_then(Value::as_object_mut)
    {
        result
            .entry("resultType")
            .or_insert_with(|| Value::from("complete"));
        if answer.cacheable {
            // What the client sees is filtered per grant and policies change at any time: not shareable,
            // and fresh only now.
            result.entry("ttlMs").or_insert_with(|| Value::from(0));
            result
                .entry("cacheScope")
                .or_insert_with(|| Value::from("private"));
        }
    }
    response
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
