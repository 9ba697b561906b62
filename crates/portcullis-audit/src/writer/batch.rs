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
    pub(super) fn write_batch(&mut self, batch: &mut Vec<Pending>) {
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
        match self.write_and_sync(&buf) {
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
                self.roll_back();
                for s in sealed {
                    s.reply.send(Err(err.clone()));
                }
            }
        }
    }

    fn write_and_sync(&mut self, buf: &[u8]) -> std::io::Result<u64> {
        write_all_synced(&mut self.file, buf, self.options.fsync)
    }

    /// Cuts the file back to its last complete record so the chain can go on; if that is not
    /// possible the writer refuses all further appends.
    fn roll_back(&mut self) {
        let len = self.head.len;
        match self.file.set_len(len) {
            Ok(()) => {
                tracing::warn!(path = %self.path.display(), len, "audit log rolled back to its last complete record");
            }
            Err(e) => {
                self.poisoned.store(true, Ordering::Relaxed);
                tracing::error!(path = %self.path.display(), error = %e, "audit log cannot be rolled back; refusing further appends");
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
