//! Python peers for the gateway's tests: servers started on a free loopback port, and reading the
//! agent's step lines.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_peers::{ChildGuard, Peers, repo_root};
use serde_json::Value;

/// A free port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `tests/peers/examples/<script> <args> --port N` with the venv `python` (a `PEERS_PY_*` key)
/// and waits until it accepts connections; returns it and `http://127.0.0.1:N<path>`.
pub fn server(
    peers: &Peers,
    python: &'static str,
    script: &str,
    args: &[&str],
    path: &str,
) -> (ChildGuard, String) {
    let port = free_port();
    let child = Command::new(peers.path(python).unwrap())
        .arg(repo_root().join("tests/peers/examples").join(script))
        .args(args)
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard::new(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{script} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, format!("http://127.0.0.1:{port}{path}"))
}

/// A config's stdio upstream running `tests/peers/examples/<script>` with the venv `python` (a
/// `PEERS_PY_*` key), as a TOML inline table: `{ type = "stdio", command = .., args = [..] }`.
pub fn stdio_upstream(peers: &Peers, python: &'static str, script: &str) -> String {
    let command = peers.path(python).unwrap().display().to_string();
    let script = repo_root()
        .join("tests/peers/examples")
        .join(script)
        .display()
        .to_string();
    format!("{{ type = \"stdio\", command = {command:?}, args = [{script:?}] }}")
}

/// The first text of a step's tool result.
pub fn text(step: &Value) -> &str {
    step["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {step}"))
}

/// Whether a step's tool result is an error.
pub fn is_error(step: &Value) -> bool {
    step["result"]["isError"]
        .as_bool()
        .unwrap_or_else(|| panic!("not a tool result: {step}"))
}

/// The SHA-256 hex of a token, as grants are written.
pub fn sha(token: &str) -> String {
    portcullis_gateway::state::to_hex(&portcullis_gateway::state::hash_token(token))
}
