//! The MCP Inspector CLI (a third-party client) through `portcullis serve` over HTTP: it lists the
//! filtered tools, calls an allowed one, and gets its tool-error exit code (5) for a denied one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use portcullis_peers::{Component, Peers};

const EXE: &str = env!("CARGO_BIN_EXE_portcullis");

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_inspector_lists_calls_and_sees_denials_as_tool_errors() {
    let peers = Peers::ensure(&[Component::Inspector]).expect("test peers must install");
    let inspector = peers.path("PEERS_INSPECTOR").unwrap().to_path_buf();
    let dir = std::env::temp_dir().join(format!("portcullis-inspector-{}", std::process::id()));
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        dir.join("policy.json"),
        r#"{"version": "1", "default": "deny", "hide": ["clear_traffic"], "tools": {"echo": {},
            "charge": {"action": "deny", "reason": "no charges from the inspector"}}}"#,
    )
    .unwrap();
    let sha = portcullis_gateway::state::to_hex(&portcullis_gateway::state::hash_token("insp3ct"));
    let config = format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"
[policies.p]
file = "policy.json"
[servers.demo]
upstream = {{ type = "stdio", command = {EXE:?}, args = ["demo-server"] }}
[[grants]]
id = "inspector"
token_sha256 = "{sha}"
server = "demo"
policy = "p"
"#
    );
    std::fs::write(dir.join("portcullis.toml"), config).unwrap();
    let mut child = Command::new(EXE)
        .args([
            "serve",
            "--config",
            dir.join("portcullis.toml").to_str().unwrap(),
            "--log",
            "warn",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let _node = Guard(child);
    let agent = ready
        .trim()
        .strip_prefix("ready agent=")
        .and_then(|r| r.split(' ').next())
        .expect(&ready)
        .to_owned();
    let url = format!("http://{agent}/mcp/demo");

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
