//! Agent sessions: one actor per session owns the upstream connection, the in-flight requests and the
//! id mapping; a typed [`SessionHandle`] fronts it, and [`Sessions`] finds handles without a mailbox.

mod actor;
mod adopt;
pub mod answers;
mod cancel;
mod direct;
mod envelope;
mod handle;
mod id;
pub(crate) use id::looks_minted;
mod registry;
pub mod replay;
mod revoked;
mod route;
pub mod server_requests;
mod upstream_stream;

pub use actor::{SessionActor, SessionArgs, SessionMsg};
pub use direct::ReplyStream;
pub use handle::{Permit, SessionHandle, SessionInfo};
pub use id::mint_session_id;
pub use registry::Sessions;
pub use revoked::end_revoked;

/// Why a session could not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The session has too many requests queued.
    #[error("session is busy: too many requests in flight")]
    Busy,
    /// The session's actor is gone (upstream exited, idle expiry, DELETE).
    #[error("session has ended")]
    Ended,
    /// The actor did not acknowledge in time.
    #[error("session did not answer in time")]
    Timeout,
    /// The upstream refused the message.
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
    /// The node holds as many sessions as it may.
    #[error("too many sessions on this node: close idle ones or try later")]
    TooMany,
    /// The session actor could not be spawned.
    #[error("cannot start session: {0}")]
    Spawn(String),
    /// The gateway's own `initialize` of the upstream failed.
    #[error("upstream initialization failed: {0}")]
    Initialize(String),
}
