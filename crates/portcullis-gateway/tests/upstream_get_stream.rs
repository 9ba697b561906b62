//! Requests an HTTP upstream sends on its standalone GET stream, outside any call, reach the client's
//! own GET stream through the gateway, and the client's answer reaches the upstream session that
//! asked. The fake upstream here asks on its GET stream, under the same id in every session, during
//! an `ask` call, and answers the call with what it heard in that session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

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
use hyper::Method;
use portcullis_gateway::config::load_str;
use serde_json::{Value, json};
use support::{BOB, TestNode, text};
use tokio::sync::{mpsc, oneshot};

/// The aggregate's grant (`remote` and `other`).
const BOTH: &str = "both-token";

/// How the fake treats its standalone stream.
#[derive(Clone, Copy, Default)]
struct Mode {
    /// Answer GET with 405: no standalone stream.
    no_get: bool,
    /// End the GET stream right after asking (the gateway must reconnect, naming the event).
    end_after_asking: bool,
    /// Take a while to open the GET stream (a call posted meanwhile would find none).
    slow_get: bool,
}

#[derive(Default)]
struct Fake {
    mode: Mode,
    sessions: AtomicU32,
    /// Each session's open GET stream.
    streams: Mutex<HashMap<String, mpsc::Sender<Result<String, Infallible>>>>,
    /// Each session's question awaiting the client's answer.
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Every GET: (session, Last-Event-ID).
    gets: Mutex<Vec<(String, Option<String>)>>,
    /// GET streams the gateway closed.
    closed: AtomicU32,
    /// Responses that arrived in a session with no question open.
    strays: Mutex<Vec<(String, Value)>>,
    events: AtomicU32,
}

struct Upstream {
    addr: SocketAddr,
    fake: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start(mode: Mode) -> Self {
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

    fn url(&self) -> String {
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
        Ok(Ok(answer)) => format!(
            "{session} heard {}",
            answer["result"]["content"]["text"].as_str().unwrap_or("?")
        ),
        _ => format!("{session}: no answer"),
    }
}

async fn gateway(upstream: &Upstream) -> TestNode {
    gateway_with(upstream, "").await
}

/// `extra` lands in `[limits]` of the test config, so it may add servers and grants after it.
async fn gateway_with(upstream: &Upstream, extra: &str) -> TestNode {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-getstream-{}-{}",
        std::process::id(),
        upstream.addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), support::POLICY).unwrap();
    let loaded = load_str(&support::config(&upstream.url(), extra), &dir).unwrap();
    TestNode::start_loaded(loaded, dir, None).await
}

/// POSTs `message` as `token`'s client in `session` at `path` (`/mcp/remote`, or `/mcp` for an
/// aggregate).
async fn post_at(
    addr: SocketAddr,
    token: &str,
    path: &str,
    session: Option<&str>,
    message: &Value,
) -> support::Answer {
    let auth = format!("Bearer {token}");
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("authorization", auth.as_str()),
    ];
    if let Some(session) = session {
        headers.push(("mcp-session-id", session));
        headers.push(("mcp-protocol-version", "2025-11-25"));
    }
    support::send(Method::POST, addr, path, &headers, message.to_string()).await
}

/// Calls `tool` as `token`'s client in `session` at `path` from its own task (the answer waits for
/// the question's).
fn call_ask(
    node: &TestNode,
    token: &str,
    path: &str,
    session: &str,
    tool: &str,
) -> tokio::task::JoinHandle<Value> {
    let (addr, token, path, session) = (node.agent, token.to_owned(), path.to_owned(), session.to_owned());
    let call = json!({"jsonrpc": "2.0", "id": tool, "method": "tools/call",
        "params": {"name": tool, "arguments": {}}});
    tokio::spawn(async move { post_at(addr, &token, &path, Some(&session), &call).await.json() })
}

