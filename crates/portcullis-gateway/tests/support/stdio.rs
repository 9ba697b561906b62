//! The stdio front in process: a client on one end of an in-memory pipe, the fake MCP server (the
//! `portcullis-fake-mcp` binary) as the child process, and the audit records it wrote.

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

use super::START_MS;

/// A client of one stdio front.
pub struct StdioClient {
    pub input: DuplexStream,
    pub output: Lines<BufReader<DuplexStream>>,
    pub front: JoinHandle<Ended>,
    pub audit: Arc<MemoryAuditSink>,
}

impl StdioClient {
    /// A front with `policy` (JSON) as grant `desk`'s, in front of the fake started with `args`.
    pub fn start(policy: &str, args: &[&str], settings: Settings) -> Self {
        let policy = compile_str(policy, Format::Json).unwrap();
        let setup = StdioSetup {
            server: ServerEntry {
                name: Arc::from("files"),
                upstream: UpstreamSpec::Stdio {
                    command: PathBuf::from(env!("CARGO_BIN_EXE_portcullis-fake-mcp")),
                    args: args.iter().map(|a| (*a).to_owned()).collect(),
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
            let clock = Arc::new(ManualClock::at(START_MS));
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

    pub async fn send(&mut self, message: &Value) {
        self.send_raw(format!("{message}\n").as_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).await.unwrap();
    }

    /// The next line the front wrote.
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.output.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("the front is still writing");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends a request and returns its response, skipping notifications.
    pub async fn ask(&mut self, message: Value) -> Value {
        self.send(&message).await;
        loop {
            let line = self.next().await;
            if line.get("method").is_none() {
                return line;
            }
        }
    }

    pub async fn call(&mut self, id: &str, tool: &str, args: Value) -> Value {
        self.ask(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}))
            .await
    }

    /// A session-era handshake; `server` is the name the upstream answers with.
    pub async fn initialize_with(&mut self, server: &str) {
        let init = self
            .ask(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}}, "clientInfo": {"name": "t", "version": "0"}}}))
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], server, "{init}");
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    }

    /// The audit records, as JSON.
    pub fn audit_json(&self) -> Vec<Value> {
        self.audit
            .records()
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect()
    }
}

/// A 2026-07-28 request: the protocol version (and client) in `_meta`.
pub fn modern(id: &str, method: &str, mut params: Value, version: &str) -> Value {
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}});
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}
