//! The shared-state seam: one immutable snapshot of servers, policies and grants, published through a
//! `tokio::sync::watch` channel. The data plane reads the current snapshot and never waits on anything
//! per call; the replicated store (#5) publishes new snapshots the same way the config loader does.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use portcullis_policy::{CompiledPolicy, Identity};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// Everything the data plane needs to route and decide, at one revision.
#[derive(Clone, Debug, Default)]
pub struct GatewayState {
    /// Upstream servers by name (the `<server>` in `/mcp/<server>`).
    pub servers: HashMap<Arc<str>, Arc<ServerEntry>>,
    /// Grants keyed by the SHA-256 of their bearer token; the token itself is never stored.
    pub grants: HashMap<TokenHash, Arc<Grant>>,
}

/// How the gateway reaches one upstream MCP server, and who may use it without a token.
#[derive(Clone, Debug)]
pub struct ServerEntry {
    /// The server's name.
    pub name: Arc<str>,
    /// Where it lives.
    pub upstream: UpstreamSpec,
    /// When set, requests without a token are served under this policy.
    pub anonymous: Option<PolicyRef>,
}

/// A named, compiled policy.
#[derive(Clone, Debug)]
pub struct PolicyRef {
    /// The policy's name in the config; it also scopes `global` counters.
    pub name: Arc<str>,
    /// The compiled policy.
    pub policy: Arc<CompiledPolicy>,
    /// A candidate evaluated beside `policy` and audited, never enforced.
    pub shadow: Option<Arc<CompiledPolicy>>,
}

/// An upstream transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamSpec {
    /// A child process speaking newline-delimited JSON-RPC; one process per session.
    Stdio {
        /// The program.
        command: PathBuf,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables.
        env: BTreeMap<String, String>,
        /// Working directory, when not the gateway's.
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP endpoint (`http://` only for now).
    Http {
        /// The endpoint URL.
        url: String,
    },
    /// A 2024-11-05 HTTP+SSE server (`http://` only): the URL of its event stream (`.../sse`).
    Sse {
        /// The stream's URL.
        url: String,
    },
}

/// What a bearer token entitles its holder to.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The caller's identity (grant id and labels) as policies see it.
    pub identity: Identity,
    /// The grant's first server: the one `/mcp` serves alone when the grant has no other.
    pub server: Arc<str>,
    /// Every server this grant may use, `server` first; empty means `server` alone. Several servers
    /// are served together at `/mcp` (each under the same policy), and each one at `/mcp/<server>`.
    pub servers: Vec<Arc<str>>,
    /// The policy that applies; `None` denies every call.
    pub policy: Option<PolicyRef>,
}

impl Grant {
    /// Whether this grant may use `server`.
    pub fn covers(&self, server: &str) -> bool {
        *self.server == *server || self.servers.iter().any(|s| **s == *server)
    }

    /// Every server this grant may use, `server` first, each once.
    pub fn all_servers(&self) -> Vec<Arc<str>> {
        let mut out = vec![Arc::clone(&self.server)];
        for server in &self.servers {
            if !out.contains(server) {
                out.push(Arc::clone(server));
            }
        }
        out
    }
}

/// SHA-256 of a bearer token.
pub type TokenHash = [u8; 32];

/// Hashes a bearer token the way grants are keyed.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Parses a 64-digit hex SHA-256, as written in the config.
pub fn parse_token_hash(hex: &str) -> Option<TokenHash> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let high = hex_digit(pair[0])?;
        let low = hex_digit(pair[1])?;
        out[i] = (high << 4) | low;
    }
    Some(out)
}

/// Lowercase hex of some bytes (token hashes, argument digests).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The reading side of the seam: cheap to clone, one per task.
pub type StateReader = watch::Receiver<Arc<GatewayState>>;

/// The writing side of the seam: whoever owns the truth (config loader, replicated store) publishes here.
pub type StatePublisher = watch::Sender<Arc<GatewayState>>;

/// A channel holding `initial` as the first snapshot.
pub fn channel(initial: GatewayState) -> (StatePublisher, StateReader) {
    watch::channel(Arc::new(initial))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_round_trip_through_hex() {
        let hash = hash_token("secret");
        let hex = to_hex(&hash);
        assert_eq!(
            hex,
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
        assert_eq!(parse_token_hash(&hex), Some(hash));
        assert_eq!(parse_token_hash(&hex.to_uppercase()), Some(hash));
        assert_eq!(parse_token_hash("abc"), None);
        assert_eq!(parse_token_hash(&"zz".repeat(32)), None);
    }
}
