//! Forwarding one request through its session and answering with JSON, or with an SSE stream when the
//! upstream sends messages (progress, logs, server requests) before its response. The request's life
//! (timeouts, cancellation, settling) is the [`crate::relay`]'s; this file only shapes the answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::json_response;
use crate::enforce::{continue_progress, progress_of};
use crate::node::Node;
use crate::protocol::SESSION_HEADER;
pub(super) use crate::relay::Finish;
use crate::relay::input_required::{self, Target};
use crate::relay::{Abandon, Exchange, Step, stateless_result};
use crate::session::SessionHandle;
use crate::session::replay::{self, SharedLog, StreamKind};

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
    forward_logged(node, session, message, finish, answer, None).await
}

/// [`forward`], with a streamed answer's events kept in `log` instead of the session's own replay
/// log (`/mcp`'s aggregate sessions keep one log for every stream their client sees).
pub(super) async fn forward_logged(
    node: Arc<Node>,
    session: SessionHandle,
    message: Value,
    finish: Finish,
    answer: Answer,
    log: Option<SharedLog>,
) -> Response {
    let target = answer.stateless.then(|| Target::of(&message));
    match Exchange::open(&node, &session, message, finish, answer.abandon()).await {
        Ok(exchange) => respond(node, session, exchange, target, answer, log).await,
        Err(failed) => json_response(StatusCode::OK, &finalize(failed, answer)),
    }
}

/// A 2026-07-28 client's retry with `inputResponses`: continues the parked call it names.
pub async fn resume(node: Arc<Node>, session: SessionHandle, retry: Value, answer: Answer) -> Response {
    resume_logged(node, session, retry, answer, None).await
}

