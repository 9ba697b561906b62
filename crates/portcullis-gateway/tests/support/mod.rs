//! Test support: an in-process gateway on 127.0.0.1:0 in front of fake upstreams, and a small client.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support module"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failure here is a failed test"
)]

pub mod fake_http;
pub mod fake_legacy;
#[path = "fake_logic.rs"]
pub mod fake_logic;
pub mod py;
pub mod stdio;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis_gateway::audit::MemoryAuditSink;
use portcullis_gateway::clock::ManualClock;
use portcullis_gateway::config::load_str;
use portcullis_gateway::counters::MemoryCounters;
use portcullis_gateway::{Listeners, NodeParts, serve, state};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Tokens in the test config.
pub const ALICE: &str = "alice-token";
pub const BOB: &str = "bob-token";
pub const NOPOLICY: &str = "nopolicy-token";

/// 2026-11-25T12:00:10Z: ten seconds into a minute window.
pub const START_MS: u64 = 1_795_665_610_000;

pub const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["drop_*"],
  "tools": {
    "read_file": {},
    "whoami": { "limits": [{ "rate_limit": "3/minute" }] },
    "slow": {},
    "crash": {},
    "ask": {},
    "announce": {},
    "write_file": { "limits": [{ "rate_limit": "2/minute", "per": "session" }] },
    "delete_file": { "action": "deny", "reason": "deleting files is not allowed here" }
  }
}"#;

/// A running gateway.
pub struct TestNode {
    pub agent: SocketAddr,
    pub ops: SocketAddr,
    pub audit: Arc<MemoryAuditSink>,
    pub clock: ManualClock,
    pub dir: PathBuf,
    pub publisher: state::StatePublisher,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    client: Client<HttpConnector, Full<Bytes>>,
    _upstream: Option<fake_http::FakeHttp>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body as JSON; for an SSE body, the last event.
    pub fn json(&self) -> Value {
        if self.is_sse() {
            return self.events().pop().unwrap_or(Value::Null);
        }
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not json ({e}): {}", self.body))
    }

    pub fn is_sse(&self) -> bool {
        self.headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"))
    }

    /// Every SSE event's data, parsed.
    pub fn events(&self) -> Vec<Value> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub fn unique_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("portcullis-gw-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn sha(token: &str) -> String {
    state::to_hex(&state::hash_token(token))
}

/// The test config: `files` (stdio, alice), `remote` (HTTP fake, bob), `open` (stdio, anonymous).
pub fn config(upstream_url: &str, extra: &str) -> String {
    let fake = env!("CARGO_BIN_EXE_portcullis-fake-mcp");
    format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[limits]
max_body_bytes = 65536
{timeout}
{extra}

[audit]
# Tests read the sink right after each call.
wait_for_sync = true

[policies.main]
file = "policy.json"

[servers.files]
upstream = {{ type = "stdio", command = "{fake}" }}

[servers.open]
upstream = {{ type = "stdio", command = "{fake}" }}
anonymous_policy = "main"

[servers.remote]
upstream = {{ type = "http", url = "{upstream_url}" }}

[[grants]]
id = "alice"
token_sha256 = "{alice}"
labels = {{ team = "blue" }}
server = "files"
policy = "main"

[[grants]]
id = "bob"
token_sha256 = "{bob}"
server = "remote"
policy = "main"

[[grants]]
id = "nopolicy"
token_sha256 = "{nopolicy}"
server = "files"
"#,
        timeout = if extra.contains("upstream_timeout_secs") {
            ""
        } else {
            "upstream_timeout_secs = 5"
        },
        alice = sha(ALICE),
        bob = sha(BOB),
        nopolicy = sha(NOPOLICY),
    )
}

/// A session-era request for an SSE answer (a GET stream, or a POST that streams).
pub struct SseRequest<'a> {
    /// The endpoint, e.g. `/mcp/files`.
    pub path: &'a str,
    /// The bearer token.
    pub token: &'a str,
    /// The `Mcp-Session-Id`.
    pub session: &'a str,
    /// Headers beyond the usual ones (e.g. `last-event-id`).
    pub extra: &'a [(&'a str, &'a str)],
}

