//! A session-era client in front of an upstream that speaks only 2026-07-28: the gateway answered
//! the client's `initialize` from the upstream's `server/discover`, and from then on dresses every
//! request in the per-request `_meta` envelope that era needs and takes the era's result fields
//! (`resultType`, `ttlMs`, `cacheScope`) off what comes back.

use serde_json::{Map, Value};

use super::handle::SessionHandle;
use crate::jsonrpc;
use crate::protocol::STATELESS;

/// Result fields of the stateless era that a session-era client has no use for.
const STATELESS_RESULT_FIELDS: [&str; 3] = ["resultType", "ttlMs", "cacheScope"];

impl SessionHandle {
    /// From now on the upstream is spoken to in 2026-07-28 terms, with `envelope` (the `_meta` keys
    /// under `io.modelcontextprotocol/`) on every request.
    pub fn speak_stateless_upstream(&self, envelope: Map<String, Value>) {
        let _ = self.info().upstream_envelope.set(envelope);
        if let Some(sender) = self.direct() {
            sender.set_protocol_version(STATELESS);
        }
    }

    /// Whether the upstream is spoken to in 2026-07-28 terms.
    pub fn bridges_to_stateless(&self) -> bool {
        self.info().upstream_envelope.get().is_some()
    }

    /// Adds the envelope to a request's `_meta` (keys the client set itself win).
    pub(super) fn dress(&self, mut message: Value) -> Value {
        let Some(envelope) = self.info().upstream_envelope.get() else {
            return message;
        };
        let Some(object) = message.as_object_mut() else {
            return message;
        };
        let params = object
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(params) = params.as_object_mut()
            && let Some(meta) = params
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
        {
            for (key, value) in envelope {
                meta.entry(key.as_str()).or_insert_with(|| value.clone());
            }
        }
        message
    }

    /// Whether a client notification has no meaning for a 2026-07-28 upstream (there is no
    /// `initialize`, so nothing to confirm).
    pub(super) fn is_moot(&self, message: &Value) -> bool {
        self.bridges_to_stateless() && jsonrpc::method(message) == Some("notifications/initialized")
    }

    /// Takes the stateless era's result fields off a response for the session-era client.
    pub fn undress(&self, response: &mut Value) {
        if !self.bridges_to_stateless() {
            return;
        }
        // A stateless client's session (the gateway initialized the upstream for it) keeps
        // `resultType`: an `input_required` result must stay one. The cache fields are the gateway's
        // to set, as it filters what the client sees.
        let keep_type = self.info().upstream_init.get().is_some();
        if let Some(result) = response.get_mut("result").and_then(Value::as_object_mut) {
            for field in STATELESS_RESULT_FIELDS {
                if !(keep_type && field == "resultType") {
                    result.remove(field);
                }
            }
        }
    }
}
