//! An HTTP upstream's standalone stream, kept open while the client listens on its own: what the
//! server sends there (requests it relates to no call, list changes, logs) goes to the client's
//! stream, requests under a relayed id (see [`super::server_requests`]). The stream opens once the
//! upstream is initialized, reconnects with `Last-Event-ID` when the upstream ends it, and closes
//! when the client's stream does, so the session can hibernate as before (an open client stream
//! keeps the actor awake, and this task lives only as long as the actor). A 405 means the server
//! has no such stream: nothing to do.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::handle::SessionHandle;
use crate::jsonrpc::{self, Kind};
use crate::upstream::{HttpSender, StreamRefused};

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`] while attempts fail or
/// streams end soon after opening.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The task that follows the upstream's stream; stopped when dropped (with the actor).
pub(super) struct UpstreamStream {
    listener: watch::Sender<mpsc::Sender<Value>>,
    task: JoinHandle<()>,
}

impl UpstreamStream {
    /// Starts following the upstream's stream for `listener`; `None` when the upstream is not
    /// Streamable HTTP.
    pub(super) fn start(session: &SessionHandle, listener: mpsc::Sender<Value>) -> Option<Self> {
        let sender = session.direct()?.clone();
        sender.want_stream();
        let (listener, follows) = watch::channel(listener);
        let task = tokio::spawn(follow(session.clone(), sender, follows));
        Some(Self { listener, task })
    }

    /// The client opened a new stream: messages go there from now on. `false` when the task has
    /// ended (the old stream closed, or the upstream has none) and must be started again.
    pub(super) fn redirect(&self, listener: mpsc::Sender<Value>) -> bool {
        !self.task.is_finished() && self.listener.send(listener).is_ok()
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
        self.0.stream_settled();
    }
}

async fn follow(
    session: SessionHandle,
    sender: HttpSender,
    mut listener: watch::Receiver<mpsc::Sender<Value>>,
) {
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

/// One message from the upstream's stream to the client's.
async fn pass_on(
    session: &SessionHandle,
    listener: &watch::Receiver<mpsc::Sender<Value>>,
    mut message: Value,
) {
    match jsonrpc::kind(&message) {
        Some(Kind::Request) => session.info().server_requests.relay(&mut message),
        Some(Kind::Notification) => {}
        Some(Kind::Response) | None => {
            tracing::debug!(session = %session.info().id, "upstream stream message that is no request or notification dropped");
            return;
        }
    }
    let to = listener.borrow().clone();
    // A stream closed meanwhile is noticed by `client_gone`; the message has nowhere to go.
    let _ = to.send(message).await;
}

/// Resolves once the client's stream is closed and no newer one replaced it.
async fn client_gone(listener: &mut watch::Receiver<mpsc::Sender<Value>>) {
    loop {
        let current = listener.borrow_and_update().clone();
        tokio::select! {
            () = current.closed() => {
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
        self.upstream_stream = UpstreamStream::start(&self.handle, listener.clone());
    }
}
