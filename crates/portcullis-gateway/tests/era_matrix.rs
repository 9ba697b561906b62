//! The era matrix: {modern (2026-07-28) client, legacy session-era client} × {session-era upstream,
//! modern-only upstream} × {stdio, Streamable HTTP upstream}. In every cell the official Python SDK
//! (2.x, pinned to an era) lists through the gateway (filtered by policy), makes an allowed call and
//! is denied a forbidden one. The upstreams are our own fake, in its session-era and modern-only modes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use portcullis_gateway::config::load_str;
use portcullis_peers::{Agent, Component, Peers, Sdk, Step};
use serde_json::json;
use support::TestNode;
use support::fake_http::FakeHttp;
use support::py::{is_error, sha, text};

#[derive(Clone, Copy, Debug)]
enum Upstream {
    SessionEra,
    ModernOnly,
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Stdio,
    Http,
}

async fn cell(sdk: Sdk, upstream: Upstream, transport: Transport) {
    let name = format!("{sdk:?} client, {upstream:?} upstream over {transport:?}");
    let peers = Peers::ensure(&[Component::PyMcp2]).expect("test peers must install");
    let fake = env!("CARGO_BIN_EXE_portcullis-fake-mcp");
    let (spec, http) = match (transport, upstream) {
        (Transport::Stdio, Upstream::SessionEra) => {
            (format!("{{ type = \"stdio\", command = {fake:?} }}"), None)
        }
        (Transport::Stdio, Upstream::ModernOnly) => (
            format!("{{ type = \"stdio\", command = {fake:?}, args = [\"--modern-only\"] }}"),
            None,
        ),
        (Transport::Http, era) => {
            let http = match era {
                Upstream::SessionEra => FakeHttp::start().await,
                Upstream::ModernOnly => FakeHttp::start_modern_only().await,
            };
            (
                format!("{{ type = \"http\", url = {:?} }}", http.url()),
                Some(http),
            )
        }
    };
    let config = format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[policies.main]
file = "policy.json"

[servers.up]
upstream = {spec}

[[grants]]
id = "agent"
token_sha256 = "{token}"
server = "up"
policy = "main"
"#,
        token = sha("era-token"),
    );
    let dir = std::env::temp_dir().join(format!(
        "portcullis-era-{}-{sdk:?}-{upstream:?}-{transport:?}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), support::POLICY).unwrap();
    let node = TestNode::start_loaded(load_str(&config, &dir).unwrap(), dir, http).await;
    let url = format!("http://{}/mcp/up", node.agent);
    let agent = Agent::http(&peers, sdk, &url, Some("era-token")).unwrap();
    let plan = [
        Step::List,
        Step::Call("read_file", json!({"path": "/x"})),
        Step::Call("delete_file", json!({"path": "/x"})),
    ];
    let out = tokio::task::spawn_blocking(move || agent.run(&plan))
        .await
        .unwrap();
    assert_eq!(out.len(), 4, "{name}: {out:#?}");
    // The first page, filtered: drop_table is hidden.
    assert_eq!(
        out[0]["tools"],
        json!(["read_file", "write_file", "delete_file"]),
        "{name}: {out:#?}"
    );
    assert!(!is_error(&out[1]), "{name}: {out:#?}");
    assert_eq!(text(&out[1]), r#"read_file ran with {"path":"/x"}"#, "{name}");
    assert!(is_error(&out[2]), "{name}: {out:#?}");
    assert_eq!(
        text(&out[2]),
        "[POLICY DENIED] deleting files is not allowed here",
        "{name}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_client_session_era_upstream_stdio() {
    cell(Sdk::Modern, Upstream::SessionEra, Transport::Stdio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_client_session_era_upstream_http() {
    cell(Sdk::Modern, Upstream::SessionEra, Transport::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_client_session_era_upstream_stdio() {
    cell(Sdk::Legacy, Upstream::SessionEra, Transport::Stdio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_client_session_era_upstream_http() {
    cell(Sdk::Legacy, Upstream::SessionEra, Transport::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_client_modern_only_upstream_stdio() {
    cell(Sdk::Modern, Upstream::ModernOnly, Transport::Stdio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_client_modern_only_upstream_http() {
    cell(Sdk::Modern, Upstream::ModernOnly, Transport::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_client_modern_only_upstream_stdio() {
    cell(Sdk::Legacy, Upstream::ModernOnly, Transport::Stdio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_client_modern_only_upstream_http() {
    cell(Sdk::Legacy, Upstream::ModernOnly, Transport::Http).await;
}
