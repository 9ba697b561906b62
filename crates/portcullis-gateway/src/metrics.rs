//! Prometheus metrics, hand-rolled: a few counters and one histogram need no exporter crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the upstream latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0];

/// Decision counts of one server: tool, then decision.
type ByTool = BTreeMap<String, BTreeMap<&'static str, u64>>;

/// The node's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Server, then tool, then decision: nested so counting a call allocates only the first time.
    decisions: Mutex<BTreeMap<String, ByTool>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one policy decision.
    pub fn decision(&self, server: &str, tool: &str, decision: &'static str) {
        let mut servers = self.decisions.lock().unwrap_or_else(PoisonError::into_inner);
        if !servers.contains_key(server) {
            servers.insert(server.to_owned(), BTreeMap::new());
        }
        let Some(tools) = servers.get_mut(server) else {
            return;
        };
        if !tools.contains_key(tool) {
            tools.insert(tool.to_owned(), BTreeMap::new());
        }
        if let Some(decisions) = tools.get_mut(tool) {
            *decisions.entry(decision).or_insert(0) += 1;
        }
    }

    /// Counts one error of a kind (`upstream`, `timeout`, `audit`, `bad_request`, ...).
    pub fn error(&self, kind: &'static str) {
        let mut map = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(kind).or_insert(0) += 1;
    }

    /// Records one upstream round trip.
    pub fn upstream_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the current session count.
    pub fn render(&self, sessions: usize, asleep: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP portcullis_sessions Open agent sessions.\n# TYPE portcullis_sessions gauge\n");
        let _ = writeln!(out, "portcullis_sessions {sessions}");
        out.push_str("# HELP portcullis_sessions_asleep Open sessions whose actor sleeps until needed.\n# TYPE portcullis_sessions_asleep gauge\n");
        let _ = writeln!(out, "portcullis_sessions_asleep {asleep}");
        out.push_str("# HELP portcullis_decisions_total Policy decisions on tool calls.\n");
        out.push_str("# TYPE portcullis_decisions_total counter\n");
        let servers = self.decisions.lock().unwrap_or_else(PoisonError::into_inner);
        for (server, tools) in servers.iter() {
            for (tool, decisions) in tools {
                for (decision, n) in decisions {
                    let _ = writeln!(
                        out,
                        "portcullis_decisions_total{{server=\"{}\",tool=\"{}\",decision=\"{decision}\"}} {n}",
                        escape(server),
                        escape(tool)
                    );
                }
            }
        }
        drop(servers);
        out.push_str("# HELP portcullis_errors_total Requests that failed, by kind.\n");
        out.push_str("# TYPE portcullis_errors_total counter\n");
        for (kind, n) in self.errors.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "portcullis_errors_total{{kind=\"{kind}\"}} {n}");
        }
        out.push_str(
            "# HELP portcullis_upstream_latency_seconds Upstream round-trip time of forwarded calls.\n",
        );
        out.push_str("# TYPE portcullis_upstream_latency_seconds histogram\n");
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            let n = bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "portcullis_upstream_latency_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "portcullis_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        #[allow(clippy::cast_precision_loss, reason = "a sum in seconds for display")]
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "portcullis_upstream_latency_seconds_sum {sum}");
        let _ = writeln!(out, "portcullis_upstream_latency_seconds_count {count}");
        out
    }
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
