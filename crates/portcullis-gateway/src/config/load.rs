//! From TOML text to settings and a state snapshot: parse strictly, then resolve names and compile
//! policies, collecting every problem before giving up.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use portcullis_policy::{Format, Identity, compile_str};

use super::file::{ConfigFile, ServerSection, UpstreamSection};
use super::{AuditSettings, ConfigError, ListenAddrs, LoadedConfig, Settings};
use crate::state::{GatewayState, Grant, PolicyRef, ServerEntry, UpstreamSpec, parse_token_hash};

/// Loads the config file at `path`; relative paths inside it are resolved against its directory.
///
/// # Errors
/// A [`ConfigError`] naming the file, key path or policy location at fault.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    load_str(&text, base)
}

/// Loads a config from its text; relative paths are resolved against `base`.
///
/// # Errors
/// A [`ConfigError`] naming the key path or policy location at fault.
pub fn load_str(text: &str, base: &Path) -> Result<LoadedConfig, ConfigError> {
    let file = parse(text)?;
    let mut problems = Vec::new();
    let policies = compile_policies(&file, base, &mut problems);
    let servers = resolve_servers(&file, base, &policies, &mut problems);
    let grants = resolve_grants(&file, &servers, &policies, &mut problems);
    for (key, secs) in [
        ("upstream_timeout_secs", file.limits.upstream_timeout_secs),
        ("request_timeout_secs", file.limits.request_timeout_secs),
    ] {
        if secs == 0 {
            problems.push(format!("limits.{key}: must be at least 1 (seconds)"));
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let settings = Settings {
        node_id: file.node.id.clone(),
        max_body_bytes: file.limits.max_body_bytes,
        idle_session_timeout: Duration::from_secs(file.limits.idle_session_timeout_secs),
        hibernate_after: Duration::from_millis(file.limits.hibernate_after_ms),
        upstream_timeout: Duration::from_secs(file.limits.upstream_timeout_secs),
        request_timeout: Duration::from_secs(file.limits.request_timeout_secs),
        session_queue: file.limits.session_queue.max(1),
        max_sessions: file.limits.max_sessions,
        allowed_origins: file.security.allowed_origins.clone(),
        allowed_hosts: file.security.allowed_hosts.clone(),
        denial: file.enforcement.denial,
        audit_payloads: file.audit.include_payloads,
        audit_fail_closed: file.audit.fail_closed,
        audit_wait_for_sync: file.audit.wait_for_sync,
        sse_keepalive: Duration::from_secs(file.limits.sse_keepalive_secs.max(1)),
        sse_replay_window: Duration::from_secs(file.limits.sse_replay_window_secs),
        approval_heartbeat: Duration::from_secs(file.limits.approval_heartbeat_secs.max(1)),
    };
    Ok(LoadedConfig {
        settings,
        state: GatewayState { servers, grants },
        listen: ListenAddrs {
            agent: file.listeners.agent,
            ops: file.listeners.ops,
        },
        audit: AuditSettings {
            enabled: file.audit.enabled,
            path: base.join(&file.audit.path),
            sync_interval: Duration::from_millis(file.audit.sync_interval_ms),
        },
        admin: file.admin,
    })
}

fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    let syntax = |path: String, err: toml::de::Error| ConfigError::Syntax {
        path,
        message: match err.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                format!("{} (line {line}, column {column})", err.message())
            }
            None => err.message().to_owned(),
        },
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| syntax(".".to_owned(), e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        syntax(path, e.into_inner())
    })
}

fn compile_policies(
    file: &ConfigFile,
    base: &Path,
    problems: &mut Vec<String>,
) -> HashMap<String, PolicyRef> {
    let mut out = HashMap::new();
    for (name, section) in &file.policies {
        let path = base.join(&section.file);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!(
                    "policies.{name}.file: cannot read {}: {e}",
                    path.display()
                ));
                continue;
            }
        };
        match compile_str(&text, Format::from_path(&path)) {
            Ok(policy) => {
                let policy = PolicyRef {
                    name: Arc::from(name.as_str()),
                    policy: Arc::new(policy),
                    shadow: None,
                };
                out.insert(name.clone(), policy);
            }
            Err(errors) => {
                for error in errors.iter() {
                    problems.push(format!(
                        "policies.{name} ({}): {error} (hint: {})",
                        path.display(),
                        error.hint
                    ));
                }
            }
        }
    }
    out
}

