//! `PolicyService`: validate, roll out, inspect, roll back and dry-run policies.

mod convert;
mod diff;
mod explain;
mod watch;

use portcullis_policy::compile_str;
use portcullis_proto::admin as pb;
use portcullis_proto::admin::policy_service_server::PolicyService;
use portcullis_store::{AdminRole, AppRequest, Applied, PolicyHistory, PolicyVersion};
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::context::AdminContext;
use crate::status;

/// The policy service of one node.
pub struct Policies {
    context: AdminContext,
}

impl Policies {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    /// The history of `name` in this node's applied state.
    fn history(&self, name: &str) -> Result<PolicyHistory, Status> {
        let snapshot = self.context.store.current();
        snapshot
            .state
            .policies
            .get(name)
            .cloned()
            .ok_or_else(|| status::not_found("policy", name))
    }

    /// Proposes `text` as the next version (or the shadow) of `name`, and reports what was stored.
    async fn store(&self, caller: &Caller, put: Put) -> Result<pb::PutPolicyResponse, Status> {
        let previous = self
            .context
            .store
            .current()
            .state
            .policies
            .get(&put.name)
            .and_then(|history| history.latest().cloned());
        let command = AppRequest::PutPolicy {
            name: put.name.clone(),
            text: put.text.clone(),
            format: put.format,
            author: caller.name.clone(),
            at: self.context.now(),
            expected_revision: put.expected_revision,
            shadow: put.shadow,
        };
        let Applied::PolicyVersion { name, revision, .. } =
            status::applied(self.context.store.propose(command).await)?
        else {
            return Err(Status::internal(
                "the store answered a policy put with another change",
            ));
        };
        let history = self.history(&name)?;
        let stored = if put.shadow {
            history.shadow
        } else {
            history.revision(revision).cloned()
        };
        let diff = diff_from(previous.as_deref(), &put.name, revision, &put.text);
        self.context.audit(
            &caller.name,
            put.action,
            &format!("policy {name}@{revision}"),
            put.shadow.then(|| "shadow".to_owned()),
        );
        Ok(pb::PutPolicyResponse {
            name,
            revision,
            diff,
            stored: true,
            log_index: stored.map_or(0, |version| version.log_index),
            mode: if put.shadow {
                pb::PutMode::Shadow
            } else {
                pb::PutMode::Active
            }
            .into(),
        })
    }
}

/// One write of a policy text.
struct Put {
    name: String,
    text: String,
    format: portcullis_store::PolicyFormat,
    expected_revision: Option<u64>,
    shadow: bool,
    /// The RPC, for the audit record.
    action: &'static str,
}

fn diff_from(previous: Option<&PolicyVersion>, name: &str, revision: u64, text: &str) -> String {
    match previous {
        Some(previous) => diff::unified(
            &previous.text,
            text,
            &format!("{name}@{}", previous.revision),
            &format!("{name}@{revision}"),
        ),
        None => diff::unified("", text, "/dev/null", &format!("{name}@{revision}")),
    }
}

/// Compiles `text`, or `INVALID_ARGUMENT` listing every error with its path.
fn compile(
    text: &str,
    format: portcullis_store::PolicyFormat,
) -> Result<portcullis_policy::CompiledPolicy, Status> {
    compile_str(text, convert::engine(format)).map_err(|errors| {
        let listed: Vec<String> = convert::errors(&errors)
            .into_iter()
            .map(|error| format!("{}: {} ({})", error.path, error.message, error.hint))
            .collect();
        Status::invalid_argument(format!(
            "the policy has {} error(s):\n{}",
            listed.len(),
            listed.join("\n")
        ))
    })
}

