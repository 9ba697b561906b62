//! `ServerService`: register, update, inspect and remove the upstream servers the gateway fronts.

use portcullis_gateway::config::UpstreamSection;
use portcullis_proto::admin as pb;
use portcullis_proto::admin::server_service_server::ServerService;
use portcullis_store::{AdminRole, AppRequest, ServerRecord};
use serde::Deserialize as _;
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::context::AdminContext;
use crate::status;

/// The server service of one node.
pub struct Servers {
    context: AdminContext,
}

impl Servers {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    fn server(&self, name: &str) -> Result<pb::Server, Status> {
        self.context
            .store
            .current()
            .state
            .servers
            .get(name)
            .map(|record| to_proto(name, record))
            .ok_or_else(|| status::not_found("server", name))
    }
}

fn to_proto(name: &str, record: &ServerRecord) -> pb::Server {
    pb::Server {
        name: name.to_owned(),
        upstream_json: record.upstream.to_string(),
        anonymous_policy: record.anonymous_policy.clone().unwrap_or_default(),
        updated_at_ms: record.updated_at.0,
    }
}

/// Parses `text` as an upstream the gateway can run, with the config file's rules, so a server
/// the gateway could not start is refused here rather than failing on the first agent call.
pub fn upstream(text: &str) -> Result<serde_json::Value, Status> {
    let invalid = |why: String| {
        Status::invalid_argument(format!(
            "upstream_json {why}; expected e.g. {{\"type\":\"http\",\"url\":\"http://127.0.0.1:9000/mcp\"}} \
             or {{\"type\":\"stdio\",\"command\":\"my-server\",\"args\":[]}}"
        ))
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| invalid(format!("is not JSON ({error})")))?;
    match UpstreamSection::deserialize(&value) {
        Ok(UpstreamSection::Http { url }) if !url.starts_with("http://") => {
            Err(invalid(format!("has url {url:?}, which must start with http://")))
        }
        Ok(UpstreamSection::Stdio { command, .. }) if command.as_os_str().is_empty() => {
            Err(invalid("has an empty command".to_owned()))
        }
        Ok(_) => Ok(value),
        Err(error) => Err(invalid(format!("is not an upstream ({error})"))),
    }
}

#[tonic::async_trait]
impl ServerService for Servers {
    async fn put_server(
        &self,
        request: Request<pb::PutServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let request = request.into_inner();
        let upstream = upstream(&request.upstream_json)?;
        // Checked against this node's state: a concurrent remove can still win, which is harmless
        // (the put then registers the server again).
        if request.must_exist
            && !self
                .context
                .store
                .current()
                .state
                .servers
                .contains_key(&request.name)
        {
            return Err(status::not_found("server", &request.name));
        }
        let command = AppRequest::PutServer {
            name: request.name.clone(),
            upstream,
            anonymous_policy: Some(request.anonymous_policy).filter(|p| !p.is_empty()),
            at: self.context.now(),
        };
        status::applied(self.context.store.propose(command).await)?;
        self.context.audit(
            &caller.name,
            "PutServer",
            &format!("server {}", request.name),
            None,
        );
        Ok(Response::new(self.server(&request.name)?))
    }

    async fn get_server(
        &self,
        request: Request<pb::GetServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        Ok(Response::new(self.server(&request.into_inner().name)?))
    }

    async fn list_servers(
        &self,
        request: Request<pb::ListServersRequest>,
    ) -> Result<Response<pb::ListServersResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let snapshot = self.context.store.current();
        let servers = snapshot
            .state
            .servers
            .iter()
            .map(|(name, record)| to_proto(name, record))
            .collect();
        Ok(Response::new(pb::ListServersResponse { servers }))
    }

    async fn remove_server(
        &self,
        request: Request<pb::RemoveServerRequest>,
    ) -> Result<Response<pb::RemoveServerResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let name = request.into_inner().name;
        let command = AppRequest::RemoveServer { name: name.clone() };
        status::applied(self.context.store.propose(command).await)?;
        self.context
            .audit(&caller.name, "RemoveServer", &format!("server {name}"), None);
        Ok(Response::new(pb::RemoveServerResponse {}))
    }
}
