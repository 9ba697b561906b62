//! The MCP methods the demo server answers.

use serde_json::{Value, json};

use super::{DemoServer, Session};
use crate::{
    catalog,
    protocol::{
        self, INVALID_PARAMS, LATEST_SESSION_VERSION, META_PROTOCOL_VERSION, METHOD_NOT_FOUND,
        SESSION_VERSIONS, STATELESS_VERSION, SUPPORTED_VERSIONS, UNSUPPORTED_PROTOCOL_VERSION,
    },
    tools,
};

const INSTRUCTIONS: &str = "Fake traffic-inspection server. Read tools inspect captured flows; \
set_global_header and replay_flow change state; clear_traffic deletes all flows.";

impl DemoServer {
    pub(super) fn request(&self, session: &mut Session, id: &Value, method: &str, params: &Value) -> Value {
        let meta_version = params
            .get("_meta")
            .and_then(|m| m.get(META_PROTOCOL_VERSION))
            .and_then(Value::as_str);
        if let Some(requested) = meta_version
            && !protocol::is_supported(requested)
        {
            let data = json!({"supported": SUPPORTED_VERSIONS, "requested": requested});
            let msg = format!("unsupported protocol version {requested}");
            return protocol::error_with_data(id, UNSUPPORTED_PROTOCOL_VERSION, msg, data);
        }
        let stateless = meta_version == Some(STATELESS_VERSION);
        if self.config.modern_only && !stateless && method != "server/discover" {
            let data = json!({"supported": [STATELESS_VERSION]});
            let msg = format!(
                "this server speaks only {STATELESS_VERSION}: no initialize, the version goes in _meta"
            );
            return protocol::error_with_data(id, UNSUPPORTED_PROTOCOL_VERSION, msg, data);
        }
        let outcome = match method {
            "initialize" => Ok(self.initialize(session, params)),
            "ping" => Ok(json!({})),
            "server/discover" => Ok(self.discover()),
            "tools/list" => self.list_tools(params, stateless),
            "tools/call" => self.call_tool(params),
            other => Err((METHOD_NOT_FOUND, format!("method not found: {other}"))),
        };
        match outcome {
            Ok(mut result) => {
                if stateless && let Some(map) = result.as_object_mut() {
                    map.insert("resultType".to_owned(), json!("complete"));
                }
                protocol::result(id, result)
            }
            Err((code, message)) => protocol::error(id, code, message),
        }
    }

    fn server_info(&self) -> Value {
        json!({"name": self.config.name, "version": env!("CARGO_PKG_VERSION")})
    }

    fn initialize(&self, session: &mut Session, params: &Value) -> Value {
        let asked = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = SESSION_VERSIONS
            .iter()
            .find(|v| **v == asked)
            .copied()
            .unwrap_or(LATEST_SESSION_VERSION);
        session.protocol_version = Some(version.to_owned());
        json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": self.server_info(),
            "instructions": INSTRUCTIONS,
        })
    }

    fn discover(&self) -> Value {
        let versions: &[&str] = if self.config.modern_only {
            &[STATELESS_VERSION]
        } else {
            &SUPPORTED_VERSIONS
        };
        json!({
            "supportedVersions": versions,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": self.server_info(),
            "instructions": INSTRUCTIONS,
            "ttlMs": 0,
            "cacheScope": "public",
            "_meta": {"io.modelcontextprotocol/serverInfo": self.server_info()},
        })
    }

    fn list_tools(&self, params: &Value, stateless: bool) -> Result<Value, (i64, String)> {
        let total = catalog::len();
        let start = match params.get("cursor") {
            None | Some(Value::Null) => 0,
            Some(Value::String(c)) => c
                .parse::<usize>()
                .ok()
                .filter(|n| *n < total)
                .ok_or_else(invalid_cursor)?,
            Some(_) => return Err(invalid_cursor()),
        };
        let size = self.config.page_size.filter(|n| *n > 0).unwrap_or(total);
        let mut result = json!({"tools": catalog::page(start, size)});
        if start + size < total
            && let Some(map) = result.as_object_mut()
        {
            map.insert("nextCursor".to_owned(), json!((start + size).to_string()));
        }
        if stateless && let Some(map) = result.as_object_mut() {
            map.insert("ttlMs".to_owned(), json!(0));
            map.insert("cacheScope".to_owned(), json!("public"));
        }
        Ok(result)
    }

    fn call_tool(&self, params: &Value) -> Result<Value, (i64, String)> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err((INVALID_PARAMS, "tools/call needs a string `name`".to_owned()));
        };
        if !catalog::contains(name) {
            return Err((INVALID_PARAMS, format!("unknown tool: {name}")));
        }
        let empty = serde_json::Map::new();
        let outcome = match params.get("arguments") {
            None | Some(Value::Null) => tools::call(&mut self.lock_traffic(), name, &empty),
            Some(Value::Object(args)) => tools::call(&mut self.lock_traffic(), name, args),
            Some(_) => Err("`arguments` must be an object".to_owned()),
        };
        let (text, is_error) = match outcome {
            Ok(text) => (text, false),
            Err(message) => (message, true),
        };
        Ok(json!({"content": [{"type": "text", "text": text}], "isError": is_error}))
    }
}

fn invalid_cursor() -> (i64, String) {
    (INVALID_PARAMS, "invalid cursor".to_owned())
}