#[tonic::async_trait]
impl PolicyService for Policies {
    async fn validate_policy(
        &self,
        request: Request<pb::ValidatePolicyRequest>,
    ) -> Result<Response<pb::ValidatePolicyResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let request = request.into_inner();
        let format = convert::format(request.format, &request.text);
        let response = match compile_str(&request.text, convert::engine(format)) {
            Ok(policy) => pb::ValidatePolicyResponse {
                valid: true,
                errors: Vec::new(),
                tools: policy.tool_names().map(str::to_owned).collect(),
            },
            Err(errors) => pb::ValidatePolicyResponse {
                valid: false,
                errors: convert::errors(&errors),
                tools: Vec::new(),
            },
        };
        Ok(Response::new(response))
    }

    async fn put_policy(
        &self,
        request: Request<pb::PutPolicyRequest>,
    ) -> Result<Response<pb::PutPolicyResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let request = request.into_inner();
        let format = convert::format(request.format, &request.text);
        compile(&request.text, format)?;
        let mode = pb::PutMode::try_from(request.mode).unwrap_or(pb::PutMode::Unspecified);
        if mode == pb::PutMode::DryRun {
            let history = self
                .context
                .store
                .current()
                .state
                .policies
                .get(&request.name)
                .cloned();
            let current = history.as_ref().map_or(0, PolicyHistory::current_revision);
            if let Some(expected) = request.expected_revision
                && expected != current
            {
                return Err(Status::failed_precondition(format!(
                    "policy {:?} is at revision {current}, not {expected}: reload it, merge, and try again",
                    request.name
                )));
            }
            let previous = history.as_ref().and_then(PolicyHistory::latest);
            let revision = current.saturating_add(1);
            return Ok(Response::new(pb::PutPolicyResponse {
                diff: diff_from(
                    previous.map(AsRef::as_ref),
                    &request.name,
                    revision,
                    &request.text,
                ),
                name: request.name,
                revision,
                stored: false,
                log_index: 0,
                mode: pb::PutMode::DryRun.into(),
            }));
        }
        let put = Put {
            name: request.name,
            text: request.text,
            format,
            expected_revision: request.expected_revision,
            shadow: mode == pb::PutMode::Shadow,
            action: "PutPolicy",
        };
        Ok(Response::new(self.store(&caller, put).await?))
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let request = request.into_inner();
        let history = self.history(&request.name)?;
        let version = match request.revision {
            Some(revision) => history.revision(revision),
            None => history.latest(),
        }
        .ok_or_else(|| {
            Status::not_found(format!(
                "policy {:?} has no revision {}",
                request.name,
                request
                    .revision
                    .map_or_else(|| "yet".to_owned(), |r| r.to_string())
            ))
        })?;
        Ok(Response::new(convert::policy(
            &request.name,
            &history,
            version,
            true,
        )))
    }

    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let snapshot = self.context.store.current();
        let policies = snapshot
            .state
            .policies
            .iter()
            .map(|(name, history)| {
                let latest = history.latest();
                pb::PolicySummary {
                    name: name.clone(),
                    revision: history.current_revision(),
                    author: latest.map(|v| v.author.clone()).unwrap_or_default(),
                    proposed_at_ms: latest.map_or(0, |v| v.proposed_at.0),
                    shadow_revision: history.shadow.as_ref().map(|shadow| shadow.revision),
                }
            })
            .collect();
        Ok(Response::new(pb::ListPoliciesResponse { policies }))
    }

    async fn policy_history(
        &self,
        request: Request<pb::PolicyHistoryRequest>,
    ) -> Result<Response<pb::PolicyHistoryResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let name = request.into_inner().name;
        let history = self.history(&name)?;
        let versions = history
            .versions
            .iter()
            .map(|version| convert::policy(&name, &history, version, false))
            .collect();
        Ok(Response::new(pb::PolicyHistoryResponse { versions }))
    }

    async fn diff_policy(
        &self,
        request: Request<pb::DiffPolicyRequest>,
    ) -> Result<Response<pb::DiffPolicyResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let request = request.into_inner();
        let history = self.history(&request.name)?;
        let to = request.to_revision.unwrap_or_else(|| history.current_revision());
        let version = |revision: u64| {
            history.revision(revision).ok_or_else(|| {
                Status::not_found(format!("policy {:?} has no revision {revision}", request.name))
            })
        };
        let (from, to) = (version(request.from_revision)?, version(to)?);
        let diff = diff::unified(
            &from.text,
            &to.text,
            &format!("{}@{}", request.name, from.revision),
            &format!("{}@{}", request.name, to.revision),
        );
        Ok(Response::new(pb::DiffPolicyResponse { diff }))
    }

    async fn rollback_policy(
        &self,
        request: Request<pb::RollbackPolicyRequest>,
    ) -> Result<Response<pb::PutPolicyResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let request = request.into_inner();
        let history = self.history(&request.name)?;
        let target = history.revision(request.to_revision).ok_or_else(|| {
            Status::not_found(format!(
                "policy {:?} has no revision {}",
                request.name, request.to_revision
            ))
        })?;
        let put = Put {
            name: request.name,
            text: target.text.clone(),
            format: target.format,
            expected_revision: Some(
                request
                    .expected_revision
                    .unwrap_or_else(|| history.current_revision()),
            ),
            shadow: false,
            action: "RollbackPolicy",
        };
        Ok(Response::new(self.store(&caller, put).await?))
    }

    async fn explain_call(
        &self,
        request: Request<pb::ExplainCallRequest>,
    ) -> Result<Response<pb::ExplainCallResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let request = request.into_inner();
        let policy = if request.text.is_empty() {
            let history = self.history(&request.name)?;
            let version = match request.revision {
                Some(revision) => history.revision(revision),
                None => history.latest(),
            }
            .ok_or_else(|| status::not_found("policy version of", &request.name))?;
            compile(&version.text, version.format)?.with_revision(version.revision)
        } else {
            compile(&request.text, convert::format(request.format, &request.text))?
        };
        Ok(Response::new(explain::explain(
            &policy,
            &request,
            self.context.now(),
        )?))
    }

    type WatchPoliciesStream = watch::PolicyStream;

    async fn watch_policies(
        &self,
        request: Request<pb::WatchPoliciesRequest>,
    ) -> Result<Response<Self::WatchPoliciesStream>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let filter = request.into_inner().name;
        Ok(Response::new(watch::stream(
            self.context.store.subscribe(),
            filter,
        )))
    }
}
