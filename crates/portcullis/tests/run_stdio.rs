//! `portcullis run`: the stdio front as a real client launches it. The Python SDK's stdio client and the
//! MCP Inspector CLI (third-party clients) list and call through it in front of the demo server over
//! stdio, and through `--upstream` in front of the demo server over Streamable HTTP; the policy filters
//! the list and denies, and the audit log records every decision.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use portcullis_peers::{Agent, Component, Peers, Sdk, Step};
use serde_json::{Value, json};
use support::EXE;
use support::demo::HttpDemo;
use support::run::{audited, pairs};

const POLICY: &str = r#"{"version": "1", "default": "deny", "hide": ["clear_traffic"],
  "tools": {"echo": {}, "charge": {"action": "deny", "reason": "no charges from a desktop agent"}}}"#;

/// `portcullis run` with the test policy and an audit log in `dir`, wrapping `upstream`.
fn run_command(dir: &Path, upstream: &[&str]) -> Vec<String> {
    support::run::command(dir, POLICY, upstream)
}

fn plan() -> Vec<Step> {
    vec![
        Step::List,
        Step::Call("echo", json!({"text": "through portcullis run"})),
        Step::Call("charge", json!({"amount": 5, "currency": "usd"})),
    ]
}

/// Checks an agent's transcript of [`plan`]: a filtered list, the allowed call's result, the denial.
fn assert_enforced(lines: &[Value]) {
    let tools: Vec<&str> = lines[0]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{lines:?}"))
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tools.contains(&"echo") && tools.contains(&"charge"), "{tools:?}");
    assert!(
        !tools.contains(&"clear_traffic") && !tools.contains(&"replay_flow"),
        "{tools:?}"
    );
    let echoed = lines[1]["result"].to_string();
    assert!(echoed.contains("through portcullis run"), "{}", lines[1]);
    assert_eq!(lines[2]["result"]["isError"], true, "{}", lines[2]);
    assert_eq!(
        lines[2]["result"]["content"][0]["text"],
        "[POLICY DENIED] no charges from a desktop agent"
    );
    assert_eq!(lines[3]["op"], "done", "{lines:?}");
}

#[test]
fn python_sdk_stdio_clients_are_enforced_through_portcullis_run() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    for (sdk, name) in [
        (Sdk::Modern, "py2-modern"),
        (Sdk::Legacy, "py2-legacy"),
        (Sdk::V1, "py1"),
    ] {
        let dir = support::temp_dir(&format!("run-{name}"));
        let command = run_command(&dir, &["--", EXE, "demo-server"]);
        let lines = Agent::stdio(&peers, sdk, &command).unwrap().run(&plan());
        assert_enforced(&lines);
        let era = lines[3]["protocol_version"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(era == "2026-07-28", sdk == Sdk::Modern, "{name} spoke {era}");
        assert_eq!(audited(&dir), pairs(&[("echo", "allow"), ("charge", "deny")]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn portcullis_run_wraps_a_remote_streamable_http_server() {
    let peers = Peers::ensure(&[Component::PyMcp2]).expect("test peers must install");
    let demo = HttpDemo::start(&[]);
    let dir = support::temp_dir("run-upstream");
    let command = run_command(&dir, &["--upstream", &demo.url]);
    let lines = Agent::stdio(&peers, Sdk::Legacy, &command).unwrap().run(&plan());
    assert_enforced(&lines);
    assert_eq!(audited(&dir), pairs(&[("echo", "allow"), ("charge", "deny")]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_inspector_lists_calls_and_sees_denials_through_portcullis_run() {
    let peers = Peers::ensure(&[Component::Inspector]).expect("test peers must install");
    let inspector = peers.path("PEERS_INSPECTOR").unwrap().to_path_buf();
    let dir = support::temp_dir("run-inspector");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = run_command(&dir, &["--", EXE, "demo-server"]);
    let inspect = |args: &[&str]| {
        let output = Command::new(&inspector)
            .args(["--cli", "--transport", "stdio"])
            .args(args)
            .arg("--")
            .args(&server)
            .env("HOME", &home)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stdout, stderr)
    };
    let (code, listed, stderr) = inspect(&["--method", "tools/list"]);
    assert_eq!(code, Some(0), "{listed}\n{stderr}");
    assert!(
        listed.contains("\"echo\"") && listed.contains("\"charge\""),
        "{listed}"
    );
    assert!(!listed.contains("clear_traffic"), "{listed}");

    let (code, called, stderr) = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "echo",
        "--tool-arg",
        "text=inspected over stdio",
    ]);
    assert_eq!(code, Some(0), "{called}\n{stderr}");
    assert!(called.contains("inspected over stdio"), "{called}");

    let (code, denied, _) = inspect(&[
        "--method",
        "tools/call",
        "--tool-name",
        "charge",
        "--tool-arg",
        "amount=5",
        "currency=usd",
    ]);
    assert_eq!(
        code,
        Some(5),
        "a denial is a tool error to the Inspector: {denied}"
    );
    assert!(
        denied.contains("[POLICY DENIED] no charges from a desktop agent"),
        "{denied}"
    );
    assert_eq!(audited(&dir), pairs(&[("echo", "allow"), ("charge", "deny")]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Process ids whose parent is `pid` (from /proc, so no tool is needed).
fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so read after its closing parenthesis.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(1) == Some(pid.to_string().as_str()) {
            found.push(child);
        }
    }
    found
}

fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| !s.contains("State:\tZ"))
}

#[test]
fn portcullis_run_exits_cleanly_on_closed_stdin_or_sigterm_and_ends_its_server() {
    use std::io::Write as _;
    use std::time::{Duration, Instant};

    for how in ["close stdin", "SIGTERM"] {
        let dir = support::temp_dir(&format!("run-end-{}", how.len()));
        let command = run_command(&dir, &["--", EXE, "demo-server"]);
        let mut run = Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = run.stdin.take().unwrap();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
        writeln!(stdin, "{init}").unwrap();
        let mut stdout = BufReader::new(run.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            answer["result"]["serverInfo"]["name"], "portcullis-demo",
            "{line}"
        );
        let server = children_of(run.id());
        assert_eq!(server.len(), 1, "one server process: {server:?}");
        if how == "close stdin" {
            drop(stdin);
        } else {
            let sent = Command::new("kill")
                .args(["-TERM", &run.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = run.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{how}: portcullis run did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{how}: {status:?}");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert_eq!(rest, "", "{how}: nothing but protocol on stdout");
        for _ in 0..100 {
            if !is_running(server[0]) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!is_running(server[0]), "{how}: the server process was ended");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