fn resolve_servers(
    file: &ConfigFile,
    base: &Path,
    policies: &HashMap<String, PolicyRef>,
    problems: &mut Vec<String>,
) -> HashMap<Arc<str>, Arc<ServerEntry>> {
    let mut out = HashMap::new();
    for (name, section) in &file.servers {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(format!(
                "servers.{name}: a server name may hold only letters, digits, '-' and '_' (it is a URL segment)"
            ));
            continue;
        }
        let anonymous = anonymous_policy(name, section, policies, problems);
        let upstream = upstream(name, &section.upstream, base, problems);
        let name: Arc<str> = Arc::from(name.as_str());
        let entry = ServerEntry {
            name: Arc::clone(&name),
            upstream,
            anonymous,
        };
        out.insert(name, Arc::new(entry));
    }
    out
}

fn anonymous_policy(
    server: &str,
    section: &ServerSection,
    policies: &HashMap<String, PolicyRef>,
    problems: &mut Vec<String>,
) -> Option<PolicyRef> {
    let name = section.anonymous_policy.as_ref()?;
    let found = policies.get(name).cloned();
    if found.is_none() {
        problems.push(format!(
            "servers.{server}.anonymous_policy: no policy named {name:?} under [policies]"
        ));
    }
    found
}

fn upstream(name: &str, section: &UpstreamSection, base: &Path, problems: &mut Vec<String>) -> UpstreamSpec {
    match section {
        UpstreamSection::Stdio {
            command,
            args,
            env,
            cwd,
        } => UpstreamSpec::Stdio {
            command: command.clone(),
            args: args.clone(),
            env: env.clone(),
            cwd: cwd.as_ref().map(|c| base.join(c)),
        },
        UpstreamSection::Http { url } => {
            check_url(name, url, problems);
            UpstreamSpec::Http { url: url.clone() }
        }
        UpstreamSection::Sse { url } => {
            check_url(name, url, problems);
            UpstreamSpec::Sse { url: url.clone() }
        }
    }
}

fn check_url(name: &str, url: &str, problems: &mut Vec<String>) {
    if !url.starts_with("http://") {
        problems.push(format!(
            "servers.{name}.upstream.url: {url:?} must start with http:// (https upstreams are not supported yet)"
        ));
    }
}

fn resolve_grants(
    file: &ConfigFile,
    servers: &HashMap<Arc<str>, Arc<ServerEntry>>,
    policies: &HashMap<String, PolicyRef>,
    problems: &mut Vec<String>,
) -> HashMap<crate::state::TokenHash, Arc<Grant>> {
    let mut out = HashMap::new();
    for (i, section) in file.grants.iter().enumerate() {
        let at = format!("grants[{i}]");
        let Some(hash) = parse_token_hash(&section.token_sha256) else {
            problems.push(format!(
                "{at}.token_sha256: expected 64 hex digits (the SHA-256 of the token)"
            ));
            continue;
        };
        let Some(listed) = grant_servers(section, servers, &at, problems) else {
            continue;
        };
        let policy = match &section.policy {
            Some(name) => match policies.get(name) {
                Some(policy) => Some(policy.clone()),
                None => {
                    problems.push(format!("{at}.policy: no policy named {name:?} under [policies]"));
                    continue;
                }
            },
            None => None,
        };
        let grant = Grant {
            identity: Identity {
                id: section.id.clone(),
                labels: section.labels.clone(),
            },
            server: Arc::clone(&listed[0]),
            servers: listed,
            policy,
        };
        if out.insert(hash, Arc::new(grant)).is_some() {
            problems.push(format!(
                "{at}.token_sha256: the same token is used by another grant"
            ));
        }
    }
    out
}

/// The servers a grant names (`server` first, then `servers`), each known and listed once; `None`
/// after recording what is wrong.
fn grant_servers(
    section: &super::file::GrantSection,
    servers: &HashMap<Arc<str>, Arc<ServerEntry>>,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<Arc<str>>> {
    let named = section.server.iter().map(|s| (format!("{at}.server"), s));
    let listed = section
        .servers
        .iter()
        .enumerate()
        .map(|(j, s)| (format!("{at}.servers[{j}]"), s));
    let mut out: Vec<Arc<str>> = Vec::new();
    let mut ok = true;
    for (path, name) in named.chain(listed) {
        match servers.get(name.as_str()) {
            Some(server) if out.contains(&server.name) => {
                problems.push(format!("{path}: server {name:?} is listed twice"));
                ok = false;
            }
            Some(server) => out.push(Arc::clone(&server.name)),
            None => {
                problems.push(format!("{path}: no server named {name:?} under [servers]"));
                ok = false;
            }
        }
    }
    if ok && out.is_empty() {
        problems.push(format!(
            "{at}: name the server it may use (server = \"...\" or servers = [...])"
        ));
        ok = false;
    }
    ok.then_some(out)
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
