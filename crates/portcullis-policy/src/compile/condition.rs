//! `{path, op, value}` conditions.

use regex::RegexBuilder;
use serde_json::{Map, Value};

use super::Builder;
use super::reader::type_name;
use crate::condition::{Condition, OPERATORS, Op};
use crate::field_path::{FieldPath, RawPath};
use crate::location::Location;

/// Compiled regexes are capped so a policy cannot make the engine build a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Builder {
    /// Compiles a list of conditions (rule `conditions`, approval `when`).
    pub(super) fn conditions(&mut self, value: &Value, at: &Location) -> Vec<Condition> {
        let Some(items) = self.reader.array(value, at) else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.condition(item, &at.index(i), &[]))
            .collect()
    }

    /// One condition. `extra` names additional keys the caller reads itself (`message`).
    pub(super) fn condition(&mut self, value: &Value, at: &Location, extra: &[&str]) -> Option<Condition> {
        let mut allowed = vec!["path", "op", "value"];
        allowed.extend_from_slice(extra);
        let map = self.reader.object(value, at, "a condition", &allowed)?;
        let path = self.condition_path(map, at);
        let op = self.op(map, at);
        let (path, path_text) = path?;
        Some(Condition {
            path,
            path_text: path_text.into(),
            op: op?,
        })
    }

    fn condition_path(&mut self, map: &Map<String, Value>, at: &Location) -> Option<(FieldPath, String)> {
        let Some(value) = map.get("path") else {
            self.reader.error(
                at,
                "a condition needs a \"path\"",
                "e.g. \"path\": \"args.amount\"",
            );
            return None;
        };
        let at = at.key("path");
        let text = self.reader.string(value, &at)?;
        let hint = "e.g. args.amount, args.items[0].id, identity.labels.team, state.<tool>.<counter>";
        let raw = RawPath::parse(text)
            .map_err(|e| self.reader.error(&at, e, hint))
            .ok()?;
        let path = match raw {
            RawPath::Args(segments) => FieldPath::Args(segments),
            RawPath::IdentityId => FieldPath::IdentityId,
            RawPath::IdentityLabel(label) => FieldPath::IdentityLabel(label),
            RawPath::State { scope, counter } => {
                FieldPath::State(self.counters.reference(&scope, &counter, &at))
            }
        };
        Some((path, text.to_owned()))
    }

    fn op(&mut self, map: &Map<String, Value>, at: &Location) -> Option<Op> {
        let Some(op) = map.get("op") else {
            self.reader.error(
                at,
                "a condition needs an \"op\"",
                format!("one of: {}", OPERATORS.join(", ")),
            );
            return None;
        };
        let op_at = at.key("op");
        let name = self.reader.string(op, &op_at)?;
        if !OPERATORS.contains(&name) {
            let hint = super::suggest::hint(name, &OPERATORS);
            self.reader
                .error(&op_at, format!("unknown operator {name:?}"), hint);
            return None;
        }
        let value_at = at.key("value");
        let value = map.get("value");
        if name == "exists" {
            return match value {
                None => Some(Op::Exists(true)),
                Some(Value::Bool(b)) => Some(Op::Exists(*b)),
                Some(other) => {
                    let msg = format!(
                        "operator \"exists\" requires a boolean value, got {}",
                        type_name(other)
                    );
                    self.reader
                        .error(&value_at, msg, "use true (present) or false (absent)");
                    None
                }
            };
        }
        let Some(value) = value else {
            self.reader.error(
                at,
                format!("operator {name:?} requires a \"value\""),
                "add \"value\": ...",
            );
            return None;
        };
        let needs = |what: &str| format!("operator {name:?} requires {what}, got {}", type_name(value));
        match (name, value) {
            ("eq", v) => Some(Op::Eq(v.clone())),
            ("neq", v) => Some(Op::Neq(v.clone())),
            ("in", Value::Array(items)) => Some(Op::In(items.clone())),
            ("not_in", Value::Array(items)) => Some(Op::NotIn(items.clone())),
            ("lt" | "lte" | "gt" | "gte", Value::Number(n)) => {
                let n = n.as_f64().filter(|n| n.is_finite())?;
                Some(match name {
                    "lt" => Op::Lt(n),
                    "lte" => Op::Lte(n),
                    "gt" => Op::Gt(n),
                    _ => Op::Gte(n),
                })
            }
            ("regex", Value::String(pattern)) => {
                match RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build() {
                    Ok(re) => Some(Op::Regex(re)),
                    Err(e) => {
                        self.reader.error(
                            &value_at,
                            format!("invalid regex {pattern:?}: {e}"),
                            "fix the regular expression (Rust regex syntax; no look-around)",
                        );
                        None
                    }
                }
            }
            ("contains", v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                Some(Op::Contains(v.clone()))
            }
            ("in" | "not_in", _) => {
                self.reader
                    .error(&value_at, needs("a list value"), "e.g. [\"usd\", \"eur\"]");
                None
            }
            ("regex", _) => {
                self.reader
                    .error(&value_at, needs("a string pattern"), "e.g. \"^feat/\"");
                None
            }
            ("contains", _) => {
                self.reader
                    .error(&value_at, needs("a string, number or boolean"), "e.g. \"test\"");
                None
            }
            _ => {
                self.reader.error(
                    &value_at,
                    needs("a numeric value"),
                    "write a number, without quotes",
                );
                None
            }
        }
    }
}
