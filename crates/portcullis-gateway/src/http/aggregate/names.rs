//! Tool names on the aggregate endpoint: `<server>__<tool>`, so tools of several servers can share one
//! list without clashing, and a call finds its server from the name alone.

use std::sync::Arc;

use serde_json::Value;

/// Between the server's name and the tool's.
pub(super) const SEPARATOR: &str = "__";

/// The name the client sees for `tool` of `server`.
pub(super) fn prefixed(server: &str, tool: &str) -> String {
    format!("{server}{SEPARATOR}{tool}")
}

/// The server and real tool name behind a prefixed name, among `servers`. When server names nest
/// (`a` and `a__b`), the longest that matches wins, so every listed tool stays reachable.
pub(super) fn split<'a>(servers: &'a [Arc<str>], name: &'a str) -> Option<(&'a Arc<str>, &'a str)> {
    servers
        .iter()
        .filter_map(|server| {
            let tool = name.strip_prefix(&**server)?.strip_prefix(SEPARATOR)?;
            (!tool.is_empty()).then_some((server, tool))
        })
        .max_by_key(|(server, _)| server.len())
}

/// Appends `server`'s tools (already filtered by policy) to `merged`, each renamed `<server>__<tool>`;
/// every other field of a tool stays as the server sent it. A tool without a string name is dropped:
/// no call could reach it.
pub(super) fn merge_into(merged: &mut Vec<Value>, server: &str, tools: Vec<Value>) {
    for mut tool in tools {
        let Some(Value::String(name)) = tool.get_mut("name") else {
            continue;
        };
        *name = prefixed(server, name);
        merged.push(tool);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn servers(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn a_prefixed_name_splits_back_into_server_and_tool() {
        let known = servers(&["files", "mail"]);
        assert_eq!(prefixed("files", "read"), "files__read");
        let (server, tool) = split(&known, "files__read").unwrap();
        assert_eq!((&**server, tool), ("files", "read"));
        // The tool's own double underscores stay the tool's.
        let (server, tool) = split(&known, "mail__send__now").unwrap();
        assert_eq!((&**server, tool), ("mail", "send__now"));
    }

    #[test]
    fn unknown_prefixes_and_empty_tools_do_not_split() {
        let known = servers(&["files"]);
        assert_eq!(split(&known, "read"), None);
        assert_eq!(split(&known, "mail__send"), None);
        assert_eq!(split(&known, "files__"), None);
        assert_eq!(split(&known, "filesread"), None);
    }

    #[test]
    fn the_longest_matching_server_wins_when_names_nest() {
        let known = servers(&["a", "a__b"]);
        let (server, tool) = split(&known, "a__b__c").unwrap();
        assert_eq!((&**server, tool), ("a__b", "c"));
        let (server, tool) = split(&known, "a__c").unwrap();
        assert_eq!((&**server, tool), ("a", "c"));
    }

    #[test]
    fn merging_renames_keeps_other_fields_and_drops_nameless_tools() {
        let mut merged = Vec::new();
        merge_into(
            &mut merged,
            "files",
            vec![json!({"name": "read", "inputSchema": {"type": "object"}, "x-vendor": 1})],
        );
        merge_into(
            &mut merged,
            "mail",
            vec![
                json!({"name": "read"}),
                json!({"title": "no name"}),
                json!({"name": 7}),
            ],
        );
        assert_eq!(
            merged,
            vec![
                json!({"name": "files__read", "inputSchema": {"type": "object"}, "x-vendor": 1}),
                json!({"name": "mail__read"}),
            ]
        );
    }
}
