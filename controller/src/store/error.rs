//! Errors of the store: [`StoreError`] for operations, [`WatchError`] for starting a watch.

use super::image::ImageError;

/// Why a store operation failed. See [`StoreError::is_retryable`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No leader was known within the wait bound (an election is running or quorum is lost).
    #[error("the store has no leader; retry shortly")]
    NoLeader,
    /// The leader or the local Raft node could not be reached or is not serving right now.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A proposal was handed to Raft but its outcome is unknown within the time bound: it may
    /// still be applied. Retrying a non-idempotent command may then report a precondition failure.
    #[error("timed out waiting for the store: {0}")]
    Timeout(String),
    /// The request is invalid for the store (e.g. removing an unknown member).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// A backup could not be read.
    #[error("invalid backup: {0}")]
    Backup(#[from] ImageError),
    /// Local storage failed or the store was shut down; the process should not go on using it.
    #[error("store failed: {0}")]
    Fatal(String),
}

impl StoreError {
    /// Whether the same request may succeed when retried later.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::NoLeader | StoreError::Unavailable(_) | StoreError::Timeout(_) => true,
            StoreError::Invalid(_) | StoreError::Backup(_) | StoreError::Fatal(_) => false,
        }
    }

    pub(crate) fn fatal(e: impl std::fmt::Display) -> Self {
        StoreError::Fatal(e.to_string())
    }
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Fatal(format!("redb: {e}"))
    }
}

/// Why a watch could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The requested revision is older than the retained window; `oldest` is the oldest revision a
    /// watch may resume from now. Relist and watch from the list's revision (HTTP 410 Gone).
    #[error("revision is too old; the oldest revision a watch can resume from is {oldest}")]
    TooOld { oldest: u64 },
    /// The store is shut down.
    #[error("the store is shut down")]
    Shutdown,
}
