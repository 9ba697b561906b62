//! Session ids: 128 random bits, hex. Unguessable, and visible ASCII as the spec requires.

use crate::state::to_hex;

/// A fresh session id, or `None` when the OS has no randomness to give.
pub fn mint_session_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(to_hex(&bytes))
}

/// Whether `text` could be an id this gateway minted.
pub(crate) fn looks_minted(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}
