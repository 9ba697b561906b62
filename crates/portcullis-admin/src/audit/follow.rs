//! Following the audit file: the last matching records, then each new complete line as it lands.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_proto::admin as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::filter::Filter;

/// How often the file is checked for new records.
const POLL: Duration = Duration::from_millis(100);
/// Records buffered for a slow reader before the follower waits for it.
const BUFFER: usize = 256;

/// Starts following `path`; the stream ends when the client goes away.
///
/// # Errors
/// `INTERNAL` when the file can't be read.
pub async fn spawn(
    path: PathBuf,
    filter: Filter,
    backlog: usize,
) -> Result<ReceiverStream<Result<pb::AuditRecord, Status>>, Status> {
    let (first, offset) = {
        let (path, filter) = (path.clone(), filter.clone());
        tokio::task::spawn_blocking(move || read_backlog(&path, &filter, backlog))
            .await
            .map_err(|error| Status::internal(format!("the audit reader failed: {error}")))?
            .map_err(|error| Status::internal(format!("cannot read the audit log: {error}")))?
    };
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        for record in first {
            if tx.send(Ok(record)).await.is_err() {
                return;
            }
        }
        let mut offset = offset;
        let mut pending = String::new();
        loop {
            tokio::select! {
                () = tx.closed() => return,
                () = tokio::time::sleep(POLL) => {}
            }
            let (lines, next) = match read_from(&path, offset, &mut pending) {
                Ok(read) => read,
                Err(error) => {
                    let _ = tx
                        .send(Err(Status::internal(format!(
                            "cannot read the audit log: {error}"
                        ))))
                        .await;
                    return;
                }
            };
            offset = next;
            for line in lines {
                if let Some(record) = filter.record(&line)
                    && tx.send(Ok(record)).await.is_err()
                {
                    return;
                }
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

/// The last `backlog` matching records, and the offset after the last complete line.
fn read_backlog(
    path: &Path,
    filter: &Filter,
    backlog: usize,
) -> std::io::Result<(Vec<pb::AuditRecord>, u64)> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut kept = VecDeque::with_capacity(backlog.min(1024));
    let mut offset = 0_u64;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 || !line.ends_with('\n') {
            break;
        }
        offset += read as u64;
        if backlog > 0
            && let Some(record) = filter.record(line.trim_end())
        {
            if kept.len() == backlog {
                kept.pop_front();
            }
            kept.push_back(record);
        }
    }
    Ok((kept.into(), offset))
}

/// The complete lines written since `offset` (a partial last line waits in `pending`), and the
/// offset to read from next.
fn read_from(path: &Path, offset: u64, pending: &mut String) -> std::io::Result<(Vec<String>, u64)> {
    let mut file = File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    if len <= offset {
        return Ok((Vec::new(), offset));
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut fresh = String::new();
    file.take(len - offset).read_to_string(&mut fresh)?;
    pending.push_str(&fresh);
    let mut lines = Vec::new();
    while let Some(end) = pending.find('\n') {
        let line: String = pending.drain(..=end).collect();
        lines.push(line.trim_end().to_owned());
    }
    Ok((lines, len))
}
