//! A record's canonical bytes, printed straight from the typed entry: the same bytes as
//! [`crate::canonical_json`] of its JSON object, without building that object first (a map with an
//! allocated key per member, hashed, then sorted), which was most of the writer's CPU per record.

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::record::{AuditEntry, Decision, Outcome, ShadowVerdict};

/// The entry's members plus `seq` and `prev`, declared in canonical order (sorted by their UTF-8
/// bytes), so serializing it prints them sorted. Absent members are left out, as in the entry.
#[derive(Serialize)]
struct Sorted<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Canonical<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args_sha256: Option<&'a str>,
    decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    policy_revision: u64,
    prev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<SortedShadow<'a>>,
    time_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_latency_us: Option<u64>,
}

/// [`ShadowVerdict`] in canonical order.
#[derive(Serialize)]
struct SortedShadow<'a> {
    decision: Decision,
    revision: u64,
    rule: &'a str,
}

/// Any JSON value with its object keys sorted at every depth (the caller's `args`).
struct Canonical<'a>(&'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Array(items) => serializer.collect_seq(items.iter().map(Canonical)),
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                serializer.collect_map(entries.into_iter().map(|(k, v)| (k, Canonical(v))))
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// Appends the canonical bytes of `entry` with `seq` and `prev` (the record without `hash`) to `out`.
///
/// # Errors
/// Only if serializing fails, which for these types it does not; the caller refuses the record then.
pub(super) fn write_unsealed(
    entry: &AuditEntry,
    seq: u64,
    prev: &str,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    // Destructured in full: a member added to the entry fails to compile here until it is written.
    let AuditEntry {
        time_ms,
        node,
        session,
        grant,
        server,
        tool,
        decision,
        rule,
        message,
        policy,
        policy_revision,
        args_sha256,
        args,
        upstream_latency_us,
        outcome,
        actor,
        shadow,
    } = entry;
    let sorted = Sorted {
        actor: actor.as_deref(),
        args: args.as_ref().map(Canonical),
        args_sha256: args_sha256.as_deref(),
        decision: *decision,
        grant: grant.as_deref(),
        message: message.as_deref(),
        node,
        outcome: *outcome,
        policy: policy.as_deref(),
        policy_revision: *policy_revision,
        prev,
        rule: rule.as_deref(),
        seq,
        server: server.as_deref(),
        session: session.as_deref(),
        shadow: shadow.as_ref().map(
            |ShadowVerdict {
                 decision,
                 rule,
                 revision,
             }| SortedShadow {
                decision: *decision,
                revision: *revision,
                rule,
            },
        ),
        time_ms: *time_ms,
        tool: tool.as_deref(),
        upstream_latency_us: *upstream_latency_us,
    };
    serde_json::to_writer(out, &sorted)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::canonical_json;

    /// What the writer printed before: the entry as a JSON object with `seq` and `prev`, canonical.
    fn by_value(entry: &AuditEntry, seq: u64, prev: &str) -> Vec<u8> {
        let mut value = serde_json::to_value(entry).unwrap();
        let map = value.as_object_mut().unwrap();
        map.insert("seq".to_owned(), Value::from(seq));
        map.insert("prev".to_owned(), Value::from(prev));
        canonical_json(&value)
    }

    fn direct(entry: &AuditEntry, seq: u64, prev: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_unsealed(entry, seq, prev, &mut out).unwrap();
        out
    }

    fn full() -> AuditEntry {
        AuditEntry {
            session: Some("s-1".to_owned()),
            grant: Some("g \"quoted\" \u{1F600}".to_owned()),
            server: Some("demo".to_owned()),
            tool: Some("echo".to_owned()),
            rule: Some("tools.echo.require[1]".to_owned()),
            message: Some("line\nbreak\ttab \u{0001} é".to_owned()),
            policy: Some("bench".to_owned()),
            args_sha256: Some("ab".repeat(32)),
            args: Some(json!({"z": [3, {"b": 1.5, "a": null}], "a": "x", "é": true, "A": -7, "big": 1e300})),
            upstream_latency_us: Some(1234),
            outcome: Some(Outcome::ToolError),
            actor: Some("admin".to_owned()),
            shadow: Some(ShadowVerdict {
                decision: Decision::RateLimited,
                rule: "$".to_owned(),
                revision: 9,
            }),
            ..AuditEntry::new(1_700_000_000_123, "node-1", Decision::RequireApproval, 42)
        }
    }

    #[test]
    fn a_full_entry_prints_the_bytes_of_its_canonical_object() {
        let entry = full();
        assert_eq!(
            direct(&entry, 7, &"cd".repeat(32)),
            by_value(&entry, 7, &"cd".repeat(32))
        );
    }

    #[test]
    fn a_minimal_entry_leaves_out_what_is_absent() {
        let entry = AuditEntry::new(1, "n", Decision::Allow, 0);
        let line = direct(&entry, 1, crate::GENESIS_HASH);
        assert_eq!(line, by_value(&entry, 1, crate::GENESIS_HASH));
        assert_eq!(
            String::from_utf8(line).unwrap(),
            format!(
                r#"{{"decision":"allow","node":"n","policy_revision":0,"prev":"{}","seq":1,"time_ms":1}}"#,
                crate::GENESIS_HASH
            )
        );
    }

    #[test]
    fn every_decision_outcome_and_argument_shape_matches() {
        let decisions = [
            Decision::Allow,
            Decision::Deny,
            Decision::Hide,
            Decision::RateLimited,
            Decision::RequireApproval,
            Decision::Error,
        ];
        let outcomes = [
            Outcome::Ok,
            Outcome::UpstreamError,
            Outcome::ToolError,
            Outcome::Denied,
            Outcome::Cancelled,
            Outcome::Error,
        ];
        let args = [
            json!(null),
            json!([]),
            json!({}),
            json!("s"),
            json!(0.1),
            json!([[{"b": {"d": 1, "c": 2}}]]),
        ];
        for (i, decision) in decisions.into_iter().enumerate() {
            let entry = AuditEntry {
                outcome: Some(outcomes[i]),
                args: Some(args[i].clone()),
                ..AuditEntry::new(u64::MAX, "n", decision, u64::MAX)
            };
            assert_eq!(direct(&entry, 2, "p"), by_value(&entry, 2, "p"), "{decision:?}");
        }
    }
}
