//! `portcullis policy validate|explain` as a user runs them: real process, real files, exit codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .expect("run portcullis")
}

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/policies")
        .join(name);
    path.to_string_lossy().into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn validate_accepts_the_examples() {
    let files = [
        "mitmproxy.yaml",
        "mitmproxy-analyst.yaml",
        "payments.yaml",
        "github.yaml",
    ]
    .map(example);
    let mut args = vec!["policy", "validate"];
    args.extend(files.iter().map(String::as_str));
    let output = portcullis(&args);
    assert!(output.status.success(), "{}", stdout(&output));
    assert_eq!(stdout(&output).lines().filter(|l| l.starts_with("ok")).count(), 4);
}

#[test]
fn validate_lists_every_error_with_its_path_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"version": "1", "default": "nope", "tools": {"a": {"deny_if": [{"path": "args.x", "op": "equals", "value": 1}]}}}"#).unwrap();
    let output = portcullis(&["policy", "validate", bad.to_str().unwrap(), "--output", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let paths: Vec<&str> = report[0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["location"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["$.default", "$.tools.a.deny_if[0].op"]);
    let text = stdout(&portcullis(&["policy", "validate", bad.to_str().unwrap()]));
    assert!(
        text.contains("$.tools.a.deny_if[0].op: unknown operator \"equals\""),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_reports_a_missing_file_as_an_error() {
    let output = portcullis(&["policy", "validate", "/nonexistent/policy.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
}

#[test]
fn explain_prints_decision_rule_and_reason() {
    let output = portcullis(&[
        "policy",
        "explain",
        &example("payments.yaml"),
        "--tool",
        "create_charge",
        "--args",
        r#"{"amount": 1200, "currency": "jpy"}"#,
    ]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("decision: deny"), "{text}");
    assert!(
        text.contains("rule:     $.tools.create_charge.require[0]"),
        "{text}"
    );
    assert!(text.contains("Only USD and EUR"), "{text}");
}

#[test]
fn explain_json_with_counters_and_time() {
    let output = portcullis(&[
        "policy",
        "explain",
        &example("payments.yaml"),
        "--tool",
        "create_charge",
        "--args",
        r#"{"amount": 5000, "currency": "eur"}"#,
        "--counters",
        r#"{"create_charge.daily_spend": 998000}"#,
        "--now",
        "2026-11-25T23:59:00Z",
        "--output",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(doc["decision"]["outcome"]["kind"], "rate_limited");
    // The daily window ends at midnight UTC, one minute later.
    assert_eq!(doc["decision"]["outcome"]["retry_after_ms"], 60_000);
}

#[test]
fn explain_rejects_bad_json_arguments() {
    let output = portcullis(&[
        "policy",
        "explain",
        &example("payments.yaml"),
        "--tool",
        "x",
        "--args",
        "{not json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--args is not valid JSON"));
    let output = portcullis(&["policy", "explain", &example("payments.yaml")]);
    assert_eq!(output.status.code(), Some(2), "missing --tool is a usage error");
}
