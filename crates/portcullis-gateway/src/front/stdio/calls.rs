//! The stdio client's requests: decided in arrival order, forwarded concurrently (one task each, so a
//! slow call holds up nothing), their messages written as they come. A request the client cancelled
//! gets no answer, as the spec asks; the session actor settles it with the upstream (a continued
//! call: its task, see `in_flight`).

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::era::{Admitted, Era};
use super::in_flight::InFlight;
use crate::http::Caller;
use crate::jsonrpc;
use crate::node::Node;
use crate::relay::held_calls;
use crate::relay::input_required::{self, Target};
use crate::relay::{
    self, Abandon, Exchange, Finish, Step, Waiting, finish_for, is_cacheable, is_stateless, stateless_result,
};
use crate::session::SessionHandle;

/// The client's side of the session.
pub struct Calls {
    node: Arc<Node>,
    caller: Caller,
    session: SessionHandle,
    out: mpsc::Sender<Value>,
    tasks: JoinSet<()>,
    in_flight: InFlight,
    era: Era,
}

impl Calls {
    pub fn new(node: Arc<Node>, caller: Caller, session: SessionHandle, out: mpsc::Sender<Value>) -> Self {
        Self {
            node,
            caller,
            session,
            out,
            tasks: JoinSet::new(),
            in_flight: InFlight::default(),
            era: Era::default(),
        }
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Writes a message of the gateway's own.
    pub async fn reply(&self, message: Value) {
        let _ = self.out.send(message).await;
    }

    /// A request: decided now (so decisions follow the client's order), then forwarded in its own task.
    /// A 2026-07-28 client's retry with the gateway's `requestState` continues the call it names
    /// instead (decided when first asked); the same client's call whose upstream asks it something
    /// is answered with an `InputRequiredResult` and parked (see `relay::input_required`).
    pub async fn request(&mut self, message: Value) {
        let shape = Shape::of(&message);
        let start = match self.era.admit(&self.node, &self.session, message).await {
            Admitted::Initialize(message) => {
                let finish = Finish::Initialize(Box::new(message.clone()));
                Start::Open(message, finish)
            }
            Admitted::Request(message) if shape.stateless && input_required::is_retry(&message) => {
                match input_required::resume(&self.node, &self.session, &message).await {
                    Ok(exchange) => Start::Resumed(message, Box::new(exchange)),
                    Err(answer) => return self.reply(shape.apply(answer)).await,
                }
            }
            Admitted::Request(message) if shape.stateless && held_calls::is_retry(&message) => {
                match held_calls::resume(&self.node, &self.caller, &self.session, message) {
                    Ok((message, finish)) => Start::Open(message, finish),
                    Err(answer) => return self.reply(shape.apply(answer)).await,
                }
            }
            Admitted::Request(message) => {
                // A parked call's heartbeats go straight to the client's output.
                let heartbeats = Some(self.out.clone());
                match finish_for(&self.node, &self.caller, &self.session, &message, heartbeats).await {
                    Ok(finish) => Start::Open(message, finish),
                    Err(answer) => return self.reply(shape.apply(answer)).await,
                }
            }
            Admitted::Answered(answer) => return self.reply(shape.apply(answer)).await,
        };
        let request = start.request();
        let key = id_key(request);
        let target = shape.stateless.then(|| Target::of(request));
        let stop = self.in_flight.start(key.clone(), start.continues());
        let (node, session, out) = (Arc::clone(&self.node), self.session.clone(), self.out.clone());
        let in_flight = self.in_flight.clone();
        self.tasks.spawn(async move {
            // Dropped unfinished only when the front ends: the call is then cancelled upstream.
            let mut exchange = match start.exchange(&node, &session).await {
                Ok(exchange) => exchange,
                Err(failed) => {
                    in_flight.finish(&key);
                    let _ = out.send(shape.apply(failed)).await;
                    return;
                }
            };
            loop {
                let received = match &stop {
                    Some(stop) => tokio::select! {
                        received = exchange.receive() => received,
                        () = stop.notified() => {
                            // Dropping the exchange cancels the call upstream and settles it.
                            in_flight.finish(&key);
                            return;
                        }
                    },
                    None => exchange.receive().await,
                };
                let step = exchange.conclude(received).await;
                match input_required::divert(&node, &session, target.as_ref(), &mut exchange, step) {
                    Step::Update(message) => {
                        if out.send(message).await.is_err() {
                            return;
                        }
                    }
                    Step::Done(response) => {
                        if in_flight.finish(&key) {
                            let _ = out.send(shape.apply(response)).await;
                        }
                        return;
                    }
                }
            }
        });
    }

    /// A notification or a response to the upstream's request: passed on (a cancellation is noted
    /// first, so its request's answer is not written; a continued call's is not passed on).
    pub async fn pass_on(&self, message: Value) {
        if jsonrpc::method(&message) == Some("notifications/cancelled")
            && let Some(named) = message.pointer("/params/requestId")
            && self.in_flight.cancel(&named.to_string())
        {
            return;
        }
        if let Err(error) = self.session.notify(message).await {
            tracing::warn!(%error, "cannot pass a client message on");
        }
    }

    /// Resolves when a request task finished (pending forever when none runs), so the set stays small.
    pub async fn reap(&mut self) {
        if self.tasks.join_next().await.is_none() {
            std::future::pending::<()>().await;
        }
    }

    /// Ends every request task: each unfinished call is cancelled upstream and settled as cancelled,
    /// and so is each call parked or held for input the client will now never give.
    pub async fn cancel_all(&mut self) {
        self.tasks.shutdown().await;
        relay::settle_waiting(&self.node, Waiting::Session(&self.session.info().id)).await;
        // The settling runs in tasks of its own (see `Exchange`'s drop); let them take their turn
        // before the session stops.
        tokio::task::yield_now().await;
    }
}

/// Where a request's exchange comes from.
enum Start {
    /// A request to forward, with its finishing step.
    Open(Value, Finish),
    /// A retry that continues a parked call.
    Resumed(Value, Box<Exchange>),
}

impl Start {
    fn continues(&self) -> bool {
        matches!(self, Self::Resumed(..))
    }

    fn request(&self) -> &Value {
        match self {
            Self::Open(request, _) | Self::Resumed(request, _) => request,
        }
    }

    async fn exchange(self, node: &Arc<Node>, session: &SessionHandle) -> Result<Exchange, Value> {
        match self {
            Self::Open(message, finish) => {
                Exchange::open(node, session, message, finish, Abandon::Cancel).await
            }
            Self::Resumed(_, exchange) => Ok(*exchange),
        }
    }
}

/// How the client's era shapes results: a 2026-07-28 client needs the envelope on every result, and
/// neither a session-era upstream nor the gateway's own answers (denials included) carry it.
#[derive(Clone, Copy)]
struct Shape {
    stateless: bool,
    cacheable: bool,
}

impl Shape {
    fn of(request: &Value) -> Self {
        Self {
            stateless: is_stateless(request),
            cacheable: is_cacheable(jsonrpc::method(request)),
        }
    }

    fn apply(self, response: Value) -> Value {
        if self.stateless {
            stateless_result(response, self.cacheable)
        } else {
            response
        }
    }
}

fn id_key(message: &Value) -> String {
    message.get("id").map(Value::to_string).unwrap_or_default()
}
