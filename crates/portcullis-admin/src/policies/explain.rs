//! Dry-running one call against a policy: the decision and the rule, nothing forwarded or counted.

use std::collections::BTreeMap;

use portcullis_policy::{CallContext, CompiledPolicy, Identity, NoCounters, Outcome, Timestamp, evaluate};
use portcullis_proto::admin as pb;
use serde_json::Value;
use tonic::Status;

/// Evaluates the call in `request` against `policy` at `now`, with every counter at zero.
///
/// # Errors
/// `INVALID_ARGUMENT` when the arguments are not a JSON object.
pub fn explain(
    policy: &CompiledPolicy,
    request: &pb::ExplainCallRequest,
    now: Timestamp,
) -> Result<pb::ExplainCallResponse, Status> {
    if request.tool.is_empty() {
        return Err(Status::invalid_argument(
            "tool is required: the name of the tool to dry-run",
        ));
    }
    let args: Value = if request.arguments_json.trim().is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(&request.arguments_json)
            .map_err(|error| Status::invalid_argument(format!("arguments_json is not JSON: {error}")))?
    };
    if !args.is_object() {
        return Err(Status::invalid_argument("arguments_json must be a JSON object"));
    }
    let identity = Identity {
        id: if request.identity_id.is_empty() {
            "explain".to_owned()
        } else {
            request.identity_id.clone()
        },
        labels: request
            .labels
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect::<BTreeMap<_, _>>(),
    };
    let call = CallContext {
        tool: &request.tool,
        args: &args,
        identity: &identity,
    };
    let decision = evaluate(policy, &call, &NoCounters, now);
    let retry_after_ms = match decision.outcome {
        Outcome::RateLimited { retry_after_ms } => retry_after_ms,
        _ => 0,
    };
    Ok(pb::ExplainCallResponse {
        decision: decision.outcome.kind().to_owned(),
        rule: decision.rule.to_string(),
        message: decision.message.to_string(),
        policy_revision: decision.policy_revision,
        retry_after_ms,
    })
}
