//! MCP protocol revisions and the HTTP headers that carry them.

/// Methods whose 2026-07-28 results carry `ttlMs` and `cacheScope`.
pub const CACHEABLE: [&str; 6] = [
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "server/discover",
];

/// The stateless revision: no `initialize`, per-request `_meta`, `server/discover`.
pub const STATELESS: &str = "2026-07-28";
/// The newest session-era revision; the gateway speaks it to session-era upstreams it initializes itself.
pub const LATEST_SESSION_ERA: &str = "2025-11-25";
/// Revisions the gateway accepts from clients, newest first.
pub const SUPPORTED: [&str; 5] = [
    STATELESS,
    LATEST_SESSION_ERA,
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];
/// What a client that sends no `MCP-Protocol-Version` header is assumed to speak (as the spec says).
pub const ASSUMED_WITHOUT_HEADER: &str = "2025-03-26";

/// `Mcp-Session-Id`.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// `MCP-Protocol-Version`.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// `Mcp-Method` (2026-07-28).
pub const METHOD_HEADER: &str = "mcp-method";
/// `Mcp-Name` (2026-07-28).
pub const NAME_HEADER: &str = "mcp-name";
/// The `_meta` key holding a stateless request's protocol version.
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Whether the gateway accepts `version`.
pub fn is_supported(version: &str) -> bool {
    SUPPORTED.contains(&version)
}

/// Whether JSON-RPC batches are forbidden under `version` (removed in 2025-06-18). Revisions are
/// ISO dates, so they compare as strings.
pub fn forbids_batches(version: &str) -> bool {
    version >= "2025-06-18"
}
