//! `SessionService`: agent sessions on every node (each node lists its own), and ending one on
//! whichever node holds it.

use portcullis_proto::admin as pb;
use portcullis_proto::admin::session_service_client::SessionServiceClient;
use portcullis_proto::admin::session_service_server::SessionService;
use portcullis_store::AdminRole;
use tonic::{Code, Request, Response, Status};

use crate::auth::Caller;
use crate::context::AdminContext;
use crate::fanout;

/// The session service of one node.
pub struct Sessions {
    context: AdminContext,
}

impl Sessions {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    /// The sessions this node holds, of `grant` (all when empty).
    fn own(&self, grant: &str) -> Vec<pb::Session> {
        let node = self.context.store.node_id();
        self.context
            .local
            .sessions()
            .into_iter()
            .filter(|session| grant.is_empty() || session.grant == grant)
            .map(|session| pb::Session {
                id: session.id,
                node,
                grant: session.grant,
                server: session.server,
                age_ms: session.age_ms,
                calls: session.calls,
            })
            .collect()
    }
}

#[tonic::async_trait]
impl SessionService for Sessions {
    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let mut sessions = self.own(&request.get_ref().grant);
        if !fanout::is_local_scope(&request) {
            let ask = request.get_ref().clone();
            let answers = fanout::ask_peers(&self.context, fanout::authorization(&request), |channel| {
                let ask = ask.clone();
                async move {
                    let response = SessionServiceClient::new(channel).list_sessions(ask).await?;
                    Ok(response.into_inner().sessions)
                }
            })
            .await;
            let mut unreachable = Vec::new();
            for (node, answer) in answers {
                match answer {
                    Ok(theirs) => sessions.extend(theirs),
                    Err(error) => unreachable.push(format!("node {node}: {error}")),
                }
            }
            if !unreachable.is_empty() {
                // A partial list would read as "no such session"; say which nodes are missing.
                return Err(Status::unavailable(format!(
                    "some nodes could not be asked for their sessions: {}",
                    unreachable.join("; ")
                )));
            }
        }
        sessions.sort_by(|a, b| (a.node, &a.id).cmp(&(b.node, &b.id)));
        Ok(Response::new(pb::ListSessionsResponse { sessions }))
    }

    async fn end_session(
        &self,
        request: Request<pb::EndSessionRequest>,
    ) -> Result<Response<pb::EndSessionResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let id = request.get_ref().id.clone();
        if id.is_empty() {
            return Err(Status::invalid_argument("the session id is required"));
        }
        if self.context.local.end_session(&id) {
            self.context
                .audit(&caller.name, "end_session", &format!("session {id}"), None);
            return Ok(Response::new(pb::EndSessionResponse {}));
        }
        if !fanout::is_local_scope(&request) {
            let ask = request.get_ref().clone();
            let answers = fanout::ask_peers(&self.context, fanout::authorization(&request), |channel| {
                let ask = ask.clone();
                async move {
                    match SessionServiceClient::new(channel).end_session(ask).await {
                        Ok(_) => Ok(true),
                        Err(status) if status.code() == Code::NotFound => Ok(false),
                        Err(status) => Err(status),
                    }
                }
            })
            .await;
            if answers.values().any(|answer| matches!(answer, Ok(true))) {
                return Ok(Response::new(pb::EndSessionResponse {}));
            }
            let failed: Vec<&String> = answers
                .values()
                .filter_map(|answer| answer.as_ref().err())
                .collect();
            if !failed.is_empty() {
                return Err(Status::unavailable(format!(
                    "session {id:?} is not on the nodes that answered, and some could not be asked: {}",
                    failed
                        .iter()
                        .map(|error| error.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
        }
        Err(Status::not_found(format!("no session {id:?} on any node")))
    }
}
