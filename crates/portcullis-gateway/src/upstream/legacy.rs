//! A 2024-11-05 HTTP+SSE upstream: one long GET carries everything the server says, and its first
//! `endpoint` event names the URL each message is POSTed to (answered 202; the response comes on
//! the stream). Messages wait in order until the endpoint is known, then go one POST at a time, so
//! the server sees them in the order the session sent them.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Uri};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{EventSink, HttpClient, SseParser, UpstreamError, UpstreamEvent};

/// How long the server may take to open its stream and name its endpoint.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one POST may take (legacy servers answer 202 at once; the work happens on the stream).
const POST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many messages may wait for the endpoint or for the POST before them.
const WRITE_QUEUE: usize = 256;

/// One session's connection to a legacy HTTP+SSE server. Dropping it closes the stream, which ends
/// the server's session.
pub struct LegacyUpstream {
    outgoing: mpsc::Sender<Outgoing>,
    tasks: [JoinHandle<()>; 2],
}

struct Outgoing {
    body: Bytes,
    upstream_id: Option<u64>,
}

impl LegacyUpstream {
    pub(super) fn start(url: &str, client: HttpClient, events: EventSink) -> Result<Self, UpstreamError> {
        let url: Uri = url.parse().map_err(|_| UpstreamError::BadUrl(url.to_owned()))?;
        if url.scheme_str() != Some("http") || url.authority().is_none() {
            return Err(UpstreamError::BadUrl(url.to_string()));
        }
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let (outgoing, queue) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_stream(client.clone(), url, endpoint_tx, events.clone()));
        let writer = tokio::spawn(write_messages(client, endpoint_rx, queue, events));
        Ok(Self {
            outgoing,
            tasks: [reader, writer],
        })
    }

    pub(super) fn send(&mut self, message: &Value, upstream_id: Option<u64>) -> Result<(), UpstreamError> {
        let body = Bytes::from(serde_json::to_vec(message).map_err(|_| UpstreamError::Closed)?);
        self.outgoing
            .try_send(Outgoing { body, upstream_id })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => UpstreamError::Busy,
                mpsc::error::TrySendError::Closed(_) => UpstreamError::Closed,
            })
    }
}

impl Drop for LegacyUpstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Follows the server's stream until it ends, then reports the upstream closed.
async fn read_stream(client: HttpClient, url: Uri, endpoint: oneshot::Sender<Uri>, events: EventSink) {
    let reason = match follow(&client, &url, endpoint, &events).await {
        Ok(()) => "upstream closed its event stream".to_owned(),
        Err(reason) => reason,
    };
    events(UpstreamEvent::Closed { reason });
}

async fn follow(
    client: &HttpClient,
    url: &Uri,
    endpoint: oneshot::Sender<Uri>,
    events: &EventSink,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + ENDPOINT_TIMEOUT;
    let request = Request::get(url.clone())
        .header(ACCEPT, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("bad upstream url: {e}"))?;
    let response = tokio::time::timeout_at(deadline, client.0.request(request))
        .await
        .map_err(|_| "upstream did not open its event stream in time".to_owned())?
        .map_err(|e| format!("upstream unreachable: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "upstream answered HTTP {status} to the event stream request"
        ));
    }
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return Err("upstream did not answer with an event stream (is this an HTTP+SSE server?)".to_owned());
    }
    let mut body = response.into_body();
    let mut endpoint = Some(endpoint);
    let mut parser = SseParser::new();
    loop {
        let frame = if endpoint.is_some() {
            tokio::time::timeout_at(deadline, body.frame())
                .await
                .map_err(|_| "upstream did not name its message endpoint in time".to_owned())?
        } else {
            body.frame().await
        };
        let Some(frame) = frame else {
            return Ok(());
        };
        let frame = frame.map_err(|e| format!("upstream stream broke: {e}"))?;
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        for event in parser.feed_events(chunk) {
            match event.event.as_deref() {
                Some("endpoint") => {
                    let Some(tell) = endpoint.take() else {
                        tracing::debug!("upstream named its endpoint again; the first one stands");
                        continue;
                    };
                    // The writer only ends when the session does.
                    let _ = tell.send(resolve(url, &event.data)?);
                }
                None | Some("message") => match serde_json::from_str::<Value>(&event.data) {
                    Ok(message) => events(UpstreamEvent::Message(message)),
                    Err(e) => tracing::warn!(error = %e, "upstream sent an event that is not json"),
                },
                Some(other) => tracing::debug!(event = other, "upstream event of an unknown kind skipped"),
            }
        }
    }
}

/// POSTs each message, in order, once the endpoint is known.
async fn write_messages(
    client: HttpClient,
    endpoint: oneshot::Receiver<Uri>,
    mut queue: mpsc::Receiver<Outgoing>,
    events: EventSink,
) {
    // No endpoint: the reader reports why the upstream closed.
    let Ok(endpoint) = endpoint.await else {
        return;
    };
    while let Some(out) = queue.recv().await {
        if let Err(reason) = post(&client, &endpoint, out.body).await {
            match out.upstream_id {
                Some(upstream_id) => events(UpstreamEvent::RequestFailed { upstream_id, reason }),
                None => tracing::warn!(reason = %reason, "upstream refused a notification"),
            }
        }
    }
}

async fn post(client: &HttpClient, endpoint: &Uri, body: Bytes) -> Result<(), String> {
    let request = Request::post(endpoint.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| format!("bad upstream endpoint: {e}"))?;
    let response = tokio::time::timeout(POST_TIMEOUT, client.0.request(request))
        .await
        .map_err(|_| "upstream did not accept the message in time".to_owned())?
        .map_err(|e| format!("upstream unreachable: {e}"))?;
    let status = response.status();
    // Read the (tiny) body so the connection goes back to the pool.
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("upstream answered HTTP {status} to a message"))
    }
}

/// The endpoint the server named, against the stream's URL. Only the stream's own origin is
/// accepted: a server must not point the gateway at another host.
fn resolve(base: &Uri, endpoint: &str) -> Result<Uri, String> {
    let endpoint = endpoint.trim();
    let refuse = || format!("upstream named an unusable message endpoint {endpoint:?}");
    if endpoint.contains("://") {
        let uri: Uri = endpoint.parse().map_err(|_| refuse())?;
        if uri.scheme() != base.scheme() || uri.authority() != base.authority() {
            return Err(format!(
                "upstream named a message endpoint on another origin ({endpoint:?}); refused"
            ));
        }
        return Ok(uri);
    }
    let path_and_query = if endpoint.starts_with('/') {
        endpoint.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{endpoint}")
    };
    let authority = base.authority().ok_or_else(refuse)?.clone();
    Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| refuse())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_against_the_stream_and_stay_on_its_origin() {
        let base: Uri = "http://127.0.0.1:9/sse".parse().unwrap();
        let at = |e: &str| resolve(&base, e).map(|u| u.to_string());
        assert_eq!(
            at("/messages/?session_id=ab").unwrap(),
            "http://127.0.0.1:9/messages/?session_id=ab"
        );
        assert_eq!(at("messages?x=1").unwrap(), "http://127.0.0.1:9/messages?x=1");
        assert_eq!(
            at("http://127.0.0.1:9/m?s=1").unwrap(),
            "http://127.0.0.1:9/m?s=1"
        );
        assert!(at("http://evil.example/m").is_err());
        assert!(at("http://127.0.0.1:10/m").is_err());
    }
}
