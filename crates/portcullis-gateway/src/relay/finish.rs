//! What a request needs once answered: chosen before forwarding (the policy decides `tools/call` here),
//! applied to the response (or to the gateway's own error) before the client sees it.

use std::sync::Arc;
use std::time::Duration;

use portcullis_policy::CompiledPolicy;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::enforce::{CallCompletion, CallPlan, filter_tools, plan_call};
use crate::http::Caller;
use crate::jsonrpc;
use crate::node::Node;
use crate::session::SessionHandle;

/// What to do with the upstream's response before the client sees it.
pub enum Finish {
    /// Pass it through.
    Plain,
    /// A client `initialize` (the request): remember the negotiated version; when the upstream
    /// refused, try it as a 2026-07-28 upstream; close the session if that fails too.
    Initialize(Box<Value>),
    /// `tools/list`: keep only what the policy shows (`None`: no policy, show nothing).
    ListTools(Option<Arc<CompiledPolicy>>),
    /// `tools/call`: settle counters and audit (or, between a 2026-07-28 upstream's input rounds,
    /// hold them for the retry).
    Call(Box<CallCompletion>),
    /// A request the aggregate endpoint routed to one of its servers: `then`, and an error names
    /// the server, since the client sees several behind one endpoint.
    Member {
        /// The server the request went to.
        server: Arc<str>,
        /// The finishing step of the request itself.
        then: Box<Finish>,
    },
}

impl Finish {
    /// Applies the finishing step to `response` (which may be the gateway's own error).
    pub async fn apply(
        self,
        node: &Node,
        session: &SessionHandle,
        mut response: Value,
        took: Duration,
    ) -> Value {
        // Read before the era's fields come off: a member session of a `/mcp` aggregate takes
        // `resultType` off for its (gateway-made) session-era handshake, whatever its client speaks.
        let asks_input = super::input_rounds::asks_input(&response);
        session.undress(&mut response);
        self.settle(node, session, response, took, asks_input).await
    }

    /// [`Finish::apply`] once the response is in the client's era; `asks_input`: the upstream's
    /// answer was an `InputRequiredResult`.
    async fn settle(
        self,
        node: &Node,
        session: &SessionHandle,
        mut response: Value,
        took: Duration,
        asks_input: bool,
    ) -> Value {
        match self {
            Self::Plain => response,
            Self::Initialize(request) => {
                if response.pointer("/result/protocolVersion").is_none()
                    && let Some(bridged) =
                        super::stateless_upstream::answer_initialize(node, session, &request, &response).await
                {
                    response = bridged;
                }
                match response
                    .pointer("/result/protocolVersion")
                    .and_then(Value::as_str)
                {
                    Some(version) => {
                        let _ = session.info().protocol_version.set(version.to_owned());
                    }
                    None => {
                        node.sessions.close(&session.info().id);
                    }
                }
                response
            }
            Self::ListTools(policy) => {
                filter_tools(policy.as_deref(), &mut response);
                response
            }
            Self::Call(completion) => {
                super::held_calls::settle_or_hold(node, completion, response, took, asks_input).await
            }
            Self::Member { server, then } => {
                let mut response = Box::pin(then.settle(node, session, response, took, asks_input)).await;
                if let Some(Value::String(message)) = response.pointer_mut("/error/message") {
                    *message = format!("server {:?}: {message}", &*server);
                }
                response
            }
        }
    }
}

/// What a request in an initialized session needs once answered, or (`Err`) the answer to give without
/// forwarding it (a denial, a malformed call, a second `initialize`). A call parked for approval sends
/// progress notifications to `heartbeats` meanwhile, when the client asked for progress.
pub async fn finish_for(
    node: &Node,
    caller: &Caller,
    session: &SessionHandle,
    message: &Value,
    heartbeats: Option<mpsc::Sender<Value>>,
) -> Result<Finish, Value> {
    match jsonrpc::method(message) {
        Some("tools/call") => match plan_call(node, caller, session, message, heartbeats).await {
            CallPlan::Respond(answer) => Err(answer),
            CallPlan::Forward(completion) => Ok(Finish::Call(completion)),
        },
        Some("tools/list") => Ok(Finish::ListTools(
            caller.grant.policy.as_ref().map(|p| Arc::clone(&p.policy)),
        )),
        Some("initialize") => Err(jsonrpc::error(
            message.get("id").cloned().unwrap_or(Value::Null),
            jsonrpc::INVALID_REQUEST,
            "this session is already initialized",
        )),
        _ => Ok(Finish::Plain),
    }
}
