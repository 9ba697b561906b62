//! Streaming verification of a whole log: every hash, every link, every `seq`.

use std::{
    fmt,
    fs::File,
    io::{BufRead, BufReader, Read},
    path::Path,
};

use serde_json::Value;

use crate::{
    chain::{GENESIS_HASH, record_hash},
    error::VerifyError,
};

/// A line longer than this is reported as unparseable instead of being read into memory.
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// The result of checking a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records before the first break (all of them for an intact log).
    pub valid_records: u64,
    /// `seq` of the last valid record (0 if none).
    pub last_seq: u64,
    /// `hash` of the last valid record ([`GENESIS_HASH`] if none): compare it with an anchor kept
    /// elsewhere to detect records cut from the end.
    pub last_hash: String,
    /// The first record that fails a check; checking stops there.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// True when every line checked out.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// 1-based line number in the file.
    pub line: u64,
    /// The `seq` the broken line claims, when it has one.
    pub seq: Option<u64>,
    pub problem: Problem,
}

/// What is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not a JSON object, not UTF-8, too long, or missing its newline.
    Unparseable(String),
    /// A chain member (`seq`, `prev`, `hash`) is absent or has the wrong type.
    MissingField(&'static str),
    /// The content doesn't match `hash`: the record was edited.
    BadHash { stored: String, computed: String },
    /// `seq` is not one more than the previous record's: a record was removed, inserted or moved.
    SeqGap { expected: u64, found: u64 },
    /// `prev` is not the previous record's `hash`.
    BrokenLink { expected: String, found: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unparseable(why) => write!(f, "unparseable line: {why}"),
            Self::MissingField(name) => write!(f, "missing or mistyped field `{name}`"),
            Self::BadHash { stored, computed } => {
                write!(
                    f,
                    "bad hash: stored {stored}, content hashes to {computed} (record edited)"
                )
            }
            Self::SeqGap { expected, found } => {
                write!(
                    f,
                    "seq gap: expected {expected}, found {found} (record removed, inserted or moved)"
                )
            }
            Self::BrokenLink { expected, found } => {
                write!(
                    f,
                    "broken link: prev is {found}, previous record's hash is {expected}"
                )
            }
        }
    }
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "line {} (seq {seq}): {}", self.line, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}

/// Verifies the log at `path`.
///
/// # Errors
/// Only when the file can't be opened or read; a broken chain is reported in the [`VerifyReport`].
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, VerifyError> {
    let path = path.as_ref();
    let read_err = |source| VerifyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    verify_reader(BufReader::with_capacity(256 * 1024, file)).map_err(read_err)
}

/// Verifies a log from any buffered reader, one line at a time.
///
/// # Errors
/// Only on a read error.
pub fn verify_reader(mut reader: impl BufRead) -> std::io::Result<VerifyReport> {
    let mut report = VerifyReport {
        valid_records: 0,
        last_seq: 0,
        last_hash: GENESIS_HASH.to_owned(),
        first_break: None,
    };
    let mut buf = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(report);
        }
        line_no += 1;
        match check_line(&buf, &report) {
            Ok((seq, hash)) => {
                report.valid_records += 1;
                report.last_seq = seq;
                report.last_hash = hash;
            }
            Err((seq, problem)) => {
                report.first_break = Some(ChainBreak {
                    line: line_no,
                    seq,
                    problem,
                });
                return Ok(report);
            }
        }
    }
}

type LineError = (Option<u64>, Problem);

fn check_line(buf: &[u8], before: &VerifyReport) -> Result<(u64, String), LineError> {
    let Some(body) = buf.strip_suffix(b"\n") else {
        let why = if u64::try_from(buf.len()).unwrap_or(u64::MAX) > MAX_LINE {
            format!("longer than {MAX_LINE} bytes")
        } else {
            "incomplete last line (no trailing newline)".to_owned()
        };
        return Err((None, Problem::Unparseable(why)));
    };
    let value: Value =
        serde_json::from_slice(body).map_err(|e| (None, Problem::Unparseable(e.to_string())))?;
    if !value.is_object() {
        return Err((None, Problem::Unparseable("not a JSON object".to_owned())));
    }
    let seq = value.get("seq").and_then(Value::as_u64);
    let field = |name: &'static str| (seq, Problem::MissingField(name));
    let seq_value = seq.ok_or_else(|| field("seq"))?;
    let stored = value
        .get("hash")
        .and_then(Value::as_str)
        .ok_or_else(|| field("hash"))?;
    let prev = value
        .get("prev")
        .and_then(Value::as_str)
        .ok_or_else(|| field("prev"))?;
    let computed = record_hash(&value);
    if stored != computed {
        return Err((
            seq,
            Problem::BadHash {
                stored: stored.to_owned(),
                computed,
            },
        ));
    }
    let expected = before.last_seq + 1;
    if seq_value != expected {
        return Err((
            seq,
            Problem::SeqGap {
                expected,
                found: seq_value,
            },
        ));
    }
    if prev != before.last_hash {
        return Err((
            seq,
            Problem::BrokenLink {
                expected: before.last_hash.clone(),
                found: prev.to_owned(),
            },
        ));
    }
    Ok((seq_value, computed))
}
