//! The load loops: one task per session, each with its own histogram, merged at the end.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::{Instant, sleep_until};

use crate::client::{CallOutcome, McpSession, Target};
use crate::report::{Report, new_histogram};
use crate::{BenchConfig, BenchError};

/// Runs `config` against one target.
///
/// # Errors
/// When the configuration is unusable or sessions cannot be opened.
pub async fn run(config: &BenchConfig, target: &Target) -> Result<Report, BenchError> {
    if config.sessions == 0 {
        return Err(BenchError::Config("sessions must be at least 1"));
    }
    if config.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(BenchError::Config(
            "rate must be a positive number of calls per second",
        ));
    }
    let mut sessions = Vec::with_capacity(config.sessions);
    for _ in 0..config.sessions {
        sessions.push(McpSession::open(target).await?);
    }
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let end = measure_from + config.duration;
    let mut tasks = Vec::with_capacity(sessions.len());
    for (i, session) in sessions.into_iter().enumerate() {
        let plan = Plan {
            tool: config.tool.clone(),
            args: config.args.clone(),
            measure_from,
            end,
        };
        // Open loop: session i sends at start + i/rate + k*sessions/rate, so together they send at `rate`.
        let schedule = config.rate.map(|rate| {
            let offset = Duration::from_secs_f64(i as f64 / rate);
            (
                start + offset,
                Duration::from_secs_f64(config.sessions as f64 / rate),
            )
        });
        tasks.push(tokio::spawn(drive(session, plan, schedule)));
    }
    let mut report = Report::empty();
    report.measured = config.duration;
    for task in tasks {
        // A task that panicked contributes nothing; its calls were never counted.
        if let Ok(part) = task.await {
            report.absorb(&part);
        }
    }
    Ok(report)
}

/// Opens `count` sessions (initialize + initialized) and leaves them idle on the server; returns how many
/// opened. For measuring what an idle session costs the server.
///
/// # Errors
/// The first session that fails to open.
pub async fn open_idle(target: &Target, count: usize) -> Result<usize, BenchError> {
    // One keep-alive connection for all of them: what is measured is what a session costs, not the
    // read buffers of thousands of short-lived connections (freed, but kept by the allocator).
    let http = crate::client::http_client();
    for opened in 0..count {
        if let Err(error) = McpSession::open_on(http.clone(), target).await {
            return Err(BenchError::Setup {
                url: target.url.clone(),
                reason: format!("after {opened} sessions: {error}"),
            });
        }
    }
    Ok(count)
}

struct Plan {
    tool: String,
    args: serde_json::Value,
    measure_from: Instant,
    end: Instant,
}

/// What one session measured.
pub(crate) struct Part {
    pub(crate) latencies_us: Histogram<u64>,
    pub(crate) ok: u64,
    pub(crate) tool_errors: u64,
    pub(crate) failed: u64,
}

async fn drive(mut session: McpSession, plan: Plan, schedule: Option<(Instant, Duration)>) -> Part {
    let mut part = Part {
        latencies_us: new_histogram(),
        ok: 0,
        tool_errors: 0,
        failed: 0,
    };
    let mut k: u32 = 0;
    loop {
        let due = match schedule {
            Some((first, interval)) => first + interval * k,
            None => Instant::now(),
        };
        if due >= plan.end {
            return part;
        }
        // Behind schedule (the previous call overran), the call counts from when it was due, so
        // queueing behind a slow server is measured. On time, it counts from when it is sent: the
        // timer wakes up to a millisecond late, and that slop is the load generator's, not the
        // server's (it used to add ~0.5 ms of noise to every latency, direct and gateway alike).
        let sent = if Instant::now() >= due {
            due
        } else {
            sleep_until(due).await;
            Instant::now()
        };
        let outcome = session.call(&plan.tool, &plan.args).await;
        let latency = Instant::now().saturating_duration_since(sent);
        if due >= plan.measure_from {
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            part.latencies_us.saturating_record(micros.max(1));
            match outcome {
                CallOutcome::Ok => part.ok += 1,
                CallOutcome::ToolError => part.tool_errors += 1,
                CallOutcome::Failed => part.failed += 1,
            }
        }
        k = k.saturating_add(1);
    }
}
