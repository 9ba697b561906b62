//! mitmproxy-mcp (the product's first target, a real third-party server over stdio) behind the gateway
//! with the seed policy from `examples/policies/mitmproxy.yaml`: default deny, only
//! `extract_session_variable`. An operator grant on a second server entry (same working directory, so
//! the same traffic database) loads a HAR the test writes; the agent can then extract the real session
//! token, and nothing else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use portcullis_gateway::config::load_str;
use portcullis_gateway::state::{hash_token, to_hex};
use portcullis_peers::{Component, Peers, repo_root};
use serde_json::{Value, json};
use support::TestNode;

const TOKEN: &str = "sess-4f9a2c7e";

fn har() -> Value {
    let body = json!({"ok": true, "session_token": TOKEN}).to_string();
    json!({"log": {"version": "1.2", "creator": {"name": "portcullis-tests", "version": "1"}, "entries": [{
        "startedDateTime": "2026-11-25T00:00:00.000Z", "time": 12,
        "request": {"method": "POST", "url": "http://app.example.test/api/login", "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Content-Type", "value": "application/json"}], "queryString": [], "cookies": [],
            "headersSize": -1, "bodySize": 33,
            "postData": {"mimeType": "application/json", "text": "{\"user\":\"alice\",\"password\":\"pw\"}"}},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Content-Type", "value": "application/json"},
                        {"name": "Set-Cookie", "value": format!("session={TOKEN}; Path=/; HttpOnly")}],
            "cookies": [], "content": {"size": body.len(), "mimeType": "application/json", "text": body},
            "redirectURL": "", "headersSize": -1, "bodySize": body.len()},
        "cache": {}, "timings": {"send": 1, "wait": 10, "receive": 1}}]}})
}

const LOADER_POLICY: &str =
    r#"{"version": "1", "default": "deny", "tools": {"load_traffic_file": {}, "get_traffic_summary": {}}}"#;

async fn open(node: &TestNode, server: &str, token: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    let answer = node.post(server, Some(token), None, &init).await;
    assert_eq!(
        answer.json()["result"]["serverInfo"]["name"],
        "Mitmproxy Manager",
        "{}",
        answer.body
    );
    let session = answer.header("mcp-session-id").unwrap().to_owned();
    node.post(
        server,
        Some(token),
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    session
}

fn text(response: &Value) -> &str {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {response}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_policy_allows_only_session_extraction_and_it_returns_the_real_value() {
    let peers = Peers::ensure(&[Component::PyMcp1]).expect("test peers must install");
    let mitmproxy = peers.path("PEERS_MITMPROXY_MCP").unwrap().display().to_string();
    let dir = std::env::temp_dir().join(format!("portcullis-mitm-{}", std::process::id()));
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(dir.join("login.har"), har().to_string()).unwrap();
    std::fs::write(dir.join("loader.json"), LOADER_POLICY).unwrap();
    let seed = repo_root()
        .join("examples/policies/mitmproxy.yaml")
        .display()
        .to_string();
    let config = format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[limits]
upstream_timeout_secs = 30

[policies.seed]
file = {seed:?}

[policies.loader]
file = "loader.json"

[servers.mitmproxy]
upstream = {{ type = "stdio", command = {mitmproxy:?}, cwd = "state" }}

[servers.mitmproxy-ops]
upstream = {{ type = "stdio", command = {mitmproxy:?}, cwd = "state" }}

[[grants]]
id = "agent"
token_sha256 = "{agent}"
server = "mitmproxy"
policy = "seed"

[[grants]]
id = "operator"
token_sha256 = "{operator}"
server = "mitmproxy-ops"
policy = "loader"
"#,
        agent = to_hex(&hash_token("agent-token")),
        operator = to_hex(&hash_token("operator-token")),
    );
    let node = TestNode::start_loaded(load_str(&config, &dir).unwrap(), dir.clone(), None).await;

    // The operator feeds the traffic database the two server entries share.
    let ops = open(&node, "mitmproxy-ops", "operator-token").await;
    let har_path = dir.join("login.har").display().to_string();
    let loaded = node
        .call(
            "mitmproxy-ops",
            Some("operator-token"),
            &ops,
            "load_traffic_file",
            json!({"file_path": har_path}),
        )
        .await;
    assert!(text(&loaded).contains("\"imported\": 1"), "{loaded}");
    let summary = node
        .call(
            "mitmproxy-ops",
            Some("operator-token"),
            &ops,
            "get_traffic_summary",
            json!({}),
        )
        .await;
    let flows: Value = serde_json::from_str(text(&summary)).unwrap();
    let flow_id = flows[0]["id"].as_str().unwrap().to_owned();

    // The agent sees one tool of the 25 and can call only that one.
    let session = open(&node, "mitmproxy", "agent-token").await;
    assert_eq!(
        node.list_names("mitmproxy", Some("agent-token"), &session).await,
        ["extract_session_variable"]
    );
    let extract =
        json!({"name": "session", "flow_id": flow_id, "regex_pattern": "\"session_token\":\\s*\"([^\"]+)\""});
    let extracted = node
        .call(
            "mitmproxy",
            Some("agent-token"),
            &session,
            "extract_session_variable",
            extract,
        )
        .await;
    assert_eq!(extracted["result"]["isError"], false, "{extracted}");
    assert_eq!(text(&extracted), format!("Extracted and set $session = {TOKEN}"));
    for (tool, args) in [
        ("inspect_flow", json!({"flow_id": flow_id})),
        ("get_traffic_summary", json!({})),
        ("load_traffic_file", json!({"file_path": har_path})),
        ("clear_traffic", json!({})),
    ] {
        let denied = node
            .call("mitmproxy", Some("agent-token"), &session, tool, args)
            .await;
        assert_eq!(denied["result"]["isError"], true, "{tool}: {denied}");
        assert!(text(&denied).starts_with("[POLICY DENIED]"), "{tool}: {denied}");
    }
    node.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
