//! Test support: `portcullis serve` as a child process, ended by its pid.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support module"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

pub mod admin;
pub mod admin_cluster;
pub mod approvals;
pub mod cluster;
pub mod demo;
pub mod quota;
pub mod relayed;
pub mod run;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_portcullis");

/// A fresh directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-bin-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `token_sha256` a grant stores for `token`.
pub fn token_sha(token: &str) -> String {
    portcullis_gateway::state::to_hex(&portcullis_gateway::state::hash_token(token))
}

/// A `[servers.demo]` entry running the built-in demo server over stdio.
pub fn demo_server() -> String {
    format!(
        "[servers.demo]\nupstream = {{ type = \"stdio\", command = {EXE:?}, args = [\"demo-server\"] }}\n"
    )
}

/// A running `portcullis serve`; dropping it kills that process (only it) and reaps it.
pub struct Node {
    child: Child,
    /// The agent listener, `host:port`.
    pub agent: String,
}

impl Node {
    /// Writes `config` as `dir/portcullis.toml`, starts `portcullis serve` on it and waits for its ready
    /// line.
    pub fn serve(dir: &Path, config: &str) -> Self {
        let path = dir.join("portcullis.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(EXE)
            .args(["serve", "--config", path.to_str().unwrap(), "--log", "warn"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        let agent = ready
            .trim()
            .strip_prefix("ready agent=")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no ready line, got {ready:?}"))
            .to_owned();
        Self { child, agent }
    }

    /// The process id (to read its `/proc` figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The MCP endpoint of `server`.
    pub fn url(&self, server: &str) -> String {
        format!("http://{}/mcp/{server}", self.agent)
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to this process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, patience: Duration) -> ExitStatus {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "portcullis serve did not exit within {patience:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
