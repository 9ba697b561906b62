//! The Portcullis audit log: every policy decision, appended to a local JSON-lines file whose records
//! are hash-chained, so that editing, deleting or reordering a record is detected by [`verify`].
//!
//! # File format
//!
//! One JSON object per line (`\n`-terminated, UTF-8). Each line is an [`AuditRecord`]: the caller's
//! [`AuditEntry`] plus three fields the writer fills in, `seq`, `prev` and `hash`.
//!
//! # The chain (exactly what is written is what gets verified)
//!
//! * `seq` starts at 1 and grows by exactly 1 per record.
//! * `prev` is the `hash` of the previous record; for the first record it is [`GENESIS_HASH`]
//!   (64 zeros).
//! * `hash` is the lowercase hex SHA-256 of the record's **canonical bytes without the `hash`
//!   member**: the JSON object with `hash` removed, serialized by [`canonical_json`] (object keys
//!   sorted by their UTF-8 bytes at every depth, no insignificant whitespace, strings escaped as
//!   `serde_json` escapes them, numbers as `serde_json` prints them). Because `prev` is one of the
//!   hashed members, each hash covers the whole history before it.
//!
//! The verifier works on the parsed JSON value, not on the typed record, so members added by a later
//! version (absent `Option`s are omitted, never written as `null`) are covered by the hash and never
//! break old chains. The writer prints the canonical bytes and appends `hash` as the last member, so
//! lines are also byte-stable.
//!
//! # What the chain cannot show
//!
//! Removing records from the *end* of the file leaves a valid shorter chain. [`VerifyReport`] gives
//! the last `seq` and `hash` so an operator can compare them with an anchor kept elsewhere.
//!
//! Architecture invariant: the library never reads the clock; `time_ms` comes from the caller.

mod canonical;
mod chain;
mod error;
mod record;
mod tail;
mod verify;
mod writer;

pub use canonical::{args_sha256, canonical_json};
pub use chain::{GENESIS_HASH, record_hash};
pub use error::{AuditError, VerifyError};
pub use record::{AuditEntry, AuditRecord, Decision, Outcome, ShadowVerdict};
pub use verify::{ChainBreak, Problem, VerifyReport, verify, verify_reader};
pub use writer::{AuditHandle, AuditLog, AuditOptions, AuditWriter, FsyncPolicy, WriterStopped};
