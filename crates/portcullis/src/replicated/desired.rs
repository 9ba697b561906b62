//! What a config file asks the store to hold, and the commands that get it there: seeding adds only
//! what the store lacks (the store is the truth once it has something); a reload also proposes
//! what the file changed.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use portcullis_gateway::config::{AdminRoleName, ConfigFile, LoadedConfig};
use portcullis_gateway::state::to_hex;
use portcullis_policy::{Format, Timestamp};
use portcullis_store::{AdminRole, AppRequest, PolicyFormat, PolicyRef, State};
use serde_json::Value;

use super::upstream;

/// The servers, policies and grants a config file describes.
#[derive(Debug, Default)]
pub struct Desired {
    /// Policy name to its text and format.
    pub policies: BTreeMap<String, (String, PolicyFormat)>,
    /// Server name to its upstream JSON and anonymous policy.
    pub servers: BTreeMap<String, (Value, Option<String>)>,
    /// Grant id to the grant.
    pub grants: BTreeMap<String, GrantWanted>,
    /// Admin token name to its hash and role.
    pub admin_tokens: BTreeMap<String, (String, AdminRole)>,
}

/// One `[[grants]]` entry.
#[derive(Debug, PartialEq)]
pub struct GrantWanted {
    pub token_sha256: String,
    pub labels: BTreeMap<String, String>,
    pub server: String,
    /// Every server, `server` first; empty for a grant of one server (stored as before).
    pub servers: Vec<String>,
    pub policy: Option<String>,
}

/// Whether the store's existing records win (seeding) or the file's (an operator's reload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Seed,
    Reload,
}

/// Reads what the config file at `path` (already loaded and checked as `loaded`) describes.
///
/// # Errors
/// When the file or a policy file can't be read again.
pub fn read(path: &Path, loaded: &LoadedConfig) -> anyhow::Result<Desired> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: ConfigFile =
        toml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let mut desired = Desired::default();
    for (name, section) in &file.policies {
        let policy_path = base.join(&section.file);
        let text = std::fs::read_to_string(&policy_path)
            .with_context(|| format!("cannot read policy {name} from {}", policy_path.display()))?;
        let format = format_of(&policy_path, &text);
        desired.policies.insert(name.clone(), (text, format));
    }
    for (name, server) in &loaded.state.servers {
        let anonymous = server.anonymous.as_ref().map(|policy| policy.name.to_string());
        desired
            .servers
            .insert(name.to_string(), (upstream::to_json(&server.upstream), anonymous));
    }
    for (hash, grant) in &loaded.state.grants {
        desired.grants.insert(
            grant.identity.id.clone(),
            GrantWanted {
                token_sha256: to_hex(hash),
                labels: grant.identity.labels.clone(),
                server: grant.server.to_string(),
                servers: {
                    let all = grant.all_servers();
                    if all.len() > 1 {
                        all.iter().map(ToString::to_string).collect()
                    } else {
                        Vec::new()
                    }
                },
                policy: grant.policy.as_ref().map(|policy| policy.name.to_string()),
            },
        );
    }
    for token in &loaded.admin.tokens {
        let role = match token.role {
            AdminRoleName::Viewer => AdminRole::Viewer,
            AdminRoleName::Approver => AdminRole::Approver,
            AdminRoleName::Admin => AdminRole::Admin,
        };
        desired
            .admin_tokens
            .insert(token.name.clone(), (token.token_sha256.clone(), role));
    }
    Ok(desired)
}

fn format_of(path: &Path, text: &str) -> PolicyFormat {
    match Format::from_path(path) {
        Format::Json => PolicyFormat::Json,
        Format::Yaml => PolicyFormat::Yaml,
        Format::Detect if text.trim_start().starts_with('{') => PolicyFormat::Json,
        Format::Detect => PolicyFormat::Yaml,
    }
}

