//! The official Python SDK on both sides of the gateway, over Streamable HTTP: a 1.x FastMCP server
//! whose tool samples with `ctx.session.create_message` related to no request, so the SDK sends the
//! request on the standalone GET stream, not on the call's POST stream. Session-era clients (the 2.x
//! client in legacy mode, the 1.x client) with a sampling callback get it through the gateway on
//! their own GET stream; the 2.x client in 2026-07-28 mode gets it as an input request of its call,
//! at `/mcp/<server>` and through the `/mcp` aggregate.
//! Each time the tool returns what the client sampled.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::process::{Command, Output};

use portcullis_gateway::config::load_str;
use portcullis_peers::{Component, Peers, repo_root};
use serde_json::{Value, json};
use support::TestNode;
use support::py;

const POLICY: &str = r#"{"version": "1", "default": "allow"}"#;

const TOKEN: &str = "sampling-token";

/// The grant of two servers (both the same upstream): `/mcp` aggregates them.
const BOTH: &str = "both-token";

fn config(upstream: &str) -> String {
    format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[limits]
upstream_timeout_secs = 15

[policies.main]
file = "policy.json"

[servers.asking]
upstream = {{ type = "http", url = "{upstream}" }}

[servers.again]
upstream = {{ type = "http", url = "{upstream}" }}

[[grants]]
id = "sampling-agent"
token_sha256 = "{sha}"
server = "asking"
policy = "main"

[[grants]]
id = "both"
token_sha256 = "{both}"
servers = ["asking", "again"]
policy = "main"
"#,
        sha = py::sha(TOKEN),
        both = py::sha(BOTH),
    )
}

/// Runs `tests/peers/examples/<script>` with the venv `python` and `args`, off the runtime.
async fn run(peers: &Peers, python: &'static str, script: &str, args: Vec<String>) -> Output {
    let python = peers.path(python).unwrap().to_path_buf();
    let script = repo_root().join("tests/peers/examples").join(script);
    tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(args).output().unwrap())
        .await
        .unwrap()
}

/// The JSON a client script printed, once it succeeded.
fn printed(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_answer_sampling_sent_on_an_http_servers_get_stream_through_the_gateway() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let (_server, upstream) = py::server(
        &peers,
        "PEERS_PY_MCP1",
        "mcp1_asking_server.py",
        &["--http"],
        "/mcp",
    );
    let dir = std::env::temp_dir().join(format!("portcullis-pygs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), POLICY).unwrap();
    let node = TestNode::start_loaded(load_str(&config(&upstream), &dir).unwrap(), dir, None).await;
    let url = format!("http://{}/mcp/asking", node.agent);

    let args = |extra: &[&str]| -> Vec<String> {
        let common = ["--url", url.as_str(), "--token", TOKEN, "--timeout", "25"];
        common.iter().chain(extra).map(|a| (*a).to_owned()).collect()
    };

    // The 2.x client in legacy (session-era) mode.
    let legacy = args(&[
        "--mode",
        "legacy",
        "--call",
        "summarize",
        r#"{"text": "a long day"}"#,
    ]);
    let out = printed(&run(&peers, "PEERS_PY_MCP2", "mcp2_input_client.py", legacy).await);
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out:#}");
    let sampled = &out["results"][0]["content"][0]["text"];
    assert_eq!(sampled, "summary: sampled summarize: a long day", "{out:#}");

    // The 2.x client in 2026-07-28 mode: no stream of its own; the gateway follows the upstream's
    // for the call and asks the question as an input request.
    let modern = args(&["--call", "summarize", r#"{"text": "a short night"}"#]);
    let out = printed(&run(&peers, "PEERS_PY_MCP2", "mcp2_input_client.py", modern).await);
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out:#}");
    let sampled = &out["results"][0]["content"][0]["text"];
    assert_eq!(sampled, "summary: sampled summarize: a short night", "{out:#}");

    // The same through `/mcp`: the member session the call went to follows its upstream's stream.
    let aggregate = format!("http://{}/mcp", node.agent);
    let through = ["--url", aggregate.as_str(), "--token", BOTH, "--timeout", "25"]
        .iter()
        .chain(&["--call", "again__summarize", r#"{"text": "a quiet walk"}"#])
        .map(|a| (*a).to_owned())
        .collect();
    let out = printed(&run(&peers, "PEERS_PY_MCP2", "mcp2_input_client.py", through).await);
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out:#}");
    let sampled = &out["results"][0]["content"][0]["text"];
    assert_eq!(sampled, "summary: sampled summarize: a quiet walk", "{out:#}");

    // The 1.x client.
    let one = args(&[
        "--sampling",
        "--tool",
        "summarize",
        "--args",
        r#"{"text": "the plan"}"#,
    ]);
    let out = printed(&run(&peers, "PEERS_PY_MCP1", "mcp1_client.py", one).await);
    assert_eq!(
        out["result"]["content"][0]["text"], "summary: sampled summarize: the plan",
        "{out:#}"
    );
    assert_eq!(out["result"]["isError"], false, "{out:#}");
    node.stop().await;
}
