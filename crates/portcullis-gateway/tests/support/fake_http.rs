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
        let mut text = String::new();
        for message in reply.before.iter().chain([&response]) {
            text.push_str(&format!("event: message\ndata: {message}\n\n"));
        }
        ([("content-type", "text/event-stream")], text).into_response()
    };
    if is_init {
        let n = fake.sessions.fetch_add(1, Ordering::Relaxed);
        out.headers_mut()
            .insert("mcp-session-id", format!("fake-{n}").parse().unwrap());
    }
    out
}
