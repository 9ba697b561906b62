//! The official Python SDK on both sides of an era bridge with questions in the middle: a 1.x FastMCP
//! server (session era, stdio) elicits and samples during tool calls; the 2.x client in 2026-07-28
//! mode gets them as `InputRequiredResult` rounds from the gateway, answers through its callbacks, and
//! gets the final result. A denied tool stays denied. Behind a 2026-07-28-only server that asks in
//! rounds itself, the same client's rounds are one call to the gateway: decided and charged once.

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

fn config(stdio_server: &str) -> String {
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

/// A gateway in front of `stdio_server` as server `asking`, `policy` its grant's policy.
async fn start(stdio_server: &str, policy: &str, name: &str) -> TestNode {
    let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), policy).unwrap();
    TestNode::start_loaded(load_str(&config(stdio_server), &dir).unwrap(), dir, None).await
}

/// Runs the 2.x client in 2026-07-28 mode against `node`'s `/mcp/asking` with `calls`; what it printed.
async fn run_client(peers: &Peers, node: &TestNode, calls: &[(&str, &str)]) -> Value {
    let url = format!("http://{}/mcp/asking", node.agent);
    let python2 = peers.path("PEERS_PY_MCP2").unwrap().to_path_buf();
    let client = repo_root().join("tests/peers/examples/mcp2_input_client.py");
    let mut command = Command::new(python2);
    command.arg(client).args(["--url", &url, "--token", TOKEN]);
    for (name, arguments) in calls {
        command.args(["--call", name, arguments]);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_modern_client_answers_a_session_era_servers_questions_through_the_gateway() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let upstream = py::stdio_upstream(&peers, "PEERS_PY_MCP1", "mcp1_asking_server.py");
    let node = start(&upstream, POLICY, "ir").await;
    let calls = [
        ("confirm_delete", r#"{"path": "notes.txt"}"#),
        ("summarize", r#"{"text": "a long day"}"#),
        ("review", r#"{"text": "the plan"}"#),
        ("wipe", "{}"),
    ];
    let out = run_client(&peers, &node, &calls).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_modern_client_answers_a_modern_servers_rounds_in_one_charged_call() {
    let peers = Peers::ensure(&[Component::PyMcp2]).expect("test peers must install");
    let upstream = py::stdio_upstream(&peers, "PEERS_PY_MCP2", "modern_asking_server.py");
    let policy = r#"{"version": "1", "default": "deny",
      "tools": {"confirm": {"limits": [{"rate_limit": "1/minute"}]}}}"#;
    let node = start(&upstream, policy, "held").await;
    let confirm = ("confirm", r#"{"path": "notes.txt"}"#);
    let out = run_client(&peers, &node, &[confirm, confirm]).await;
    // The server's question reached the client's callback under the gateway's state, and the
    // answer reached the server: the first call completes.
    assert_eq!(out["asked"], json!(["elicitation/create"]), "{out:#}");
    let step = |i: usize| json!({"result": out["results"][i].clone()});
    assert_eq!(text(&step(0)), "confirmed notes.txt", "{out:#}");
    // Its retry was not charged again: the second call is the one over the limit.
    assert!(is_error(&step(1)), "{out:#}");
    assert!(text(&step(1)).contains("rate limited"), "{out:#}");
    let decisions: Vec<(String, String)> = node
        .audit_json()
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap_or_default().to_owned(),
                r["decision"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected =
        [("confirm", "allow"), ("confirm", "rate_limited")].map(|(t, d)| (t.to_owned(), d.to_owned()));
    assert_eq!(decisions, expected, "{decisions:?}");
    node.stop().await;
}
