//! Integration tests of the demo MCP server: the protocol core, then each transport with a client.

mod core;
mod http;
mod http_client;
mod modern_only;
mod stdio;
