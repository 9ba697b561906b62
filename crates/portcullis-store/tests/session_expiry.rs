//! Session record expiry: touches stamped by the serving node, a leader's bounded expiry rounds, and
//! a node's release of a session it closed for idleness. All of it decided in apply from the
//! commands alone, so every replica forgets the same records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use portcullis_store::{AppRequest, AppResponse, Applied, State, Timestamp, ValidationError};
use serde_json::json;

const IDLE_MS: u64 = 10_000;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn put(id: &str, node: u64, ms: u64) -> AppRequest {
    AppRequest::PutSession {
        id: id.to_owned(),
        grant: "g1".to_owned(),
        server: "files".to_owned(),
        upstream_session_ids: vec![],
        node,
        at: at(ms),
        initialize: Some(json!({"protocolVersion": "2025-11-25"})),
        members: vec![],
    }
}

fn touch(node: u64, ms: u64, ids: &[&str]) -> AppRequest {
    AppRequest::TouchSessions {
        node,
        at: at(ms),
        ids: ids.iter().map(|id| (*id).to_owned()).collect(),
    }
}

fn expire(ms: u64, after: Option<&str>, scan: u32) -> AppRequest {
    AppRequest::ExpireSessions {
        at: at(ms),
        idle_ms: IDLE_MS,
        after: after.map(str::to_owned),
        scan,
    }
}

/// Validates and applies `commands` from log index `first` on; returns what each one did.
fn run(state: &mut State, first: u64, commands: &[AppRequest]) -> Vec<Applied> {
    commands
        .iter()
        .zip(first..)
        .map(|(command, index)| {
            command.validate().unwrap();
            match state.apply(index, command.clone()) {
                AppResponse::Applied(applied) => applied,
                AppResponse::Rejected(error) => panic!("{command:?} was refused: {error}"),
            }
        })
        .collect()
}

fn ids(state: &State) -> Vec<&str> {
    state.sessions.keys().map(String::as_str).collect()
}

/// A day in the life of three sessions: s1 stays in use on node 1, s2 is never touched after its
/// creation, s3 moves to node 2.
fn history() -> Vec<AppRequest> {
    vec![
        put("s1", 1, 1_000),
        put("s2", 1, 1_000),
        put("s3", 1, 2_000),
        touch(1, 6_000, &["s1", "gone"]),
        touch(2, 9_000, &["s3"]),
        touch(1, 12_000, &["s1"]),
        // 11.001 s after s2's creation, 10.001 s after s1's first touch but 0 after its second.
        expire(12_001, None, 100),
    ]
}

#[test]
fn records_idle_longer_than_the_timeout_go_and_younger_ones_stay() {
    let mut state = State::default();
    let applied = run(&mut state, 1, &history());
    // The touch of an unknown id is skipped, not refused.
    assert_eq!(applied[3], Applied::Swept { count: 1 });
    assert_eq!(
        applied[6],
        Applied::SessionsExpired {
            removed: 1,
            next: None
        }
    );
    assert_eq!(ids(&state), ["s1", "s3"]);
    assert_eq!(state.sessions["s1"].last_touched(), at(12_000));
    assert_eq!(state.sessions["s3"].last_toucher(), 2);

    // Exactly the timeout is not longer than it: s3 (touched at 9 s) stays at 19 s, goes after.
    run(&mut state, 8, &[expire(19_000, None, 100)]);
    assert_eq!(ids(&state), ["s1", "s3"]);
    run(&mut state, 9, &[expire(19_001, None, 100)]);
    assert_eq!(ids(&state), ["s1"]);
}

#[test]
fn the_same_commands_give_the_same_state_on_every_replica() {
    let (mut one, mut two) = (State::default(), State::default());
    let first = run(&mut one, 1, &history());
    let second = run(&mut two, 1, &history());
    assert_eq!(first, second);
    assert_eq!(one, two);
    assert_eq!(
        serde_json::to_vec(&one).unwrap(),
        serde_json::to_vec(&two).unwrap(),
        "snapshots differ"
    );
}

#[test]
fn a_touch_never_moves_time_back_but_moves_the_toucher() {
    let mut state = State::default();
    run(
        &mut state,
        1,
        &[
            put("s1", 1, 1_000),
            touch(1, 8_000, &["s1"]),
            touch(2, 7_000, &["s1"]),
        ],
    );
    let record = &state.sessions["s1"];
    assert_eq!((record.last_touched(), record.last_toucher()), (at(8_000), 2));
}

