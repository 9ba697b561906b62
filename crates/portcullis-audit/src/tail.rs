//! Recovering the chain position from the end of an existing log, without reading all of it.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
};

use serde_json::Value;

use crate::chain::{GENESIS_HASH, record_hash};

/// Where the next record continues the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainHead {
    /// `seq` of the last record, 0 for an empty log.
    pub last_seq: u64,
    /// `hash` of the last record, [`GENESIS_HASH`] for an empty log.
    pub last_hash: String,
    /// Bytes of the file that hold complete records.
    pub len: u64,
}

/// Why the tail can't be trusted.
#[derive(Debug)]
pub(crate) enum TailError {
    Io(std::io::Error),
    Corrupt(String),
}

const CHUNK: u64 = 64 * 1024;
/// A last line longer than this is treated as corruption rather than read into memory.
const MAX_LINE: u64 = 64 * 1024 * 1024;

pub(crate) fn read_head(file: &mut File) -> Result<ChainHead, TailError> {
    let len = file.seek(SeekFrom::End(0)).map_err(TailError::Io)?;
    if len == 0 {
        return Ok(ChainHead {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
            len: 0,
        });
    }
    let line = last_line(file, len)?;
    let value: Value = serde_json::from_slice(&line)
        .map_err(|e| TailError::Corrupt(format!("last record is not valid JSON ({e})")))?;
    let seq = value
        .get("seq")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .ok_or_else(|| TailError::Corrupt("last record has no positive integer `seq`".to_owned()))?;
    let hash = value
        .get("hash")
        .and_then(Value::as_str)
        .ok_or_else(|| TailError::Corrupt("last record has no `hash`".to_owned()))?;
    let expected = record_hash(&value);
    if hash != expected {
        return Err(TailError::Corrupt(format!(
            "last record's hash {hash} does not match its content"
        )));
    }
    Ok(ChainHead {
        last_seq: seq,
        last_hash: expected,
        len,
    })
}

/// The last complete line without its `\n`. A file that doesn't end in `\n` was cut mid-write.
fn last_line(file: &mut File, len: u64) -> Result<Vec<u8>, TailError> {
    let mut end_byte = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1)).map_err(TailError::Io)?;
    file.read_exact(&mut end_byte).map_err(TailError::Io)?;
    if end_byte[0] != b'\n' {
        return Err(TailError::Corrupt(
            "the last line is incomplete (no trailing newline)".to_owned(),
        ));
    }
    let body_end = len - 1;
    // Read backwards in chunks until the previous newline (or the start of the file).
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = body_end;
    loop {
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; usize::try_from(pos - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start)).map_err(TailError::Io)?;
        file.read_exact(&mut chunk).map_err(TailError::Io)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        let searched = usize::try_from(pos - start).unwrap_or(0);
        if let Some(nl) = tail[..searched].iter().rposition(|b| *b == b'\n') {
            return Ok(tail.split_off(nl + 1));
        }
        if start == 0 {
            return Ok(tail);
        }
        if body_end - start > MAX_LINE {
            return Err(TailError::Corrupt(format!(
                "the last line is longer than {MAX_LINE} bytes"
            )));
        }
        pos = start;
    }
}
