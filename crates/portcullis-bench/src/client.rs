//! A minimal MCP Streamable HTTP client: enough to open a session and send requests, in either era.
//! The load loops use it, and so does `portcullis demo` for its example calls.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::BenchError;

const SESSION_ERA: &str = "2025-11-25";
const STATELESS_ERA: &str = "2026-07-28";

/// Which protocol era the load speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// `initialize` once per session, then calls carrying `Mcp-Session-Id`.
    Session,
    /// 2026-07-28: no session; every call carries `_meta` and the `Mcp-Method`/`Mcp-Name` headers.
    Stateless,
}

/// Where to send the load.
#[derive(Clone, Debug)]
pub struct Target {
    /// The Streamable HTTP endpoint, e.g. `http://127.0.0.1:8080/mcp/demo`.
    pub url: String,
    /// A bearer token, if the endpoint wants one.
    pub token: Option<String>,
    /// The era to speak.
    pub era: Era,
}

/// The outcome of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    /// A result without `isError`.
    Ok,
    /// A result with `isError: true` (a tool error or a policy denial).
    ToolError,
    /// Transport failure, HTTP error status or a JSON-RPC error.
    Failed,
}

/// A pooled HTTP/1 client with `TCP_NODELAY`, as agents' SDKs use.
#[must_use]
pub fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// One MCP session (or, in the stateless era, one client identity) over Streamable HTTP.
pub struct McpSession {
    http: Client<HttpConnector, Full<Bytes>>,
    target: Target,
    session_id: Option<String>,
    next_id: u64,
}

impl McpSession {
    /// Connects and, in the session era, initializes.
    ///
    /// # Errors
    /// A URL that is not `http://`, or an `initialize` the server refuses.
    pub async fn open(target: &Target) -> Result<Self, BenchError> {
        Self::open_on(http_client(), target).await
    }

    /// Like [`McpSession::open`], over a client (and its pooled connections) shared with others.
    ///
    /// # Errors
    /// As [`McpSession::open`].
    pub async fn open_on(
        http: Client<HttpConnector, Full<Bytes>>,
        target: &Target,
    ) -> Result<Self, BenchError> {
        if !target.url.starts_with("http://") {
            return Err(BenchError::BadUrl(target.url.clone()));
        }
        let mut session = Self {
            http,
            target: target.clone(),
            session_id: None,
            next_id: 1,
        };
        if target.era == Era::Session {
            session.initialize().await.map_err(|reason| BenchError::Setup {
                url: target.url.clone(),
                reason,
            })?;
        }
        Ok(session)
    }

    /// The `Mcp-Session-Id` the server gave at `initialize`, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    async fn initialize(&mut self) -> Result<(), String> {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": SESSION_ERA, "capabilities": {},
            "clientInfo": {"name": "portcullis-bench", "version": env!("CARGO_PKG_VERSION")}}});
        let (status, headers, body) = self.post(&init, None).await?;
        if !status.is_success() {
            return Err(format!(
                "initialize answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        self.session_id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = self.post(&initialized, None).await?;
        if !status.is_success() {
            return Err(format!("notifications/initialized answered {status}"));
        }
        Ok(())
    }

    /// Calls a tool once, for the load loops.
    pub(crate) async fn call(&mut self, tool: &str, args: &Value) -> CallOutcome {
        match self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await
        {
            Ok(reply) => classify(&reply),
            Err(_) => CallOutcome::Failed,
        }
    }

    /// Sends one request and returns the JSON-RPC reply (carrying `result` or `error`).
    ///
    /// # Errors
    /// Transport failures, HTTP error statuses, and bodies holding no reply, with what the server said.
    pub async fn request(&mut self, method: &str, mut params: Value) -> Result<Value, BenchError> {
        let id = self.next_id;
        self.next_id += 1;
        if self.target.era == Era::Stateless && params.is_object() {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
                "io.modelcontextprotocol/clientInfo": {"name": "portcullis-bench", "version": env!("CARGO_PKG_VERSION")},
                "io.modelcontextprotocol/clientCapabilities": {},
            });
        }
        let name = params.get("name").and_then(Value::as_str).map(str::to_owned);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let failed = |reason: String| BenchError::Request {
            method: method.to_owned(),
            reason,
        };
        let (status, _, body) = self.post(&request, name.as_deref()).await.map_err(failed)?;
        if !status.is_success() {
            return Err(failed(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body).trim()
            )));
        }
        reply_in(&body).ok_or_else(|| failed("the response holds no JSON-RPC reply".to_owned()))
    }

    async fn post(
        &self,
        message: &Value,
        tool: Option<&str>,
    ) -> Result<(hyper::StatusCode, hyper::HeaderMap, Bytes), String> {
        let mut request = Request::post(&self.target.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream");
        if let Some(token) = &self.target.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(id) = &self.session_id {
            request = request
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", SESSION_ERA);
        }
        if self.target.era == Era::Stateless {
            let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
            request = request
                .header("mcp-protocol-version", STATELESS_ERA)
                .header("mcp-method", method);
            if let Some(tool) = tool {
                request = request.header("mcp-name", tool);
            }
        }
        let request = request
            .body(Full::new(Bytes::from(message.to_string())))
            .map_err(|e| e.to_string())?;
        let response = self.http.request(request).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}

/// The JSON-RPC reply in a JSON or SSE response body.
fn reply_in(body: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(body);
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(&text).ok();
    }
    // SSE: the reply is the last event carrying a result or an error (earlier ones may be progress
    // or log notifications).
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .rfind(|m| m.get("result").is_some() || m.get("error").is_some())
}

/// Classifies a tool call's reply.
fn classify(reply: &Value) -> CallOutcome {
    match reply.get("result") {
        Some(result) if result.get("isError").and_then(Value::as_bool) == Some(true) => {
            CallOutcome::ToolError
        }
        Some(_) => CallOutcome::Ok,
        None => CallOutcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_json_and_sse_replies() {
        let outcome = |body: &[u8]| reply_in(body).map(|r| classify(&r));
        assert_eq!(
            outcome(br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#),
            Some(CallOutcome::Ok)
        );
        assert_eq!(
            outcome(br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true}}"#),
            Some(CallOutcome::ToolError)
        );
        assert_eq!(
            outcome(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1}}"#),
            Some(CallOutcome::Failed)
        );
        let sse = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n";
        assert_eq!(outcome(sse), Some(CallOutcome::Ok));
        assert_eq!(outcome(b"garbage"), None);
    }
}
