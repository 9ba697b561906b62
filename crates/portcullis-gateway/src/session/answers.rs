//! Answers a session-era client gives to questions the gateway asked it on an upstream's behalf (a
//! 2026-07-28 upstream's input requests, relayed as server→client requests). They arrive like any
//! response the client posts, so the session claims them before they would go to the upstream, which
//! never asked under those ids.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::jsonrpc::{self, Kind};

/// The gateway's open questions in one session, by the id the client was given.
#[derive(Debug, Default)]
pub struct ClientAnswers {
    waiting: Mutex<HashMap<String, mpsc::Sender<Value>>>,
}

impl ClientAnswers {
    /// Answers to `id` go to `to` from now on.
    pub fn expect(&self, id: String, to: mpsc::Sender<Value>) {
        self.lock().insert(id, to);
    }

    /// Stops waiting for `id` (answered, or the request it belongs to ended).
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Takes `message` when it answers one of the gateway's questions; otherwise gives it back.
    pub fn claim(&self, message: Value) -> Option<Value> {
        if jsonrpc::kind(&message) != Some(Kind::Response) {
            return Some(message);
        }
        let Some(id) = message.get("id").and_then(Value::as_str) else {
            return Some(message);
        };
        let Some(to) = self.lock().remove(id) else {
            return Some(message);
        };
        // The asking request may have ended meanwhile: then the answer has nowhere to go.
        let _ = to.try_send(message);
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Value>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
