//! The requests a session has posted straight to its HTTP upstream and not yet seen answered, so a
//! client's `notifications/cancelled` (naming its own id) can be rewritten to the id the upstream knows
//! and end the request's reply stream at once, as the actor does for stdio sessions.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::Notify;

/// One request in flight.
struct Entry {
    upstream_id: u64,
    original_id: Value,
    cancelled: Arc<Notify>,
}

/// The session's direct requests in flight (few at a time: a short list beats a map).
#[derive(Default)]
pub struct InFlight(Mutex<Vec<Entry>>);

impl InFlight {
    /// Registers a request; the returned signal fires when the client cancels it.
    pub fn add(&self, upstream_id: u64, original_id: Value) -> Arc<Notify> {
        let cancelled = Arc::new(Notify::new());
        self.lock().push(Entry {
            upstream_id,
            original_id,
            cancelled: Arc::clone(&cancelled),
        });
        cancelled
    }

    /// Forgets a request (answered, failed or dropped).
    pub fn remove(&self, upstream_id: u64) {
        self.lock().retain(|entry| entry.upstream_id != upstream_id);
    }

    /// The client's cancellation rewritten to the upstream's id, its request signalled; `None` when it
    /// names no single request in flight (passing the client's id on could cancel another request).
    pub fn cancel(&self, mut message: Value) -> Option<Value> {
        let named = message.pointer("/params/requestId")?.clone();
        let upstream_id = {
            let entries = self.lock();
            let mut matching = entries.iter().filter(|entry| entry.original_id == named);
            let (Some(entry), None) = (matching.next(), matching.next()) else {
                tracing::debug!(request = %named, "cancellation of no single request in flight dropped");
                return None;
            };
            entry.cancelled.notify_one();
            entry.upstream_id
        };
        let params = message.get_mut("params")?.as_object_mut()?;
        params.insert("requestId".to_owned(), Value::from(upstream_id));
        Some(message)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
