//! A tiny stdio MCP server for the gateway's integration tests (not shipped: see `tests/support`).
//! `--modern-only` makes it speak only protocol 2026-07-28.
//!
//! Beyond the shared fake logic it honours `notifications/cancelled`: a cancelled `slow` call stops
//! waiting and is never answered, and the `cancels` tool reports which request ids were cancelled and
//! which ids `slow` calls arrived with, so tests can see the ids the upstream knows.

#[path = "../../tests/support/fake_logic.rs"]
mod fake_logic;

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the fake saw of cancellation.
#[derive(Default)]
struct Seen {
    cancelled: Vec<Value>,
    slow: Vec<Value>,
}

fn main() -> ExitCode {
    let respond = if std::env::args().any(|a| a == "--modern-only") {
        fake_logic::respond_modern_only
    } else {
        fake_logic::respond
    };
    let (lines, incoming) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if let Ok(message) = serde_json::from_str::<Value>(&line)
                && lines.send(message).is_err()
            {
                return;
            }
        }
    });
    let mut stdout = std::io::stdout();
    let mut seen = Seen::default();
    let mut queued: VecDeque<Value> = VecDeque::new();
    loop {
        let message = match queued.pop_front() {
            Some(message) => message,
            None => match incoming.recv() {
                Ok(message) => message,
                Err(_) => return ExitCode::SUCCESS,
            },
        };
        if message["method"] == "notifications/cancelled" {
            seen.cancelled.push(message["params"]["requestId"].clone());
            continue;
        }
        if message["method"] == "tools/call" && message["params"]["name"] == "cancels" {
            let report = json!({"cancelled": seen.cancelled, "slow": seen.slow}).to_string();
            let response = fake_logic::text_result(&message["id"], report);
            if write_line(&mut stdout, &response).is_err() {
                return ExitCode::FAILURE;
            }
            continue;
        }
        if message["method"] == "tools/call" && message["params"]["name"] == "slow" {
            seen.slow.push(message["id"].clone());
        }
        let reply = respond(&message, std::process::id());
        if reply.crash {
            return ExitCode::from(3);
        }
        for note in &reply.before {
            if write_line(&mut stdout, note).is_err() {
                return ExitCode::FAILURE;
            }
        }
        let Some(mut response) = reply.response else {
            continue;
        };
        if reply.await_client {
            // The next message must be the client's answer to our request.
            let Ok(answer) = incoming.recv() else {
                return ExitCode::FAILURE;
            };
            let said = answer["result"]["content"]["text"].as_str().unwrap_or("nothing");
            response = fake_logic::text_result(&response["id"], format!("client said {said}"));
        }
        if reply.sleep_ms > 0 {
            let wait = Duration::from_millis(reply.sleep_ms);
            if cancelled_while_waiting(&incoming, &message["id"], wait, &mut seen, &mut queued) {
                continue;
            }
        }
        for message in std::iter::once(&response).chain(&reply.after) {
            if write_line(&mut stdout, message).is_err() {
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Waits `wait`, noting cancellations and queueing everything else; true when `id` was cancelled.
fn cancelled_while_waiting(
    incoming: &Receiver<Value>,
    id: &Value,
    wait: Duration,
    seen: &mut Seen,
    queued: &mut VecDeque<Value>,
) -> bool {
    let until = Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match incoming.recv_timeout(left) {
            Ok(message) if message["method"] == "notifications/cancelled" => {
                let named = message["params"]["requestId"].clone();
                let hit = &named == id;
                seen.cancelled.push(named);
                if hit {
                    return true;
                }
            }
            Ok(message) => queued.push_back(message),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
        }
    }
}

fn write_line(out: &mut std::io::Stdout, message: &Value) -> std::io::Result<()> {
    let text = serde_json::to_string(message).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")?;
    out.flush()
}
