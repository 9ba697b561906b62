//! Multi round-trip requests of a 2026-07-28 upstream, seen by a 2026-07-28 client: one call, decided
//! and charged once. When the upstream answers an admitted call with an `InputRequiredResult`, the
//! call is not settled: its completion (the decision's audit record and counter reservation) is held
//! on the node, and the client gets the result with a gateway-minted `requestState` in place of the
//! upstream's. The client's retry carrying that state (same grant, server, tool and arguments) skips
//! the policy, goes upstream with the upstream's own state, and is settled like the first attempt
//! would have been: committed once, audited once, however many rounds it took.
//!
//! A held state is a random token that names an entry in this node's table, so a client cannot forge
//! one, and the upstream's state never leaves the gateway's keeping. The limit: the retry must reach
//! the node that holds the call (as for `portcullis-ir1.` states); on another node it is refused as
//! unknown, and the held call is released when it expires.
//!
//! Architecture invariant: a held call is settled exactly once. It is taken by one matching retry
//! (which settles it or holds it again under a fresh state), or is settled as cancelled, giving its
//! reservation back, after `upstream_timeout` or when the stdio front that holds its session ends.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use serde_json::Value;

use super::Finish;
use crate::enforce::{CallCompletion, args_digest};
use crate::http::Caller;
use crate::jsonrpc;
use crate::node::Node;
use crate::session::SessionHandle;
use crate::state::to_hex;

/// How every held call's `requestState` begins; distinct from `portcullis-ir1.` (a parked exchange)
/// and from anything an upstream would send.
const STATE_PREFIX: &str = "portcullis-held1.";

/// The calls of one node held between an upstream's input rounds, by the state their client holds.
pub struct HeldCalls {
    node: Weak<Node>,
    held: Mutex<HashMap<String, Held>>,
}

/// An admitted call waiting for its client's next round.
struct Held {
    completion: Box<CallCompletion>,
    /// The upstream's own `requestState`, given back to it on the retry.
    upstream_state: Option<Value>,
}

/// Why a retry does not continue a held call; the text is the client's -32602 message.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(
        "no held call matches this requestState: it expired, was already continued, or was issued by another gateway node"
    )]
    Unknown,
    #[error("this requestState belongs to another call: the retry must repeat the call's {0}")]
    Mismatch(&'static str),
}

