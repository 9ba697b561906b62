//! Requests an HTTP upstream sends on its standalone GET stream, outside any call, reach the client's
//! own stream through the gateway (Streamable HTTP, aggregate, legacy and stdio fronts), or, for a
//! 2026-07-28 client (at `/mcp/<server>`, `/mcp` and on the stdio front), its call as an input
//! request; the client's answer reaches the upstream session that asked (see
//! `support/fake_asking.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

#[path = "support/fake_asking.rs"]
mod fake_asking;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use fake_asking::{Mode, Upstream};
use hyper::{Method, StatusCode};
use portcullis_gateway::config::load_str;
use serde_json::{Value, json};
use support::{BOB, TestNode, text};

/// The aggregate's grant (`remote` and `other`).
const BOTH: &str = "both-token";

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

/// A 2026-07-28 client's `tools/call`: no session, the envelope in `_meta`.
fn modern_call(id: u64, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "modern-agent", "version": "2"},
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// The retry of `tool` (call id `id`) that answers `asked`, an `InputRequiredResult` with one
/// sampling question; with the prompt the question showed.
fn answered_retry(id: u64, tool: &str, asked: &Value) -> (Value, String) {
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let (key, question) = result["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(question["method"], "sampling/createMessage", "{asked}");
    let prompt = question["params"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = answer_to(&json!({"id": 0, "params": question["params"]}))["result"].clone();
    let retry = modern_call(
        id,
        json!({"name": tool, "arguments": {}, "inputResponses": {key: answer}, "requestState": result["requestState"]}),
    );
    (retry, prompt)
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
    assert_eq!(wrong.status, StatusCode::ACCEPTED, "{}", wrong.body);
    for (session, asked) in [(&two, &asked_two), (&one, &asked_one)] {
        let posted = node
            .post("remote", Some(BOB), Some(session), &answer_to(asked))
            .await;
        assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
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
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
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
struct StdioFront {
    input: tokio::io::DuplexStream,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::io::DuplexStream>>,
    front: tokio::task::JoinHandle<
        Result<portcullis_gateway::front::stdio::Ended, portcullis_gateway::front::stdio::StdioError>,
    >,
}

impl StdioFront {
    fn start(upstream: &Upstream) -> Self {
        use std::collections::BTreeMap;

        use portcullis_gateway::audit::MemoryAuditSink;
        use portcullis_gateway::clock::ManualClock;
        use portcullis_gateway::config::Settings;
        use portcullis_gateway::front::stdio::{StdioSetup, serve};
        use portcullis_gateway::state::{Grant, PolicyRef, ServerEntry, UpstreamSpec};
        use portcullis_policy::{Format, Identity, compile_str};
        use tokio::io::{AsyncBufReadExt, BufReader};

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
        let (input, front_in) = tokio::io::duplex(1 << 16);
        let (front_out, output) = tokio::io::duplex(1 << 16);
        let front = tokio::spawn(async move {
            let clock = Arc::new(ManualClock::at(support::START_MS));
            let audit = Arc::new(MemoryAuditSink::new());
            serve(setup, audit, clock, (front_in, front_out), std::future::pending()).await
        });
        Self {
            input,
            lines: BufReader::new(output).lines(),
            front,
        }
    }

    async fn say(&mut self, message: Value) {
        use tokio::io::AsyncWriteExt;
        self.input
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("the front is still writing");
        serde_json::from_str(&line).unwrap()
    }

    /// Closes the client's input; the front ends cleanly.
    async fn end(self) {
        drop(self.input);
        tokio::time::timeout(Duration::from_secs(5), self.front)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_client_in_front_of_an_http_upstream_answers_its_stream_requests() {
    let upstream = Upstream::start(Mode::default()).await;
    let mut stdio = StdioFront::start(&upstream);
    stdio.say(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}}, "clientInfo": {"name": "t", "version": "0"}}}))
    .await;
    assert_eq!(stdio.next().await["result"]["serverInfo"]["name"], "fake-mcp");
    stdio
        .say(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    stdio
        .say(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ask", "arguments": {}}}))
        .await;
    let asked = stdio.next().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    stdio.say(answer_to(&asked)).await;
    let result = stdio.next().await;
    assert_eq!(text(&result), "up-0 heard answer for up-0", "{result}");
    stdio.end().await;
}

/// The same front with a 2026-07-28 client: the upstream stream's question is not written to the
/// output as a request the client could not answer; the call in flight is answered with it as an
/// input request, and the retry carries the answer to the upstream session that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_stdio_clients_call_gets_the_upstream_streams_question_as_an_input_request() {
    let upstream = Upstream::start(Mode::default()).await;
    let mut stdio = StdioFront::start(&upstream);
    stdio
        .say(modern_call(1, json!({"name": "ask", "arguments": {}})))
        .await;
    // The first line is the call's answer, not a raw server request.
    let asked = stdio.next().await;
    assert_eq!(asked["id"], 1, "{asked}");
    let (retry, prompt) = answered_retry(2, "ask", &asked);
    assert_eq!(prompt, "up-0");
    stdio.say(retry).await;
    let done = stdio.next().await;
    assert_eq!(done["id"], 2, "{done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(text(&done), "up-0 heard answer for up-0", "{done}");
    assert!(upstream.fake.strays.lock().unwrap().is_empty());
    stdio.end().await;
}

/// With two calls of a 2026-07-28 stdio client in flight, nothing says which one the upstream
/// stream's question belongs to: the upstream is refused at once (it does not wait for an answer
/// that cannot come), and both calls end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_question_with_two_modern_calls_in_flight_is_refused_to_the_upstream() {
    let upstream = Upstream::start(Mode::default()).await;
    let mut stdio = StdioFront::start(&upstream);
    stdio
        .say(modern_call(1, json!({"name": "slow", "arguments": {}})))
        .await;
    stdio
        .say(modern_call(2, json!({"name": "ask", "arguments": {}})))
        .await;
    let asked = stdio.next().await;
    assert_eq!(asked["id"], 2, "{asked}");
    assert_eq!(asked["result"]["resultType"], "complete", "{asked}");
    let said = text(&asked);
    assert!(said.starts_with("up-0 refused: no single call"), "{asked}");
    let slow = stdio.next().await;
    assert_eq!(slow["id"], 1, "{slow}");
    assert_eq!(text(&slow), "plain", "{slow}");
    stdio.end().await;
}

/// A second server on the same upstream, and the grant `BOTH` of both: `/mcp` aggregates them.
fn both_servers(upstream: &Upstream) -> String {
    format!(
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
    )
}

/// `/mcp` over two HTTP servers: both upstream sessions ask under the same id on their streams, the
/// client sees both questions on its one stream under distinct ids, and each answer, offered to every
/// member, reaches only the upstream session that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_relays_each_members_stream_requests_and_routes_the_answers_back() {
    let upstream = Upstream::start(Mode::default()).await;
    let node = gateway_with(&upstream, &both_servers(&upstream)).await;
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
        assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
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

/// `/mcp` for a 2026-07-28 client: each member's session follows its upstream's stream during the
/// client's call, as at `/mcp/<server>`, so the question asked there comes back as the call's input
/// request, and the retry (named with the prefix) continues the call in the member that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_gives_a_modern_client_each_members_stream_question_as_an_input_request() {
    let upstream = Upstream::start(Mode::default()).await;
    let node = gateway_with(&upstream, &both_servers(&upstream)).await;
    let post = async |message: &Value| {
        let auth = format!("Bearer {BOTH}");
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("authorization", auth.as_str()),
            ("mcp-protocol-version", "2026-07-28"),
        ];
        support::send(Method::POST, node.agent, "/mcp", &headers, message.to_string())
            .await
            .json()
    };
    let mut prompts = Vec::new();
    for (n, tool) in [(1, "remote__ask"), (3, "other__ask")] {
        let asked = post(&modern_call(n, json!({"name": tool, "arguments": {}}))).await;
        let (retry, prompt) = answered_retry(n + 1, tool, &asked);
        let done = post(&retry).await;
        assert_eq!(done["id"], n + 1, "{done}");
        assert_eq!(done["result"]["resultType"], "complete", "{done}");
        assert_eq!(
            text(&done),
            format!("{prompt} heard answer for {prompt}"),
            "{done}"
        );
        prompts.push(prompt);
    }
    assert_ne!(prompts[0], prompts[1], "each member has its own upstream session");
    assert!(upstream.fake.strays.lock().unwrap().is_empty());
    // One decision, one audit record per call (not one per round), naming the real server and tool.
    let mut audited: Vec<String> = node
        .audit_json()
        .into_iter()
        .filter(|r| r["tool"] == "ask")
        .map(|r| r["server"].as_str().unwrap().to_owned())
        .collect();
    audited.sort();
    assert_eq!(audited, ["other", "remote"]);
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
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&result), "up-0 heard answer for up-0", "{result}");
    node.stop().await;
}