impl TestNode {
    /// Sends `method` (with `body`, if any) as `request` says; the status and the live body.
    pub async fn open_sse(
        &self,
        request: &SseRequest<'_>,
        method: Method,
        body: Option<&Value>,
    ) -> (StatusCode, EventStream) {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.agent, request.path))
            .header("authorization", format!("Bearer {}", request.token))
            .header("mcp-session-id", request.session)
            .header("mcp-protocol-version", "2025-11-25")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        for (name, value) in request.extra {
            builder = builder.header(*name, *value);
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        // A client of its own: the stream holds its connection until the test drops it.
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .request(builder.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        (response.status(), EventStream::new(response.into_body()))
    }

    /// Starts a gateway with the test config; `extra` lands in `[limits]`.
    pub async fn start(extra: &str) -> Self {
        Self::start_before(fake_http::FakeHttp::start().await, extra).await
    }

    /// Starts a gateway whose `remote` server is `upstream`.
    pub async fn start_before(upstream: fake_http::FakeHttp, extra: &str) -> Self {
        let dir = unique_dir();
        std::fs::write(dir.join("policy.json"), POLICY).unwrap();
        let loaded = load_str(&config(&upstream.url(), extra), &dir).unwrap();
        Self::start_loaded(loaded, dir, Some(upstream)).await
    }

    /// Starts a gateway with the test config but `policy` as `policy.json`; `extra` lands in `[limits]`.
    pub async fn start_with_policy(policy: &str, extra: &str) -> Self {
        let upstream = fake_http::FakeHttp::start().await;
        let dir = unique_dir();
        std::fs::write(dir.join("policy.json"), policy).unwrap();
        let loaded = load_str(&config(&upstream.url(), extra), &dir).unwrap();
        Self::start_loaded(loaded, dir, Some(upstream)).await
    }

    pub async fn start_loaded(
        loaded: portcullis_gateway::config::LoadedConfig,
        dir: PathBuf,
        upstream: Option<fake_http::FakeHttp>,
    ) -> Self {
        Self::start_in_cluster(loaded, dir, upstream, Default::default()).await
    }

    /// Starts a gateway with `cluster`'s hooks (a shared session directory, say).
    pub async fn start_in_cluster(
        loaded: portcullis_gateway::config::LoadedConfig,
        dir: PathBuf,
        upstream: Option<fake_http::FakeHttp>,
        cluster: portcullis_gateway::cluster::ClusterHooks,
    ) -> Self {
        let audit = Arc::new(MemoryAuditSink::new());
        let clock = ManualClock::at(START_MS);
        let (publisher, reader) = state::channel(loaded.state);
        let parts = NodeParts {
            settings: loaded.settings,
            state: reader,
            counters: Arc::new(MemoryCounters::new()),
            audit: audit.clone(),
            clock: Arc::new(clock.clone()),
            cluster,
        };
        let agent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ops = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (agent_addr, ops_addr) = (agent.local_addr().unwrap(), ops.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(parts, Listeners { agent, ops }, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            agent: agent_addr,
            ops: ops_addr,
            audit,
            clock,
            dir,
            publisher,
            shutdown: Some(tx),
            task: Some(task),
            client: Client::builder(TokioExecutor::new()).build_http(),
            _upstream: upstream,
        }
    }

    /// Sends a request; `headers` are added as given.
    pub async fn send(
        &self,
        method: Method,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        send_with(&self.client, method, addr, path, headers, body.into()).await
    }

    /// POSTs a JSON-RPC message to `/mcp/<server>` with a token and optional session.
    pub async fn post(
        &self,
        server: &str,
        token: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> Answer {
        self.post_with(server, token, session, body, &[]).await
    }

    pub async fn post_with(
        &self,
        server: &str,
        token: Option<&str>,
        session: Option<&str>,
        body: &Value,
        extra: &[(&str, &str)],
    ) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        if let Some(session) = session {
            headers.push(("mcp-session-id", session));
            headers.push(("mcp-protocol-version", "2025-11-25"));
        }
        headers.extend_from_slice(extra);
        self.send(
            Method::POST,
            self.agent,
            &format!("/mcp/{server}"),
            &headers,
            body.to_string(),
        )
        .await
    }

    /// Runs the session-era handshake; returns the session id.
    pub async fn initialize(&self, server: &str, token: Option<&str>) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
        let answer = self.post(server, token, None, &init).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.json()["result"]["serverInfo"]["name"], "fake-mcp");
        let session = answer.header("mcp-session-id").expect("a session id").to_owned();
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let ack = self.post(server, token, Some(&session), &done).await;
        assert_eq!(ack.status, StatusCode::ACCEPTED, "{}", ack.body);
        session
    }

    /// Calls a tool in a session; returns the JSON-RPC response.
    pub async fn call(
        &self,
        server: &str,
        token: Option<&str>,
        session: &str,
        tool: &str,
        args: Value,
    ) -> Value {
        let call = json!({"jsonrpc": "2.0", "id": "c1", "method": "tools/call", "params": {"name": tool, "arguments": args}});
        let answer = self.post(server, token, Some(session), &call).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()
    }

    /// Lists every tool name across pages.
    pub async fn list_names(&self, server: &str, token: Option<&str>, session: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let list = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": params});
            let answer = self.post(server, token, Some(session), &list).await.json();
            for tool in answer["result"]["tools"].as_array().unwrap() {
                names.push(tool["name"].as_str().unwrap().to_owned());
            }
            match answer["result"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return names,
            }
        }
    }

    /// The audit entries so far, as the JSON the log would hold.
    pub fn audit_json(&self) -> Vec<Value> {
        self.audit
            .records()
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect()
    }

    /// Stops the node and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), task)
                .await
                .expect("the node stopped in time")
                .unwrap();
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends a request with a fresh client (for tasks that outlive a borrowed node).
pub async fn send(
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http();
    send_with(&client, method, addr, path, headers, body.into()).await
}

