//! The life of one forwarded request: sent through its session, its messages read under two timeouts,
//! and settled exactly once, even when the front stops listening.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::Finish;
use super::input_rounds::{self, Round};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::session::{ReplyStream, SessionError, SessionHandle};

/// How long a session actor may take to accept a request.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What happens to a request whose client stopped listening (closed its stream, or the front ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandon {
    /// Session era: a disconnect is not a cancellation (the spec says so); the upstream finishes and
    /// the call is settled then, its answer dropped.
    RunToEnd,
    /// 2026-07-28 (a closed response stream is a cancellation), and a front shutting down: the upstream
    /// is told `notifications/cancelled` and the call is settled as cancelled.
    Cancel,
}

/// One message about the request.
#[derive(Debug)]
pub enum Step {
    /// Something the upstream said before its response (progress, a log, a request to the client).
    Update(Value),
    /// The final answer, already settled: the response, or the gateway's own error.
    Done(Value),
}

/// A message received by [`Exchange::receive`], not yet looked at (`Err`: the gateway's own error).
#[derive(Debug)]
pub struct Received(Result<Value, Value>);

/// A forwarded request not yet settled. Dropping it abandons the request as its [`Abandon`] says.
pub struct Exchange {
    live: Option<Live>,
}

struct Live {
    node: Arc<Node>,
    session: SessionHandle,
    upstream_id: u64,
    replies: ReplyStream,
    id: Value,
    finish: Finish,
    abandon: Abandon,
    started: Instant,
    /// `request_timeout`: however much progress the upstream reports.
    hard_deadline: Instant,
    /// `upstream_timeout`: moved on by every message about the request.
    quiet_deadline: Instant,
    /// The request as sent, kept when the upstream may answer it with an `InputRequiredResult` the
    /// client cannot take (see [`input_rounds`]).
    retry: Option<Box<Value>>,
    /// The questions being put to the client, when the upstream asked some.
    round: Option<Round>,
}

impl Exchange {
    /// Sends `message` (a request) through `session`.
    ///
    /// # Errors
    /// The settled error response to give the client when the session could not take the request.
    pub async fn open(
        node: &Arc<Node>,
        session: &SessionHandle,
        message: Value,
        finish: Finish,
        abandon: Abandon,
    ) -> Result<Self, Value> {
        let started = Instant::now();
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let retry = input_rounds::keeps(session, &message).then(|| Box::new(message.clone()));
        match session.request(message, ACK_TIMEOUT).await {
            Ok((upstream_id, replies)) => Ok(Self {
                live: Some(Live {
                    node: Arc::clone(node),
                    session: session.clone(),
                    upstream_id,
                    replies,
                    id,
                    finish,
                    abandon,
                    started,
                    hard_deadline: started + node.settings.request_timeout,
                    quiet_deadline: started + node.settings.upstream_timeout,
                    retry,
                    round: None,
                }),
            }),
            Err(e) => {
                node.metrics.error("session");
                let code = match e {
                    SessionError::Busy => jsonrpc::SESSION_BUSY,
                    _ => jsonrpc::UPSTREAM_ERROR,
                };
                let failed = jsonrpc::error(id, code, &e.to_string());
                Err(finish.apply(node, session, failed, started.elapsed()).await)
            }
        }
    }

    /// The next message about the request. After [`Step::Done`] the exchange is spent and every further
    /// call returns an internal error. Not cancel-safe once the final answer is being settled: a caller
    /// that races it against something else uses [`Exchange::receive`] and [`Exchange::conclude`].
    pub async fn next(&mut self) -> Step {
        let received = self.receive().await;
        self.conclude(received).await
    }

    /// Waits for the next message without settling anything: cancel-safe.
    pub async fn receive(&mut self) -> Received {
        let Some(live) = self.live.as_mut() else {
            return Received(Err(jsonrpc::error(
                Value::Null,
                jsonrpc::INTERNAL_ERROR,
                "request already answered",
            )));
        };
        Received(live.receive().await)
    }

    /// Turns what [`Exchange::receive`] gave into a step, settling the call when it is the final answer.
    pub async fn conclude(&mut self, received: Received) -> Step {
        match received.0 {
            Ok(message) if jsonrpc::kind(&message) != Some(Kind::Response) => Step::Update(message),
            Ok(mut response) | Err(mut response) => match self.live.take() {
                Some(live) => {
                    // A continued request answers the retry's id, not the first attempt's.
                    if let Some(object) = response.as_object_mut() {
                        object.insert("id".to_owned(), live.id.clone());
                    }
                    Step::Done(live.settle(response).await)
                }
                None => Step::Done(response),
            },
        }
    }

    /// The id the client gave the request (the final answer carries it).
    pub fn client_id(&self) -> Value {
        self.live.as_ref().map_or(Value::Null, |live| live.id.clone())
    }

    /// The request was parked for the client's input and a retry (with its own id) continues it: the
    /// answer goes to the retry, and the upstream's quiet time starts again (the client's thinking
    /// time was not the upstream's).
    pub fn continue_as(&mut self, id: Value) {
        if let Some(live) = self.live.as_mut() {
            live.id = id;
            live.quiet_deadline = Instant::now() + live.node.settings.upstream_timeout;
        }
    }

