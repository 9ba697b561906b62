//! The stdio front in process: a client on one end of an in-memory pipe, the fake MCP server as the
//! child process. Same policy and audit as over HTTP, cancellation by the client's id, bad lines
//! answered with JSON-RPC errors, and a clean end (child killed) when the client closes its input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_gateway::audit::MemoryAuditSink;
use portcullis_gateway::clock::ManualClock;
use portcullis_gateway::config::Settings;
use portcullis_gateway::front::stdio::{Ended, StdioSetup, serve};
use portcullis_gateway::state::{Grant, PolicyRef, ServerEntry, UpstreamSpec};
use portcullis_policy::{Format, Identity, compile_str};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::task::JoinHandle;

const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "hide": ["drop_*"],
  "tools": {
    "read_file": {},
    "whoami": {},
    "cancels": {},
    "slow": { "limits": [{ "rate_limit": "1/minute" }] },
    "delete_file": { "action": "deny", "reason": "deleting files is not allowed here" }
  }
}"#;

struct Client {
    input: DuplexStream,
    output: Lines<BufReader<DuplexStream>>,
    front: JoinHandle<Ended>,
    audit: Arc<MemoryAuditSink>,
}

impl Client {
    fn start(max_body_bytes: usize) -> Self {
        Self::start_with(Settings {
            max_body_bytes,
            audit_wait_for_sync: true,
            ..Settings::default()
        })
    }

    fn start_with(settings: Settings) -> Self {
        let policy = compile_str(POLICY, Format::Json).unwrap();
        let setup = StdioSetup {
            server: ServerEntry {
                name: Arc::from("files"),
                upstream: UpstreamSpec::Stdio {
                    command: PathBuf::from(env!("CARGO_BIN_EXE_portcullis-fake-mcp")),
                    args: Vec::new(),
                    env: BTreeMap::new(),
                    cwd: None,
                },
                anonymous: None,
            },
            grant: Grant {
                identity: Identity {
                    id: "desk".to_owned(),
                    labels: BTreeMap::new(),
                },
                server: Arc::from("files"),
                servers: Vec::new(),
                policy: Some(PolicyRef {
                    name: Arc::from("main"),
                    policy: Arc::new(policy),
                    shadow: None,
                }),
            },
            settings,
        };
        let audit = Arc::new(MemoryAuditSink::new());
        let (input, front_in) = tokio::io::duplex(1 << 16);
        let (front_out, output) = tokio::io::duplex(1 << 16);
        let sink = audit.clone();
        let front = tokio::spawn(async move {
            let clock = Arc::new(ManualClock::at(1_795_665_610_000));
            serve(setup, sink, clock, (front_in, front_out), std::future::pending())
                .await
                .unwrap()
        });
        Self {
            input,
            output: BufReader::new(output).lines(),
            front,
            audit,
        }
    }

    async fn send(&mut self, message: &Value) {
        self.send_raw(format!("{message}\n").as_bytes()).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).await.unwrap();
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.output.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("the front is still writing");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends a request and returns its response, skipping notifications.
    async fn ask(&mut self, message: Value) -> Value {
        self.send(&message).await;
        loop {
            let line = self.next().await;
            if line.get("method").is_none() {
                return line;
            }
        }
    }

    async fn call(&mut self, id: &str, tool: &str, args: Value) -> Value {
        self.ask(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}))
            .await
    }

    async fn initialize(&mut self) {
        let init = self
            .ask(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "fake-mcp", "{init}");
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    }
}

fn text(response: &Value) -> &str {
    response["result"]["content"][0]["text"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_stdio_client_gets_the_same_enforcement_and_audit_as_over_http() {
    let mut client = Client::start(65_536);
    client.initialize().await;
    let list = client
        .ask(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read_file", "delete_file"], "first page, filtered");
    assert_eq!(list["result"]["nextCursor"], "page2");
    assert_eq!(
        list["result"]["tools"][0]["x-vendor"]["kept"], true,
        "raw JSON passes"
    );

    let allowed = client.call("a", "read_file", json!({"path": "notes.txt"})).await;
    assert_eq!(allowed["id"], "a");
    assert!(text(&allowed).contains("read_file ran"), "{allowed}");
    let denied = client.call("d", "delete_file", json!({})).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );
    let hidden = client.call("h", "drop_table", json!({})).await;
    assert_eq!(hidden["result"]["isError"], true, "{hidden}");

    let decisions: Vec<(String, String)> = client
        .audit
        .records()
        .iter()
        .map(|r| {
            let r = serde_json::to_value(r).unwrap();
            (
                r["tool"].as_str().unwrap().to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("read_file".to_owned(), "allow".to_owned()),
            ("delete_file".to_owned(), "deny".to_owned()),
            ("drop_table".to_owned(), "hide".to_owned())
        ]
    );
    assert_eq!(
        serde_json::to_value(&client.audit.records()[0]).unwrap()["grant"],
        "desk"
    );

    // Closing the input ends the front and kills the child.
    let pid: u32 = text(&client.call("w", "whoami", json!({})).await)
        .parse()
        .unwrap();
    drop(client.input);
    let ended = tokio::time::timeout(Duration::from_secs(10), client.front)
        .await
        .expect("the front ended in time")
        .unwrap();
    assert_eq!(ended, Ended::ClientClosed);
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .is_ok_and(|status| !status.contains("State:\tZ"))
    };
    for _ in 0..100 {
        if !alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(), "the child {pid} was ended");
    assert!(
        client.output.next_line().await.unwrap().is_none(),
        "output closed"
    );
}

#[tokio::test]
async fn a_cancelled_stdio_call_gets_no_answer_and_releases_its_reservation() {
    let mut client = Client::start(65_536);
    client.initialize().await;
    client
        .send(&json!({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
            "params": {"name": "slow", "arguments": {"ms": 10_000}, "_meta": {"progressToken": 9}}}))
        .await;
    let progress = client.next().await;
    assert_eq!(progress["params"]["progressToken"], 9, "{progress}");
    let _log = client.next().await;
    client
        .send(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "long"}}),
        )
        .await;
    // The next line is the answer to the next request: the cancelled one is never answered.
    let report = client.call("r", "cancels", json!({})).await;
    assert_eq!(report["id"], "r");
    let seen: Value = serde_json::from_str(text(&report)).unwrap();
    assert!(seen["slow"][0].is_u64(), "{seen}");
    assert_eq!(seen["cancelled"], json!([seen["slow"][0]]), "{seen}");
    let again = client.call("again", "slow", json!({"ms": 0})).await;
    assert_eq!(text(&again), "slow done", "the reservation was released: {again}");
}

