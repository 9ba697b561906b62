//! Stateless (2026-07-28) clients on `/mcp`: no `initialize`, so the gateway keeps one aggregate per
//! grant and initializes its members itself, as it does for `/mcp/<server>` (the same params, and
//! the members are the clients' sessions: see [`Aggregate::for_stateless`]); `server/discover` is
//! answered from the aggregate's own facts.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Aggregates;
use super::members::Aggregate;
use crate::http::Caller;
use crate::jsonrpc;
use crate::protocol;
use crate::relay::stateless;

/// The grant's stateless aggregate, made on first use (again when the grant's servers changed). Its
/// members open on first use.
pub(super) fn aggregate(aggregates: &Aggregates, caller: &Caller) -> Arc<Aggregate> {
    let servers = caller.grant.all_servers();
    let entry = aggregates
        .stateless
        .entry(Arc::clone(&caller.grant_id))
        .and_modify(|current| {
            if current.servers() != servers {
                *current = fresh(caller, servers.clone());
            }
        })
        .or_insert_with(|| fresh(caller, servers.clone()));
    Arc::clone(entry.value())
}

fn fresh(caller: &Caller, servers: Vec<Arc<str>>) -> Arc<Aggregate> {
    // The members are initialized as a `/mcp/<server>` stateless session is.
    let params = stateless::upstream_params();
    let id: Arc<str> = Arc::from(format!("stateless-aggregate/{}", caller.grant_id));
    Arc::new(Aggregate::new(id, Arc::clone(&caller.grant_id), params, servers).for_stateless())
}

/// The answer to `server/discover`.
pub(super) fn discover(aggregate: &Aggregate, id: Value) -> Value {
    let mut result = super::serve::facts(aggregate);
    result["supportedVersions"] = json!(protocol::SUPPORTED);
    result["resultType"] = json!("complete");
    result["ttlMs"] = json!(0);
    result["cacheScope"] = json!("private");
    jsonrpc::result(id, result)
}
