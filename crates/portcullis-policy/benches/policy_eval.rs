//! `policy_eval`: one decision against a 50-tool policy with 3 conditions per tool, one regex and one
//! counter. Target: median <= 1 µs. Run with `cargo bench -p portcullis-policy --bench policy_eval`.

#![allow(
    clippy::panic,
    reason = "a benchmark with a broken fixture should stop loudly"
)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_policy::{CallContext, CompiledPolicy, Identity, NoCounters, Timestamp, compile, evaluate};
use serde_json::{Map, Value, json};

fn fifty_tool_policy() -> CompiledPolicy {
    let mut tools = Map::new();
    for i in 0..50 {
        let mut require = vec![
            json!({"path": "args.amount", "op": "lte", "value": 10_000}),
            json!({"path": "args.currency", "op": "in", "value": ["usd", "eur", "gbp"]}),
        ];
        // One tool carries the regex; every other tool a plain comparison as its third condition.
        require.push(if i == 25 {
            json!({"path": "args.memo", "op": "regex", "value": "^[a-z0-9 -]{1,64}$"})
        } else {
            json!({"path": "args.memo", "op": "exists", "value": true})
        });
        let mut entry = json!({"require": require});
        if i == 25 {
            entry["limits"] = json!([{"counter": "daily_spend", "max": 1_000_000, "window": "day", "increment_from": "args.amount"}]);
        }
        tools.insert(format!("tool_{i:02}"), entry);
    }
    let doc = json!({"version": "1", "default": "deny", "hide": ["admin_*"], "tools": tools});
    compile(&doc).unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let policy = fifty_tool_policy();
    let identity = Identity {
        id: "grant-1".into(),
        labels: BTreeMap::from([("team".into(), "payments".into())]),
    };
    let args: Value = json!({"amount": 1250, "currency": "eur", "memo": "invoice 2026-11"});
    let now = Timestamp(1_795_602_615_000);
    let call = CallContext {
        tool: "tool_25",
        args: &args,
        identity: &identity,
    };
    assert!(evaluate(&policy, &call, &NoCounters, now).outcome.is_allow());

    c.bench_function("policy_eval/allow_regex_counter", |b| {
        b.iter(|| evaluate(black_box(&policy), black_box(&call), &NoCounters, now));
    });
    let denied = CallContext {
        tool: "tool_07",
        args: &args,
        identity: &identity,
    };
    let bad_args = json!({"amount": 99_999, "currency": "eur", "memo": "x"});
    let denied_arg = CallContext {
        args: &bad_args,
        ..denied
    };
    c.bench_function("policy_eval/deny_condition", |b| {
        b.iter(|| evaluate(black_box(&policy), black_box(&denied_arg), &NoCounters, now));
    });
    let unlisted = CallContext {
        tool: "drop_database",
        ..call
    };
    c.bench_function("policy_eval/deny_unlisted", |b| {
        b.iter(|| evaluate(black_box(&policy), black_box(&unlisted), &NoCounters, now));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
