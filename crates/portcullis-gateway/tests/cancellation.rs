//! Cancellation and timeouts: a client's `notifications/cancelled` reaches the upstream under the id
//! the upstream knows, a 2026-07-28 client closing its response stream cancels, a hung upstream call
//! ends with a clear error; in every case the call's counter reservation is released (the tool's
//! 1-per-minute limit lets the next call through) and the call is audited.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use support::{ALICE, BOB, EventStream, TestNode, text};

/// `slow` may run once a minute: a reservation that is not released blocks the next call.
const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "tools": {
    "slow": { "limits": [{ "rate_limit": "1/minute" }] },
    "cancels": {}
  }
}"#;

fn slow_call(id: &str, ms: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": ms}, "_meta": {"progressToken": id}}})
}

/// POSTs `body` to `files` as alice and returns the response's event stream (the client holds the
/// connection open).
async fn open_call(node: &TestNode, headers: &[(&str, &str)], body: &Value) -> EventStream {
    open_call_as(node, "files", ALICE, headers, body).await
}

async fn open_call_as(
    node: &TestNode,
    server: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> EventStream {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::post(format!("http://{}/mcp/{server}", node.agent))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), hyper::StatusCode::OK);
    EventStream::new(response.into_body())
}

/// What the fake upstream saw: cancelled request ids and the ids `slow` calls arrived with.
async fn seen_upstream(node: &TestNode, session: &str) -> Value {
    let report = node
        .call("files", Some(ALICE), session, "cancels", json!({}))
        .await;
    serde_json::from_str(text(&report)).unwrap()
}

fn outcomes(node: &TestNode) -> Vec<String> {
    node.audit_json()
        .iter()
        .filter(|r| r["tool"] == "slow")
        .map(|r| r["outcome"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_cancelled_call_reaches_the_upstream_by_its_id_and_releases_its_reservation() {
    let node = TestNode::start_with_policy(POLICY, "").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let mut stream = open_call(&node, &headers, &slow_call("c-1", 10_000)).await;
    let progress = stream.next().await;
    assert_eq!(progress["method"], "notifications/progress", "{progress}");

    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": "c-1", "reason": "the user changed their mind"}});
    let ack = node.post("files", Some(ALICE), Some(&session), &cancel).await;
    assert_eq!(ack.status, hyper::StatusCode::ACCEPTED);
    let mut last = stream.next().await;
    while last.get("method").is_some() {
        last = stream.next().await;
    }
    assert_eq!(last["id"], "c-1");
    assert_eq!(last["error"]["code"], -32800, "{last}");

    let seen = seen_upstream(&node, &session).await;
    assert_eq!(seen["slow"].as_array().unwrap().len(), 1, "{seen}");
    assert!(
        seen["slow"][0].is_u64(),
        "the upstream knows the gateway's id: {seen}"
    );
    assert_eq!(seen["cancelled"], json!([seen["slow"][0]]), "{seen}");

    let again = node
        .call("files", Some(ALICE), &session, "slow", json!({"ms": 0}))
        .await;
    assert_eq!(text(&again), "slow done", "the reservation was released: {again}");
    assert_eq!(outcomes(&node), ["cancelled", "ok"]);

    // A cancellation of nothing in flight is not passed on under a number the upstream might know.
    let stray = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}});
    node.post("files", Some(ALICE), Some(&session), &stray).await;
    let seen = seen_upstream(&node, &session).await;
    assert_eq!(seen["cancelled"].as_array().unwrap().len(), 1, "{seen}");
    node.stop().await;
}

#[tokio::test]
async fn a_cancellation_reaches_an_http_upstream_by_its_id_too() {
    let node = TestNode::start_with_policy(POLICY, "").await;
    let session = node.initialize("remote", Some(BOB)).await;
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let mut stream = open_call_as(&node, "remote", BOB, &headers, &slow_call("h-1", 10_000)).await;
    assert_eq!(stream.next().await["method"], "notifications/progress");
    let cancel =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "h-1"}});
    let ack = node.post("remote", Some(BOB), Some(&session), &cancel).await;
    assert_eq!(ack.status, hyper::StatusCode::ACCEPTED);
    let mut last = stream.next().await;
    while last.get("method").is_some() {
        last = stream.next().await;
    }
    assert_eq!(last["error"]["code"], -32800, "{last}");
    let report = node
        .call("remote", Some(BOB), &session, "cancels", json!({}))
        .await;
    let seen: Value = serde_json::from_str(text(&report)).unwrap();
    assert!(seen["slow"][0].is_u64(), "{seen}");
    assert_eq!(seen["cancelled"], json!([seen["slow"][0]]), "{seen}");
    let again = node
        .call("remote", Some(BOB), &session, "slow", json!({"ms": 0}))
        .await;
    assert_eq!(text(&again), "slow done", "the reservation was released: {again}");
    node.stop().await;
}

