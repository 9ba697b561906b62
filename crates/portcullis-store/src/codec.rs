//! How stored values are encoded, and how storage failures become `io::Error`s for openraft.
//!
//! Entries, votes and snapshots are JSON. The state is small (policies, grants, records), the encoding
//! is deterministic for our ordered maps, a JSON dependency is already in the workspace, and an
//! operator can read a dumped entry. The fsync behind every append costs far more than encoding it.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(io::Error::other)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    serde_json::from_slice(bytes).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// Turns any storage error (redb's several error types) into an `io::Error`.
pub(crate) fn io_err<E>(error: E) -> io::Error
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    io::Error::other(error)
}

/// Runs blocking storage work (redb commits fsync) off the async worker threads.
pub(crate) async fn blocking<T, F>(work: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(io_err)?
}
