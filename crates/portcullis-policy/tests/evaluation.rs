//! How calls are decided: operators through policies, path forms, windows, precedence, limits, approvals.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;

use portcullis_policy::{
    CallContext, Ceiling, CompiledPolicy, CounterId, CounterView, Decision, Identity, NoCounters, Outcome,
    Per, StaticCounters, Timestamp, Window, compile, evaluate, list_filter,
};
use serde_json::{Value, json};

/// 2026-11-25T10:30:15Z.
const NOW: Timestamp = Timestamp(1_795_602_615_000);

fn policy(doc: Value) -> CompiledPolicy {
    compile(&doc).unwrap_or_else(|e| panic!("{e}"))
}

fn identity() -> Identity {
    Identity {
        id: "grant-7".into(),
        labels: BTreeMap::from([("team".into(), "payments".into())]),
    }
}

fn decide_with(policy: &CompiledPolicy, tool: &str, args: Value, counters: &dyn CounterView) -> Decision {
    let identity = identity();
    evaluate(
        policy,
        &CallContext {
            tool,
            args: &args,
            identity: &identity,
        },
        counters,
        NOW,
    )
}

fn decide(policy: &CompiledPolicy, tool: &str, args: Value) -> Decision {
    decide_with(policy, tool, args, &NoCounters)
}

fn counters(values: &[(&str, f64)]) -> StaticCounters {
    StaticCounters(values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())
}

