//! Grants of several servers on a replicated node: one seeded from the config file and one created
//! through the admin API reach the store, come back through the applied state, and serve `/mcp` with
//! both servers' tools, prefixed and filtered by the policy. An aggregate session opened on one node
//! is served by another under the same `Mcp-Session-Id` until a DELETE ends it everywhere, and its
//! record stays while it is used, however long past the idle timeout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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

/// One POST to `/mcp` on `agent` (JSON answers only): the status, the session header and the body.
async fn post(agent: &str, session: Option<&str>, message: &Value) -> (u16, Option<String>, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::post(format!("http://{agent}/mcp"))
        .header("authorization", format!("Bearer {SEEDED_TOKEN}"))
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(message.to_string()))).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        header,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

async fn status_of(agent: &str, session: &str, method: &str, params: Value) -> (u16, Value) {
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, _, body) = post(agent, Some(session), &message).await;
    (status, body)
}

async fn delete(agent: &str, session: &str) -> u16 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = hyper::Request::delete(format!("http://{agent}/mcp"))
        .header("authorization", format!("Bearer {SEEDED_TOKEN}"))
        .header("mcp-session-id", session)
        .body(Full::new(Bytes::new()))
        .unwrap();
    client.request(request).await.unwrap().status().as_u16()
}

/// Polls `attempt` until it returns `Some`, for at most `PATIENCE`.
async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(done) = attempt().await {
            return done;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{what} did not happen within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn logged(log: &str, message: &str, op: Option<&str>) -> bool {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|event| event["message"] == message && op.is_none_or(|op| event["op"] == op))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_session_opened_on_one_node_is_served_by_another_until_deleted() {
    let cluster = Cluster::start_with("aggregate-dir", 2, &extra());
    let (one, two) = (cluster.node(1), cluster.node(2));
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    let session = eventually("an aggregate session on node 1", || async {
        match post(&one.agent, None, &init).await {
            (200, Some(session), _) => Some(session),
            _ => None,
        }
    })
    .await;
    eventually("the session record's commit", || async {
        logged(&one.log(), "session record committed", Some("put_session")).then_some(())
    })
    .await;
    // Node 1 uses the session once its record is in: from then on it notices the record's removal.
    assert_eq!(status_of(&one.agent, &session, "ping", json!({})).await.0, 200);

    // Node 2 never saw the session: it rebuilds both members from the record.
    let list = eventually("node 2 serving the session", || async {
        let (status, body) = status_of(&two.agent, &session, "tools/list", json!({})).await;
        (status == 200).then_some(body)
    })
    .await;
    let mut names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["demo__echo", "second__echo"], "{list}");
    let params = json!({"name": "second__echo", "arguments": {"text": "on node 2"}});
    let (status, echo) = status_of(&two.agent, &session, "tools/call", params).await;
    assert_eq!(status, 200);
    assert_eq!(echo["result"]["content"][0]["text"], "on node 2", "{echo}");
    assert!(
        logged(&two.log(), "aggregate session continued from another node", None),
        "node 2 did not rebuild the session:\n{}",
        two.log()
    );

    // DELETE on node 2 ends it there at once, and on node 1 once the removal is applied there.
    assert_eq!(delete(&two.agent, &session).await, 204);
    assert_eq!(status_of(&two.agent, &session, "ping", json!({})).await.0, 404);
    eventually("node 1 ending the deleted session", || async {
        (status_of(&one.agent, &session, "ping", json!({})).await.0 == 404).then_some(())
    })
    .await;
    assert_eq!(status_of(&two.agent, &session, "ping", json!({})).await.0, 404);
}

/// The cluster forgets records nobody touched for the idle timeout; an aggregate in use is touched
/// through its members, so it outlives the timeout on its node and another node still continues it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_in_use_keeps_its_record_past_the_idle_timeout() {
    let extra = format!("{}\n[limits]\nidle_session_timeout_secs = 2\n", extra());
    let cluster = Cluster::start_with("aggregate-keepalive", 2, &extra);
    let (one, two) = (cluster.node(1), cluster.node(2));
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    let session = eventually("an aggregate session on node 1", || async {
        match post(&one.agent, None, &init).await {
            (200, Some(session), _) => Some(session),
            _ => None,
        }
    })
    .await;
    eventually("the session record's commit", || async {
        logged(&one.log(), "session record committed", Some("put_session")).then_some(())
    })
    .await;

    // Three idle timeouts of calls on node 1: an untouched record would have expired twice over,
    // and node 1 would have ended the aggregate on noticing.
    let params = json!({"name": "demo__echo", "arguments": {"text": "still here"}});
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let (status, echo) = status_of(&one.agent, &session, "tools/call", params.clone()).await;
        assert_eq!(status, 200, "{echo}");
        assert_eq!(echo["result"]["content"][0]["text"], "still here", "{echo}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        logged(&one.log(), "session record committed", Some("touch_sessions")),
        "node 1 never touched the record:\n{}",
        one.log()
    );
    let (status, echo) = status_of(&two.agent, &session, "tools/call", params).await;
    assert_eq!(status, 200, "node 2 no longer finds the record: {echo}");
    assert_eq!(echo["result"]["content"][0]["text"], "still here", "{echo}");
}
