//! Typed reads from a JSON value that record an error, with its location, instead of stopping.

use serde_json::{Map, Value};

use super::suggest;
use crate::error::PolicyError;
use crate::location::Location;
use crate::window::{WindowSpec, parse_duration_ms};

/// Collects every error found while reading a document.
#[derive(Default)]
pub(super) struct Reader {
    pub(super) errors: Vec<PolicyError>,
}

impl Reader {
    /// Records an error. Every error says how to fix it: the hint is not optional.
    pub(super) fn error(&mut self, at: &Location, message: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(PolicyError::new(at.clone(), message, hint));
    }

    /// An object. Keys outside `allowed` are reported (with a suggestion) and otherwise ignored.
    pub(super) fn object<'v>(
        &mut self,
        value: &'v Value,
        at: &Location,
        what: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = value else {
            self.error(
                at,
                format!("{what} must be an object, got {}", type_name(value)),
                "write it as {\"field\": value, ...}",
            );
            return None;
        };
        for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.error(
                &at.key(key),
                format!("unknown field {key:?} in {what}"),
                suggest::hint(key, allowed),
            );
        }
        Some(map)
    }

    pub(super) fn string<'v>(&mut self, value: &'v Value, at: &Location) -> Option<&'v str> {
        match value {
            Value::String(s) => Some(s),
            other => {
                self.error(
                    at,
                    format!("expected a string, got {}", type_name(other)),
                    "put the value in quotes",
                );
                None
            }
        }
    }

    /// A string that is not blank.
    pub(super) fn name<'v>(&mut self, value: &'v Value, at: &Location) -> Option<&'v str> {
        let text = self.string(value, at)?;
        if text.trim().is_empty() {
            self.error(at, "must not be empty", "give it a value, or remove the field");
            return None;
        }
        Some(text)
    }

    pub(super) fn array<'v>(&mut self, value: &'v Value, at: &Location) -> Option<&'v [Value]> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.error(
                    at,
                    format!("expected a list, got {}", type_name(other)),
                    "write it as a list: [ ... ]",
                );
                None
            }
        }
    }

    /// A finite number greater than zero.
    pub(super) fn positive(&mut self, value: &Value, at: &Location) -> Option<f64> {
        match value.as_f64() {
            Some(n) if n > 0.0 && n.is_finite() => Some(n),
            Some(n) => {
                self.error(
                    at,
                    format!("must be greater than zero, got {n}"),
                    "use a positive number",
                );
                None
            }
            None => {
                self.error(
                    at,
                    format!("expected a number, got {}", type_name(value)),
                    "write a number, without quotes",
                );
                None
            }
        }
    }

    /// `minute|hour|day`, a duration such as `"90s"`/`"10m"`, or whole seconds.
    pub(super) fn window(&mut self, value: &Value, at: &Location) -> Option<WindowSpec> {
        let parsed = match value {
            Value::String(text) => WindowSpec::parse_str(text),
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| format!("a window in seconds must be a whole number, got {n}"))
                .and_then(WindowSpec::from_secs),
            other => Err(format!(
                "expected a window (minute, hour, day, \"90s\", or seconds), got {}",
                type_name(other)
            )),
        };
        let hint = "use minute, hour, day, a duration like \"10m\", or seconds";
        parsed.map_err(|e| self.error(at, e, hint)).ok()
    }

    /// A timeout: a duration such as `"10m"` or whole seconds. In milliseconds.
    pub(super) fn duration_ms(&mut self, value: &Value, at: &Location) -> Option<u64> {
        let parsed = match value {
            Value::String(text) => parse_duration_ms(text),
            Value::Number(n) => match n.as_u64() {
                Some(secs) if secs > 0 => secs.checked_mul(1000).ok_or_else(|| "too long".to_owned()),
                _ => Err(format!(
                    "a duration in seconds must be a whole number above zero, got {n}"
                )),
            },
            other => Err(format!(
                "expected a duration (\"10m\", or seconds), got {}",
                type_name(other)
            )),
        };
        parsed
            .map_err(|e| self.error(at, e, "write a duration such as \"10m\", or whole seconds"))
            .ok()
    }

    /// One of `choices`, with a suggestion when it is not.
    pub(super) fn choice<'v>(
        &mut self,
        value: &'v Value,
        at: &Location,
        what: &str,
        choices: &[&str],
    ) -> Option<&'v str> {
        let text = self.string(value, at)?;
        if choices.contains(&text) {
            return Some(text);
        }
        let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
        self.error(
            at,
            format!("{what} must be {}, got {text:?}", quoted.join(" or ")),
            suggest::hint(text, choices),
        );
        None
    }
}

pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
