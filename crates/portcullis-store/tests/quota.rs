//! Escrowed quota commands: grants never exceed a ceiling, returns never open headroom that was not
//! leased, ended windows grant nothing, a reset starts an epoch that slices from before it can't
//! touch, and the same log gives the same state (with a proptest over random interleavings of nodes
//! leasing, spending, returning, resetting and pruning).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;

use portcullis_store::{
    AppRequest, Applied, CounterCeiling, CounterKey, QuotaAsk, QuotaGrant, QuotaReturn, State, Timestamp,
    ValidationError,
};
use proptest::prelude::*;

const WINDOW: u64 = 10_000;

fn key(partition: &str) -> CounterKey {
    CounterKey {
        counter: "p.calls".to_owned(),
        partition: partition.to_owned(),
        window_start_ms: 0,
        window_len_ms: WINDOW,
    }
}

fn lte(max: f64) -> CounterCeiling {
    CounterCeiling { max, strict: false }
}

fn lease(node: u64, at: u64, asks: Vec<QuotaAsk>, returns: Vec<QuotaReturn>) -> AppRequest {
    AppRequest::LeaseQuota {
        node,
        at: Timestamp::from_millis(at),
        asks,
        returns,
    }
}

fn ask(partition: &str, want: f64, ceiling: CounterCeiling) -> QuotaAsk {
    QuotaAsk {
        key: key(partition),
        want,
        ceiling,
    }
}

fn back(partition: &str, amount: f64) -> QuotaReturn {
    back_from(partition, amount, 0)
}

fn back_from(partition: &str, amount: f64, epoch: u64) -> QuotaReturn {
    QuotaReturn {
        key: key(partition),
        amount,
        epoch,
    }
}

/// Validates and applies one command, returning its grants.
fn apply(state: &mut State, index: u64, command: AppRequest) -> Vec<QuotaGrant> {
    command.validate().unwrap();
    match state.apply(index, command).into_result().unwrap() {
        Applied::Quota { grants } => grants,
        other => panic!("expected grants, got {other:?}"),
    }
}

#[test]
fn grants_are_capped_by_the_headroom_and_charged_to_the_node() {
    let mut state = State::default();
    let grants = apply(&mut state, 1, lease(1, 0, vec![ask("g", 6.0, lte(10.0))], vec![]));
    assert_eq!(grants[0].granted, 6.0);
    assert_eq!(grants[0].remaining, 4.0);
    // Node 2 wants 6 too, but only 4 are left; one entry may carry several asks for the same key.
    let grants = apply(
        &mut state,
        2,
        lease(
            2,
            0,
            vec![ask("g", 6.0, lte(10.0)), ask("g", 1.0, lte(10.0))],
            vec![],
        ),
    );
    assert_eq!((grants[0].granted, grants[1].granted), (4.0, 0.0));
    let view = state.quota(&key("g"));
    assert_eq!(view.charged, 10.0);
    assert_eq!(view.by_node, Some(&BTreeMap::from([(1, 6.0), (2, 4.0)])));
}

#[test]
fn returns_free_headroom_but_never_more_than_the_node_was_charged() {
    let mut state = State::default();
    apply(&mut state, 1, lease(1, 0, vec![ask("g", 3.0, lte(10.0))], vec![]));
    apply(&mut state, 2, lease(2, 0, vec![ask("g", 7.0, lte(10.0))], vec![]));
    // Node 1 returns more than it ever held: only its 3 come back.
    let grants = apply(
        &mut state,
        3,
        lease(1, 0, vec![ask("g", 100.0, lte(10.0))], vec![back("g", 50.0)]),
    );
    assert_eq!(grants[0].granted, 3.0, "returns apply before asks");
    assert_eq!(state.quota(&key("g")).charged, 10.0);
    // A node that holds nothing returns nothing.
    apply(&mut state, 4, lease(9, 0, vec![], vec![back("g", 5.0)]));
    assert_eq!(state.quota(&key("g")).charged, 10.0);
}

