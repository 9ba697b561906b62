//! Condition paths: `args.<field>...` (dots and `[index]`), `identity.id`, `identity.labels.<name>`, and
//! `state.<scope>.<counter>`, and how they resolve against one call.

use std::borrow::Cow;

use serde_json::Value;

use crate::context::CallContext;

/// One step into the arguments.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Segment {
    Key(Box<str>),
    Index(usize),
}

/// A path as written, before counters are resolved.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RawPath {
    Args(Vec<Segment>),
    IdentityId,
    IdentityLabel(Box<str>),
    State { scope: String, counter: String },
}

/// A resolved path: state references point into the policy's counter table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FieldPath {
    Args(Vec<Segment>),
    IdentityId,
    IdentityLabel(Box<str>),
    State(usize),
}

/// What a path found in a call. Counter values are resolved by the evaluator, which owns the view.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Actual<'a> {
    Missing,
    Json(&'a Value),
    Str(&'a str),
    Number(f64),
}

impl RawPath {
    /// Parses a path; the error says what is accepted.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (root, rest) = text.split_once('.').unwrap_or((text, ""));
        match root {
            "args" => parse_segments(rest).map(Self::Args),
            "identity" => match rest.split_once('.') {
                None if rest == "id" => Ok(Self::IdentityId),
                Some(("labels", label)) if !label.is_empty() => Ok(Self::IdentityLabel(label.into())),
                _ => Err(format!(
                    "{text:?} is not an identity path: use identity.id or identity.labels.<name>"
                )),
            },
            "state" => match rest.rsplit_once('.') {
                Some((scope, counter)) if !scope.is_empty() && !counter.is_empty() => Ok(Self::State {
                    scope: scope.to_owned(),
                    counter: counter.to_owned(),
                }),
                _ => Err(format!(
                    "{text:?} is not a state path: use state.<tool>.<counter> or state._global.<counter>"
                )),
            },
            _ => Err(format!(
                "path must start with \"args.\", \"identity.\" or \"state.\", got {text:?}"
            )),
        }
    }
}

fn parse_segments(text: &str) -> Result<Vec<Segment>, String> {
    let bad = |why: &str| format!("\"args.{text}\" is not a valid argument path: {why}");
    if text.is_empty() {
        return Err(bad("name a field after \"args.\""));
    }
    let mut segments = Vec::new();
    for part in text.split('.') {
        let (name, mut indices) = part.split_once('[').map_or((part, None), |(n, i)| (n, Some(i)));
        if name.is_empty() {
            return Err(bad("empty field name"));
        }
        segments.push(Segment::Key(name.into()));
        // `items[0][1]` arrives here as indices "0][1]".
        while let Some(open) = indices {
            let (index, rest) = open.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let index = index
                .parse::<usize>()
                .map_err(|_| bad("an index must be a whole number"))?;
            segments.push(Segment::Index(index));
            indices = match rest.strip_prefix('[') {
                Some(next) => Some(next),
                None if rest.is_empty() => None,
                None => return Err(bad("unexpected text after ']'")),
            };
        }
    }
    Ok(segments)
}

/// Walks the arguments.
pub(crate) fn resolve_args<'a>(args: &'a Value, segments: &[Segment]) -> Option<&'a Value> {
    segments.iter().try_fold(args, |value, segment| match segment {
        Segment::Key(key) => value.as_object()?.get(&**key),
        Segment::Index(i) => value.as_array()?.get(*i),
    })
}

impl FieldPath {
    /// Resolves everything but state, which the evaluator reads from its counter view.
    pub(crate) fn resolve<'a>(&self, call: &CallContext<'a>) -> Actual<'a> {
        match self {
            Self::Args(segments) => resolve_args(call.args, segments).map_or(Actual::Missing, Actual::Json),
            Self::IdentityId => Actual::Str(&call.identity.id),
            Self::IdentityLabel(label) => call
                .identity
                .labels
                .get(&**label)
                .map_or(Actual::Missing, |v| Actual::Str(v)),
            Self::State(_) => Actual::Missing,
        }
    }
}

impl Actual<'_> {
    /// The value as a number: JSON numbers and numeric strings (agents often send `"100"`).
    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Actual::Number(n) => Some(*n),
            Actual::Json(Value::Number(n)) => n.as_f64(),
            Actual::Json(Value::String(s)) => parse_number(s),
            Actual::Str(s) => parse_number(s),
            _ => None,
        }
    }

    /// The value as text: strings, and numbers or booleans in their JSON spelling.
    pub(crate) fn as_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Actual::Str(s) => Some(Cow::Borrowed(s)),
            Actual::Json(Value::String(s)) => Some(Cow::Borrowed(s)),
            Actual::Json(v @ (Value::Number(_) | Value::Bool(_))) => Some(Cow::Owned(v.to_string())),
            Actual::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }

    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, Actual::Missing)
    }

    /// The JSON type name, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Actual::Missing => "nothing",
            Actual::Str(_) | Actual::Json(Value::String(_)) => "a string",
            Actual::Number(_) | Actual::Json(Value::Number(_)) => "a number",
            Actual::Json(Value::Null) => "null",
            Actual::Json(Value::Bool(_)) => "a boolean",
            Actual::Json(Value::Array(_)) => "an array",
            Actual::Json(Value::Object(_)) => "an object",
        }
    }
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(text: &str) -> Vec<Segment> {
        match RawPath::parse(text).unwrap() {
            RawPath::Args(segments) => segments,
            other => panic!("not args: {other:?}"),
        }
    }

    #[test]
    fn nested_paths_with_indices_resolve() {
        let value = json!({"a": {"b": [{"c": 1}, {"c": [5, 6]}]}, "x": "y"});
        assert_eq!(resolve_args(&value, &args("args.x")), Some(&json!("y")));
        assert_eq!(resolve_args(&value, &args("args.a.b[0].c")), Some(&json!(1)));
        assert_eq!(resolve_args(&value, &args("args.a.b[1].c[1]")), Some(&json!(6)));
        assert_eq!(resolve_args(&value, &args("args.a.b[2].c")), None);
        assert_eq!(resolve_args(&value, &args("args.x.y")), None);
    }

    #[test]
    fn identity_and_state_paths() {
        assert_eq!(RawPath::parse("identity.id").unwrap(), RawPath::IdentityId);
        assert_eq!(
            RawPath::parse("identity.labels.team").unwrap(),
            RawPath::IdentityLabel("team".into())
        );
        assert_eq!(
            RawPath::parse("state.file.read.count").unwrap(),
            RawPath::State {
                scope: "file.read".into(),
                counter: "count".into()
            }
        );
    }

    #[test]
    fn bad_paths_say_why() {
        for bad in [
            "amount",
            "args",
            "args.",
            "args.a..b",
            "args.a[",
            "args.a[x]",
            "args.a[1]b",
            "identity.name",
            "identity.labels.",
            "state.x",
            "state..c",
        ] {
            assert!(RawPath::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn numbers_from_strings_and_text_from_numbers() {
        assert_eq!(Actual::Json(&json!("100")).as_number(), Some(100.0));
        assert_eq!(Actual::Json(&json!("abc")).as_number(), None);
        assert_eq!(Actual::Json(&json!("NaN")).as_number(), None);
        assert_eq!(Actual::Json(&json!(42)).as_text().as_deref(), Some("42"));
    }
}
