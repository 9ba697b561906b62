//! A tiny stdio MCP server for the gateway's integration tests (not shipped: see `tests/support`).
//! `--modern-only` makes it speak only protocol 2026-07-28.

#[path = "../../tests/support/fake_logic.rs"]
mod fake_logic;

use std::io::{BufRead, Write};
use std::process::ExitCode;

use serde_json::Value;

fn main() -> ExitCode {
    let respond = if std::env::args().any(|a| a == "--modern-only") {
        fake_logic::respond_modern_only
    } else {
        fake_logic::respond
    };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut stdout = std::io::stdout();
    loop {
        let Some(Ok(line)) = lines.next() else {
            return ExitCode::SUCCESS;
        };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
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
            let Some(Ok(answer)) = lines.next() else {
                return ExitCode::FAILURE;
            };
            let answer: Value = serde_json::from_str(&answer).unwrap_or_default();
            let said = answer["result"]["content"]["text"].as_str().unwrap_or("nothing");
            response = fake_logic::text_result(&response["id"], format!("client said {said}"));
        }
        if reply.sleep_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(reply.sleep_ms));
        }
        for message in std::iter::once(&response).chain(&reply.after) {
            if write_line(&mut stdout, message).is_err() {
                return ExitCode::FAILURE;
            }
        }
    }
}

fn write_line(out: &mut std::io::Stdout, message: &Value) -> std::io::Result<()> {
    let text = serde_json::to_string(message).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")?;
    out.flush()
}
