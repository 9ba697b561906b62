//! Multi round-trip requests through `portcullis run`, with the official Python SDK 2.x client
//! answering through its callbacks. In 2026-07-28 mode it launches `portcullis run -- <a 1.x FastMCP
//! stdio server whose tools elicit and sample>` and answers the `InputRequiredResult` rounds the
//! gateway makes of those questions; a denied tool stays denied, and each call is audited once however
//! many rounds it took. In front of a 2026-07-28-only server (`modern_asking_server.py`), a legacy
//! (session-era) client gets the server's input requests as server→client requests, and a 2026-07-28
//! client its `InputRequiredResult` under the gateway's `requestState`; either way one decision.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::path::Path;
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

/// Runs the SDK client in `mode`, calling each of `calls` through `portcullis run` (policy `policy`,
/// audit in `dir`) wrapping `upstream`, and returns what it printed.
fn run_client(
    peers: &Peers,
    dir: &Path,
    mode: &str,
    calls: &[(&str, &str)],
    policy: &str,
    upstream: &[&str],
) -> Value {
    let command = support::run::command(dir, policy, upstream);
    let mut client = Command::new(peers.path("PEERS_PY_MCP2").unwrap());
    client
        .arg(repo_root().join("tests/peers/examples/mcp2_input_client.py"))
        .args(["--mode", mode]);
    for (name, arguments) in calls {
        client.args(["--call", name, arguments]);
    }
    let output = client
        .args(["--stdio", "--"])
        .args(&command)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn python_modern_client_answers_a_session_era_childs_questions_through_portcullis_run() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let dir = support::temp_dir("run-input-rounds");
    let python1 = peers.path("PEERS_PY_MCP1").unwrap().display().to_string();
    let server = repo_root().join("tests/peers/examples/mcp1_asking_server.py");
    let server = server.display().to_string();
    let calls = [
        ("confirm_delete", r#"{"path": "notes.txt"}"#),
        ("summarize", r#"{"text": "a long day"}"#),
        ("review", r#"{"text": "the plan"}"#),
        ("wipe", "{}"),
    ];
    let out = run_client(
        &peers,
        &dir,
        "2026-07-28",
        &calls,
        POLICY,
        &["--", &python1, &server],
    );
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

#[test]
fn python_clients_of_a_modern_only_child_answer_its_input_rounds_through_portcullis_run() {
    let peers = Peers::ensure(&[Component::PyMcp2]).expect("test peers must install");
    let python2 = peers.path("PEERS_PY_MCP2").unwrap().display().to_string();
    let server = repo_root().join("tests/peers/examples/modern_asking_server.py");
    let server = server.display().to_string();
    let policy = r#"{"version": "1", "default": "deny", "tools": {"confirm": {}}}"#;
    let calls = [("confirm", r#"{"path": "notes.txt"}"#)];
    for mode in ["legacy", "2026-07-28"] {
        let dir = support::temp_dir(&format!("run-input-rounds-{mode}"));
        let out = run_client(&peers, &dir, mode, &calls, policy, &["--", &python2, &server]);
        assert_eq!(out["asked"], json!(["elicitation/create"]), "{mode}: {out:#}");
        assert_eq!(text(&out["results"][0]), "confirmed notes.txt", "{mode}: {out:#}");
        // One decision either way: a session-era client sees one call (the gateway asked it and
        // retried upstream); a 2026-07-28 client's retry continues the call the gateway held.
        assert_eq!(audited(&dir), pairs(&[("confirm", "allow")]), "{mode}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
