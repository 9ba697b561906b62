//! The load generator against a tiny in-process MCP responder on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::time::Duration;

use portcullis_bench::{BenchConfig, Era, Target, compare, run};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Answers MCP over HTTP/1.1 keep-alive: `initialize` with a session id, notifications with 202, tool
/// calls with a result (`isError` when the tool is `fail`). Stateless calls must carry `mcp-method`.
async fn responder() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                loop {
                    let mut length = 0usize;
                    let mut has_method_header = false;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        has_method_header |= lower.starts_with("mcp-method:");
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).await.unwrap();
                    let message: Value = serde_json::from_slice(&body).unwrap();
                    let stateless = message["params"]["_meta"].is_object();
                    let (status, extra, reply) = match message["method"].as_str().unwrap() {
                        "initialize" => (
                            "200 OK",
                            "mcp-session-id: s1\r\n",
                            json!({"jsonrpc": "2.0", "id": message["id"], "result": {}}).to_string(),
                        ),
                        "notifications/initialized" => ("202 Accepted", "", String::new()),
                        "tools/call" if stateless && !has_method_header => {
                            ("400 Bad Request", "", String::new())
                        }
                        "tools/call" => {
                            let failed = message["params"]["name"] == "fail";
                            ("200 OK", "", json!({"jsonrpc": "2.0", "id": message["id"], "result": {"content": [], "isError": failed}}).to_string())
                        }
                        _ => ("404 Not Found", "", String::new()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n",
                        reply.len()
                    );
                    let socket = reader.get_mut();
                    socket.write_all(head.as_bytes()).await.unwrap();
                    socket.write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    url
}

fn config(rate: Option<f64>, tool: &str) -> BenchConfig {
    BenchConfig {
        sessions: 2,
        rate,
        duration: Duration::from_millis(500),
        warmup: Duration::from_millis(100),
        tool: tool.to_owned(),
        args: json!({"text": "hi"}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_sends_about_rate_times_duration_calls() {
    let url = responder().await;
    let target = Target {
        url,
        token: None,
        era: Era::Session,
    };
    let report = run(&config(Some(200.0), "echo"), &target).await.unwrap();
    // 200/s for 0.5 s measured: about 100 calls; bounds leave room for a loaded machine.
    assert!((80..=110).contains(&report.calls()), "{report}");
    assert_eq!(report.ok, report.calls(), "{report}");
    assert!(report.percentile_us(0.5) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_era_and_tool_errors_are_counted_apart() {
    let url = responder().await;
    let target = Target {
        url,
        token: Some("t".into()),
        era: Era::Stateless,
    };
    let report = run(&config(None, "fail"), &target).await.unwrap();
    assert!(report.calls() > 10, "{report}");
    assert_eq!((report.ok, report.failed), (0, 0), "{report}");
    assert_eq!(report.tool_errors, report.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_runs_both_sides_and_a_dead_target_is_an_error() {
    let url = responder().await;
    let a = Target {
        url: url.clone(),
        token: None,
        era: Era::Session,
    };
    let b = Target {
        url,
        token: None,
        era: Era::Stateless,
    };
    let comparison = compare(&config(Some(100.0), "echo"), &a, &b, 2).await.unwrap();
    assert!(
        comparison.a.calls() > 20 && comparison.b.calls() > 20,
        "{comparison}"
    );
    assert!(comparison.to_json()["throughput_ratio"].as_f64().unwrap() > 0.5);
    let dead = Target {
        url: "http://127.0.0.1:9/mcp".into(),
        token: None,
        era: Era::Session,
    };
    assert!(run(&config(None, "echo"), &dead).await.is_err());
    let bad = Target {
        url: "https://x".into(),
        token: None,
        era: Era::Session,
    };
    assert!(run(&config(None, "echo"), &bad).await.is_err());
}
