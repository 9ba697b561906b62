//! Deciding one call. Pure: the same policy, call, counter values and time give the same decision.
//!
//! Order, which also implements the precedence hide > deny > rate-limited > require-approval > allow:
//! 1. a `hide` match hides;
//! 2. under `default: deny`, a tool with no entry of its own is denied (`"*"` does not rescue it);
//! 3. the tool's entry, then `"*"`: `action: deny`, `require`, `deny_if` and rules deny; a failed
//!    condition on a counter (`state.*`) only marks the call rate-limited, since a deny outranks it;
//! 4. limits (tool, `"*"`, `all_tools`): an unusable increment denies; an exhausted counter rate-limits;
//! 5. an approval requirement whose `when` holds parks the call;
//! 6. otherwise allow, with the reservations to make.

use std::sync::Arc;

use crate::condition::{Condition, Truth};
use crate::context::CallContext;
use crate::counters::{CounterView, Reservation};
use crate::decision::{Decision, Outcome, RuleRef};
use crate::field_path::{Actual, FieldPath};
use crate::model::{Check, CheckKind, CompiledPolicy, DefaultAction, Increment, Limit};
use crate::window::Timestamp;

/// Decides one tool call.
pub fn evaluate<C: CounterView + ?Sized>(
    policy: &CompiledPolicy,
    call: &CallContext<'_>,
    counters: &C,
    now: Timestamp,
) -> Decision {
    Evaluator {
        policy,
        call,
        counters,
        now,
        rate_limited: None,
    }
    .run()
}

/// Keeps, in order, the tools `tools/list` should show. A tool whose name `name` cannot read is
/// dropped: what cannot be judged is not shown.
pub fn list_filter<T>(policy: &CompiledPolicy, tools: Vec<T>, name: impl Fn(&T) -> Option<&str>) -> Vec<T> {
    tools
        .into_iter()
        .filter(|tool| name(tool).is_some_and(|n| policy.is_visible(n)))
        .collect()
}

struct Evaluator<'p, 'c, C: ?Sized> {
    policy: &'p CompiledPolicy,
    call: &'p CallContext<'c>,
    counters: &'p C,
    now: Timestamp,
    /// The longest wait among exhausted counters so far.
    rate_limited: Option<(u64, RuleRef, Arc<str>)>,
}

impl<C: CounterView + ?Sized> Evaluator<'_, '_, C> {
    fn run(mut self) -> Decision {
        let policy = self.policy;
        let tool = self.call.tool;
        if let Some(rule) = policy.hidden_by(tool) {
            return self.decide(
                Outcome::Hide,
                rule.clone(),
                format!("Tool {tool:?} is hidden by policy").into(),
            );
        }
        let own = policy.entry_for(tool);
        if own.is_none() && policy.default == DefaultAction::Deny {
            let message = format!("Tool {tool:?} is not allowed by this policy (default: deny)");
            return self.decide(Outcome::Deny, policy.default_rule.clone(), message.into());
        }
        let entries = || own.into_iter().chain(policy.wildcard_entry());

        for entry in entries() {
            if let Some((rule, message)) = &entry.deny {
                return self.decide(Outcome::Deny, rule.clone(), message.clone());
            }
            for check in &entry.checks {
                if let Some(denial) = self.check(check) {
                    return denial;
                }
            }
        }

        let mut reservations = Vec::new();
        let limits = entries()
            .flat_map(|e| e.limits.iter())
            .chain(&policy.all_tools_limits);
        for limit in limits {
            match self.limit(limit) {
                Ok(Some(reservation)) => reservations.push(reservation),
                Ok(None) => {}
                Err(denial) => return denial,
            }
        }
        if let Some((retry_after_ms, rule, message)) = self.rate_limited.take() {
            return self.decide(Outcome::RateLimited { retry_after_ms }, rule, message);
        }

        for approval in entries().filter_map(|e| e.approval.as_ref()) {
            // A `when` the call cannot be judged against fails closed: ask a human.
            if approval.when.iter().all(|c| self.test(c) != Truth::False) {
                let outcome = Outcome::RequireApproval {
                    timeout_ms: approval.timeout_ms,
                    allowance_ms: approval.allowance_ms,
                    reservations,
                };
                return self.decide(outcome, approval.rule.clone(), approval.message.clone());
            }
        }

        let rule = own.map_or_else(|| policy.default_rule.clone(), |e| e.rule.clone());
        self.decide(
            Outcome::Allow { reservations },
            rule,
            policy.allowed_message.clone(),
        )
    }

    fn decide(&self, outcome: Outcome, rule: RuleRef, message: Arc<str>) -> Decision {
        Decision {
            outcome,
            rule,
            message,
            policy_revision: self.policy.revision,
        }
    }

    fn deny(&self, rule: &RuleRef, message: Arc<str>) -> Decision {
        self.decide(Outcome::Deny, rule.clone(), message)
    }

