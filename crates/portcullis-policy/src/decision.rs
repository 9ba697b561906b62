//! What the engine decides about one call.

use std::fmt;
use std::sync::Arc;

use crate::counters::Reservation;

/// The rule that produced a decision: its location in the document and, for Intercept-style rules, its
/// name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleRef {
    /// JSONPath of the rule, e.g. `$.tools.create_charge.deny_if[0]`, or `$.default` / `$.hide[2]`.
    pub path: Arc<str>,
    /// The rule's `name`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} ({name:?})", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// The verdict, most restrictive first: hide > deny > rate-limited > require-approval > allow.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The tool is hidden: absent from `tools/list`, every call blocked.
    Hide,
    /// The call is blocked.
    Deny,
    /// A counter is exhausted until the window turns.
    RateLimited {
        /// Milliseconds until the call could succeed.
        retry_after_ms: u64,
    },
    /// A human must approve the call first.
    RequireApproval {
        /// How long the call may wait for a decision before it is denied.
        timeout_ms: u64,
        /// When set, approving the call admits the same tool for the same grant this long afterwards.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowance_ms: Option<u64>,
        /// Reservations to make if it is approved.
        reservations: Vec<Reservation>,
    },
    /// Forward the call after making these reservations.
    Allow {
        /// Counter increments to reserve before forwarding.
        reservations: Vec<Reservation>,
    },
}

impl Outcome {
    /// A short lowercase name: `hide`, `deny`, `rate_limited`, `require_approval`, `allow`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hide => "hide",
            Self::Deny => "deny",
            Self::RateLimited { .. } => "rate_limited",
            Self::RequireApproval { .. } => "require_approval",
            Self::Allow { .. } => "allow",
        }
    }

    /// Whether the call may be forwarded now.
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}

/// A decision about one call.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Decision {
    /// What to do.
    pub outcome: Outcome,
    /// The rule that decided. For an allow, the tool entry (or `$.default`) that admitted the call.
    pub rule: RuleRef,
    /// Why, in words meant for the agent.
    pub message: Arc<str>,
    /// The revision of the policy that decided, as set by [`crate::CompiledPolicy::with_revision`].
    pub policy_revision: u64,
}
