//! A node without an approvals store (plain `serve --config`) cannot park a call for a human: it
//! denies it at once, saying why, and audits the decision.

mod support;

use std::sync::Arc;

use portcullis_gateway::state::{GatewayState, PolicyRef, hash_token};
use portcullis_policy::{Format, compile_str};
use serde_json::json;
use support::{ALICE, TestNode, text};

#[tokio::test]
async fn without_a_store_a_call_needing_approval_is_denied_clearly() {
    let node = TestNode::start("").await;
    let session = node.initialize("files", Some(ALICE)).await;
    let policy = compile_str(
        r#"{"version": "1", "default": "deny", "tools": {"delete_file": {"action": "require_approval"}}}"#,
        Format::Json,
    )
    .unwrap();
    let mut next: GatewayState = (**node.publisher.borrow()).clone();
    let key = hash_token(ALICE);
    let mut grant = (*next.grants[&key]).clone();
    grant.policy = Some(PolicyRef {
        name: Arc::from("careful"),
        policy: Arc::new(policy.with_revision(1)),
        shadow: None,
    });
    next.grants.insert(key, Arc::new(grant));
    node.publisher.send_replace(Arc::new(next));

    let denied = node
        .call("files", Some(ALICE), &session, "delete_file", json!({}))
        .await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert!(
        text(&denied).starts_with("[POLICY DENIED]")
            && text(&denied).contains("needs human approval")
            && text(&denied).contains("without a replicated store"),
        "{denied}"
    );
    let record = node.audit.records().last().cloned().unwrap();
    assert_eq!(record.tool.as_deref(), Some("delete_file"));
    assert_eq!(
        record.decision,
        portcullis_gateway::audit::Decision::RequireApproval
    );
    node.stop().await;
}
