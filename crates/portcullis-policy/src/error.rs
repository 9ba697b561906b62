//! Validation errors: each one says where, what, and how to fix it.

use std::fmt;

use crate::location::Location;

/// One problem in a policy document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{location}: {message}")]
pub struct PolicyError {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl PolicyError {
    pub(crate) fn new(location: Location, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Every problem found in one document, in document order. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    /// The individual errors.
    pub fn iter(&self) -> impl Iterator<Item = &PolicyError> {
        self.0.iter()
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `PolicyErrors` holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<PolicyError> for PolicyErrors {
    fn from(error: PolicyError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} error{} in policy", if n == 1 { "" } else { "s" })?;
        for error in &self.0 {
            write!(f, "\n  {error} (hint: {})", error.hint)?;
        }
        Ok(())
    }
}