#[tokio::test]
async fn bad_lines_get_json_rpc_errors_and_the_session_goes_on() {
    let mut client = Client::start(256);
    client.send_raw(b"{not json\n").await;
    assert_eq!(client.next().await["error"]["code"], -32700);
    client.send_raw(&[b'x'; 10_000]).await;
    client.send_raw(b"\n").await;
    let too_long = client.next().await;
    assert_eq!(too_long["error"]["code"], -32600, "{too_long}");
    assert!(
        too_long["error"]["message"].as_str().unwrap().contains("256"),
        "{too_long}"
    );
    client
        .send_raw(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n")
        .await;
    assert_eq!(client.next().await["error"]["code"], -32600);
    client.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":7}\n").await;
    let odd = client.next().await;
    assert_eq!(
        (odd["id"].clone(), odd["error"]["code"].clone()),
        (json!(7), json!(-32600))
    );
    client.initialize().await;
    let fine = client.call("f", "read_file", json!({})).await;
    assert!(text(&fine).contains("read_file ran"), "{fine}");
}

#[tokio::test]
async fn a_hung_stdio_call_times_out_with_a_clear_error_and_releases_its_reservation() {
    let mut client = Client::start_with(Settings {
        upstream_timeout: Duration::from_millis(500),
        audit_wait_for_sync: true,
        ..Settings::default()
    });
    client.initialize().await;
    let hung = client.call("h", "slow", json!({"ms": 10_000})).await;
    assert_eq!(hung["id"], "h");
    assert_eq!(hung["error"]["data"]["timeout"], "upstream", "{hung}");
    let again = client.call("again", "slow", json!({"ms": 0})).await;
    assert_eq!(text(&again), "slow done", "the reservation was released: {again}");
    let outcomes: Vec<Value> = client
        .audit
        .records()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap()["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("upstream_error"), json!("ok")]);
}

/// A 2026-07-28 request: the protocol version (and client) in `_meta`.
fn modern(id: &str, method: &str, mut params: Value, version: &str) -> Value {
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}});
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[tokio::test]
async fn a_2026_stdio_client_gets_discover_and_the_era_envelope_in_front_of_a_session_era_child() {
    let mut client = Client::start(65_536);
    // Never an `initialize`: the gateway initializes the child itself and answers from its result.
    let found = client
        .ask(modern("0", "server/discover", json!({}), "2026-07-28"))
        .await;
    let result = &found["result"];
    assert_eq!(result["serverInfo"]["name"], "fake-mcp", "{found}");
    assert_eq!(result["instructions"], "a fake for tests", "{found}");
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{found}"
    );
    let list = client
        .ask(modern("1", "tools/list", json!({}), "2026-07-28"))
        .await;
    assert_eq!(list["result"]["tools"][0]["name"], "read_file", "{list}");
    assert_eq!(list["result"]["resultType"], "complete", "{list}");
    assert_eq!(list["result"]["ttlMs"], 0, "{list}");
    assert_eq!(list["result"]["cacheScope"], "private", "{list}");
    let allowed = client
        .ask(modern(
            "a",
            "tools/call",
            json!({"name": "read_file", "arguments": {"path": "n"}}),
            "2026-07-28",
        ))
        .await;
    assert!(text(&allowed).contains("read_file ran"), "{allowed}");
    assert_eq!(allowed["result"]["resultType"], "complete", "{allowed}");
    let denied = client
        .ask(modern(
            "d",
            "tools/call",
            json!({"name": "delete_file", "arguments": {}}),
            "2026-07-28",
        ))
        .await;
    assert_eq!(
        text(&denied),
        "[POLICY DENIED] deleting files is not allowed here"
    );
    assert_eq!(denied["result"]["resultType"], "complete", "{denied}");
    let unknown = client
        .ask(modern("v", "tools/list", json!({}), "1999-01-01"))
        .await;
    assert_eq!(unknown["error"]["code"], -32022, "{unknown}");
    // The gateway's handshake was the only one: a late `initialize` is refused.
    let late = client
        .ask(json!({"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .await;
    assert_eq!(late["error"]["code"], -32600, "{late}");
}
