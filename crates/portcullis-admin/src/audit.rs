//! `AuditService`: the answering node's own hash-chained audit log, followed, queried and verified.

mod filter;
mod follow;

use std::path::PathBuf;

use portcullis_proto::admin as pb;
use portcullis_proto::admin::audit_service_server::AuditService;
use portcullis_store::AdminRole;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::context::AdminContext;
use filter::Filter;

/// The most records one query returns.
const MAX_LIMIT: u32 = 10_000;
/// What a query returns when it names no limit.
const DEFAULT_LIMIT: u32 = 1_000;
/// The most backlog records a tail starts with.
const MAX_BACKLOG: u32 = 10_000;

/// The audit service of one node.
pub struct Audit {
    context: AdminContext,
}

impl Audit {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    fn path(&self) -> Result<PathBuf, Status> {
        self.context.local.audit_path().ok_or_else(|| {
            Status::failed_precondition("auditing is off on this node: set [audit] path in its configuration")
        })
    }
}

fn io_status(path: &std::path::Path, error: &std::io::Error) -> Status {
    Status::internal(format!("cannot read the audit log {}: {error}", path.display()))
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| Status::internal(format!("the audit reader failed: {error}")))
}

#[tonic::async_trait]
impl AuditService for Audit {
    type TailAuditStream = ReceiverStream<Result<pb::AuditRecord, Status>>;

    async fn tail_audit(
        &self,
        request: Request<pb::TailAuditRequest>,
    ) -> Result<Response<Self::TailAuditStream>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let request = request.into_inner();
        let filter = Filter::new(request.filter.unwrap_or_default(), 0, u64::MAX)?;
        let path = self.path()?;
        let backlog = request.backlog.min(MAX_BACKLOG) as usize;
        let stream = follow::spawn(path, filter, backlog).await?;
        Ok(Response::new(stream))
    }

    async fn query_audit(
        &self,
        request: Request<pb::QueryAuditRequest>,
    ) -> Result<Response<pb::QueryAuditResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let request = request.into_inner();
        let to_ms = if request.to_ms == 0 {
            u64::MAX
        } else {
            request.to_ms
        };
        if to_ms < request.from_ms {
            return Err(Status::invalid_argument(format!(
                "to_ms {} is before from_ms {}",
                request.to_ms, request.from_ms
            )));
        }
        let filter = Filter::new(request.filter.unwrap_or_default(), request.from_ms, to_ms)?;
        let limit = match request.limit {
            0 => DEFAULT_LIMIT,
            limit => limit.min(MAX_LIMIT),
        } as usize;
        let path = self.path()?;
        let read =
            blocking(move || filter::query(&path, &filter, limit).map_err(|error| io_status(&path, &error)))
                .await??;
        Ok(Response::new(pb::QueryAuditResponse {
            records: read.records,
            truncated: read.truncated,
        }))
    }

    async fn verify_audit(
        &self,
        request: Request<pb::VerifyAuditRequest>,
    ) -> Result<Response<pb::VerifyAuditResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let path = self.path()?;
        let report = blocking(move || {
            portcullis_audit::verify(&path)
                .map_err(|error| Status::internal(format!("cannot verify {}: {error}", path.display())))
        })
        .await??;
        Ok(Response::new(pb::VerifyAuditResponse {
            ok: report.is_intact(),
            records: report.valid_records,
            problem: report
                .first_break
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            broken_line: report.first_break.as_ref().map_or(0, |broken| broken.line),
        }))
    }
}
