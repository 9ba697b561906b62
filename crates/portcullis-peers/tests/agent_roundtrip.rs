//! The harness itself: peers install, and the scripted agent talks to a real Python MCP server in every
//! SDK mode. Gateway tests build on exactly this.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_peers::{Agent, ChildGuard, Component, Peers, Sdk, Step, repo_root};
use serde_json::json;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server on port {port} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_agent_speaks_every_sdk_mode_to_a_real_server() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let port = free_port();
    let server = Command::new(peers.path("PEERS_PY_MCP2").unwrap())
        .arg(repo_root().join("tests/peers/examples/mcp2_server.py"))
        .args(["--http", "--port", &port.to_string(), "--token", "s3cret"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = ChildGuard::new(server);
    wait_for_port(port);
    let url = format!("http://127.0.0.1:{port}/mcp");

    for (sdk, era) in [
        (Sdk::Modern, "2026-07-28"),
        (Sdk::Legacy, "2025-11-25"),
        (Sdk::V1, "2025-11-25"),
    ] {
        let agent = Agent::http(&peers, sdk, &url, Some("s3cret")).unwrap();
        let out = agent.run(&[Step::List, Step::Call("add", json!({"a": 2, "b": 3}))]);
        assert_eq!(
            out[0]["tools"],
            json!(["add", "fail", "whoami"]),
            "{sdk:?}: {out:?}"
        );
        assert_eq!(out[1]["result"]["content"][0]["text"], "5", "{sdk:?}: {out:?}");
        assert_eq!(out[2]["protocol_version"], era, "{sdk:?}: {out:?}");
    }
    let wrong_token = Agent::http(&peers, Sdk::V1, &url, Some("wrong"))
        .unwrap()
        .run(&[Step::List]);
    assert!(
        wrong_token
            .iter()
            .any(|l| l["error"]["message"].as_str().is_some_and(|m| m.contains("401"))),
        "{wrong_token:?}"
    );
}
