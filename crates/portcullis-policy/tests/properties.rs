//! Properties over generated policies and calls: determinism, default-deny, hide.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;

use portcullis_policy::{CallContext, Identity, Outcome, StaticCounters, Timestamp, compile, evaluate};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Tool names drawn from a small alphabet so generated policies, hide lists and calls collide often.
fn tool_name() -> impl Strategy<Value = String> {
    "[abc]{1,3}(_[xy])?"
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        tool_name(),
        tool_name().prop_map(|n| format!("{n}*")),
        Just("*".to_owned()),
        Just("?_x".to_owned())
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    let op_value = prop_oneof![
        Just(("eq", json!(1))),
        Just(("neq", json!("a"))),
        Just(("in", json!([1, "a"]))),
        Just(("lt", json!(5))),
        Just(("gte", json!(2))),
        Just(("regex", json!("^a"))),
        Just(("contains", json!("b"))),
        Just(("exists", json!(true))),
    ];
    (
        prop_oneof![Just("args.x"), Just("args.y.z"), Just("identity.labels.team")],
        op_value,
    )
        .prop_map(|(path, (op, value))| json!({"path": path, "op": op, "value": value}))
}

fn entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        Just(json!({"action": "deny"})),
        Just(json!({"action": "require_approval"})),
        Just(json!({"rate_limit": "3/minute"})),
        prop::collection::vec(condition(), 1..3).prop_map(|c| json!({"require": c})),
        prop::collection::vec(condition(), 1..3).prop_map(|c| json!({"deny_if": c})),
    ]
}

fn policy_doc() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("allow"), Just("deny")],
        prop::collection::btree_set(pattern(), 0..3),
        prop::collection::btree_map(pattern(), entry(), 0..6),
    )
        .prop_map(|(default, hide, tools)| json!({"version": "1", "default": default, "hide": hide, "tools": tools}))
}

fn args() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(json!(1)),
        Just(json!(7)),
        Just(json!("abc")),
        Just(json!(null)),
        Just(json!([1]))
    ];
    (prop::option::of(scalar.clone()), prop::option::of(scalar)).prop_map(|(x, z)| {
        let mut args = serde_json::Map::new();
        if let Some(x) = x {
            args.insert("x".into(), x);
        }
        if let Some(z) = z {
            args.insert("y".into(), json!({"z": z}));
        }
        Value::Object(args)
    })
}

fn identity() -> Identity {
    Identity {
        id: "g".into(),
        labels: BTreeMap::from([("team".into(), "abc".into())]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_is_deterministic(doc in policy_doc(), tool in tool_name(), args in args(), count in 0u8..5, now in 0u64..10_000_000_000_000) {
        let policy = compile(&doc).unwrap();
        let identity = identity();
        let call = CallContext { tool: &tool, args: &args, identity: &identity };
        let counters = StaticCounters([(format!("{tool}._rate_minute"), f64::from(count))].into_iter().collect());
        let first = evaluate(&policy, &call, &counters, Timestamp(now));
        // A second compile of the same document and a second evaluation agree exactly.
        let again = evaluate(&compile(&doc).unwrap(), &call, &counters, Timestamp(now));
        prop_assert_eq!(first, again);
    }

    #[test]
    fn default_deny_never_allows_an_unlisted_tool(doc in policy_doc(), tool in tool_name(), args in args()) {
        let mut doc = doc;
        doc["default"] = json!("deny");
        let listed: Vec<String> = doc["tools"].as_object().unwrap().keys().cloned().collect();
        let policy = compile(&doc).unwrap();
        let identity = identity();
        let call = CallContext { tool: &tool, args: &args, identity: &identity };
        let decision = evaluate(&policy, &call, &portcullis_policy::NoCounters, Timestamp(0));
        let matches_listed = listed.iter().filter(|k| *k != "*").any(|k| glob(k, &tool));
        if !matches_listed {
            prop_assert!(!decision.outcome.is_allow(), "{tool} allowed by {doc}");
            prop_assert!(!policy.is_visible(&tool));
        }
    }

    #[test]
    fn a_hidden_tool_is_never_allowed_nor_shown(doc in policy_doc(), tool in tool_name(), args in args()) {
        let hidden = doc["hide"].as_array().unwrap().iter().any(|p| glob(p.as_str().unwrap(), &tool));
        let policy = compile(&doc).unwrap();
        let identity = identity();
        let call = CallContext { tool: &tool, args: &args, identity: &identity };
        let decision = evaluate(&policy, &call, &portcullis_policy::NoCounters, Timestamp(0));
        if hidden {
            prop_assert_eq!(decision.outcome, Outcome::Hide);
            prop_assert!(!policy.is_visible(&tool));
        }
    }
}

/// An independent, obviously-correct (exponential but tiny-input) glob matcher to check the engine against.
fn glob(pattern: &str, name: &str) -> bool {
    match (pattern.chars().next(), name.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..])),
        (Some('?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}
