//! From the store's applied state to the gateway's snapshot: compile each policy version once, index
//! grants by token hash, and publish on the gateway's `StatePublisher`.
//!
//! A version that fails to compile (the store validates before proposing, so only a node running an
//! older policy engine could see this) never replaces a good one: the newest version that compiles
//! keeps serving, and the failure is logged once.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_gateway::state::{
    GatewayState, Grant, PolicyRef as GatewayPolicy, ServerEntry, StatePublisher, parse_token_hash,
};
use portcullis_policy::{CompiledPolicy, Identity, compile_str};
use portcullis_store::{PolicyHistory, PolicyVersion, State, StateSnapshot};
use tokio::sync::watch;

use super::upstream;

/// Builds gateway snapshots, remembering compiled policy versions between them.
#[derive(Default)]
pub struct Adapter {
    /// Name and revision to the compiled version (`None`: it did not compile).
    compiled: HashMap<(String, u64), Option<Arc<CompiledPolicy>>>,
    /// Shadows by name and the log index that stored them (a shadow's revision is the one the next
    /// version will get, so it can't share the versions' cache).
    shadows: HashMap<(String, u64), Option<Arc<CompiledPolicy>>>,
}

impl Adapter {
    /// The gateway's view of `state`.
    pub fn build(&mut self, state: &State) -> GatewayState {
        let mut servers = HashMap::new();
        for (name, record) in state.servers.iter() {
            let upstream = match upstream::from_json(&record.upstream) {
                Ok(upstream) => upstream,
                Err(error) => {
                    tracing::error!(server = %name, error = %format!("{error:#}"), "skipping a server whose upstream this node can't use");
                    continue;
                }
            };
            let anonymous = record
                .anonymous_policy
                .as_deref()
                .and_then(|policy| self.policy(state, policy, None));
            let name: Arc<str> = Arc::from(name.as_str());
            let entry = ServerEntry {
                name: Arc::clone(&name),
                upstream,
                anonymous,
            };
            servers.insert(name, Arc::new(entry));
        }
        let mut grants = HashMap::new();
        for (id, record) in state.grants.iter() {
            if record.revoked_at.is_some() {
                continue;
            }
            let (Some(hash), Some(server)) = (
                parse_token_hash(&record.token_sha256),
                servers.get(record.server.as_str()),
            ) else {
                tracing::warn!(grant = %id, "skipping a grant with a bad token hash or an unknown server");
                continue;
            };
            // A missing or uncompilable policy leaves `None`, which denies every call: fail closed.
            let policy = record
                .policy
                .as_ref()
                .and_then(|policy| self.policy(state, &policy.name, policy.revision));
            let grant = Grant {
                identity: Identity {
                    id: id.clone(),
                    labels: record.labels.clone(),
                },
                server: Arc::clone(&server.name),
                // A server the state no longer has is left out: that part of the grant admits nothing.
                servers: record
                    .covered()
                    .filter_map(|name| servers.get(name).map(|s| Arc::clone(&s.name)))
                    .collect(),
                policy,
            };
            grants.insert(hash, Arc::new(grant));
        }
        GatewayState { servers, grants }
    }

    /// A pinned revision, or the newest version that compiles.
    fn policy(&mut self, state: &State, name: &str, pinned: Option<u64>) -> Option<GatewayPolicy> {
        let history = state.policies.get(name)?;
        let compiled = match pinned {
            Some(revision) => self.compiled(name, history, revision),
            None => (1..=history.current_revision())
                .rev()
                .find_map(|revision| self.compiled(name, history, revision)),
        }?;
        let shadow = history.shadow.as_ref().and_then(|shadow| {
            let key = (name.to_owned(), shadow.log_index);
            self.shadows
                .entry(key)
                .or_insert_with(|| compile(name, shadow))
                .clone()
        });
        Some(GatewayPolicy {
            name: Arc::from(name),
            policy: compiled,
            shadow,
        })
    }

    fn compiled(
        &mut self,
        name: &str,
        history: &PolicyHistory,
        revision: u64,
    ) -> Option<Arc<CompiledPolicy>> {
        let key = (name.to_owned(), revision);
        if let Some(done) = self.compiled.get(&key) {
            return done.clone();
        }
        let version = history.revision(revision)?;
        let result = compile(name, version);
        self.compiled.insert(key, result.clone());
        result
    }
}

/// Compiles one stored version (or shadow) under its revision; logs a failure.
fn compile(name: &str, version: &PolicyVersion) -> Option<Arc<CompiledPolicy>> {
    let revision = version.revision;
    match compile_str(&version.text, version.format.engine_format()) {
        Ok(policy) => Some(Arc::new(policy.with_revision(revision))),
        Err(errors) => {
            tracing::error!(
                policy = %name,
                revision,
                errors = errors.len(),
                first = %errors.iter().next().map(ToString::to_string).unwrap_or_default(),
                "a policy version does not compile on this node; keeping the previous version"
            );
            None
        }
    }
}

