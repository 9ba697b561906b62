//! Every validation error: reported with its JSON path, all at once, never by panicking.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use portcullis_policy::{Format, PolicyErrors, compile_str};
use serde_json::{Value, json};

fn errors(doc: &Value) -> PolicyErrors {
    match portcullis_policy::compile(doc) {
        Ok(_) => panic!("expected errors for {doc}"),
        Err(errors) => errors,
    }
}

/// Wraps a tool entry in an otherwise valid policy.
fn tool(entry: Value) -> Value {
    json!({"version": "1", "default": "deny", "tools": {"t": entry}})
}

#[track_caller]
fn assert_error(doc: &Value, path: &str, needle: &str) {
    let errors = errors(doc);
    assert!(
        errors
            .iter()
            .any(|e| e.location.as_str() == path && e.message.contains(needle)),
        "expected an error at {path} containing {needle:?}, got:\n{errors}"
    );
}

#[test]
fn top_level_errors() {
    assert_error(&json!([]), "$", "must be an object");
    assert_error(
        &json!({"default": "deny"}),
        "$",
        "missing required field \"version\"",
    );
    assert_error(
        &json!({"version": "2", "default": "deny"}),
        "$.version",
        "version must be \"1\"",
    );
    assert_error(
        &json!({"version": "1"}),
        "$",
        "missing required field \"default\"",
    );
    assert_error(
        &json!({"version": "1", "default": "block"}),
        "$.default",
        "default must be",
    );
    assert_error(
        &json!({"version": "1", "default": "deny", "tool": {}}),
        "$.tool",
        "unknown field \"tool\"",
    );
    assert_error(
        &json!({"version": "1", "default": "deny", "tools": []}),
        "$.tools",
        "must be an object",
    );
    assert_error(
        &json!({"version": "1", "default": "deny", "tools": {"": {}}}),
        "$.tools[\"\"]",
        "must not be empty",
    );
    assert_error(
        &json!({"version": "1", "default": "deny", "all_tools": {"limit": []}}),
        "$.all_tools.limit",
        "unknown field",
    );
}

#[test]
fn unknown_fields_get_a_suggestion() {
    let errors = errors(&tool(json!({"deny_iff": []})));
    let error = errors.iter().next().unwrap();
    assert_eq!(error.location.as_str(), "$.tools.t.deny_iff");
    assert_eq!(error.hint, "did you mean \"deny_if\"?");
}

#[test]
fn hide_errors() {
    let doc = json!({"version": "1", "default": "allow", "hide": ["a", "", "a", 3]});
    assert_error(&doc, "$.hide[1]", "must not be empty");
    assert_error(&doc, "$.hide[2]", "duplicate hide entry \"a\"");
    assert_error(&doc, "$.hide[3]", "expected a string");
    assert_error(
        &json!({"version": "1", "default": "allow", "hide": "a"}),
        "$.hide",
        "expected a list",
    );
}

#[test]
fn short_form_errors() {
    assert_error(
        &tool(json!({"action": "block"})),
        "$.tools.t.action",
        "action must be",
    );
    assert_error(
        &tool(json!({"action": "allow", "approval_timeout": "1m"})),
        "$.tools.t.approval_timeout",
        "needs action: require_approval",
    );
    assert_error(
        &tool(json!({"action": "require_approval", "approval_timeout": "soon"})),
        "$.tools.t.approval_timeout",
        "not a duration",
    );
    assert_error(
        &tool(json!({"action": "deny", "approval_allowance": "5m"})),
        "$.tools.t.approval_allowance",
        "needs action: require_approval",
    );
    assert_error(
        &tool(json!({"action": "require_approval", "approval_allowance": "a while"})),
        "$.tools.t.approval_allowance",
        "not a duration",
    );
    assert_error(
        &tool(json!({"approval": {"allowance": 0}})),
        "$.tools.t.approval.allowance",
        "above zero",
    );
    assert_error(
        &tool(json!({"action": "require_approval", "approval": {}})),
        "$.tools.t",
        "and an approval block are both set",
    );
    assert_error(
        &tool(json!({"reason": ""})),
        "$.tools.t.reason",
        "must not be empty",
    );
    assert_error(
        &tool(json!({"rate_limit": {"max": 0, "window": 60}})),
        "$.tools.t.rate_limit.max",
        "greater than zero",
    );
    assert_error(
        &tool(json!({"rate_limit": {"max": 5, "window": 0}})),
        "$.tools.t.rate_limit.window",
        "at least one second",
    );
    assert_error(
        &tool(json!({"rate_limit": {"max": 5}})),
        "$.tools.t.rate_limit",
        "missing required field \"window\"",
    );
    assert_error(
        &tool(json!({"rate_limit": {"max": 5, "window": 60, "per": "user"}})),
        "$.tools.t.rate_limit.per",
        "per must be",
    );
}

