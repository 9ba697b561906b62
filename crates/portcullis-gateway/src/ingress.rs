//! Reading one JSON-RPC message from untrusted bytes (an HTTP body, a stdio line): size-capped before
//! anything is parsed, so memory stays proportional to what was accepted; nesting is bounded by the JSON
//! parser's recursion limit; and every refusal is a JSON-RPC error the client can read.

use serde_json::Value;

use crate::jsonrpc::{self, Kind};

/// One accepted message.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A request, notification or response.
    Single {
        /// The message, every field kept.
        message: Value,
        /// What it is.
        kind: Kind,
    },
    /// A JSON-RPC batch (only protocol 2025-03-26 and older allow them); its members are not yet checked.
    Batch(Vec<Value>),
}

/// Why bytes were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IngressError {
    /// More bytes than the cap.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Bytes offered.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not JSON (or nested deeper than the parser allows, or a number out of range).
    #[error("parse error: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC 2.0 request, notification or response.
    #[error("not a JSON-RPC 2.0 request, notification or response")]
    NotJsonRpc {
        /// The message's `id`, when it has a usable one.
        id: Value,
    },
    /// `[]`.
    #[error("an empty batch")]
    EmptyBatch,
}

impl IngressError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => jsonrpc::PARSE_ERROR,
            Self::TooLarge { .. } | Self::NotJsonRpc { .. } | Self::EmptyBatch => jsonrpc::INVALID_REQUEST,
        }
    }

    /// The error response to send back.
    pub fn to_response(&self) -> Value {
        let id = match self {
            Self::NotJsonRpc { id } => id.clone(),
            _ => Value::Null,
        };
        jsonrpc::error(id, self.code(), &self.to_string())
    }
}

/// Parses `bytes` as one JSON-RPC message or batch, refusing more than `max_bytes`.
///
/// # Errors
/// [`IngressError`], never a panic, whatever the bytes.
pub fn parse(bytes: &[u8], max_bytes: usize) -> Result<Incoming, IngressError> {
    match parse_json(bytes, max_bytes)? {
        Value::Array(messages) if messages.is_empty() => Err(IngressError::EmptyBatch),
        Value::Array(messages) => Ok(Incoming::Batch(messages)),
        message => match jsonrpc::kind(&message) {
            Some(kind) => Ok(Incoming::Single { message, kind }),
            None => Err(IngressError::NotJsonRpc {
                id: usable_id(&message),
            }),
        },
    }
}

/// The first half of [`parse`]: the cap, then JSON, not yet judged as JSON-RPC (the HTTP front looks
/// at the session and protocol version before it judges the message).
///
/// # Errors
/// [`IngressError::TooLarge`] or [`IngressError::Parse`], never a panic.
pub fn parse_json(bytes: &[u8], max_bytes: usize) -> Result<Value, IngressError> {
    if bytes.len() > max_bytes {
        return Err(IngressError::TooLarge {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| IngressError::Parse(e.to_string()))
}

/// The id to echo in an error: only a string or number (a client's `null`, object or array is not one).
fn usable_id(message: &Value) -> Value {
    match message.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refusals_are_json_rpc_errors_with_the_right_code() {
        assert_eq!(parse(b"{", 100).unwrap_err().code(), jsonrpc::PARSE_ERROR);
        assert_eq!(parse(b"[]", 100).unwrap_err(), IngressError::EmptyBatch);
        let too_large = parse(&[b' '; 101], 100).unwrap_err();
        assert_eq!(too_large.to_response()["error"]["code"], jsonrpc::INVALID_REQUEST);
        let odd = parse(br#"{"id": 4, "jsonrpc": "2.0"}"#, 100).unwrap_err();
        assert_eq!(odd.to_response()["id"], 4);
        let request = parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping","x":[1]}"#, 100).unwrap();
        assert_eq!(
            request,
            Incoming::Single {
                message: json!({"jsonrpc":"2.0","id":1,"method":"ping","x":[1]}),
                kind: Kind::Request
            }
        );
    }
}
