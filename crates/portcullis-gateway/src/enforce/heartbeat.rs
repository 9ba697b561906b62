//! Progress notifications while a call waits for a human, for clients that asked for progress: they
//! show the agent that its call is alive and what it waits for, and they hold the stream open.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

/// The request's `params._meta.progressToken`: present when the client accepts progress for it.
pub fn progress_token(message: &Value) -> Option<&Value> {
    message
        .pointer("/params/_meta/progressToken")
        .filter(|token| token.is_string() || token.is_number())
}

/// A progress notification's `progress` (0 for anything else).
pub fn progress_of(message: &Value) -> f64 {
    message
        .pointer("/params/progress")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

/// Shifts the upstream's progress notification by the `beaten` progress heartbeats already reported
/// for the same request, so the client sees progress keep increasing, as the spec requires. Other
/// messages, and every message when no heartbeat was sent, pass unchanged.
pub fn continue_progress(message: &mut Value, beaten: f64) {
    if beaten <= 0.0 || message.get("method").and_then(Value::as_str) != Some("notifications/progress") {
        return;
    }
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["progress", "total"] {
        if let Some(shifted) = params.get(field).and_then(|value| shift(value, beaten)) {
            params.insert(field.to_owned(), shifted);
        }
    }
}

/// `value + by`, kept a whole number when both are.
fn shift(value: &Value, by: f64) -> Option<Value> {
    match value.as_u64() {
        Some(whole) if by.fract() == 0.0 => Some(Value::from(whole.saturating_add(by as u64))),
        _ => value.as_f64().map(|v| Value::from(v + by)),
    }
}

/// Where a parked call's progress notifications go, and how often.
pub struct Heartbeat {
    token: Value,
    every: Duration,
    sink: mpsc::Sender<Value>,
}

impl Heartbeat {
    /// For `message` when it carries a progress token; `None` otherwise (nothing is sent).
    pub fn for_request(message: &Value, every: Duration, sink: mpsc::Sender<Value>) -> Option<Self> {
        Some(Self {
            token: progress_token(message)?.clone(),
            every,
            sink,
        })
    }

    /// Awaits `wait`, sending one notification at once and another every interval until it resolves.
    /// `remaining` is how long approval `id` has left when the wait starts.
    pub async fn beat_while<F: Future>(&self, id: &str, remaining: Duration, wait: F) -> F::Output {
        let deadline = Instant::now() + remaining;
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut progress = 0_u64;
        tokio::pin!(wait);
        loop {
            tokio::select! {
                biased;
                out = &mut wait => return out,
                _ = ticks.tick() => {
                    progress += 1;
                    let left = deadline.saturating_duration_since(Instant::now());
                    let message = format!("waiting for approval {id} (expires in {})", approx(left));
                    // A full or closed sink loses one beat, never the call: the next one follows.
                    let _ = self.sink.try_send(json!({
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {"progressToken": self.token, "progress": progress, "message": message},
                    }));
                }
            }
        }
    }
}

/// A time left as people say it: `4 min` above two minutes, else seconds.
fn approx(left: Duration) -> String {
    let secs = left.as_secs();
    if secs >= 120 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;

    #[test]
    fn only_a_string_or_number_token_asks_for_progress() {
        let with = |meta: Value| json!({"params": {"name": "t", "_meta": meta}});
        assert_eq!(
            progress_token(&with(json!({"progressToken": "a"}))),
            Some(&json!("a"))
        );
        assert_eq!(
            progress_token(&with(json!({"progressToken": 7}))),
            Some(&json!(7))
        );
        assert_eq!(progress_token(&with(json!({"progressToken": null}))), None);
        assert_eq!(progress_token(&with(json!({}))), None);
        assert_eq!(progress_token(&json!({"params": {"name": "t"}})), None);
    }

    #[tokio::test]
    async fn beats_at_once_then_every_interval_until_the_wait_ends() {
        let (sink, mut beats) = mpsc::channel(16);
        let message = json!({"params": {"_meta": {"progressToken": "tok"}}});
        let heartbeat = Heartbeat::for_request(&message, Duration::from_millis(10), sink).unwrap();
        // The wait ends once three beats have arrived.
        let (done, wait) = tokio::sync::oneshot::channel::<()>();
        let listen = async move {
            let mut seen = Vec::new();
            while seen.len() < 3 {
                seen.push(beats.recv().await.unwrap());
            }
            let _ = done.send(());
            seen
        };
        let (seen, _) = tokio::join!(
            listen,
            heartbeat.beat_while("apr-1", Duration::from_secs(301), wait)
        );
        for (n, beat) in seen.iter().enumerate() {
            assert_eq!(beat["method"], "notifications/progress");
            assert_eq!(beat["params"]["progressToken"], "tok");
            assert_eq!(beat["params"]["progress"], n as u64 + 1);
            assert_eq!(
                beat["params"]["message"],
                "waiting for approval apr-1 (expires in 5 min)"
            );
        }
    }

    #[test]
    fn upstream_progress_continues_after_the_heartbeats() {
        let mut upstream = json!({"jsonrpc": "2.0", "method": "notifications/progress",
            "params": {"progressToken": "t", "progress": 0, "total": 10, "message": "step"}});
        continue_progress(&mut upstream, 3.0);
        assert_eq!(
            upstream["params"],
            json!({"progressToken": "t", "progress": 3, "total": 13, "message": "step"})
        );
        let mut half = json!({"method": "notifications/progress", "params": {"progress": 0.5}});
        continue_progress(&mut half, 2.0);
        assert_eq!(half["params"]["progress"], 2.5);
        let mut log = json!({"method": "notifications/message", "params": {"progress": 1}});
        continue_progress(&mut log, 2.0);
        assert_eq!(log["params"]["progress"], 1);
        let mut untouched = json!({"method": "notifications/progress", "params": {"progress": 1}});
        continue_progress(&mut untouched, 0.0);
        assert_eq!(untouched["params"]["progress"], 1);
    }

    #[test]
    fn short_times_are_in_seconds() {
        assert_eq!(approx(Duration::from_secs(119)), "119 s");
        assert_eq!(approx(Duration::from_secs(600)), "10 min");
    }
}
