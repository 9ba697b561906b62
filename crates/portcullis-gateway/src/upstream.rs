//! The connection from one session to its upstream MCP server: a child process over stdio, a
//! Streamable HTTP endpoint, or a legacy (2024-11-05) HTTP+SSE server. Both deliver what the server says as [`UpstreamEvent`]s to the session
//! actor, which routes responses by id.

mod http;
mod legacy;
mod sse;
mod stdio;

use std::sync::Arc;

use serde_json::Value;

pub use http::{Exchange, ExchangeError, HttpClient, HttpSender, StreamRefused};
pub use sse::{SseEvent, SseParser};

use crate::state::UpstreamSpec;

/// Something the upstream said or did.
#[derive(Debug)]
pub enum UpstreamEvent {
    /// A JSON-RPC message (response, request or notification).
    Message(Value),
    /// The upstream's answer to a request could not be obtained (HTTP error, bad body).
    RequestFailed {
        /// The gateway-assigned id of the request.
        upstream_id: u64,
        /// Why, for logs and the client's error message.
        reason: String,
    },
    /// The upstream is gone (process exited, session expired).
    Closed {
        /// Why.
        reason: String,
    },
}

/// Where the upstream's events go (the session actor's mailbox).
pub type EventSink = Arc<dyn Fn(UpstreamEvent) + Send + Sync>;

/// Why the upstream could not be started or written to.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The child process could not be started.
    #[error("cannot start upstream {command}: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The URL is not a usable `http://` URL.
    #[error("bad upstream url {0:?}")]
    BadUrl(String),
    /// The upstream cannot take more messages right now.
    #[error("upstream is not keeping up")]
    Busy,
    /// The upstream is gone.
    #[error("upstream connection closed")]
    Closed,
}

/// One session's upstream connection. Dropping it stops the child process or ends the HTTP session.
pub enum Upstream {
    /// A child process.
    Stdio(stdio::StdioUpstream),
    /// A Streamable HTTP endpoint.
    Http(http::HttpUpstream),
    /// A 2024-11-05 HTTP+SSE server.
    Legacy(legacy::LegacyUpstream),
}

impl Upstream {
    /// Connects: spawns the process, posts to an HTTP endpoint through `http` (the session's
    /// sender, which holds the upstream session across hibernation), or opens a legacy SSE stream
    /// with `client`.
    ///
    /// # Errors
    /// When the process cannot be spawned or the URL is unusable.
    pub fn start(
        spec: &UpstreamSpec,
        server: &str,
        http: Option<&HttpSender>,
        client: &HttpClient,
        events: EventSink,
    ) -> Result<Self, UpstreamError> {
        match (spec, http) {
            (UpstreamSpec::Http { url }, None) => Err(UpstreamError::BadUrl(url.clone())),
            (UpstreamSpec::Http { .. }, Some(sender)) => {
                Ok(Self::Http(http::HttpUpstream::new(sender.clone(), events)))
            }
            (UpstreamSpec::Stdio { .. }, _) => {
                stdio::StdioUpstream::start(spec, server, events).map(Self::Stdio)
            }
            (UpstreamSpec::Sse { url }, _) => {
                legacy::LegacyUpstream::start(url, client.clone(), events).map(Self::Legacy)
            }
        }
    }

    /// Sends one message. `upstream_id` is set for requests, so transport failures can be reported
    /// against them.
    ///
    /// # Errors
    /// When the upstream is gone or backed up.
    pub fn send(&mut self, message: &Value, upstream_id: Option<u64>) -> Result<(), UpstreamError> {
        match self {
            Self::Stdio(s) => s.send(message),
            Self::Http(h) => h.send(message, upstream_id),
            Self::Legacy(l) => l.send(message, upstream_id),
        }
    }

    /// Lets an HTTP upstream session outlive this connection (the session hibernates).
    pub fn keep_session(&mut self) {
        if let Self::Http(h) = self {
            h.keep_session();
        }
    }

    /// Tells an HTTP upstream which protocol version was negotiated, for its `MCP-Protocol-Version`.
    pub fn set_protocol_version(&mut self, version: &str) {
        if let Self::Http(h) = self {
            h.set_protocol_version(version);
        }
    }
}
