//! Conditions (`{path, op, value}`) and the eleven operators.

use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use crate::field_path::{Actual, FieldPath};

/// An operator with its compiled operand.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Eq(Value),
    Neq(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Lt(f64),
    Lte(f64),
    Gt(f64),
    Gte(f64),
    Regex(Regex),
    Contains(Value),
    Exists(bool),
}

/// The operator names, in the order the documentation lists them.
pub(crate) const OPERATORS: [&str; 11] = [
    "eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists",
];

/// One compiled condition.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    pub(crate) path: FieldPath,
    pub(crate) path_text: Arc<str>,
    pub(crate) op: Op,
}

/// The result of testing a condition. `Mismatch` means the value is present but of a type the operator
/// cannot judge (an object compared with `lt`): callers fail closed on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    Mismatch,
}

impl From<bool> for Truth {
    fn from(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }
}

impl Op {
    /// Tests `actual`. A missing value makes every operator false except `neq`, `not_in` and
    /// `exists: false`, which hold: absent is not equal to anything.
    pub(crate) fn test(&self, actual: &Actual<'_>) -> Truth {
        if actual.is_missing() {
            return matches!(self, Op::Neq(_) | Op::NotIn(_) | Op::Exists(false)).into();
        }
        match self {
            Op::Eq(expected) => equals(actual, expected).into(),
            Op::Neq(expected) => (!equals(actual, expected)).into(),
            Op::In(list) => list.iter().any(|e| equals(actual, e)).into(),
            Op::NotIn(list) => (!list.iter().any(|e| equals(actual, e))).into(),
            Op::Lt(n) => compare(actual, |a| a < *n),
            Op::Lte(n) => compare(actual, |a| a <= *n),
            Op::Gt(n) => compare(actual, |a| a > *n),
            Op::Gte(n) => compare(actual, |a| a >= *n),
            Op::Regex(re) => actual
                .as_text()
                .map_or(Truth::Mismatch, |t| re.is_match(&t).into()),
            Op::Contains(needle) => contains(actual, needle),
            Op::Exists(expected) => (*expected).into(),
        }
    }

    /// The operator's name as written in policies.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "eq",
            Op::Neq(_) => "neq",
            Op::In(_) => "in",
            Op::NotIn(_) => "not_in",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::Regex(_) => "regex",
            Op::Contains(_) => "contains",
            Op::Exists(_) => "exists",
        }
    }

    /// "is at most 100": what it means for the condition to hold. Used in `deny_if` messages.
    pub(crate) fn holds_phrase(&self) -> String {
        match self {
            Op::Eq(v) => format!("equals {v}"),
            Op::Neq(v) => format!("does not equal {v}"),
            Op::In(v) => format!("is one of {}", Value::from(v.clone())),
            Op::NotIn(v) => format!("is not one of {}", Value::from(v.clone())),
            Op::Lt(n) => format!("is less than {n}"),
            Op::Lte(n) => format!("is at most {n}"),
            Op::Gt(n) => format!("is greater than {n}"),
            Op::Gte(n) => format!("is at least {n}"),
            Op::Regex(re) => format!("matches /{}/", re.as_str()),
            Op::Contains(v) => format!("contains {v}"),
            Op::Exists(true) => "is present".to_owned(),
            Op::Exists(false) => "is absent".to_owned(),
        }
    }

    /// "must be at most 100": what the condition requires. Used in `require` messages.
    pub(crate) fn requirement_phrase(&self) -> String {
        match self {
            Op::Eq(v) => format!("must equal {v}"),
            Op::Neq(v) => format!("must not equal {v}"),
            Op::In(v) => format!("must be one of {}", Value::from(v.clone())),
            Op::NotIn(v) => format!("must not be one of {}", Value::from(v.clone())),
            Op::Lt(n) => format!("must be less than {n}"),
            Op::Lte(n) => format!("must be at most {n}"),
            Op::Gt(n) => format!("must be greater than {n}"),
            Op::Gte(n) => format!("must be at least {n}"),
            Op::Regex(re) => format!("must match /{}/", re.as_str()),
            Op::Contains(v) => format!("must contain {v}"),
            Op::Exists(true) => "is required".to_owned(),
            Op::Exists(false) => "must be absent".to_owned(),
        }
    }
}

/// Equality as users expect from JSON: numbers compare by value (`1 == 1.0`, and `"100" == 100` since
/// agents often send numbers as strings); everything else structurally.
fn equals(actual: &Actual<'_>, expected: &Value) -> bool {
    match expected {
        Value::Number(n) => actual.as_number().zip(n.as_f64()).is_some_and(|(a, e)| a == e),
        Value::String(e) => match actual {
            Actual::Str(a) => a == e,
            Actual::Json(Value::String(a)) => a == e,
            _ => false,
        },
        other => matches!(actual, Actual::Json(a) if *a == other),
    }
}

fn compare(actual: &Actual<'_>, holds: impl Fn(f64) -> bool) -> Truth {
    actual.as_number().map_or(Truth::Mismatch, |a| holds(a).into())
}

