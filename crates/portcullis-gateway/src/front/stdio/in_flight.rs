//! The stdio client's requests in flight, by the client's id: whether it cancelled one (its answer is
//! then not written), and how a cancellation reaches a call a retry continued. The session knows
//! such a call by its first attempt's id, so the client's cancellation, which names the retry,
//! would match nothing there; the call's own task gives it up instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The requests in flight (cloned into each request's task).
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashMap<String, Flight>>>);

#[derive(Default)]
struct Flight {
    cancelled: bool,
    /// Set for a retry that continued a parked call.
    stop: Option<Arc<Notify>>,
}

impl InFlight {
    /// Notes request `key`. A continued call gets the signal its task must give the call up on.
    pub fn start(&self, key: String, continued: bool) -> Option<Arc<Notify>> {
        let stop = continued.then(Arc::default);
        let flight = Flight {
            cancelled: false,
            stop: stop.clone(),
        };
        self.lock().insert(key, flight);
        stop
    }

    /// Request `key` ended: whether its answer may be written (the client did not cancel it).
    pub fn finish(&self, key: &str) -> bool {
        self.lock().remove(key).is_none_or(|flight| !flight.cancelled)
    }

    /// The client cancelled request `key`. Returns whether the cancellation was dealt with here (a
    /// continued call, now signalled) rather than by the session.
    pub fn cancel(&self, key: &str) -> bool {
        let mut table = self.lock();
        let Some(flight) = table.get_mut(key) else {
            return false;
        };
        flight.cancelled = true;
        match &flight.stop {
            Some(stop) => {
                // A stored permit: the task sees it even if it is not waiting yet.
                stop.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Flight>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
