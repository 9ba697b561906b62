//! A compiled policy: everything validated, regexes built, counters resolved, messages written.

use std::collections::HashMap;
use std::sync::Arc;

use crate::condition::Condition;
use crate::counters::{Ceiling, CounterId, Per};
use crate::decision::RuleRef;
use crate::field_path::FieldPath;
use crate::name_pattern::NamePattern;
use crate::window::WindowSpec;

/// What happens to a tool the policy does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    /// Unlisted tools are allowed (and visible).
    Allow,
    /// Unlisted tools are denied and removed from `tools/list`.
    Deny,
}

/// A validated policy, ready to evaluate. Cheap to share (`Arc`) across threads; immutable.
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    pub(crate) default: DefaultAction,
    pub(crate) description: Option<String>,
    pub(crate) hide: Vec<(NamePattern, RuleRef)>,
    /// Exact tool keys to their entry.
    pub(crate) exact: HashMap<Box<str>, usize>,
    /// Glob tool keys, most specific first.
    pub(crate) globs: Vec<(NamePattern, usize)>,
    /// The `"*"` entry: applies after the tool's own entry to every listed tool.
    pub(crate) wildcard: Option<usize>,
    pub(crate) entries: Vec<ToolEntry>,
    pub(crate) all_tools_limits: Vec<Limit>,
    pub(crate) counters: Vec<CounterDef>,
    /// `$.default`: the rule an unlisted tool's decision names.
    pub(crate) default_rule: RuleRef,
    /// Shared so an allow never allocates its message.
    pub(crate) allowed_message: Arc<str>,
    pub(crate) revision: u64,
}

impl CompiledPolicy {
    /// The tool keys the policy names exactly (globs and `*` aside), sorted.
    pub fn tool_names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self.exact.keys().map(AsRef::as_ref).collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// Stamps the revision the store assigned to this policy; decisions carry it for the audit trail.
    #[must_use]
    pub fn with_revision(mut self, revision: u64) -> Self {
        self.revision = revision;
        self
    }

    /// The revision decisions will carry (0 until [`Self::with_revision`]).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// What happens to unlisted tools.
    pub fn default_action(&self) -> DefaultAction {
        self.default
    }

    /// The document's `description`, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Every counter the policy defines, as `(counter, per)`, for callers that pre-create storage.
    pub fn counters(&self) -> impl Iterator<Item = (&CounterId, Per)> {
        self.counters.iter().map(|c| (&c.id, c.per))
    }

    /// Whether `tools/list` shows `tool`: not hidden, and listed unless the default is allow. A tool
    /// listed with `action: deny` stays visible, as PolicyLayer's "Deny" state says.
    pub fn is_visible(&self, tool: &str) -> bool {
        self.hidden_by(tool).is_none()
            && (self.default == DefaultAction::Allow || self.entry_for(tool).is_some())
    }

    /// The hide entry matching `tool`, if any.
    pub(crate) fn hidden_by(&self, tool: &str) -> Option<&RuleRef> {
        self.hide
            .iter()
            .find(|(pattern, _)| pattern.matches(tool))
            .map(|(_, rule)| rule)
    }

    /// The tool's own entry: an exact key, else the most specific glob. The `"*"` entry is not one.
    pub(crate) fn entry_for(&self, tool: &str) -> Option<&ToolEntry> {
        let index = self.exact.get(tool).copied().or_else(|| {
            self.globs
                .iter()
                .find(|(pattern, _)| pattern.matches(tool))
                .map(|(_, index)| *index)
        })?;
        self.entries.get(index)
    }

    pub(crate) fn wildcard_entry(&self) -> Option<&ToolEntry> {
        self.wildcard.and_then(|i| self.entries.get(i))
    }
}

/// The rules under one key of `tools`.
#[derive(Clone, Debug)]
pub(crate) struct ToolEntry {
    /// Where the entry is (`$.tools.create_charge`): the rule an allow names.
    pub(crate) rule: RuleRef,
    /// `action: deny`, with the message.
    pub(crate) deny: Option<(RuleRef, Arc<str>)>,
    /// `require`, `deny_if` and Intercept rules, in document order.
    pub(crate) checks: Vec<Check>,
    pub(crate) limits: Vec<Limit>,
    pub(crate) approval: Option<Approval>,
}

/// One argument check.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    pub(crate) kind: CheckKind,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) rule: RuleRef,
    /// The configured message (`message`, `on_deny`); when absent the evaluator words one from the
    /// condition that failed (only on the deny path, so allows never format).
    pub(crate) message: Option<Arc<str>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckKind {
    /// Every condition must hold (`require`, Intercept `evaluate` rules).
    Require,
    /// The call is denied when every condition holds (`deny_if`).
    DenyIf,
    /// Intercept `action: deny`: always denies.
    Deny,
}

/// A counter a call increments, optionally with a ceiling.
#[derive(Clone, Debug)]
pub(crate) struct Limit {
    pub(crate) counter: usize,
    /// What the counter may hold after the increment; `None` for a counter that only counts.
    pub(crate) ceiling: Option<Ceiling>,
    pub(crate) increment: Increment,
    pub(crate) rule: RuleRef,
    pub(crate) message: Arc<str>,
}

#[derive(Clone, Debug)]
pub(crate) enum Increment {
    Fixed(f64),
    /// `increment_from: args.amount`; the text is kept for messages.
    From(FieldPath, Arc<str>),
}

/// A counter's definition: one per `scope.name`.
#[derive(Clone, Debug)]
pub(crate) struct CounterDef {
    pub(crate) id: CounterId,
    pub(crate) per: Per,
    pub(crate) window: WindowSpec,
}

/// `require_approval` or an `approval` block.
#[derive(Clone, Debug)]
pub(crate) struct Approval {
    pub(crate) timeout_ms: u64,
    /// An approval also admits the same tool for the same grant this long after it is given.
    pub(crate) allowance_ms: Option<u64>,
    /// All must hold for approval to be required; empty means always.
    pub(crate) when: Vec<Condition>,
    pub(crate) rule: RuleRef,
    pub(crate) message: Arc<str>,
}