fn contains(actual: &Actual<'_>, needle: &Value) -> Truth {
    match (actual, needle) {
        (Actual::Json(Value::Array(items)), _) => items
            .iter()
            .any(|item| equals(&Actual::Json(item), needle))
            .into(),
        (_, Value::String(n)) => actual
            .as_text()
            .map_or(Truth::Mismatch, |t| t.contains(n.as_str()).into()),
        _ => Truth::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(op: &Op, actual: Value) -> Truth {
        op.test(&Actual::Json(&actual))
    }

    #[test]
    fn equality_is_numeric_for_numbers() {
        assert_eq!(t(&Op::Eq(json!(1)), json!(1.0)), Truth::True);
        assert_eq!(t(&Op::Eq(json!(100)), json!("100")), Truth::True);
        assert_eq!(t(&Op::Eq(json!("main")), json!("main")), Truth::True);
        assert_eq!(t(&Op::Eq(json!("main")), json!("dev")), Truth::False);
        assert_eq!(t(&Op::Eq(json!(true)), json!(true)), Truth::True);
        assert_eq!(t(&Op::Eq(json!({"a": 1})), json!({"a": 1})), Truth::True);
        assert_eq!(t(&Op::Neq(json!("draft")), json!("final")), Truth::True);
        assert_eq!(t(&Op::Neq(json!("draft")), json!("draft")), Truth::False);
    }

    #[test]
    fn membership() {
        let currencies = vec![json!("usd"), json!("eur")];
        assert_eq!(t(&Op::In(currencies.clone()), json!("usd")), Truth::True);
        assert_eq!(t(&Op::In(currencies.clone()), json!("gbp")), Truth::False);
        assert_eq!(t(&Op::NotIn(currencies.clone()), json!("gbp")), Truth::True);
        assert_eq!(t(&Op::NotIn(currencies), json!("eur")), Truth::False);
    }

    #[test]
    fn ordering_needs_numbers() {
        assert_eq!(t(&Op::Lt(10.0), json!(9)), Truth::True);
        assert_eq!(t(&Op::Lt(10.0), json!(10)), Truth::False);
        assert_eq!(t(&Op::Lte(10.0), json!(10)), Truth::True);
        assert_eq!(t(&Op::Gt(10.0), json!(10.5)), Truth::True);
        assert_eq!(t(&Op::Gte(10.0), json!(9.99)), Truth::False);
        assert_eq!(t(&Op::Gt(10.0), json!("11")), Truth::True);
        assert_eq!(t(&Op::Gt(10.0), json!({"x": 1})), Truth::Mismatch);
        assert_eq!(t(&Op::Lt(10.0), json!("ten")), Truth::Mismatch);
    }

    #[test]
    fn regex_contains_exists() {
        let re = Op::Regex(Regex::new("^feat/").unwrap());
        assert_eq!(t(&re, json!("feat/x")), Truth::True);
        assert_eq!(t(&re, json!("fix/x")), Truth::False);
        assert_eq!(t(&re, json!([1])), Truth::Mismatch);
        assert_eq!(
            t(&Op::Regex(Regex::new("^[0-9]+$").unwrap()), json!(123)),
            Truth::True
        );
        assert_eq!(t(&Op::Contains(json!("test")), json!("a test run")), Truth::True);
        assert_eq!(t(&Op::Contains(json!("test")), json!("prod")), Truth::False);
        assert_eq!(t(&Op::Contains(json!("x")), json!(["x", "y"])), Truth::True);
        assert_eq!(t(&Op::Contains(json!(2)), json!([1, 2])), Truth::True);
        assert_eq!(t(&Op::Contains(json!(2)), json!({"a": 2})), Truth::Mismatch);
        assert_eq!(t(&Op::Exists(true), json!(null)), Truth::True);
        assert_eq!(t(&Op::Exists(false), json!(0)), Truth::False);
    }

    #[test]
    fn missing_values() {
        let missing = Actual::Missing;
        assert_eq!(Op::Eq(json!(1)).test(&missing), Truth::False);
        assert_eq!(Op::Neq(json!(1)).test(&missing), Truth::True);
        assert_eq!(Op::In(vec![json!(1)]).test(&missing), Truth::False);
        assert_eq!(Op::NotIn(vec![json!(1)]).test(&missing), Truth::True);
        assert_eq!(Op::Lt(1.0).test(&missing), Truth::False);
        assert_eq!(Op::Exists(true).test(&missing), Truth::False);
        assert_eq!(Op::Exists(false).test(&missing), Truth::True);
        assert_eq!(Op::Regex(Regex::new("x").unwrap()).test(&missing), Truth::False);
    }

    #[test]
    fn identity_strings_compare() {
        assert_eq!(Op::Eq(json!("ops")).test(&Actual::Str("ops")), Truth::True);
        assert_eq!(
            Op::In(vec![json!("a"), json!("ops")]).test(&Actual::Str("ops")),
            Truth::True
        );
        assert_eq!(Op::Lte(5.0).test(&Actual::Number(5.0)), Truth::True);
    }
}
