//! `portcullis demo-server --http 127.0.0.1:0` as a remote upstream, ended by its pid on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::EXE;

/// A running HTTP demo server.
pub struct HttpDemo {
    child: Child,
    /// Its MCP endpoint.
    pub url: String,
}

impl HttpDemo {
    /// Starts it with `extra` arguments (e.g. `--modern-only`) and waits for its address line.
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(EXE)
            .args(["demo-server", "--http", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("portcullis demo-server: ")
            .unwrap_or_else(|| panic!("no address line, got {line:?}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for HttpDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
