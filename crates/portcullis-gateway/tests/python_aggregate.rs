//! The official Python MCP SDK against `/mcp` for a grant with two servers (a 2.x server over stdio,
//! a 1.x FastMCP server over Streamable HTTP), in each client era: the merged, prefixed list filtered
//! by the policy, an allowed call on each server, a denied call with its reason, an unknown prefix.
//! Then the HTTP server is killed by its pid: in the session that was open and in a new one, its
//! tools vanish and its calls fail naming it, while the stdio server's tools still work.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use hyper::{Method, StatusCode};
use portcullis_gateway::config::load_str;
use portcullis_peers::{Agent, Component, Peers, Sdk, Step};
use serde_json::{Value, json};
use support::TestNode;
use support::py::{self, is_error, text};

const TOKEN: &str = "both-token";

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["whoami"],
  "tools": {
    "add": {},
    "fail": {"action": "deny", "reason": "fail is off limits"}
  }
}"#;

fn config(peers: &Peers, upstream_url: &str) -> String {
    let stdio_server = py::stdio_upstream(peers, "PEERS_PY_MCP2", "mcp2_server.py");
    format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[limits]
upstream_timeout_secs = 10

[audit]
wait_for_sync = true

[policies.main]
file = "policy.json"

[servers.alpha]
upstream = {stdio_server}

[servers.beta]
upstream = {{ type = "http", url = {upstream_url:?} }}

[[grants]]
id = "both"
token_sha256 = "{both}"
servers = ["alpha", "beta"]
policy = "main"
"#,
        both = py::sha(TOKEN),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agents_use_two_servers_through_one_endpoint_and_survive_one_dying() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let (beta, beta_url) = py::server(&peers, "PEERS_PY_MCP1", "mcp1_server.py", &["--http"], "/mcp");
    let dir = std::env::temp_dir().join(format!("portcullis-pyagg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), POLICY).unwrap();
    let node = TestNode::start_loaded(load_str(&config(&peers, &beta_url), &dir).unwrap(), dir, None).await;
    let url = format!("http://{}/mcp", node.agent);

    for sdk in [Sdk::Modern, Sdk::Legacy, Sdk::V1] {
        let agent = Agent::http(&peers, sdk, &url, Some(TOKEN)).unwrap();
        let plan = [
            Step::List,
            Step::Call("alpha__add", json!({"a": 2, "b": 3})),
            Step::Call("beta__add", json!({"a": 4, "b": 5})),
            Step::Call("beta__fail", json!({})),
            Step::Call("alpha__whoami", json!({})),
            Step::Call("gamma__add", json!({"a": 1, "b": 1})),
        ];
        let out = tokio::task::spawn_blocking(move || agent.run(&plan))
            .await
            .unwrap();
        let cell = format!("{sdk:?} agent");
        assert_eq!(out.len(), 7, "{cell}: {out:#?}");
        assert_eq!(
            out[0]["tools"],
            json!(["alpha__add", "alpha__fail", "beta__add", "beta__fail"]),
            "{cell}: {out:#?}"
        );
        assert_eq!((is_error(&out[1]), text(&out[1])), (false, "5"), "{cell}");
        assert_eq!((is_error(&out[2]), text(&out[2])), (false, "9"), "{cell}");
        assert_eq!(
            (is_error(&out[3]), text(&out[3])),
            (true, "[POLICY DENIED] fail is off limits"),
            "{cell}"
        );
        assert!(
            is_error(&out[4]) && text(&out[4]).starts_with("[POLICY DENIED]"),
            "{cell}: {}",
            out[4]
        );
        let unknown = out[5]["error"]["message"].as_str().unwrap_or_default();
        assert!(
            unknown.contains("unknown tool \"gamma__add\""),
            "{cell}: {}",
            out[5]
        );
        // The modern client stayed stateless: the gateway initialized the servers itself.
        let stateless = out[6]["protocol_version"] == "2026-07-28";
        assert_eq!(stateless, matches!(sdk, Sdk::Modern), "{cell}: {}", out[6]);
    }
    // The audit trail names the real server and tool of each decision.
    let audit = node.audit_json();
    let decided = |server: &str, tool: &str, decision: &str| {
        audit
            .iter()
            .filter(|r| r["server"] == server && r["tool"] == tool && r["decision"] == decision)
            .count()
    };
    assert_eq!(decided("alpha", "add", "allow"), 3, "{audit:#?}");
    assert_eq!(decided("beta", "add", "allow"), 3, "{audit:#?}");
    assert_eq!(decided("beta", "fail", "deny"), 3, "{audit:#?}");

    // A session opened while both servers are up...
    let (session, before) = raw_session(&node).await;
    assert_eq!(before.len(), 4, "{before:?}");

    // ...then the HTTP server dies (killed by its pid, as the guard does on drop).
    drop(beta);

    let after = raw_list(&node, &session).await;
    assert_eq!(after, ["alpha__add", "alpha__fail"]);
    let gone = raw_call(&node, &session, "beta__add").await;
    let message = gone["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("server \"beta\""), "{gone}");
    let alive = raw_call(&node, &session, "alpha__add").await;
    assert_eq!(alive["result"]["content"][0]["text"], "3", "{alive}");

    // A new client: the dead server fails to initialize and only its tools are missing.
    let agent = Agent::http(&peers, Sdk::Legacy, &url, Some(TOKEN)).unwrap();
    let plan = [
        Step::List,
        Step::Call("beta__add", json!({"a": 1, "b": 1})),
        Step::Call("alpha__add", json!({"a": 20, "b": 22})),
    ];
    let out = tokio::task::spawn_blocking(move || agent.run(&plan))
        .await
        .unwrap();
    assert_eq!(out[0]["tools"], json!(["alpha__add", "alpha__fail"]), "{out:#?}");
    let message = out[1]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("server \"beta\" is unavailable"), "{out:#?}");
    assert_eq!((is_error(&out[2]), text(&out[2])), (false, "42"), "{out:#?}");
    node.stop().await;
}

async fn raw_post(node: &TestNode, session: Option<&str>, body: &Value) -> support::Answer {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("authorization", auth.as_str()),
    ];
    if let Some(session) = session {
        headers.push(("mcp-session-id", session));
    }
    node.send(Method::POST, node.agent, "/mcp", &headers, body.to_string())
        .await
}

async fn raw_session(node: &TestNode) -> (String, Vec<String>) {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    let answer = raw_post(node, None, &init).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let session = answer.header("mcp-session-id").unwrap().to_owned();
    let names = raw_list(node, &session).await;
    (session, names)
}

async fn raw_list(node: &TestNode, session: &str) -> Vec<String> {
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let answer = raw_post(node, Some(session), &list).await.json();
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn raw_call(node: &TestNode, session: &str, tool: &str) -> Value {
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {"a": 1, "b": 2}}});
    raw_post(node, Some(session), &call).await.json()
}
