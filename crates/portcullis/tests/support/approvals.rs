//! Approvals in a test cluster: the policy that asks for them, calls that park, and bounded waits for
//! what the admin API lists and what a node audits.

use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use portcullis_proto::admin::approval_service_client::ApprovalServiceClient;
use portcullis_proto::admin::policy_service_client::PolicyServiceClient;
use portcullis_proto::admin::{
    Approval, DecideRequest, GetPolicyRequest, ListApprovalsRequest, PutMode, PutPolicyRequest,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::admin::{Authed, channel};
use super::admin_cluster::{ADMIN_TOKEN, AGENT_TOKEN, Cluster, ClusterNode, PATIENCE, VIEWER_TOKEN};

/// `echo` waits for a human up to 60 s; `get_traffic_summary` only 2 s (the timeout case).
pub const APPROVAL_POLICY: &str = r#"{"version": "1", "default": "deny", "tools": {
    "echo": {"action": "require_approval", "approval_timeout": "60s", "reason": "echo needs a human"},
    "get_traffic_summary": {"action": "require_approval", "approval_timeout": "2s"}}}"#;

pub fn approvals(node: &ClusterNode, token: &str) -> ApprovalServiceClient<Authed> {
    ApprovalServiceClient::new(channel(&node.admin_url(), Some(token)))
}

/// Puts the approval policy as revision 2 and waits until every node serves it.
pub async fn require_approvals(cluster: &Cluster) {
    require_approvals_with(cluster, APPROVAL_POLICY).await;
}

/// Puts `policy` as revision 2 of `p` and waits until every node serves it.
pub async fn require_approvals_with(cluster: &Cluster, policy: &str) {
    let mut admin = PolicyServiceClient::new(channel(&cluster.node(1).admin_url(), Some(ADMIN_TOKEN)));
    admin
        .put_policy(PutPolicyRequest {
            name: "p".to_owned(),
            text: policy.to_owned(),
            format: 0,
            expected_revision: None,
            mode: PutMode::Active.into(),
        })
        .await
        .unwrap();
    for node in &cluster.nodes {
        let mut viewer = PolicyServiceClient::new(channel(&node.admin_url(), Some(VIEWER_TOKEN)));
        let deadline = Instant::now() + PATIENCE;
        loop {
            let revision = viewer
                .get_policy(GetPolicyRequest {
                    name: "p".to_owned(),
                    revision: None,
                })
                .await
                .map(|r| r.into_inner().revision);
            if revision.as_ref().is_ok_and(|r| *r == 2) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} never got revision 2: {revision:?}",
                node.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Starts `tool(arguments)` from a fresh agent session on `node`; the handle yields the JSON-RPC reply.
pub async fn call(node: &ClusterNode, tool: &str, arguments: Value) -> JoinHandle<Value> {
    call_as(node, AGENT_TOKEN, tool, arguments).await
}

/// As [`call`], for the grant whose bearer token is `token`.
pub async fn call_as(node: &ClusterNode, token: &str, tool: &str, arguments: Value) -> JoinHandle<Value> {
    let target = Target {
        url: node.mcp_url(),
        token: Some(token.to_owned()),
        era: Era::Session,
    };
    let mut session = McpSession::open(&target).await.unwrap();
    let tool = tool.to_owned();
    tokio::spawn(async move {
        session
            .request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await
            .unwrap_or_else(|error| json!({"transport_error": error.to_string()}))
    })
}

/// Waits (bounded) until `node` lists `count` approvals (decided ones included) and returns them.
pub async fn wait_listed(node: &ClusterNode, count: usize) -> Vec<Approval> {
    let mut viewer = approvals(node, VIEWER_TOKEN);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = viewer
            .list_approvals(ListApprovalsRequest {
                include_decided: true,
            })
            .await
            .unwrap()
            .into_inner()
            .approvals;
        if listed.len() >= count {
            return listed;
        }
        assert!(
            Instant::now() < deadline,
            "node {} never listed {count} approvals: {listed:?}",
            node.id
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pending approval for `tool` (waiting until one is listed on `node`).
pub async fn pending(node: &ClusterNode, tool: &str) -> Approval {
    let mut viewer = approvals(node, VIEWER_TOKEN);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = viewer
            .list_approvals(ListApprovalsRequest {
                include_decided: false,
            })
            .await
            .unwrap()
            .into_inner()
            .approvals;
        if let Some(found) = listed.into_iter().find(|a| a.tool == tool) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no pending approval for {tool} on node {}",
            node.id
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn decide(id: &str, reason: &str) -> DecideRequest {
    DecideRequest {
        id: id.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The reply's text and whether it is an error.
pub fn text_of(reply: &Value) -> (String, bool) {
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (text, reply["result"]["isError"].as_bool().unwrap_or(false))
}

pub async fn finished(call: JoinHandle<Value>) -> Value {
    tokio::time::timeout(PATIENCE, call)
        .await
        .expect("the parked call never finished")
        .unwrap()
}

/// Waits (bounded: records may reach the disk just after the answer) until `node`'s audit log
/// holds a record for `tool` that satisfies `wanted`.
pub async fn audited(node: &ClusterNode, tool: &str, wanted: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let records: Vec<Value> = std::fs::read_to_string(node.dir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| record["tool"] == tool)
            .collect();
        if records.iter().any(&wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {} audited no such {tool} record: {records:?}",
            node.id
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
