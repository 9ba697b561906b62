//! The tool catalog: names, descriptions, input schemas and annotations, in listing order.

use serde_json::{Value, json};

/// How a tool touches state; drives its annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Destructive,
}

struct ToolDef {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    kind: Kind,
    idempotent: bool,
    /// `(name, JSON type, description)` of each property; all are required.
    params: &'static [(&'static str, &'static str, &'static str)],
}

const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "get_traffic_summary",
        title: "Traffic summary",
        description: "Summarize captured traffic: flow count by host, method and status.",
        kind: Kind::Read,
        idempotent: true,
        params: &[],
    },
    ToolDef {
        name: "inspect_flow",
        title: "Inspect flow",
        description: "Show one captured flow: request and response headers and bodies.",
        kind: Kind::Read,
        idempotent: true,
        params: &[("flow_id", "string", "Flow id, e.g. f1")],
    },
    ToolDef {
        name: "search_traffic",
        title: "Search traffic",
        description: "Find flows whose URL or bodies contain the query (case-insensitive).",
        kind: Kind::Read,
        idempotent: true,
        params: &[("query", "string", "Text to look for")],
    },
    ToolDef {
        name: "extract_session_variable",
        title: "Extract session variable",
        description: "Extract a variable (JSON body field, cookie or header) from a flow, e.g. a session token.",
        kind: Kind::Read,
        idempotent: true,
        params: &[
            ("flow_id", "string", "Flow id, e.g. f2"),
            (
                "variable",
                "string",
                "Field, cookie or header name, e.g. session_token",
            ),
        ],
    },
    ToolDef {
        name: "set_global_header",
        title: "Set global header",
        description: "Set a header added to every replayed request.",
        kind: Kind::Write,
        idempotent: true,
        params: &[
            ("key", "string", "Header name"),
            ("value", "string", "Header value"),
        ],
    },
    ToolDef {
        name: "replay_flow",
        title: "Replay flow",
        description: "Replay a flow's request with the global headers applied; records a new flow.",
        kind: Kind::Write,
        idempotent: false,
        params: &[("flow_id", "string", "Flow id to replay")],
    },
    ToolDef {
        name: "clear_traffic",
        title: "Clear traffic",
        description: "Delete every captured flow.",
        kind: Kind::Destructive,
        idempotent: true,
        params: &[],
    },
    ToolDef {
        name: "echo",
        title: "Echo",
        description: "Return the text unchanged (fast path for benchmarks).",
        kind: Kind::Read,
        idempotent: true,
        params: &[("text", "string", "Text to echo")],
    },
    ToolDef {
        name: "charge",
        title: "Charge",
        description: "Charge an amount to the demo account (fake; for spend-cap policies).",
        kind: Kind::Write,
        idempotent: false,
        params: &[
            ("amount", "number", "Amount, greater than 0"),
            ("currency", "string", "ISO 4217 code, e.g. USD"),
        ],
    },
];

/// Number of tools.
pub fn len() -> usize {
    TOOLS.len()
}

/// True if a tool of this name exists.
pub fn contains(name: &str) -> bool {
    TOOLS.iter().any(|t| t.name == name)
}

/// The `tools/list` entries from `start`, at most `count` of them.
pub fn page(start: usize, count: usize) -> Vec<Value> {
    TOOLS.iter().skip(start).take(count).map(describe).collect()
}

fn describe(tool: &ToolDef) -> Value {
    let mut properties = serde_json::Map::new();
    for (name, ty, description) in tool.params {
        properties.insert(
            (*name).to_owned(),
            json!({"type": ty, "description": description}),
        );
    }
    let required: Vec<&str> = tool.params.iter().map(|p| p.0).collect();
    json!({
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": {"type": "object", "properties": properties, "required": required},
        "annotations": {
            "title": tool.title,
            "readOnlyHint": tool.kind == Kind::Read,
            "destructiveHint": tool.kind == Kind::Destructive,
            "idempotentHint": tool.idempotent,
            "openWorldHint": false,
        },
    })
}
