//! Upstreams of type `sse` (legacy HTTP+SSE, 2024-11-05) behind the gateway, against an in-process
//! fake over real sockets: calls with their progress and logs, policy on lists and calls, an upstream
//! that drops its stream failing only its own session, and an endpoint on another origin refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use portcullis_gateway::config::load_str;
use serde_json::json;
use support::fake_legacy::FakeLegacy;
use support::py::sha;
use support::{TestNode, text};

const TOKEN: &str = "old-token";

async fn node_before(fake: &FakeLegacy) -> TestNode {
    let config = format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[limits]
upstream_timeout_secs = 5

[audit]
wait_for_sync = true

[policies.main]
file = "policy.json"

[servers.old]
upstream = {{ type = "sse", url = "{url}" }}

[[grants]]
id = "old-agent"
token_sha256 = "{token}"
server = "old"
policy = "main"
"#,
        url = fake.url(),
        token = sha(TOKEN),
    );
    let dir = std::env::temp_dir().join(format!(
        "portcullis-legacy-up-{}-{}",
        std::process::id(),
        fake.origin().rsplit(':').next().unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), support::POLICY).unwrap();
    TestNode::start_loaded(load_str(&config, &dir).unwrap(), dir, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_upstream_serves_calls_with_their_progress_under_policy() {
    let fake = FakeLegacy::start().await;
    let node = node_before(&fake).await;
    let session = node.initialize("old", Some(TOKEN)).await;
    let names = node.list_names("old", Some(TOKEN), &session).await;
    assert_eq!(
        names,
        [
            "read_file",
            "write_file",
            "delete_file",
            "whoami",
            "slow",
            "crash",
            "ask",
            "announce"
        ],
        "hidden and unlisted tools are filtered across pages"
    );
    let read = node
        .call("old", Some(TOKEN), &session, "read_file", json!({"path": "/a"}))
        .await;
    assert_eq!(text(&read), r#"read_file ran with {"path":"/a"}"#);
    let denied = node
        .call("old", Some(TOKEN), &session, "delete_file", json!({}))
        .await;
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );

    let slow = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "slow", "arguments": {"ms": 100}, "_meta": {"progressToken": "t"}}});
    let answer = node.post("old", Some(TOKEN), Some(&session), &slow).await;
    let events = answer.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(events[0]["method"], "notifications/progress");
    assert_eq!(events[0]["params"]["progressToken"], "t");
    assert_eq!(events[1]["method"], "notifications/message");
    assert_eq!(events[2]["id"], 9, "the client's id is restored");
    assert_eq!(text(&events[2]), "slow done");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_upstream_that_drops_its_stream_fails_only_that_session() {
    let fake = FakeLegacy::start().await;
    let node = node_before(&fake).await;
    let doomed = node.initialize("old", Some(TOKEN)).await;
    let other = node.initialize("old", Some(TOKEN)).await;
    let crashed = node.call("old", Some(TOKEN), &doomed, "crash", json!({})).await;
    let why = crashed["error"]["message"].as_str().unwrap_or_default();
    assert!(why.contains("upstream closed its event stream"), "{crashed}");
    let fine = node
        .call("old", Some(TOKEN), &other, "read_file", json!({"path": "/b"}))
        .await;
    assert_eq!(text(&fine), r#"read_file ran with {"path":"/b"}"#);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_on_another_origin_is_never_posted_to() {
    let elsewhere = FakeLegacy::start().await;
    let fake = FakeLegacy::start_naming(Some(format!("{}/messages?session_id=0", elsewhere.origin()))).await;
    let node = node_before(&fake).await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    let answer = node.post("old", Some(TOKEN), None, &init).await;
    let body = answer.json();
    assert!(body.get("error").is_some(), "{body}");
    assert_eq!(
        answer.header("mcp-session-id"),
        None,
        "no session without an upstream"
    );
    assert_eq!(elsewhere.posts(), 0);
    assert_eq!(fake.posts(), 0);
    node.stop().await;
}