#[test]
fn an_expiry_round_looks_at_a_bounded_number_of_records_and_says_where_to_go_on() {
    let mut state = State::default();
    let mut commands: Vec<AppRequest> = (0..5).map(|n| put(&format!("s{n}"), 1, 1_000)).collect();
    // s1 and s3 stay in use.
    commands.push(touch(1, 20_000, &["s1", "s3"]));
    run(&mut state, 1, &commands);

    let round =
        |state: &mut State, after: Option<&str>| run(state, 100, &[expire(25_000, after, 2)]).remove(0);
    assert_eq!(
        round(&mut state, None),
        Applied::SessionsExpired {
            removed: 1,
            next: Some("s1".to_owned())
        }
    );
    assert_eq!(
        ids(&state),
        ["s1", "s2", "s3", "s4"],
        "only s0 and s1 were looked at"
    );
    assert_eq!(
        round(&mut state, Some("s1")),
        Applied::SessionsExpired {
            removed: 1,
            next: Some("s3".to_owned())
        }
    );
    assert_eq!(
        round(&mut state, Some("s3")),
        Applied::SessionsExpired {
            removed: 1,
            next: None
        }
    );
    assert_eq!(ids(&state), ["s1", "s3"]);
}

#[test]
fn a_release_forgets_a_record_only_for_the_node_that_touched_it_last() {
    let mut state = State::default();
    run(
        &mut state,
        1,
        &[put("s1", 1, 1_000), put("s2", 1, 1_000), touch(2, 3_000, &["s2"])],
    );
    let release = |id: &str, node| AppRequest::ReleaseSession {
        id: id.to_owned(),
        node,
    };
    let applied = run(
        &mut state,
        4,
        &[
            release("s1", 2),
            release("s2", 1),
            release("s1", 1),
            release("s1", 1),
        ],
    );
    // Node 2 never served s1; node 1 no longer serves s2 (the client moved to node 2).
    assert_eq!(applied[0], Applied::Swept { count: 0 });
    assert_eq!(applied[1], Applied::Swept { count: 0 });
    assert_eq!(applied[2], Applied::Swept { count: 1 });
    // Releasing again (or after a DELETE) is harmless.
    assert_eq!(applied[3], Applied::Swept { count: 0 });
    assert_eq!(ids(&state), ["s2"]);
}

#[test]
fn records_written_before_touches_existed_still_decode_and_age_from_their_creation() {
    let old = json!({
        "id": "s1", "grant": "g1", "server": "files", "upstream_session_ids": [],
        "node": 3, "created_at": 1_000
    });
    let record: portcullis_store::SessionRecord = serde_json::from_value(old).unwrap();
    assert_eq!((record.last_touched(), record.last_toucher()), (at(1_000), 3));
    assert!(!record.idle_at(at(11_000), IDLE_MS));
    assert!(record.idle_at(at(11_001), IDLE_MS));
}

#[test]
fn an_expiry_that_would_look_at_nothing_is_refused_before_proposing() {
    let mut nothing = expire(1_000, None, 0);
    assert_eq!(nothing.validate(), Err(ValidationError::EmptySessionExpiry));
    nothing = AppRequest::ExpireSessions {
        at: at(1_000),
        idle_ms: 0,
        after: None,
        scan: 10,
    };
    assert_eq!(nothing.validate(), Err(ValidationError::EmptySessionExpiry));
    let too_many: Vec<String> = (0..5_000).map(|n| format!("s{n}")).collect();
    let refs: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert!(matches!(
        touch(1, 1_000, &refs).validate(),
        Err(ValidationError::TooLarge { .. })
    ));
}

#[test]
fn the_new_commands_and_a_touched_record_round_trip_through_json() {
    let commands = [
        touch(2, 5_000, &["s1", "s2"]),
        expire(9_000, Some("s1"), 64),
        expire(9_000, None, 64),
        AppRequest::ReleaseSession {
            id: "s1".to_owned(),
            node: 3,
        },
    ];
    for command in commands {
        let text = serde_json::to_string(&command).unwrap();
        assert!(
            text.starts_with(&format!(r#"{{"op":"{}""#, command.op())),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<AppRequest>(&text).unwrap(), command);
    }
    let mut state = State::default();
    run(&mut state, 1, &[put("s1", 1, 1_000), touch(2, 5_000, &["s1"])]);
    let text = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<State>(&text).unwrap(), state);
}
