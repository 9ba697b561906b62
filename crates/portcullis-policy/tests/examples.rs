//! The example policies in `examples/policies/` validate and decide as their `# expect:` comments say.
//!
//! An expectation is one comment line: `# expect: {"tool": .., "args": .., "counters": .., "identity": ..}
//! => <outcome> [(text the message contains)]`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::path::{Path, PathBuf};

use portcullis_policy::{CallContext, Format, Identity, StaticCounters, Timestamp, compile_str, evaluate};
use serde_json::Value;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

struct Expectation {
    line: usize,
    call: Value,
    outcome: String,
    message: Option<String>,
}

fn expectations(text: &str) -> Vec<Expectation> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| Some((i + 1, line.trim().strip_prefix("# expect:")?)))
        .map(|(line, spec)| {
            let (call, expected) = spec
                .split_once("=>")
                .unwrap_or_else(|| panic!("line {line}: no '=>'"));
            let call: Value =
                serde_json::from_str(call.trim()).unwrap_or_else(|e| panic!("line {line}: {e}"));
            let expected = expected.trim();
            let (outcome, message) = match expected.split_once(" (") {
                Some((o, m)) => (o, Some(m.trim_end_matches(')').to_owned())),
                None => (expected, None),
            };
            Expectation {
                line,
                call,
                outcome: outcome.to_owned(),
                message,
            }
        })
        .collect()
}

#[test]
fn every_example_validates_and_decides_as_its_comments_say() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml" | "yml")
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "expected the example policies, found {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let policy = compile_str(&text, Format::from_path(&file))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let expectations = expectations(&text);
        assert!(
            !expectations.is_empty(),
            "{} has no # expect: lines",
            file.display()
        );
        for expectation in expectations {
            let at = format!("{}:{}", file.display(), expectation.line);
            let call = &expectation.call;
            let tool = call["tool"].as_str().unwrap_or_else(|| panic!("{at}: no tool"));
            let args = call.get("args").cloned().unwrap_or(Value::Null);
            let identity: Identity = call.get("identity").map_or_else(
                || Identity {
                    id: "example".into(),
                    ..Identity::default()
                },
                |v| serde_json::from_value(v.clone()).unwrap(),
            );
            let counters: StaticCounters = StaticCounters(
                call.get("counters")
                    .map(|v| serde_json::from_value(v.clone()).unwrap())
                    .unwrap_or_default(),
            );
            let context = CallContext {
                tool,
                args: &args,
                identity: &identity,
            };
            let decision = evaluate(&policy, &context, &counters, Timestamp(1_795_602_615_000));
            assert_eq!(decision.outcome.kind(), expectation.outcome, "{at}: {decision:?}");
            if let Some(needle) = &expectation.message {
                assert!(
                    decision.message.contains(needle.as_str()),
                    "{at}: message {:?} lacks {needle:?}",
                    decision.message
                );
            }
        }
    }
}
