//! The session actor: owns the upstream connection, rewrites request ids so the gateway's own requests
//! never collide with the client's, and routes what the upstream says back to the request it concerns.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::Value;
use tokio::sync::mpsc;

use super::handle::{Permit, SessionHandle, SessionInfo};
use super::registry::Sessions;
use crate::jsonrpc;
use crate::upstream::{Upstream, UpstreamError, UpstreamEvent};

/// Everything a session actor is told.
pub enum SessionMsg {
    /// A client request to forward; `ack` gets the upstream id once it is on its way.
    Request {
        /// The request as the client sent it.
        message: Value,
        /// Where the upstream's messages about it go.
        reply: mpsc::Sender<Value>,
        /// Acknowledges the forward.
        ack: RpcReplyPort<Result<u64, UpstreamError>>,
        /// Held until the response arrives: bounds the session's queue.
        permit: Permit,
    },
    /// A client notification or response to forward as is.
    Notify {
        /// The message.
        message: Value,
        /// Held while queued.
        permit: Permit,
    },
    /// The client gave up on a request.
    Cancel {
        /// The gateway-assigned id.
        upstream_id: u64,
        /// Why, sent to the upstream.
        reason: &'static str,
    },
    /// The client opened its standalone stream (GET): messages that belong to no request go there.
    Listen {
        /// The stream; replaces an earlier one.
        stream: mpsc::Sender<Value>,
        /// Acknowledges it: the upstream's stream, if any, is being opened.
        ack: RpcReplyPort<()>,
    },
    /// A 2026-07-28 client's request is about to go to the HTTP upstream: follow the upstream's
    /// standalone stream for calls, unless it is followed already.
    FollowForCalls {
        /// Acknowledges it: the stream, if any, is being opened.
        ack: RpcReplyPort<()>,
    },
    /// Something from the upstream.
    Upstream(UpstreamEvent),
    /// The session has been quiet: stop until needed, keeping the upstream session, unless something
    /// is in flight, a standalone stream is open or messages wait for one.
    Hibernate,
}

/// The actor (stateless; state is built in `pre_start`).
pub struct SessionActor;

/// What a session actor starts from.
pub struct SessionArgs {
    /// The session: identity, upstream, and the slot this actor fills.
    pub handle: SessionHandle,
    /// Where to deregister on stop.
    pub sessions: Arc<Sessions>,
}

/// A request waiting for its response.
pub(super) struct Pending {
    pub(super) original_id: Value,
    pub(super) reply: mpsc::Sender<Value>,
    pub(super) progress_token: Option<Value>,
    pub(super) is_initialize: bool,
    pub(super) _permit: Permit,
}

