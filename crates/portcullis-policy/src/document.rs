//! Policy text to a JSON value. JSON and YAML share one model; syntax errors carry a line and column.

use serde_json::Value;

use crate::error::{PolicyError, PolicyErrors};
use crate::location::Location;

/// The syntax a policy is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `policy.json`, PolicyLayer's format.
    Json,
    /// YAML, as Intercept writes policies.
    Yaml,
    /// JSON when the first non-blank character is `{`, YAML otherwise.
    Detect,
}

impl Format {
    /// Picks a format from a file name: `.json` is JSON, `.yaml`/`.yml` YAML, anything else is detected.
    pub fn from_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::Json,
            Some("yaml" | "yml") => Self::Yaml,
            _ => Self::Detect,
        }
    }
}

/// Parses policy text into a JSON value without interpreting it.
///
/// # Errors
/// A syntax error, with its line and column.
pub fn parse_document(text: &str, format: Format) -> Result<Value, PolicyErrors> {
    let format = match format {
        Format::Detect if text.trim_start().starts_with('{') => Format::Json,
        Format::Detect => Format::Yaml,
        known => known,
    };
    let parsed = match format {
        Format::Json => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("invalid JSON at line {} column {}: {e}", e.line(), e.column())),
        _ => serde_yaml_ng::from_str::<Value>(text).map_err(|e| match e.location() {
            Some(at) => format!("invalid YAML at line {} column {}: {e}", at.line(), at.column()),
            None => format!("invalid YAML: {e}"),
        }),
    };
    parsed.map_err(|message| {
        PolicyError::new(
            Location::root(),
            message,
            "fix the syntax near that position (quotes, commas, brackets)",
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_give_the_same_value() {
        let json = parse_document(r#"{"version": "1", "tools": {"a": {}}}"#, Format::Detect).unwrap();
        let yaml = parse_document("version: \"1\"\ntools:\n  a: {}\n", Format::Detect).unwrap();
        assert_eq!(json, yaml);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse_document("{\n  \"version\": }", Format::Json).unwrap_err();
        assert!(err.0[0].message.contains("line 2 column"), "{err}");
        let err = parse_document("a: [1, 2\nb: 3", Format::Yaml).unwrap_err();
        assert!(err.0[0].message.contains("invalid YAML"), "{err}");
    }
}
