//! Long-lived SSE streams. Session-era events carry ids; a client that loses its connection comes
//! back with `Last-Event-ID` and gets what it missed, exactly once and in order; quiet streams get
//! keep-alives.
//! Everything over real sockets: the connection is dropped mid-stream, then reopened.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::Duration;

use hyper::StatusCode;
use serde_json::{Value, json};
use support::{ALICE, EventStream, SseRequest, TestNode, text};

/// Sends a request to `/mcp/files` as alice in `session` and returns the status and the live body.
async fn open(
    node: &TestNode,
    method: hyper::Method,
    session: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> (StatusCode, EventStream) {
    let request = SseRequest {
        path: "/mcp/files",
        token: ALICE,
        session,
        extra,
    };
    node.open_sse(&request, method, body).await
}

async fn announce(node: &TestNode, session: &str, n: u32) {
    let result = node
        .call("files", Some(ALICE), session, "announce", json!({"n": n}))
        .await;
    assert_eq!(text(&result), "announced");
}

async fn resume(node: &TestNode, session: &str, last: &str) -> EventStream {
    let (status, stream) = open(
        node,
        hyper::Method::GET,
        session,
        &[("last-event-id", last)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_stream_lost_mid_call_resumes_with_what_was_missed_exactly_once() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let call = json!({"jsonrpc": "2.0", "id": "long", "method": "tools/call", "params": {
        "name": "slow", "arguments": {"ms": 600}, "_meta": {"progressToken": "p1"}}});
    let (status, mut stream) = open(&node, hyper::Method::POST, &session, &[], Some(&call)).await;
    assert_eq!(status, StatusCode::OK);
    let progress = stream.next().await;
    assert_eq!(progress["method"], "notifications/progress");
    let last = stream.last_id.clone().expect("events carry ids");
    // The connection drops before the log message and the response were read.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(900)).await;

    let mut resumed = resume(&node, &session, &last).await;
    let log = resumed.next().await;
    assert_eq!(log["method"], "notifications/message", "{log}");
    let response = resumed.next().await;
    assert_eq!(response["id"], "long");
    assert_eq!(text(&response), "slow done");
    assert!(resumed.ends().await, "nothing after the response");
    // The call was not cancelled by the disconnect: it was audited once, as a success.
    let slow: Vec<Value> = node
        .audit_json()
        .into_iter()
        .filter(|r| r["tool"] == "slow")
        .collect();
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0]["decision"], "allow");

    // Resuming the same point again replays the same events: a client may retry a resumption.
    let mut again = resume(&node, &session, &last).await;
    assert_eq!(again.next().await["method"], "notifications/message");
    assert_eq!(again.next().await["id"], "long");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_stream_lost_resumes_in_order_without_repeats() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let (status, mut stream) = open(&node, hyper::Method::GET, &session, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let n = |message: Value| message["params"]["_meta"]["n"].as_u64().unwrap();
    announce(&node, &session, 1).await;
    assert_eq!(n(stream.next().await), 1);
    let last = stream.last_id.clone().expect("events carry ids");
    // Two more go out on the stream but the client never reads them: its connection drops with
    // them in flight. They were sent, so they are not parked for a new stream: only a replay
    // brings them back.
    announce(&node, &session, 2).await;
    announce(&node, &session, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    // One more while the client is away.
    announce(&node, &session, 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut resumed = resume(&node, &session, &last).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(n(resumed.next().await));
    }
    assert_eq!(got, [2, 3, 4], "what was missed, in order, once");
    // Nothing repeated: the next event is the next announcement.
    announce(&node, &session, 5).await;
    assert_eq!(n(resumed.next().await), 5);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_cannot_be_resumed_are_refused_plainly() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    for bad in ["nonsense", "r999-999999"] {
        let (status, _) = open(
            &node,
            hyper::Method::GET,
            &session,
            &[("last-event-id", bad)],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_gets_keep_alives_at_the_configured_interval() {
    let node = TestNode::start("sse_keepalive_secs = 1").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let (status, mut stream) = open(&node, hyper::Method::GET, &session, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let started = tokio::time::Instant::now();
    let mut frames = Vec::new();
    loop {
        let frame = stream.next_frame().await;
        if frame.starts_with(": keep-alive") {
            break;
        }
        frames.push(frame);
        assert!(frames.len() < 3, "no keep-alive among {frames:?}");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "keep-alive after {waited:?}, before the interval"
    );
    // The stream still carries messages after a keep-alive.
    let result = node
        .call("files", Some(ALICE), &session, "announce", json!({}))
        .await;
    assert_eq!(text(&result), "announced");
    assert_eq!(stream.next().await["method"], "notifications/tools/list_changed");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_call_streaming_its_answer_gets_keep_alives_too() {
    let node = TestNode::start("sse_keepalive_secs = 1").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let call = json!({"jsonrpc": "2.0", "id": "long", "method": "tools/call", "params": {
        "name": "slow", "arguments": {"ms": 1600}, "_meta": {"progressToken": "p1"}}});
    let (status, mut stream) = open(&node, hyper::Method::POST, &session, &[], Some(&call)).await;
    assert_eq!(status, StatusCode::OK);
    let mut frames = Vec::new();
    loop {
        let frame = stream.next_frame().await;
        let done = frame.contains(r#""id":"long""#);
        frames.push(frame);
        if done {
            break;
        }
        assert!(frames.len() < 8, "{frames:#?}");
    }
    // Progress and log at once, a keep-alive while the tool works, then the response.
    assert!(frames[0].contains("notifications/progress"), "{frames:#?}");
    assert!(frames[1].contains("notifications/message"), "{frames:#?}");
    assert!(
        frames[2..frames.len() - 1]
            .iter()
            .any(|f| f.starts_with(": keep-alive")),
        "{frames:#?}"
    );
    node.stop().await;
}
