//! A cluster of `portcullis serve --data-dir` processes on 127.0.0.1, each with its admin API and
//! admin tokens of every role, in front of the built-in demo server. Every wait is bounded; every process is ended by its pid.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cluster::{free_addr, ready_field, ready_line};
use super::{EXE, token_sha};

/// The cluster's shared secret.
pub const SECRET: &str = "test-cluster-secret-0123456789";
/// The agents' bearer token (grant `agent`, server `demo`, policy `p`).
pub const AGENT_TOKEN: &str = "agent-t0ken";
/// Admin tokens seeded by the config file, one per role.
pub const ADMIN_TOKEN: &str = "admin-t0ken";
/// Read-only.
pub const VIEWER_TOKEN: &str = "viewer-t0ken";
/// May decide approvals.
pub const APPROVER_TOKEN: &str = "approver-t0ken";
/// Every wait is bounded by this (generous: a loaded 2-core machine, several nodes).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The first policy: echo allowed, everything else denied.
pub const POLICY: &str = r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#;

/// One node: how to start it, and the process when running.
pub struct ClusterNode {
    pub id: u64,
    pub dir: PathBuf,
    pub raft: String,
    /// `--init` or `--join SEED`.
    membership: Vec<String>,
    child: Option<Child>,
    /// The agent listener, `host:port` (known once started).
    pub agent: String,
    /// The admin API, `host:port` (known once started).
    pub admin: String,
}

impl ClusterNode {
    fn new(root: &std::path::Path, id: u64, membership: Vec<String>, extra: &str) -> Self {
        let dir = root.join(format!("node-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("policy.json"), POLICY).unwrap();
        std::fs::write(dir.join("portcullis.toml"), config(id) + extra).unwrap();
        Self {
            id,
            dir,
            raft: free_addr(),
            membership,
            child: None,
            agent: String::new(),
            admin: String::new(),
        }
    }

    /// The admin API's URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// The agents' MCP endpoint for the demo server.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp/demo", self.agent)
    }

    /// The node's log (stderr, JSON lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// Starts the process and waits for its ready line.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))
            .unwrap();
        let mut child = Command::new(EXE)
            .args([
                "serve",
                "--config",
                self.dir.join("portcullis.toml").to_str().unwrap(),
            ])
            .args(["--data-dir", self.dir.join("data").to_str().unwrap()])
            .args(["--node-id", &self.id.to_string(), "--raft-addr", &self.raft])
            .args(&self.membership)
            .args(["--log", "info", "--log-format", "json"])
            .env("PORTCULLIS_CLUSTER_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        let ready = ready_line(stdout, self.id, &self.dir.join("node.log"));
        self.agent = ready_field(&ready, "agent");
        self.admin = ready_field(&ready, "admin");
    }

    /// Kills the process (SIGKILL, by its pid) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Nodes sharing one scratch directory (removed when dropped).
pub struct Cluster {
    pub nodes: Vec<ClusterNode>,
    root: PathBuf,
    /// Appended to every node's config file.
    extra: String,
}

impl Cluster {
    /// Starts `size` nodes: node 1 founds the cluster, the others join through it, one at a time.
    pub fn start(name: &str, size: u64) -> Self {
        Self::start_with(name, size, "")
    }

    /// As [`Cluster::start`], with `extra` appended to every node's config file.
    pub fn start_with(name: &str, size: u64, extra: &str) -> Self {
        let root = std::env::temp_dir().join(format!("portcullis-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut first = ClusterNode::new(&root, 1, vec!["--init".to_owned()], extra);
        first.start();
        let seed = first.raft.clone();
        let mut cluster = Self {
            nodes: vec![first],
            root,
            extra: extra.to_owned(),
        };
        for id in 2..=size {
            cluster.add(id, &seed);
        }
        cluster
    }

    /// Creates and starts node `id`, joining through `seed`.
    pub fn add(&mut self, id: u64, seed: &str) -> &mut ClusterNode {
        let mut node = ClusterNode::new(
            &self.root,
            id,
            vec!["--join".to_owned(), seed.to_owned()],
            &self.extra,
        );
        node.start();
        self.nodes.push(node);
        self.nodes.last_mut().unwrap()
    }

    /// Node `id`.
    pub fn node(&self, id: u64) -> &ClusterNode {
        self.nodes.iter().find(|node| node.id == id).unwrap()
    }

    /// Node `id`, to start or kill.
    pub fn node_mut(&mut self, id: u64) -> &mut ClusterNode {
        self.nodes.iter_mut().find(|node| node.id == id).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn config(id: u64) -> String {
    let demo = super::demo_server();
    let (agent, admin, viewer, approver) = (
        token_sha(AGENT_TOKEN),
        token_sha(ADMIN_TOKEN),
        token_sha(VIEWER_TOKEN),
        token_sha(APPROVER_TOKEN),
    );
    format!(
        r#"
[node]
id = "node-{id}"

[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"

[audit]
path = "audit.jsonl"

[policies.p]
file = "policy.json"

{demo}
[[grants]]
id = "agent"
token_sha256 = "{agent}"
server = "demo"
policy = "p"

[admin]
listen = "127.0.0.1:0"

[[admin.tokens]]
name = "ops-admin"
role = "admin"
token_sha256 = "{admin}"

[[admin.tokens]]
name = "ops-viewer"
role = "viewer"
token_sha256 = "{viewer}"

[[admin.tokens]]
name = "ops-approver"
role = "approver"
token_sha256 = "{approver}"
"#
    )
}
