//! Where something sits in a policy document, printed as a JSONPath such as `$.tools.charge.deny_if[0].op`.

use std::fmt;

/// A location inside a policy document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location(String);

impl Location {
    /// The document itself (`$`).
    pub fn root() -> Self {
        Self("$".to_owned())
    }

    /// The member `key` of the object at this location.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            Self(format!("{}.{key}", self.0))
        } else {
            Self(format!("{}[{}]", self.0, serde_json::Value::from(key)))
        }
    }

    /// The element `index` of the array at this location.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_use_dots_and_odd_keys_are_quoted() {
        let loc = Location::root()
            .key("tools")
            .key("delete_*")
            .key("deny_if")
            .index(2)
            .key("op");
        assert_eq!(loc.as_str(), r#"$.tools["delete_*"].deny_if[2].op"#);
        assert_eq!(Location::root().key("a\"b").as_str(), r#"$["a\"b"]"#);
    }
}
