//! How a refused call reaches the agent: a tool result it can read (default) or a JSON-RPC error.

use serde_json::{Value, json};

use crate::config::DenialStyle;
use crate::jsonrpc;

/// The answer to a refused `tools/call`.
pub fn denial_response(style: DenialStyle, id: Value, message: &str, retry_after_ms: Option<u64>) -> Value {
    let text = format!("[POLICY DENIED] {message}");
    match style {
        DenialStyle::ToolResult => {
            let mut result = json!({
                "content": [{"type": "text", "text": text}],
                "isError": true,
            });
            if let Some(ms) = retry_after_ms {
                result["_meta"] = json!({"io.portcullis/retryAfterMs": ms});
            }
            jsonrpc::result(id, result)
        }
        DenialStyle::JsonrpcError => {
            let data = match retry_after_ms {
                Some(ms) => json!({"retryAfterMs": ms}),
                None => json!({}),
            };
            jsonrpc::error_with_data(id, jsonrpc::POLICY_DENIED, &text, data)
        }
    }
}
