//! The admin API over TLS with client certificates (mutual TLS), with a CA made in the test: a
//! client with a certificate the CA signed is served; a plaintext client and a TLS client without a
//! certificate are refused; the CLI's --ca-cert/--client-cert/--client-key (and their environment
//! variables) reach it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::path::Path;

use portcullis_proto::admin::WhoAmIRequest;
use portcullis_proto::admin::token_service_client::TokenServiceClient;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use support::admin_cluster::{ADMIN_TOKEN, Cluster};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn make_pki(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |name: &str, sans: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(sans)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    };
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    leaf("server", vec!["127.0.0.1".to_owned(), "localhost".to_owned()]);
    leaf("client", vec!["ops-client".to_owned()]);
}

async fn who_am_i(channel: Channel) -> Result<String, tonic::Status> {
    let mut request = tonic::Request::new(WhoAmIRequest {});
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
    TokenServiceClient::new(channel)
        .who_am_i(request)
        .await
        .map(|me| me.into_inner().name)
}

async fn tls_channel(url: &str, dir: &Path, with_cert: bool) -> Result<Channel, tonic::transport::Error> {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("ca.pem")));
    if with_cert {
        tls = tls.identity(Identity::from_pem(read("client.pem"), read("client.key")));
    }
    Channel::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_serves_certified_clients_only() {
    let pki = support::temp_dir("admin-tls-pki");
    make_pki(&pki);
    let section = format!(
        "\n[admin.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
        pki.join("server.pem"),
        pki.join("server.key"),
        pki.join("ca.pem"),
    );
    let cluster = Cluster::start_with("admin-tls", 1, &section);
    let node = cluster.node(1);
    let https = format!("https://{}", node.admin);

    let certified = tls_channel(&https, &pki, true).await.unwrap();
    assert_eq!(who_am_i(certified).await.unwrap(), "ops-admin");

    let plaintext = Channel::from_shared(node.admin_url()).unwrap().connect_lazy();
    assert!(
        who_am_i(plaintext).await.is_err(),
        "a plaintext client was served"
    );

    let anonymous = match tls_channel(&https, &pki, false).await {
        Ok(channel) => who_am_i(channel).await.map_err(|status| status.to_string()),
        Err(error) => Err(error.to_string()),
    };
    assert!(anonymous.is_err(), "a client without a certificate was served");

    let cli = |with_cert: bool| {
        let mut command = std::process::Command::new(support::EXE);
        command
            .args(["tokens", "whoami", "-o", "json", "--addr", &https])
            .env("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("PORTCULLIS_ADMIN_CA_CERT", pki.join("ca.pem"));
        if with_cert {
            command
                .args(["--client-cert", pki.join("client.pem").to_str().unwrap()])
                .env("PORTCULLIS_ADMIN_CLIENT_KEY", pki.join("client.key"));
        }
        command.output().unwrap()
    };
    let served = cli(true);
    assert!(served.status.success(), "{served:?}");
    let me: serde_json::Value = serde_json::from_slice(&served.stdout).unwrap();
    assert_eq!(me["name"], "ops-admin");
    let refused = cli(false);
    assert!(!refused.status.success(), "{refused:?}");
    let _ = std::fs::remove_dir_all(&pki);
}
