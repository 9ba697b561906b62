//! One entry of `tools`: the PolicyLayer short form (`action`, `reason`, `rate_limit`, `approval_timeout`,
//! `approval_allowance`) and the full form (`require`, `deny_if`, `limits`, `rules`, `approval`).

use std::sync::Arc;

use serde_json::Value;

use super::Builder;
use super::limit::rule_at;
use crate::counters::Per;
use crate::location::Location;
use crate::model::{Approval, Check, CheckKind, ToolEntry};

const TOOL_FIELDS: [&str; 11] = [
    "action",
    "reason",
    "rate_limit",
    "approval_timeout",
    "approval_allowance",
    "require",
    "deny_if",
    "limits",
    "rules",
    "approval",
    "description",
];
const APPROVAL_FIELDS: [&str; 4] = ["timeout", "allowance", "when", "message"];
const ACTIONS: [&str; 3] = ["allow", "deny", "require_approval"];
/// How long a parked call waits for a human when the policy does not say.
const DEFAULT_APPROVAL_TIMEOUT_MS: u64 = 10 * 60 * 1000;

impl Builder {
    /// Compiles the entry under `tools[key]`; `scope` names its counters (`key`, or `_global` for `"*"`).
    pub(super) fn tool_entry(&mut self, value: &Value, at: &Location, key: &str, scope: &str) -> ToolEntry {
        let rule = rule_at(at);
        let mut entry = ToolEntry {
            rule,
            deny: None,
            checks: Vec::new(),
            limits: Vec::new(),
            approval: None,
        };
        let Some(map) = self.reader.object(value, at, "a tool entry", &TOOL_FIELDS) else {
            return entry;
        };
        let reason = self.message(map.get("reason"), &at.key("reason"));
        let action = map
            .get("action")
            .and_then(|v| self.reader.choice(v, &at.key("action"), "action", &ACTIONS));

        match action {
            Some("deny") => {
                let message = reason
                    .clone()
                    .unwrap_or_else(|| format!("Tool {key:?} is denied by policy").into());
                entry.deny = Some((rule_at(&at.key("action")), message));
            }
            Some("require_approval") => {
                if map.contains_key("approval") {
                    self.reader.error(
                        at,
                        "action: require_approval and an approval block are both set",
                        "keep the approval block: it can say when and how long",
                    );
                }
                let timeout_at = at.key("approval_timeout");
                let timeout_ms = match map.get("approval_timeout") {
                    Some(v) => self.reader.duration_ms(v, &timeout_at),
                    None => Some(DEFAULT_APPROVAL_TIMEOUT_MS),
                };
                // `None`: a bad allowance (reported); `Some(None)`: no allowance.
                let allowance_ms = match map.get("approval_allowance") {
                    Some(v) => self
                        .reader
                        .duration_ms(v, &at.key("approval_allowance"))
                        .map(Some),
                    None => Some(None),
                };
                let message = reason
                    .clone()
                    .unwrap_or_else(|| format!("Calls to {key:?} require human approval").into());
                if let (Some(timeout_ms), Some(allowance_ms)) = (timeout_ms, allowance_ms) {
                    let rule = rule_at(&at.key("action"));
                    entry.approval = Some(Approval {
                        timeout_ms,
                        allowance_ms,
                        when: Vec::new(),
                        rule,
                        message,
                    });
                }
            }
            _ => {}
        }
        for field in ["approval_timeout", "approval_allowance"] {
            if action != Some("require_approval") && map.contains_key(field) {
                self.reader.error(
                    &at.key(field),
                    format!("{field} needs action: require_approval"),
                    format!("add \"action\": \"require_approval\", or remove {field}"),
                );
            }
        }

        for (field, kind) in [("require", CheckKind::Require), ("deny_if", CheckKind::DenyIf)] {
            let Some(list) = map.get(field) else { continue };
            let list_at = at.key(field);
            let Some(items) = self.reader.array(list, &list_at) else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let item_at = list_at.index(i);
                let Some(condition) = self.condition(item, &item_at, &["message"]) else {
                    continue;
                };
                let message = self.message(item.get("message"), &item_at.key("message"));
                entry.checks.push(Check {
                    kind,
                    conditions: vec![condition],
                    rule: rule_at(&item_at),
                    message,
                });
            }
        }
        if let Some(rules) = map.get("rules") {
            let rules_at = at.key("rules");
            if let Some(items) = self.reader.array(rules, &rules_at) {
                for (i, item) in items.iter().enumerate() {
                    let parts = self.rule(item, &rules_at.index(i), scope);
                    entry.checks.extend(parts.check);
                    entry.limits.extend(parts.limit);
                }
            }
        }
        if let Some(limits) = map.get("limits") {
            entry.limits.extend(self.limits(limits, &at.key("limits"), scope));
        }
        if let Some(rate) = map.get("rate_limit") {
            let rate_at = at.key("rate_limit");
            if let Some(parsed) = self.rate_limit(rate, &rate_at) {
                // The short form counts per agent session unless it says otherwise.
                let per = parsed.per.unwrap_or(Per::Session);
                entry
                    .limits
                    .push(self.rate_limit_counter(&parsed, per, scope, &rate_at, reason));
            }
        }
        if let Some(approval) = map.get("approval") {
            entry.approval = self
                .approval(approval, &at.key("approval"), key)
                .or(entry.approval);
        }
        entry
    }

    fn approval(&mut self, value: &Value, at: &Location, key: &str) -> Option<Approval> {
        let map = self
            .reader
            .object(value, at, "an approval block", &APPROVAL_FIELDS)?;
        let timeout_ms = match map.get("timeout") {
            Some(v) => self.reader.duration_ms(v, &at.key("timeout"))?,
            None => DEFAULT_APPROVAL_TIMEOUT_MS,
        };
        let allowance_ms = match map.get("allowance") {
            Some(v) => Some(self.reader.duration_ms(v, &at.key("allowance"))?),
            None => None,
        };
        let when = map
            .get("when")
            .map(|w| self.conditions(w, &at.key("when")))
            .unwrap_or_default();
        let message: Arc<str> = self
            .message(map.get("message"), &at.key("message"))
            .unwrap_or_else(|| {
                if when.is_empty() {
                    format!("Calls to {key:?} require human approval").into()
                } else {
                    "This call requires human approval".into()
                }
            });
        Some(Approval {
            timeout_ms,
            allowance_ms,
            when,
            rule: rule_at(at),
            message,
        })
    }
}
