//! One forwarded request, the same for every front (Streamable HTTP, stdio): what the gateway does with
//! the response before the client sees it ([`Finish`], where enforcement settles), and the exchange
//! with the session that carries it ([`Exchange`]: timeouts, cancellation, a client that goes away).
//! Bridging the protocol's eras is shared too: [`stateless`] for 2026-07-28 clients in front of any
//! upstream, [`stateless_upstream`] for 2026-07-28-only upstreams behind any client, and
//! [`input_required`] turns a session-era upstream's requests into multi round-trip requests for them
//! (and `input_rounds` a 2026-07-28 upstream's input requests into requests to a session-era client),
//! while [`held_calls`] keeps a 2026-07-28 upstream's rounds one decided call for a 2026-07-28 client.
//!
//! Architecture invariant: a front never settles a call itself. Every allowed `tools/call` ends in
//! exactly one [`Finish::apply`]: answered, failed, timed out, cancelled or abandoned; so every
//! reservation is committed or rolled back and every forwarded call is audited once.

mod envelope;
mod exchange;
mod finish;
pub mod handshake;
pub mod held_calls;
pub mod input_required;
mod input_rounds;
pub mod stateless;
pub mod stateless_upstream;

pub use envelope::{is_cacheable, is_stateless, stateless_result};
pub use exchange::{Abandon, Exchange, Received, Step};
pub use finish::{Finish, finish_for};
pub use held_calls::HeldCalls;
pub use input_required::InputRequired;

/// Whose calls waiting on their client's input (parked or held between rounds) to settle.
#[derive(Clone, Copy, Debug)]
pub enum Waiting<'a> {
    /// Every session's: the node is stopping.
    All,
    /// One session's: its front is ending.
    Session(&'a str),
}

impl Waiting<'_> {
    fn includes(self, session: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::Session(id) => session == Some(id),
        }
    }
}

/// Settles the calls `which` names that wait on input their clients can no longer give: each is
/// cancelled upstream, its reservation given back and its one audit record written now, rather than
/// when its timer fires (which a stopping node would never see).
pub async fn settle_waiting(node: &crate::node::Node, which: Waiting<'_>) {
    for parked in input_required::take(node, which) {
        parked.abandon().await;
    }
    held_calls::settle(node, which).await;
}