#[tokio::test]
async fn a_stateless_client_closing_its_stream_cancels_the_call() {
    let node = TestNode::start_with_policy(POLICY, "").await;
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "slow"),
    ];
    let mut call = slow_call("s-1", 10_000);
    call["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
    let mut stream = open_call(&node, &headers, &call).await;
    assert_eq!(stream.next().await["method"], "notifications/progress");
    drop(stream);

    let report = json!({"jsonrpc": "2.0", "id": "r", "method": "tools/call",
        "params": {"name": "cancels", "arguments": {},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let report_headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "cancels"),
    ];
    let mut seen = Value::Null;
    for _ in 0..100 {
        let answer = node
            .post_with("files", Some(ALICE), None, &report, &report_headers)
            .await
            .json();
        seen = serde_json::from_str(text(&answer)).unwrap();
        if !seen["cancelled"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen["cancelled"], json!([seen["slow"][0]]), "{seen}");
    assert_eq!(outcomes(&node), ["cancelled"]);

    let mut again = slow_call("s-2", 0);
    again["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
    let answer = node
        .post_with("files", Some(ALICE), None, &again, &headers)
        .await
        .json();
    assert_eq!(
        text(&answer),
        "slow done",
        "the reservation was released: {answer}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_session_era_client_that_disconnects_does_not_cancel() {
    let node = TestNode::start_with_policy(POLICY, "").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let mut stream = open_call(&node, &headers, &slow_call("d-1", 300)).await;
    assert_eq!(stream.next().await["method"], "notifications/progress");
    drop(stream);
    // The spec: a disconnect is not a cancellation. The call runs to the end and is settled then.
    let mut settled = Vec::new();
    for _ in 0..100 {
        settled = outcomes(&node);
        if !settled.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(settled, ["ok"]);
    let seen = seen_upstream(&node, &session).await;
    assert_eq!(seen["cancelled"], json!([]), "{seen}");
    node.stop().await;
}

#[tokio::test]
async fn a_silent_upstream_times_out_with_a_clear_error_and_releases_the_reservation() {
    let node = TestNode::start_with_policy(POLICY, "upstream_timeout_secs = 1").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let hung = node
        .call("files", Some(ALICE), &session, "slow", json!({"ms": 1500}))
        .await;
    assert_eq!(hung["error"]["code"], -32000, "{hung}");
    assert_eq!(hung["error"]["data"]["timeout"], "upstream", "{hung}");
    let message = hung["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("timed out") && message.contains("upstream_timeout_secs"),
        "{message}"
    );
    // The gateway told the upstream to stop: the fake stops waiting and answers the next call at once.
    let again = node
        .call("files", Some(ALICE), &session, "slow", json!({"ms": 0}))
        .await;
    assert_eq!(text(&again), "slow done", "the reservation was released: {again}");
    assert_eq!(outcomes(&node), ["upstream_error", "ok"]);
    node.stop().await;
}

#[tokio::test]
async fn the_request_timeout_holds_however_much_progress_arrives() {
    let node =
        TestNode::start_with_policy(POLICY, "upstream_timeout_secs = 30\nrequest_timeout_secs = 1").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let hung = node
        .call("files", Some(ALICE), &session, "slow", json!({"ms": 5000}))
        .await;
    assert_eq!(hung["error"]["data"]["timeout"], "request", "{hung}");
    assert!(
        hung["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request_timeout_secs"),
        "{hung}"
    );
    let seen = seen_upstream(&node, &session).await;
    assert_eq!(seen["cancelled"], json!([seen["slow"][0]]), "{seen}");
    assert_eq!(outcomes(&node), ["upstream_error"]);
    node.stop().await;
}
