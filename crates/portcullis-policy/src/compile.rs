//! Document to [`CompiledPolicy`]: one pass that validates everything and reports every error at once.

mod condition;
mod counter_table;
mod limit;
mod reader;
mod rule;
mod suggest;
mod tool;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use self::counter_table::{CounterTable, GLOBAL_SCOPE};
use self::limit::rule_at;
use self::reader::Reader;
use crate::error::PolicyErrors;
use crate::location::Location;
use crate::model::{CompiledPolicy, DefaultAction};
use crate::name_pattern::NamePattern;

const TOP_FIELDS: [&str; 6] = ["version", "description", "default", "hide", "tools", "all_tools"];

/// Compiles a parsed policy document.
///
/// # Errors
/// Every problem in the document, each with its JSON path and, where useful, a hint.
pub fn compile(doc: &Value) -> Result<CompiledPolicy, PolicyErrors> {
    let mut builder = Builder::default();
    let policy = builder.document(doc);
    let Builder { mut reader, counters } = builder;
    let counters = counters.finish(&mut reader);
    match policy {
        Some(mut policy) if reader.errors.is_empty() => {
            policy.counters = counters;
            Ok(policy)
        }
        _ => Err(PolicyErrors(reader.errors)),
    }
}

/// Compilation state shared by the per-section readers in this module's children.
#[derive(Default)]
struct Builder {
    reader: Reader,
    counters: CounterTable,
}

impl Builder {
    fn document(&mut self, doc: &Value) -> Option<CompiledPolicy> {
        let root = Location::root();
        let map = self.reader.object(doc, &root, "a policy", &TOP_FIELDS)?;

        match map.get("version") {
            Some(Value::String(v)) if v == "1" => {}
            Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
            Some(other) => self.reader.error(
                &root.key("version"),
                format!("version must be \"1\", got {other}"),
                "set \"version\": \"1\"",
            ),
            None => self.reader.error(
                &root,
                "missing required field \"version\"",
                "add \"version\": \"1\"",
            ),
        }
        let default = match map.get("default") {
            Some(v) => self
                .reader
                .choice(v, &root.key("default"), "default", &["allow", "deny"]),
            None => {
                self.reader.error(
                    &root,
                    "missing required field \"default\"",
                    "add \"default\": \"deny\" (safest) or \"allow\"",
                );
                None
            }
        };
        let description = map
            .get("description")
            .and_then(|v| self.reader.string(v, &root.key("description")));
        let hide = map
            .get("hide")
            .map(|v| self.hide(v, &root.key("hide")))
            .unwrap_or_default();

        let mut policy = CompiledPolicy {
            default: if default == Some("allow") {
                DefaultAction::Allow
            } else {
                DefaultAction::Deny
            },
            description: description.map(str::to_owned),
            hide,
            exact: HashMap::new(),
            globs: Vec::new(),
            wildcard: None,
            entries: Vec::new(),
            all_tools_limits: Vec::new(),
            counters: Vec::new(),
            default_rule: rule_at(&root.key("default")),
            allowed_message: "allowed".into(),
            revision: 0,
        };
        if let Some(tools) = map.get("tools") {
            self.tools(tools, &root.key("tools"), &mut policy);
        }
        if let Some(all) = map.get("all_tools") {
            let at = root.key("all_tools");
            let all = self.reader.object(all, &at, "all_tools", &["limits"]);
            if let Some(limits) = all.and_then(|all| all.get("limits")) {
                policy.all_tools_limits = self.limits(limits, &at.key("limits"), GLOBAL_SCOPE);
            }
        }
        Some(policy)
    }

    fn hide(&mut self, value: &Value, at: &Location) -> Vec<(NamePattern, crate::decision::RuleRef)> {
        let Some(items) = self.reader.array(value, at) else {
            return Vec::new();
        };
        let mut seen = HashSet::new();
        let mut hide = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_at = at.index(i);
            let Some(name) = self.reader.string(item, &item_at) else {
                continue;
            };
            if name.trim().is_empty() {
                self.reader.error(
                    &item_at,
                    "hide entry must not be empty",
                    "remove it, or write a tool name or glob",
                );
            } else if !seen.insert(name) {
                self.reader.error(
                    &item_at,
                    format!("duplicate hide entry {name:?}"),
                    "remove the duplicate",
                );
            } else {
                hide.push((NamePattern::new(name), rule_at(&item_at)));
            }
        }
        hide
    }

    fn tools(&mut self, value: &Value, at: &Location, policy: &mut CompiledPolicy) {
        let Value::Object(map) = value else {
            let found = reader::type_name(value);
            self.reader.error(
                at,
                format!("tools must be an object from tool names to rules, got {found}"),
                "e.g. \"tools\": {\"list_customers\": {}}",
            );
            return;
        };
        for (key, entry) in map {
            let entry_at = at.key(key);
            if key.trim().is_empty() {
                self.reader.error(
                    &entry_at,
                    "tool name must not be empty",
                    "use the tool's name, a glob, or \"*\"",
                );
                continue;
            }
            let scope = if key == "*" { GLOBAL_SCOPE } else { key.as_str() };
            let compiled = self.tool_entry(entry, &entry_at, key, scope);
            let index = policy.entries.len();
            policy.entries.push(compiled);
            let pattern = NamePattern::new(key);
            if key == "*" {
                policy.wildcard = Some(index);
            } else if pattern.is_glob() {
                policy.globs.push((pattern, index));
            } else {
                policy.exact.insert(key.as_str().into(), index);
            }
        }
        // Most specific glob first; the sort is stable, so ties keep document order.
        policy
            .globs
            .sort_by_key(|(pattern, _)| std::cmp::Reverse(pattern.specificity()));
    }
}