    /// Moves the request into a new exchange and leaves this one spent, as after its final answer
    /// (parking keeps the request somewhere the front that opened it cannot reach).
    pub fn take(&mut self) -> Self {
        Self {
            live: self.live.take(),
        }
    }

    /// Gives the request up now, as its [`Abandon`] says, and returns once it is settled (a front
    /// that is ending waits for this; a drop would settle it in a task nobody waits for).
    pub async fn abandon(mut self) {
        if let Some(live) = self.live.take() {
            live.abandoned().await;
        }
    }

    /// Waits for the final answer, dropping what comes before it (for clients that cannot receive it).
    pub async fn settle(mut self) -> Value {
        loop {
            if let Step::Done(response) = self.next().await {
                return response;
            }
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let Some(live) = self.live.take() else {
            return;
        };
        // Settling awaits the audit trail, so it continues in a task. Without a runtime (the node is
        // going down) the call's reservation still rolls back as the completion drops.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(live.abandoned());
        }
    }
}

impl Live {
    /// The next message, or (`Err`) the gateway's error when the upstream went away or took too long.
    async fn receive(&mut self) -> Result<Value, Value> {
        loop {
            let deadline = self.hard_deadline.min(self.quiet_deadline);
            if let Some(round) = self.round.as_mut() {
                if let Some(question) = round.ask() {
                    return Ok(question);
                }
                if round.answered() {
                    self.retry_upstream().await?;
                    continue;
                }
                match tokio::time::timeout_at(deadline, round.collect()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => {
                        return Err(jsonrpc::error(
                            self.id.clone(),
                            jsonrpc::INTERNAL_ERROR,
                            "the client's answers were lost",
                        ));
                    }
                    Err(_) => {
                        // The upstream is not working on it (it answered): nothing to cancel.
                        self.node.metrics.error("timeout");
                        self.round = None;
                        return Err(self.timed_out());
                    }
                }
            }
            match tokio::time::timeout_at(deadline, self.replies.recv()).await {
                Ok(Some(message)) => {
                    self.quiet_deadline = Instant::now() + self.node.settings.upstream_timeout;
                    if self.retry.is_some() && input_rounds::asks_input(&message) {
                        self.round = Some(Round::start(&self.session, self.upstream_id, &message));
                        continue;
                    }
                    return Ok(message);
                }
                Ok(None) => {
                    self.node.metrics.error("upstream");
                    return Err(jsonrpc::error(
                        self.id.clone(),
                        jsonrpc::UPSTREAM_ERROR,
                        "upstream server went away",
                    ));
                }
                Err(_) => {
                    self.node.metrics.error("timeout");
                    self.session.cancel(self.upstream_id, "gateway timeout");
                    return Err(self.timed_out());
                }
            }
        }
    }

    /// Every question of the round is answered: the request goes upstream again with the answers.
    async fn retry_upstream(&mut self) -> Result<(), Value> {
        let (Some(round), Some(request)) = (self.round.take(), self.retry.as_deref()) else {
            return Ok(());
        };
        match self.session.request(round.retry(request), ACK_TIMEOUT).await {
            Ok((upstream_id, replies)) => {
                self.upstream_id = upstream_id;
                self.replies = replies;
                self.quiet_deadline = Instant::now() + self.node.settings.upstream_timeout;
                Ok(())
            }
            Err(e) => {
                self.node.metrics.error("session");
                Err(jsonrpc::error(
                    self.id.clone(),
                    jsonrpc::UPSTREAM_ERROR,
                    &e.to_string(),
                ))
            }
        }
    }

    fn timed_out(&self) -> Value {
        let settings = &self.node.settings;
        let (which, limit, key) = if self.hard_deadline <= self.quiet_deadline {
            ("request", settings.request_timeout, "limits.request_timeout_secs")
        } else {
            (
                "upstream",
                settings.upstream_timeout,
                "limits.upstream_timeout_secs",
            )
        };
        let message = if which == "request" {
            format!(
                "request timed out: no answer within {} s ({key})",
                limit.as_secs_f64()
            )
        } else {
            format!(
                "upstream server timed out: nothing about this request for {} s ({key})",
                limit.as_secs_f64()
            )
        };
        jsonrpc::error_with_data(
            self.id.clone(),
            jsonrpc::UPSTREAM_ERROR,
            &message,
            json!({"timeout": which, "afterMs": u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)}),
        )
    }

    async fn settle(self, response: Value) -> Value {
        let took = self.started.elapsed();
        self.finish.apply(&self.node, &self.session, response, took).await
    }

    /// The client stopped listening.
    async fn abandoned(mut self) {
        match self.abandon {
            Abandon::Cancel => {
                self.session.cancel(self.upstream_id, "client went away");
                let gone = jsonrpc::error(
                    self.id.clone(),
                    jsonrpc::REQUEST_CANCELLED,
                    "client went away before the answer",
                );
                self.settle(gone).await;
            }
            Abandon::RunToEnd => loop {
                match self.receive().await {
                    Ok(message) if jsonrpc::kind(&message) != Some(Kind::Response) => {}
                    Ok(response) | Err(response) => {
                        self.settle(response).await;
                        return;
                    }
                }
            },
        }
    }
}