#[test]
fn condition_errors() {
    let cond = |c: Value| tool(json!({"require": [c]}));
    let at = "$.tools.t.require[0]";
    assert_error(&cond(json!({"op": "eq", "value": 1})), at, "needs a \"path\"");
    assert_error(
        &cond(json!({"path": "args.a", "value": 1})),
        at,
        "needs an \"op\"",
    );
    assert_error(
        &cond(json!({"path": "amount", "op": "eq", "value": 1})),
        &format!("{at}.path"),
        "must start with",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "equals", "value": 1})),
        &format!("{at}.op"),
        "unknown operator \"equals\"",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "eq"})),
        at,
        "requires a \"value\"",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "in", "value": "usd"})),
        &format!("{at}.value"),
        "requires a list value",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "not_in", "value": 1})),
        &format!("{at}.value"),
        "requires a list value",
    );
    for op in ["lt", "lte", "gt", "gte"] {
        assert_error(
            &cond(json!({"path": "args.a", "op": op, "value": "5"})),
            &format!("{at}.value"),
            "requires a numeric value",
        );
    }
    assert_error(
        &cond(json!({"path": "args.a", "op": "regex", "value": 5})),
        &format!("{at}.value"),
        "requires a string pattern",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "regex", "value": "(unclosed"})),
        &format!("{at}.value"),
        "invalid regex",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "contains", "value": [1]})),
        &format!("{at}.value"),
        "requires a string",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "exists", "value": "yes"})),
        &format!("{at}.value"),
        "requires a boolean",
    );
    assert_error(
        &cond(json!({"path": "args.a", "op": "eq", "value": 1, "reason": "x"})),
        &format!("{at}.reason"),
        "unknown field",
    );
    assert_error(
        &cond(json!({"path": "identity.name", "op": "eq", "value": 1})),
        &format!("{at}.path"),
        "identity.id",
    );
}

#[test]
fn counter_errors() {
    // A condition reading a counter nobody defines.
    let doc = tool(json!({"require": [{"path": "state.t.calls", "op": "lt", "value": 5}]}));
    assert_error(&doc, "$.tools.t.require[0].path", "no such counter is defined");
    // Duplicates within a scope, from any two sources.
    let doc = tool(json!({"limits": [
        {"counter": "n", "max": 5, "window": "hour"},
        {"counter": "n", "max": 9, "window": "day"},
    ]}));
    assert_error(&doc, "$.tools.t.limits[1]", "duplicate counter \"t.n\"");
    let doc = tool(json!({"rate_limit": "5/hour", "limits": ["7/hour"]}));
    assert_error(&doc, "$.tools.t.rate_limit", "duplicate counter \"t._rate_hour\"");
    let doc = json!({"version": "1", "default": "allow",
        "all_tools": {"limits": [{"counter": "c", "max": 1, "window": "day"}]},
        "tools": {"*": {"limits": [{"counter": "c", "max": 1, "window": "day"}]}}});
    assert_error(&doc, "$.all_tools.limits[0]", "duplicate counter \"_global.c\"");
    // Bad counter fields.
    let limit = |l: Value| tool(json!({"limits": [l]}));
    let at = "$.tools.t.limits[0]";
    assert_error(
        &limit(json!({"max": 5, "window": "day"})),
        at,
        "missing required field \"counter\"",
    );
    assert_error(
        &limit(json!({"counter": "", "max": 5, "window": "day"})),
        &format!("{at}.counter"),
        "must not be empty",
    );
    assert_error(
        &limit(json!({"counter": "a.b", "max": 5, "window": "day"})),
        &format!("{at}.counter"),
        "must not contain '.'",
    );
    assert_error(
        &limit(json!({"counter": "c", "max": -1, "window": "day"})),
        &format!("{at}.max"),
        "greater than zero",
    );
    assert_error(
        &limit(json!({"counter": "c", "max": 5, "window": "week"})),
        &format!("{at}.window"),
        "not a duration",
    );
    assert_error(
        &limit(json!({"counter": "c", "max": 5, "window": 1.5})),
        &format!("{at}.window"),
        "whole number",
    );
    assert_error(
        &limit(
            json!({"counter": "c", "max": 5, "window": "day", "increment": 1, "increment_from": "args.x"}),
        ),
        at,
        "are both set",
    );
    assert_error(
        &limit(json!({"counter": "c", "max": 5, "window": "day", "increment_from": "identity.id"})),
        &format!("{at}.increment_from"),
        "must start with \"args.\"",
    );
    assert_error(
        &limit(json!({"counter": "c", "max": 5, "window": "day", "increment": 0})),
        &format!("{at}.increment"),
        "greater than zero",
    );
    assert_error(&limit(json!("0/minute")), at, "positive integer");
    assert_error(&limit(json!("5/fortnight")), at, "rate_limit window must be");
    assert_error(&limit(json!("five")), at, "must look like \"N/window\"");
    assert_error(
        &limit(json!({"rate_limit": "5/hour", "max": 3})),
        at,
        "cannot be combined with max",
    );
}

