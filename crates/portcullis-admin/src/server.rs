//! One listener serving every admin service, plus `grpc.health.v1` and server reflection.

use std::future::Future;

use portcullis_proto::admin::approval_service_server::ApprovalServiceServer;
use portcullis_proto::admin::audit_service_server::AuditServiceServer;
use portcullis_proto::admin::cluster_service_server::ClusterServiceServer;
use portcullis_proto::admin::counter_service_server::CounterServiceServer;
use portcullis_proto::admin::policy_service_server::PolicyServiceServer;
use portcullis_proto::admin::session_service_server::SessionServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;

use crate::audit::Audit;
use crate::auth::Authenticator;
use crate::cluster::Cluster;
use crate::context::AdminContext;
use crate::counters::Counters;
use crate::policies::Policies;
use crate::sessions::Sessions;

/// Why the admin server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not read the descriptors (a build problem).
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The listener or a connection failed.
    #[error("admin API transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The admin API of one node.
pub struct AdminServer {
    context: AdminContext,
}

impl AdminServer {
    /// Serves the store and node in `context`.
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }

    /// Serves on `listener` until `shutdown` completes.
    ///
    /// # Errors
    /// When reflection can't be built or the transport fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let auth = Authenticator::new(self.context.store.subscribe());
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<PolicyServiceServer<Policies>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(portcullis_proto::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        // Older tools (and grpcio-reflection's client) still speak v1alpha.
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(portcullis_proto::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let policies = InterceptedService::new(
            PolicyServiceServer::new(Policies::new(self.context.clone())),
            auth.clone(),
        );
        let approvals = InterceptedService::new(
            ApprovalServiceServer::new(crate::approvals::Approvals::new(self.context.clone())),
            auth.clone(),
        );
        tracing::info!(addr = ?listener.local_addr().ok(), "admin api listening");
        Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(policies)
            .add_service(approvals)
            .add_service(InterceptedService::new(
                ClusterServiceServer::new(Cluster::new(self.context.clone())),
                auth.clone(),
            ))
            .add_service(InterceptedService::new(
                AuditServiceServer::new(Audit::new(self.context.clone())),
                auth.clone(),
            ))
            .add_service(InterceptedService::new(
                CounterServiceServer::new(Counters::new(self.context.clone())),
                auth.clone(),
            ))
            .add_service(InterceptedService::new(
                SessionServiceServer::new(Sessions::new(self.context.clone())),
                auth.clone(),
            ))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
            .await?;
        Ok(())
    }
}
