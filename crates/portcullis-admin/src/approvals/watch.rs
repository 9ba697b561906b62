//! `WatchApprovals`: the pending approvals first, then each approval as it is requested or decided
//! on this node's applied state.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use portcullis_proto::admin as pb;
use portcullis_store::{ApprovalState, StateSnapshot};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::convert;

/// What the RPC returns.
pub type ApprovalStream = Pin<Box<dyn Stream<Item = Result<pb::Approval, Status>> + Send>>;

/// Events sent ahead of a slow client before the watcher waits for it.
const BUFFER: usize = 64;

/// Streams approvals from `applied`.
pub fn stream(mut applied: watch::Receiver<Arc<StateSnapshot>>) -> ApprovalStream {
    let (sender, receiver) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        // The state last sent per approval; an approval is sent again only when its state changes.
        let mut sent: BTreeMap<String, ApprovalState> = BTreeMap::new();
        let mut first = true;
        loop {
            let snapshot = Arc::clone(&applied.borrow_and_update());
            for (id, record) in snapshot.state.approvals.iter() {
                if sent.get(id) == Some(&record.state) {
                    continue;
                }
                // Decided before the watch began: history, not news.
                if first && !convert::is_pending(record) {
                    sent.insert(id.clone(), record.state.clone());
                    continue;
                }
                if sender.send(Ok(convert::approval(record))).await.is_err() {
                    return;
                }
                sent.insert(id.clone(), record.state.clone());
            }
            first = false;
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { return },
                () = sender.closed() => return,
            }
        }
    });
    Box::pin(ReceiverStream::new(receiver))
}