/// The commands that bring `state` to what `desired` asks for, in an order the store accepts
/// (policies, then servers, then the grants that name them).
pub fn commands(
    desired: &Desired,
    state: &State,
    mode: Mode,
    author: &str,
    at: Timestamp,
) -> Vec<AppRequest> {
    let mut out = Vec::new();
    for (name, (text, format)) in &desired.policies {
        let current = state.policies.get(name);
        let revision = current.map_or(0, portcullis_store::PolicyHistory::current_revision);
        let same = current
            .and_then(|history| history.latest())
            .is_some_and(|latest| &latest.text == text && latest.format == *format);
        let wanted = match mode {
            Mode::Seed => revision == 0,
            Mode::Reload => !same,
        };
        if wanted {
            // Compare-and-set: two nodes seeding or reloading at once add one version, not two.
            out.push(AppRequest::PutPolicy {
                name: name.clone(),
                text: text.clone(),
                format: *format,
                author: author.to_owned(),
                at,
                expected_revision: Some(revision),
                shadow: false,
            });
        }
    }
    for (name, (upstream, anonymous)) in &desired.servers {
        let wanted = match state.servers.get(name) {
            None => true,
            Some(_) if mode == Mode::Seed => false,
            Some(record) => &record.upstream != upstream || &record.anonymous_policy != anonymous,
        };
        if wanted {
            out.push(AppRequest::PutServer {
                name: name.clone(),
                upstream: upstream.clone(),
                anonymous_policy: anonymous.clone(),
                at,
            });
        }
    }
    for (id, grant) in &desired.grants {
        match state.grants.get(id) {
            None => out.push(AppRequest::PutGrant {
                id: id.clone(),
                token_sha256: grant.token_sha256.clone(),
                labels: grant.labels.clone(),
                server: grant.server.clone(),
                servers: grant.servers.clone(),
                policy: grant.policy.as_ref().map(|name| PolicyRef {
                    name: name.clone(),
                    revision: None,
                }),
                at,
            }),
            Some(record) if mode == Mode::Reload => {
                let same = record.token_sha256 == grant.token_sha256
                    && record.labels == grant.labels
                    && record.server == grant.server
                    && record.servers == grant.servers
                    && record.policy.as_ref().map(|policy| &policy.name) == grant.policy.as_ref();
                if !same {
                    tracing::warn!(
                        grant = %id,
                        "the config file changed a grant the store already holds; grants are immutable: \
                         give the new grant a new id"
                    );
                }
            }
            Some(_) => {}
        }
    }
    // Tokens the file names and the store lacks; the admin API manages them from then on.
    for (name, (token_sha256, role)) in &desired.admin_tokens {
        if !state.admin_tokens.contains_key(name) {
            out.push(AppRequest::PutAdminToken {
                name: name.clone(),
                token_sha256: token_sha256.clone(),
                role: *role,
                at,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(policy_text: &str) -> Desired {
        let mut desired = Desired::default();
        desired
            .policies
            .insert("p".to_owned(), (policy_text.to_owned(), PolicyFormat::Json));
        desired.servers.insert(
            "demo".to_owned(),
            (
                serde_json::json!({"type": "http", "url": "http://127.0.0.1:1/mcp"}),
                None,
            ),
        );
        desired.grants.insert(
            "g".to_owned(),
            GrantWanted {
                token_sha256: "ab".repeat(32),
                labels: BTreeMap::new(),
                server: "demo".to_owned(),
                servers: Vec::new(),
                policy: Some("p".to_owned()),
            },
        );
        desired
    }

    fn apply(state: &mut State, commands: Vec<AppRequest>) {
        for (index, command) in (1..).zip(commands) {
            state.apply(index, command).into_result().unwrap();
        }
    }

    #[test]
    fn seeding_adds_only_what_is_missing_and_reload_proposes_changed_policies() {
        let v1 = r#"{"version": "1", "default": "allow"}"#;
        let v2 = r#"{"version": "1", "default": "deny"}"#;
        let mut state = State::default();
        let seed = commands(&desired(v1), &state, Mode::Seed, "test", Timestamp(1));
        assert_eq!(
            seed.iter().map(AppRequest::op).collect::<Vec<_>>(),
            ["put_policy", "put_server", "put_grant"]
        );
        apply(&mut state, seed);
        assert!(commands(&desired(v1), &state, Mode::Seed, "test", Timestamp(2)).is_empty());
        // A stale file on a restarting node doesn't roll the cluster back.
        assert!(commands(&desired(v2), &state, Mode::Seed, "test", Timestamp(2)).is_empty());
        assert!(commands(&desired(v1), &state, Mode::Reload, "test", Timestamp(2)).is_empty());
        let reload = commands(&desired(v2), &state, Mode::Reload, "test", Timestamp(3));
        assert_eq!(reload.len(), 1);
        assert!(
            matches!(&reload[0], AppRequest::PutPolicy { expected_revision: Some(1), text, .. } if text == v2)
        );
        apply(&mut state, reload);
        assert_eq!(state.policies["p"].current_revision(), 2);
    }
}
