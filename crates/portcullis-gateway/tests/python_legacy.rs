//! The legacy HTTP+SSE transport (2024-11-05) with the official Python SDK on both sides: its
//! `sse_client` (1.x, and 2.x in legacy mode) against the gateway's `/sse/<server>`, and a 1.x
//! FastMCP server run with the SSE transport as an upstream of type `sse`, reached by legacy,
//! session-era and modern clients. Each cell lists (filtered), calls an allowed tool, and is denied
//! a forbidden one with the policy's reason.

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
use support::py::{self, is_error, server, sha, text};

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["whoami"],
  "tools": {
    "add": {},
    "fail": {"action": "deny", "reason": "fail is off limits"}
  }
}"#;

fn config(peers: &Peers, sse_url: &str) -> String {
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

[servers.legacy]
upstream = {{ type = "sse", url = {sse_url:?} }}

[[grants]]
id = "stdio-agent"
token_sha256 = "{stdio}"
server = "stdio"
policy = "main"

[[grants]]
id = "legacy-agent"
token_sha256 = "{legacy}"
server = "legacy"
policy = "main"
"#,
        stdio = sha("stdio-token"),
        legacy = sha("legacy-token"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sse_clients_and_an_sse_upstream_work_through_the_gateway() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let (_upstream, sse_url) = server(&peers, "PEERS_PY_MCP1", "mcp1_server.py", &["--sse"], "/sse");
    let dir = std::env::temp_dir().join(format!("portcullis-pylegacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), POLICY).unwrap();
    let node = TestNode::start_loaded(load_str(&config(&peers, &sse_url), &dir).unwrap(), dir, None).await;

    let sse = |server: &str| format!("http://{}/sse/{server}", node.agent);
    let mcp = |server: &str| format!("http://{}/mcp/{server}", node.agent);
    let cells = [
        // Legacy clients on the gateway's legacy endpoint, in front of a stdio and an SSE upstream.
        (
            "1.x sse_client -> stdio",
            Sdk::V1,
            sse("stdio"),
            "stdio-token",
            true,
        ),
        (
            "2.x legacy sse_client -> stdio",
            Sdk::Legacy,
            sse("stdio"),
            "stdio-token",
            true,
        ),
        (
            "1.x sse_client -> sse upstream",
            Sdk::V1,
            sse("legacy"),
            "legacy-token",
            true,
        ),
        // Streamable HTTP clients of both eras in front of the SSE upstream.
        (
            "2.x legacy -> sse upstream",
            Sdk::Legacy,
            mcp("legacy"),
            "legacy-token",
            false,
        ),
        (
            "2.x modern -> sse upstream",
            Sdk::Modern,
            mcp("legacy"),
            "legacy-token",
            false,
        ),
    ];
    for (cell, sdk, url, token, over_sse) in cells {
        let mut agent = Agent::http(&peers, sdk, &url, Some(token)).unwrap();
        if over_sse {
            agent = agent.over_sse();
        }
        let plan = [
            Step::List,
            Step::Call("add", json!({"a": 2, "b": 3})),
            Step::Call("fail", json!({})),
        ];
        let out = tokio::task::spawn_blocking(move || agent.run(&plan))
            .await
            .unwrap();
        assert_eq!(out.len(), 4, "{cell}: {out:#?}");
        assert_eq!(out[0]["tools"], json!(["add", "fail"]), "{cell}: {out:#?}");
        assert_eq!(
            (is_error(&out[1]), text(&out[1])),
            (false, "5"),
            "{cell}: {out:#?}"
        );
        assert!(is_error(&out[2]), "{cell}");
        assert_eq!(text(&out[2]), "[POLICY DENIED] fail is off limits", "{cell}");
    }
    // Every call was decided and audited, whichever transport carried it.
    let audited = node.audit_json().iter().filter(|r| r["tool"] == "add").count();
    assert_eq!(audited, 5);
    node.stop().await;
}
