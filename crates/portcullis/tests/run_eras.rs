//! The era matrix of the stdio front: {2026-07-28 client, session-era client} × {session-era upstream,
//! 2026-07-28-only upstream} × {child process, `--upstream URL`}. In every cell the official Python
//! SDK (2.x, its stdio transport pinned to one era) launches `portcullis run`, lists (filtered by the
//! policy), makes an allowed call and is denied a forbidden one with the policy's reason. The SDK's
//! 2026-07-28 pin sends no `server/discover`; its auto mode does (and falls back to `initialize` on
//! an error), so one auto cell proves the gateway answers it in front of a session-era child.
//!
//! The session-era upstream is the Python SDK 1.x server (`mcp1_server.py`: stdio, or Streamable
//! HTTP); the 2026-07-28-only one is `portcullis demo-server --modern-only` (stdio, or HTTP).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use portcullis_peers::{Agent, ChildGuard, Component, Peers, Sdk, Step, repo_root};
use serde_json::{Value, json};
use support::EXE;
use support::demo::HttpDemo;
use support::run::{audited, pairs};

/// One policy for both upstreams' tools: the Python server's `add`/`fail`/`whoami`, the demo's
/// `echo`/`charge`/`clear_traffic`.
const POLICY: &str = r#"{"version": "1", "default": "deny", "hide": ["whoami", "clear_traffic"],
  "tools": {"add": {}, "echo": {},
    "fail": {"action": "deny", "reason": "not from a desktop agent"},
    "charge": {"action": "deny", "reason": "not from a desktop agent"}}}"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upstream {
    SessionEra,
    ModernOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Child,
    Url,
}

/// The tools a cell lists and calls: (allowed, its arguments, the text its result holds), denied,
/// hidden.
struct Tools {
    allowed: (&'static str, Value, &'static str),
    denied: &'static str,
    hidden: &'static str,
}

fn tools(upstream: Upstream) -> Tools {
    match upstream {
        Upstream::SessionEra => Tools {
            allowed: ("add", json!({"a": 2, "b": 40}), "42"),
            denied: "fail",
            hidden: "whoami",
        },
        Upstream::ModernOnly => Tools {
            allowed: ("echo", json!({"text": "across eras"}), "across eras"),
            denied: "charge",
            hidden: "clear_traffic",
        },
    }
}

/// A Python SDK 1.x server over Streamable HTTP on a free loopback port, ended by its pid on drop.
fn python_http(peers: &Peers) -> (ChildGuard, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = ChildGuard::new(
        Command::new(peers.path("PEERS_PY_MCP1").unwrap())
            .arg(repo_root().join("tests/peers/examples/mcp1_server.py"))
            .args(["--http", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.child_mut().stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Warnings may come first; the server exits (ending the lines) when it cannot start.
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("READY ").map(str::to_owned))
        .expect("the Python server printed no READY line");
    (child, url)
}

fn cell(client: Sdk, upstream: Upstream, transport: Transport) {
    let name = format!("{client:?}-{upstream:?}-{transport:?}");
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let dir = support::temp_dir(&format!("eras-{name}"));
    let mut _server = None;
    let mut _demo = None;
    let wrapped: Vec<String> = match (upstream, transport) {
        (Upstream::SessionEra, Transport::Child) => vec![
            "--".to_owned(),
            peers.path("PEERS_PY_MCP1").unwrap().display().to_string(),
            repo_root()
                .join("tests/peers/examples/mcp1_server.py")
                .display()
                .to_string(),
        ],
        (Upstream::ModernOnly, Transport::Child) => vec![
            "--".to_owned(),
            EXE.to_owned(),
            "demo-server".to_owned(),
            "--modern-only".to_owned(),
        ],
        (Upstream::SessionEra, Transport::Url) => {
            let (server, url) = python_http(&peers);
            _server = Some(server);
            vec!["--upstream".to_owned(), url]
        }
        (Upstream::ModernOnly, Transport::Url) => {
            let demo = HttpDemo::start(&["--modern-only"]);
            let url = demo.url.clone();
            _demo = Some(demo);
            vec!["--upstream".to_owned(), url]
        }
    };
    let wrapped: Vec<&str> = wrapped.iter().map(String::as_str).collect();
    let command = support::run::command(&dir, POLICY, &wrapped);
    let tools = tools(upstream);
    let plan = [
        Step::List,
        Step::Call(tools.allowed.0, tools.allowed.1.clone()),
        Step::Call(tools.denied, json!({})),
    ];
    let lines = Agent::stdio(&peers, client, &command).unwrap().run(&plan);
    let listed: Vec<&str> = lines[0]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: {lines:?}"))
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&tools.allowed.0) && listed.contains(&tools.denied),
        "{name}: {listed:?}"
    );
    assert!(!listed.contains(&tools.hidden), "{name}: {listed:?}");
    let called = &lines[1]["result"];
    assert_ne!(called["isError"], true, "{name}: {}", lines[1]);
    assert!(
        called["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains(tools.allowed.2)),
        "{name}: {}",
        lines[1]
    );
    assert_eq!(lines[2]["result"]["isError"], true, "{name}: {}", lines[2]);
    assert_eq!(
        lines[2]["result"]["content"][0]["text"], "[POLICY DENIED] not from a desktop agent",
        "{name}"
    );
    assert_eq!(lines[3]["op"], "done", "{name}: {lines:?}");
    // The client kept its own era whatever the upstream speaks (in auto mode: the gateway answered its
    // `server/discover`, so it never fell back to `initialize`).
    let spoke = lines[3]["protocol_version"].as_str().unwrap_or_default();
    assert_eq!(
        spoke == "2026-07-28",
        client != Sdk::Legacy,
        "{name} spoke {spoke:?}"
    );
    assert_eq!(
        audited(&dir),
        pairs(&[(tools.allowed.0, "allow"), (tools.denied, "deny")]),
        "{name}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn modern_client_session_era_child() {
    cell(Sdk::Modern, Upstream::SessionEra, Transport::Child);
}

#[test]
fn auto_client_session_era_child() {
    cell(Sdk::Auto, Upstream::SessionEra, Transport::Child);
}

#[test]
fn modern_client_modern_only_child() {
    cell(Sdk::Modern, Upstream::ModernOnly, Transport::Child);
}

#[test]
fn legacy_client_session_era_child() {
    cell(Sdk::Legacy, Upstream::SessionEra, Transport::Child);
}

#[test]
fn legacy_client_modern_only_child() {
    cell(Sdk::Legacy, Upstream::ModernOnly, Transport::Child);
}

#[test]
fn modern_client_session_era_url() {
    cell(Sdk::Modern, Upstream::SessionEra, Transport::Url);
}

#[test]
fn modern_client_modern_only_url() {
    cell(Sdk::Modern, Upstream::ModernOnly, Transport::Url);
}

#[test]
fn legacy_client_session_era_url() {
    cell(Sdk::Legacy, Upstream::SessionEra, Transport::Url);
}

#[test]
fn legacy_client_modern_only_url() {
    cell(Sdk::Legacy, Upstream::ModernOnly, Transport::Url);
}
