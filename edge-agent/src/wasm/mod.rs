//! The agent's Wasm runtime: runs `spec.runtimeClassName: wasm` containers in wasmtime with the
//! component model and WASI 0.2.
//!
//! # API
//!
//! ```text
//! WasmRuntime::new(WasmRuntimeConfig) -> Result<WasmRuntime, WasmError>     // one per agent
//! runtime.load(digest, &wasm).await    -> Result<LoadedComponent, WasmError> // compile or reuse
//! runtime.start(&loaded, WasmContainerSpec, ContainerLog).await
//!                                      -> Result<RunningContainer, WasmError>
//! container.wait().await -> ExitReason           // Exited(code) | OomKilled | Stopped | Error
//! container.stop(grace).await -> ExitReason
//! container.usage() -> Usage                     // memory bytes, CPU time, instances, requests
//! ```
//!
//! # Shapes
//!
//! [`ComponentShape`] is read from the component's exports at load time. A component that
//! exports `wasi:cli/run` is a **command**: it runs to completion in one instance and its exit
//! code is the container's. One that exports `wasi:http/incoming-handler` is an **HTTP
//! proxy**: the runtime serves HTTP/1.1 (keep-alive) on the container's address and runs every
//! request in a fresh instance of the pre-instantiated component, as `wasmtime serve` does; it
//! ends only when stopped or when it goes over its memory limit. Both link the same host
//! interfaces: all of WASI 0.2 (cli, clocks, filesystem, random, sockets, io, http),
//! `wasi:config/store` and `wasi:keyvalue` (store, atomics, batch); the worlds workloads target
//! are in `wit/` at the repository root.
//!
//! # Isolation and limits
//!
//! - Memory: `memory_limit_bytes` caps the linear memory of all the container's live
//!   instances together; growing past it traps the guest and ends the container as
//!   [`ExitReason::OomKilled`] (a proxy stops serving, as an OOM-killed process would).
//! - CPU: guests yield to the executor at every epoch tick (10 ms), so a busy loop shares the
//!   agent's threads; `cpu_limit_millis` throttles the container to its share of 100 ms periods.
//! - Stop: a proxy stops accepting, finishes in-flight requests within the grace period, then
//!   is killed; a command is killed at once. A running guest notices within one tick.
//! - Network: `wasi:sockets` and outgoing `wasi:http` are denied unless `allow_network`.
//!   A proxy's listener is bound by the host on the address the caller gives (the pod's IP).
//! - Files: only the preopened volumes are visible.
//!
//! # State, logs, cache
//!
//! - `wasi:keyvalue` is durable per pod: a redb file `keyvalue.redb` in `kv_dir` (see
//!   [`KEYVALUE_FILE`]); a write is fsynced before the guest call returns.
//! - stdout and stderr go to the container's [`ContainerLog`](crate::logs::ContainerLog) in the
//!   CRI format; a trap or OOM kill is noted on stderr.
//! - Compiled artefacts are cached in `cache_dir` by wasmtime's cache (keyed by the content and
//!   the engine's settings, checked when read); [`LoadedComponent::source`] says whether a load
//!   compiled, read the disk cache, or reused a component already loaded.

mod command;
mod container;
mod error;
mod host;
mod keyvalue;
mod limits;
mod proxy;
mod runtime;
mod shape;
mod spec;
mod stdio;
#[cfg(test)]
mod testdata;

pub use container::RunningContainer;
pub use error::WasmError;
pub use keyvalue::KEYVALUE_FILE;
pub use runtime::{ArtefactSource, LoadedComponent, WasmRuntime, WasmRuntimeConfig};
pub use shape::ComponentShape;
pub use spec::{ExitReason, Preopen, Usage, WasmContainerSpec};
