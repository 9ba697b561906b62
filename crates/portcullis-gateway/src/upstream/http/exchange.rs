//! One POST to a Streamable HTTP upstream and what it answers: nothing (202), one JSON message (or a
//! JSON array of them), or an SSE stream of messages, read as the caller asks for them.

use std::collections::VecDeque;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::super::SseParser;

/// Why an exchange gave no answer.
#[derive(Debug)]
pub enum ExchangeError {
    /// The upstream forgot the session (404 to a request that named one): the session is over.
    Expired,
    /// Unreachable, an HTTP error, or a broken body; the text says which.
    Failed(String),
}

/// The messages of one answered POST.
#[derive(Debug, Default)]
pub struct Exchange {
    body: Option<Incoming>,
    /// `Some` for an SSE answer.
    sse: Option<SseParser>,
    ready: VecDeque<Value>,
    /// `Some(status)` for a 4xx answer: its body counts only as a JSON-RPC error response.
    refused: Option<StatusCode>,
}

impl Exchange {
    /// Classifies the upstream's answer; `named_session` says whether the POST carried a session id.
    pub(super) fn answered(response: Response<Incoming>, named_session: bool) -> Result<Self, ExchangeError> {
        let status = response.status();
        if status == StatusCode::NOT_FOUND && named_session {
            return Err(ExchangeError::Expired);
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // A 2026-07-28 server answers some JSON-RPC errors with 400 (-32022 to an `initialize`, say):
        // the error is the server's answer, and era bridging needs to see it.
        if status.is_client_error() && content_type.starts_with("application/json") {
            return Ok(Self {
                body: Some(response.into_body()),
                refused: Some(status),
                ..Self::default()
            });
        }
        if !status.is_success() {
            return Err(ExchangeError::Failed(format!("upstream answered HTTP {status}")));
        }
        if status == StatusCode::ACCEPTED {
            return Ok(Self::default());
        }
        let is_sse = content_type.starts_with("text/event-stream");
        Ok(Self {
            body: Some(response.into_body()),
            sse: is_sse.then(SseParser::new),
            ..Self::default()
        })
    }

    /// Whether the upstream may still say more.
    pub fn is_open(&self) -> bool {
        self.body.is_some() || !self.ready.is_empty()
    }

    /// The id of the newest SSE event read, for a reconnection's `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.sse.as_ref()?.last_id()
    }

    /// The next message; `None` once the answer is over.
    pub async fn next(&mut self) -> Option<Result<Value, String>> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Some(Ok(message));
            }
            let body = self.body.as_mut()?;
            let Some(parser) = &mut self.sse else {
                let body = self.body.take()?;
                return self.take_json(body).await;
            };
            match body.frame().await {
                None => {
                    self.body = None;
                    return None;
                }
                Some(Err(e)) => {
                    self.body = None;
                    return Some(Err(format!("upstream stream broke: {e}")));
                }
                Some(Ok(frame)) => {
                    if let Some(chunk) = frame.data_ref() {
                        for data in parser.feed(chunk) {
                            // A priming event carries an id and no message.
                            if data.is_empty() {
                                continue;
                            }
                            match serde_json::from_str::<Value>(&data) {
                                Ok(message) => self.ready.push_back(message),
                                Err(e) => {
                                    tracing::warn!(error = %e, "upstream sent an event that is not json");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    async fn take_json(&mut self, body: Incoming) -> Option<Result<Value, String>> {
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return Some(Err(format!("upstream body broke: {e}"))),
        };
        if bytes.is_empty() {
            return None;
        }
        if let Some(status) = self.refused {
            return Some(match serde_json::from_slice::<Value>(&bytes) {
                Ok(message) if message.get("error").is_some() && message.get("id").is_some() => Ok(message),
                _ => Err(format!("upstream answered HTTP {status}")),
            });
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(messages)) => {
                self.ready.extend(messages);
                self.ready.pop_front().map(Ok)
            }
            Ok(message) => Some(Ok(message)),
            Err(e) => Some(Err(format!("upstream answered with invalid json: {e}"))),
        }
    }
}
