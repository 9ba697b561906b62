//! Checks a command before it is proposed, so that nothing malformed ever enters the log.

use super::{AppRequest, PolicyChange};
use crate::state::{CounterCeiling, CounterKey, PolicyRef, SessionCount};

/// Names (servers, policies) appear in URL paths and counter scopes: keep them plain.
const MAX_NAME: usize = 128;
/// Ids (grants, approvals, sessions) and authors: opaque, printable, bounded.
const MAX_ID: usize = 256;
/// A policy document, an upstream config or kept arguments.
const MAX_DOCUMENT: usize = 1 << 20;
/// Labels per grant and upstream session ids per session.
const MAX_ITEMS: usize = 64;
/// Asks or returns in one quota entry (a node batches every counter it serves).
const MAX_QUOTA_ITEMS: usize = 4096;
/// Sessions touched, or looked at for expiry, in one entry.
const MAX_SESSION_BATCH: usize = 4096;

/// Why a command can't be proposed. Each message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// A server or policy name is empty, too long, or has characters outside `[A-Za-z0-9._-]`.
    #[error("{field} {value:?} is not a valid name: use 1 to {MAX_NAME} characters from A-Z a-z 0-9 . _ -")]
    BadName {
        /// Which field.
        field: &'static str,
        /// The rejected value.
        value: String,
    },
    /// An id or author is empty, too long, or has whitespace or control characters.
    #[error("{field} {value:?} is not a valid id: use 1 to {MAX_ID} printable characters without spaces")]
    BadId {
        /// Which field.
        field: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A SHA-256 digest is not 64 lowercase hex digits.
    #[error("{field} must be a SHA-256 digest written as 64 lowercase hex digits")]
    BadDigest {
        /// Which field.
        field: &'static str,
    },
    /// A document or list is larger than the store accepts.
    #[error("{field} is too large ({size} > {max}); split it or keep less")]
    TooLarge {
        /// Which field.
        field: &'static str,
        /// Its size (bytes or items).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The upstream config is not a JSON object.
    #[error("upstream must be a JSON object describing how to reach the server")]
    UpstreamNotObject,
    /// A session's recorded `initialize` params are not a JSON object.
    #[error("a session's initialize params must be a JSON object (the client's initialize params)")]
    InitializeNotObject,
    /// An aggregate session names a member server twice.
    #[error("an aggregate session lists member {name:?} twice")]
    MemberTwice {
        /// The repeated server.
        name: String,
    },
    /// An aggregate session's `server` is not its first member.
    #[error("an aggregate session's server must be its first member")]
    MembersDisagree,
    /// The policy document does not compile.
    #[error("policy {name:?} does not compile; fix these and propose again:\n{errors}")]
    PolicyInvalid {
        /// The policy's name.
        name: String,
        /// Every error the compiler found, one per line.
        errors: String,
    },
    /// A number is NaN or infinite, or negative where it may not be.
    #[error("{field} must be a finite number{}", if *.non_negative { " at or above zero" } else { "" })]
    BadNumber {
        /// Which field.
        field: &'static str,
        /// Whether it also must not be negative.
        non_negative: bool,
    },
    /// A counter window of zero length.
    #[error("a counter window must last at least one millisecond")]
    EmptyWindow,
    /// An approval that expires before (or when) it is requested.
    #[error("expires_at must be later than requested_at")]
    ExpiresBeforeRequested,
    /// An approval allowance of no time at all.
    #[error("allowance_ms must be above zero; omit it for no allowance")]
    EmptyAllowance,
    /// A session expiry that would look at nothing, or forget every record at once.
    #[error("idle_ms and scan of a session expiry must be above zero")]
    EmptySessionExpiry,
    /// A policy revision of zero names no version (revisions start at 1).
    #[error("policy revisions start at 1; omit the revision to follow the latest")]
    ZeroRevision,
}

impl AppRequest {
    /// Checks the command on its own, before it is proposed.
    ///
    /// # Errors
    /// The first problem found, with what to change.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Self::PutServer {
                name,
                upstream,
                anonymous_policy,
                at: _,
            } => {
                name_ok("server name", name)?;
                if !upstream.is_object() {
                    return Err(ValidationError::UpstreamNotObject);
                }
                json_size_ok("upstream", upstream)?;
                anonymous_policy
                    .as_deref()
                    .map_or(Ok(()), |p| name_ok("anonymous_policy", p))
            }
            Self::RemoveServer { name } => name_ok("server name", name),
            Self::PutPolicy {
                name,
                text,
                format,
                author,
                ..
            } => {
                name_ok("policy name", name)?;
                id_ok("author", author)?;
                size_ok("policy text", text.len(), MAX_DOCUMENT)?;
                portcullis_policy::compile_str(text, format.engine_format())
                    .map(drop)
                    .map_err(|errors| ValidationError::PolicyInvalid {
                        name: name.clone(),
                        errors: errors.to_string(),
                    })
            }
            Self::PutGrant {
                id,
                token_sha256,
                labels,
                server,
                servers,
                policy,
                at: _,
            } => {
                id_ok("grant id", id)?;
                digest_ok("token_sha256", token_sha256)?;
                labels_ok(labels)?;
                name_ok("server", server)?;
                for name in servers {
                    name_ok("servers", name)?;
                }
                policy.as_ref().map_or(Ok(()), policy_ref_ok)
            }
            Self::RevokeGrant { id, at: _ } => id_ok("grant id", id),
            Self::UpdateGrant {
                id,
                labels,
                policy,
                token_sha256,
            } => {
                id_ok("grant id", id)?;
                labels.as_ref().map_or(Ok(()), labels_ok)?;
                if let PolicyChange::Set(policy) = policy {
                    policy_ref_ok(policy)?;
                }
                token_sha256
                    .as_deref()
                    .map_or(Ok(()), |token| digest_ok("token_sha256", token))
            }
            Self::PutAdminToken {
                name, token_sha256, ..
            } => {
                id_ok("token name", name)?;
                digest_ok("token_sha256", token_sha256)
            }
            Self::RevokeAdminToken { name, at: _ } => id_ok("token name", name),
            Self::PutNode { admin_addr, .. } => id_ok("admin_addr", admin_addr),
            Self::AddToCounter { key, delta, ceiling } => {
                counter_key_ok(key)?;
                finite("delta", *delta, false)?;
                ceiling.as_ref().map_or(Ok(()), ceiling_ok)
            }
            Self::ResetCounter { key } => counter_key_ok(key),
            Self::LeaseQuota { asks, returns, .. } => {
                size_ok("asks", asks.len(), MAX_QUOTA_ITEMS)?;
                size_ok("returns", returns.len(), MAX_QUOTA_ITEMS)?;
                for ask in asks {
                    counter_key_ok(&ask.key)?;
                    finite("want", ask.want, true)?;
                    ceiling_ok(&ask.ceiling)?;
                }
                for back in returns {
                    counter_key_ok(&back.key)?;
                    finite("amount", back.amount, true)?;
                }
                Ok(())
            }
            Self::PruneCounters { before_ms: _ } | Self::ExpireApprovals { at: _ } => Ok(()),
            Self::RequestApproval {
                id,
                grant,
                session,
                server,
                tool,
                args_sha256,
                arguments,
                policy,
                requested_at,
                expires_at,
                allowance_ms,
            } => {
                id_ok("approval id", id)?;
                id_ok("grant", grant)?;
                session.as_deref().map_or(Ok(()), |s| id_ok("session", s))?;
                name_ok("server", server)?;
                id_ok("tool", tool)?;
                digest_ok("args_sha256", args_sha256)?;
                arguments
                    .as_ref()
                    .map_or(Ok(()), |a| json_size_ok("arguments", a))?;
                policy_ref_ok(policy)?;
                if expires_at <= requested_at {
                    return Err(ValidationError::ExpiresBeforeRequested);
                }
                if *allowance_ms == Some(0) {
                    return Err(ValidationError::EmptyAllowance);
                }
                Ok(())
            }
            Self::ClaimApproval { id, at: _ } => id_ok("approval id", id),
            Self::DecideApproval { id, by, reason, .. } => {
                id_ok("approval id", id)?;
                id_ok("by", by)?;
                size_ok("reason", reason.len(), MAX_ID * 4)
            }
            Self::PutSession {
                id,
                grant,
                server,
                upstream_session_ids,
                initialize,
                members,
                ..
            } => {
                id_ok("session id", id)?;
                id_ok("grant", grant)?;
                name_ok("server", server)?;
                members_ok(server, members)?;
                if let Some(params) = initialize {
                    if !params.is_object() {
                        return Err(ValidationError::InitializeNotObject);
                    }
                    json_size_ok("initialize", params)?;
                }
                upstream_ids_ok(upstream_session_ids)
            }
            Self::SetSessionUpstream {
                id,
                upstream_session_ids,
            } => {
                id_ok("session id", id)?;
                upstream_ids_ok(upstream_session_ids)
            }
            Self::RemoveSession { id } | Self::ReleaseSession { id, node: _ } => id_ok("session id", id),
            Self::TouchSessions { ids, .. } => {
                size_ok("session ids", ids.len(), MAX_SESSION_BATCH)?;
                ids.iter().try_for_each(|id| id_ok("session id", id))
            }
            Self::ExpireSessions {
                idle_ms,
                after,
                scan,
                at: _,
            } => {
                if *idle_ms == 0 || *scan == 0 {
                    return Err(ValidationError::EmptySessionExpiry);
                }
                size_ok("scan", *scan as usize, MAX_SESSION_BATCH)?;
                after.as_deref().map_or(Ok(()), |id| id_ok("after", id))
            }
            Self::ReportSessionCounts { sessions, .. } => {
                let values = sessions.iter().map(|s| s.counts.len()).sum();
                size_ok("session counts", values, super::MAX_REPORTED_COUNTS)?;
                for report in sessions {
                    id_ok("session id", &report.session)?;
                    report.counts.iter().try_for_each(session_count_ok)?;
                }
                Ok(())
            }
        }
    }
}

