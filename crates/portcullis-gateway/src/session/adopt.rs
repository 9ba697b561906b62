//! Taking in a session another node created: the same id, a fresh actor and upstream here.

use std::sync::Arc;

use super::id::looks_minted;
use super::{SessionError, SessionHandle, Sessions};
use crate::state::ServerEntry;

impl Sessions {
    /// Opens a session under an id another node minted, for its client to continue here. The caller
    /// re-initializes the upstream. A session already open under `id` is returned as it is.
    ///
    /// # Errors
    /// When `id` is not one this gateway mints, or the upstream cannot be started.
    pub async fn adopt(
        self: &Arc<Self>,
        id: &str,
        server: &ServerEntry,
        grant: Arc<str>,
    ) -> Result<SessionHandle, SessionError> {
        if !looks_minted(id) {
            return Err(SessionError::Spawn(
                "not a session id this gateway mints".to_owned(),
            ));
        }
        if let Some(open) = self.get(id) {
            return Ok(open);
        }
        self.spawn(Arc::from(id), server, grant).await
    }
}
