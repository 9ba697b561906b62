//! The refill task: plans an exchange whenever a tick passes or a reservation starves, and sends it
//! to the store as one `LeaseQuota` entry (plus an `AddToCounter` per plain count). One exchange is
//! in flight at a time, so asks that arrive meanwhile batch into the next.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use portcullis_gateway::clock::Clock;
use portcullis_gateway::counters::CounterKey;
use portcullis_store::{AppRequest, AppResponse, Applied, Store, StoreError, Timestamp};

use crate::ledger::Ledger;
use crate::plan::{Batch, Tuning, plan};

/// How often the leader drops counters of long-gone windows.
const PRUNE_EVERY_MS: u64 = 10_000;
/// Windows are pruned only this long after they end, so a node with a slower clock never asks for
/// a window the cluster already forgot.
const PRUNE_GRACE_MS: u64 = 60_000;
/// How often the task logs how many quota entries it proposed.
const REPORT_EVERY_MS: u64 = 5_000;

/// Keeps `ledger`'s slices filled from `store` until the runtime stops.
pub async fn run(ledger: Arc<Ledger>, store: Store, clock: Arc<dyn Clock>, tuning: Tuning) {
    let tick = u64::try_from(tuning.tick.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut observed = clock.now().as_millis();
    let mut pruned = observed;
    let mut reported = (observed, 0);
    // How long exchanges lately took to answer, smoothed.
    let mut latency = Duration::ZERO;
    loop {
        tokio::select! {
            () = ledger.wake().notified() => {}
            () = tokio::time::sleep(tuning.tick) => {}
        }
        let now = clock.now().as_millis();
        let elapsed = now.saturating_sub(observed);
        let elapsed = if elapsed >= tick {
            observed = now;
            elapsed
        } else {
            0
        };
        let batch = {
            let applied = ledger.applied();
            let mut slices = ledger.slices();
            let node = ledger.node();
            plan(&mut slices, &applied.state, node, now, elapsed, &tuning, latency)
        };
        if !batch.is_empty() {
            let started = tokio::time::Instant::now();
            let answered = exchange(&ledger, &store, batch, now, &tuning).await;
            if answered {
                latency = (latency * 7 + started.elapsed()) / 8;
            } else {
                tokio::time::sleep(tuning.backoff).await;
            }
        }
        if now.saturating_sub(pruned) >= PRUNE_EVERY_MS && store.leader() == Some(store.node_id()) {
            pruned = now;
            let prune = AppRequest::PruneCounters {
                before_ms: now.saturating_sub(PRUNE_GRACE_MS),
            };
            if let Err(error) = store.propose(prune).await {
                tracing::debug!(%error, "pruning old counters failed; the next round retries");
            }
        }
        if now.saturating_sub(reported.0) >= REPORT_EVERY_MS {
            let entries = ledger.entries.load(Ordering::Relaxed);
            tracing::info!(
                node = ledger.node(),
                entries = entries - reported.1,
                seconds = now.saturating_sub(reported.0) / 1_000,
                total = entries,
                "quota entries proposed"
            );
            reported = (now, entries);
        }
    }
}

/// Sends one batch; returns whether the cluster answered.
async fn exchange(ledger: &Ledger, store: &Store, batch: Batch, now: u64, tuning: &Tuning) -> bool {
    let Batch { asks, returns, adds } = batch;
    let mut answered = true;
    if !asks.is_empty() || !returns.is_empty() {
        let (keys, asks): (Vec<CounterKey>, Vec<_>) = asks.into_iter().unzip();
        let command = AppRequest::LeaseQuota {
            node: ledger.node(),
            at: Timestamp::from_millis(now),
            asks,
            returns,
        };
        let outcome = propose(ledger, store, command, tuning.exchange_timeout).await;
        let mut slices = ledger.slices();
        match outcome {
            Ok(AppResponse::Applied(Applied::Quota { grants })) => {
                for (key, grant) in keys.iter().zip(&grants) {
                    if let Some(slice) = slices.get_mut(key) {
                        slice.granted(grant);
                    }
                }
            }
            Ok(other) => tracing::warn!(?other, "the store answered a quota lease unexpectedly"),
            // A lost answer may still commit: that slice is lost for its window, never spent twice.
            Err(_) => answered = false,
        }
        for key in &keys {
            if let Some(slice) = slices.get_mut(key) {
                slice.in_flight = false;
            }
        }
    }
    for (key, stored, delta) in adds {
        let add = AppRequest::AddToCounter {
            key: stored,
            delta,
            ceiling: None,
        };
        if propose(ledger, store, add, tuning.exchange_timeout)
            .await
            .is_err()
        {
            answered = false;
            // Counted again with the next exchange rather than forgotten.
            if let Some(slice) = ledger.slices().get_mut(&key) {
                slice.unsynced += delta;
            }
        }
    }
    answered
}

/// Proposes within `timeout`, recording an outage (and logging when one starts or ends).
async fn propose(
    ledger: &Ledger,
    store: &Store,
    command: AppRequest,
    timeout: Duration,
) -> Result<AppResponse, Arc<str>> {
    ledger.entries.fetch_add(1, Ordering::Relaxed);
    let outcome = match tokio::time::timeout(timeout, store.propose(command)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(describe(&error)),
        Err(_) => Err(format!("no answer from the cluster within {timeout:?}").into()),
    };
    let outage = outcome.as_ref().err().cloned();
    if ledger.set_outage(outage.clone()) {
        match outage {
            Some(cause) => tracing::warn!(%cause, "quota unavailable: cannot lease from the cluster"),
            None => tracing::info!("quota leases flow again"),
        }
    }
    outcome
}

fn describe(error: &StoreError) -> Arc<str> {
    match error {
        StoreError::NotLeader {
            leader_hint: None, ..
        } => "no leader is elected".into(),
        other => other.to_string().into(),
    }
}
