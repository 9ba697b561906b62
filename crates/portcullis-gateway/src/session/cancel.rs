//! A client's `notifications/cancelled`: the client names the request by its own id, the upstream
//! knows it by the gateway's. The notification is rewritten to the upstream id, the request's stream
//! gets a cancelled error (so its call is settled and its reservation released at once), and a
//! cancellation that matches no request in flight goes nowhere: passing the client's id on could cancel
//! another request the upstream knows by that number.

use serde_json::Value;

use super::actor::{SessionState, deliver};
use crate::jsonrpc;

/// The method of a cancellation.
pub(super) const CANCELLED: &str = "notifications/cancelled";

impl SessionState {
    /// Turns the client's cancellation into the upstream's, or `None` when it concerns no request in
    /// flight (already answered, unknown, or ambiguous between clients sharing a stateless session).
    pub(super) fn client_cancelled(&mut self, mut message: Value) -> Option<Value> {
        let named = message.pointer("/params/requestId")?.clone();
        let mut matching = self
            .in_flight
            .iter()
            .filter(|(_, pending)| pending.original_id == named)
            .map(|(upstream_id, _)| *upstream_id);
        let (Some(upstream_id), None) = (matching.next(), matching.next()) else {
            tracing::debug!(session = %self.info.id, request = %named, "cancellation of no single request in flight dropped");
            return None;
        };
        let pending = self.in_flight.remove(&upstream_id)?;
        deliver(
            &pending.reply,
            jsonrpc::error(
                pending.original_id,
                jsonrpc::REQUEST_CANCELLED,
                "request cancelled by the client",
            ),
        );
        let params = message.get_mut("params")?.as_object_mut()?;
        params.insert("requestId".to_owned(), Value::from(upstream_id));
        tracing::debug!(session = %self.info.id, upstream_id, "client cancelled a request");
        Some(message)
    }
}
