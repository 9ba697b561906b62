//! One batch: sequence the records, write them with one call, sync, answer every waiter.

use std::{fs::File, io::Write, sync::Arc, sync::atomic::Ordering};

use super::line::write_unsealed;
use super::{AuditWriter, FsyncPolicy, Pending, Reply};
use crate::{chain::seal_into, error::AuditError};

/// Records of a batch that made it into the buffer, with their place in the chain.
struct Sealed {
    reply: Reply,
    seq: u64,
}

impl AuditWriter {
    pub(super) async fn write_batch(&mut self, batch: &mut Vec<Pending>) {
        if self.poisoned.load(Ordering::Relaxed) {
            for pending in batch.drain(..) {
                pending.reply.send(Err(AuditError::Poisoned {
                    path: self.path.clone(),
                }));
            }
            return;
        }
        let mut buf = Vec::with_capacity(batch.len() * 512);
        let mut sealed = Vec::with_capacity(batch.len());
        let mut seq = self.head.last_seq;
        let mut prev = self.head.last_hash.clone();
        let mut body = Vec::with_capacity(512);
        for pending in batch.drain(..) {
            body.clear();
            match write_unsealed(&pending.entry, seq + 1, &prev, &mut body) {
                Ok(()) => {
                    let hash = seal_into(&body, &mut buf);
                    seq += 1;
                    prev = hash;
                    sealed.push(Sealed {
                        reply: pending.reply,
                        seq,
                    });
                }
                Err(e) => {
                    pending.reply.send(Err(AuditError::Serialize(e.to_string())));
                }
            }
        }
        if sealed.is_empty() {
            return;
        }
        match self.write_and_sync(buf).await {
            Ok(written) => {
                self.head.len += written;
                self.head.last_seq = seq;
                self.head.last_hash = prev;
                for s in sealed {
                    s.reply.send(Ok(s.seq));
                }
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, records = sealed.len(), "audit write failed");
                let err = AuditError::Write {
                    path: self.path.clone(),
                    source: Arc::new(e),
                };
                self.roll_back().await;
                for s in sealed {
                    s.reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Writes the buffer on a blocking thread; the file comes back with the result.
    async fn write_and_sync(&mut self, buf: Vec<u8>) -> std::io::Result<u64> {
        let Some(mut file) = self.file.take() else {
            return Err(std::io::Error::other("audit file is not open"));
        };
        let fsync = self.options.fsync;
        let joined = tokio::task::spawn_blocking(move || {
            let result = write_all_synced(&mut file, &buf, fsync);
            (file, result)
        })
        .await;
        match joined {
            Ok((file, result)) => {
                self.file = Some(file);
                result
            }
            Err(e) => Err(std::io::Error::other(format!("audit write task failed: {e}"))),
        }
    }

    /// Cuts the file back to its last complete record so the chain can go on; if that is not
    /// possible the writer refuses all further appends.
    async fn roll_back(&mut self) {
        let len = self.head.len;
        let Some(file) = self.file.take() else {
            self.poisoned.store(true, Ordering::Relaxed);
            return;
        };
        let joined = tokio::task::spawn_blocking(move || {
            let result = file.set_len(len);
            (file, result)
        })
        .await;
        match joined {
            Ok((file, Ok(()))) => {
                self.file = Some(file);
                tracing::warn!(path = %self.path.display(), len, "audit log rolled back to its last complete record");
            }
            Ok((_, Err(e))) => {
                self.poisoned.store(true, Ordering::Relaxed);
                tracing::error!(path = %self.path.display(), error = %e, "audit log cannot be rolled back; refusing further appends");
            }
            Err(e) => {
                self.poisoned.store(true, Ordering::Relaxed);
                tracing::error!(path = %self.path.display(), error = %e, "audit rollback task failed; refusing further appends");
            }
        }
    }
}

fn write_all_synced(file: &mut File, buf: &[u8], fsync: FsyncPolicy) -> std::io::Result<u64> {
    file.write_all(buf)?;
    file.flush()?;
    if fsync == FsyncPolicy::PerBatch {
        file.sync_data()?;
    }
    Ok(u64::try_from(buf.len()).unwrap_or(u64::MAX))
}
