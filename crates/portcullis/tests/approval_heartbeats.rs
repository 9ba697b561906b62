//! Heartbeats for a parked call: when the agent's `tools/call` carries a progress token and it accepts
//! SSE, the answer streams at once with `notifications/progress` naming the approval, until an approver
//! on another node decides and the real result ends the stream. Without a token, or when nothing
//! parks, the answer is the plain JSON it always was. The official Python SDK (both eras) hears the
//! heartbeats through its `progress_callback`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis_peers::{Agent as PyAgent, Component, Peers, Sdk, Step};
use serde_json::{Value, json};
use support::admin_cluster::{AGENT_TOKEN, APPROVER_TOKEN, Cluster, ClusterNode, PATIENCE};
use support::approvals::{approvals, decide, pending, require_approvals, text_of};

const VERSION: &str = "2025-11-25";

/// A session-era agent speaking raw HTTP, so the test sees each SSE event as it arrives.
struct Agent {
    http: Client<HttpConnector, Full<Bytes>>,
    url: String,
    session: String,
}

impl Agent {
    async fn open(node: &ClusterNode) -> Self {
        let mut agent = Self {
            http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            url: node.mcp_url(),
            session: String::new(),
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": VERSION, "capabilities": {},
            "clientInfo": {"name": "heartbeat-test", "version": "1"}}});
        let response = agent.post(&init).await;
        assert!(response.status().is_success(), "{:?}", response.status());
        agent.session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let _ = response.into_body().collect().await.unwrap();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let _ = agent.post(&initialized).await.into_body().collect().await;
        agent
    }

    async fn post(&self, message: &Value) -> Response<Incoming> {
        let mut request = Request::post(&self.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::AUTHORIZATION, format!("Bearer {AGENT_TOKEN}"));
        if !self.session.is_empty() {
            request = request
                .header("mcp-session-id", &self.session)
                .header("mcp-protocol-version", VERSION);
        }
        let request = request.body(Full::new(Bytes::from(message.to_string()))).unwrap();
        self.http.request(request).await.unwrap()
    }

    /// Starts `tool(arguments)`, with `_meta.progressToken` when `token` is given.
    async fn call(&self, tool: &str, arguments: Value, token: Option<&str>) -> Response<Incoming> {
        let mut params = json!({"name": tool, "arguments": arguments});
        if let Some(token) = token {
            params["_meta"] = json!({"progressToken": token});
        }
        self.post(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}))
            .await
    }
}

fn content_type(response: &Response<Incoming>) -> String {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Reads an SSE body event by event, as it arrives.
struct Events {
    body: Incoming,
    buffer: String,
}

impl Events {
    /// The next message (keep-alive comments skipped); bounded by [`PATIENCE`].
    async fn next(&mut self) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                if data.is_empty() {
                    continue;
                }
                return serde_json::from_str(&data).unwrap();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.body.frame())
                .await
                .expect("no SSE event in time")
                .expect("the stream ended early")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_call_with_a_progress_token_gets_heartbeats_until_approved() {
    let cluster = Cluster::start_with(
        "approval-heartbeats",
        2,
        "\n[limits]\napproval_heartbeat_secs = 1\n",
    );
    require_approvals(&cluster).await;
    let agent = Agent::open(cluster.node(1)).await;

    // A call that does not park answers plain JSON at once, token or not.
    let denied = agent.call("not_listed", json!({}), Some("t-0")).await;
    assert!(content_type(&denied).starts_with("application/json"));
    let reply: Value =
        serde_json::from_slice(&denied.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(text_of(&reply).1, "{reply}");

    // Parked with a token: the answer streams at once, with heartbeats naming the approval.
    let response = agent
        .call("echo", json!({"text": "heartbeats"}), Some("hb-1"))
        .await;
    assert!(
        content_type(&response).starts_with("text/event-stream"),
        "{}",
        content_type(&response)
    );
    let approval = pending(cluster.node(2), "echo").await;
    let mut events = Events {
        body: response.into_body(),
        buffer: String::new(),
    };
    let mut last = 0;
    for _ in 0..2 {
        let beat = events.next().await;
        assert_eq!(beat["method"], "notifications/progress", "{beat}");
        assert_eq!(beat["params"]["progressToken"], "hb-1");
        let progress = beat["params"]["progress"].as_u64().unwrap();
        assert!(progress > last, "progress went from {last} to {progress}");
        last = progress;
        let message = beat["params"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("waiting for approval {} (expires in", approval.id)),
            "{message}"
        );
    }
    // Approved on the other node: the upstream's real answer ends the stream.
    approvals(cluster.node(2), APPROVER_TOKEN)
        .approve(decide(&approval.id, "fine"))
        .await
        .unwrap();
    let reply = loop {
        let message = events.next().await;
        if message.get("id").is_some() {
            break message;
        }
        assert_eq!(message["method"], "notifications/progress", "{message}");
    };
    assert_eq!(text_of(&reply), ("heartbeats".to_owned(), false));

    // Without a token the parked call stays a plain JSON answer.
    let plain = tokio::spawn(async move {
        let response = agent.call("echo", json!({"text": "no token"}), None).await;
        let kind = content_type(&response);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (kind, serde_json::from_slice::<Value>(&body).unwrap())
    });
    let approval = pending(cluster.node(2), "echo").await;
    approvals(cluster.node(2), APPROVER_TOKEN)
        .approve(decide(&approval.id, "fine"))
        .await
        .unwrap();
    let (kind, reply) = tokio::time::timeout(PATIENCE, plain).await.unwrap().unwrap();
    assert!(kind.starts_with("application/json"), "{kind}");
    assert_eq!(text_of(&reply), ("no token".to_owned(), false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_hears_heartbeats_in_both_eras() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let cluster = Cluster::start_with(
        "approval-heartbeats-py",
        2,
        "\n[limits]\napproval_heartbeat_secs = 1\n",
    );
    require_approvals(&cluster).await;
    for (sdk, text) in [(Sdk::V1, "session era"), (Sdk::Modern, "stateless era")] {
        let agent = PyAgent::http(&peers, sdk, &cluster.node(1).mcp_url(), Some(AGENT_TOKEN)).unwrap();
        let run = tokio::task::spawn_blocking(move || {
            agent.run(&[Step::CallWithProgress("echo", json!({"text": text}))])
        });
        let approval = pending(cluster.node(2), "echo").await;
        // Time for at least two one-second heartbeats before the decision.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        approvals(cluster.node(2), APPROVER_TOKEN)
            .approve(decide(&approval.id, "fine"))
            .await
            .unwrap();
        let lines = tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
        let call = &lines[0];
        assert_eq!(call["op"], "call", "{sdk:?}: {lines:?}");
        assert_eq!(call["result"]["content"][0]["text"], text, "{sdk:?}: {call}");
        let beats = call["progress"].as_array().unwrap();
        assert!(beats.len() >= 2, "{sdk:?}: {beats:?}");
        let waiting = format!("waiting for approval {}", approval.id);
        for (n, beat) in beats.iter().enumerate() {
            assert_eq!(
                beat["progress"].as_f64(),
                Some(n as f64 + 1.0),
                "{sdk:?}: {beats:?}"
            );
            assert!(
                beat["message"].as_str().is_some_and(|m| m.starts_with(&waiting)),
                "{sdk:?}: {beat}"
            );
        }
    }
}
