//! `/mcp` aggregate sessions beyond one connection and one node: recorded in the session directory
//! so another node continues them under the same `Mcp-Session-Id` (and a DELETE anywhere ends them
//! everywhere), resumable with `Last-Event-ID` like `/mcp/<server>` sessions, and per-session limits
//! counted per member server, also when the aggregate moves to another node.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::{Method, StatusCode};
use portcullis_gateway::cluster::{
    ClusterHooks, SessionCountBook, SessionCountSharing, SessionCountValue, SessionDirectory, SessionEntry,
    ShareKey,
};
use portcullis_policy::{CounterId, Window};
use serde_json::{Value, json};
use support::{EventStream, SseRequest, TestNode, text};

const TOKEN: &str = "several-token";

/// Two servers' tools allowed; `write_file` limited to 2 a minute per session.
const POLICY: &str = r#"{
  "version": "1",
  "default": "deny",
  "tools": {
    "read_file": {},
    "whoami": {},
    "slow": {},
    "announce": {},
    "write_file": { "limits": [{ "rate_limit": "2/minute", "per": "session" }] }
  }
}"#;

/// Lands in `[limits]`: a grant for the stdio `files` and `open` and the HTTP `remote`.
fn extra() -> String {
    format!(
        "\n[[grants]]\nid = \"several\"\ntoken_sha256 = \"{}\"\nservers = [\"files\", \"remote\", \"open\"]\npolicy = \"main\"\n",
        support::sha(TOKEN)
    )
}

/// A session directory every node of a test shares, as the replicated store would be. While
/// `lagging`, removals are lost, as if still on their way to a commit.
#[derive(Default)]
struct Directory {
    records: Mutex<HashMap<String, SessionEntry>>,
    lagging: AtomicBool,
}

impl SessionDirectory for Directory {
    fn record(&self, entry: SessionEntry) {
        self.records.lock().unwrap().insert(entry.id.clone(), entry);
    }
    fn forget(&self, id: &str) {
        if !self.lagging.load(Ordering::Relaxed) {
            self.records.lock().unwrap().remove(id);
        }
    }
    fn find(&self, id: &str) -> Option<SessionEntry> {
        self.records.lock().unwrap().get(id).cloned()
    }
}

async fn start(directory: Option<&Arc<Directory>>) -> TestNode {
    let mut cluster = ClusterHooks::default();
    cluster.sessions = directory.map(|d| Arc::clone(d) as Arc<dyn SessionDirectory>);
    start_with(cluster).await
}

async fn start_with(cluster: ClusterHooks) -> TestNode {
    let upstream = support::fake_http::FakeHttp::start().await;
    let dir = support::unique_dir();
    std::fs::write(dir.join("policy.json"), POLICY).unwrap();
    let config = support::config(&upstream.url(), &extra());
    let loaded = portcullis_gateway::config::load_str(&config, &dir).unwrap();
    TestNode::start_in_cluster(loaded, dir, Some(upstream), cluster).await
}

/// Sends `method` to `/mcp` on `node` in `session` and returns the status and the live body.
async fn open(
    node: &TestNode,
    method: Method,
    session: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> (StatusCode, EventStream) {
    let request = SseRequest {
        path: "/mcp",
        token: TOKEN,
        session,
        extra,
    };
    node.open_sse(&request, method, body).await
}

async fn initialize(node: &TestNode) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("authorization", auth.as_str()),
    ];
    let answer = node
        .send(Method::POST, node.agent, "/mcp", &headers, init.to_string())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.header("mcp-session-id").expect("a session id").to_owned()
}

/// POSTs one request to `/mcp` and returns the status and the JSON answer.
async fn request(node: &TestNode, session: &str, method: &str, params: Value) -> (StatusCode, Value) {
    let message = json!({"jsonrpc": "2.0", "id": "r", "method": method, "params": params});
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("authorization", auth.as_str()),
        ("mcp-session-id", session),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let answer = node
        .send(Method::POST, node.agent, "/mcp", &headers, message.to_string())
        .await;
    let json = if answer.status == StatusCode::OK {
        answer.json()
    } else {
        Value::Null
    };
    (answer.status, json)
}

