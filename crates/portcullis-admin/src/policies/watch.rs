//! `WatchPolicies`: each policy version as this node applies it, current versions first.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use portcullis_proto::admin as pb;
use portcullis_store::StateSnapshot;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::convert;

/// What the RPC returns.
pub type PolicyStream = Pin<Box<dyn Stream<Item = Result<pb::PolicyEvent, Status>> + Send>>;

/// Events sent ahead of a slow client before the watcher waits for it.
const BUFFER: usize = 64;

/// Streams versions of the policy named `filter` (every policy when empty) from `applied`.
pub fn stream(mut applied: watch::Receiver<Arc<StateSnapshot>>, filter: String) -> PolicyStream {
    let (sender, receiver) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        // The newest revision sent per policy; a version is sent once, in order.
        let mut sent: BTreeMap<String, u64> = BTreeMap::new();
        loop {
            let snapshot = Arc::clone(&applied.borrow_and_update());
            for (name, history) in snapshot.state.policies.iter() {
                if !filter.is_empty() && *name != filter {
                    continue;
                }
                let last = sent.get(name).copied();
                // The first look sends only the current version; later ones every newer version.
                let start = match last {
                    Some(last) => last.saturating_add(1),
                    None => history.current_revision().max(1),
                };
                for revision in start..=history.current_revision() {
                    let Some(version) = history.revision(revision) else {
                        continue;
                    };
                    let event = pb::PolicyEvent {
                        policy: Some(convert::policy(name, history, version, true)),
                        applied_index: snapshot.applied_index.unwrap_or(0),
                    };
                    if sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                    sent.insert(name.clone(), revision);
                }
            }
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { return },
                () = sender.closed() => return,
            }
        }
    });
    Box::pin(ReceiverStream::new(receiver))
}
