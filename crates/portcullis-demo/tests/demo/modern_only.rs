//! `modern_only`: the demo as a server written for 2026-07-28 alone.

#![allow(clippy::unwrap_used)]

use portcullis_demo::{DemoConfig, DemoServer, Session};
use serde_json::json;

#[test]
fn modern_only_refuses_initialize_and_unversioned_requests_but_serves_the_2026_era() {
    let server = DemoServer::new(DemoConfig {
        modern_only: true,
        ..DemoConfig::default()
    });
    let ask = |method: &str, params: serde_json::Value| {
        server
            .handle(
                &mut Session::default(),
                &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
            )
            .unwrap()
    };
    let init = ask(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}),
    );
    assert_eq!(init["error"]["code"], -32022, "{init}");
    let unversioned = ask("tools/list", json!({}));
    assert_eq!(unversioned["error"]["code"], -32022, "{unversioned}");
    let found = ask("server/discover", json!({}));
    assert_eq!(
        found["result"]["supportedVersions"],
        json!(["2026-07-28"]),
        "{found}"
    );
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"});
    let listed = ask("tools/list", json!({"_meta": meta}));
    assert!(
        listed["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{listed}"
    );
    assert_eq!(listed["result"]["resultType"], "complete", "{listed}");
}
