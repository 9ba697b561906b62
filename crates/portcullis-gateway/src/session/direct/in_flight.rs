//! The requests a session has posted straight to its HTTP upstream and not yet seen answered, so a
//! client's `notifications/cancelled` (naming its own id) can be rewritten to the id the upstream knows
//! and end the request's reply stream at once, as the actor does for stdio sessions. A request the
//! upstream sends on its standalone stream while exactly one request is in flight can join that
//! request's reply stream (for a 2026-07-28 client, which has no stream of its own).

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::{Notify, mpsc};

/// One request in flight.
struct Entry {
    upstream_id: u64,
    original_id: Value,
    cancelled: Arc<Notify>,
    /// Joins a message to the request's reply stream (only a 2026-07-28 client's requests take any).
    side: Option<mpsc::Sender<Value>>,
}

/// The session's direct requests in flight (few at a time: a short list beats a map).
#[derive(Default)]
pub struct InFlight(Mutex<Vec<Entry>>);

impl InFlight {
    /// Registers a request; the returned signal fires when the client cancels it, and `side`
    /// takes messages joined to its reply stream.
    pub fn add(
        &self,
        upstream_id: u64,
        original_id: Value,
        side: Option<mpsc::Sender<Value>>,
    ) -> Arc<Notify> {
        let cancelled = Arc::new(Notify::new());
        self.lock().push(Entry {
            upstream_id,
            original_id,
            cancelled: Arc::clone(&cancelled),
            side,
        });
        cancelled
    }

    /// Where to join a message when exactly one request is in flight; with several, nothing tells
    /// which one a message belongs to (and they may be different clients' of a shared session).
    pub fn sole(&self) -> Option<mpsc::Sender<Value>> {
        match self.lock().as_slice() {
            [only] => only.side.clone(),
            _ => None,
        }
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
