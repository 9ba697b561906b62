//! The 2026-07-28 result envelope: stateless clients expect `resultType` on every result (the
//! gateway's own denials included, and session-era upstreams do not send it), and `ttlMs`/`cacheScope`
//! on cacheable ones.

use serde_json::Value;

use crate::jsonrpc;
use crate::protocol::{CACHEABLE, META_VERSION, STATELESS};

/// Whether `request` comes from a 2026-07-28 client (its `_meta` names the protocol version).
pub fn is_stateless(request: &Value) -> bool {
    jsonrpc::meta_str(request, META_VERSION) == Some(STATELESS)
}

/// Whether `method`'s stateless results carry `ttlMs` and `cacheScope`.
pub fn is_cacheable(method: Option<&str>) -> bool {
    method.is_some_and(|m| CACHEABLE.contains(&m))
}

/// Adds what a stateless client expects to a result, keeping what is already there.
pub fn stateless_result(mut response: Value, cacheable: bool) -> Value {
    if let Some(result) = response.get_mut("result").and_then(Value::as_object_mut) {
        result
            .entry("resultType")
            .or_insert_with(|| Value::from("complete"));
        if cacheable {
            // What the client sees is filtered per grant and policies change at any time: not shareable,
            // and fresh only now.
            result.entry("ttlMs").or_insert_with(|| Value::from(0));
            result
                .entry("cacheScope")
                .or_insert_with(|| Value::from("private"));
        }
    }
    response
}