impl HeldCalls {
    /// The table of `node` (built inside [`Node::new`], hence the weak reference: an expiry task
    /// needs the node to settle what it drops).
    pub fn new(node: Weak<Node>) -> Self {
        Self {
            node,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `request` continues a held call (its `requestState` is a held call's).
pub fn is_retry(request: &Value) -> bool {
    request_state(request)
        .and_then(Value::as_str)
        .is_some_and(|state| state.starts_with(STATE_PREFIX))
}

fn request_state(request: &Value) -> Option<&Value> {
    jsonrpc::params(request).and_then(|p| p.get("requestState"))
}

/// Settles an admitted call's answer, or, when the upstream asked for input (`asks_input`, read
/// from the upstream's answer), holds the call and returns the `InputRequiredResult` with the
/// gateway's state in place of the upstream's. Only a 2026-07-28 client's call gets here asking:
/// a session-era client's rounds are answered inside its exchange (`input_rounds`).
pub async fn settle_or_hold(
    node: &Node,
    mut completion: Box<CallCompletion>,
    mut response: Value,
    took: Duration,
    asks_input: bool,
) -> Value {
    if !asks_input {
        return completion.finish(node, response, took).await;
    }
    let Some(token) = mint_state() else {
        // Without randomness the call cannot be continued safely: it ends here, given back.
        let id = response.get("id").cloned().unwrap_or(Value::Null);
        let failed = jsonrpc::error(id, jsonrpc::INTERNAL_ERROR, "cannot mint a request state");
        return completion.finish(node, failed, took).await;
    };
    let Some(result) = response.get_mut("result").and_then(Value::as_object_mut) else {
        // `asks_input` read `/result/resultType`, so the result was an object; settle all the same.
        return completion.finish(node, response, took).await;
    };
    completion.add_latency(took);
    // Said again: the session may have taken it off (see `Finish::apply`).
    result.insert("resultType".to_owned(), Value::from("input_required"));
    let upstream_state = result.insert("requestState".to_owned(), Value::String(token.clone()));
    let rounds = completion.rounds.saturating_add(1);
    completion.rounds = rounds;
    tracing::debug!(tool = ?completion.record.tool, rounds, "call held for the client's input");
    node.held_calls.table().insert(
        token.clone(),
        Held {
            completion,
            upstream_state,
        },
    );
    expire_later(node, token);
    response
}

/// Takes the held call `retry` continues: `retry` rewritten for the upstream (its own state back in
/// place of the gateway's) and the finishing step of the admitted call.
///
/// # Errors
/// The -32602 answer for a state that is unknown (expired, spent, forged, another node's) or that
/// belongs to another grant, server, tool or arguments; a mismatched retry leaves the call held.
pub fn resume(
    node: &Node,
    caller: &Caller,
    session: &SessionHandle,
    mut retry: Value,
) -> Result<(Value, Finish), Value> {
    let id = retry.get("id").cloned().unwrap_or(Value::Null);
    let held = take_matching(node, caller, session, &retry).map_err(|refusal| {
        tracing::info!(session = %session.info().id, reason = %refusal, "retry of a held call refused");
        jsonrpc::error(id, jsonrpc::INVALID_PARAMS, &refusal.to_string())
    })?;
    if let Some(params) = retry.get_mut("params").and_then(Value::as_object_mut) {
        match held.upstream_state {
            Some(state) => params.insert("requestState".to_owned(), state),
            None => params.remove("requestState"),
        };
    }
    tracing::debug!(session = %session.info().id, rounds = held.completion.rounds, "held call continued");
    Ok((retry, Finish::Call(held.completion)))
}

fn take_matching(
    node: &Node,
    caller: &Caller,
    session: &SessionHandle,
    retry: &Value,
) -> Result<Held, Refusal> {
    let token = request_state(retry)
        .and_then(Value::as_str)
        .ok_or(Refusal::Unknown)?;
    let params = jsonrpc::params(retry);
    let tool = params.and_then(|p| p.get("name")).and_then(Value::as_str);
    let args = params.and_then(|p| p.get("arguments")).unwrap_or(&Value::Null);
    let mut table = node.held_calls.table();
    let record = &table.get(token).ok_or(Refusal::Unknown)?.completion.record;
    if record.grant.as_deref() != Some(&*caller.grant_id) {
        // Another grant's token: as good as unknown to this caller.
        return Err(Refusal::Unknown);
    }
    if record.server.as_deref() != Some(&*session.info().server) {
        return Err(Refusal::Mismatch("server"));
    }
    if record.tool.as_deref() != tool {
        return Err(Refusal::Mismatch("tool"));
    }
    if record.args_sha256.as_deref() != Some(&*args_digest(args)) {
        return Err(Refusal::Mismatch("arguments"));
    }
    table.remove(token).ok_or(Refusal::Unknown)
}

/// Settles the held call as cancelled after the upstream timeout if no retry took it, so an
/// abandoned call gives its reservation back and is still audited once.
fn expire_later(node: &Node, token: String) {
    let weak = node.held_calls.node.clone();
    let after = node.settings.upstream_timeout;
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let Some(node) = weak.upgrade() else {
            return;
        };
        let expired = node.held_calls.table().remove(&token);
        if let Some(held) = expired {
            tracing::info!(tool = ?held.completion.record.tool, rounds = held.completion.rounds, "held call expired without the client's retry");
            abandon(&node, held, "the client did not continue the call").await;
        }
    });
}

/// Settles the held calls `which` names (see [`super::settle_waiting`]).
pub(super) async fn settle(node: &Node, which: super::Waiting<'_>) {
    let ended: Vec<Held> = node
        .held_calls
        .table()
        .extract_if(|_, held| which.includes(held.completion.record.session.as_deref()))
        .map(|(_, held)| held)
        .collect();
    for held in ended {
        abandon(node, held, "the client went away between input rounds").await;
    }
}

/// Settles a held call as cancelled: its reservation given back, its one record written.
async fn abandon(node: &Node, held: Held, why: &str) {
    let gone = jsonrpc::error(Value::Null, jsonrpc::REQUEST_CANCELLED, why);
    held.completion.finish(node, gone, Duration::ZERO).await;
}

fn mint_state() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("{STATE_PREFIX}{}", to_hex(&bytes)))
}
