//! The policy parser and compiler never panic, whatever they are fed: arbitrary text, arbitrary JSON, and
//! mutations of real policies (a proptest corpus standing in for a fuzzer, run with every test run).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;

use portcullis_policy::{
    CallContext, Format, Identity, NoCounters, Timestamp, compile, compile_str, evaluate,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Words a policy uses, so random documents often reach deep into the compiler.
const WORDS: &[&str] = &[
    "version",
    "default",
    "hide",
    "tools",
    "all_tools",
    "limits",
    "require",
    "deny_if",
    "rules",
    "approval",
    "action",
    "reason",
    "rate_limit",
    "approval_timeout",
    "path",
    "op",
    "value",
    "message",
    "counter",
    "max",
    "window",
    "increment",
    "increment_from",
    "per",
    "name",
    "conditions",
    "on_deny",
    "state",
    "timeout",
    "when",
    "*",
    "t",
    "args.x",
    "state.t.c",
    "identity.id",
    "eq",
    "in",
    "lt",
    "regex",
    "exists",
    "deny",
    "allow",
    "require_approval",
    "minute",
    "day",
    "10m",
    "5/hour",
    "session",
    "global",
    "1",
    "c",
];

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..1_000_000).prop_map(Value::from),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        word().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::vec((word(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn example_policies() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        docs.push(portcullis_policy::parse_document(&text, Format::from_path(&path)).unwrap());
    }
    docs
}

/// Replaces the value at a random position in `node` (walking `steps`) with `replacement`.
fn mutate(node: &mut Value, steps: &[usize], replacement: Value) {
    let Some((&step, rest)) = steps.split_first() else {
        *node = replacement;
        return;
    };
    match node {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().unwrap();
            mutate(map.get_mut(&key).unwrap(), rest, replacement);
        }
        Value::Array(items) if !items.is_empty() => {
            let len = items.len();
            mutate(&mut items[step % len], rest, replacement);
        }
        _ => *node = replacement,
    }
}

fn decide_anything(doc: &Value) {
    if let Ok(policy) = compile(doc) {
        let identity = Identity {
            id: "g".into(),
            labels: BTreeMap::new(),
        };
        for tool in ["t", "x", "delete_repo", "create_charge"] {
            let args = json!({"x": 1, "amount": "12"});
            let _ = evaluate(
                &policy,
                &CallContext {
                    tool,
                    args: &args,
                    identity: &identity,
                },
                &NoCounters,
                Timestamp(0),
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n]{0,200}") {
        let _ = compile_str(&text, Format::Detect);
        let _ = compile_str(&text, Format::Yaml);
    }

    #[test]
    fn arbitrary_json_never_panics(doc in json_value()) {
        decide_anything(&doc);
        let mut wrapped = json!({"version": "1", "default": "deny", "tools": {"t": doc}});
        decide_anything(&wrapped);
        wrapped["tools"] = json!({"t": {"require": [doc]}});
        decide_anything(&wrapped);
    }

    #[test]
    fn mutated_real_policies_never_panic(which in 0usize..16, steps in prop::collection::vec(any::<usize>(), 0..6), replacement in json_value()) {
        let docs = example_policies();
        let mut doc = docs[which % docs.len()].clone();
        mutate(&mut doc, &steps, replacement);
        decide_anything(&doc);
    }
}

#[test]
fn pathological_inputs_are_errors() {
    // Deep nesting is refused by the parser, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(compile_str(&deep, Format::Json).is_err());
    // YAML alias bombs are refused rather than expanded.
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    assert!(compile_str(bomb, Format::Yaml).is_err());
    // A regex too large to compile within the limit is an error with a path, not a hang.
    let huge = json!({"version": "1", "default": "deny", "tools": {"t": {"require": [
        {"path": "args.x", "op": "regex", "value": "(a{1000}){1000}"}
    ]}}});
    let errors = compile(&huge).unwrap_err();
    assert_eq!(
        errors.iter().next().unwrap().location.as_str(),
        "$.tools.t.require[0].value"
    );
}
