//! Which era the stdio client speaks, learnt from its requests, and the bridging that follows. A
//! session-era client's `initialize` goes to the upstream (a 2026-07-28-only upstream is bridged where
//! its answer is finished, see `relay::stateless_upstream`). A 2026-07-28 client never sends one: at
//! its first request the gateway initializes the upstream itself, then answers `server/discover` and
//! takes the per-request envelope off what a session-era upstream gets, as over HTTP
//! (`relay::stateless`).

use serde_json::Value;

use crate::jsonrpc;
use crate::node::Node;
use crate::relay::stateless;
use crate::session::SessionHandle;

/// Who initialized the upstream session, if anyone yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Era {
    /// No request yet that settles it.
    #[default]
    Unknown,
    /// A session-era client sent `initialize`.
    Session,
    /// The gateway initialized the upstream for a 2026-07-28 client.
    Stateless,
}

/// What to do with one request.
pub enum Admitted {
    /// The client's own `initialize`: forwarded, its answer finished as such.
    Initialize(Value),
    /// Any other request, ready for the upstream.
    Request(Value),
    /// Answered by the gateway (`server/discover`, an unsupported version, an upstream that could not
    /// be initialized).
    Answered(Value),
}

impl Era {
    /// Sorts out `message` (a request). The gateway's own `initialize` happens here, before the
    /// client's first 2026-07-28 request goes on: later requests wait behind it, as nothing could
    /// reach the upstream before it anyway.
    pub async fn admit(&mut self, node: &Node, session: &SessionHandle, message: Value) -> Admitted {
        let method = jsonrpc::method(&message);
        if *self == Self::Unknown && method == Some("initialize") {
            *self = Self::Session;
            return Admitted::Initialize(message);
        }
        if !stateless::speaks_stateless(&message) {
            return Admitted::Request(message);
        }
        if let Err(refused) = stateless::check_version(&message) {
            return Admitted::Answered(refused);
        }
        if *self == Self::Unknown {
            match stateless::initialize_upstream(node, session).await {
                Ok(init) => {
                    let _ = session.info().upstream_init.set(init);
                    *self = Self::Stateless;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot initialize the upstream for a 2026-07-28 client");
                    node.metrics.error("upstream");
                    let id = message.get("id").cloned().unwrap_or(Value::Null);
                    let why = format!("cannot initialize the upstream: {error}");
                    return Admitted::Answered(jsonrpc::error(id, jsonrpc::UPSTREAM_ERROR, &why));
                }
            }
        }
        if *self == Self::Stateless && jsonrpc::method(&message) == Some("server/discover") {
            return Admitted::Answered(stateless::discover_answer(session, &message));
        }
        Admitted::Request(stateless::strip_envelope(message, session))
    }
}
