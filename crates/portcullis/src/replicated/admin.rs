//! Serving the admin API on a clustered node: the node-local side ([`LocalNode`]) over the gateway,
//! the node's announcement of its admin address, and the listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use portcullis_admin::{AdminContext, AdminServer, LocalNode, SessionInfo};
use portcullis_audit::AuditEntry;
use portcullis_gateway::clock::Clock as _;
use portcullis_gateway::config::AdminTlsSection;
use portcullis_gateway::node::Node;
use portcullis_store::{AppRequest, Store};
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::clock::SystemClock;

/// The gateway node as the admin API sees it.
struct GatewayNode {
    node: Arc<Node>,
    audit_path: Option<PathBuf>,
}

impl LocalNode for GatewayNode {
    fn sessions(&self) -> Vec<SessionInfo> {
        self.node
            .sessions
            .list()
            .into_iter()
            .map(|info| SessionInfo {
                id: info.id.to_string(),
                grant: info.grant.to_string(),
                server: info.server.to_string(),
                age_ms: u64::try_from(info.opened_at.elapsed().as_millis()).unwrap_or(u64::MAX),
                calls: info.calls.load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect()
    }

    fn end_session(&self, id: &str) -> bool {
        self.node.sessions.close(id)
    }

    fn audit(&self, entry: AuditEntry) {
        let node = Arc::clone(&self.node);
        tokio::spawn(async move {
            if let Err(error) = node.audit.record(entry).await {
                tracing::error!(%error, "could not audit an admin action");
            }
        });
    }

    fn audit_path(&self) -> Option<PathBuf> {
        self.audit_path.clone()
    }
}

/// The bound admin listener, before the gateway node exists.
pub struct Listener {
    listener: TcpListener,
    pub addr: SocketAddr,
    tls: Option<ServerTlsConfig>,
}

/// Reads the TLS files (relative to the config file) and binds the admin API's address, so a bad
/// certificate stops the node at startup rather than at the first call.
///
/// # Errors
/// When a TLS file can't be read or the address can't be bound.
pub async fn bind(
    addr: SocketAddr,
    tls: Option<&AdminTlsSection>,
    config: &Path,
) -> anyhow::Result<Listener> {
    let base = config.parent().unwrap_or_else(|| Path::new("."));
    let tls = tls.map(|section| tls_config(section, base)).transpose()?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for the admin api on {addr}"))?;
    let addr = listener.local_addr()?;
    Ok(Listener { listener, addr, tls })
}

fn tls_config(section: &AdminTlsSection, base: &Path) -> anyhow::Result<ServerTlsConfig> {
    let read = |path: &Path| {
        let path = base.join(path);
        std::fs::read(&path).with_context(|| format!("admin.tls: cannot read {}", path.display()))
    };
    let identity = Identity::from_pem(read(&section.cert)?, read(&section.key)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &section.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

/// Announces this node's admin address to the cluster (best effort: the API serves either way;
/// other nodes just can't include this one in fan-out answers until it is known).
pub async fn announce(store: &Store, addr: SocketAddr) {
    let command = AppRequest::PutNode {
        id: store.node_id(),
        admin_addr: addr.to_string(),
        at: SystemClock.now(),
    };
    match store.propose(command).await {
        Ok(_) => tracing::info!(node = store.node_id(), admin = %addr, "admin address announced"),
        Err(error) => tracing::warn!(%error, "could not announce the admin address"),
    }
}

/// Serves the admin API on `listener` for `node` until the store's node stops.
pub fn spawn(
    listener: Listener,
    store: Store,
    node: Arc<Node>,
    node_name: String,
    audit_path: Option<PathBuf>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let context = AdminContext {
        store,
        node_name,
        clock: Arc::new(|| SystemClock.now()),
        local: Arc::new(GatewayNode { node, audit_path }),
    };
    let mut server = AdminServer::new(context);
    if let Some(tls) = listener.tls {
        server = server.with_tls(tls);
    }
    tokio::spawn(async move {
        if let Err(error) = server.serve(listener.listener, shutdown).await {
            tracing::error!(%error, "admin api stopped");
        }
    });
}
