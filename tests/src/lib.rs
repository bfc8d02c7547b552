//! Harness for end-to-end tests: builds and starts real controllers and agents in temporary
//! directories.
//!
//! Everything here talks to 127.0.0.1 only, keeps its files under `tempfile` directories, and
//! panics with enough context (the command, its output, the controller's log tail) to debug a
//! failure from the test report alone.

mod agent;
mod binaries;
mod command;
mod controller;
mod https;
mod wasm;

pub use agent::{Agent, JoinCommand, node_ready};
pub use binaries::{binary, kubectl_binary, target_dir, workspace_root};
pub use command::{Run, log_tail, run};
pub use controller::{Controller, free_port};
pub use https::{ClientAuth, HttpReply, KubeconfigCredentials, foreign_client_certificate};
pub use wasm::{push_example, wasm_example};

use std::time::{Duration, Instant};

/// Polls `check` every 200 ms until it returns `Some` or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `examples/` directory of the workspace.
pub fn examples_dir() -> std::path::PathBuf {
    workspace_root().join("examples")
}

/// A fresh temporary directory; panics (with the reason) if none can be made.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    match tempfile::Builder::new().prefix(prefix).tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("cannot create a temporary directory: {err}"),
    }
}
