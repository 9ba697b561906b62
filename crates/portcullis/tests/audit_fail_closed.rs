//! A node whose audit log cannot be written (a full disk: /dev/full) fails closed: once the write fails,
//! calls are refused with a clear error instead of running unaudited. Both audit modes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use serde_json::json;
use support::Node;

fn start(wait_for_sync: bool) -> Node {
    let dir = support::temp_dir(&format!("full-{wait_for_sync}"));
    std::fs::write(
        dir.join("policy.json"),
        r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#,
    )
    .unwrap();
    let config = format!(
        "[listeners]\nagent = \"127.0.0.1:0\"\nops = \"127.0.0.1:0\"\n\
         [audit]\npath = \"/dev/full\"\nwait_for_sync = {wait_for_sync}\n\
         [policies.p]\nfile = \"policy.json\"\n{server}\
         [[grants]]\nid = \"agent\"\ntoken_sha256 = \"{sha}\"\nserver = \"demo\"\npolicy = \"p\"\n",
        server = support::demo_server(),
        sha = support::token_sha("t0ken"),
    );
    Node::serve(&dir, &config)
}

async fn refused_after_the_first_write(node: &Node) {
    let target = Target {
        url: node.url("demo"),
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
    refused_after_the_first_write(&start(true)).await;
}

#[tokio::test]
async fn a_full_disk_fails_calls_closed_when_the_log_is_written_behind_the_answers() {
    refused_after_the_first_write(&start(false)).await;
}