#[test]
fn a_strict_ceiling_marks_the_grant_that_reaches_it() {
    let mut state = State::default();
    let strict = CounterCeiling {
        max: 5.0,
        strict: true,
    };
    let grants = apply(&mut state, 1, lease(1, 0, vec![ask("g", 3.0, strict)], vec![]));
    assert!(!grants[0].capped);
    let grants = apply(&mut state, 2, lease(2, 0, vec![ask("g", 3.0, strict)], vec![]));
    assert_eq!(grants[0].granted, 2.0);
    assert!(grants[0].capped, "node 2 must stay strictly below its slice");
}

#[test]
fn an_ended_window_grants_nothing_and_prune_and_reset_forget_leases() {
    let mut state = State::default();
    let grants = apply(
        &mut state,
        1,
        lease(1, WINDOW, vec![ask("g", 3.0, lte(10.0))], vec![]),
    );
    assert_eq!(grants[0].granted, 0.0);
    assert!(state.counters.is_empty() && state.quota_leases.is_empty());

    apply(
        &mut state,
        2,
        lease(
            1,
            0,
            vec![ask("g", 3.0, lte(10.0)), ask("h", 2.0, lte(10.0))],
            vec![],
        ),
    );
    let reset = AppRequest::ResetCounter { key: key("g") };
    state.apply(3, reset).into_result().unwrap();
    assert_eq!(state.quota(&key("g")).by_node, None);
    // After a reset, a return from before it frees nothing.
    apply(&mut state, 4, lease(1, 0, vec![], vec![back("g", 3.0)]));
    assert_eq!(state.quota(&key("g")).charged, 0.0);
    state
        .apply(5, AppRequest::PruneCounters { before_ms: WINDOW })
        .into_result()
        .unwrap();
    assert!(state.counters.is_empty() && state.quota_leases.is_empty());
}

#[test]
fn a_reset_starts_an_epoch_whose_budget_slices_from_before_it_cannot_touch() {
    let mut state = State::default();
    let grants = apply(&mut state, 1, lease(1, 0, vec![ask("g", 6.0, lte(10.0))], vec![]));
    assert_eq!((grants[0].granted, grants[0].epoch), (6.0, 0));
    state
        .apply(2, AppRequest::ResetCounter { key: key("g") })
        .into_result()
        .unwrap();
    assert_eq!(state.quota(&key("g")).epoch, 1);
    assert_eq!(state.quota(&key("g")).charged, 0.0);
    // Node 1 leases from the fresh budget; the grant says which epoch it belongs to.
    let grants = apply(
        &mut state,
        3,
        lease(1, 0, vec![ask("g", 10.0, lte(10.0))], vec![]),
    );
    assert_eq!((grants[0].granted, grants[0].epoch), (10.0, 1));
    // Its return of the slice from before the reset, sent before it saw the reset, frees nothing:
    // otherwise 6 more could be leased on top of the 10 it holds.
    apply(&mut state, 4, lease(1, 0, vec![], vec![back_from("g", 6.0, 0)]));
    assert_eq!(state.quota(&key("g")).charged, 10.0);
    let grants = apply(&mut state, 5, lease(2, 0, vec![ask("g", 6.0, lte(10.0))], vec![]));
    assert_eq!(grants[0].granted, 0.0);
    // A return from the current epoch frees headroom as before.
    apply(&mut state, 6, lease(1, 0, vec![], vec![back_from("g", 4.0, 1)]));
    assert_eq!(state.quota(&key("g")).charged, 6.0);
    // A reset of a counter no node leased from starts no epoch; prune forgets epochs with windows.
    state
        .apply(7, AppRequest::ResetCounter { key: key("h") })
        .into_result()
        .unwrap();
    assert_eq!(state.quota(&key("h")).epoch, 0);
    state
        .apply(8, AppRequest::PruneCounters { before_ms: WINDOW })
        .into_result()
        .unwrap();
    assert!(state.quota_epochs.is_empty());
}

#[test]
fn validation_refuses_bad_numbers_and_oversized_batches() {
    let nan = lease(1, 0, vec![ask("g", f64::NAN, lte(1.0))], vec![]);
    assert!(matches!(
        nan.validate(),
        Err(ValidationError::BadNumber { field: "want", .. })
    ));
    let negative = lease(1, 0, vec![], vec![back("g", -1.0)]);
    assert!(matches!(
        negative.validate(),
        Err(ValidationError::BadNumber { field: "amount", .. })
    ));
    let huge = lease(1, 0, vec![ask("g", 1.0, lte(1.0)); 5_000], vec![]);
    assert!(matches!(
        huge.validate(),
        Err(ValidationError::TooLarge { field: "asks", .. })
    ));
}

