//! A request to an HTTP upstream, sent from the request's own task: the POST goes out when the caller
//! first asks for a reply, and the answer is read in place. Only what belongs to no request (a server
//! announcing list changes) goes to the session's actor, for the client's standalone stream. For a
//! 2026-07-28 client, a request the upstream sent on its standalone stream may join the call here
//! (see `super::upstream_stream`).

mod in_flight;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

pub use in_flight::InFlight;

use super::actor::SessionMsg;
use super::handle::{Permit, SessionHandle};
use super::route::is_server_wide;
use crate::jsonrpc::{self, Kind};
use crate::upstream::{Exchange, ExchangeError, HttpSender, UpstreamEvent};

/// How many messages from the standalone stream may wait to join one request's reply stream.
const SIDE_BUFFER: usize = 8;

/// The POST on its way, until the upstream answers its head.
type Posting = Pin<Box<dyn Future<Output = Result<Exchange, ExchangeError>> + Send>>;

/// The messages about one forwarded request, ending with its response.
pub enum ReplyStream {
    /// Routed by the session actor (stdio upstreams).
    Actor(mpsc::Receiver<Value>),
    /// Read from the upstream's answer by the caller's task (HTTP upstreams).
    Direct(Box<DirectCall>),
}

impl ReplyStream {
    /// The next message; `None` when the session or upstream went away without a response.
    pub async fn recv(&mut self) -> Option<Value> {
        match self {
            Self::Actor(replies) => replies.recv().await,
            Self::Direct(call) => call.recv().await,
        }
    }
}

/// One request posted straight to an HTTP upstream.
pub struct DirectCall {
    session: SessionHandle,
    sender: HttpSender,
    /// The request, until it is posted.
    unsent: Option<Value>,
    /// The POST, until the upstream answers its head (a server may answer only at the end, and
    /// ask on its standalone stream meanwhile).
    posting: Option<Posting>,
    exchange: Exchange,
    upstream_id: u64,
    original_id: Value,
    is_initialize: bool,
    answered: bool,
    /// Fires when the client cancels this request.
    cancelled: Arc<Notify>,
    /// Messages joined from the upstream's standalone stream (see `InFlight::sole`).
    side: Option<mpsc::Receiver<Value>>,
    _permit: Permit,
}

impl DirectCall {
    pub(super) fn new(
        session: SessionHandle,
        sender: HttpSender,
        mut message: Value,
        upstream_id: u64,
        permit: Permit,
    ) -> Self {
        let original_id = message.get("id").cloned().unwrap_or(Value::Null);
        let is_initialize = jsonrpc::method(&message) == Some("initialize");
        if let Some(object) = message.as_object_mut() {
            object.insert("id".to_owned(), Value::from(upstream_id));
        }
        // Only a 2026-07-28 client's session follows the upstream's stream for calls (a channel costs
        // an allocation per request).
        let (joins, side) = if session.info().serves_stateless_client() {
            let (joins, side) = mpsc::channel(SIDE_BUFFER);
            (Some(joins), Some(side))
        } else {
            (None, None)
        };
        let cancelled = session.in_flight().add(upstream_id, original_id.clone(), joins);
        Self {
            session,
            sender,
            unsent: Some(message),
            posting: None,
            exchange: Exchange::default(),
            upstream_id,
            original_id,
            is_initialize,
            answered: false,
            cancelled,
            side,
            _permit: permit,
        }
    }

