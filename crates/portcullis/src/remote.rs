//! The operator CLI's side of the admin API: connecting with `--addr`/`--token`, printing for people
//! or scripts, and exit codes scripts can rely on.
//!
//! Exit codes: 0 success; 1 the API refused or found a problem (invalid input, not found, wrong role,
//! stale revision); 2 bad usage; 3 the API could not be reached or had no quorum (worth a retry).

pub mod approvals;
pub mod audit;
pub mod cluster;
pub mod counters;
pub mod grants;
pub mod policies;
pub mod servers;
pub mod sessions;
mod table;
mod tls;
pub mod tokens;

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

pub use table::Table;

use crate::cli::Output;

/// Where the admin API is and who is calling; every remote command takes these.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The admin API of any node, e.g. http://127.0.0.1:7070.
    #[arg(long, env = "PORTCULLIS_ADMIN_ADDR", default_value = "http://127.0.0.1:7070")]
    pub addr: String,
    /// The admin token (prefer the environment variable: argv is visible to other users).
    #[arg(long, env = "PORTCULLIS_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output for people (tables) or scripts (JSON on stdout).
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Output,
    #[command(flatten)]
    pub tls: tls::TlsArgs,
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel to the admin API whose calls carry the token.
pub type Client = InterceptedService<Channel, Bearer>;

/// A failed remote command: the status to report, or a local problem.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The API answered with an error.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(#[from] Status),
    /// The address is malformed or the connection failed.
    #[error("cannot reach the admin api: {0}")]
    Connect(String),
    /// Anything else (reading a file, bad JSON given on the command line).
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

impl RemoteError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Status(status) if retryable(status.code()) => ExitCode::from(3),
            Self::Connect(_) => ExitCode::from(3),
            Self::Status(_) | Self::Local(_) => ExitCode::from(1),
        }
    }
}

fn retryable(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::DeadlineExceeded | Code::Aborted)
}

fn code_name(code: Code) -> String {
    format!("{code:?}").to_lowercase()
}

/// Connects to `args.addr` with `args.token`.
///
/// # Errors
/// When the address is malformed or nothing answers there.
pub async fn connect(args: &RemoteArgs) -> Result<Client, RemoteError> {
    let mut endpoint = Endpoint::from_shared(args.addr.clone())
        .map_err(|error| RemoteError::Connect(format!("{}: {error}", args.addr)))?
        .connect_timeout(std::time::Duration::from_secs(5));
    if let Some(tls) = args.tls.client_config(&args.addr)? {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|error| RemoteError::Connect(format!("{}: {error}", args.addr)))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|error| RemoteError::Connect(format!("{}: {error}", args.addr)))?;
    let token = match &args.token {
        Some(token) => Some(format!("Bearer {token}").parse().map_err(|_| {
            RemoteError::Local(anyhow::anyhow!(
                "the admin token has characters a header can't carry"
            ))
        })?),
        None => None,
    };
    Ok(InterceptedService::new(channel, Bearer(token)))
}

/// Runs one remote command on a fresh runtime and turns its outcome into an exit code, printing
/// failures on stderr.
pub fn run<F>(command: F) -> anyhow::Result<ExitCode>
where
    F: std::future::Future<Output = Result<ExitCode, RemoteError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(command) {
        Ok(code) => Ok(code),
        Err(error) => {
            eprintln!("error: {error}");
            Ok(error.exit_code())
        }
    }
}

/// Whether a command answers with one item (a JSON object) or a list (a JSON array, even of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `get`, `create`, `revoke`...
    One,
    /// `list`.
    List,
}

/// Prints `value` as pretty JSON (for `--output json`).
///
/// # Errors
/// Never in practice: the values printed are plain data.
pub fn print_json(value: &impl Serialize) -> Result<(), RemoteError> {
    let text = serde_json::to_string_pretty(value).map_err(|error| RemoteError::Local(error.into()))?;
    println!("{text}");
    Ok(())
}
