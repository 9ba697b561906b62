//! The state machine's rules: revisions assigned at apply, compare-and-set, referential checks,
//! counter ceilings, approval lifecycle, session records, and validation before proposing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;

use portcullis_store::{
    AppRequest, AppResponse, Applied, ApplyError, ApprovalState, CounterCeiling, CounterKey, PolicyFormat,
    PolicyRef, State, Timestamp, ValidationError,
};
use serde_json::json;

const TOKEN: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A version of policy `name`; its text differs with `expected`, so each call adds a version.
fn put_policy(name: &str, expected: Option<u64>) -> AppRequest {
    let tag = expected.map_or_else(|| "latest".to_owned(), |revision| revision.to_string());
    AppRequest::PutPolicy {
        name: name.to_owned(),
        text: format!(r#"{{"version": "1", "default": "deny", "hide": ["t{tag}"]}}"#),
        format: PolicyFormat::Json,
        author: "alice".to_owned(),
        at: at(1_000),
        expected_revision: expected,
        shadow: false,
    }
}

fn put_server(name: &str) -> AppRequest {
    AppRequest::PutServer {
        name: name.to_owned(),
        upstream: json!({"type": "http", "url": "http://127.0.0.1:9/mcp"}),
        anonymous_policy: None,
        at: at(1_000),
    }
}

fn put_grant(id: &str, token: &str, policy: Option<PolicyRef>) -> AppRequest {
    AppRequest::PutGrant {
        id: id.to_owned(),
        token_sha256: token.to_owned(),
        labels: BTreeMap::from([("team".to_owned(), "ops".to_owned())]),
        server: "files".to_owned(),
        servers: Vec::new(),
        policy,
        at: at(2_000),
    }
}

/// Applies commands in order, validating each first as a proposer would, and returns the responses.
fn run(state: &mut State, commands: Vec<AppRequest>) -> Vec<AppResponse> {
    let mut index = state.policies.len() as u64 + 100;
    commands
        .into_iter()
        .map(|command| {
            command.validate().unwrap();
            index += 1;
            state.apply(index, command)
        })
        .collect()
}

fn rejected(response: AppResponse) -> ApplyError {
    response.into_result().expect_err("expected a rejection")
}

#[test]
fn policy_revisions_are_assigned_at_apply_and_history_is_kept() {
    let mut state = State::default();
    let responses = run(
        &mut state,
        vec![
            put_policy("p", Some(0)),
            put_policy("p", Some(1)),
            put_policy("p", None),
        ],
    );
    let revisions: Vec<_> = responses
        .into_iter()
        .map(|r| match r.into_result().unwrap() {
            Applied::PolicyVersion { revision, .. } => revision,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(revisions, [1, 2, 3]);
    let history = &state.policies["p"];
    assert_eq!(history.versions.len(), 3);
    assert_eq!(history.revision(2).unwrap().revision, 2);
    assert_eq!(history.latest().unwrap().author, "alice");
}

#[test]
fn the_same_text_again_adds_no_version() {
    let mut state = State::default();
    let responses = run(&mut state, vec![put_policy("p", None), put_policy("p", None)]);
    assert_eq!(
        responses[1],
        AppResponse::Applied(Applied::PolicyVersion {
            name: "p".to_owned(),
            revision: 1,
            unchanged: true
        })
    );
    assert_eq!(state.policies["p"].versions.len(), 1);
}

#[test]
fn stale_expected_revision_is_rejected_and_changes_nothing() {
    let mut state = State::default();
    run(&mut state, vec![put_policy("p", None)]);
    let before = state.clone();
    let error = rejected(state.apply(200, put_policy("p", Some(0))));
    assert_eq!(
        error,
        ApplyError::StaleRevision {
            name: "p".to_owned(),
            expected: 0,
            actual: 1
        }
    );
    assert!(error.to_string().contains("reload it"), "{error}");
    assert_eq!(state, before);
    // A compare-and-set on a policy that doesn't exist yet leaves no empty history behind.
    rejected(state.apply(201, put_policy("q", Some(3))));
    assert!(!state.policies.contains_key("q"));
}

#[test]
fn grants_need_their_server_and_policy_and_a_unique_token() {
    let mut state = State::default();
    let pinned = PolicyRef {
        name: "p".to_owned(),
        revision: Some(1),
    };
    assert!(matches!(
        rejected(state.apply(1, put_grant("g1", TOKEN, None))),
        ApplyError::UnknownServer { .. }
    ));
    run(&mut state, vec![put_server("files")]);
    assert!(matches!(
        rejected(state.apply(2, put_grant("g1", TOKEN, Some(pinned.clone())))),
        ApplyError::UnknownPolicy {
            revision: Some(1),
            ..
        }
    ));
    run(
        &mut state,
        vec![put_policy("p", None), put_grant("g1", TOKEN, Some(pinned))],
    );
    assert_eq!(
        rejected(state.apply(3, put_grant("g2", TOKEN, None))),
        ApplyError::DuplicateToken {
            existing: "g1".to_owned()
        }
    );
    assert!(matches!(
        rejected(state.apply(
            4,
            AppRequest::RemoveServer {
                name: "files".to_owned()
            }
        )),
        ApplyError::ServerInUse { grants: 1, .. }
    ));
    run(
        &mut state,
        vec![
            AppRequest::RevokeGrant {
                id: "g1".to_owned(),
                at: at(3_000),
            },
            AppRequest::RemoveServer {
                name: "files".to_owned(),
            },
        ],
    );
    assert_eq!(state.grants["g1"].revoked_at, Some(at(3_000)));
    assert!(state.servers.is_empty());
}

#[test]
fn counter_ceilings_hold_at_apply_and_rollbacks_stop_at_zero() {
    let key = CounterKey {
        counter: "_global.calls".to_owned(),
        partition: "g1".to_owned(),
        window_start_ms: 60_000,
        window_len_ms: 60_000,
    };
    let add = |delta: f64| AppRequest::AddToCounter {
        key: key.clone(),
        delta,
        ceiling: Some(CounterCeiling {
            max: 2.0,
            strict: false,
        }),
    };
    let mut state = State::default();
    let responses = run(&mut state, vec![add(1.0), add(1.0)]);
    assert_eq!(
        responses[1],
        AppResponse::Applied(Applied::Counter { value: 2.0 })
    );
    assert!(matches!(
        rejected(state.apply(10, add(1.0))),
        ApplyError::CeilingExceeded { current, .. } if current == 2.0
    ));
    let responses = run(&mut state, vec![add(-5.0)]);
    assert_eq!(
        responses[0],
        AppResponse::Applied(Applied::Counter { value: 0.0 })
    );
    assert!(state.counters.is_empty(), "a zero counter takes no space");
    run(
        &mut state,
        vec![add(1.0), AppRequest::PruneCounters { before_ms: 120_000 }],
    );
    assert!(state.counters.is_empty(), "windows that ended are pruned");
}

#[test]
fn approvals_are_decided_once_and_expire_at_their_deadline() {
    let request = |id: &str| AppRequest::RequestApproval {
        id: id.to_owned(),
        grant: "g1".to_owned(),
        session: None,
        server: "files".to_owned(),
        tool: "delete_file".to_owned(),
        args_sha256: TOKEN.to_owned(),
        arguments: Some(json!({"path": "/tmp/x"})),
        policy: PolicyRef {
            name: "p".to_owned(),
            revision: Some(1),
        },
        requested_at: at(1_000),
        expires_at: at(61_000),
        allowance_ms: None,
    };
    let decide = |id: &str, approve: bool, ms: u64| AppRequest::DecideApproval {
        id: id.to_owned(),
        approve,
        by: "bob".to_owned(),
        reason: "looks fine".to_owned(),
        at: at(ms),
    };
    let mut state = State::default();
    run(
        &mut state,
        vec![request("a1"), request("a2"), decide("a1", true, 5_000)],
    );
    assert!(matches!(
        state.approvals["a1"].state,
        ApprovalState::Approved { .. }
    ));
    assert!(matches!(
        rejected(state.apply(10, decide("a1", false, 6_000))),
        ApplyError::ApprovalClosed { .. }
    ));
    // An approval forwards its call once: the first claim wins, a pending one can't be claimed.
    let claim = |id: &str| AppRequest::ClaimApproval {
        id: id.to_owned(),
        at: at(7_000),
    };
    run(&mut state, vec![claim("a1")]);
    assert_eq!(state.approvals["a1"].forwarded_at, Some(at(7_000)));
    assert!(matches!(
        rejected(state.apply(12, claim("a1"))),
        ApplyError::ApprovalClosed { .. }
    ));
    assert!(matches!(
        rejected(state.apply(13, claim("a2"))),
        ApplyError::ApprovalClosed { .. }
    ));
    assert!(matches!(
        rejected(state.apply(11, decide("a2", true, 61_000))),
        ApplyError::ApprovalExpired { .. }
    ));
    let responses = run(&mut state, vec![AppRequest::ExpireApprovals { at: at(70_000) }]);
    assert_eq!(responses[0], AppResponse::Applied(Applied::Swept { count: 1 }));
    assert_eq!(
        state.approvals["a2"].state,
        ApprovalState::Expired { at: at(61_000) }
    );
}

#[test]
fn an_approved_allowance_runs_from_the_decisions_stamped_time() {
    let request = |id: &str, allowance_ms: Option<u64>| AppRequest::RequestApproval {
        id: id.to_owned(),
        grant: "g1".to_owned(),
        session: None,
        server: "files".to_owned(),
        tool: "deploy".to_owned(),
        args_sha256: TOKEN.to_owned(),
        arguments: None,
        policy: PolicyRef {
            name: "p".to_owned(),
            revision: Some(1),
        },
        requested_at: at(1_000),
        expires_at: at(61_000),
        allowance_ms,
    };
    let decide = |id: &str, approve: bool| AppRequest::DecideApproval {
        id: id.to_owned(),
        approve,
        by: "bob".to_owned(),
        reason: "ok".to_owned(),
        at: at(5_000),
    };
    let mut state = State::default();
    run(
        &mut state,
        vec![
            request("a1", Some(120_000)),
            request("a2", Some(120_000)),
            request("a3", None),
            decide("a1", true),
            decide("a2", false),
            decide("a3", true),
        ],
    );
    let approved = &state.approvals["a1"];
    assert_eq!(approved.allowance_until, Some(at(125_000)));
    assert!(approved.allows("g1", "files", "deploy", at(124_999)));
    assert!(!approved.allows("g1", "files", "deploy", at(125_000)));
    assert!(!approved.allows("g2", "files", "deploy", at(6_000)));
    assert!(!approved.allows("g1", "files", "other", at(6_000)));
    // A denial or an approval without an allowance admits nothing more.
    assert_eq!(state.approvals["a2"].allowance_until, None);
    assert_eq!(state.approvals["a3"].allowance_until, None);
    assert!(matches!(
        request("a4", Some(0)).validate(),
        Err(ValidationError::EmptyAllowance)
    ));
}

#[test]
fn session_records_are_created_updated_and_removed() {
    let mut state = State::default();
    run(
        &mut state,
        vec![
            AppRequest::PutSession {
                id: "s1".to_owned(),
                grant: "g1".to_owned(),
                server: "files".to_owned(),
                upstream_session_ids: vec![],
                node: 1,
                at: at(1_000),
                initialize: Some(json!({"protocolVersion": "2025-11-25"})),
                members: vec![],
            },
            AppRequest::SetSessionUpstream {
                id: "s1".to_owned(),
                upstream_session_ids: vec!["up-7".to_owned()],
            },
        ],
    );
    assert_eq!(state.sessions["s1"].upstream_session_ids, ["up-7"]);
    assert_eq!(
        state.sessions["s1"].initialize,
        Some(json!({"protocolVersion": "2025-11-25"}))
    );
    run(
        &mut state,
        vec![AppRequest::RemoveSession { id: "s1".to_owned() }],
    );
    assert!(matches!(
        rejected(state.apply(10, AppRequest::RemoveSession { id: "s1".to_owned() })),
        ApplyError::UnknownSession { .. }
    ));
}

#[test]
fn aggregate_session_records_keep_their_members_and_older_records_still_decode() {
    let aggregate = |members: &[&str]| AppRequest::PutSession {
        id: "agg".to_owned(),
        grant: "g1".to_owned(),
        server: "files".to_owned(),
        upstream_session_ids: vec![],
        node: 1,
        at: at(1_000),
        initialize: Some(json!({})),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    };
    let mut state = State::default();
    run(&mut state, vec![aggregate(&["files", "mail"])]);
    assert_eq!(state.sessions["agg"].members, ["files", "mail"]);
    assert_eq!(
        aggregate(&["files", "mail", "files"]).validate(),
        Err(ValidationError::MemberTwice {
            name: "files".to_owned()
        })
    );
    assert_eq!(
        aggregate(&["mail", "files"]).validate(),
        Err(ValidationError::MembersDisagree)
    );
    assert!(matches!(
        aggregate(&["files", "no spaces"]).validate(),
        Err(ValidationError::BadName { .. })
    ));

    // A single-server session writes no `members`, and what was written before they existed reads back.
    let single: AppRequest = serde_json::from_value(json!({
        "op": "put_session", "id": "s1", "grant": "g1", "server": "files",
        "upstream_session_ids": [], "node": 1, "at": 1_000
    }))
    .unwrap();
    let AppRequest::PutSession { members, .. } = &single else {
        panic!("{single:?}");
    };
    assert!(members.is_empty());
    assert!(
        serde_json::to_value(&single).unwrap().get("members").is_none(),
        "an absent list is not written"
    );
    run(&mut state, vec![single]);
    let record = serde_json::to_value(&state.sessions["s1"]).unwrap();
    assert!(record.get("members").is_none(), "{record}");
    let back: portcullis_store::SessionRecord = serde_json::from_value(record).unwrap();
    assert_eq!(back, state.sessions["s1"]);
}

#[test]
fn malformed_commands_are_refused_before_proposing() {
    let bad_policy = AppRequest::PutPolicy {
        name: "p".to_owned(),
        text: r#"{"version": "1", "default": "sometimes"}"#.to_owned(),
        format: PolicyFormat::Json,
        author: "alice".to_owned(),
        at: at(1_000),
        expected_revision: None,
        shadow: false,
    };
    assert!(matches!(
        bad_policy.validate(),
        Err(ValidationError::PolicyInvalid { .. })
    ));
    assert!(matches!(
        put_server("has space").validate(),
        Err(ValidationError::BadName { .. })
    ));
    assert!(matches!(
        put_grant("g1", "ABC", None).validate(),
        Err(ValidationError::BadDigest { .. })
    ));
    let nan = AppRequest::AddToCounter {
        key: CounterKey {
            counter: "c".to_owned(),
            partition: "p".to_owned(),
            window_start_ms: 0,
            window_len_ms: 1_000,
        },
        delta: f64::NAN,
        ceiling: None,
    };
    assert!(matches!(nan.validate(), Err(ValidationError::BadNumber { .. })));
    let not_object = AppRequest::PutServer {
        name: "files".to_owned(),
        upstream: json!("http://x"),
        anonymous_policy: None,
        at: at(1_000),
    };
    assert_eq!(not_object.validate(), Err(ValidationError::UpstreamNotObject));
    let init_not_object = AppRequest::PutSession {
        id: "s1".to_owned(),
        grant: "g1".to_owned(),
        server: "files".to_owned(),
        upstream_session_ids: vec![],
        node: 1,
        at: at(1_000),
        initialize: Some(json!(["not", "params"])),
        members: vec![],
    };
    assert_eq!(
        init_not_object.validate(),
        Err(ValidationError::InitializeNotObject)
    );
}

#[test]
fn commands_round_trip_through_their_json_form() {
    let command = put_grant("g1", TOKEN, None);
    let text = serde_json::to_string(&command).unwrap();
    assert!(text.starts_with(r#"{"op":"put_grant""#), "{text}");
    assert_eq!(serde_json::from_str::<AppRequest>(&text).unwrap(), command);
    let unknown = r#"{"op":"remove_server","name":"x","extra":1}"#;
    assert!(serde_json::from_str::<AppRequest>(unknown).is_err());
}

#[test]
fn a_grant_of_several_servers_needs_each_and_keeps_each_in_use() {
    let mut state = State::default();
    let several = |servers: &[&str]| AppRequest::PutGrant {
        id: "g".to_owned(),
        token_sha256: TOKEN.to_owned(),
        labels: BTreeMap::new(),
        server: "files".to_owned(),
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        policy: None,
        at: at(2_000),
    };
    run(&mut state, vec![put_server("files")]);
    assert_eq!(
        rejected(state.apply(10, several(&["files", "mail"]))),
        ApplyError::UnknownServer {
            name: "mail".to_owned()
        }
    );
    run(&mut state, vec![put_server("mail"), several(&["files", "mail"])]);
    let covered: Vec<&str> = state.grants["g"].covered().collect();
    assert_eq!(covered, ["files", "mail"]);
    // The second server is in use by the grant as much as the first.
    let remove = AppRequest::RemoveServer {
        name: "mail".to_owned(),
    };
    assert!(matches!(
        rejected(state.apply(20, remove)),
        ApplyError::ServerInUse { grants: 1, .. }
    ));
    // An entry written before grants could name several servers reads as one server.
    let old = json!({"op": "put_grant", "id": "o", "token_sha256": TOKEN, "labels": {}, "server": "files",
        "policy": null, "at": 1});
    let AppRequest::PutGrant { servers, .. } = serde_json::from_value(old).unwrap() else {
        panic!("not a PutGrant");
    };
    assert!(servers.is_empty());
}
