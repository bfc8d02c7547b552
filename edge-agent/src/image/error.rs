//! The errors of image pulls and of the content store. A pull error's message is the one the
//! kubelet shows in the container's `waiting` state.

use std::io;
use std::path::PathBuf;

use super::digest::InvalidDigest;

/// Why a container's image is not available.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// `imagePullPolicy: Never` and the image is not in the store (`ErrImageNeverPull`).
    #[error("Container image {image:?} is not present with pull policy of Never")]
    NeverPull { image: String },
    /// The pull failed (`ErrImagePull`). The failure is part of the message, not a `source`,
    /// because the whole sentence is what the pod status shows.
    #[error("failed to pull image {image:?}: {failure}")]
    Failed { image: String, failure: PullFailure },
}

impl PullError {
    /// The container's `waiting.reason`, as the kubelet sets it.
    pub fn reason(&self) -> &'static str {
        match self {
            PullError::NeverPull { .. } => "ErrImageNeverPull",
            PullError::Failed { .. } => "ErrImagePull",
        }
    }

    /// What went wrong with the pull, when there was one.
    pub fn failure(&self) -> Option<&PullFailure> {
        match self {
            PullError::NeverPull { .. } => None,
            PullError::Failed { failure, .. } => Some(failure),
        }
    }

    /// Whether trying again later may succeed without anyone changing anything (the kubelet
    /// retries every pull with back-off; this tells a caller which failures are transient).
    pub fn is_retryable(&self) -> bool {
        self.failure().is_some_and(PullFailure::is_retryable)
    }
}

/// What went wrong while pulling.
#[derive(Debug, thiserror::Error)]
pub enum PullFailure {
    #[error("{what}: not found")]
    NotFound { what: String },
    #[error("unauthorized: {detail}")]
    Unauthorized { detail: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error(
        "size mismatch for {digest}: the manifest declares {declared} bytes, the registry sent {received}"
    )]
    SizeMismatch {
        digest: String,
        declared: u64,
        received: String,
    },
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    #[error("invalid image config {digest}: {detail}")]
    InvalidConfig { digest: String, detail: String },
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    InvalidDigest(#[from] InvalidDigest),
    #[error("unexpected status from the registry: {status}: {detail}")]
    Registry { status: u16, detail: String },
    #[error("cannot reach the registry: {detail}")]
    Transport { detail: String },
    #[error("download of {digest} stopped after {received} of {size} bytes: {detail}")]
    Interrupted {
        digest: String,
        received: u64,
        size: u64,
        detail: String,
    },
    #[error("refusing to send registry credentials to {realm}: the token service is not HTTPS")]
    InsecureRealm { realm: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PullFailure {
    /// Transient failures: the network, the registry's own trouble, an interrupted download
    /// (resumed by the next attempt).
    pub fn is_retryable(&self) -> bool {
        match self {
            PullFailure::Registry { status, .. } => *status == 429 || *status >= 500,
            PullFailure::Transport { .. } | PullFailure::Interrupted { .. } => true,
            PullFailure::Store(StoreError::Io { .. }) => true,
            _ => false,
        }
    }

    /// A transport error with the causes reqwest keeps in its source chain (its own message is
    /// only "error sending request for url").
    pub(crate) fn transport(error: &reqwest::Error) -> PullFailure {
        PullFailure::Transport {
            detail: error_chain(error),
        }
    }
}

/// `error: cause: cause`, the way a log line should show it.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A failure of the content store's files.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("image store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

/// Why a [`Puller`](super::Puller) cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PullerSetupError {
    #[error("cannot build the TLS configuration for image pulls: {0}")]
    Tls(#[from] edge_wire::tls::TlsError),
    #[error("cannot read the cluster CA for image pulls: {0}")]
    Pki(#[from] edge_wire::pki::PkiError),
    #[error("the cluster CA is not a usable trust anchor: {0}")]
    BadCa(String),
    #[error("cannot build the HTTP client for image pulls: {0}")]
    Client(String),
    #[error("invalid registry address {0:?}: expected host:port")]
    BadAddress(String),
}