/// A 2024-11-05 client (`GET /sse/<server>`, answers POSTed to the endpoint it names) in front of
/// the HTTP upstream: the upstream stream's question arrives on the client's one stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_in_front_of_an_http_upstream_answers_its_stream_requests() {
    let upstream = Upstream::start(Mode::default()).await;
    let node = gateway(&upstream).await;
    let auth = format!("Bearer {BOB}");
    let request = hyper::Request::get(format!("http://{}/sse/remote", node.agent))
        .header("authorization", auth.as_str())
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<Bytes>>();
    let mut stream = support::EventStream::new(client.request(request).await.unwrap().into_body());
    let first = stream.next_frame().await;
    let endpoint = first
        .strip_prefix("event: endpoint\ndata: ")
        .unwrap_or_else(|| panic!("first event is not the endpoint: {first:?}"))
        .to_owned();
    let post = async |message: Value| {
        let headers = [
            ("content-type", "application/json"),
            ("authorization", auth.as_str()),
        ];
        let answer = support::send(Method::POST, node.agent, &endpoint, &headers, message.to_string()).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    };
    post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {"sampling": {}}, "clientInfo": {"name": "old", "version": "0"}}}))
    .await;
    assert_eq!(stream.next().await["id"], 1);
    post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ask", "arguments": {}}}))
        .await;
    let asked = stream.next().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    post(answer_to(&asked)).await;
    let result = stream.next().await;
    assert_eq!(result["id"], 2, "{result}");
    assert_eq!(text(&result), "up-0 heard answer for up-0", "{result}");
    node.stop().await;
}