/// Publishes a new gateway snapshot after each applied change to servers, policies or grants,
/// until the store's channel closes.
pub async fn follow(
    mut applied: watch::Receiver<Arc<StateSnapshot>>,
    publisher: StatePublisher,
    mut adapter: Adapter,
    mut last: State,
) {
    while applied.changed().await.is_ok() {
        let snapshot = Arc::clone(&applied.borrow_and_update());
        let state = &snapshot.state;
        // Counters, approvals and sessions change often and don't shape the gateway's snapshot.
        if Arc::ptr_eq(&state.servers, &last.servers)
            && Arc::ptr_eq(&state.policies, &last.policies)
            && Arc::ptr_eq(&state.grants, &last.grants)
        {
            continue;
        }
        publisher.send_replace(Arc::new(adapter.build(state)));
        tracing::info!(applied_index = ?snapshot.applied_index, "published the replicated state to the data plane");
        last = state.clone();
    }
}

#[cfg(test)]
mod tests {
    use portcullis_policy::Timestamp;
    use portcullis_store::{AppRequest, PolicyFormat, PolicyRef};

    use super::*;

    fn put_policy(state: &mut State, index: u64, text: &str) {
        let command = AppRequest::PutPolicy {
            name: "p".to_owned(),
            text: text.to_owned(),
            format: PolicyFormat::Json,
            author: "test".to_owned(),
            at: Timestamp(1),
            expected_revision: None,
            shadow: false,
        };
        state.apply(index, command).into_result().unwrap();
    }

    fn state_with_grant() -> State {
        let mut state = State::default();
        put_policy(&mut state, 1, r#"{"version": "1", "default": "allow"}"#);
        let server = AppRequest::PutServer {
            name: "demo".to_owned(),
            upstream: serde_json::json!({"type": "http", "url": "http://127.0.0.1:1/mcp"}),
            anonymous_policy: None,
            at: Timestamp(1),
        };
        state.apply(2, server).into_result().unwrap();
        let grant = AppRequest::PutGrant {
            id: "g".to_owned(),
            token_sha256: "ab".repeat(32),
            labels: std::collections::BTreeMap::new(),
            server: "demo".to_owned(),
            servers: Vec::new(),
            policy: Some(PolicyRef {
                name: "p".to_owned(),
                revision: None,
            }),
            at: Timestamp(1),
        };
        state.apply(3, grant).into_result().unwrap();
        state
    }

    #[test]
    fn grants_get_the_newest_compiling_version_and_revoked_grants_vanish() {
        let mut state = state_with_grant();
        let mut adapter = Adapter::default();
        let hash = parse_token_hash(&"ab".repeat(32)).unwrap();
        let built = adapter.build(&state);
        assert_eq!(built.grants[&hash].policy.as_ref().unwrap().policy.revision(), 1);

        put_policy(&mut state, 4, r#"{"version": "1", "default": "deny"}"#);
        let built = adapter.build(&state);
        assert_eq!(built.grants[&hash].policy.as_ref().unwrap().policy.revision(), 2);

        // A version this node can't compile (pushed into the history directly, as a newer engine's
        // policy would arrive) leaves revision 2 serving.
        let policies = Arc::make_mut(&mut state.policies);
        let history = policies.get_mut("p").unwrap();
        let mut broken = (*history.versions[1]).clone();
        broken.revision = 3;
        broken.text = r#"{"version": "1", "default": "maybe"}"#.to_owned();
        history.versions.push(Arc::new(broken));
        let built = adapter.build(&state);
        assert_eq!(built.grants[&hash].policy.as_ref().unwrap().policy.revision(), 2);
        assert_eq!(built.servers.len(), 1);

        let revoke = AppRequest::RevokeGrant {
            id: "g".to_owned(),
            at: Timestamp(2),
        };
        state.apply(5, revoke).into_result().unwrap();
        assert!(adapter.build(&state).grants.is_empty());
    }

    #[test]
    fn a_shadow_rides_beside_the_active_version_until_an_ordinary_put_clears_it() {
        let mut state = state_with_grant();
        let mut adapter = Adapter::default();
        let hash = parse_token_hash(&"ab".repeat(32)).unwrap();
        let shadow = AppRequest::PutPolicy {
            name: "p".to_owned(),
            text: r#"{"version": "1", "default": "deny"}"#.to_owned(),
            format: PolicyFormat::Json,
            author: "test".to_owned(),
            at: Timestamp(1),
            expected_revision: None,
            shadow: true,
        };
        state.apply(4, shadow).into_result().unwrap();
        let built = adapter.build(&state);
        let policy = built.grants[&hash].policy.clone().unwrap();
        assert_eq!(policy.policy.revision(), 1, "the shadow is not enforced");
        assert_eq!(policy.shadow.unwrap().revision(), 2);

        put_policy(
            &mut state,
            5,
            r#"{"version": "1", "default": "deny", "tools": {"echo": {}}}"#,
        );
        let built = adapter.build(&state);
        let policy = built.grants[&hash].policy.clone().unwrap();
        assert_eq!(policy.policy.revision(), 2);
        assert!(policy.shadow.is_none());
    }
}
