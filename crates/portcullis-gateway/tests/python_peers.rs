//! The official Python MCP SDK on both sides of the gateway: a 2.x agent in the modern (2026-07-28) and
//! legacy modes and a 1.x agent, each against a stdio upstream (a 2.x server, one process per session)
//! and a Streamable HTTP upstream (a 1.x FastMCP server): filtered list, allowed call, denied call with
//! its reason, hidden tool, rate limit hit then reset.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use portcullis_gateway::config::load_str;
use portcullis_peers::{Agent, Component, Peers, Sdk, Step};
use serde_json::json;
use support::TestNode;
use support::py::{self, is_error, text};

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["whoami"],
  "tools": {
    "add": {"limits": ["2/minute"]},
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

[policies.main]
file = "policy.json"

[servers.stdio]
upstream = {stdio_server}

[servers.http]
upstream = {{ type = "http", url = {upstream_url:?} }}

[[grants]]
id = "stdio-agent"
token_sha256 = "{stdio}"
server = "stdio"
policy = "main"

[[grants]]
id = "http-agent"
token_sha256 = "{http}"
server = "http"
policy = "main"
"#,
        stdio = py::sha("stdio-token"),
        http = py::sha("http-token"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_agents_through_the_gateway_in_every_era_and_transport() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    // The 1.x FastMCP example server over Streamable HTTP.
    let (_upstream, upstream_url) =
        py::server(&peers, "PEERS_PY_MCP1", "mcp1_server.py", &["--http"], "/mcp");
    let dir = std::env::temp_dir().join(format!("portcullis-pypeers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), POLICY).unwrap();
    let node =
        TestNode::start_loaded(load_str(&config(&peers, &upstream_url), &dir).unwrap(), dir, None).await;

    for (server, token) in [("stdio", "stdio-token"), ("http", "http-token")] {
        let url = format!("http://{}/mcp/{server}", node.agent);
        for sdk in [Sdk::Modern, Sdk::Legacy, Sdk::V1] {
            let cell = format!("{sdk:?} agent, {server} upstream");
            // A fresh minute for the grant's `add` limit.
            node.clock.advance(60_000);
            let agent = Agent::http(&peers, sdk, &url, Some(token)).unwrap();
            let plan = [
                Step::List,
                Step::Call("add", json!({"a": 2, "b": 3})),
                Step::Call("fail", json!({})),
                Step::Call("whoami", json!({})),
                Step::Call("add", json!({"a": 1, "b": 1})),
                Step::Call("add", json!({"a": 1, "b": 1})),
            ];
            let out = tokio::task::spawn_blocking(move || agent.run(&plan))
                .await
                .unwrap();
            assert_eq!(out.len(), 7, "{cell}: {out:#?}");
            assert_eq!(
                out[0]["tools"],
                json!(["add", "fail"]),
                "{cell}: hidden tool listed? {out:#?}"
            );
            assert_eq!((is_error(&out[1]), text(&out[1])), (false, "5"), "{cell}");
            assert!(is_error(&out[2]), "{cell}");
            assert_eq!(text(&out[2]), "[POLICY DENIED] fail is off limits", "{cell}");
            assert!(
                is_error(&out[3]) && text(&out[3]).starts_with("[POLICY DENIED]"),
                "{cell}: {}",
                out[3]
            );
            assert!(!is_error(&out[4]), "{cell}: second add is within the limit");
            assert!(
                is_error(&out[5]) && text(&out[5]).contains("Rate limit"),
                "{cell}: {}",
                out[5]
            );

            // The window turns: the limit resets.
            node.clock.advance(60_000);
            let agent = Agent::http(&peers, sdk, &url, Some(token)).unwrap();
            let again =
                tokio::task::spawn_blocking(move || agent.run(&[Step::Call("add", json!({"a": 4, "b": 4}))]))
                    .await
                    .unwrap();
            assert_eq!(
                (is_error(&again[0]), text(&again[0])),
                (false, "8"),
                "{cell}: {again:#?}"
            );
        }
    }
    node.stop().await;
}