/// A 2026-07-28 client has no stream: the gateway follows the upstream's for its call, and the
/// question asked there comes back as the call's input request; the retry's answer reaches the
/// upstream session under the id it asked with, and the call completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_clients_call_gets_the_upstream_streams_question_as_an_input_request() {
    let upstream = Upstream::start(Mode::default()).await;
    let node = gateway(&upstream).await;
    let headers = [("mcp-protocol-version", "2026-07-28")];
    let first = modern_call(1, json!({"name": "ask", "arguments": {}}));
    let asked = node
        .post_with("remote", Some(BOB), None, &first, &headers)
        .await
        .json();
    let (retry, prompt) = answered_retry(2, "ask", &asked);
    let done = node
        .post_with("remote", Some(BOB), None, &retry, &headers)
        .await
        .json();
    assert_eq!(
        text(&done),
        format!("{prompt} heard answer for {prompt}"),
        "{done}"
    );
    assert!(upstream.fake.strays.lock().unwrap().is_empty());
    node.stop().await;
}

/// Sessions asleep, from the node's metrics.
async fn asleep(node: &TestNode) -> usize {
    let metrics = node.send(Method::GET, node.ops, "/metrics", &[], "").await;
    metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_sessions_asleep "))
        .and_then(|n| n.parse().ok())
        .expect("an asleep gauge on /metrics")
}

/// The choice for hibernation: an open client stream keeps the session awake (as before) and with it
/// the upstream's stream; once the client's stream closes, so does the upstream's, and the session
/// sleeps; a new client stream wakes it and opens the upstream's again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_stream_follows_the_clients_into_and_out_of_hibernation() {
    let upstream = Upstream::start(Mode::default()).await;
    let node = gateway_with(&upstream, "hibernate_after_ms = 100").await;
    let session = node.initialize("remote", Some(BOB)).await;
    let stream = node.open_stream("remote", BOB, &session).await;
    eventually("the upstream stream", || {
        upstream.fake.gets.lock().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(asleep(&node).await, 0, "a listening session stays awake");
    drop(stream);
    eventually("the upstream stream closing", || {
        upstream.fake.closed.load(Ordering::Relaxed) == 1
    })
    .await;
    for _ in 0..100 {
        if asleep(&node).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(
        asleep(&node).await,
        1,
        "the session sleeps once its client stopped listening"
    );
    let mut stream = node.open_stream("remote", BOB, &session).await;
    let call = call_ask(&node, BOB, "/mcp/remote", &session, "ask");
    let asked = stream.next().await;
    let posted = node
        .post("remote", Some(BOB), Some(&session), &answer_to(&asked))
        .await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&result), "up-0 heard answer for up-0", "{result}");
    assert_eq!(upstream.fake.gets.lock().unwrap().len(), 2);
    node.stop().await;
}