/// [`resume`], with a streamed answer's events kept in `log` (see [`forward_logged`]).
pub(super) async fn resume_logged(
    node: Arc<Node>,
    session: SessionHandle,
    retry: Value,
    answer: Answer,
    log: Option<SharedLog>,
) -> Response {
    match input_required::resume(&node, &session, &retry).await {
        Ok(exchange) => respond(node, session, exchange, Some(Target::of(&retry)), answer, log).await,
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
    log: Option<SharedLog>,
) -> Response {
    let out = loop {
        let step = exchange.next().await;
        match input_required::divert(&node, &session, target.as_ref(), &mut exchange, step) {
            Step::Done(out) => break out,
            // Without SSE nothing but the answer reaches the client.
            Step::Update(_) if !answer.sse => {}
            Step::Update(update) => {
                let opening = Opening::Update(Box::new(exchange), update);
                return stream_logged(&node, &session, opening, target, answer, log);
            }
        }
    };
    let mut response = json_response(StatusCode::OK, &finalize(out, answer));
    announce(&mut response, &node, &session, answer);
    response
}

/// A call's decision still to come: the request back, with its finishing step or the gateway's answer.
pub(super) type Decision = Pin<Box<dyn Future<Output = (Value, Result<Finish, Value>)> + Send>>;

/// How a streamed answer begins.
pub(super) enum Opening {
    /// The upstream said `first` about the forwarded request before its response.
    Update(Box<Exchange>, Value),
    /// The call waits for a human: `first` and the rest of `beats` are its heartbeats until the
    /// `decision` forwards it or answers it.
    Parked {
        first: Value,
        beats: mpsc::Receiver<Value>,
        decision: Decision,
    },
}

/// Answers with an SSE stream that starts as `opening` says and ends with the response. If the client
/// closes it, the exchange (or the wait for a decision) is dropped and so abandoned as the client's
/// era says. `target` is set for 2026-07-28 clients: an upstream request to the client then parks
/// the call, and an `InputRequiredResult` ends the stream.
pub(super) fn stream(
    node: &Arc<Node>,
    session: &SessionHandle,
    opening: Opening,
    target: Option<Target>,
    answer: Answer,
) -> Response {
    stream_logged(node, session, opening, target, answer, None)
}

/// [`stream`], keeping its events in `log` (the session's own when `None`).
fn stream_logged(
    node: &Arc<Node>,
    session: &SessionHandle,
    opening: Opening,
    target: Option<Target>,
    answer: Answer,
    log: Option<SharedLog>,
) -> Response {
    let log = log.unwrap_or_else(|| Arc::clone(session.info()) as SharedLog);
    let announced = answer.announce_session && node.sessions.get(&session.info().id).is_some();
    let keepalive = node.settings.sse_keepalive;
    let (events, body) = mpsc::channel::<Bytes>(16);
    let pump = Pump {
        events,
        session: session.clone(),
        // Session-era clients may come back for the rest with `Last-Event-ID`; stateless ones cannot.
        resumable: (!answer.stateless).then(|| (*log).as_ref().open_stream(StreamKind::Response)),
        log,
        window: node.settings.sse_replay_window,
        answer,
    };
    let node = Arc::clone(node);
    tokio::spawn(async move {
        let (exchange, first, beaten) = match opening {
            Opening::Update(exchange, first) => (*exchange, first, 0.0),
            Opening::Parked {
                first,
                beats,
                decision,
            } => match pump.parked(&node, first, beats, decision).await {
                Some(forwarded) => forwarded,
                None => return,
            },
        };
        pump.relay(&node, exchange, first, beaten, target).await;
    });
    // A long call may be quiet for minutes: keep-alives hold the stream open through proxies. It is
    // not cut when the node drains: shutdown waits for in-flight answers.
    let mut response = super::events::response(body, keepalive, None);
    if announced && let Ok(value) = HeaderValue::from_str(&session.info().id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

/// Feeds one streamed answer.
struct Pump {
    events: mpsc::Sender<Bytes>,
    session: SessionHandle,
    resumable: Option<replay::StreamId>,
    /// Where a resumable stream's events are kept.
    log: SharedLog,
    window: Duration,
    answer: Answer,
}

impl Pump {
    /// Sends a message before the response; `false` when the client left and cannot come back.
    async fn update(&self, message: &Value) -> bool {
        // A session-era client that left may resume: the rest goes to its replay log.
        self.events.send(self.frame(message, false)).await.is_ok() || self.resumable.is_some()
    }

    /// Sends the response, which ends the stream.
    async fn done(&self, out: Value) {
        let _ = self
            .events
            .send(self.frame(&finalize(out, self.answer), true))
            .await;
        if self.resumable.is_some() {
            replay::prune_later(&self.log, self.window);
        }
    }

    /// Resolves when a client that cannot resume has closed the stream (never for one that can).
    async fn gone(&self) {
        if self.resumable.is_some() {
            std::future::pending::<()>().await;
        }
        self.events.closed().await;
    }

    fn frame(&self, message: &Value, last: bool) -> Bytes {
        match self.resumable {
            Some(stream) => (*self.log).as_ref().record(stream, message, last, self.window),
            None => sse_event(message),
        }
    }

    /// Streams heartbeats until the decision; then the forwarded exchange, its first message and the
    /// last heartbeat's progress, or `None` when the stream already ended (refused, failed, or the
    /// client left).
    async fn parked(
        &self,
        node: &Arc<Node>,
        first: Value,
        mut beats: mpsc::Receiver<Value>,
        mut decision: Decision,
    ) -> Option<(Exchange, Value, f64)> {
        let mut beaten = progress_of(&first);
        if !self.update(&first).await {
            return None;
        }
        let (message, finish) = loop {
            tokio::select! {
                biased;
                decided = &mut decision => break decided,
                Some(beat) = beats.recv() => {
                    beaten = progress_of(&beat);
                    if !self.update(&beat).await {
                        return None;
                    }
                }
                () = self.gone() => return None,
            }
        };
        let finish = match finish {
            Ok(finish) => finish,
            Err(reply) => {
                self.done(reply).await;
                return None;
            }
        };
        let abandon = self.answer.abandon();
        let mut exchange = match Exchange::open(node, &self.session, message, finish, abandon).await {
            Ok(exchange) => exchange,
            Err(failed) => {
                self.done(failed).await;
                return None;
            }
        };
        match exchange.next().await {
            Step::Update(first) => Some((exchange, first, beaten)),
            Step::Done(out) => {
                self.done(out).await;
                None
            }
        }
    }

    /// Streams what the upstream says about the request, starting with `first`, until its response.
    /// After `beaten` progress in heartbeats, the upstream's progress continues from there. For a
    /// 2026-07-28 client (`target`), an upstream request parks the call and its `InputRequiredResult`
    /// ends the stream.
    async fn relay(
        self,
        node: &Arc<Node>,
        mut exchange: Exchange,
        first: Value,
        beaten: f64,
        target: Option<Target>,
    ) {
        let mut step = Step::Update(first);
        loop {
            match input_required::divert(node, &self.session, target.as_ref(), &mut exchange, step) {
                Step::Done(out) => return self.done(out).await,
                Step::Update(mut message) => {
                    continue_progress(&mut message, beaten);
                    if !self.update(&message).await {
                        return;
                    }
                }
            }
            // Only the wait races a stateless client's departure (dropping the exchange cancels it);
            // settling the answer is never cut short.
            let received = tokio::select! {
                received = exchange.receive() => received,
                () = self.gone() => return,
            };
            step = exchange.conclude(received).await;
        }
    }
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

pub(super) fn sse_event(message: &Value) -> Bytes {
    let data = serde_json::to_string(message).unwrap_or_default();
    Bytes::from(format!("event: message\ndata: {data}\n\n"))
}
