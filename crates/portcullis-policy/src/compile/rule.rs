//! Intercept-style named rules: `{name, action: evaluate|deny, conditions, on_deny, state, rate_limit}`.

use std::sync::Arc;

use serde_json::Value;

use super::Builder;
use crate::condition::Op;
use crate::counters::{Ceiling, Per};
use crate::decision::RuleRef;
use crate::field_path::FieldPath;
use crate::location::Location;
use crate::model::{Check, CheckKind, Limit};

const RULE_FIELDS: [&str; 7] = [
    "name",
    "action",
    "conditions",
    "on_deny",
    "state",
    "rate_limit",
    "description",
];
const STATE_FIELDS: [&str; 5] = ["counter", "window", "increment", "increment_from", "per"];

/// What one rule contributes to its tool entry.
#[derive(Default)]
pub(super) struct RuleParts {
    pub(super) check: Option<Check>,
    pub(super) limit: Option<Limit>,
}

impl Builder {
    pub(super) fn rule(&mut self, value: &Value, at: &Location, scope: &str) -> RuleParts {
        let Some(map) = self.reader.object(value, at, "a rule", &RULE_FIELDS) else {
            return RuleParts::default();
        };
        let name: Option<Arc<str>> = match map.get("name") {
            Some(v) => self.reader.name(v, &at.key("name")).map(Arc::from),
            None => {
                self.reader.error(
                    at,
                    "rule must have a name",
                    "add \"name\": \"what this rule is for\"",
                );
                None
            }
        };
        let rule = RuleRef {
            path: at.as_str().into(),
            name,
        };
        let on_deny = self.message(map.get("on_deny"), &at.key("on_deny"));
        let deny = match map.get("action") {
            None => false,
            Some(v) => {
                self.reader
                    .choice(v, &at.key("action"), "action", &["evaluate", "deny"])
                    == Some("deny")
            }
        };
        let (conditions, state, rate) = (map.get("conditions"), map.get("state"), map.get("rate_limit"));

        if deny {
            for (key, present) in [("conditions", conditions), ("state", state), ("rate_limit", rate)] {
                if present.is_some() {
                    self.reader.error(
                        &at.key(key),
                        format!("deny rules must not have {key}"),
                        "remove it, or use action: evaluate",
                    );
                }
            }
            let check = Check {
                kind: CheckKind::Deny,
                conditions: Vec::new(),
                rule,
                message: on_deny,
            };
            return RuleParts {
                check: Some(check),
                limit: None,
            };
        }

        if let Some(rate) = rate {
            if conditions.is_some() || state.is_some() {
                self.reader.error(
                    at,
                    "rate_limit cannot be combined with conditions or state",
                    "split it into two rules",
                );
            }
            let Some(parsed) = self.rate_limit(rate, &at.key("rate_limit")) else {
                return RuleParts::default();
            };
            let per = parsed.per.unwrap_or(Per::Identity);
            let mut limit = self.rate_limit_counter(&parsed, per, scope, &at.key("rate_limit"), on_deny);
            limit.rule = rule;
            return RuleParts {
                check: None,
                limit: Some(limit),
            };
        }

        let Some(conditions) = conditions else {
            self.reader.error(
                at,
                "evaluate rules must have at least one condition",
                "add conditions, or use rate_limit",
            );
            return RuleParts::default();
        };
        let conditions_at = at.key("conditions");
        if conditions.as_array().is_some_and(Vec::is_empty) {
            self.reader.error(
                &conditions_at,
                "evaluate rules must have at least one condition",
                "add a condition, or use action: deny",
            );
        }
        let mut conditions = self.conditions(conditions, &conditions_at);
        let mut limit = state
            .and_then(|state| self.state_counter(state, &at.key("state"), scope, &rule, on_deny.clone()));

        // Intercept checks `state.<own counter> lte N` against the value after the increment, atomically
        // at reserve time; as a limit it gets exactly that, and the cluster can enforce it (#7).
        if let Some(limit) = &mut limit {
            let own = conditions.iter().position(|c| {
                matches!(c.path, FieldPath::State(i) if i == limit.counter)
                    && matches!(c.op, Op::Lte(_) | Op::Lt(_))
            });
            if let Some(position) = own {
                let condition = conditions.remove(position);
                limit.ceiling = match condition.op {
                    Op::Lt(max) => Some(Ceiling { max, strict: true }),
                    Op::Lte(max) => Some(Ceiling { max, strict: false }),
                    _ => None,
                };
            }
        }
        let check = (!conditions.is_empty()).then(|| Check {
            kind: CheckKind::Require,
            conditions,
            rule,
            message: on_deny,
        });
        RuleParts { check, limit }
    }

    /// A rule's `state` block: defines `scope.counter` and counts calls into it.
    fn state_counter(
        &mut self,
        value: &Value,
        at: &Location,
        scope: &str,
        rule: &RuleRef,
        message: Option<Arc<str>>,
    ) -> Option<Limit> {
        let map = self.reader.object(value, at, "a state block", &STATE_FIELDS)?;
        let spec = self.counter_spec(map, at, scope)?;
        let message = message.unwrap_or_else(|| format!("Limit on {scope}.{} reached", spec.name).into());
        Some(Limit {
            counter: spec.index,
            ceiling: None,
            increment: spec.increment,
            rule: rule.clone(),
            message,
        })
    }
}
