//! An HTTP upstream's standalone stream, followed while the client listens on its own: what the
//! server sends there (requests it relates to no call, list changes, logs) goes to the client's
//! stream, requests under a relayed id (see [`super::server_requests`]). The stream opens once the
//! upstream is initialized, reconnects with `Last-Event-ID` when the upstream ends it, and closes
//! when the client's stream does, so the session can hibernate as before (an open client stream
//! keeps the actor awake, and this task lives only as long as the actor). A 405 means the server
//! has no such stream: nothing to do.
//!
//! A 2026-07-28 client has no stream of its own, and the gateway is the upstream's session-era client
//! on its behalf: then the stream is followed for calls (from the first request after the actor
//! woke, for as long as it is awake), and a request on it joins the one call in flight, whose
//! exchange turns it into an input request, even where the client reads a stream of the gateway's
//! (the stdio front's output). With no call or several in flight it has nowhere certain to go:
//! the upstream gets an error answer at once rather than waiting until its call times out.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use ractor::rpc::CallResult;

use super::actor::SessionMsg;
use super::handle::SessionHandle;
use crate::jsonrpc::{self, Kind};
use crate::upstream::{HttpSender, StreamRefused};

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`] while attempts fail or
/// streams end soon after opening.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the actor may take to acknowledge following the stream for calls.
const FOLLOW_ACK: Duration = Duration::from_secs(5);

/// Where the stream's messages go: the client's own stream, or (`None`) the call in flight.
type Listener = Option<mpsc::Sender<Value>>;

/// The task that follows the upstream's stream; stopped when dropped (with the actor).
pub(super) struct UpstreamStream {
    listener: watch::Sender<Listener>,
    task: JoinHandle<()>,
}

impl UpstreamStream {
    /// Starts following the upstream's stream for `listener`; `None` when the upstream is not
    /// Streamable HTTP or has no such stream.
    fn start(session: &SessionHandle, listener: Listener) -> Option<Self> {
        let sender = session.direct()?.clone();
        if !sender.want_stream() {
            return None;
        }
        let (listener, follows) = watch::channel(listener);
        let task = tokio::spawn(follow(session.clone(), sender, follows));
        Some(Self { listener, task })
    }

    fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// The client opened a new stream: messages go there from now on. `false` when the task has
    /// ended (the old stream closed, or the upstream has none) and must be started again.
    fn redirect(&self, listener: mpsc::Sender<Value>) -> bool {
        self.is_running() && self.listener.send(Some(listener)).is_ok()
    }
}

impl Drop for UpstreamStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sets the sender's phase back when the task ends, however it ends (aborted mid-connect included),
/// so requests never wait for a stream nobody is opening.
struct Settle(HttpSender);

impl Drop for Settle {
    fn drop(&mut self) {
        self.0.stream_unwanted();
    }
}

async fn follow(session: SessionHandle, sender: HttpSender, mut listener: watch::Receiver<Listener>) {
    let _settle = Settle(sender.clone());
    let id = &session.info().id;
    tokio::select! {
        has_stream = sender.await_initialized() => if !has_stream { return },
        () = client_gone(&mut listener) => return,
    }
    let mut last_event_id: Option<String> = None;
    let mut backoff = MIN_BACKOFF;
    loop {
        let opened = tokio::select! {
            opened = sender.open_stream(last_event_id.as_deref()) => opened,
            () = client_gone(&mut listener) => return,
        };
        match opened {
            Ok(mut stream) => {
                tracing::debug!(session = %id, resumed = last_event_id.is_some(), "upstream standalone stream open");
                let opened_at = tokio::time::Instant::now();
                loop {
                    let next = tokio::select! {
                        next = stream.next() => next,
                        () = client_gone(&mut listener) => return,
                    };
                    match next {
                        Some(Ok(message)) => pass_on(&session, &listener, message).await,
                        Some(Err(reason)) => {
                            tracing::debug!(session = %id, reason = %reason, "upstream standalone stream broke");
                            break;
                        }
                        None => break,
                    }
                }
                if let Some(seen) = stream.last_event_id() {
                    last_event_id = Some(seen.to_owned());
                }
                // A server that ends its stream at once, again and again, is not asked in a loop.
                backoff = if opened_at.elapsed() > MAX_BACKOFF {
                    MIN_BACKOFF
                } else {
                    (backoff * 2).min(MAX_BACKOFF)
                };
            }
            Err(StreamRefused::Unsupported) => {
                tracing::debug!(session = %id, "upstream offers no standalone stream");
                return;
            }
            Err(StreamRefused::Expired) => {
                // The next request finds out too, and ends the session.
                tracing::debug!(session = %id, "upstream session expired: standalone stream not reopened");
                return;
            }
            Err(StreamRefused::Failed(reason)) => {
                tracing::debug!(session = %id, reason = %reason, "upstream standalone stream not opened");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = client_gone(&mut listener) => return,
        }
    }
}

/// One message from the upstream's stream to the client's, or to the call in flight.
async fn pass_on(session: &SessionHandle, listener: &watch::Receiver<Listener>, mut message: Value) {
    let info = session.info();
    match jsonrpc::kind(&message) {
        Some(Kind::Request) => info.server_requests.relay(&mut message),
        Some(Kind::Notification) => {
            if jsonrpc::method(&message) == Some(super::cancel::CANCELLED) {
                info.server_requests.relay_cancel(&mut message);
            }
        }
        Some(Kind::Response) | None => {
            tracing::debug!(session = %info.id, "upstream stream message that is no request or notification dropped");
            return;
        }
    }
    // A 2026-07-28 client cannot answer a server→client request wherever it reads (the stdio
    // front's output included): the request joins its call, as an input request.
    if jsonrpc::kind(&message) == Some(Kind::Request) && info.serves_stateless_client() {
        return join_call(session, message);
    }
    let to = listener.borrow().clone();
    match to {
        // A stream closed meanwhile is noticed by `client_gone`; the message has nowhere to go.
        Some(to) => {
            let _ = to.send(message).await;
        }
        None => {
            tracing::debug!(session = %info.id, "upstream stream message with no client stream dropped");
        }
    }
}

/// A request for a 2026-07-28 client's session joins the one call in flight, whose exchange turns
/// it into an input request. With none or several, nothing says which call it belongs to (a shared
/// session may carry several clients' calls): the upstream is refused at once, as a client without
/// the capability refuses, instead of waiting for an answer until its call times out.
fn join_call(session: &SessionHandle, request: Value) {
    let refused = match session.in_flight().sole() {
        Some(call) => match call.try_send(request) {
            Ok(()) => return,
            Err(failed) => failed.into_inner(),
        },
        None => request,
    };
    let info = session.info();
    tracing::debug!(session = %info.id, method = ?jsonrpc::method(&refused), "upstream stream request with no single call to join refused");
    let id = refused.get("id").cloned().unwrap_or(Value::Null);
    let why = "no single call of this client is in flight to carry the request: a 2026-07-28 client is asked only within its call";
    // The relayed id goes back to the upstream's own, and the relay forgets it.
    if let Some(reply) = info
        .server_requests
        .claim(jsonrpc::error(id, jsonrpc::INVALID_REQUEST, why))
        && let Some(sender) = session.direct()
    {
        sender.post_detached(&reply);
    }
}

/// Resolves once the client's stream is closed and no newer one replaced it; never while the
/// stream is followed for calls.
async fn client_gone(listener: &mut watch::Receiver<Listener>) {
    loop {
        let current = listener.borrow_and_update().clone();
        let closed = async {
            match &current {
                Some(stream) => stream.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = closed => {
                if !listener.has_changed().unwrap_or(false) {
                    return;
                }
            }
            changed = listener.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

impl super::actor::SessionState {
    /// The client opened its standalone stream: follow the upstream's for it (or point the one
    /// already followed at it: a server may allow only one GET per session).
    pub(super) fn follow_upstream(&mut self, listener: &mpsc::Sender<Value>) {
        if let Some(following) = &self.upstream_stream
            && following.redirect(listener.clone())
        {
            return;
        }
        // The old task has ended (so its phase reset is done): a new one takes over.
        self.upstream_stream = None;
        self.upstream_stream = UpstreamStream::start(&self.handle, Some(listener.clone()));
    }

    /// A 2026-07-28 client's call is about to go upstream: follow the upstream's stream for calls,
    /// unless it is followed already.
    pub(super) fn follow_for_calls(&mut self) {
        if self
            .upstream_stream
            .as_ref()
            .is_some_and(UpstreamStream::is_running)
        {
            return;
        }
        self.upstream_stream = None;
        self.upstream_stream = UpstreamStream::start(&self.handle, None);
    }
}

impl SessionHandle {
    /// Before a request goes to the HTTP upstream of a 2026-07-28 client's session (the gateway
    /// initialized the upstream on its behalf): the upstream's standalone stream is followed for
    /// calls, so what the server asks there during the call reaches the client. Costs a look at the
    /// stream's phase, and a message to the actor when nobody follows it (after a wake-up).
    pub(super) async fn follow_for_calls(&self) {
        let Some(sender) = self.direct() else {
            return;
        };
        if !self.info().serves_stateless_client() || !sender.stream_unfollowed() {
            return;
        }
        let followed = match self.awake_actor().await {
            Ok(actor) => actor
                .call(|ack| SessionMsg::FollowForCalls { ack }, Some(FOLLOW_ACK))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| match r {
                    CallResult::Success(()) => Ok(()),
                    CallResult::Timeout => Err("timed out".to_owned()),
                    CallResult::SenderError => Err("session ended".to_owned()),
                }),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = followed {
            tracing::debug!(session = %self.info().id, %error, "upstream standalone stream not followed for calls");
        }
    }
}