#[test]
fn default_deny_denies_unlisted_and_allows_listed() {
    let p = policy(json!({"version": "1", "default": "deny", "tools": {"list_customers": {}, "*": {}}}));
    let d = decide(&p, "list_customers", json!({}));
    assert!(d.outcome.is_allow());
    assert_eq!(&*d.rule.path, "$.tools.list_customers");
    let d = decide(&p, "delete_customer", json!({}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(&*d.rule.path, "$.default");
    assert!(d.message.contains("not allowed"), "{}", d.message);
}

#[test]
fn default_allow_allows_unlisted() {
    let p = policy(json!({"version": "1", "default": "allow"}));
    assert!(decide(&p, "anything", json!(null)).outcome.is_allow());
}

#[test]
fn short_form_actions() {
    let p = policy(json!({"version": "1", "default": "allow", "tools": {
        "drop_table": {"action": "deny", "reason": "Dropping tables is not allowed"},
        "delete_*": {"action": "deny"},
        "read": {"action": "allow"},
    }}));
    let d = decide(&p, "drop_table", json!({}));
    assert_eq!(
        (d.outcome, &*d.message),
        (Outcome::Deny, "Dropping tables is not allowed")
    );
    assert_eq!(&*d.rule.path, "$.tools.drop_table.action");
    let d = decide(&p, "delete_user", json!({}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.message.contains("delete_*"));
    assert!(decide(&p, "read", json!({})).outcome.is_allow());
}

#[test]
fn most_specific_glob_wins_and_exact_beats_glob() {
    let p = policy(json!({"version": "1", "default": "deny", "tools": {
        "get_*": {},
        "get_secret*": {"action": "deny", "reason": "secrets"},
        "get_secret_count": {},
    }}));
    assert!(decide(&p, "get_user", json!({})).outcome.is_allow());
    assert_eq!(decide(&p, "get_secret_key", json!({})).outcome, Outcome::Deny);
    assert!(decide(&p, "get_secret_count", json!({})).outcome.is_allow());
}

#[test]
fn require_and_deny_if_over_arguments() {
    let p = policy(
        json!({"version": "1", "default": "deny", "tools": {"create_refund": {
            "require": [{"path": "args.reason", "op": "exists", "message": "Refunds need a reason"}],
            "deny_if": [{"path": "args.amount", "op": "gt", "value": 10000}],
        }}}),
    );
    let d = decide(&p, "create_refund", json!({"amount": 50}));
    assert_eq!((d.outcome, &*d.message), (Outcome::Deny, "Refunds need a reason"));
    assert_eq!(&*d.rule.path, "$.tools.create_refund.require[0]");
    let d = decide(&p, "create_refund", json!({"amount": 20000, "reason": "dup"}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(&*d.message, "denied because args.amount is greater than 10000");
    assert_eq!(&*d.rule.path, "$.tools.create_refund.deny_if[0]");
    assert!(
        decide(&p, "create_refund", json!({"amount": 100, "reason": "dup"}))
            .outcome
            .is_allow()
    );
}

#[test]
fn every_operator_through_a_policy() {
    // (op, value, passing argument, failing argument)
    let cases = [
        ("eq", json!("main"), json!("main"), json!("dev")),
        ("neq", json!("main"), json!("dev"), json!("main")),
        ("in", json!(["usd", "eur"]), json!("eur"), json!("gbp")),
        ("not_in", json!(["admin"]), json!("user"), json!("admin")),
        ("lt", json!(10), json!(9.5), json!(10)),
        ("lte", json!(10), json!(10), json!(10.01)),
        ("gt", json!(0), json!(1), json!(0)),
        ("gte", json!(1), json!(1), json!(0)),
        ("regex", json!("^feat/"), json!("feat/login"), json!("main")),
        ("contains", json!("test"), json!("a test"), json!("prod")),
        ("exists", json!(true), json!("anything"), Value::Null),
    ];
    for (op, value, pass, fail) in cases {
        let p = policy(json!({"version": "1", "default": "deny", "tools": {"t": {
            "require": [{"path": "args.x", "op": op, "value": value}]
        }}}));
        let args = |v: &Value| if v.is_null() { json!({}) } else { json!({"x": v}) };
        assert!(
            decide(&p, "t", args(&pass)).outcome.is_allow(),
            "{op} should pass {pass}"
        );
        assert_eq!(
            decide(&p, "t", args(&fail)).outcome,
            Outcome::Deny,
            "{op} should fail {fail}"
        );
    }
}

#[test]
fn wrong_types_fail_closed_in_require_and_deny_if() {
    let p = policy(json!({"version": "1", "default": "deny", "tools": {"charge": {
        "deny_if": [{"path": "args.amount", "op": "gt", "value": 100}]
    }}}));
    // A numeric string is read as a number, so it cannot slip past a numeric rule.
    assert_eq!(
        decide(&p, "charge", json!({"amount": "500"})).outcome,
        Outcome::Deny
    );
    // An object cannot be compared: deny, and say why.
    let d = decide(&p, "charge", json!({"amount": {"value": 500}}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(&*d.message, "args.amount is an object, which `gt` cannot check");
    // Absent is not greater than anything.
    assert!(decide(&p, "charge", json!({})).outcome.is_allow());
}

#[test]
fn path_forms_nested_indexed_identity() {
    let p = policy(
        json!({"version": "1", "default": "deny", "tools": {"deploy": {"require": [
            {"path": "args.target.env", "op": "eq", "value": "staging"},
            {"path": "args.steps[1].kind", "op": "eq", "value": "test"},
            {"path": "identity.labels.team", "op": "in", "value": ["payments", "platform"]},
            {"path": "identity.id", "op": "regex", "value": "^grant-[0-9]+$"},
        ]}}}),
    );
    let good = json!({"target": {"env": "staging"}, "steps": [{"kind": "build"}, {"kind": "test"}]});
    assert!(decide(&p, "deploy", good).outcome.is_allow());
    let bad = json!({"target": {"env": "staging"}, "steps": [{"kind": "build"}]});
    let d = decide(&p, "deploy", bad);
    assert_eq!(&*d.rule.path, "$.tools.deploy.require[1]");
    assert_eq!(&*d.message, "args.steps[1].kind must equal \"test\"");
}

#[test]
fn precedence_hide_over_deny_over_rate_limit_over_approval() {
    let doc = |hide: bool| {
        json!({"version": "1", "default": "allow", "hide": if hide { json!(["t*"]) } else { json!([]) }, "tools": {"t": {
            "deny_if": [{"path": "args.bad", "op": "eq", "value": true}],
            "rate_limit": {"max": 1, "window": "minute"},
            "approval": {"timeout": "5m"},
        }}})
    };
    let full = counters(&[("t._rate_minute", 1.0)]);
    assert_eq!(
        decide_with(&policy(doc(true)), "t", json!({"bad": true}), &full).outcome,
        Outcome::Hide
    );
    let p = policy(doc(false));
    assert_eq!(
        decide_with(&p, "t", json!({"bad": true}), &full).outcome,
        Outcome::Deny
    );
    assert!(matches!(
        decide_with(&p, "t", json!({}), &full).outcome,
        Outcome::RateLimited { .. }
    ));
    let d = decide(&p, "t", json!({}));
    let Outcome::RequireApproval {
        timeout_ms,
        reservations,
        ..
    } = d.outcome
    else {
        panic!("{d:?}")
    };
    assert_eq!(timeout_ms, 300_000);
    assert_eq!(reservations.len(), 1);
}

#[test]
fn wildcard_rules_apply_after_the_tools_own_and_can_deny() {
    let p = policy(json!({"version": "1", "default": "deny", "tools": {
        "read": {},
        "*": {"deny_if": [{"path": "identity.labels.team", "op": "eq", "value": "payments"}]},
    }}));
    let d = decide(&p, "read", json!({}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(&*d.rule.path, "$.tools[\"*\"].deny_if[0]");
    // The wildcard does not rescue unlisted tools under default deny.
    assert_eq!(&*decide(&p, "write", json!({})).rule.path, "$.default");
}

#[test]
fn rate_limit_shorthand_counts_per_session_and_reports_retry_after() {
    let p = policy(json!({"version": "1", "default": "deny", "tools": {"search": {
        "rate_limit": {"max": 10, "window": 60}
    }}}));
    let d = decide(&p, "search", json!({}));
    let Outcome::Allow { reservations } = &d.outcome else {
        panic!("{d:?}")
    };
    let r = &reservations[0];
    assert_eq!(
        (r.counter.to_string().as_str(), r.per, r.amount, r.ceiling),
        (
            "search._rate_minute",
            Per::Session,
            1.0,
            Some(Ceiling {
                max: 10.0,
                strict: false
            })
        )
    );
    assert_eq!(
        r.window,
        Window {
            start_ms: 1_795_602_600_000,
            len_ms: 60_000
        }
    );
    let d = decide_with(
        &p,
        "search",
        json!({}),
        &counters(&[("search._rate_minute", 10.0)]),
    );
    assert_eq!(
        d.outcome,
        Outcome::RateLimited {
            retry_after_ms: 45_000
        }
    );
    assert_eq!(
        &*d.message,
        "Rate limit of 10 per minute reached. Try again later."
    );
    assert!(
        decide_with(
            &p,
            "search",
            json!({}),
            &counters(&[("search._rate_minute", 9.0)])
        )
        .outcome
        .is_allow()
    );
}

#[test]
fn window_kinds_seconds_durations_and_calendar() {
    for (window, len_ms, start_ms) in [
        (json!("minute"), 60_000, 1_795_602_600_000_u64),
        (json!("hour"), 3_600_000, 1_795_600_800_000),
        (json!("day"), 86_400_000, 1_795_564_800_000),
        (json!("90s"), 90_000, NOW.0 - NOW.0 % 90_000),
        (json!("10m"), 600_000, 1_795_602_600_000),
        (json!(30), 30_000, 1_795_602_600_000),
    ] {
        let p = policy(json!({"version": "1", "default": "allow", "tools": {"t": {
            "limits": [{"counter": "c", "max": 5, "window": window}]
        }}}));
        let Outcome::Allow { reservations } = decide(&p, "t", json!({})).outcome else {
            panic!()
        };
        assert_eq!(reservations[0].window, Window { start_ms, len_ms }, "{window}");
        assert_eq!(
            reservations[0].per,
            Per::Identity,
            "limits count per identity by default"
        );
    }
}

#[test]
fn spend_cap_with_increment_from() {
    let p = policy(
        json!({"version": "1", "default": "deny", "tools": {"create_charge": {
            "limits": [{"counter": "daily_spend", "max": 1000, "window": "day", "increment_from": "args.amount", "per": "global"}]
        }}}),
    );
    let spent = counters(&[("create_charge.daily_spend", 900.0)]);
    let Outcome::Allow { reservations } =
        decide_with(&p, "create_charge", json!({"amount": 100}), &spent).outcome
    else {
        panic!()
    };
    assert_eq!(
        (reservations[0].amount, reservations[0].per),
        (100.0, Per::Global)
    );
    let d = decide_with(&p, "create_charge", json!({"amount": 100.5}), &spent);
    assert!(matches!(d.outcome, Outcome::RateLimited { .. }), "{d:?}");
    assert_eq!(
        &*d.message,
        "Limit of 1000 per day on create_charge.daily_spend reached"
    );
    // An amount that could never fit is a denial, not a wait.
    let d = decide(&p, "create_charge", json!({"amount": 5000}));
    assert_eq!(d.outcome, Outcome::Deny);
    // No amount, or a negative one, cannot be counted: fail closed.
    assert_eq!(decide(&p, "create_charge", json!({})).outcome, Outcome::Deny);
    assert_eq!(
        decide(&p, "create_charge", json!({"amount": -5})).outcome,
        Outcome::Deny
    );
}

#[test]
fn all_tools_limits_apply_to_every_tool() {
    let p = policy(json!({"version": "1", "default": "allow", "all_tools": {"limits": ["100/hour"]}}));
    let Outcome::Allow { reservations } = decide(&p, "x", json!({})).outcome else {
        panic!()
    };
    assert_eq!(
        reservations[0].counter,
        CounterId {
            scope: "_global".into(),
            name: "_rate_hour".into()
        }
    );
    let d = decide_with(&p, "y", json!({}), &counters(&[("_global._rate_hour", 100.0)]));
    assert!(matches!(d.outcome, Outcome::RateLimited { .. }));
}

#[test]
fn intercept_state_rules_become_limits_checked_after_increment() {
    let p = policy(
        json!({"version": "1", "default": "allow", "tools": {"create_issue": {"rules": [{
            "name": "hourly issue limit",
            "conditions": [{"path": "state.create_issue.hourly_count", "op": "lte", "value": 5}],
            "on_deny": "Hourly limit of 5 new issues reached",
            "state": {"counter": "hourly_count", "window": "hour"},
        }]}}}),
    );
    assert!(
        decide_with(
            &p,
            "create_issue",
            json!({}),
            &counters(&[("create_issue.hourly_count", 4.0)])
        )
        .outcome
        .is_allow()
    );
    let d = decide_with(
        &p,
        "create_issue",
        json!({}),
        &counters(&[("create_issue.hourly_count", 5.0)]),
    );
    assert!(matches!(d.outcome, Outcome::RateLimited { .. }));
    assert_eq!(&*d.message, "Hourly limit of 5 new issues reached");
    assert_eq!(d.rule.name.as_deref(), Some("hourly issue limit"));
}

#[test]
fn intercept_rules_deny_and_evaluate() {
    let p = policy(json!({"version": "1", "default": "allow", "tools": {
        "delete_repository": {"rules": [{"name": "block", "action": "deny", "on_deny": "Repository deletion is not permitted"}]},
        "create_charge": {"rules": [{"name": "currencies", "conditions": [
            {"path": "args.currency", "op": "in", "value": ["usd", "eur"]},
            {"path": "args.amount", "op": "lte", "value": 50000},
        ], "on_deny": "Only small USD/EUR charges"}]},
    }}));
    let d = decide(&p, "delete_repository", json!({}));
    assert_eq!(
        (d.outcome, &*d.message),
        (Outcome::Deny, "Repository deletion is not permitted")
    );
    let d = decide(&p, "create_charge", json!({"currency": "gbp", "amount": 1}));
    assert_eq!(
        (d.outcome, &*d.message),
        (Outcome::Deny, "Only small USD/EUR charges")
    );
    assert!(
        decide(&p, "create_charge", json!({"currency": "usd", "amount": 1}))
            .outcome
            .is_allow()
    );
}

#[test]
fn state_conditions_read_counters_of_other_rules() {
    // A counter defined in one rule may gate another tool's calls; failing such a gate is a rate limit.
    let p = policy(json!({"version": "1", "default": "allow", "tools": {
        "search": {"limits": [{"counter": "calls", "max": 100, "window": "day"}]},
        "export": {"require": [{"path": "state.search.calls", "op": "gte", "value": 1, "message": "search first"}]},
    }}));
    let d = decide(&p, "export", json!({}));
    assert!(matches!(d.outcome, Outcome::RateLimited { .. }), "{d:?}");
    assert!(
        decide_with(&p, "export", json!({}), &counters(&[("search.calls", 3.0)]))
            .outcome
            .is_allow()
    );
}

#[test]
fn approval_when_conditions() {
    let p = policy(json!({"version": "1", "default": "deny", "tools": {"refund": {
        "approval": {"timeout": "10m", "when": [{"path": "args.amount", "op": "gt", "value": 100}]}
    }, "wipe": {"action": "require_approval", "approval_timeout": 30, "reason": "wipes need a human"}}}));
    assert!(decide(&p, "refund", json!({"amount": 5})).outcome.is_allow());
    let d = decide(&p, "refund", json!({"amount": 500}));
    assert!(
        matches!(
            d.outcome,
            Outcome::RequireApproval {
                timeout_ms: 600_000,
                ..
            }
        ),
        "{d:?}"
    );
    let d = decide(&p, "wipe", json!({}));
    assert!(matches!(
        d.outcome,
        Outcome::RequireApproval {
            timeout_ms: 30_000,
            ..
        }
    ));
    assert_eq!(&*d.message, "wipes need a human");
}

#[test]
fn an_approval_rule_may_carry_an_allowance() {
    let p = policy(json!({"version": "1", "default": "deny", "tools": {
        "deploy": {"action": "require_approval", "approval_allowance": "15m"},
        "refund": {"approval": {"timeout": "1m", "allowance": 90}},
        "wipe": {"action": "require_approval"}}}));
    let allowance = |tool: &str| match decide(&p, tool, json!({})).outcome {
        Outcome::RequireApproval { allowance_ms, .. } => allowance_ms,
        other => panic!("{tool}: {other:?}"),
    };
    assert_eq!(allowance("deploy"), Some(900_000));
    assert_eq!(allowance("refund"), Some(90_000));
    assert_eq!(allowance("wipe"), None);
}

#[test]
fn hide_blocks_calls_and_filters_lists() {
    let p = policy(
        json!({"version": "1", "default": "deny", "hide": ["delete_*"], "tools": {
            "list_repos": {}, "delete_repo": {}, "archive_repo": {"action": "deny"},
        }}),
    );
    let d = decide(&p, "delete_repo", json!({}));
    assert_eq!(d.outcome, Outcome::Hide);
    assert_eq!(&*d.rule.path, "$.hide[0]");
    let tools = vec![
        json!({"name": "list_repos"}),
        json!({"name": "delete_repo"}),
        json!({"name": "archive_repo"}),
        json!({"name": "create_repo"}),
        json!({"title": "nameless"}),
    ];
    let shown = list_filter(&p, tools, |t| t.get("name").and_then(Value::as_str));
    // Denied-but-listed tools stay visible; hidden, unlisted and nameless ones are removed.
    assert_eq!(
        shown,
        vec![json!({"name": "list_repos"}), json!({"name": "archive_repo"})]
    );
    let everything_hidden = policy(json!({"version": "1", "default": "allow", "hide": ["*"]}));
    assert!(!everything_hidden.is_visible("x"));
}

#[test]
fn decisions_carry_the_policy_revision() {
    let p = policy(json!({"version": "1", "default": "allow"})).with_revision(42);
    assert_eq!(decide(&p, "x", json!({})).policy_revision, 42);
}

#[test]
fn a_strict_intercept_ceiling_stays_strict_in_the_reservation() {
    let p = policy(
        json!({"version": "1", "default": "allow", "tools": {"t": {"rules": [{
            "name": "fewer than three",
            "conditions": [{"path": "state.t.n", "op": "lt", "value": 3}],
            "state": {"counter": "n", "window": "minute"},
        }]}}}),
    );
    let d = decide_with(&p, "t", json!({}), &counters(&[("t.n", 1.0)]));
    let Outcome::Allow { reservations } = d.outcome else {
        panic!("{d:?}")
    };
    let ceiling = reservations[0].ceiling.unwrap();
    assert!(ceiling.admits(2.0) && !ceiling.admits(3.0));
    let d = decide_with(&p, "t", json!({}), &counters(&[("t.n", 2.0)]));
    assert!(matches!(d.outcome, Outcome::RateLimited { .. }), "{d:?}");
}
