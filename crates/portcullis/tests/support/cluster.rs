//! Test support for clusters: `portcullis serve --data-dir` processes on 127.0.0.1, started with a
//! shared secret, each logging JSON to its own file, killed (by pid) when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::EXE;

/// The cluster's shared secret in tests.
pub const SECRET: &str = "test-cluster-secret-0123456789";
/// Every wait in cluster tests is bounded by this (generous: a loaded 2-core machine, three nodes).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A node process we started; killed (SIGKILL, by its pid) when dropped.
pub struct Running {
    pub child: Child,
    pub agent: String,
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
    /// The Raft address; `None` for a one-voter node without a cluster secret.
    pub raft: Option<String>,
    /// `--init` or `--join SEED`.
    pub membership: Vec<String>,
}

impl NodeSpec {
    pub fn config(&self) -> PathBuf {
        self.dir.join("portcullis.toml")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    pub fn write_policy(&self, text: &str) {
        std::fs::write(self.dir.join("policy.json"), text).unwrap();
    }

    pub fn start(&self) -> Running {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut command = Command::new(EXE);
        command
            .args(["serve", "--config", self.config().to_str().unwrap()])
            .args(["--data-dir", self.dir.join("data").to_str().unwrap()])
            .args(["--node-id", &self.id.to_string()])
            .args(&self.membership)
            .args(["--log", "info", "--log-format", "json"]);
        match &self.raft {
            Some(raft) => command
                .args(["--raft-addr", raft])
                .env("PORTCULLIS_CLUSTER_SECRET", SECRET),
            None => command.env_remove("PORTCULLIS_CLUSTER_SECRET"),
        };
        let mut child = command.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut running = Running {
            child,
            agent: String::new(),
        };
        // Read the ready line on a thread so a node that hangs fails the test instead of blocking it.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let ready = match rx.recv_timeout(PATIENCE) {
            Ok(Some(Ok(line))) => line,
            other => panic!(
                "node {} did not print its ready line ({other:?}); its log:\n{}",
                self.id,
                std::fs::read_to_string(self.log()).unwrap_or_default()
            ),
        };
        match &self.raft {
            Some(raft) => assert!(ready.ends_with(&format!("raft={raft}")), "{ready}"),
            None => assert!(!ready.contains("raft="), "{ready}"),
        }
        running.agent = ready
            .strip_prefix("ready agent=")
            .and_then(|rest| rest.split(' ').next())
            .expect(&ready)
            .to_owned();
        running
    }
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

pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
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

pub fn last_leader(log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| {
            let message = event["message"].as_str().unwrap_or_default();
            message == "raft leader changed" || message == "raft leader unknown"
        })
        .and_then(|event| event["leader"].as_u64())
}

/// Writes `dir/portcullis.toml`: listeners on port 0, an audit log, policy `p` from `dir/policy.json`,
/// the demo server over stdio, and grant `agent` for `token` under `p`.
pub fn write_config(dir: &Path, token: &str) {
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

[servers.demo]
upstream = {{ type = "stdio", command = {EXE:?}, args = ["demo-server"] }}

[[grants]]
id = "agent"
token_sha256 = "{sha}"
server = "demo"
policy = "p"
"#
    );
    std::fs::write(dir.join("portcullis.toml"), config).unwrap();
}

/// Three node specs under `base` (each with its config written): node 1 founds the cluster on a free
/// Raft address, nodes 2 and 3 join through it. Write each node's policy before starting it.
pub fn three_nodes(base: &Path, token: &str) -> Vec<NodeSpec> {
    let seed = free_addr();
    (1..=3)
        .map(|id| {
            let dir = base.join(format!("node{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            write_config(&dir, token);
            let raft = Some(if id == 1 { seed.clone() } else { free_addr() });
            let membership = if id == 1 {
                vec!["--init".to_owned()]
            } else {
                vec!["--join".to_owned(), seed.clone()]
            };
            NodeSpec {
                id,
                dir,
                raft,
                membership,
            }
        })
        .collect()
}
