//! The transport-free protocol core: one JSON-RPC message in, at most one message out.

mod methods;

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::{
    protocol::{self, INVALID_REQUEST},
    traffic::Traffic,
};

/// How the demo server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// `serverInfo.name`.
    pub name: String,
    /// Tools per `tools/list` page; `None` lists all tools on one page. A small value exercises a
    /// gateway's pagination handling.
    pub page_size: Option<usize>,
    /// Speak only 2026-07-28: refuse `initialize` and any request without that version in `_meta`,
    /// like servers written for that revision alone (to try a gateway's era bridging).
    pub modern_only: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            name: "portcullis-demo".to_owned(),
            page_size: None,
            modern_only: false,
        }
    }
}

/// The demo MCP server: configuration plus the shared in-memory traffic. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DemoServer {
    config: Arc<DemoConfig>,
    traffic: Arc<Mutex<Traffic>>,
}

/// What one client session has negotiated. Stateless (2026-07-28) requests carry their version in
/// `_meta` instead and don't need one, but transports pass a fresh one anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    protocol_version: Option<String>,
    initialized: bool,
}

impl Session {
    /// The version agreed at `initialize`, if it happened.
    #[must_use]
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }

    /// True once the client sent `notifications/initialized`.
    #[must_use]
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }
}

impl DemoServer {
    #[must_use]
    pub fn new(config: DemoConfig) -> Self {
        Self {
            config: Arc::new(config),
            traffic: Arc::new(Mutex::new(Traffic::seeded())),
        }
    }

    #[must_use]
    pub fn config(&self) -> &DemoConfig {
        &self.config
    }

    /// Handles one parsed JSON-RPC message (or, for 2025-03-26 sessions, a batch). Returns the
    /// reply, or `None` for notifications and client responses.
    #[must_use]
    pub fn handle(&self, session: &mut Session, message: &Value) -> Option<Value> {
        match message {
            Value::Array(items) => self.handle_batch(session, items),
            Value::Object(_) => self.handle_one(session, message),
            _ => Some(protocol::error(
                &Value::Null,
                INVALID_REQUEST,
                "a JSON-RPC message must be an object",
            )),
        }
    }

    fn handle_batch(&self, session: &mut Session, items: &[Value]) -> Option<Value> {
        if session.protocol_version() != Some("2025-03-26") {
            let msg = "JSON-RPC batches are only allowed under protocol version 2025-03-26";
            return Some(protocol::error(&Value::Null, INVALID_REQUEST, msg));
        }
        if items.is_empty() {
            return Some(protocol::error(&Value::Null, INVALID_REQUEST, "empty batch"));
        }
        let replies: Vec<Value> = items.iter().filter_map(|m| self.handle_one(session, m)).collect();
        (!replies.is_empty()).then_some(Value::Array(replies))
    }

    fn handle_one(&self, session: &mut Session, message: &Value) -> Option<Value> {
        let id = message.get("id");
        let reply_id = id.cloned().unwrap_or(Value::Null);
        if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Some(protocol::error(
                &reply_id,
                INVALID_REQUEST,
                "`jsonrpc` must be \"2.0\"",
            ));
        }
        let Some(method) = message.get("method") else {
            // A response to a request we never send: nothing to answer.
            return None;
        };
        let Some(method) = method.as_str() else {
            return Some(protocol::error(
                &reply_id,
                INVALID_REQUEST,
                "`method` must be a string",
            ));
        };
        let Some(id) = id else {
            if method == "notifications/initialized" {
                session.initialized = true;
            }
            return None;
        };
        if !(id.is_string() || id.is_number()) {
            return Some(protocol::error(
                &Value::Null,
                INVALID_REQUEST,
                "`id` must be a string or a number",
            ));
        }
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        Some(self.request(session, id, method, &params))
    }

    fn lock_traffic(&self) -> std::sync::MutexGuard<'_, Traffic> {
        // A panic while holding the lock can't leave the traffic half-updated in a harmful way.
        self.traffic
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
