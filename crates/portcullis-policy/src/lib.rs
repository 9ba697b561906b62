//! The Portcullis policy language and its engine.
//!
//! A policy is one JSON (or YAML) document that governs one upstream MCP server for one grant. It is
//! compatible with PolicyLayer's `policy.json` and covers Intercept's rule semantics. The crate has two
//! halves:
//!
//! * [`compile`] turns a document into a [`CompiledPolicy`], reporting **every** problem at once, each
//!   with its JSON path and a hint;
//! * [`evaluate`] decides one tool call against a compiled policy, a read-only view of counters and the
//!   current time, and [`list_filter`] decides what `tools/list` shows.
//!
//! Architecture invariant: this crate is pure. No I/O, no async runtime, no clock: time is a parameter,
//! counters are a read-only view, and the decision says which reservations the caller should make. The
//! same inputs always give the same decision, on any node.

mod compile;
mod condition;
mod context;
mod counters;
mod decision;
mod document;
mod error;
mod evaluate;
mod field_path;
mod location;
mod model;
mod name_pattern;
mod window;

pub use compile::compile;
pub use context::{CallContext, Identity};
pub use counters::{Ceiling, CounterId, CounterView, NoCounters, Per, Reservation, StaticCounters};
pub use decision::{Decision, Outcome, RuleRef};
pub use document::{Format, parse_document};
pub use error::{PolicyError, PolicyErrors};
pub use evaluate::{evaluate, list_filter};
pub use location::Location;
pub use model::{CompiledPolicy, DefaultAction};
pub use window::{Timestamp, Window};

/// Parses and compiles a policy from its text in one step.
///
/// # Errors
/// Returns every syntax or validation error found, each with its location.
pub fn compile_str(text: &str, format: Format) -> Result<CompiledPolicy, PolicyErrors> {
    let doc = parse_document(text, format)?;
    compile(&doc)
}