/// One step of a random schedule.
#[derive(Clone, Debug)]
enum Step {
    Lease { node: u64, want: u8, give_back: bool },
    Spend { node: u64, amount: u8 },
    Reset,
    Prune,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1..4u64, 0..8u8, any::<bool>()).prop_map(|(node, want, give_back)| Step::Lease { node, want, give_back }),
        4 => (1..4u64, 1..4u8).prop_map(|(node, amount)| Step::Spend { node, amount }),
        1 => Just(Step::Reset),
        1 => Just(Step::Prune),
    ]
}

proptest! {
    /// Nodes spend only what they were granted in the counter's current epoch, and may still return a
    /// slice from before a reset they have not seen yet: the cluster's spending since the last reset
    /// never passes the ceiling, what nodes spent or hold in the current epoch never exceeds what the
    /// counter was charged, and replaying the same log gives the same state.
    #[test]
    fn the_cluster_never_spends_more_than_the_ceiling(max in 1u8..40, steps in prop::collection::vec(step(), 1..80)) {
        let max = f64::from(max);
        let mut state = State::default();
        let mut log = Vec::new();
        // What each node holds unspent and the epoch it was granted in, and what the cluster spent
        // since the window began or was last reset.
        let mut held: BTreeMap<u64, (u64, f64)> = BTreeMap::new();
        let mut spent = 0.0;
        let mut pruned = false;
        for (index, step) in steps.into_iter().enumerate() {
            let index = index as u64 + 1;
            let current = state.quota_epoch(&key("g"));
            let command = match step {
                Step::Lease { node, want, give_back } => {
                    let (epoch, mine) = held.get(&node).copied().unwrap_or((current, 0.0));
                    // The node may not have seen a reset yet: it returns with the epoch it knows.
                    let returns = if give_back && mine > 0.0 { vec![back_from("g", mine, epoch)] } else { vec![] };
                    if give_back {
                        held.insert(node, (epoch, 0.0));
                    }
                    lease(node, if pruned { WINDOW } else { 0 }, vec![ask("g", f64::from(want), lte(max))], returns)
                }
                // Pruning happens only after the window ended, and a slice dies with its window.
                Step::Spend { .. } if pruned => continue,
                Step::Spend { node, amount } => {
                    let (epoch, mine) = held.entry(node).or_insert((current, 0.0));
                    // A node that sees a newer epoch drops what it held before it.
                    if *epoch < current {
                        *epoch = current;
                        *mine = 0.0;
                    }
                    if *mine >= f64::from(amount) {
                        *mine -= f64::from(amount);
                        spent += f64::from(amount);
                    }
                    continue;
                }
                // A reset starts a fresh budget; nodes keep their slices until they notice.
                Step::Reset => {
                    spent = 0.0;
                    AppRequest::ResetCounter { key: key("g") }
                }
                Step::Prune => {
                    pruned = true;
                    AppRequest::PruneCounters { before_ms: WINDOW }
                }
            };
            command.validate().unwrap();
            log.push((index, command.clone()));
            if let Applied::Quota { grants } = state.apply(index, command.clone()).into_result().unwrap()
                && let AppRequest::LeaseQuota { node, .. } = command
            {
                let (epoch, mine) = held.entry(node).or_insert((grants[0].epoch, 0.0));
                if grants[0].epoch > *epoch {
                    *epoch = grants[0].epoch;
                    *mine = 0.0;
                }
                *mine += grants[0].granted;
            }
            let charged = state.quota(&key("g")).charged;
            let current = state.quota_epoch(&key("g"));
            let holding: f64 = held.values().filter(|(epoch, _)| *epoch == current).map(|(_, mine)| mine).sum();
            prop_assert!(charged <= max, "charged {charged} > {max}");
            prop_assert!(spent + holding <= charged + 1e-9 || pruned, "spent {spent} + held {holding} > charged {charged}");
            prop_assert!(spent <= max);
        }
        let mut again = State::default();
        for (index, command) in log {
            let _ = again.apply(index, command);
        }
        prop_assert_eq!(serde_json::to_vec(&again).unwrap(), serde_json::to_vec(&state).unwrap());
    }
}
