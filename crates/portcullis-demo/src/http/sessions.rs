//! Live HTTP sessions, keyed by their minted `Mcp-Session-Id`.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::dispatch::Session;

/// Most sessions kept at once; `initialize` beyond it is refused rather than growing without bound.
const MAX_SESSIONS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Mutex<Session>>>>,
    minted: AtomicU64,
    seed: RandomState,
}

impl Sessions {
    /// Stores a new session and returns its id, or `None` when full.
    pub fn insert(&self, session: Session) -> Option<String> {
        let n = self.minted.fetch_add(1, Ordering::Relaxed);
        // Unguessable enough for a local demo: two keyed hashes of a counter, from a per-process key.
        let id = format!("{:016x}{:016x}", self.seed.hash_one(n), self.seed.hash_one(!n));
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            return None;
        }
        map.insert(id.clone(), Arc::new(Mutex::new(session)));
        Some(id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Mutex<Session>>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Ends a session; false if it didn't exist.
    pub fn remove(&self, id: &str) -> bool {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
            .is_some()
    }
}
