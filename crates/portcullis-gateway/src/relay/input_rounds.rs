//! The other direction of [`super::input_required`]: a session-era client in front of an upstream
//! that speaks only 2026-07-28. When the upstream answers a call with an `InputRequiredResult`, the
//! gateway asks the client each input request as a server→client request (on the call's stream),
//! collects the answers (claimed by the session, see `session::answers`), and retries the call
//! upstream with `inputResponses` and the upstream's `requestState`. The client sees one call.

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::session::SessionHandle;

/// Methods whose result may be an `InputRequiredResult`.
const INTERACTIVE: [&str; 3] = ["tools/call", "prompts/get", "resources/read"];

/// Whether the gateway must keep `request` to retry it: the upstream speaks 2026-07-28, the client
/// does not, and the method can need input.
pub fn keeps(session: &SessionHandle, request: &Value) -> bool {
    session.bridges_to_stateless()
        && !super::is_stateless(request)
        && crate::jsonrpc::method(request).is_some_and(|m| INTERACTIVE.contains(&m))
}

/// Whether an upstream response asks for input.
pub fn asks_input(response: &Value) -> bool {
    response.pointer("/result/resultType").and_then(Value::as_str) == Some("input_required")
}

/// One round of questions: asked, then answered, then the retry.
pub struct Round {
    session: SessionHandle,
    /// Requests still to show the client.
    unasked: VecDeque<Value>,
    /// The input request key each question's id stands for.
    keys: HashMap<String, String>,
    answers: mpsc::Receiver<Value>,
    got: Map<String, Value>,
    state: Option<Value>,
}

impl Round {
    /// The round an `InputRequiredResult` (the answer to upstream request `upstream_id`, so the
    /// questions' ids differ from round to round) starts.
    pub fn start(session: &SessionHandle, upstream_id: u64, response: &Value) -> Self {
        let result = response.get("result");
        let requests = result
            .and_then(|r| r.get("inputRequests"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let (to, answers) = mpsc::channel(requests.len().max(1));
        let mut unasked = VecDeque::new();
        let mut keys = HashMap::new();
        for (key, request) in requests {
            let id = format!("portcullis-input-{upstream_id}-{key}");
            let mut question = json!({"jsonrpc": "2.0", "id": &id, "method": request.get("method")});
            if let Some(params) = request.get("params") {
                question["params"] = params.clone();
            }
            session.info().client_answers.expect(id.clone(), to.clone());
            unasked.push_back(question);
            keys.insert(id, key);
        }
        Self {
            session: session.clone(),
            unasked,
            keys,
            answers,
            got: Map::new(),
            state: result.and_then(|r| r.get("requestState")).cloned(),
        }
    }

    /// The next question to show the client, if any is left.
    pub fn ask(&mut self) -> Option<Value> {
        self.unasked.pop_front()
    }

    /// Whether every question has its answer (a round of none, only `requestState`, at once).
    pub fn answered(&self) -> bool {
        self.keys.is_empty()
    }

    /// Waits for one answer. `None`: nobody can answer any more.
    pub async fn collect(&mut self) -> Option<()> {
        let answer = self.answers.recv().await?;
        let id = answer.get("id").and_then(Value::as_str).unwrap_or_default();
        if let Some(key) = self.keys.remove(id) {
            // A client's error is an answer too; the upstream decides what it means.
            let value = answer
                .get("result")
                .or_else(|| answer.get("error"))
                .cloned()
                .unwrap_or(Value::Null);
            self.got.insert(key, value);
        }
        Some(())
    }

    /// `request` again, carrying the answers and the upstream's state.
    pub fn retry(mut self, request: &Value) -> Value {
        let mut retry = request.clone();
        if let Some(params) = retry
            .as_object_mut()
            .map(|r| r.entry("params").or_insert_with(|| Value::Object(Map::new())))
            && let Some(params) = params.as_object_mut()
        {
            params.insert(
                "inputResponses".to_owned(),
                Value::Object(std::mem::take(&mut self.got)),
            );
            match self.state.take() {
                Some(state) => params.insert("requestState".to_owned(), state),
                None => params.remove("requestState"),
            };
        }
        retry
    }
}

impl Drop for Round {
    fn drop(&mut self) {
        for id in self.keys.keys() {
            self.session.info().client_answers.forget(id);
        }
    }
}
