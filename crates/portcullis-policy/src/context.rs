//! What the engine knows about one tool call.

use std::collections::BTreeMap;

use serde_json::Value;

/// Who is calling: the grant an agent's bearer token maps to.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The grant's id. Conditions read it as `identity.id`.
    pub id: String,
    /// Free-form labels. Conditions read them as `identity.labels.<name>`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `tools/call` as the engine sees it.
#[derive(Clone, Copy, Debug)]
pub struct CallContext<'a> {
    /// The tool's name (`params.name`).
    pub tool: &'a str,
    /// The call's arguments (`params.arguments`); `Value::Null` when absent.
    pub args: &'a Value,
    /// The caller.
    pub identity: &'a Identity,
}
