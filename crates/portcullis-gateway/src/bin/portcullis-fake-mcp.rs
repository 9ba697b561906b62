//! A tiny stdio MCP server for the gateway's integration tests (not shipped: see `tests/support`).

#[path = "../../tests/support/fake_logic.rs"]
mod fake_logic;

use std::io::{BufRead, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return ExitCode::FAILURE };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let reply = fake_logic::respond(&message, std::process::id());
        if reply.crash {
            return ExitCode::from(3);
        }
        for note in reply.before.iter().chain(reply.response.iter()) {
            if reply.sleep_ms > 0 && reply.response.as_ref() == Some(note) {
                std::thread::sleep(std::time::Duration::from_millis(reply.sleep_ms));
            }
            let written = serde_json::to_string(note)
                .map(|text| writeln!(stdout, "{text}").and_then(|()| stdout.flush()));
            if !matches!(written, Ok(Ok(()))) {
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
