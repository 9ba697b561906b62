//! Results: counts, throughput and latency percentiles, mergeable across sessions and phases.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::load::Part;

/// Microsecond latencies from 1 µs to 60 s at 3 significant digits.
#[allow(
    clippy::expect_used,
    reason = "constant bounds that hdrhistogram documents as valid"
)]
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    latencies_us: Histogram<u64>,
    /// Calls that returned a result.
    pub ok: u64,
    /// Calls that returned `isError: true` (tool errors, policy denials).
    pub tool_errors: u64,
    /// Calls that failed in transport, with an HTTP error or a JSON-RPC error.
    pub failed: u64,
    /// Measured time (warm-up excluded), summed over phases.
    pub measured: Duration,
}

impl Report {
    pub(crate) fn empty() -> Self {
        Self {
            latencies_us: new_histogram(),
            ok: 0,
            tool_errors: 0,
            failed: 0,
            measured: Duration::ZERO,
        }
    }

    pub(crate) fn absorb(&mut self, part: &Part) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latencies_us.add(&part.latencies_us);
        self.ok += part.ok;
        self.tool_errors += part.tool_errors;
        self.failed += part.failed;
    }

    pub(crate) fn merge(&mut self, other: &Report) {
        let _ = self.latencies_us.add(&other.latencies_us);
        self.ok += other.ok;
        self.tool_errors += other.tool_errors;
        self.failed += other.failed;
        self.measured += other.measured;
    }

    /// Every measured call.
    pub fn calls(&self) -> u64 {
        self.ok + self.tool_errors + self.failed
    }

    /// Calls per second over the measured time.
    pub fn throughput(&self) -> f64 {
        let secs = self.measured.as_secs_f64();
        if secs > 0.0 {
            self.calls() as f64 / secs
        } else {
            0.0
        }
    }

    /// Latency at quantile `q` (0.5 = median), in microseconds.
    pub fn percentile_us(&self, q: f64) -> u64 {
        self.latencies_us.value_at_quantile(q)
    }

    /// The JSON form `portcullis bench --output json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "calls": self.calls(), "ok": self.ok, "tool_errors": self.tool_errors, "failed": self.failed,
            "measured_s": self.measured.as_secs_f64(), "calls_per_s": self.throughput(),
            "latency_us": {"p50": self.percentile_us(0.5), "p90": self.percentile_us(0.9),
                "p99": self.percentile_us(0.99), "p999": self.percentile_us(0.999), "max": self.latencies_us.max()},
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calls ({} ok, {} tool errors, {} failed) in {:.1}s = {:.0} calls/s; latency p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
            self.calls(),
            self.ok,
            self.tool_errors,
            self.failed,
            self.measured.as_secs_f64(),
            self.throughput(),
            self.percentile_us(0.5),
            self.percentile_us(0.9),
            self.percentile_us(0.99),
            self.latencies_us.max(),
        )
    }
}

/// The same load against two targets, phases interleaved.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The first target (e.g. the upstream directly).
    pub a: Report,
    /// The second target (e.g. through the gateway).
    pub b: Report,
}

impl Comparison {
    /// How much latency `b` adds over `a` at quantile `q`, in microseconds (negative when faster).
    pub fn added_us(&self, q: f64) -> i64 {
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        signed(self.b.percentile_us(q)) - signed(self.a.percentile_us(q))
    }

    /// The JSON form `portcullis bench --compare --output json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "a": self.a.to_json(), "b": self.b.to_json(),
            "added_latency_us": {"p50": self.added_us(0.5), "p99": self.added_us(0.99)},
            "throughput_ratio": if self.a.throughput() > 0.0 { self.b.throughput() / self.a.throughput() } else { 0.0 },
        })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "a: {}", self.a)?;
        writeln!(f, "b: {}", self.b)?;
        write!(
            f,
            "b adds p50 {} µs, p99 {} µs",
            self.added_us(0.5),
            self.added_us(0.99)
        )
    }
}
