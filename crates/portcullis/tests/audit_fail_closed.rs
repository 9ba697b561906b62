//! A node whose audit log cannot be written (a full disk: /dev/full) fails closed: once the write fails,
//! calls are refused with a clear error instead of running unaudited. Both audit modes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_portcullis");

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(wait_for_sync: bool) -> (Guard, String) {
    let dir = std::env::temp_dir().join(format!("portcullis-full-{}-{wait_for_sync}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policy.json"),
        r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#,
    )
    .unwrap();
    let sha = portcullis_gateway::state::to_hex(&portcullis_gateway::state::hash_token("t0ken"));
    let config = format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"
[audit]
path = "/dev/full"
wait_for_sync = {wait_for_sync}
[policies.p]
file = "policy.json"
[servers.demo]
upstream = {{ type = "stdio", command = {EXE:?}, args = ["demo-server"] }}
[[grants]]
id = "agent"
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
            "off",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let agent = ready
        .trim()
        .strip_prefix("ready agent=")
        .and_then(|r| r.split(' ').next())
        .expect(&ready)
        .to_owned();
    (Guard(child), agent)
}

async fn refused_after_the_first_write(agent: &str) {
    let target = Target {
        url: format!("http://{agent}/mcp/demo"),
        token: Some("t0ken".into()),
        era: Era::Session,
    };
    let mut session = McpSession::open(&target).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = session
            .request("tools/call", json!({"name": "echo", "arguments": {"text": "hi"}}))
            .await
            .unwrap();
        if let Some(message) = reply["error"]["message"].as_str() {
            assert!(message.contains("audit"), "{reply}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "calls kept running without an audit log: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And it stays closed.
    let again = session
        .request("tools/call", json!({"name": "echo", "arguments": {"text": "hi"}}))
        .await
        .unwrap();
    assert!(
        again["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("audit")),
        "{again}"
    );
}

#[tokio::test]
async fn a_full_disk_fails_calls_closed_when_answers_wait_for_the_log() {
    let (_node, agent) = start(true);
    refused_after_the_first_write(&agent).await;
}

#[tokio::test]
async fn a_full_disk_fails_calls_closed_when_the_log_is_written_behind_the_answers() {
    let (_node, agent) = start(false);
    refused_after_the_first_write(&agent).await;
}
