//! The MCP Inspector CLI (a third-party client) through `portcullis serve` over HTTP: it lists the
//! filtered tools, calls an allowed one, and gets its tool-error exit code (5) for a denied one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::process::{Command, Output};

use portcullis_peers::{Component, Peers};
use support::Node;

#[test]
fn the_inspector_lists_calls_and_sees_denials_as_tool_errors() {
    let peers = Peers::ensure(&[Component::Inspector]).expect("test peers must install");
    let inspector = peers.path("PEERS_INSPECTOR").unwrap().to_path_buf();
    let dir = support::temp_dir("inspector");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        dir.join("policy.json"),
        r#"{"version": "1", "default": "deny", "hide": ["clear_traffic"], "tools": {"echo": {},
            "charge": {"action": "deny", "reason": "no charges from the inspector"}}}"#,
    )
    .unwrap();
    let config = format!(
        "[listeners]\nagent = \"127.0.0.1:0\"\nops = \"127.0.0.1:0\"\n[policies.p]\nfile = \"policy.json\"\n{server}\
         [[grants]]\nid = \"inspector\"\ntoken_sha256 = \"{sha}\"\nserver = \"demo\"\npolicy = \"p\"\n",
        server = support::demo_server(),
        sha = support::token_sha("insp3ct"),
    );
    let node = Node::serve(&dir, &config);
    let url = node.url("demo");

    let inspect = |args: &[&str]| -> Output {
        Command::new(&inspector)
            .args([
                "--cli",
                "--server-url",
                &url,
                "--transport",
                "http",
                "--header",
                "Authorization: Bearer insp3ct",
            ])
            .args(args)
            .env("HOME", &home)
            .output()
            .unwrap()
    };
    let listed = inspect(&["--method", "tools/list"]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        listed.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        stdout.contains("\"echo\"") && stdout.contains("\"charge\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("clear_traffic") && !stdout.contains("replay_flow"),
        "{stdout}"
    );

    let called = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "echo",
        "--tool-arg",
        "text=through the gateway",
    ]);
    assert_eq!(
        called.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&called.stderr)
    );
    assert!(String::from_utf8_lossy(&called.stdout).contains("through the gateway"));

    let denied = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "charge",
        "--tool-arg",
        "amount=5",
        "currency=usd",
    ]);
    assert_eq!(
        denied.status.code(),
        Some(5),
        "a denial is a tool error to the Inspector"
    );
    assert!(
        String::from_utf8_lossy(&denied.stdout).contains("[POLICY DENIED] no charges from the inspector")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
