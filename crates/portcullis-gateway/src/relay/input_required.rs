//! Multi round-trip requests for 2026-07-28 clients in front of a session-era upstream. That era has
//! no server→client requests: when the upstream asks something (`sampling/createMessage`,
//! `elicitation/create`, `roots/list`) during a client's call, the gateway answers the call with an
//! `InputRequiredResult` carrying the question, parks the call (still admitted, still pending
//! upstream), and continues it when the client retries with `inputResponses` and the gateway's
//! `requestState`. The retry is no new call: the policy decided and charged the parked one.
//!
//! Architecture invariant: a parked call is settled exactly once like any other. It is continued by
//! one retry, or expires after `upstream_timeout` and is then cancelled upstream and settled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use serde_json::{Map, Value, json};

use super::{Exchange, Step};
use crate::jsonrpc::{self, Kind};
use crate::node::Node;
use crate::session::SessionHandle;
use crate::state::to_hex;

/// How every `requestState` the gateway mints begins, so a retry meant for a 2026-07-28 upstream
/// (whose own state passes through untouched) is never mistaken for one of the gateway's.
const STATE_PREFIX: &str = "portcullis-ir1.";

/// The parked calls of one node, by the `requestState` their client holds.
#[derive(Default)]
pub struct InputRequired {
    parked: Mutex<HashMap<String, Parked>>,
}

/// A call waiting for its client's answers.
struct Parked {
    exchange: Exchange,
    session: Arc<str>,
    target: Target,
    /// The input request keys the client was given, with the upstream request id each one answers.
    asked: Vec<(String, Value)>,
}

/// What a retry must repeat: the method and, for `tools/call`, the tool (or the resource, the prompt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    method: Option<String>,
    name: Option<String>,
}

