//! Multi round-trip requests through `portcullis run`, with the official Python SDK on both sides: the
//! 2.x client in 2026-07-28 mode launches `portcullis run -- <a 1.x FastMCP stdio server whose tools
//! elicit and sample>`, answers the rounds the gateway makes of those questions through its callbacks,
//! and gets each tool's result. A denied tool stays denied, and each call is audited once however
//! many rounds it took.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::process::Command;

use portcullis_peers::{Component, Peers, repo_root};
use serde_json::{Value, json};
use support::run::{audited, pairs};

const POLICY: &str = r#"{"version": "1", "default": "deny",
  "tools": {"confirm_delete": {}, "summarize": {}, "review": {},
    "wipe": {"action": "deny", "reason": "wiping is not allowed"}}}"#;

fn text(result: &Value) -> &str {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {result}"))
}

#[test]
fn python_modern_client_answers_a_session_era_childs_questions_through_portcullis_run() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let dir = support::temp_dir("run-input-rounds");
    let server = repo_root().join("tests/peers/examples/mcp1_asking_server.py");
    let python1 = peers.path("PEERS_PY_MCP1").unwrap().display().to_string();
    let server = server.display().to_string();
    let command = support::run::command(&dir, POLICY, &["--", &python1, &server]);
    let output = Command::new(peers.path("PEERS_PY_MCP2").unwrap())
        .arg(repo_root().join("tests/peers/examples/mcp2_input_client.py"))
        .args(["--call", "confirm_delete", r#"{"path": "notes.txt"}"#])
        .args(["--call", "summarize", r#"{"text": "a long day"}"#])
        .args(["--call", "review", r#"{"text": "the plan"}"#])
        .args(["--call", "wipe", "{}"])
        .args(["--stdio", "--"])
        .args(&command)
        .current_dir(&dir)
        .output()
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
    // And every answer reached the server.
    let results = &out["results"];
    assert_eq!(text(&results[0]), "delete notes.txt: yes", "{out:#}");
    assert_eq!(
        text(&results[1]),
        "summary: sampled summarize: a long day",
        "{out:#}"
    );
    assert_eq!(
        text(&results[2]),
        "confirmed yes, review: sampled review: the plan",
        "{out:#}"
    );
    assert_eq!(results[3]["isError"], true, "{out:#}");
    assert_eq!(
        text(&results[3]),
        "[POLICY DENIED] wiping is not allowed",
        "{out:#}"
    );
    // One decision per call, however many rounds it took.
    assert_eq!(
        audited(&dir),
        pairs(&[
            ("confirm_delete", "allow"),
            ("summarize", "allow"),
            ("review", "allow"),
            ("wipe", "deny")
        ])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
