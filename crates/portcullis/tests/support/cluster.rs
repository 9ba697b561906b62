//! Test support for clusters of `portcullis serve --data-dir` processes on loopback: how to start a
//! node (again after a crash), talk to its data plane, and read what its log says.

#![allow(clippy::print_stderr, reason = "tests log their phases")]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use serde_json::{Value, json};

use super::EXE;

pub const SECRET: &str = "test-cluster-secret-0123456789";
pub const TOKEN: &str = "cluster-t0ken";
/// Every wait is bounded by this (generous: a loaded 2-core machine, several nodes).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A policy that denies echo with `reason`.
pub fn deny_echo(reason: &str) -> String {
    json!({"version": "1", "default": "deny", "tools": {"echo": {"action": "deny", "reason": reason}}})
        .to_string()
}

/// A node process we started; killed (SIGKILL, by its pid) when dropped.
pub struct Running {
    pub child: Child,
    pub agent: String,
    pub ops: String,
}

impl Running {
    /// Sends a signal (`HUP`, `TERM`, ...) to this process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// `kill -9`, then reap.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to start one node, again after a crash.
pub struct NodeSpec {
    pub id: u64,
    pub dir: PathBuf,
    /// Where Raft listens; `None` for a one-voter node without a cluster secret.
    pub raft: Option<String>,
    /// What peers are told to use instead of `raft` (e.g. a relay in front of it).
    pub advertise: Option<String>,
    /// `--init` or `--join SEED`.
    pub membership: Vec<String>,
    pub secret: String,
    /// The `--log` filter (`info`, or finer for one module a test watches).
    pub log: String,
}

impl NodeSpec {
    /// Node `id` in `base/node{id}` with a config and policy `policy`, founding the cluster when
    /// `seed` is `None`, joining through it otherwise.
    pub fn new(base: &Path, id: u64, raft: String, seed: Option<&str>, policy: &str) -> Self {
        let dir = base.join(format!("node{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        write_config(&dir);
        let membership = match seed {
            None => vec!["--init".to_owned()],
            Some(seed) => vec!["--join".to_owned(), seed.to_owned()],
        };
        let spec = Self {
            id,
            dir,
            raft: Some(raft),
            advertise: None,
            membership,
            secret: SECRET.to_owned(),
            log: "info".to_owned(),
        };
        spec.write_policy(policy);
        spec
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("portcullis.toml")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    /// The address the other nodes use.
    pub fn advertised(&self) -> Option<&str> {
        self.advertise.as_deref().or(self.raft.as_deref())
    }

    pub fn write_policy(&self, text: &str) {
        std::fs::write(self.dir.join("policy.json"), text).unwrap();
    }

    fn command(&self) -> Command {
        let mut command = Command::new(EXE);
        command
            .args(["serve", "--config", self.config().to_str().unwrap()])
            .args(["--data-dir", self.dir.join("data").to_str().unwrap()])
            .args(["--node-id", &self.id.to_string()])
            .args(&self.membership)
            .args(["--log", &self.log, "--log-format", "json"]);
        if let Some(advertise) = &self.advertise {
            command.args(["--raft-advertise", advertise]);
        }
        match &self.raft {
            Some(raft) => command
                .args(["--raft-addr", raft])
                .env("PORTCULLIS_CLUSTER_SECRET", &self.secret),
            None => command.env_remove("PORTCULLIS_CLUSTER_SECRET"),
        };
        command
    }

    fn log_file(&self) -> File {
        File::options()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap()
    }

    /// Runs the node to its end (for nodes that must refuse to start); its exit code and log.
    pub fn run_to_exit(&self) -> (Option<i32>, String) {
        let output = self.command().stdout(Stdio::null()).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Starts the node and waits for its ready line.
    pub fn start(&self) -> Running {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(self.log_file())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut running = Running {
            child,
            agent: String::new(),
            ops: String::new(),
        };
        let ready = ready_line(stdout, self.id, &self.log());
        match self.advertised() {
            Some(raft) => assert!(ready.ends_with(&format!("raft={raft}")), "{ready}"),
            None => assert!(!ready.contains("raft="), "{ready}"),
        }
        running.agent = ready_field(&ready, "agent");
        running.ops = ready_field(&ready, "ops");
        running
    }
}

/// Node `id`'s ready line, read on a thread so a node that hangs fails the test instead of blocking
/// it (the rest of its stdout is drained); panics with the node's log when none comes in time.
pub fn ready_line(stdout: ChildStdout, id: u64, log: &Path) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        for _ in lines {}
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(Some(Ok(line))) => line,
        other => panic!(
            "node {id} did not print its ready line ({other:?}); its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}

/// The value of `name=` in a ready line (`ready agent=... ops=... raft=... admin=...`).
pub fn ready_field(ready: &str, name: &str) -> String {
    ready
        .split(' ')
        .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name}= in {ready:?}"))
        .to_owned()
}

/// A scratch directory, removed when the test ends (also when it fails).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port that was free on `ip` a moment ago.
pub fn free_addr_on(ip: IpAddr) -> String {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    listener.local_addr().unwrap().to_string()
}

pub fn free_addr() -> String {
    free_addr_on(IpAddr::from([127, 0, 0, 1]))
}

pub fn write_config(dir: &Path) {
    write_config_for(dir, TOKEN);
}

/// Writes `dir/portcullis.toml`: listeners on port 0, an audit log, policy `p` from `dir/policy.json`,
/// the demo server over stdio, and grant `agent` for `token` under `p`.
pub fn write_config_for(dir: &Path, token: &str) {
    let sha = super::token_sha(token);
    let config = format!(
        r#"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[audit]
path = "audit.jsonl"

[policies.p]
file = "policy.json"

{}
[[grants]]
id = "agent"
token_sha256 = "{sha}"
server = "demo"
policy = "p"
"#,
        super::demo_server()
    );
    std::fs::write(dir.join("portcullis.toml"), config).unwrap();
}

/// Three node specs under `base` whose grant `agent` holds `token`: node 1 founds the cluster, nodes 2
/// and 3 join through it. Write each node's policy before starting it.
pub fn three_nodes(base: &Path, token: &str) -> Vec<NodeSpec> {
    let seed = free_addr();
    (1..=3)
        .map(|id| {
            let raft = if id == 1 { seed.clone() } else { free_addr() };
            let joins = (id != 1).then_some(seed.as_str());
            let spec = NodeSpec::new(base, id, raft, joins, &deny_echo("no policy written yet"));
            write_config_for(&spec.dir, token);
            spec
        })
        .collect()
}

pub fn run_blocking<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

pub fn target(node: &Running) -> Target {
    Target {
        url: format!("http://{}/mcp/demo", node.agent),
        token: Some(TOKEN.into()),
        era: Era::Session,
    }
}

pub fn session(node: &Running) -> McpSession {
    run_blocking(McpSession::open(&target(node))).unwrap()
}

/// Calls echo; `None` when allowed, the denial text otherwise.
pub fn echo(session: &mut McpSession) -> Option<String> {
    let reply =
        run_blocking(session.request("tools/call", json!({"name": "echo", "arguments": {"text": "hi"}})))
            .unwrap();
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if reply["result"]["isError"].as_bool().unwrap_or(false) {
        Some(text)
    } else {
        assert_eq!(text, "hi", "{reply}");
        None
    }
}

/// Polls each session until echo is denied with `reason`; returns how long each took.
pub fn until_denied(sessions: &mut [(u64, &mut McpSession)], reason: &str, since: Instant) -> Vec<Duration> {
    let wanted = format!("[POLICY DENIED] {reason}");
    let mut took = vec![None; sessions.len()];
    let deadline = Instant::now() + PATIENCE;
    while took.iter().any(Option::is_none) {
        for ((id, session), took) in sessions.iter_mut().zip(&mut took) {
            if took.is_none() && echo(session).as_deref() == Some(&wanted) {
                *took = Some(since.elapsed());
                eprintln!("  node {id} enforces {reason:?} after {:?}", since.elapsed());
            }
        }
        assert!(
            Instant::now() < deadline,
            "not every node denies with {reason:?} within {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    took.into_iter().flatten().collect()
}

/// The leader the nodes' logs agree on (each logs `raft leader changed` with the leader's id).
pub fn agreed_leader(specs: &[&NodeSpec]) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen: Vec<Option<u64>> = specs.iter().map(|spec| last_leader(&spec.log())).collect();
        if let Some(Some(first)) = seen.first()
            && seen.iter().all(|leader| leader == &Some(*first))
        {
            return *first;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes never agreed on a leader: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn last_leader(log: &Path) -> Option<u64> {
    log_events(log)
        .into_iter()
        .rev()
        .find(|event| {
            let message = event["message"].as_str().unwrap_or_default();
            message == "raft leader changed" || message == "raft leader unknown"
        })
        .and_then(|event| event["leader"].as_u64())
}

/// The JSON events in a node's log so far.
pub fn log_events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// Waits (bounded by `patience`) until the node's log holds an event `matches` accepts; returns it.
pub fn wait_for_event(spec: &NodeSpec, patience: Duration, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(event) = log_events(&spec.log()).into_iter().find(&matches) {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "node {} never logged the awaited event; its log:\n{}",
            spec.id,
            std::fs::read_to_string(spec.log()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /readyz` on the node's ops listener: status code and body.
pub fn readyz(node: &Running) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(&node.ops).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        node.ops
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// The HTTP status of a `tools/list` POST to `agent` (`host:port`) in session `id`, as the bearer of
/// `token`: 404 when no node holds or can continue that session.
pub fn session_status(agent: &str, token: &str, id: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let mut stream = std::net::TcpStream::connect(agent).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "POST /mcp/demo HTTP/1.1\r\nHost: {agent}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Mcp-Session-Id: {id}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}
