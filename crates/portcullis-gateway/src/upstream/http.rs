//! A Streamable HTTP upstream: each message is a POST; the answer is JSON, an SSE stream, or 202.
//! The upstream's `Mcp-Session-Id` is kept and sent back; the session is deleted when it ends.
//!
//! [`HttpSender`] is the cloneable part: a request task may post through it directly (no hop through
//! the session actor), and a hibernating session keeps it, so waking up reuses the upstream session.

mod exchange;
mod standalone;

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub use exchange::{Exchange, ExchangeError};
pub use standalone::StreamRefused;

use super::{EventSink, UpstreamError, UpstreamEvent};
use crate::protocol::{SESSION_HEADER, VERSION_HEADER};

/// A pooled HTTP/1 client shared by every HTTP upstream of a node.
#[derive(Clone, Debug)]
pub struct HttpClient(pub(super) Client<HttpConnector, Full<Bytes>>);

impl HttpClient {
    /// A client with default pooling and `TCP_NODELAY`.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        // Each message is written whole; Nagle would only hold a small request back for an ACK.
        connector.set_nodelay(true);
        Self(Client::builder(TokioExecutor::new()).build(connector))
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// The upstream-side session, set by the first answer that names one.
#[derive(Debug, Default)]
struct Negotiated {
    session: Option<HeaderValue>,
    version: Option<HeaderValue>,
}

#[derive(Debug)]
struct SenderInner {
    client: HttpClient,
    url: Uri,
    negotiated: Mutex<Negotiated>,
    /// Whether requests must wait for the standalone stream being opened.
    stream: standalone::StreamGate,
}

/// One session's way to post to its HTTP upstream; clones share the upstream session.
#[derive(Clone, Debug)]
pub struct HttpSender(Arc<SenderInner>);

impl HttpSender {
    /// A sender for `url` with no upstream session yet.
    ///
    /// # Errors
    /// When `url` is not an `http://` URL.
    pub fn new(url: &str, client: HttpClient) -> Result<Self, UpstreamError> {
        let url: Uri = url.parse().map_err(|_| UpstreamError::BadUrl(url.to_owned()))?;
        if url.scheme_str() != Some("http") {
            return Err(UpstreamError::BadUrl(url.to_string()));
        }
        Ok(Self(Arc::new(SenderInner {
            client,
            url,
            negotiated: Mutex::default(),
            stream: standalone::StreamGate::default(),
        })))
    }

    /// Sets the `MCP-Protocol-Version` sent from now on.
    pub fn set_protocol_version(&self, version: &str) {
        if let Ok(value) = HeaderValue::from_str(version) {
            self.lock().version = Some(value);
            self.0.stream.initialized(version);
        }
    }

    /// Posts one serialised message and waits for the answer's head; its messages follow from the
    /// returned [`Exchange`].
    ///
    /// # Errors
    /// [`ExchangeError::Expired`] when the upstream forgot the session, else why it failed.
    pub async fn post(&self, body: Bytes) -> Result<Exchange, ExchangeError> {
        let request = self
            .request(Method::POST, Full::new(body))
            .map_err(|e| ExchangeError::Failed(e.to_string()))?;
        let named_session = request.headers().contains_key(SESSION_HEADER);
        let response = self
            .0
            .client
            .0
            .request(request)
            .await
            .map_err(|e| ExchangeError::Failed(format!("upstream unreachable: {e}")))?;
        if let Some(session) = response.headers().get(SESSION_HEADER) {
            // A copy, not a clone: a parsed header shares the connection's whole read buffer, and
            // an idle session keeping it would pin 8 KiB.
            let owned = HeaderValue::from_bytes(session.as_bytes()).unwrap_or_else(|_| session.clone());
            self.lock().session = Some(owned);
        }
        Exchange::answered(response, named_session)
    }

    /// Posts a message nobody waits on (a notification), in the background.
    pub fn post_detached(&self, message: &Value) {
        let Ok(body) = serde_json::to_vec(message) else {
            return;
        };
        let sender = self.clone();
        tokio::spawn(async move {
            if let Err(ExchangeError::Failed(reason)) = sender.post(Bytes::from(body)).await {
                tracing::warn!(reason = %reason, "upstream refused a notification");
            }
        });
    }

    /// Best effort: tells the upstream its session is over (DELETE), in the background.
    pub fn end_session(&self) {
        if self.lock().session.is_none() {
            return;
        }
        let (Ok(runtime), Ok(request)) = (
            tokio::runtime::Handle::try_current(),
            self.request(Method::DELETE, Full::new(Bytes::new())),
        ) else {
            return;
        };
        let client = self.0.client.clone();
        runtime.spawn(async move {
            let _ = client.0.request(request).await;
        });
    }

    fn request(&self, method: Method, body: Full<Bytes>) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(self.0.url.clone())
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json");
        let negotiated = self.lock();
        if let Some(session) = &negotiated.session {
            builder = builder.header(SESSION_HEADER, session.clone());
        }
        if let Some(version) = &negotiated.version {
            builder = builder.header(VERSION_HEADER, version.clone());
        }
        builder
            .body(body)
            .map_err(|_| UpstreamError::BadUrl(self.0.url.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Negotiated> {
        self.0.negotiated.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The session actor's view of an HTTP upstream: what it sends comes back as events.
pub struct HttpUpstream {
    sender: HttpSender,
    events: EventSink,
    /// Set when the session hibernates: the upstream session must outlive this actor.
    keep_session: bool,
}

impl HttpUpstream {
    pub(super) fn new(sender: HttpSender, events: EventSink) -> Self {
        Self {
            sender,
            events,
            keep_session: false,
        }
    }

    pub(super) fn set_protocol_version(&mut self, version: &str) {
        self.sender.set_protocol_version(version);
    }

    pub(super) fn keep_session(&mut self) {
        self.keep_session = true;
    }

    pub(super) fn send(&mut self, message: &Value, upstream_id: Option<u64>) -> Result<(), UpstreamError> {
        let body = serde_json::to_vec(message).map_err(|_| UpstreamError::Closed)?;
        let sender = self.sender.clone();
        let events = Arc::clone(&self.events);
        tokio::spawn(async move {
            let failed = match sender.post(Bytes::from(body)).await {
                Ok(mut exchange) => loop {
                    match exchange.next().await {
                        Some(Ok(message)) => events(UpstreamEvent::Message(message)),
                        Some(Err(reason)) => break Some(reason),
                        None => break None,
                    }
                },
                Err(ExchangeError::Expired) => {
                    events(UpstreamEvent::Closed {
                        reason: "upstream session expired".to_owned(),
                    });
                    None
                }
                Err(ExchangeError::Failed(reason)) => Some(reason),
            };
            if let Some(reason) = failed {
                match upstream_id {
                    Some(upstream_id) => events(UpstreamEvent::RequestFailed { upstream_id, reason }),
                    None => tracing::warn!(reason = %reason, "upstream refused a notification"),
                }
            }
        });
        Ok(())
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        if !self.keep_session {
            self.sender.end_session();
        }
    }
}