fn labels_ok(labels: &std::collections::BTreeMap<String, String>) -> Result<(), ValidationError> {
    size_ok("labels", labels.len(), MAX_ITEMS)?;
    for (key, value) in labels {
        id_ok("label name", key)?;
        size_ok("label value", value.len(), MAX_ID)?;
    }
    Ok(())
}

fn name_ok(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.is_empty() || value.len() > MAX_NAME || !value.chars().all(plain) {
        return Err(ValidationError::BadName {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

fn id_ok(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let printable = |c: char| !c.is_whitespace() && !c.is_control();
    if value.is_empty() || value.len() > MAX_ID || !value.chars().all(printable) {
        return Err(ValidationError::BadId {
            field,
            value: value.chars().take(MAX_ID).collect(),
        });
    }
    Ok(())
}

fn digest_ok(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if value.len() != 64 || !value.bytes().all(lower_hex) {
        return Err(ValidationError::BadDigest { field });
    }
    Ok(())
}

fn size_ok(field: &'static str, size: usize, max: usize) -> Result<(), ValidationError> {
    if size > max {
        return Err(ValidationError::TooLarge { field, size, max });
    }
    Ok(())
}

fn json_size_ok(field: &'static str, value: &serde_json::Value) -> Result<(), ValidationError> {
    // Serializing a Value cannot fail (its keys are strings); a failure would mean "too odd to keep".
    let size = serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len());
    size_ok(field, size, MAX_DOCUMENT)
}

fn finite(field: &'static str, value: f64, non_negative: bool) -> Result<(), ValidationError> {
    if !value.is_finite() || (non_negative && value < 0.0) {
        return Err(ValidationError::BadNumber { field, non_negative });
    }
    Ok(())
}

fn policy_ref_ok(policy: &PolicyRef) -> Result<(), ValidationError> {
    name_ok("policy", &policy.name)?;
    if policy.revision == Some(0) {
        return Err(ValidationError::ZeroRevision);
    }
    Ok(())
}

fn counter_key_ok(key: &CounterKey) -> Result<(), ValidationError> {
    id_ok("counter", &key.counter)?;
    id_ok("partition", &key.partition)?;
    if key.window_len_ms == 0 {
        return Err(ValidationError::EmptyWindow);
    }
    Ok(())
}

fn session_count_ok(count: &SessionCount) -> Result<(), ValidationError> {
    let key = &count.key;
    if !key.member.is_empty() {
        name_ok("member", &key.member)?;
    }
    id_ok("counter scope", &key.scope)?;
    id_ok("counter name", &key.name)?;
    if key.window_len_ms == 0 {
        return Err(ValidationError::EmptyWindow);
    }
    finite("value", count.value, true)
}

fn ceiling_ok(ceiling: &CounterCeiling) -> Result<(), ValidationError> {
    finite("ceiling", ceiling.max, false)
}

/// An aggregate session's members: plain names, each once, the first being the record's `server`.
fn members_ok(server: &str, members: &[String]) -> Result<(), ValidationError> {
    size_ok("members", members.len(), MAX_ITEMS)?;
    for (i, name) in members.iter().enumerate() {
        name_ok("members", name)?;
        if members[..i].contains(name) {
            return Err(ValidationError::MemberTwice { name: name.clone() });
        }
    }
    match members.first() {
        Some(first) if first != server => Err(ValidationError::MembersDisagree),
        _ => Ok(()),
    }
}

fn upstream_ids_ok(ids: &[String]) -> Result<(), ValidationError> {
    size_ok("upstream_session_ids", ids.len(), MAX_ITEMS)?;
    ids.iter().try_for_each(|id| id_ok("upstream session id", id))
}
