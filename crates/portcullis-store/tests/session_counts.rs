//! Per-session counts reported by nodes: max per node and key, harmless re-sends and reordering,
//! ended windows dropped at the stamped time, the tally removed with the session's record, and
//! reports for sessions without a record skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use portcullis_store::{
    AppRequest, MAX_REPORTED_COUNTS, SessionCount, SessionCountKey, SessionReport, State, Timestamp,
    ValidationError,
};

const WINDOW: u64 = 60_000;

fn key(name: &str, window_start_ms: u64) -> SessionCountKey {
    SessionCountKey {
        member: String::new(),
        scope: "delete_file".to_owned(),
        name: name.to_owned(),
        window_start_ms,
        window_len_ms: WINDOW,
    }
}

fn report(node: u64, at_ms: u64, counts: &[(&str, u64, f64)]) -> AppRequest {
    AppRequest::ReportSessionCounts {
        node,
        at: Timestamp::from_millis(at_ms),
        sessions: vec![SessionReport {
            session: "s1".to_owned(),
            counts: counts
                .iter()
                .map(|(name, start, value)| SessionCount {
                    key: key(name, *start),
                    value: *value,
                })
                .collect(),
        }],
    }
}

fn with_session() -> State {
    let mut state = State::default();
    apply(
        &mut state,
        AppRequest::PutSession {
            id: "s1".to_owned(),
            grant: "g1".to_owned(),
            server: "files".to_owned(),
            upstream_session_ids: vec![],
            node: 1,
            at: Timestamp::from_millis(1_000),
            initialize: None,
            members: vec![],
        },
    );
    state
}

fn apply(state: &mut State, command: AppRequest) {
    command.validate().unwrap();
    state.apply(1, command).into_result().unwrap();
}

fn others(state: &State, me: u64, name: &str) -> f64 {
    state.session_counts["s1"].others(me, &key(name, 0))
}

#[test]
fn each_node_keeps_its_largest_report_and_others_sum_the_rest() {
    let mut state = with_session();
    apply(&mut state, report(1, 1_000, &[("calls", 0, 2.0)]));
    apply(&mut state, report(2, 1_000, &[("calls", 0, 1.0)]));
    // An older, smaller report of node 1 arriving late changes nothing.
    apply(&mut state, report(1, 1_000, &[("calls", 0, 1.0)]));
    assert_eq!(others(&state, 2, "calls"), 2.0);
    assert_eq!(others(&state, 1, "calls"), 1.0);
    assert_eq!(others(&state, 3, "calls"), 3.0);
    let own: Vec<f64> = state.session_counts["s1"].of_node(1).map(|c| c.value).collect();
    assert_eq!(own, [2.0]);
}

#[test]
fn reports_commute_and_resending_one_is_harmless() {
    let reports = [
        report(1, 1_000, &[("calls", 0, 1.0), ("spend", 0, 5.0)]),
        report(2, 1_000, &[("calls", 0, 4.0)]),
        report(1, 1_000, &[("calls", 0, 3.0)]),
    ];
    let mut forward = with_session();
    for r in &reports {
        apply(&mut forward, r.clone());
    }
    let mut backward = with_session();
    for r in reports.iter().rev() {
        apply(&mut backward, r.clone());
        apply(&mut backward, r.clone());
    }
    assert_eq!(forward, backward);
    assert_eq!(others(&forward, 9, "calls"), 7.0);
    assert_eq!(others(&forward, 9, "spend"), 5.0);
}

#[test]
fn windows_over_at_the_stamped_time_are_dropped() {
    let mut state = with_session();
    apply(&mut state, report(1, 1_000, &[("calls", 0, 2.0)]));
    // Node 2 reports in the next window: the first window is over at its stamp.
    apply(
        &mut state,
        report(2, WINDOW + 5, &[("calls", WINDOW, 1.0), ("calls", 0, 9.0)]),
    );
    let keys: Vec<(u64, u64)> = state.session_counts["s1"]
        .counts
        .iter()
        .map(|c| (c.node, c.key.window_start_ms))
        .collect();
    assert_eq!(keys, [(2, WINDOW)]);
}

#[test]
fn the_tally_goes_with_the_session_and_a_late_report_does_not_bring_it_back() {
    let mut state = with_session();
    apply(&mut state, report(1, 1_000, &[("calls", 0, 2.0)]));
    apply(&mut state, AppRequest::RemoveSession { id: "s1".to_owned() });
    assert!(state.session_counts.is_empty());
    apply(&mut state, report(1, 1_000, &[("calls", 0, 3.0)]));
    assert!(state.session_counts.is_empty());
}

#[test]
fn the_tally_goes_when_the_record_expires_or_is_released() {
    let mut state = with_session();
    apply(&mut state, report(1, 1_000, &[("calls", 0, 2.0)]));
    let expire = AppRequest::ExpireSessions {
        at: Timestamp::from_millis(100_000),
        idle_ms: 10_000,
        after: None,
        scan: 10,
    };
    apply(&mut state, expire);
    assert!(state.sessions.is_empty() && state.session_counts.is_empty());

    let mut state = with_session();
    apply(&mut state, report(1, 1_000, &[("calls", 0, 2.0)]));
    apply(
        &mut state,
        AppRequest::ReleaseSession {
            id: "s1".to_owned(),
            node: 1,
        },
    );
    assert!(state.sessions.is_empty() && state.session_counts.is_empty());
}

#[test]
fn malformed_reports_are_refused_before_proposing() {
    let negative = report(1, 1_000, &[("calls", 0, -1.0)]);
    assert!(matches!(
        negative.validate(),
        Err(ValidationError::BadNumber { .. })
    ));
    let mut empty_window = report(1, 1_000, &[("calls", 0, 1.0)]);
    if let AppRequest::ReportSessionCounts { sessions, .. } = &mut empty_window {
        sessions[0].counts[0].key.window_len_ms = 0;
    }
    assert_eq!(empty_window.validate(), Err(ValidationError::EmptyWindow));
    let mut too_many = report(1, 1_000, &[("calls", 0, 1.0)]);
    if let AppRequest::ReportSessionCounts { sessions, .. } = &mut too_many {
        let one = sessions[0].clone();
        sessions.resize(MAX_REPORTED_COUNTS + 1, one);
    }
    assert!(matches!(
        too_many.validate(),
        Err(ValidationError::TooLarge { .. })
    ));
    let round_trip: AppRequest =
        serde_json::from_str(&serde_json::to_string(&report(1, 1_000, &[("calls", 0, 1.0)])).unwrap())
            .unwrap();
    assert_eq!(round_trip, report(1, 1_000, &[("calls", 0, 1.0)]));
}