async fn send_with(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body)).unwrap();
    // Generous: an upstream such as mitmproxy-mcp can take over 10 s to start on a loaded machine.
    let response = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(request))
        .await
        .expect("gateway answered in time")
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(std::time::Duration::from_secs(30), response.into_body().collect())
        .await
        .expect("body finished in time")
        .unwrap()
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

impl TestNode {
    /// Opens the session's standalone stream (GET, `Accept: text/event-stream`) as `token`'s client.
    pub async fn open_stream(&self, server: &str, token: &str, session: &str) -> EventStream {
        self.open_stream_at(&format!("/mcp/{server}"), token, session)
            .await
    }

    /// Opens the standalone stream of the session at `path` (`/mcp` for an aggregate).
    pub async fn open_stream_at(&self, path: &str, token: &str, session: &str) -> EventStream {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let request = hyper::Request::get(format!("http://{}{path}", self.agent))
            .header("authorization", format!("Bearer {token}"))
            .header("mcp-session-id", session)
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        EventStream::new(response.into_body())
    }
}

/// Reads an SSE response as it arrives, one event at a time.
pub struct EventStream {
    body: hyper::body::Incoming,
    parser: Vec<u8>,
    /// The id of the newest event read (`Last-Event-ID` for a resumption).
    pub last_id: Option<String>,
}

impl EventStream {
    pub fn new(body: hyper::body::Incoming) -> Self {
        Self {
            body,
            parser: Vec::new(),
            last_id: None,
        }
    }

    /// The next message, skipping keep-alive comments and priming events (noting their ids).
    pub async fn next(&mut self) -> serde_json::Value {
        loop {
            let frame = self.next_frame().await;
            if let Some(id) = frame.lines().find_map(|l| l.strip_prefix("id: ")) {
                self.last_id = Some(id.to_owned());
            }
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str(data).unwrap();
            }
        }
    }

    /// The next raw event block (comments included), without its blank line.
    pub async fn next_frame(&mut self) -> String {
        use http_body_util::BodyExt;
        loop {
            let text = String::from_utf8_lossy(&self.parser).into_owned();
            if let Some(end) = text.find("\n\n") {
                self.parser.drain(..end + 2);
                return text[..end].to_owned();
            }
            let frame = tokio::time::timeout(std::time::Duration::from_secs(5), self.body.frame())
                .await
                .expect("an event in time")
                .expect("the stream is still open")
                .unwrap();
            if let Some(chunk) = frame.data_ref() {
                self.parser.extend_from_slice(chunk);
            }
        }
    }

    /// Whether the stream ends (within five seconds) with no further message.
    pub async fn ends(&mut self) -> bool {
        use http_body_util::BodyExt;
        loop {
            let text = String::from_utf8_lossy(&self.parser).into_owned();
            if text.contains("data: ") {
                return false;
            }
            match tokio::time::timeout(std::time::Duration::from_secs(5), self.body.frame()).await {
                Ok(None) => return true,
                Ok(Some(Ok(frame))) => {
                    if let Some(chunk) = frame.data_ref() {
                        self.parser.extend_from_slice(chunk);
                    }
                }
                Ok(Some(Err(_))) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The text of a tool result.
pub fn text(response: &Value) -> &str {
    response["result"]["content"][0]["text"].as_str().unwrap_or("")
}