/// The actor's state.
pub struct SessionState {
    pub(super) info: Arc<SessionInfo>,
    pub(super) upstream: Upstream,
    pub(super) next_id: u64,
    pub(super) in_flight: HashMap<u64, Pending>,
    /// The client's standalone stream, when open.
    pub(super) listener: Option<mpsc::Sender<Value>>,
    /// Server-wide notifications that arrived while no stream could take them (a server announcing
    /// list changes right after `initialized`, before the client opened its GET stream). Bounded.
    pub(super) parked: VecDeque<Value>,
    pub(super) sessions: Arc<Sessions>,
    pub(super) handle: SessionHandle,
    /// An HTTP upstream's standalone stream, followed while the client listens.
    pub(super) upstream_stream: Option<super::upstream_stream::UpstreamStream>,
    /// Stopped to sleep, not ended: the registry keeps the session.
    asleep: bool,
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let me = myself;
        let events = Arc::new(move |event| {
            // A failed cast means the actor already stopped; the event has nobody left to matter to.
            let _ = me.cast(SessionMsg::Upstream(event));
        });
        let info = Arc::clone(args.handle.info());
        let upstream = Upstream::start(
            args.handle.upstream(),
            &info.server,
            args.handle.direct(),
            args.sessions.http(),
            events,
        )?;
        Ok(SessionState {
            info,
            upstream,
            next_id: 1,
            in_flight: HashMap::new(),
            listener: None,
            parked: VecDeque::new(),
            sessions: args.sessions,
            handle: args.handle,
            upstream_stream: None,
            asleep: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Request {
                message,
                reply,
                ack,
                permit,
            } => {
                let outcome = state.forward_request(message, reply, permit);
                // The caller may have timed out; its loss is reported on its side.
                let _ = ack.send(outcome);
            }
            SessionMsg::Notify { message, permit } => {
                let message = if jsonrpc::method(&message) == Some(super::cancel::CANCELLED) {
                    state.client_cancelled(message)
                } else {
                    Some(message)
                };
                if let Some(message) = message
                    && let Err(e) = state.upstream.send(&message, None)
                {
                    tracing::warn!(session = %state.info.id, error = %e, "cannot forward notification");
                }
                drop(permit);
            }
            SessionMsg::Cancel { upstream_id, reason } => state.cancel(upstream_id, reason),
            SessionMsg::Listen { stream, ack } => {
                state.follow_upstream(&stream);
                state.listen(stream);
                let _ = ack.send(());
            }
            SessionMsg::FollowForCalls { ack } => {
                state.follow_for_calls();
                let _ = ack.send(());
            }
            SessionMsg::Upstream(UpstreamEvent::Message(message)) => state.route(message),
            SessionMsg::Upstream(UpstreamEvent::RequestFailed { upstream_id, reason }) => {
                state.fail_one(upstream_id, &reason);
            }
            SessionMsg::Upstream(UpstreamEvent::Closed { reason }) => {
                tracing::info!(session = %state.info.id, server = %state.info.server, reason = %reason, "upstream closed");
                state.fail_all(&reason);
                myself.stop(Some(reason));
            }
            SessionMsg::Hibernate => {
                if state.is_quiet() && state.handle.release_actor(myself.get_id()) {
                    state.upstream.keep_session();
                    state.asleep = true;
                    tracing::debug!(session = %state.info.id, "session asleep");
                    myself.stop(None);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !state.asleep {
            state.fail_all("session ended");
            state.sessions.forget(&state.info.id, myself.get_id());
        }
        Ok(())
    }
}

impl SessionState {
    fn forward_request(
        &mut self,
        mut message: Value,
        reply: mpsc::Sender<Value>,
        permit: Permit,
    ) -> Result<u64, UpstreamError> {
        let upstream_id = self.next_id;
        self.next_id += 1;
        let original_id = message.get("id").cloned().unwrap_or(Value::Null);
        let progress_token = message.pointer("/params/_meta/progressToken").cloned();
        let is_initialize = jsonrpc::method(&message) == Some("initialize");
        if let Some(object) = message.as_object_mut() {
            object.insert("id".to_owned(), Value::from(upstream_id));
        }
        self.upstream.send(&message, Some(upstream_id))?;
        self.in_flight.insert(
            upstream_id,
            Pending {
                original_id,
                reply,
                progress_token,
                is_initialize,
                _permit: permit,
            },
        );
        Ok(upstream_id)
    }

    fn cancel(&mut self, upstream_id: u64, reason: &'static str) {
        if self.in_flight.remove(&upstream_id).is_some() {
            let _ = self
                .upstream
                .send(&super::direct::cancelled(upstream_id, reason), None);
        }
    }

    /// Nothing would be lost by stopping now.
    fn is_quiet(&self) -> bool {
        self.in_flight.is_empty()
            && self.parked.is_empty()
            && self.listener.as_ref().is_none_or(mpsc::Sender::is_closed)
    }

    fn fail_one(&mut self, upstream_id: u64, reason: &str) {
        if let Some(pending) = self.in_flight.remove(&upstream_id) {
            deliver(
                &pending.reply,
                jsonrpc::error(pending.original_id, jsonrpc::UPSTREAM_ERROR, reason),
            );
        }
    }

    fn fail_all(&mut self, reason: &str) {
        let message = format!("upstream server failed: {reason}");
        for (_, pending) in self.in_flight.drain() {
            deliver(
                &pending.reply,
                jsonrpc::error(pending.original_id, jsonrpc::UPSTREAM_ERROR, &message),
            );
        }
    }
}

/// Hands a message to a waiting request without blocking the actor; a full buffer only delays it.
pub(super) fn deliver(reply: &mpsc::Sender<Value>, message: Value) {
    if let Err(mpsc::error::TrySendError::Full(message)) = reply.try_send(message) {
        let reply = reply.clone();
        tokio::spawn(async move {
            let _ = reply.send(message).await;
        });
    }
}