    /// Runs one check; returns a denial, or records a rate limit and returns `None`.
    fn check(&mut self, check: &Check) -> Option<Decision> {
        let worded = |fallback: String| check.message.clone().unwrap_or_else(|| fallback.into());
        match check.kind {
            CheckKind::Deny => Some(self.deny(&check.rule, worded("denied by policy".to_owned()))),
            CheckKind::Require => {
                for condition in &check.conditions {
                    match self.test(condition) {
                        Truth::True => {}
                        Truth::Mismatch => {
                            return Some(self.deny(&check.rule, mismatch(condition, self.call)));
                        }
                        Truth::False => {
                            let fallback =
                                format!("{} {}", condition.path_text, condition.op.requirement_phrase());
                            if let FieldPath::State(counter) = condition.path {
                                self.note_rate_limit(counter, &check.rule, worded(fallback));
                                continue;
                            }
                            return Some(self.deny(&check.rule, worded(fallback)));
                        }
                    }
                }
                None
            }
            CheckKind::DenyIf => {
                let mut mismatched = None;
                for condition in &check.conditions {
                    match self.test(condition) {
                        Truth::True => {}
                        Truth::False => return None,
                        Truth::Mismatch => mismatched = mismatched.or(Some(condition)),
                    }
                }
                // Every condition held, or could not be judged: either way the call does not pass.
                let message = match mismatched {
                    Some(condition) => mismatch(condition, self.call),
                    None => worded(describe_all(&check.conditions)),
                };
                Some(self.deny(&check.rule, message))
            }
        }
    }

    /// Tests a condition, reading counters for `state.*` paths.
    fn test(&self, condition: &Condition) -> Truth {
        let actual = match condition.path {
            FieldPath::State(counter) => Actual::Number(self.counter_value(counter)),
            ref path => path.resolve(self.call),
        };
        condition.op.test(&actual)
    }

    fn counter_value(&self, counter: usize) -> f64 {
        self.policy.counters.get(counter).map_or(0.0, |def| {
            self.counters.current(&def.id, def.per, def.window.at(self.now))
        })
    }

    fn note_rate_limit(&mut self, counter: usize, rule: &RuleRef, message: Arc<str>) {
        let Some(def) = self.policy.counters.get(counter) else {
            return;
        };
        let retry_after_ms = def.window.at(self.now).end_ms() - self.now.as_millis();
        if self
            .rate_limited
            .as_ref()
            .is_none_or(|(longest, ..)| retry_after_ms > *longest)
        {
            self.rate_limited = Some((retry_after_ms, rule.clone(), message));
        }
    }

    /// Checks one limit: `Ok(Some)` to reserve, `Ok(None)` when exhausted (recorded) or nothing to count,
    /// `Err` when the call can never pass it.
    fn limit(&mut self, limit: &Limit) -> Result<Option<Reservation>, Decision> {
        let Some(def) = self.policy.counters.get(limit.counter) else {
            return Ok(None);
        };
        let amount = match &limit.increment {
            Increment::Fixed(amount) => *amount,
            Increment::From(path, text) => match path.resolve(self.call).as_number() {
                Some(amount) if amount >= 0.0 => amount,
                Some(_) => return Err(self.deny(&limit.rule, format!("{text} must not be negative").into())),
                None => {
                    let message = format!("{text} must be a number: it is counted against {}", def.id);
                    return Err(self.deny(&limit.rule, message.into()));
                }
            },
        };
        if let Some(ceiling) = limit.ceiling {
            if !ceiling.admits(amount) {
                let message = format!("{amount} alone exceeds the limit ({ceiling}) on {}", def.id);
                return Err(self.deny(&limit.rule, message.into()));
            }
            let window = def.window.at(self.now);
            if !ceiling.admits(self.counters.current(&def.id, def.per, window) + amount) {
                self.note_rate_limit(limit.counter, &limit.rule, limit.message.clone());
                return Ok(None);
            }
        }
        if amount == 0.0 {
            return Ok(None);
        }
        let window = def.window.at(self.now);
        Ok(Some(Reservation {
            counter: def.id.clone(),
            per: def.per,
            window,
            amount,
            ceiling: limit.ceiling,
        }))
    }
}

fn describe_all(conditions: &[Condition]) -> String {
    let parts: Vec<String> = conditions
        .iter()
        .map(|c| format!("{} {}", c.path_text, c.op.holds_phrase()))
        .collect();
    format!("denied because {}", parts.join(" and "))
}

fn mismatch(condition: &Condition, call: &CallContext<'_>) -> Arc<str> {
    let found = condition.path.resolve(call).type_name();
    format!(
        "{} is {found}, which `{}` cannot check",
        condition.path_text,
        condition.op.name()
    )
    .into()
}
