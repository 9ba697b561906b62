//! The hash chain: how a record's `hash` is computed and how a line is sealed.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::{hex, write_canonical, write_canonical_object};

/// `prev` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash a record object must carry: hex SHA-256 of its canonical JSON with the `hash` member
/// left out. `record` must be a JSON object; other values hash as they are.
#[must_use]
pub fn record_hash(record: &Value) -> String {
    let mut body = Vec::with_capacity(512);
    match record {
        Value::Object(map) => write_canonical_object(map, Some("hash"), &mut body),
        other => write_canonical(other, &mut body),
    }
    hex(&Sha256::digest(&body))
}

/// Turns a record object without `hash` into its line: the canonical bytes with `"hash":"<hex>"` as
/// the last member, then `\n`. Returns the line and the hash.
#[cfg(test)]
pub(crate) fn seal(record_without_hash: &Value) -> (Vec<u8>, String) {
    let mut line = Vec::with_capacity(512);
    let hash = seal_into(&crate::canonical_json(record_without_hash), &mut line);
    (line, hash)
}

/// Appends the line of a record whose canonical bytes without `hash` are `body` (a non-empty
/// object) to `out`: `body` with `"hash":"<hex>"` as the last member, then `\n`. Returns the hash.
pub(crate) fn seal_into(body: &[u8], out: &mut Vec<u8>) -> String {
    let hash = hex(&Sha256::digest(body));
    // The body ends with `}`; reopen it to append `hash` last.
    match body.strip_suffix(b"}") {
        Some(open) => {
            out.extend_from_slice(open);
            if open.len() > 1 {
                out.push(b',');
            }
        }
        None => out.extend_from_slice(body),
    }
    out.extend_from_slice(b"\"hash\":\"");
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_line_verifies_by_record_hash() {
        let rec = json!({"seq": 1, "prev": GENESIS_HASH, "node": "n1", "z": [1, {"b": 2, "a": 1}]});
        let (line, hash) = seal(&rec);
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed["hash"], json!(hash));
        assert_eq!(record_hash(&parsed), hash);
        assert!(line.ends_with(b"\"}\n"));
    }

    /// A golden vector: the chain format must not change silently, or old logs stop verifying.
    #[test]
    fn golden_first_record_hash() {
        let rec = json!({"time_ms": 1_700_000_000_000u64, "node": "n1", "decision": "allow",
            "policy_revision": 3, "seq": 1, "prev": GENESIS_HASH, "hash": "ignored"});
        assert_eq!(
            record_hash(&rec),
            "34538e125c1b4d7d55794c96220571027526ee6a2bbfe791e5bfdebed0dcfe60"
        );
    }
}
