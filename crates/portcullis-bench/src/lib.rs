//! Load generator for MCP Streamable HTTP endpoints (`portcullis bench`).
//!
//! Drives `tools/call` over one or many sessions against a URL and reports throughput and latency
//! percentiles. Two loads: a fixed rate (open loop: a call that starts late because the previous one
//! overran is measured from when it was *due*, so a slow server cannot hide its queueing, i.e. no
//! coordinated omission; a call on time from when it is sent) and as fast as possible (closed
//! loop, one call in flight per session). [`compare`] alternates phases against two targets (say, an
//! upstream directly and the same upstream through the gateway) so both sides of a ratio share one run.

mod client;
mod load;
mod report;

use std::time::Duration;

pub use client::{Era, McpSession, Target};
pub use load::{open_idle, run};
pub use report::{Comparison, Report};

/// What to send and how hard.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Concurrent MCP sessions.
    pub sessions: usize,
    /// Calls per second across all sessions; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// How long to measure, after the warm-up.
    pub duration: Duration,
    /// How long to run before measuring (connections, caches, JIT-free but still: pools).
    pub warmup: Duration,
    /// The tool to call.
    pub tool: String,
    /// Its arguments.
    pub args: serde_json::Value,
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid target URL {0:?}: expected http://host:port/path")]
    BadUrl(String),
    #[error("session setup against {url} failed: {reason}")]
    Setup { url: String, reason: String },
    #[error("bad configuration: {0}")]
    Config(&'static str),
    #[error("{method} failed: {reason}")]
    Request { method: String, reason: String },
}

/// Runs `config` against `a` and `b` in alternating phases (a, b, a, b) and reports both.
///
/// # Errors
/// When either target cannot set up its sessions.
pub async fn compare(
    config: &BenchConfig,
    a: &Target,
    b: &Target,
    phases: u32,
) -> Result<Comparison, BenchError> {
    let phases = phases.max(1);
    let per_phase = BenchConfig {
        duration: config.duration / phases,
        ..config.clone()
    };
    let (mut first, mut second) = (Report::empty(), Report::empty());
    for _ in 0..phases {
        first.merge(&run(&per_phase, a).await?);
        second.merge(&run(&per_phase, b).await?);
    }
    Ok(Comparison { a: first, b: second })
}
