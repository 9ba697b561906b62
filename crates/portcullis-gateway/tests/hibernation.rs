//! Idle sessions hibernate: a quiet session's actor stops and the session stays a compact record that
//! keeps its id, upstream session and per-session counters; what needs the actor wakes it.

#![allow(clippy::expect_used, reason = "tests fail by panicking")]

mod support;

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;
use support::{BOB, TestNode, text};

async fn asleep(node: &TestNode) -> usize {
    let metrics = node.send(Method::GET, node.ops, "/metrics", &[], "").await;
    metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_sessions_asleep "))
        .and_then(|n| n.parse().ok())
        .expect("an asleep gauge on /metrics")
}

async fn wait_for_asleep(node: &TestNode, want: usize) {
    for _ in 0..100 {
        if asleep(node).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(asleep(node).await, want, "sessions asleep");
}

#[tokio::test]
async fn a_quiet_session_sleeps_and_wakes_with_its_state() {
    let node = TestNode::start("hibernate_after_ms = 100").await;
    let session = node.initialize("remote", Some(BOB)).await;
    let upstream_session = text(
        &node
            .call("remote", Some(BOB), &session, "whoami", json!({}))
            .await,
    )
    .to_owned();
    let first = node
        .call("remote", Some(BOB), &session, "write_file", json!({}))
        .await;
    assert!(first["result"]["isError"].is_null(), "{first}");

    // The standalone stream needs the actor: opening it wakes the session; it sleeps again once the
    // stream is gone and the session has been quiet.
    let stream = node.open_stream("remote", BOB, &session).await;
    assert_eq!(asleep(&node).await, 0);
    drop(stream);
    wait_for_asleep(&node, 1).await;

    // Same session id, same upstream session (the gateway did not end it while asleep), same counters:
    // write_file allows two calls a minute per session.
    let second = node
        .call("remote", Some(BOB), &session, "write_file", json!({}))
        .await;
    assert!(second["result"]["isError"].is_null(), "{second}");
    let limited = node
        .call("remote", Some(BOB), &session, "write_file", json!({}))
        .await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    let again = text(
        &node
            .call("remote", Some(BOB), &session, "whoami", json!({}))
            .await,
    )
    .to_owned();
    assert_eq!(again, upstream_session);

    // A sleeping session can still be ended.
    wait_for_asleep(&node, 1).await;
    let bearer = format!("Bearer {BOB}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", session.as_str()),
    ];
    let delete = node
        .send(Method::DELETE, node.agent, "/mcp/remote", &headers, "")
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let gone = node.post("remote", Some(BOB), Some(&session), &list).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    node.stop().await;
}

#[tokio::test]
async fn a_sleeping_session_still_expires_when_idle() {
    let node = TestNode::start("hibernate_after_ms = 100\nidle_session_timeout_secs = 1").await;
    let session = node.initialize("remote", Some(BOB)).await;
    wait_for_asleep(&node, 1).await;
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let gone = node.post("remote", Some(BOB), Some(&session), &list).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(asleep(&node).await, 0);
    node.stop().await;
}
