//! `--ca-cert`, `--client-cert` and `--client-key`: TLS (and mutual TLS) to the admin API.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// How to trust the admin API and, for mutual TLS, who we are.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// The CA that signed the admin API's certificate (PEM); needs an https:// address.
    #[arg(long, env = "PORTCULLIS_ADMIN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Our certificate (PEM), for a node that requires client certificates.
    #[arg(long, env = "PORTCULLIS_ADMIN_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM).
    #[arg(long, env = "PORTCULLIS_ADMIN_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS settings for `addr`: none for http://, and https:// needs a CA to trust.
    ///
    /// # Errors
    /// When the scheme and the flags disagree or a file can't be read.
    pub fn client_config(&self, addr: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
        let https = addr.starts_with("https://");
        let Some(ca) = &self.ca_cert else {
            if https {
                bail!("{addr} uses TLS: give the CA that signed its certificate with --ca-cert");
            }
            return Ok(None);
        };
        if !https {
            bail!("--ca-cert needs an https:// address, not {addr}");
        }
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        Ok(Some(config))
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
