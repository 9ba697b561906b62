//! The fake MCP server over Streamable HTTP, in process on 127.0.0.1:0. Sessions are `fake-<n>`;
//! `whoami` answers `n`, and a deleted session is answered 404 like a server that forgot it.
//! In modern mode it speaks only 2026-07-28: no `initialize`, no sessions, `server/discover`, and
//! every request must carry the `_meta` envelope (`whoami` answers the envelope's client name).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::fake_logic::{respond, respond_modern_only};

/// A running fake; aborted on drop.
pub struct FakeHttp {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Fake {
    modern: bool,
    sessions: AtomicU32,
    /// Speaks only 2026-07-28: no sessions, no `initialize`.
    modern_only: bool,
    /// Request ids named by `notifications/cancelled`, and the ids `slow` calls arrived with.
    seen: std::sync::Mutex<(Vec<Value>, Vec<Value>)>,
    deleted: Mutex<HashSet<String>>,
}

fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers.get("mcp-session-id").and_then(|v| v.to_str().ok())
}

async fn delete(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> StatusCode {
    if let Some(session) = session_of(&headers) {
        fake.deleted.lock().unwrap().insert(session.to_owned());
    }
    StatusCode::NO_CONTENT
}

impl FakeHttp {
    pub async fn start() -> Self {
        Self::start_with(Fake::default()).await
    }

    /// A fake that speaks only 2026-07-28.
    pub async fn start_modern_only() -> Self {
        Self::start_with(Fake {
            modern_only: true,
            ..Fake::default()
        })
        .await
    }

    /// A fake that speaks only 2026-07-28 and checks the envelope the gateway adds (see `modern`).
    pub async fn start_modern() -> Self {
        Self::start_with(Fake {
            modern: true,
            ..Fake::default()
        })
        .await
    }

    async fn start_with(fake: Fake) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/mcp", post(handle).delete(delete))
            .with_state(Arc::new(fake));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if fake.modern {
        return modern(&headers, &message);
    }
    let is_init = message["method"] == "initialize" && !fake.modern_only;
    let session = session_of(&headers);
    if !is_init && !fake.modern_only && session.is_none() {
        return (StatusCode::BAD_REQUEST, "missing session").into_response();
    }
    if session.is_some_and(|s| fake.deleted.lock().unwrap().contains(s)) {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    }
    if message["method"] == "notifications/cancelled" {
        fake.seen
            .lock()
            .unwrap()
            .0
            .push(message["params"]["requestId"].clone());
        return StatusCode::ACCEPTED.into_response();
    }
    if message["method"] == "tools/call" {
        match message["params"]["name"].as_str() {
            Some("cancels") => {
                let (cancelled, slow) = fake.seen.lock().unwrap().clone();
                let report = serde_json::json!({"cancelled": cancelled, "slow": slow}).to_string();
                let response = super::fake_logic::text_result(&message["id"], report);
                return ([("content-type", "application/json")], response.to_string()).into_response();
            }
            Some("slow") => fake.seen.lock().unwrap().1.push(message["id"].clone()),
            _ => {}
        }
    }
    let n = session
        .and_then(|s| s.strip_prefix("fake-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let reply = if fake.modern_only {
        respond_modern_only(&message, n)
    } else {
        respond(&message, n)
    };
    if reply.crash || reply.await_client {
        return (StatusCode::INTERNAL_SERVER_ERROR, "crashed").into_response();
    }
    let Some(response) = reply.response else {
        return StatusCode::ACCEPTED.into_response();
    };
    let mut out = if reply.before.is_empty() {
        ([("content-type", "application/json")], response.to_string()).into_response()
    } else {
        // Streamed: what comes before the response, then the wait, then the response.
        let (events, body) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(8);
        let sleep = std::time::Duration::from_millis(reply.sleep_ms);
        tokio::spawn(async move {
            for message in &reply.before {
                let _ = events
                    .send(Ok(format!("event: message\ndata: {message}\n\n")))
                    .await;
            }
            tokio::time::sleep(sleep).await;
            let _ = events
                .send(Ok(format!("event: message\ndata: {response}\n\n")))
                .await;
        });
        let stream = futures_util::stream::unfold(body, |mut body| async move {
            body.recv().await.map(|item| (item, body))
        });
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    };
    if is_init {
        let n = fake.sessions.fetch_add(1, Ordering::Relaxed);
        out.headers_mut()
            .insert("mcp-session-id", format!("fake-{n}").parse().unwrap());
    }
    out
}

/// The 2026-07-28-only server: JSON answers, results with `resultType`.
fn modern(headers: &HeaderMap, message: &Value) -> Response {
    let json = |value: Value| ([("content-type", "application/json")], value.to_string()).into_response();
    if session_of(headers).is_some() {
        return (StatusCode::BAD_REQUEST, "no sessions in 2026-07-28").into_response();
    }
    let Some(id) = message.get("id").filter(|_| message.get("method").is_some()) else {
        return StatusCode::ACCEPTED.into_response();
    };
    match message["method"].as_str().unwrap_or("") {
        "initialize" => {
            return json(
                serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found: initialize"}}),
            );
        }
        "server/discover" => {
            return json(serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {
                "supportedVersions": ["2026-07-28"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-modern", "version": "2.0.0"},
                "resultType": "complete", "ttlMs": 60000, "cacheScope": "public"}}));
        }
        _ => {}
    }
    let meta = &message["params"]["_meta"];
    let header_version = headers.get("mcp-protocol-version").and_then(|v| v.to_str().ok());
    if meta["io.modelcontextprotocol/protocolVersion"] != "2026-07-28"
        || !meta["io.modelcontextprotocol/clientInfo"].is_object()
        || !meta["io.modelcontextprotocol/clientCapabilities"].is_object()
        || header_version != Some("2026-07-28")
    {
        let error = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32022, "message": "send the 2026-07-28 envelope"}});
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            error.to_string(),
        )
            .into_response();
    }
    let mut response = if message["params"]["name"] == "whoami" {
        let client = meta["io.modelcontextprotocol/clientInfo"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        super::fake_logic::text_result(id, client)
    } else {
        respond(message, 0).response.unwrap_or(Value::Null)
    };
    if let Some(result) = response.get_mut("result").and_then(Value::as_object_mut) {
        result.insert("resultType".to_owned(), "complete".into());
    }
    json(response)
}
