//! The official Python SDK on both sides of an era bridge with questions in the middle: a 1.x FastMCP
//! server (session era, stdio) elicits and samples during tool calls; the 2.x client in 2026-07-28
//! mode gets them as `InputRequiredResult` rounds from the gateway, answers through its callbacks, and
//! gets the final result. A denied tool stays denied.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::process::Command;

use portcullis_gateway::config::load_str;
use portcullis_peers::{Component, Peers, repo_root};
use serde_json::{Value, json};
use support::TestNode;
use support::py::{self, is_error, text};

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "tools": {
    "confirm_delete": {},
    "summarize": {},
    "review": {},
    "wipe": {"action": "deny", "reason": "wiping is not allowed"}
  }
}"#;

const TOKEN: &str = "asking-token";

fn config(peers: &Peers) -> String {
    let stdio_server = py::stdio_upstream(peers, "PEERS_PY_MCP1", "mcp1_asking_server.py");
    format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[policies.main]
file = "policy.json"

[servers.asking]
upstream = {stdio_server}

[[grants]]
id = "asking-agent"
token_sha256 = "{sha}"
server = "asking"
policy = "main"
"#,
        sha = py::sha(TOKEN),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_modern_client_answers_a_session_era_servers_questions_through_the_gateway() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let dir = std::env::temp_dir().join(format!("portcullis-ir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), POLICY).unwrap();
    let node = TestNode::start_loaded(load_str(&config(&peers), &dir).unwrap(), dir, None).await;
    let url = format!("http://{}/mcp/asking", node.agent);
    let python2 = peers.path("PEERS_PY_MCP2").unwrap().to_path_buf();
    let client = repo_root().join("tests/peers/examples/mcp2_input_client.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python2)
            .arg(client)
            .args(["--url", &url, "--token", TOKEN])
            .args(["--call", "confirm_delete", r#"{"path": "notes.txt"}"#])
            .args(["--call", "summarize", r#"{"text": "a long day"}"#])
            .args(["--call", "review", r#"{"text": "the plan"}"#])
            .args(["--call", "wipe", "{}"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    // Every question reached the client, in order (review asks twice: two rounds).
    assert_eq!(
        out["asked"],
        json!([
            "elicitation/create",
            "sampling/createMessage",
            "elicitation/create",
            "sampling/createMessage"
        ]),
        "{out:#}"
    );
    let step = |i: usize| json!({"result": out["results"][i].clone()});
    // And every answer reached the server.
    assert_eq!(text(&step(0)), "delete notes.txt: yes", "{out:#}");
    assert_eq!(
        text(&step(1)),
        "summary: sampled summarize: a long day",
        "{out:#}"
    );
    assert_eq!(
        text(&step(2)),
        "confirmed yes, review: sampled review: the plan",
        "{out:#}"
    );
    assert!(is_error(&step(3)), "{out:#}");
    assert_eq!(text(&step(3)), "[POLICY DENIED] wiping is not allowed", "{out:#}");
    // One decision per call, however many rounds it took.
    let tools: Vec<String> = node
        .audit_json()
        .iter()
        .map(|r| r["tool"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        tools,
        ["confirm_delete", "summarize", "review", "wipe"],
        "{tools:?}"
    );
    node.stop().await;
}
