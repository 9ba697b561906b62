//! A Streamable HTTP upstream: each message is a POST; the answer is JSON, an SSE stream, or 202.
//! The upstream's `Mcp-Session-Id` is kept and sent back; the session is deleted when dropped.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::{EventSink, SseParser, UpstreamError, UpstreamEvent};
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

/// The upstream-side session, shared with in-flight POST tasks so the first answer can set it.
#[derive(Debug, Default)]
struct Negotiated {
    session: Option<HeaderValue>,
    version: Option<HeaderValue>,
}

/// One session's view of an HTTP upstream.
pub struct HttpUpstream {
    client: HttpClient,
    url: Uri,
    negotiated: Arc<Mutex<Negotiated>>,
    events: EventSink,
}

impl HttpUpstream {
    pub(super) fn new(url: &str, client: HttpClient, events: EventSink) -> Result<Self, UpstreamError> {
        let url: Uri = url.parse().map_err(|_| UpstreamError::BadUrl(url.to_owned()))?;
        if url.scheme_str() != Some("http") {
            return Err(UpstreamError::BadUrl(url.to_string()));
        }
        Ok(Self {
            client,
            url,
            negotiated: Arc::default(),
            events,
        })
    }

    pub(super) fn set_protocol_version(&mut self, version: &str) {
        if let Ok(value) = HeaderValue::from_str(version) {
            lock(&self.negotiated).version = Some(value);
        }
    }

    pub(super) fn send(&mut self, message: &Value, upstream_id: Option<u64>) -> Result<(), UpstreamError> {
        let body = serde_json::to_vec(message).map_err(|_| UpstreamError::Closed)?;
        let request = self.request(Method::POST, Full::new(Bytes::from(body)))?;
        let client = self.client.clone();
        let events = Arc::clone(&self.events);
        let negotiated = Arc::clone(&self.negotiated);
        tokio::spawn(async move {
            if let Err(reason) = exchange(&client, request, &events, &negotiated).await {
                match upstream_id {
                    Some(upstream_id) => events(UpstreamEvent::RequestFailed { upstream_id, reason }),
                    None => tracing::warn!(reason = %reason, "upstream refused a notification"),
                }
            }
        });
        Ok(())
    }

    fn request(&self, method: Method, body: Full<Bytes>) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(self.url.clone())
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json");
        let negotiated = lock(&self.negotiated);
        if let Some(session) = &negotiated.session {
            builder = builder.header(SESSION_HEADER, session.clone());
        }
        if let Some(version) = &negotiated.version {
            builder = builder.header(VERSION_HEADER, version.clone());
        }
        builder
            .body(body)
            .map_err(|_| UpstreamError::BadUrl(self.url.to_string()))
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        // Best effort: tell the upstream its session is over.
        if lock(&self.negotiated).session.is_none() {
            return;
        }
        let (Ok(runtime), Ok(request)) = (
            tokio::runtime::Handle::try_current(),
            self.request(Method::DELETE, Full::new(Bytes::new())),
        ) else {
            return;
        };
        let client = self.client.clone();
        runtime.spawn(async move {
            let _ = client.0.request(request).await;
        });
    }
}

fn lock(negotiated: &Mutex<Negotiated>) -> std::sync::MutexGuard<'_, Negotiated> {
    negotiated.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends one POST and turns its answer into events.
async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    events: &EventSink,
    negotiated: &Mutex<Negotiated>,
) -> Result<(), String> {
    let had_session = request.headers().contains_key(SESSION_HEADER);
    let response = client
        .0
        .request(request)
        .await
        .map_err(|e| format!("upstream unreachable: {e}"))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND && had_session {
        events(UpstreamEvent::Closed {
            reason: "upstream session expired".to_owned(),
        });
        return Ok(());
    }
    if !status.is_success() {
        return Err(format!("upstream answered HTTP {status}"));
    }
    if let Some(session) = response.headers().get(SESSION_HEADER) {
        lock(negotiated).session = Some(session.clone());
    }
    if status == StatusCode::ACCEPTED {
        return Ok(());
    }
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut body = response.into_body();
    if is_sse {
        let mut parser = SseParser::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("upstream stream broke: {e}"))?;
            if let Some(chunk) = frame.data_ref() {
                for data in parser.feed(chunk) {
                    match serde_json::from_str::<Value>(&data) {
                        Ok(message) => events(UpstreamEvent::Message(message)),
                        Err(e) => tracing::warn!(error = %e, "upstream sent an event that is not json"),
                    }
                }
            }
        }
        return Ok(());
    }
    let bytes = body
        .collect()
        .await
        .map_err(|e| format!("upstream body broke: {e}"))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(messages)) => messages
            .into_iter()
            .for_each(|m| events(UpstreamEvent::Message(m))),
        Ok(message) => events(UpstreamEvent::Message(message)),
        Err(e) => return Err(format!("upstream answered with invalid json: {e}")),
    }
    Ok(())
}