impl Target {
    /// The target of a client request.
    pub fn of(request: &Value) -> Self {
        let params = jsonrpc::params(request);
        let name = params
            .and_then(|p| p.get("name").or_else(|| p.get("uri")))
            .and_then(Value::as_str);
        Self {
            method: jsonrpc::method(request).map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }
}

/// Whether an upstream message about a call is a request to the client.
fn is_server_request(message: &Value) -> bool {
    jsonrpc::kind(message) == Some(Kind::Request)
}

/// One step of a call, as a 2026-07-28 client (`target` set) may see it: the upstream asking the
/// client something parks the exchange, and the step becomes the `InputRequiredResult` that answers
/// the call. Every front runs each step of its calls through here; for session-era clients
/// (`target` unset) steps pass unchanged.
pub fn divert(
    node: &Arc<Node>,
    session: &SessionHandle,
    target: Option<&Target>,
    exchange: &mut Exchange,
    step: Step,
) -> Step {
    match (target, step) {
        (Some(target), Step::Update(asked)) if is_server_request(&asked) => {
            Step::Done(park(node, session, target.clone(), exchange.take(), asked))
        }
        (_, step) => step,
    }
}

/// Whether `request` continues a call the gateway parked (its `requestState` is the gateway's).
pub fn is_retry(request: &Value) -> bool {
    request_state(request).is_some_and(|state| state.starts_with(STATE_PREFIX))
}

fn request_state(request: &Value) -> Option<&str> {
    jsonrpc::params(request)
        .and_then(|p| p.get("requestState"))
        .and_then(Value::as_str)
}

/// Parks `exchange`, whose upstream sent `asked` (a request to the client), and returns the
/// `InputRequiredResult` to answer the client's request with. The call expires after the upstream
/// timeout unless continued.
fn park(
    node: &Arc<Node>,
    session: &SessionHandle,
    target: Target,
    exchange: Exchange,
    asked: Value,
) -> Value {
    let id = exchange.client_id();
    let Some(token) = mint_state() else {
        // Without randomness the call cannot be continued safely; dropping it cancels and settles it.
        drop(exchange);
        return jsonrpc::error(id, jsonrpc::INTERNAL_ERROR, "cannot mint a request state");
    };
    let upstream_id = asked.get("id").cloned().unwrap_or(Value::Null);
    let key = match &upstream_id {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mut input = Map::new();
    if let Some(method) = asked.get("method") {
        input.insert("method".to_owned(), method.clone());
    }
    if let Some(params) = asked.get("params") {
        input.insert("params".to_owned(), params.clone());
    }
    tracing::debug!(session = %session.info().id, method = ?asked.get("method"), "call parked for client input");
    let parked = Parked {
        exchange,
        session: Arc::clone(&session.info().id),
        target,
        asked: vec![(key.clone(), upstream_id)],
    };
    node.input_required
        .parked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(token.clone(), parked);
    expire_later(node, token.clone());
    jsonrpc::result(
        id,
        json!({
            "resultType": "input_required",
            "inputRequests": {key: Value::Object(input)},
            "requestState": token,
        }),
    )
}

/// Continues the call a retry names: the client's answers go to the upstream's pending requests and
/// the exchange answers the retry from now on.
///
/// # Errors
/// The error to answer the retry with: no such parked call (expired, already continued, never
/// issued, another session's, another request's), or the session could not take the answers.
pub async fn resume(node: &Node, session: &SessionHandle, retry: &Value) -> Result<Exchange, Value> {
    let retry_id = retry.get("id").cloned().unwrap_or(Value::Null);
    let target = Target::of(retry);
    let parked = request_state(retry).and_then(|token| {
        let mut table = node
            .input_required
            .parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mine = table
            .get(token)
            .is_some_and(|p| p.session == session.info().id && p.target == target);
        if mine { table.remove(token) } else { None }
    });
    let Some(mut parked) = parked else {
        return Err(jsonrpc::error(
            retry_id,
            jsonrpc::INVALID_PARAMS,
            "no pending request matches this requestState: it expired, was already continued, or belongs to another request",
        ));
    };
    let answers = jsonrpc::params(retry).and_then(|p| p.get("inputResponses"));
    for (key, upstream_id) in parked.asked.drain(..) {
        let reply = match answers.and_then(|a| a.get(&key)) {
            Some(result) => jsonrpc::result(upstream_id, result.clone()),
            None => jsonrpc::error(
                upstream_id,
                jsonrpc::INVALID_PARAMS,
                "the client gave no response to this request",
            ),
        };
        if let Err(e) = session.notify(reply).await {
            tracing::warn!(session = %session.info().id, error = %e, "cannot pass the client's input on");
            return Err(jsonrpc::error(retry_id, jsonrpc::UPSTREAM_ERROR, &e.to_string()));
        }
    }
    tracing::debug!(session = %session.info().id, "parked call continued");
    parked.exchange.continue_as(retry_id);
    Ok(parked.exchange)
}

/// Takes the parked calls `which` names, each still to be settled ([`Exchange::abandon`]).
pub(super) fn take(node: &Node, which: super::Waiting<'_>) -> Vec<Exchange> {
    node.input_required
        .parked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extract_if(|_, parked| which.includes(Some(&parked.session)))
        .map(|(_, parked)| parked.exchange)
        .collect()
}

/// Drops the parked call after the upstream timeout if nobody continued it; dropping cancels it
/// upstream and settles it.
fn expire_later(node: &Arc<Node>, token: String) {
    let node: Weak<Node> = Arc::downgrade(node);
    let Some(after) = node.upgrade().map(|n| n.settings.upstream_timeout) else {
        return;
    };
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let Some(node) = node.upgrade() else {
            return;
        };
        let expired = node
            .input_required
            .parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token);
        if let Some(parked) = expired {
            tracing::info!(session = %parked.session, "parked call expired without the client's input");
        }
    });
}

fn mint_state() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("{STATE_PREFIX}{}", to_hex(&bytes)))
}
