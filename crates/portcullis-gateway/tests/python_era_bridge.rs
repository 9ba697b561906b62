//! The official Python MCP SDK as the client of an upstream that speaks only 2026-07-28 (the test
//! fake's modern mode), through the gateway: the 2.x agent in legacy mode and the 1.x agent
//! (`initialize`, answered by the gateway from the upstream's `server/discover`) and the 2.x agent in
//! modern mode each list (filtered), call an allowed tool, and are denied a denied one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use portcullis_peers::{Agent, Component, Peers, Sdk, Step};
use serde_json::json;
use support::fake_http::FakeHttp;
use support::{BOB, TestNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agents_of_every_era_reach_a_modern_only_upstream() {
    let peers = Peers::ensure(&[Component::PyMcp2, Component::PyMcp1]).expect("test peers must install");
    let node = TestNode::start_before(FakeHttp::start_modern().await, "").await;
    let url = format!("http://{}/mcp/remote", node.agent);
    for sdk in [Sdk::Legacy, Sdk::V1, Sdk::Modern] {
        let cell = format!("{sdk:?} agent");
        let agent = Agent::http(&peers, sdk, &url, Some(BOB)).unwrap();
        let plan = [
            Step::List,
            Step::Call("read_file", json!({"path": "notes.txt"})),
            Step::Call("delete_file", json!({})),
        ];
        let out = tokio::task::spawn_blocking(move || agent.run(&plan))
            .await
            .unwrap();
        assert_eq!(out.len(), 4, "{cell}: {out:#?}");
        // The first page, filtered: drop_table is hidden.
        assert_eq!(
            out[0]["tools"],
            json!(["read_file", "write_file", "delete_file"]),
            "{cell}: {out:#?}"
        );
        let read = &out[1]["result"];
        assert_eq!(read["isError"], false, "{cell}: {read}");
        assert!(
            read["content"][0]["text"].as_str().unwrap().contains("notes.txt"),
            "{cell}: {read}"
        );
        let denied = &out[2]["result"];
        assert_eq!(denied["isError"], true, "{cell}: {denied}");
        assert_eq!(
            denied["content"][0]["text"], "[POLICY DENIED] deleting files is not allowed here",
            "{cell}"
        );
    }
    node.stop().await;
}
