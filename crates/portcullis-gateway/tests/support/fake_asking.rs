//! A fake Streamable HTTP upstream that asks its client on the standalone GET stream: during an
//! `ask` call it sends `sampling/createMessage` there, as id 0 in every session (so a gateway that
//! mixed sessions up would be caught), and answers the call with what it heard in that session.
//! `slow` answers `plain` after 1.5 s; any other tool answers `plain` at once. Used by
//! `upstream_get_stream.rs` only.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// How the fake treats its standalone stream.
#[derive(Clone, Copy, Default)]
pub struct Mode {
    /// Answer GET with 405: no standalone stream.
    pub no_get: bool,
    /// End the GET stream right after asking (the gateway must reconnect, naming the event).
    pub end_after_asking: bool,
    /// Take a while to open the GET stream (a call posted meanwhile would find none).
    pub slow_get: bool,
}

#[derive(Default)]
pub struct Fake {
    mode: Mode,
    sessions: AtomicU32,
    /// Each session's open GET stream.
    streams: Mutex<HashMap<String, mpsc::Sender<Result<String, Infallible>>>>,
    /// Each session's question awaiting the client's answer.
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Every GET: (session, Last-Event-ID).
    pub gets: Mutex<Vec<(String, Option<String>)>>,
    /// GET streams the gateway closed.
    pub closed: AtomicU32,
    /// Responses that arrived in a session with no question open.
    pub strays: Mutex<Vec<(String, Value)>>,
    events: AtomicU32,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub fake: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start(mode: Mode) -> Self {
        let fake = Arc::new(Fake {
            mode,
            ..Fake::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/mcp", post(handle_post).get(handle_get))
            .with_state(Arc::clone(&fake));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, fake, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn json_response(value: &Value) -> Response {
    ([("content-type", "application/json")], value.to_string()).into_response()
}

struct ClosedGuard(Arc<Fake>);

impl Drop for ClosedGuard {
    fn drop(&mut self) {
        self.0.closed.fetch_add(1, Ordering::Relaxed);
    }
}

async fn handle_get(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let Some(session) = session_of(&headers) else {
        return (StatusCode::BAD_REQUEST, "missing session").into_response();
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    fake.gets.lock().unwrap().push((session.clone(), last));
    if fake.mode.no_get {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if fake.mode.slow_get {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let (events, body) = mpsc::channel(8);
    fake.streams.lock().unwrap().insert(session, events);
    // Counts the stream as closed when its body is dropped (the gateway hung up, or it ended).
    let guard = ClosedGuard(Arc::clone(&fake));
    let stream = futures_util::stream::unfold((body, guard), |(mut body, guard)| async move {
        body.recv().await.map(|item| (item, (body, guard)))
    });
    ([("content-type", "text/event-stream")], Body::from_stream(stream)).into_response()
}

async fn handle_post(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let message: Value = serde_json::from_slice(&body).unwrap();
    let session = session_of(&headers);
    if message["method"] == "initialize" {
        let n = fake.sessions.fetch_add(1, Ordering::Relaxed);
        let result = json!({"jsonrpc": "2.0", "id": message["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake-mcp", "version": "1"}}});
        let mut response = json_response(&result);
        response
            .headers_mut()
            .insert("mcp-session-id", format!("up-{n}").parse().unwrap());
        return response;
    }
    let Some(session) = session else {
        return (StatusCode::BAD_REQUEST, "missing session").into_response();
    };
    if message.get("method").is_none() {
        // The client's answer to a question.
        let waiting = fake.waiting.lock().unwrap().remove(&session);
        match waiting {
            Some(to) if message["id"] == 0 => {
                let _ = to.send(message);
            }
            _ => fake.strays.lock().unwrap().push((session, message)),
        }
        return StatusCode::ACCEPTED.into_response();
    }
    if message.get("id").is_none() {
        return StatusCode::ACCEPTED.into_response();
    }
    let id = &message["id"];
    let reply = |text: String| {
        json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {
            "content": [{"type": "text", "text": text}]}}))
    };
    match message["params"]["name"].as_str() {
        Some("ask") => reply(ask(&fake, &session).await),
        Some("slow") => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            reply("plain".to_owned())
        }
        Some(_) => reply("plain".to_owned()),
        None => json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}})),
    }
}

/// Asks the client on the session's GET stream (always as id 0) and returns what it heard.
async fn ask(fake: &Fake, session: &str) -> String {
    let Some(stream) = fake.streams.lock().unwrap().get(session).cloned() else {
        return format!("{session}: no standalone stream to ask on");
    };
    let (to, answer) = oneshot::channel();
    fake.waiting.lock().unwrap().insert(session.to_owned(), to);
    let question = json!({"jsonrpc": "2.0", "id": 0, "method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": session}}], "maxTokens": 5}});
    let event = fake.events.fetch_add(1, Ordering::Relaxed);
    let _ = stream
        .send(Ok(format!(
            "id: ev-{event}\nevent: message\ndata: {question}\n\n"
        )))
        .await;
    if fake.mode.end_after_asking {
        fake.streams.lock().unwrap().remove(session);
        drop(stream);
    }
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(Ok(answer)) if answer.get("error").is_some() => format!(
            "{session} refused: {}",
            answer["error"]["message"].as_str().unwrap_or("?")
        ),
        Ok(Ok(answer)) => format!(
            "{session} heard {}",
            answer["result"]["content"]["text"].as_str().unwrap_or("?")
        ),
        _ => format!("{session}: no answer"),
    }
}
