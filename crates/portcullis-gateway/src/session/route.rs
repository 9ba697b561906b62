//! Where the upstream's messages go: responses to their request (with the client's id restored),
//! progress to the request that asked for it, call-time traffic (logs, sampling, elicitation) to the
//! newest request's stream, and the rest (list changes, resource updates) to the client's standalone
//! stream when it has one.

use serde_json::Value;
use tokio::sync::mpsc;

use super::actor::{SessionState, deliver};
use crate::jsonrpc::{self, Kind};

/// How many server-wide notifications wait for a standalone stream; older ones give way.
const MAX_PARKED: usize = 64;

/// Notifications about the server rather than about a call.
const SERVER_WIDE: [&str; 4] = [
    "notifications/tools/list_changed",
    "notifications/resources/list_changed",
    "notifications/resources/updated",
    "notifications/prompts/list_changed",
];

impl SessionState {
    /// Routes one upstream message: responses by id, everything else to the request it concerns.
    pub(super) fn route(&mut self, mut message: Value) {
        match jsonrpc::kind(&message) {
            Some(Kind::Response) => {
                let Some(pending) = message
                    .get("id")
                    .and_then(Value::as_u64)
                    .and_then(|id| self.in_flight.remove(&id))
                else {
                    tracing::debug!(session = %self.info.id, "response to no pending request dropped");
                    return;
                };
                if pending.is_initialize
                    && let Some(version) = message.pointer("/result/protocolVersion").and_then(Value::as_str)
                {
                    self.upstream.set_protocol_version(version);
                }
                if let Some(object) = message.as_object_mut() {
                    object.insert("id".to_owned(), pending.original_id);
                }
                deliver(&pending.reply, message);
            }
            Some(Kind::Notification | Kind::Request) => self.route_unsolicited(message),
            None => tracing::warn!(session = %self.info.id, "upstream sent an invalid json-rpc message"),
        }
    }

    fn route_unsolicited(&mut self, message: Value) {
        let method = jsonrpc::method(&message).unwrap_or("");
        if SERVER_WIDE.contains(&method) && self.deliver_to_listener(&message) {
            return;
        }
        let token = message.pointer("/params/progressToken");
        let target = token
            .and_then(|t| {
                self.in_flight
                    .values()
                    .find(|p| p.progress_token.as_ref() == Some(t))
            })
            .or_else(|| self.in_flight.iter().max_by_key(|(id, _)| **id).map(|(_, p)| p));
        match target {
            Some(pending) => deliver(&pending.reply, message),
            None if SERVER_WIDE.contains(&method) => self.park(message),
            None => {
                if !self.deliver_to_listener(&message) {
                    tracing::debug!(session = %self.info.id, method, "upstream message with no open stream dropped");
                }
            }
        }
    }

    /// Keeps a server-wide notification for the client's standalone stream, once it opens.
    fn park(&mut self, message: Value) {
        if self.parked.len() == MAX_PARKED {
            self.parked.pop_front();
            tracing::debug!(session = %self.info.id, "oldest parked notification dropped");
        }
        self.parked.push_back(message);
    }

    /// The client opened its standalone stream: it gets what waited for it, then everything new.
    pub(super) fn listen(&mut self, stream: mpsc::Sender<Value>) {
        while let Some(message) = self.parked.pop_front() {
            if stream.try_send(message).is_err() {
                break;
            }
        }
        self.listener = Some(stream);
    }

    /// Sends to the standalone stream; false when there is none (or it is closed or full).
    fn deliver_to_listener(&mut self, message: &Value) -> bool {
        let Some(listener) = &self.listener else {
            return false;
        };
        if listener.try_send(message.clone()).is_ok() {
            return true;
        }
        if listener.is_closed() {
            self.listener = None;
        }
        false
    }
}

/// Whether an upstream message is about the server rather than about a request.
pub(super) fn is_server_wide(message: &Value) -> bool {
    jsonrpc::method(message).is_some_and(|m| SERVER_WIDE.contains(&m))
}
