//! `portcullis policy explain FILE --tool NAME [--args JSON] [--identity JSON] [--counters JSON]`

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use portcullis_policy::{CallContext, Decision, Identity, Outcome, StaticCounters, Timestamp, evaluate};
use serde_json::{Value, json};

use crate::cli::{ExplainArgs, Output};

pub fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let Some(file) = &args.file else {
        bail!("give a policy file, or --policy NAME for a stored policy");
    };
    let policy = match super::load(file)? {
        Ok(policy) => policy,
        Err(errors) => bail!("{} is not a valid policy: {errors}", file.display()),
    };
    let call_args: Value = serde_json::from_str(&args.args).context("--args is not valid JSON")?;
    if !(call_args.is_object() || call_args.is_null()) {
        bail!("--args must be a JSON object");
    }
    let identity: Identity = match &args.identity {
        Some(text) => serde_json::from_str(text)
            .context("--identity must look like {\"id\": \"..\", \"labels\": {..}}")?,
        None => Identity {
            id: "explain".to_owned(),
            labels: BTreeMap::new(),
        },
    };
    let counters = match &args.counters {
        Some(text) => StaticCounters(
            serde_json::from_str(text).context("--counters must map \"scope.counter\" to a number")?,
        ),
        None => StaticCounters::default(),
    };
    let now = match &args.now {
        Some(text) => {
            humantime::parse_rfc3339_weak(text).with_context(|| format!("--now {text:?} is not RFC 3339"))?
        }
        // The binary is the one place that reads the clock; the engine takes time as a parameter.
        #[allow(clippy::disallowed_methods)]
        None => SystemTime::now(),
    };
    let now_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .context("--now is before 1970")?
        .as_millis();
    let now = Timestamp(u64::try_from(now_ms).context("--now is too far in the future")?);

    let call = CallContext {
        tool: &args.tool,
        args: &call_args,
        identity: &identity,
    };
    let decision = evaluate(&policy, &call, &counters, now);
    match args.remote.output {
        Output::Text => print!("{}", text(&decision)),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"tool": args.tool, "decision": decision}))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(decision: &Decision) -> String {
    let mut out = format!("decision: {}\n", decision.outcome.kind());
    out += &format!("rule:     {}\n", decision.rule);
    out += &format!("message:  {}\n", decision.message);
    let reservations = match &decision.outcome {
        Outcome::RateLimited { retry_after_ms } => {
            out += &format!("retry in: {:.1}s\n", *retry_after_ms as f64 / 1000.0);
            &[][..]
        }
        Outcome::RequireApproval {
            timeout_ms,
            allowance_ms,
            reservations,
        } => {
            out += &format!("timeout:  {}s\n", timeout_ms / 1000);
            if let Some(allowance_ms) = allowance_ms {
                out += &format!("allowance: {}s\n", allowance_ms / 1000);
            }
            reservations
        }
        Outcome::Allow { reservations } => reservations,
        Outcome::Hide | Outcome::Deny => &[][..],
    };
    for r in reservations {
        let max = r
            .ceiling
            .map_or_else(String::new, |c| format!(" (must stay {c})"));
        out += &format!(
            "reserve:  {} += {} per {}{max}\n",
            r.counter,
            r.amount,
            r.per.as_str()
        );
    }
    out
}
