//! One listener serving every admin service, plus `grpc.health.v1` and server reflection.

use std::future::Future;

use futures_util::StreamExt as _;
use portcullis_proto::admin::approval_service_server::ApprovalServiceServer;
use portcullis_proto::admin::audit_service_server::AuditServiceServer;
use portcullis_proto::admin::cluster_service_server::ClusterServiceServer;
use portcullis_proto::admin::counter_service_server::CounterServiceServer;
use portcullis_proto::admin::grant_service_server::GrantServiceServer;
use portcullis_proto::admin::policy_service_server::PolicyServiceServer;
use portcullis_proto::admin::server_service_server::ServerServiceServer;
use portcullis_proto::admin::session_service_server::SessionServiceServer;
use portcullis_proto::admin::token_service_server::TokenServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Server, ServerTlsConfig};

use crate::approvals::Approvals;
use crate::audit::Audit;
use crate::auth::Authenticator;
use crate::cluster::Cluster;
use crate::context::AdminContext;
use crate::counters::Counters;
use crate::grants::Grants;
use crate::policies::Policies;
use crate::servers::Servers;
use crate::sessions::Sessions;
use crate::tokens::Tokens;

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
    tls: Option<ServerTlsConfig>,
}

impl AdminServer {
    /// Serves the store and node in `context`.
    pub fn new(context: AdminContext) -> Self {
        Self { context, tls: None }
    }

    /// Serves over TLS only (with a client CA in `tls`: only to clients with a certificate it signed).
    #[must_use]
    pub fn with_tls(mut self, tls: ServerTlsConfig) -> Self {
        self.tls = Some(tls);
        self
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
        let context = &self.context;
        tracing::info!(addr = ?listener.local_addr().ok(), tls = self.tls.is_some(), "admin api listening");
        // Answers are written as headers, body and trailers: with Nagle on, the trailers wait for
        // the client's delayed ACK (~40 ms per call).
        let incoming = TcpListenerStream::new(listener).inspect(|stream| {
            if let Ok(stream) = stream {
                let _ = stream.set_nodelay(true);
            }
        });
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        builder
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(auth.wrap(PolicyServiceServer::new(Policies::new(context.clone()))))
            .add_service(auth.wrap(GrantServiceServer::new(Grants::new(context.clone()))))
            .add_service(auth.wrap(ServerServiceServer::new(Servers::new(context.clone()))))
            .add_service(auth.wrap(TokenServiceServer::new(Tokens::new(context.clone()))))
            .add_service(auth.wrap(ApprovalServiceServer::new(Approvals::new(context.clone()))))
            .add_service(auth.wrap(ClusterServiceServer::new(Cluster::new(context.clone()))))
            .add_service(auth.wrap(AuditServiceServer::new(Audit::new(context.clone()))))
            .add_service(auth.wrap(CounterServiceServer::new(Counters::new(context.clone()))))
            .add_service(auth.wrap(SessionServiceServer::new(Sessions::new(context.clone()))))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    }
}
