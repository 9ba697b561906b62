//! Aggregate sessions in the cluster's session directory, as `/mcp/<server>` sessions are
//! ([`crate::http::continuity`]): recorded when opened, forgotten on DELETE, and rebuilt on a node that
//! does not hold one when its client arrives with the `Mcp-Session-Id` (the same id, every member's
//! upstream opened here and initialized with the client's original params). A standalone node has no
//! directory: its aggregates stay its own.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use dashmap::DashMap;
use serde_json::{Value, json};

use super::members::Aggregate;
use super::{Aggregates, serve};
use crate::cluster::{SessionEntry, Usage};
use crate::http::{Caller, Reject};
use crate::node::Node;

/// Records an aggregate just opened here, so any node can continue it, and keeps the record alive
/// while the aggregate is used here.
pub(super) fn record(node: &Node, aggregate: &Arc<Aggregate>, params: &Value) {
    let Some(directory) = &node.cluster.sessions else {
        return;
    };
    let members: Vec<String> = aggregate.servers().iter().map(ToString::to_string).collect();
    let Some(first) = members.first().cloned() else {
        return;
    };
    let entry = SessionEntry {
        id: aggregate.id.to_string(),
        grant: aggregate.grant.to_string(),
        server: first,
        initialize: if params.is_object() {
            params.clone()
        } else {
            json!({})
        },
        members,
    };
    directory.record(entry.clone());
    serve_here(node, entry, aggregate);
}

/// This node serves `aggregate` now: its record is touched while any member is used here.
fn serve_here(node: &Node, entry: SessionEntry, aggregate: &Arc<Aggregate>) {
    let usage: Weak<dyn Usage> = Arc::downgrade(aggregate) as Weak<dyn Usage>;
    node.cluster.live.insert_with(entry, usage);
}

/// The client ended aggregate `id` (held here or not): the cluster forgets it, if the record is
/// `caller`'s or `held` says this node held it for `caller`. Returns whether the directory knew it
/// as `caller`'s, so a DELETE on a node that never held it still answers 204.
pub(super) fn forget(node: &Node, caller: &Caller, id: &str, held: bool) -> bool {
    let Some(directory) = &node.cluster.sessions else {
        return false;
    };
    let known = directory
        .find(id)
        .is_some_and(|record| is_aggregate_of(&record, caller));
    if known || held {
        node.cluster.live.remove(id);
        directory.forget(id);
    }
    known
}

/// Whether the cluster forgot `aggregate` after this node saw it recorded: a DELETE on another node
/// ended it, so it must end here too. Records are written in the background, so an aggregate not yet
/// seen in the directory is not taken for a forgotten one.
pub(super) fn forgotten_elsewhere(node: &Node, aggregate: &Aggregate) -> bool {
    let Some(directory) = &node.cluster.sessions else {
        return false;
    };
    if directory.find(&aggregate.id).is_some() {
        aggregate.recorded.store(true, Ordering::Release);
        return false;
    }
    aggregate.recorded.load(Ordering::Acquire)
}

/// Continues `caller`'s aggregate `id`, which another node opened: `None` when the cluster has no
/// such record (the caller answers 404).
///
/// # Errors
/// 502 when not one member's upstream can be opened and initialized here.
pub(super) async fn resumed(
    aggregates: &Aggregates,
    caller: &Caller,
    id: &str,
) -> Result<Option<Arc<Aggregate>>, Reject> {
    let node = &aggregates.node;
    let Some(directory) = &node.cluster.sessions else {
        return Ok(None);
    };
    if aggregates.ended.contains(id) {
        return Ok(None);
    }
    let Some(record) = directory.find(id).filter(|r| is_aggregate_of(r, caller)) else {
        return Ok(None);
    };
    // Two first requests for the same session rebuild it once.
    let _one_at_a_time = node.cluster.resuming.lock().await;
    if let Some(held) = aggregates.open.get(id) {
        return Ok(Some(Arc::clone(held.value())).filter(|a| a.grant == caller.grant_id));
    }
    let servers = record.members.iter().map(|s| Arc::from(s.as_str())).collect();
    let kept = record.clone();
    let aggregate = Arc::new(Aggregate::new(
        Arc::from(id),
        Arc::clone(&caller.grant_id),
        record.initialize,
        servers,
    ));
    aggregate.recorded.store(true, Ordering::Release);
    let failures = serve::open_members(node, &aggregate).await;
    if failures.len() == aggregate.members.len() {
        node.metrics.error("upstream");
        let why = failures.join("; ");
        tracing::warn!(session = id, error = %why, "could not continue an aggregate session");
        return Err(Reject::status(
            StatusCode::BAD_GATEWAY,
            format!("cannot continue this session on this node ({why}): initialize again"),
        ));
    }
    aggregates
        .open
        .insert(Arc::clone(&aggregate.id), Arc::clone(&aggregate));
    // Said at once, so the node that served it before does not release the record when its own
    // copy goes idle.
    directory.keep(&[Arc::new(kept.clone())]);
    serve_here(node, kept, &aggregate);
    tracing::info!(session = id, grant = %caller.grant_id, servers = aggregate.members.len(), down = failures.len(), "aggregate session continued from another node");
    Ok(Some(aggregate))
}

fn is_aggregate_of(record: &SessionEntry, caller: &Caller) -> bool {
    !record.members.is_empty() && *record.grant == *caller.grant_id
}

/// How long a session deleted here is remembered: far longer than a record's removal takes to
/// commit, short enough that the list stays small.
const REMEMBER_ENDED: Duration = Duration::from_secs(60);

/// Sessions deleted on this node lately. Their records' removal is proposed in the background, so
/// until it commits the directory still has them: without this, the next request with the id would
/// rebuild the session it just ended.
#[derive(Default)]
pub(super) struct Ended(DashMap<Arc<str>, tokio::time::Instant>);

impl Ended {
    /// Remembers that `id` was deleted here (and forgets what is old enough).
    pub(super) fn note(&self, id: &str) {
        let now = tokio::time::Instant::now();
        self.0
            .retain(|_, at| now.saturating_duration_since(*at) < REMEMBER_ENDED);
        self.0.insert(Arc::from(id), now);
    }

    fn contains(&self, id: &str) -> bool {
        self.0.get(id).is_some_and(|at| at.elapsed() < REMEMBER_ENDED)
    }
}
