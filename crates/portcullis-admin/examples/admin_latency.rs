//! Admin API latency figures for docs/benchmarks.md (issue #6): a read (`GetPolicy`, answered from
//! the node's applied state) and a policy put (`PutPolicy`, acknowledged after the store committed
//! and applied it), each timed one at a time over gRPC on 127.0.0.1 against one node with an
//! in-process single-voter store (its log on disk, fsynced per commit).
//!
//!     cargo run --release -p portcullis-admin --example admin_latency

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_admin::{AdminContext, AdminServer, LocalNode, SessionInfo, hash_token};
use portcullis_audit::AuditEntry;
use portcullis_proto::admin::policy_service_client::PolicyServiceClient;
use portcullis_proto::admin::{GetPolicyRequest, PutMode, PutPolicyRequest};
use portcullis_store::{AdminRole, AppRequest, Store, StoreConfig, Timestamp};
use tonic::Request;
use tonic::transport::Channel;

const TOKEN: &str = "bench-admin-token";
const READS: usize = 2000;
const PUTS: usize = 200;

/// No sessions, no audit log: only the API and the store are measured.
struct Quiet;

impl LocalNode for Quiet {
    fn sessions(&self) -> Vec<SessionInfo> {
        Vec::new()
    }
    fn end_session(&self, _: &str) -> bool {
        false
    }
    fn audit(&self, _: AuditEntry) {}
    fn audit_path(&self) -> Option<PathBuf> {
        None
    }
}

/// A fixed proposer time: the figures don't depend on it.
fn now() -> Timestamp {
    Timestamp::from_millis(1_795_651_199_500)
}

fn authed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

fn policy(n: usize) -> String {
    format!(r#"{{"version": "1", "default": "deny", "tools": {{"echo": {{}}}}, "hide": ["t{n}"]}}"#)
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    println!(
        "{what}: n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99)
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_single(StoreConfig::new(1, dir.path())).await.unwrap();
    store
        .propose(AppRequest::PutAdminToken {
            name: "bench".to_owned(),
            token_sha256: hash_token(TOKEN),
            role: AdminRole::Admin,
            at: now(),
        })
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let context = AdminContext {
        store: store.clone(),
        node_name: "bench".to_owned(),
        clock: Arc::new(now),
        local: Arc::new(Quiet),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(AdminServer::new(context).serve(listener, async {
        stopped.await.ok();
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = PolicyServiceClient::new(channel);
    let put = |n: usize| PutPolicyRequest {
        name: "p".to_owned(),
        text: policy(n),
        format: 0,
        expected_revision: None,
        mode: PutMode::Active.into(),
    };
    client.put_policy(authed(put(0))).await.unwrap();

    let mut puts = Vec::with_capacity(PUTS);
    for n in 1..=PUTS {
        let start = Instant::now();
        let stored = client.put_policy(authed(put(n))).await.unwrap().into_inner();
        puts.push(start.elapsed());
        assert!(stored.stored && stored.log_index > 0);
    }
    let read = || GetPolicyRequest {
        name: "p".to_owned(),
        revision: None,
    };
    for _ in 0..100 {
        client.get_policy(authed(read())).await.unwrap();
    }
    let mut reads = Vec::with_capacity(READS);
    for _ in 0..READS {
        let start = Instant::now();
        let policy = client.get_policy(authed(read())).await.unwrap().into_inner();
        reads.push(start.elapsed());
        assert_eq!(policy.revision, PUTS as u64 + 1);
    }
    report("GetPolicy (local read)", reads);
    report("PutPolicy (after commit)", puts);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    store.shutdown().await.unwrap();
}