#[test]
fn intercept_rule_errors() {
    let rule = |r: Value| tool(json!({"rules": [r]}));
    let at = "$.tools.t.rules[0]";
    assert_error(
        &rule(json!({"conditions": [{"path": "args.a", "op": "exists"}]})),
        at,
        "rule must have a name",
    );
    assert_error(
        &rule(json!({"name": "x", "action": "block"})),
        &format!("{at}.action"),
        "action must be",
    );
    assert_error(
        &rule(json!({"name": "x", "action": "deny", "conditions": []})),
        &format!("{at}.conditions"),
        "deny rules must not have conditions",
    );
    assert_error(
        &rule(json!({"name": "x", "action": "deny", "rate_limit": "5/hour"})),
        &format!("{at}.rate_limit"),
        "deny rules must not have rate_limit",
    );
    assert_error(&rule(json!({"name": "x"})), at, "at least one condition");
    assert_error(
        &rule(json!({"name": "x", "conditions": []})),
        &format!("{at}.conditions"),
        "at least one condition",
    );
    assert_error(
        &rule(
            json!({"name": "x", "rate_limit": "5/hour", "conditions": [{"path": "args.a", "op": "exists"}]}),
        ),
        at,
        "rate_limit cannot be combined",
    );
    assert_error(
        &rule(
            json!({"name": "x", "conditions": [{"path": "args.a", "op": "exists"}], "state": {"counter": "c"}}),
        ),
        &format!("{at}.state"),
        "missing required field \"window\"",
    );
}

#[test]
fn approval_errors() {
    assert_error(
        &tool(json!({"approval": {"timeout": "0s"}})),
        "$.tools.t.approval.timeout",
        "at least one second",
    );
    assert_error(
        &tool(json!({"approval": {"when": {}}})),
        "$.tools.t.approval.when",
        "expected a list",
    );
    assert_error(
        &tool(json!({"approval": {"after": "1m"}})),
        "$.tools.t.approval.after",
        "unknown field",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let doc = json!({
        "version": "3",
        "default": "maybe",
        "hide": [""],
        "tools": {
            "a": {"deny_if": [{"path": "args.x", "op": "bigger", "value": 1}]},
            "b": {"limits": [{"counter": "c", "max": "lots", "window": "week"}]},
            "c": {"require": [{"path": "state.c.missing", "op": "lt", "value": 1}], "colour": "red"},
        }
    });
    let errors = errors(&doc);
    let paths: Vec<&str> = errors.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(
        paths,
        [
            "$.version",
            "$.default",
            "$.hide[0]",
            "$.tools.a.deny_if[0].op",
            "$.tools.b.limits[0].max",
            "$.tools.b.limits[0].window",
            "$.tools.c.colour",
            "$.tools.c.require[0].path",
        ],
        "{errors}"
    );
    assert!(errors.to_string().starts_with("8 errors in policy"));
    assert!(
        errors.iter().all(|e| !e.hint.is_empty()),
        "every error says how to fix it"
    );
}

#[test]
fn syntax_errors_are_errors_not_panics() {
    for text in [
        "",
        "{",
        "[1,",
        "version: [",
        "\u{0}",
        "{\"version\": \"1\", \"default\": \"deny\", \"tools\": {\"a\": 5}}",
    ] {
        assert!(
            compile_str(text, Format::Detect).is_err(),
            "{text:?} should not compile"
        );
    }
}

#[test]
fn policylayer_and_intercept_documents_compile() {
    let policylayer = r#"{
        "version": "1",
        "default": "deny",
        "hide": ["delete_account"],
        "all_tools": {"limits": []},
        "tools": {"create_charge": {"require": [], "deny_if": [], "limits": []}, "list_customers": {}}
    }"#;
    compile_str(policylayer, Format::Json).unwrap();
    let intercept = r#"
version: "1"
default: allow
description: "GitHub MCP server policies"
hide:
  - transfer_repository
tools:
  create_issue:
    rules:
      - name: "hourly issue limit"
        rate_limit: 5/hour
        on_deny: "Hourly limit of 5 new issues reached"
  delete_repository:
    rules:
      - name: "block repo deletion"
        action: "deny"
        on_deny: "Repository deletion is not permitted via AI agents"
  create_charge:
    rules:
      - name: "daily spend cap"
        conditions:
          - path: "state.create_charge.daily_spend"
            op: "lte"
            value: 1000000
        state:
          counter: "daily_spend"
          window: "day"
          increment_from: "args.amount"
  "*":
    rules:
      - name: "global rate limit"
        rate_limit: 60/minute
"#;
    let policy = compile_str(intercept, Format::Yaml).unwrap();
    assert_eq!(policy.description(), Some("GitHub MCP server policies"));
}
