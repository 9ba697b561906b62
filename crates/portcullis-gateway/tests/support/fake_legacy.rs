//! The fake MCP server over the legacy HTTP+SSE transport (2024-11-05), in process on 127.0.0.1:0:
//! `GET /sse` names `/messages?session_id=N` in its `endpoint` event; each POST there is answered 202
//! and its replies (progress, logs, the response) go on that session's stream. `crash` ends the
//! stream instead of answering.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::fake_logic::respond;

/// A running fake; aborted on drop.
pub struct FakeLegacy {
    addr: SocketAddr,
    state: Arc<Fake>,
    task: JoinHandle<()>,
}

struct Fake {
    next: AtomicU32,
    streams: Mutex<HashMap<String, mpsc::Sender<String>>>,
    /// Messages POSTed to this server, of any session.
    posts: AtomicU32,
    /// Names this endpoint instead of its own.
    endpoint: Option<String>,
}

impl FakeLegacy {
    pub async fn start() -> Self {
        Self::start_naming(None).await
    }

    /// A fake whose `endpoint` event names `endpoint` (e.g. another origin).
    pub async fn start_naming(endpoint: Option<String>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Fake {
            next: AtomicU32::new(0),
            streams: Mutex::new(HashMap::new()),
            posts: AtomicU32::new(0),
            endpoint,
        });
        let app = Router::new()
            .route("/sse", get(open))
            .route("/messages", post(message))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/sse", self.addr)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn posts(&self) -> u32 {
        self.state.posts.load(Ordering::Relaxed)
    }
}

impl Drop for FakeLegacy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn open(State(fake): State<Arc<Fake>>) -> Response {
    let id = fake.next.fetch_add(1, Ordering::Relaxed).to_string();
    let (tx, rx) = mpsc::channel::<String>(64);
    let endpoint = fake
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("/messages?session_id={id}"));
    tx.try_send(format!("event: endpoint\ndata: {endpoint}\n\n"))
        .unwrap();
    fake.streams.lock().unwrap().insert(id, tx);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(Bytes::from(frame)), rx))
    });
    ([("content-type", "text/event-stream")], Body::from_stream(stream)).into_response()
}

async fn message(State(fake): State<Arc<Fake>>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    fake.posts.fetch_add(1, Ordering::Relaxed);
    let id = query
        .as_deref()
        .and_then(|q| q.strip_prefix("session_id="))
        .unwrap_or("")
        .to_owned();
    let Some(stream) = fake.streams.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not json").into_response();
    };
    let reply = respond(&message, 0);
    if reply.crash {
        fake.streams.lock().unwrap().remove(&id);
        return StatusCode::ACCEPTED.into_response();
    }
    tokio::spawn(async move {
        let frame = |m: &Value| format!("event: message\ndata: {m}\n\n");
        for note in &reply.before {
            let _ = stream.send(frame(note)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(reply.sleep_ms)).await;
        for message in reply.response.iter().chain(&reply.after) {
            let _ = stream.send(frame(message)).await;
        }
    });
    StatusCode::ACCEPTED.into_response()
}
