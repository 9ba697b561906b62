//! A scripted MCP agent on the official Python SDK (`tests/peers/clients/agent.py`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::{PeerError, Peers, repo_root};

/// Which SDK and protocol era the agent speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// `mcp` 2.x, stateless 2026-07-28 era (`mode="2026-07-28"`).
    Modern,
    /// `mcp` 2.x, `mode="auto"`: `server/discover` first, falling back to `initialize`.
    Auto,
    /// `mcp` 2.x in legacy mode: `initialize`, session era.
    Legacy,
    /// `mcp` 1.x: session era.
    V1,
}

/// One step of an agent's plan.
#[derive(Clone, Debug)]
pub enum Step {
    /// `tools/list`.
    List,
    /// `tools/call`.
    Call(&'static str, Value),
    /// `tools/call` asking for progress; its line lists the notifications under `progress`.
    CallWithProgress(&'static str, Value),
}

/// An agent ready to run plans against one server.
#[derive(Clone, Debug)]
pub struct Agent {
    python: PathBuf,
    sdk: Sdk,
    target: Target,
    token: Option<String>,
    sse: bool,
}

/// Where the agent's server is.
#[derive(Clone, Debug)]
enum Target {
    /// A Streamable HTTP endpoint.
    Url(String),
    /// A command the agent launches and speaks to over stdio.
    Command(Vec<String>),
}

impl Agent {
    /// An agent speaking `sdk` to the Streamable HTTP endpoint `url`.
    ///
    /// # Errors
    /// When the SDK's venv was not installed with [`Peers::ensure`].
    pub fn http(peers: &Peers, sdk: Sdk, url: &str, token: Option<&str>) -> Result<Self, PeerError> {
        Ok(Self {
            python: python(peers, sdk)?,
            sdk,
            target: Target::Url(url.to_owned()),
            token: token.map(str::to_owned),
            sse: false,
        })
    }

    /// The same agent over the legacy HTTP+SSE transport (2024-11-05): `url` is the SSE endpoint.
    #[must_use]
    pub fn over_sse(mut self) -> Self {
        self.sse = true;
        self
    }

    /// An agent speaking `sdk` over stdio to the server it launches as `command` (program, then args).
    ///
    /// # Errors
    /// When the SDK's venv was not installed with [`Peers::ensure`].
    pub fn stdio(peers: &Peers, sdk: Sdk, command: &[String]) -> Result<Self, PeerError> {
        Ok(Self {
            python: python(peers, sdk)?,
            sdk,
            target: Target::Command(command.to_vec()),
            token: None,
            sse: false,
        })
    }

    /// Runs a plan in one session; returns one JSON object per step, then a final `{"op": "done"}` (or
    /// an `open`/`fatal` error object when the session could not start). Panics on a hung agent: tests
    /// fail loudly.
    pub fn run(&self, plan: &[Step]) -> Vec<Value> {
        let plan: Vec<Value> = plan
            .iter()
            .map(|step| match step {
                Step::List => json!({"op": "list"}),
                Step::Call(tool, args) => json!({"op": "call", "tool": tool, "args": args}),
                Step::CallWithProgress(tool, args) => {
                    json!({"op": "call", "tool": tool, "args": args, "progress": true})
                }
            })
            .collect();
        let mode = match self.sdk {
            Sdk::Modern => "2026-07-28",
            Sdk::Auto => "auto",
            Sdk::Legacy | Sdk::V1 => "legacy",
        };
        let mut command = Command::new(&self.python);
        command
            .arg(repo_root().join("tests/peers/clients/agent.py"))
            .args(["--mode", mode]);
        if let Some(token) = &self.token {
            command.args(["--token", token]);
        }
        if self.sse {
            command.args(["--transport", "sse"]);
        }
        let output = match &self.target {
            Target::Url(url) => command.args(["--url", url]).arg(Value::from(plan).to_string()),
            Target::Command(server) => command
                .arg("--stdio")
                .arg(Value::from(plan).to_string())
                .arg("--")
                .args(server),
        }
        .output();
        let output = match output {
            Ok(output) => output,
            Err(error) => return vec![json!({"op": "fatal", "error": {"message": error.to_string()}})],
        };
        let mut lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| json!({"op": "garbage", "line": line})))
            .collect();
        if lines.is_empty() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            lines.push(
                json!({"op": "fatal", "error": {"message": format!("agent printed nothing: {stderr}")}}),
            );
        }
        lines
    }
}

fn python(peers: &Peers, sdk: Sdk) -> Result<PathBuf, PeerError> {
    let key = if sdk == Sdk::V1 {
        "PEERS_PY_MCP1"
    } else {
        "PEERS_PY_MCP2"
    };
    Ok(peers.path(key)?.to_path_buf())
}
