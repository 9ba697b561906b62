//! Counters with ceilings: `limits` entries, the `rate_limit` shorthand, and what they share.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Builder;
use crate::counters::{Ceiling, Per};
use crate::decision::RuleRef;
use crate::field_path::{FieldPath, RawPath};
use crate::location::Location;
use crate::model::{Increment, Limit};
use crate::window::WindowSpec;

const LIMIT_FIELDS: [&str; 8] = [
    "counter",
    "max",
    "window",
    "increment",
    "increment_from",
    "per",
    "message",
    "rate_limit",
];
const RATE_FIELDS: [&str; 3] = ["max", "window", "per"];
const PER_CHOICES: [&str; 3] = ["session", "identity", "global"];

/// A counter defined in place, as [`Builder::counter_spec`] read it.
pub(super) struct CounterSpec<'v> {
    pub(super) index: usize,
    pub(super) name: &'v str,
    pub(super) window: WindowSpec,
    pub(super) increment: Increment,
}

/// A parsed `rate_limit`: at most `max` calls per window.
pub(super) struct Rate {
    pub(super) max: f64,
    pub(super) window: WindowSpec,
    pub(super) per: Option<Per>,
}

impl Builder {
    /// A `limits` list under a tool (scope = the tool key) or `all_tools` (scope `_global`).
    pub(super) fn limits(&mut self, value: &Value, at: &Location, scope: &str) -> Vec<Limit> {
        let Some(items) = self.reader.array(value, at) else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.limit(item, &at.index(i), scope))
            .collect()
    }

    fn limit(&mut self, value: &Value, at: &Location, scope: &str) -> Option<Limit> {
        if value.is_string() {
            let rate = self.rate_limit(value, at)?;
            return Some(self.rate_limit_counter(&rate, Per::Identity, scope, at, None));
        }
        let map = self.reader.object(value, at, "a limit", &LIMIT_FIELDS)?;
        let message = self.message(map.get("message"), &at.key("message"));
        if let Some(rate) = map.get("rate_limit") {
            let clash: Vec<&str> = ["counter", "max", "window", "increment", "increment_from"]
                .into_iter()
                .filter(|k| map.contains_key(*k))
                .collect();
            if !clash.is_empty() {
                self.reader.error(
                    at,
                    format!("rate_limit cannot be combined with {}", clash.join(", ")),
                    "use either rate_limit or a full counter {counter, max, window, ...}",
                );
            }
            let rate = self.rate_limit(rate, &at.key("rate_limit"))?;
            let per = self
                .per(map.get("per"), at)?
                .or(rate.per)
                .unwrap_or(Per::Identity);
            return Some(self.rate_limit_counter(&rate, per, scope, at, message));
        }
        let max = self
            .required(map, "max", at)
            .and_then(|v| self.reader.positive(v, &at.key("max")));
        let spec = self.counter_spec(map, at, scope);
        let (max, spec) = (max?, spec?);
        let message = message.unwrap_or_else(|| {
            format!(
                "Limit of {max} per {} on {scope}.{} reached",
                spec.window, spec.name
            )
            .into()
        });
        let ceiling = Some(Ceiling { max, strict: false });
        Some(Limit {
            counter: spec.index,
            ceiling,
            increment: spec.increment,
            rule: rule_at(at),
            message,
        })
    }

    /// A counter defined in place (`limits` entries, rule `state` blocks): `counter`, `window`,
    /// `increment` or `increment_from`, and `per` (default `identity`).
    pub(super) fn counter_spec<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        at: &Location,
        scope: &str,
    ) -> Option<CounterSpec<'v>> {
        let name = self
            .required(map, "counter", at)
            .and_then(|v| self.counter_name(v, &at.key("counter")));
        let window = self
            .required(map, "window", at)
            .and_then(|v| self.reader.window(v, &at.key("window")));
        let increment = self.increment(map, at);
        let per = self.per(map.get("per"), at);
        let (name, window, increment, per) = (name?, window?, increment?, per?);
        let per = per.unwrap_or(Per::Identity);
        let index = self
            .counters
            .define(&mut self.reader, scope, name, per, window, at);
        Some(CounterSpec {
            index,
            name,
            window,
            increment,
        })
    }

    /// `increment` (a positive number, default 1) or `increment_from` (an `args.*` path); not both.
    pub(super) fn increment(&mut self, map: &Map<String, Value>, at: &Location) -> Option<Increment> {
        match (map.get("increment"), map.get("increment_from")) {
            (Some(_), Some(_)) => {
                self.reader.error(
                    at,
                    "increment and increment_from are both set",
                    "keep one of them",
                );
                None
            }
            (Some(n), None) => self
                .reader
                .positive(n, &at.key("increment"))
                .map(Increment::Fixed),
            (None, Some(path)) => {
                let at = at.key("increment_from");
                let text = self.reader.string(path, &at)?;
                match RawPath::parse(text) {
                    Ok(RawPath::Args(segments)) => {
                        Some(Increment::From(FieldPath::Args(segments), text.into()))
                    }
                    Ok(_) => {
                        self.reader.error(
                            &at,
                            format!("increment_from must start with \"args.\", got {text:?}"),
                            "e.g. \"increment_from\": \"args.amount\"",
                        );
                        None
                    }
                    Err(e) => {
                        self.reader
                            .error(&at, e, "e.g. \"increment_from\": \"args.amount\"");
                        None
                    }
                }
            }
            (None, None) => Some(Increment::Fixed(1.0)),
        }
    }

    /// `"N/minute|hour|day"`, or `{max, window, per}` with any window form.
    pub(super) fn rate_limit(&mut self, value: &Value, at: &Location) -> Option<Rate> {
        if let Value::String(text) = value {
            let Some((count, window)) = text.split_once('/') else {
                self.reader.error(
                    at,
                    format!("rate_limit must look like \"N/window\", got {text:?}"),
                    "e.g. \"30/minute\"",
                );
                return None;
            };
            let max = match count.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(n as f64),
                _ => {
                    self.reader.error(
                        at,
                        format!("rate_limit count must be a positive integer, got {count:?}"),
                        "e.g. \"30/minute\"",
                    );
                    None
                }
            };
            let window = match window.trim() {
                w @ ("minute" | "hour" | "day") => WindowSpec::parse_str(w).ok(),
                other => {
                    self.reader.error(
                        at,
                        format!("rate_limit window must be \"minute\", \"hour\", or \"day\", got {other:?}"),
                        "for other windows use {\"max\": N, \"window\": \"90s\"}",
                    );
                    None
                }
            };
            return Some(Rate {
                max: max?,
                window: window?,
                per: None,
            });
        }
        let map = self.reader.object(value, at, "a rate_limit", &RATE_FIELDS)?;
        let max = self
            .required(map, "max", at)
            .and_then(|v| self.reader.positive(v, &at.key("max")));
        let window = self
            .required(map, "window", at)
            .and_then(|v| self.reader.window(v, &at.key("window")));
        let per = self.per(map.get("per"), at);
        Some(Rate {
            max: max?,
            window: window?,
            per: per?,
        })
    }

    /// Turns a rate into a limit on the generated counter `_rate_<window>` (Intercept's name).
    pub(super) fn rate_limit_counter(
        &mut self,
        rate: &Rate,
        per: Per,
        scope: &str,
        at: &Location,
        message: Option<Arc<str>>,
    ) -> Limit {
        let name = format!("_rate_{}", rate.window.label());
        let index = self
            .counters
            .define(&mut self.reader, scope, &name, per, rate.window, at);
        let message = message.unwrap_or_else(|| {
            format!(
                "Rate limit of {} per {} reached. Try again later.",
                rate.max, rate.window
            )
            .into()
        });
        Limit {
            counter: index,
            ceiling: Some(Ceiling {
                max: rate.max,
                strict: false,
            }),
            increment: Increment::Fixed(1.0),
            rule: rule_at(at),
            message,
        }
    }

    /// `per`, if present: `Some(None)` when absent, `None` when invalid.
    pub(super) fn per(&mut self, value: Option<&Value>, at: &Location) -> Option<Option<Per>> {
        let Some(value) = value else { return Some(None) };
        let text = self.reader.choice(value, &at.key("per"), "per", &PER_CHOICES)?;
        Some(Per::parse(text))
    }

    /// A counter name: non-empty, without dots (they separate scope and name in `state.` paths).
    pub(super) fn counter_name<'v>(&mut self, value: &'v Value, at: &Location) -> Option<&'v str> {
        let name = self.reader.name(value, at)?;
        if name.contains('.') {
            self.reader.error(
                at,
                format!("counter name {name:?} must not contain '.'"),
                "use letters, digits, '_' or '-'",
            );
            return None;
        }
        Some(name)
    }

    pub(super) fn required<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        key: &str,
        at: &Location,
    ) -> Option<&'v Value> {
        let value = map.get(key);
        if value.is_none() {
            self.reader.error(
                at,
                format!("missing required field {key:?}"),
                format!("add \"{key}\""),
            );
        }
        value
    }

    /// An optional human-readable message.
    pub(super) fn message(&mut self, value: Option<&Value>, at: &Location) -> Option<Arc<str>> {
        value.and_then(|v| self.reader.name(v, at)).map(Arc::from)
    }
}

pub(super) fn rule_at(at: &Location) -> RuleRef {
    RuleRef {
        path: at.as_str().into(),
        name: None,
    }
}