async fn call(node: &TestNode, session: &str, tool: &str, args: Value) -> Value {
    let (status, answer) = request(
        node,
        session,
        "tools/call",
        json!({"name": tool, "arguments": args}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    answer
}

async fn delete(node: &TestNode, session: &str) -> StatusCode {
    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str()), ("mcp-session-id", session)];
    node.send(Method::DELETE, node.agent, "/mcp", &headers, "")
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_session_continues_on_another_node_and_a_delete_ends_it_everywhere() {
    let directory = Arc::new(Directory::default());
    let a = start(Some(&directory)).await;
    let b = start(Some(&directory)).await;
    let session = initialize(&a).await;
    assert_eq!(request(&a, &session, "ping", json!({})).await.0, StatusCode::OK);
    let record = directory.find(&session).expect("the session is recorded");
    assert_eq!(record.members, ["files", "remote", "open"]);
    assert_eq!(
        (record.grant.as_str(), record.server.as_str()),
        ("several", "files")
    );
    assert_eq!(record.initialize["clientInfo"]["name"], "test");

    // Node b never saw the session: it rebuilds every member from the record.
    let (status, list) = request(&b, &session, "tools/list", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let mut names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let expected = ["announce", "read_file", "slow", "whoami", "write_file"];
    let mut want: Vec<String> = ["files", "remote", "open"]
        .iter()
        .flat_map(|s| expected.map(|t| format!("{s}__{t}")))
        .collect();
    want.sort_unstable();
    assert_eq!(names, want, "{list}");
    let read = call(&b, &session, "files__read_file", json!({"path": "x.txt"})).await;
    assert!(read["result"]["isError"].is_null(), "{read}");
    let who = call(&b, &session, "remote__whoami", json!({})).await;
    assert!(!text(&who).is_empty(), "{who}");
    let audited: Vec<(String, String)> = b
        .audit_json()
        .iter()
        .map(|r| (r["server"].to_string(), r["tool"].to_string()))
        .collect();
    assert_eq!(audited.len(), 2, "both calls were decided on b: {audited:?}");
    // The record is `/mcp`'s: `/mcp/files` does not take it for one of its own sessions.
    let auth = format!("Bearer {TOKEN}");
    let as_files = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let elsewhere = b.send(Method::POST, b.agent, "/mcp/files", &as_files, ping).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "{}", elsewhere.body);

    // DELETE on b ends it there, in the directory, and on a at its next use.
    assert_eq!(delete(&b, &session).await, StatusCode::NO_CONTENT);
    assert!(directory.find(&session).is_none());
    assert_eq!(
        request(&b, &session, "ping", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        request(&a, &session, "ping", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(delete(&a, &session).await, StatusCode::NOT_FOUND);

    // A node that never held a session can still delete it; the node that held it follows.
    let other = initialize(&a).await;
    assert_eq!(request(&a, &other, "ping", json!({})).await.0, StatusCode::OK);
    assert_eq!(delete(&b, &other).await, StatusCode::NO_CONTENT);
    assert_eq!(
        request(&a, &other, "ping", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_session_is_not_rebuilt_while_its_removal_is_on_its_way() {
    let directory = Arc::new(Directory::default());
    directory.lagging.store(true, Ordering::Relaxed);
    let a = start(Some(&directory)).await;
    let b = start(Some(&directory)).await;
    let session = initialize(&a).await;
    assert_eq!(request(&b, &session, "ping", json!({})).await.0, StatusCode::OK);
    assert_eq!(delete(&b, &session).await, StatusCode::NO_CONTENT);
    assert!(directory.find(&session).is_some(), "the removal has not landed");
    assert_eq!(
        request(&b, &session, "ping", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_directory_an_unknown_aggregate_is_a_404() {
    let a = start(None).await;
    let b = start(None).await;
    let session = initialize(&a).await;
    assert_eq!(request(&a, &session, "ping", json!({})).await.0, StatusCode::OK);
    assert_eq!(
        request(&b, &session, "ping", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(delete(&b, &session).await, StatusCode::NOT_FOUND);
    a.stop().await;
    b.stop().await;
}

/// An announcement from `files` for odd `n`, from `open` for even ones.
async fn announce(node: &TestNode, session: &str, n: u32) {
    let server = if n % 2 == 1 { "files" } else { "open" };
    let result = call(node, session, &format!("{server}__announce"), json!({"n": n})).await;
    assert_eq!(text(&result), "announced", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_merged_stream_resumes_in_order_without_repeats() {
    let node = start(None).await;
    let session = initialize(&node).await;
    let (status, mut stream) = open(&node, Method::GET, &session, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let n = |message: Value| message["params"]["_meta"]["n"].as_u64().unwrap();
    // Both stdio servers announce, turn by turn: one merged stream, one order, one replay.
    announce(&node, &session, 1).await;
    assert_eq!(n(stream.next().await), 1);
    let last = stream.last_id.clone().expect("events carry ids");
    // Sent on the stream but never read: the connection drops with them in flight.
    announce(&node, &session, 2).await;
    announce(&node, &session, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    // One more while the client is away.
    announce(&node, &session, 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (status, mut resumed) = open(&node, Method::GET, &session, &[("last-event-id", &last)], None).await;
    assert_eq!(status, StatusCode::OK);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(n(resumed.next().await));
    }
    assert_eq!(got, [2, 3, 4], "what was missed, in order, once");
    announce(&node, &session, 5).await;
    assert_eq!(n(resumed.next().await), 5, "nothing repeated, then live");

    for bad in ["nonsense", "r999-999999"] {
        let (status, _) = open(&node, Method::GET, &session, &[("last-event-id", bad)], None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_stream_was_lost_resumes_through_get_on_mcp() {
    let node = start(None).await;
    let session = initialize(&node).await;
    let slow = json!({"jsonrpc": "2.0", "id": "long", "method": "tools/call", "params": {
        "name": "files__slow", "arguments": {"ms": 600}, "_meta": {"progressToken": "p1"}}});
    let (status, mut stream) = open(&node, Method::POST, &session, &[], Some(&slow)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stream.next().await["method"], "notifications/progress");
    let last = stream.last_id.clone().expect("events carry ids");
    drop(stream);
    tokio::time::sleep(Duration::from_millis(900)).await;

    let (status, mut resumed) = open(&node, Method::GET, &session, &[("last-event-id", &last)], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resumed.next().await["method"], "notifications/message");
    let response = resumed.next().await;
    assert_eq!(response["id"], "long");
    assert_eq!(text(&response), "slow done");
    assert!(resumed.ends().await, "nothing after the response");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_session_limit_counts_one_servers_calls_in_the_aggregate() {
    let node = start(None).await;
    let session = initialize(&node).await;
    let allowed = |v: &Value| v["result"]["isError"].is_null() && v.get("error").is_none();
    for _ in 0..2 {
        let ok = call(&node, &session, "files__write_file", json!({})).await;
        assert!(allowed(&ok), "{ok}");
    }
    let limited = call(&node, &session, "files__write_file", json!({})).await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    assert!(text(&limited).starts_with("[POLICY DENIED]"), "{limited}");
    // The other member's calls were not counted: it has its own two.
    for _ in 0..2 {
        let ok = call(&node, &session, "remote__write_file", json!({})).await;
        assert!(allowed(&ok), "{ok}");
    }
    let limited = call(&node, &session, "remote__write_file", json!({})).await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    // Another aggregate session starts from nothing.
    let fresh = initialize(&node).await;
    let ok = call(&node, &fresh, "files__write_file", json!({})).await;
    assert!(allowed(&ok), "{ok}");
    let outcomes: Vec<(String, String)> = node
        .audit_json()
        .iter()
        .map(|r| {
            (
                r["server"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = outcomes.iter().map(|(s, o)| (s.as_str(), o.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("files", "ok"),
            ("files", "ok"),
            ("files", "denied"),
            ("remote", "ok"),
            ("remote", "ok"),
            ("remote", "denied"),
            ("files", "ok"),
        ]
    );
    node.stop().await;
}

type BookKey = (ShareKey, CounterId, Window);

/// Per-session counts every node of a test shares, as the replicated store keeps them: the largest
/// value each node reported, per key.
#[derive(Default)]
struct Book(Mutex<HashMap<(BookKey, u64), f64>>);

/// One node's view of the [`Book`].
struct NodeBook {
    node: u64,
    book: Arc<Book>,
}

impl SessionCountBook for NodeBook {
    fn others(&self, key: &ShareKey, counter: &CounterId, window: Window) -> f64 {
        let wanted = (key.clone(), counter.clone(), window);
        let counts = self.book.0.lock().unwrap();
        counts
            .iter()
            .filter(|((k, node), _)| *k == wanted && *node != self.node)
            .map(|(_, v)| v)
            .sum()
    }
    fn own(&self, key: &ShareKey) -> Vec<SessionCountValue> {
        let counts = self.book.0.lock().unwrap();
        counts
            .iter()
            .filter(|(((k, _, _), node), _)| k == key && *node == self.node)
            .map(|(((_, c, w), _), v)| (c.clone(), *w, *v))
            .collect()
    }
    fn report(&self, reports: Vec<(ShareKey, Vec<SessionCountValue>)>) {
        let mut book = self.book.0.lock().unwrap();
        for (key, counts) in reports {
            for (counter, window, value) in counts {
                let held = book
                    .entry(((key.clone(), counter, window), self.node))
                    .or_default();
                *held = held.max(value);
            }
        }
    }
}

async fn start_sharing(
    node: u64,
    directory: &Arc<Directory>,
    book: &Arc<Book>,
) -> (TestNode, Arc<SessionCountSharing>) {
    let sharing = SessionCountSharing::new(Arc::new(NodeBook {
        node,
        book: Arc::clone(book),
    }));
    let mut cluster = ClusterHooks::default();
    cluster.sessions = Some(Arc::clone(directory) as Arc<dyn SessionDirectory>);
    cluster.session_counts = Some(Arc::clone(&sharing));
    (start_with(cluster).await, sharing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_session_limit_counts_on_when_the_aggregate_moves_to_another_node() {
    let directory = Arc::new(Directory::default());
    let book = Arc::new(Book::default());
    let (a, a_counts) = start_sharing(1, &directory, &book).await;
    let (b, b_counts) = start_sharing(2, &directory, &book).await;
    let allowed = |v: &Value| v["result"]["isError"].is_null() && v.get("error").is_none();
    let session = initialize(&a).await;
    let ok = call(&a, &session, "files__write_file", json!({})).await;
    assert!(allowed(&ok), "{ok}");
    // Nothing is reported until the node's report task runs (here: by hand).
    assert!(book.0.lock().unwrap().is_empty());
    assert_eq!(a_counts.flush(), 1);

    // b continues the aggregate: one more `files` write fits the limit of 2, the next does not.
    let ok = call(&b, &session, "files__write_file", json!({})).await;
    assert!(allowed(&ok), "{ok}");
    let limited = call(&b, &session, "files__write_file", json!({})).await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    assert!(text(&limited).starts_with("[POLICY DENIED]"), "{limited}");
    // The other member counts apart, on b too.
    let ok = call(&b, &session, "remote__write_file", json!({})).await;
    assert!(allowed(&ok), "{ok}");

    // Back on a, b's report counts: a holds 1 `files` write, b admitted 1 more.
    assert_eq!(b_counts.flush(), 2, "one report per member that committed");
    let limited = call(&a, &session, "files__write_file", json!({})).await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    let ok = call(&a, &session, "remote__write_file", json!({})).await;
    assert!(allowed(&ok), "{ok}");
    let limited = call(&a, &session, "remote__write_file", json!({})).await;
    assert_eq!(limited["result"]["isError"], true, "{limited}");
    a.stop().await;
    b.stop().await;
}
