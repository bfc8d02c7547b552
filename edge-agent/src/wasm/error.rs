//! The errors of the Wasm runtime's API.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a component could not be loaded or a container not started.
///
/// A container that started and then failed is not an error: it ends with an
/// [`ExitReason`](super::ExitReason).
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("invalid wasm component: {0}")]
    InvalidComponent(String),
    #[error("component is neither a wasi:cli command nor a wasi:http proxy")]
    UnknownShape,
    #[error("component cannot be linked (it imports what the agent does not provide): {0}")]
    Link(String),
    #[error("component content has digest sha256:{actual}, not {expected}; pull the image again")]
    DigestMismatch { expected: String, actual: String },
    #[error("unsupported digest {0:?}: expected sha256:<64 hex digits>")]
    BadDigest(String),
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("a wasi:http proxy needs the container's port to listen on")]
    NoListenAddress,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("volume {host}: {reason}")]
    Preopen { host: PathBuf, reason: String },
    #[error("keyvalue store {path}: {reason}")]
    KeyValue { path: PathBuf, reason: String },
    #[error("cannot create the wasm instance: {0}")]
    Instantiate(String),
}

impl WasmError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> WasmError {
        let path = path.into();
        move |source| WasmError::Io { path, source }
    }
}
