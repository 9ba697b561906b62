//! `tools/list` on the aggregate endpoint: every server's list, filtered by the grant's policy under
//! the server's own tool names exactly as on `/mcp/<server>`, then prefixed and merged. Each server's
//! pages are gathered upstream and the merged list goes out as one page (no `nextCursor`): a cursor
//! that spans several servers would have to encode every server's position, and lists are small.

use std::sync::Arc;

use futures_util::future::join_all;
use portcullis_policy::CompiledPolicy;
use serde_json::{Map, Value, json};

use super::members::{Aggregate, Member};
use super::names;
use crate::http::Caller;
use crate::jsonrpc;
use crate::node::Node;
use crate::relay::{Abandon, Exchange, Finish};

/// How many pages one server's list may have; more is a loop, not a list.
const MAX_PAGES: usize = 100;

/// The merged list for `caller`. A server that is down or answers with an error is left out (its
/// tools vanish until it is back); the others are listed.
pub(super) async fn merged(node: &Arc<Node>, caller: &Caller, aggregate: &Aggregate, id: Value) -> Value {
    let policy = caller.grant.policy.as_ref().map(|p| Arc::clone(&p.policy));
    let lists = join_all(
        aggregate
            .members
            .iter()
            .filter(|member| caller.grant.covers(&member.server))
            .map(|member| {
                let policy = policy.clone();
                let id = id.clone();
                async move { (member, one_server(node, aggregate, member, policy, id).await) }
            }),
    )
    .await;
    let mut tools = Vec::new();
    for (member, listed) in lists {
        match listed {
            Ok(listed) => names::merge_into(&mut tools, &member.server, listed),
            Err(reason) => {
                tracing::warn!(aggregate = %aggregate.id, server = %member.server, reason = %reason, "server left out of the merged tool list");
            }
        }
    }
    jsonrpc::result(id, json!({"tools": tools}))
}

/// Every page of one server's list, each filtered by the policy.
async fn one_server(
    node: &Arc<Node>,
    aggregate: &Aggregate,
    member: &Member,
    policy: Option<Arc<CompiledPolicy>>,
    id: Value,
) -> Result<Vec<Value>, String> {
    let session = aggregate.session(node, member).await?;
    let mut tools = Vec::new();
    let mut cursor: Option<Value> = None;
    for _ in 0..MAX_PAGES {
        let mut params = Map::new();
        if let Some(cursor) = cursor.take() {
            params.insert("cursor".to_owned(), cursor);
        }
        let request = json!({"jsonrpc": "2.0", "id": id.clone(), "method": "tools/list", "params": params});
        let finish = Finish::ListTools(policy.clone());
        let response = match Exchange::open(node, &session, request, finish, Abandon::RunToEnd).await {
            Ok(exchange) => exchange.settle().await,
            Err(failed) => failed,
        };
        if let Some(error) = response.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("an error");
            return Err(message.to_owned());
        }
        let Some(result) = response.get("result") else {
            return Err("a response without a result".to_owned());
        };
        if let Some(Value::Array(page)) = result.get("tools") {
            tools.extend(page.iter().cloned());
        }
        match result.get("nextCursor") {
            Some(next) if !next.is_null() => cursor = Some(next.clone()),
            _ => return Ok(tools),
        }
    }
    Err(format!("its list has more than {MAX_PAGES} pages"))
}
