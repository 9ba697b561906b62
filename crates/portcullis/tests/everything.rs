//! @modelcontextprotocol/server-everything (stdio, one process per session) behind `portcullis serve`,
//! driven by the official Python SDK: its list_changed notifications, long-running progress, simulated
//! logging, resource updates and a sampling round trip all reach the agent through the gateway.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::process::Command;

use portcullis_peers::{Component, Peers, repo_root};
use serde_json::Value;
use support::Node;

#[test]
fn server_everything_notifications_and_requests_cross_the_gateway() {
    let peers = Peers::ensure(&[Component::Everything, Component::PyMcp1]).expect("test peers must install");
    let everything = peers.path("PEERS_EVERYTHING").unwrap().display().to_string();
    let dir = support::temp_dir("everything");
    // Everything allowed except reading the server's environment, which is hidden.
    std::fs::write(
        dir.join("policy.json"),
        r#"{"version": "1", "default": "allow", "hide": ["get-env"]}"#,
    )
    .unwrap();
    let config = format!(
        "[listeners]\nagent = \"127.0.0.1:0\"\nops = \"127.0.0.1:0\"\n[policies.p]\nfile = \"policy.json\"\n\
         [servers.everything]\nupstream = {{ type = \"stdio\", command = {everything:?}, args = [\"stdio\"] }}\n\
         [[grants]]\nid = \"probe\"\ntoken_sha256 = \"{sha}\"\nserver = \"everything\"\npolicy = \"p\"\n",
        sha = support::token_sha("ev3rything"),
    );
    let node = Node::serve(&dir, &config);
    let output = Command::new(peers.path("PEERS_PY_MCP1").unwrap())
        .arg(repo_root().join("tests/peers/examples/everything_probe.py"))
        .args(["--url", &node.url("everything"), "--token", "ev3rything"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let probe: Value = serde_json::from_str(&stdout).unwrap();

    let after_init: Vec<&str> = probe["notifications_after_initialize"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        after_init.contains(&"notifications/tools/list_changed"),
        "{probe:#}"
    );
    assert!(
        probe["tools"].get("get-sum").is_some() && probe["tools"].get("get-env").is_none(),
        "{probe:#}"
    );

    let long = &probe["trigger-long-running-operation"];
    assert_eq!(long["progress"].as_array().unwrap().len(), 3, "{long:#}");
    assert!(
        long["result"]
            .as_str()
            .unwrap()
            .starts_with("Long running operation completed"),
        "{long:#}"
    );

    let logging = &probe["toggle-simulated-logging"]["notifications"];
    assert!(
        logging
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "notifications/message"),
        "{probe:#}"
    );
    let updates = &probe["toggle-subscriber-updates"]["notifications"];
    assert!(
        updates
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "notifications/resources/updated"),
        "{probe:#}"
    );
    assert!(
        probe["trigger-sampling-request"]["result"][0]["text"]
            .as_str()
            .unwrap()
            .contains("sampled!"),
        "{probe:#}"
    );
    assert_eq!(probe["get-sum"], "The sum of 1 and 2 is 3.", "{probe:#}");
}
