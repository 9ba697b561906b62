//! The fake MCP server over Streamable HTTP, in process on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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
    sessions: AtomicU32,
    /// Speaks only 2026-07-28: no sessions, no `initialize`.
    modern_only: bool,
    /// Request ids named by `notifications/cancelled`, and the ids `slow` calls arrived with.
    seen: std::sync::Mutex<(Vec<Value>, Vec<Value>)>,
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

    async fn start_with(fake: Fake) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/mcp", post(handle).delete(|| async { StatusCode::NO_CONTENT }))
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
    let is_init = message["method"] == "initialize" && !fake.modern_only;
    if !is_init && !fake.modern_only && !headers.contains_key("mcp-session-id") {
        return (StatusCode::BAD_REQUEST, "missing session").into_response();
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
    let reply = if fake.modern_only {
        respond_modern_only(&message, 0)
    } else {
        respond(&message, 0)
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
