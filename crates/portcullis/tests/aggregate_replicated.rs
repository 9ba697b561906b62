//! Grants of several servers on a replicated node: one seeded from the config file and one created
//! through the admin API reach the store, come back through the applied state, and serve `/mcp` with
//! both servers' tools, prefixed and filtered by the policy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::Instant;

use portcullis_bench::{Era, McpSession, Target};
use portcullis_proto::admin::CreateGrantRequest;
use portcullis_proto::admin::grant_service_client::GrantServiceClient;
use serde_json::{Value, json};
use support::admin::channel;
use support::admin_cluster::{ADMIN_TOKEN, Cluster, PATIENCE};

const SEEDED_TOKEN: &str = "several-t0ken";

fn extra() -> String {
    let second = support::demo_server().replace("[servers.demo]", "[servers.second]");
    format!(
        "{second}\n[[grants]]\nid = \"several\"\ntoken_sha256 = \"{}\"\nservers = [\"demo\", \"second\"]\npolicy = \"p\"\n",
        support::token_sha(SEEDED_TOKEN)
    )
}

async fn tools(url: &str, token: &str) -> Result<Vec<String>, String> {
    let target = Target {
        url: url.to_owned(),
        token: Some(token.to_owned()),
        era: Era::Session,
    };
    let mut session = McpSession::open(&target).await.map_err(|e| e.to_string())?;
    let list = session
        .request("tools/list", json!({}))
        .await
        .map_err(|e| e.to_string())?;
    let mut names: Vec<String> = list["result"]["tools"]
        .as_array()
        .ok_or_else(|| list.to_string())?
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    let echo = session
        .request(
            "tools/call",
            json!({"name": "second__echo", "arguments": {"text": "hi"}}),
        )
        .await
        .map_err(|e| e.to_string())?;
    if echo["result"]["isError"] == Value::Bool(true) || echo.get("error").is_some() {
        return Err(echo.to_string());
    }
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_of_several_servers_travel_through_the_store() {
    let cluster = Cluster::start_with("aggregate", 1, &extra());
    let node = cluster.node(1);
    let url = format!("http://{}/mcp", node.agent);
    let both = vec!["demo__echo".to_owned(), "second__echo".to_owned()];
    assert_eq!(tools(&url, SEEDED_TOKEN).await.unwrap(), both, "{}", node.log());

    let mut admin = GrantServiceClient::new(channel(&node.admin_url(), Some(ADMIN_TOKEN)));
    let created = admin
        .create_grant(CreateGrantRequest {
            id: "made".to_owned(),
            servers: vec!["demo".to_owned(), "second".to_owned()],
            policy: "p".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let grant = created.grant.unwrap();
    assert_eq!(
        (grant.server.as_str(), grant.servers.clone()),
        ("demo", vec!["demo".to_owned(), "second".to_owned()])
    );
    // Applied on the node once the admin call returned; the gateway's snapshot follows it.
    let start = Instant::now();
    loop {
        match tools(&url, &created.token).await {
            Ok(names) => {
                assert_eq!(names, both);
                break;
            }
            Err(e) => assert!(start.elapsed() < PATIENCE, "the new grant never served /mcp: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