/// The client's answer to `question`: the prompt it was shown, echoed.
fn answer_to(question: &Value) -> Value {
    let prompt = question["params"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    json!({"jsonrpc": "2.0", "id": question["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": format!("answer for {prompt}")}, "model": "m"}})
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("{what} did not happen in 3 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_the_upstream_stream_reach_their_client_and_answers_their_upstream_session() {
    let upstream = Upstream::start(Mode::default()).await;
    let node = gateway(&upstream).await;
    let one = node.initialize("remote", Some(BOB)).await;
    let two = node.initialize("remote", Some(BOB)).await;
    let mut stream_one = node.open_stream("remote", BOB, &one).await;
    let mut stream_two = node.open_stream("remote", BOB, &two).await;
    let (call_one, call_two) = (
        call_ask(&node, BOB, "/mcp/remote", &one, "ask"),
        call_ask(&node, BOB, "/mcp/remote", &two, "ask"),
    );
    let (asked_one, asked_two) = (stream_one.next().await, stream_two.next().await);
    for asked in [&asked_one, &asked_two] {
        assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
        // Both upstream sessions asked as id 0: each client sees a gateway id instead.
        assert!(
            asked["id"].as_str().unwrap().starts_with("portcullis-srv-"),
            "{asked}"
        );
    }
    assert_ne!(asked_one["id"], asked_two["id"]);
    let prompt = |q: &Value| q["params"]["messages"][0]["content"]["text"].clone();
    assert_ne!(
        prompt(&asked_one),
        prompt(&asked_two),
        "each session has its own upstream session"
    );
    // An answer posted in the wrong session goes nowhere.
    let wrong = node
        .post("remote", Some(BOB), Some(&one), &answer_to(&asked_two))
        .await;
    assert_eq!(wrong.status, hyper::StatusCode::ACCEPTED, "{}", wrong.body);
    for (session, asked) in [(&two, &asked_two), (&one, &asked_one)] {
        let posted = node
            .post("remote", Some(BOB), Some(session), &answer_to(asked))
            .await;
        assert_eq!(posted.status, hyper::StatusCode::ACCEPTED, "{}", posted.body);
    }
    for (call, asked) in [(call_one, &asked_one), (call_two, &asked_two)] {
        let result = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .unwrap()
            .unwrap();
        let session = prompt(asked);
        let session = session.as_str().unwrap();
        assert_eq!(
            text(&result),
            format!("{session} heard answer for {session}"),
            "{result}"
        );
    }
    assert!(
        upstream.fake.strays.lock().unwrap().is_empty(),
        "no answer reached another session"
    );
    // The client's GET streams closing closes the upstream's (so idle sessions can hibernate again).
    drop((stream_one, stream_two));
    eventually("the upstream streams closing", || {
        upstream.fake.closed.load(Ordering::Relaxed) == 2
    })
    .await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_upstream_stream_is_resumed_with_last_event_id() {
    let upstream = Upstream::start(Mode {
        end_after_asking: true,
        ..Mode::default()
    })
    .await;
    let node = gateway(&upstream).await;
    let session = node.initialize("remote", Some(BOB)).await;
    let mut stream = node.open_stream("remote", BOB, &session).await;
    let call = call_ask(&node, BOB, "/mcp/remote", &session, "ask");
    let asked = stream.next().await;
    // The upstream ended its stream after asking: the gateway comes back, naming the last event.
    eventually("the reconnection", || {
        upstream.fake.gets.lock().unwrap().len() == 2
    })
    .await;
    let gets = upstream.fake.gets.lock().unwrap().clone();
    assert_eq!(gets[0].1, None, "{gets:?}");
    assert_eq!(gets[1].1.as_deref(), Some("ev-0"), "{gets:?}");
    // The answer still reaches the upstream session over POST.
    let posted = node
        .post("remote", Some(BOB), Some(&session), &answer_to(&asked))
        .await;
    assert_eq!(posted.status, hyper::StatusCode::ACCEPTED, "{}", posted.body);
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&result), "up-0 heard answer for up-0", "{result}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_without_a_standalone_stream_still_serves() {
    let upstream = Upstream::start(Mode {
        no_get: true,
        ..Mode::default()
    })
    .await;
    let node = gateway(&upstream).await;
    let session = node.initialize("remote", Some(BOB)).await;
    let _stream = node.open_stream("remote", BOB, &session).await;
    let result = node
        .call("remote", Some(BOB), &session, "read_file", json!({"path": "a"}))
        .await;
    assert_eq!(text(&result), "plain", "{result}");
    // The gateway asked once; a 405 is an answer, not a failure to retry.
    eventually("the stream's GET", || {
        upstream.fake.gets.lock().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(upstream.fake.gets.lock().unwrap().len(), 1);
    let again = node
        .call("remote", Some(BOB), &session, "read_file", json!({"path": "b"}))
        .await;
    assert_eq!(text(&again), "plain", "{again}");
    node.stop().await;
}

/// `portcullis run --upstream URL` in process: one stdio client in front of the HTTP upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_client_in_front_of_an_http_upstream_answers_its_stream_requests() {
    use std::collections::BTreeMap;

    use portcullis_gateway::audit::MemoryAuditSink;
    use portcullis_gateway::clock::ManualClock;
    use portcullis_gateway::config::Settings;
    use portcullis_gateway::front::stdio::{StdioSetup, serve};
    use portcullis_gateway::state::{Grant, PolicyRef, ServerEntry, UpstreamSpec};
    use portcullis_policy::{Format, Identity, compile_str};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let upstream = Upstream::start(Mode::default()).await;
    let policy = compile_str(r#"{"version": "1", "default": "allow"}"#, Format::Json).unwrap();
    let setup = StdioSetup {
        server: ServerEntry {
            name: Arc::from("remote"),
            upstream: UpstreamSpec::Http { url: upstream.url() },
            anonymous: None,
        },
        grant: Grant {
            identity: Identity {
                id: "desk".to_owned(),
                labels: BTreeMap::new(),
            },
            server: Arc::from("remote"),
            servers: Vec::new(),
            policy: Some(PolicyRef {
                name: Arc::from("main"),
                policy: Arc::new(policy),
                shadow: None,
            }),
        },
        settings: Settings::default(),
    };
    let (mut input, front_in) = tokio::io::duplex(1 << 16);
    let (front_out, output) = tokio::io::duplex(1 << 16);
    let front = tokio::spawn(async move {
        let clock = Arc::new(ManualClock::at(support::START_MS));
        let audit = Arc::new(MemoryAuditSink::new());
        serve(setup, audit, clock, (front_in, front_out), std::future::pending()).await
    });
    let mut lines = BufReader::new(output).lines();
    let mut say = async |message: Value| {
        input.write_all(format!("{message}\n").as_bytes()).await.unwrap();
    };
    say(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}}, "clientInfo": {"name": "t", "version": "0"}}}))
    .await;
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("the front is still writing");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next().await["result"]["serverInfo"]["name"], "fake-mcp");
    say(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    say(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ask", "arguments": {}}}))
        .await;
    let asked = next().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    say(answer_to(&asked)).await;
    let result = next().await;
    assert_eq!(text(&result), "up-0 heard answer for up-0", "{result}");
    drop(input);
    tokio::time::timeout(Duration::from_secs(5), front)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// `/mcp` over two HTTP servers: both upstream sessions ask under the same id on their streams, the
/// client sees both questions on its one stream under distinct ids, and each answer, offered to every
/// member, reaches only the upstream session that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_relays_each_members_stream_requests_and_routes_the_answers_back() {
    let upstream = Upstream::start(Mode::default()).await;
    let extra = format!(
        r#"
[servers.other]
upstream = {{ type = "http", url = "{url}" }}

[[grants]]
id = "both"
token_sha256 = "{sha}"
servers = ["remote", "other"]
policy = "main"
"#,
        url = upstream.url(),
        sha = portcullis_gateway::state::to_hex(&portcullis_gateway::state::hash_token(BOTH)),
    );
    let node = gateway_with(&upstream, &extra).await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}}, "clientInfo": {"name": "t", "version": "0"}}});
    let opened = post_at(node.agent, BOTH, "/mcp", None, &init).await;
    let session = opened.header("mcp-session-id").expect("a session").to_owned();
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post_at(node.agent, BOTH, "/mcp", Some(&session), &done).await;
    let mut stream = node.open_stream_at("/mcp", BOTH, &session).await;
    let calls = [
        call_ask(&node, BOTH, "/mcp", &session, "remote__ask"),
        call_ask(&node, BOTH, "/mcp", &session, "other__ask"),
    ];
    let asked = [stream.next().await, stream.next().await];
    assert_ne!(asked[0]["id"], asked[1]["id"], "{asked:?}");
    for question in &asked {
        let posted = post_at(node.agent, BOTH, "/mcp", Some(&session), &answer_to(question)).await;
        assert_eq!(posted.status, hyper::StatusCode::ACCEPTED, "{}", posted.body);
    }
    let mut results = Vec::new();
    for call in calls {
        let result = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .unwrap()
            .unwrap();
        results.push(text(&result).to_owned());
    }
    results.sort();
    assert_eq!(
        results,
        ["up-0 heard answer for up-0", "up-1 heard answer for up-1"],
        "{results:?}"
    );
    assert!(
        upstream.fake.strays.lock().unwrap().is_empty(),
        "no answer reached another member"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_right_after_the_client_listens_waits_for_the_upstream_stream() {
    let upstream = Upstream::start(Mode {
        slow_get: true,
        ..Mode::default()
    })
    .await;
    let node = gateway(&upstream).await;
    let session = node.initialize("remote", Some(BOB)).await;
    let mut stream = node.open_stream("remote", BOB, &session).await;
    // Posted while the upstream is still opening its stream: the call waits for it, so the server
    // finds the stream there when it asks.
    let call = call_ask(&node, BOB, "/mcp/remote", &session, "ask");
    let asked = stream.next().await;
    let posted = node
        .post("remote", Some(BOB), Some(&session), &answer_to(&asked))
        .await;
    assert_eq!(posted.status, hyper::StatusCode::ACCEPTED, "{}", posted.body);
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&result), "up-0 heard answer for up-0", "{result}");
    node.stop().await;
}
