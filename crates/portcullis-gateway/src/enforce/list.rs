//! `tools/list`: only what the policy shows; `nextCursor` and every other field stay as they are.

use portcullis_policy::{CompiledPolicy, list_filter};
use serde_json::Value;

/// Filters `result.tools` in a `tools/list` response. Without a policy nothing is shown, since a grant
/// with no policy may call nothing.
pub fn filter_tools(policy: Option<&CompiledPolicy>, response: &mut Value) {
    let Some(Value::Array(tools)) = response.pointer_mut("/result/tools") else {
        return;
    };
    let all = std::mem::take(tools);
    *tools = match policy {
        Some(policy) => list_filter(policy, all, |tool| tool.get("name").and_then(Value::as_str)),
        None => Vec::new(),
    };
}

#[cfg(test)]
mod tests {
    use portcullis_policy::{Format, compile_str};
    use serde_json::json;

    use super::*;

    #[test]
    fn hidden_and_unlisted_tools_go_and_the_cursor_stays() {
        let policy = compile_str(
            r#"{"version":"1","default":"deny","hide":["b"],"tools":{"a":{},"b":{},"c":{"action":"deny"}}}"#,
            Format::Json,
        )
        .unwrap();
        let mut response = json!({"jsonrpc":"2.0","id":1,"result":{
            "tools":[{"name":"a","x":1},{"name":"b"},{"name":"c"},{"name":"d"},{"noname":true}],
            "nextCursor":"p2"}});
        filter_tools(Some(&policy), &mut response);
        assert_eq!(
            response["result"]["tools"],
            json!([{"name":"a","x":1},{"name":"c"}])
        );
        assert_eq!(response["result"]["nextCursor"], "p2");
        filter_tools(None, &mut response);
        assert_eq!(response["result"]["tools"], json!([]));
    }
}
