//! Requests an upstream sends its client on the standalone stream (sampling, elicitation, roots
//! outside any call), relayed under an id the gateway mints: unique on the node, so requests from
//! several upstreams (an aggregate's members, which share one client stream) never collide with each
//! other or with the gateway's own questions. The client's answer is claimed by the session that
//! relayed the request, given back its original id, and posted to that upstream session only.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::jsonrpc::{self, Kind};

/// What relayed ids begin with.
const PREFIX: &str = "portcullis-srv-";

/// How many unanswered requests a session remembers; the oldest is forgotten first (its upstream has
/// long given up on it).
const MAX_OPEN: usize = 64;

/// Node-wide, so ids differ across sessions.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// One session's relayed requests awaiting the client's answer: (relayed id, original id).
#[derive(Debug, Default)]
pub struct ServerRequests(Mutex<VecDeque<(String, Value)>>);

impl ServerRequests {
    /// Gives an upstream request a relayed id, remembering its own.
    pub fn relay(&self, request: &mut Value) {
        let Some(object) = request.as_object_mut() else {
            return;
        };
        let relayed = format!("{PREFIX}{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let Some(original) = object.insert("id".to_owned(), Value::from(relayed.as_str())) else {
            object.remove("id");
            return;
        };
        let mut open = self.lock();
        if open.len() == MAX_OPEN {
            open.pop_front();
        }
        open.push_back((relayed, original));
    }

    /// The upstream gave up on a request it relayed (`notifications/cancelled` naming its own id):
    /// the client is told under the id it knows.
    pub fn relay_cancel(&self, notification: &mut Value) {
        let Some(named) = notification.pointer_mut("/params/requestId") else {
            return;
        };
        // The newest: an upstream may reuse an id once it gave up on its first request.
        if let Some((relayed, _)) = self.lock().iter().rev().find(|(_, original)| original == named) {
            *named = Value::from(relayed.as_str());
        }
    }

    /// A client message on its way upstream: an answer to a relayed request gets its original id
    /// back; an answer to one this session did not relay (another member's, or forgotten) is
    /// dropped (`None`); anything else passes as is.
    pub fn claim(&self, mut message: Value) -> Option<Value> {
        if jsonrpc::kind(&message) != Some(Kind::Response) {
            return Some(message);
        }
        let Some(relayed) = message
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| id.starts_with(PREFIX))
        else {
            return Some(message);
        };
        let original = {
            let mut open = self.lock();
            let at = open.iter().position(|(id, _)| id == relayed);
            at.and_then(|at| open.remove(at)).map(|(_, original)| original)
        };
        let Some(original) = original else {
            tracing::debug!(
                id = relayed,
                "answer to a request this session did not relay dropped"
            );
            return None;
        };
        if let Some(object) = message.as_object_mut() {
            object.insert("id".to_owned(), original);
        }
        Some(message)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, Value)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_get_their_original_id_back_in_the_session_that_relayed_them() {
        let (one, two) = (ServerRequests::default(), ServerRequests::default());
        let mut first = json!({"jsonrpc": "2.0", "id": 0, "method": "sampling/createMessage"});
        let mut second = json!({"jsonrpc": "2.0", "id": 0, "method": "sampling/createMessage"});
        one.relay(&mut first);
        two.relay(&mut second);
        assert_ne!(
            first["id"], second["id"],
            "same upstream id, distinct relayed ids"
        );
        let answer = |id: &Value| json!({"jsonrpc": "2.0", "id": id, "result": {}});
        // The other session drops it; the relaying one restores the id, once.
        assert_eq!(two.claim(answer(&first["id"])), None);
        assert_eq!(one.claim(answer(&first["id"])), Some(answer(&json!(0))));
        assert_eq!(one.claim(answer(&first["id"])), None);
        // The upstream's cancellation of a relayed request names the id the client knows.
        let mut third = json!({"jsonrpc": "2.0", "id": 7, "method": "elicitation/create"});
        one.relay(&mut third);
        let mut cancel =
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}});
        one.relay_cancel(&mut cancel);
        assert_eq!(cancel["params"]["requestId"], third["id"]);
        // Other messages pass untouched.
        let other = json!({"jsonrpc": "2.0", "id": "c1", "result": {}});
        assert_eq!(one.claim(other.clone()), Some(other));
    }
}