    async fn recv(&mut self) -> Option<Value> {
        if let Some(message) = self.unsent.take() {
            // The server may ask the client something on its standalone stream during this request.
            self.sender.stream_ready().await;
            let body = match serde_json::to_vec(&message) {
                Ok(body) => Bytes::from(body),
                Err(e) => return Some(self.error(&e.to_string())),
            };
            let sender = self.sender.clone();
            self.posting = Some(Box::pin(async move { sender.post(body).await }));
        }
        if let Some(posting) = self.posting.as_mut() {
            let posted = tokio::select! {
                posted = posting => posted,
                Some(joined) = joined(&mut self.side) => return Some(joined),
            };
            self.posting = None;
            if let Err(failure) = self.posted(posted) {
                return Some(failure);
            }
        }
        loop {
            let next = tokio::select! {
                next = self.exchange.next() => next,
                Some(joined) = joined(&mut self.side) => return Some(joined),
                () = self.cancelled.notified() => {
                    // The upstream was told; what it still says about the request is dropped.
                    self.exchange = Exchange::default();
                    return Some(jsonrpc::error(
                        self.original_id.clone(),
                        jsonrpc::REQUEST_CANCELLED,
                        "request cancelled by the client",
                    ));
                }
            };
            let mut message = match next? {
                Ok(message) => message,
                Err(reason) => return Some(self.error(&reason)),
            };
            match jsonrpc::kind(&message) {
                Some(Kind::Response) => {
                    if message.get("id").and_then(Value::as_u64) != Some(self.upstream_id) {
                        tracing::debug!(session = %self.session.info().id, "response to another request dropped");
                        continue;
                    }
                    if self.is_initialize
                        && let Some(version) =
                            message.pointer("/result/protocolVersion").and_then(Value::as_str)
                    {
                        self.sender.set_protocol_version(version);
                    }
                    if let Some(object) = message.as_object_mut() {
                        object.insert("id".to_owned(), self.original_id.clone());
                    }
                    self.answered = true;
                    return Some(message);
                }
                Some(Kind::Notification | Kind::Request) => {
                    if !is_server_wide(&message) {
                        return Some(message);
                    }
                    to_actor(&self.session, message).await;
                }
                None => {
                    tracing::warn!(session = %self.session.info().id, "upstream sent an invalid json-rpc message");
                }
            }
        }
    }

    /// Takes the POST's outcome; `Err` is the error response to give instead.
    fn posted(&mut self, posted: Result<Exchange, ExchangeError>) -> Result<(), Value> {
        match posted {
            Ok(exchange) => {
                self.exchange = exchange;
                Ok(())
            }
            Err(ExchangeError::Failed(reason)) => Err(self.error(&reason)),
            Err(ExchangeError::Expired) => {
                // The upstream forgot the session: so does the gateway, and the client initializes again.
                if let Some(sessions) = self.session.sessions() {
                    sessions.close(&self.session.info().id);
                }
                Err(self.error("upstream server failed: upstream session expired"))
            }
        }
    }

    fn error(&self, reason: &str) -> Value {
        jsonrpc::error(self.original_id.clone(), jsonrpc::UPSTREAM_ERROR, reason)
    }
}

impl Drop for DirectCall {
    fn drop(&mut self) {
        self.session.in_flight().remove(self.upstream_id);
        // What the upstream says after the response (a list change) still reaches the client's
        // standalone stream; a request given up before its response is simply abandoned.
        if !self.answered || !self.exchange.is_open() {
            return;
        }
        let mut exchange = std::mem::take(&mut self.exchange);
        let session = self.session.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = exchange.next().await {
                to_actor(&session, message).await;
            }
        });
    }
}

/// The next message joined to a call from the standalone stream; never, for a call that takes none.
async fn joined(side: &mut Option<mpsc::Receiver<Value>>) -> Option<Value> {
    match side {
        Some(side) => side.recv().await,
        None => std::future::pending().await,
    }
}

/// Hands an unsolicited upstream message to the session's actor, waking it if asleep.
async fn to_actor(session: &SessionHandle, message: Value) {
    match session.awake_actor().await {
        Ok(actor) => {
            let _ = actor.cast(SessionMsg::Upstream(UpstreamEvent::Message(message)));
        }
        Err(e) => {
            tracing::debug!(session = %session.info().id, error = %e, "upstream message for an ended session dropped");
        }
    }
}

/// The notification that tells an upstream a request was given up.
pub(super) fn cancelled(upstream_id: u64, reason: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": upstream_id, "reason": reason},
    })
}
