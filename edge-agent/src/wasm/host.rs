//! The host state of one store, and the per-container recipe that builds it.
//!
//! A command has one store for its whole run; a proxy builds one per request (as `wasmtime
//! serve` does), so everything here that is per container is built once in [`ContainerEnv`]
//! and shared by reference count.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::keyvalue::KvStore;
use super::limits::{CpuAccount, MemoryAccount, SliceClock, StoreLimiter, on_epoch_tick};
use super::runtime::{TickerShared, TickingGuard};
use super::stdio::LogOutput;
use super::{Preopen, Usage, WasmError};
use crate::logs::{ContainerLog, LogStream};

/// What every store of one container is built from.
pub(crate) struct ContainerEnv {
    pub(crate) engine: Engine,
    ticking: Arc<TickerShared>,
    pub(crate) log: ContainerLog,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    config: Arc<WasiConfigVariables>,
    kv: Option<Arc<KvStore>>,
    preopens: Vec<Preopen>,
    allow_network: bool,
    pub(crate) memory: Arc<MemoryAccount>,
    pub(crate) cpu: Arc<CpuAccount>,
    live_instances: Arc<AtomicU64>,
    pub(crate) requests: AtomicU64,
    /// How long one proxy request may run.
    pub(crate) request_timeout: Duration,
}

/// The parts of a [`ContainerEnv`] given by the spec.
pub(crate) struct EnvParts {
    pub(crate) argv: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) config: WasiConfigVariables,
    pub(crate) kv: Option<Arc<KvStore>>,
    pub(crate) preopens: Vec<Preopen>,
    pub(crate) allow_network: bool,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) cpu_limit_millis: Option<u64>,
    pub(crate) request_timeout: Duration,
}

impl ContainerEnv {
    pub(crate) fn new(
        engine: Engine,
        ticking: Arc<TickerShared>,
        log: ContainerLog,
        parts: EnvParts,
    ) -> Self {
        ContainerEnv {
            engine,
            ticking,
            log,
            argv: parts.argv,
            env: parts.env,
            config: Arc::new(parts.config),
            kv: parts.kv,
            preopens: parts.preopens,
            allow_network: parts.allow_network,
            memory: Arc::new(MemoryAccount::new(parts.memory_limit)),
            cpu: Arc::new(CpuAccount::new(parts.cpu_limit_millis)),
            live_instances: Arc::default(),
            requests: AtomicU64::new(0),
            request_timeout: parts.request_timeout,
        }
    }

    /// A fresh store with its limits and epoch callback in place, and the clock its guest calls
    /// must be [`Metered`](super::limits::Metered) with.
    pub(crate) fn new_store(&self) -> Result<(Store<HostState>, Arc<SliceClock>), WasmError> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.args(&self.argv)
            .envs(&self.env)
            .stdout(LogOutput::new(self.log.clone(), LogStream::Stdout))
            .stderr(LogOutput::new(self.log.clone(), LogStream::Stderr));
        for preopen in &self.preopens {
            let perms = if preopen.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            wasi.preopened_dir(&preopen.host_path, &preopen.guest_path, perms)
                .map_err(|e| WasmError::Preopen {
                    host: preopen.host_path.clone(),
                    reason: format!("{e:#}"),
                })?;
        }
        if self.allow_network {
            wasi.inherit_network()
                .allow_tcp(true)
                .allow_udp(true)
                .allow_ip_name_lookup(true);
        }
        self.live_instances.fetch_add(1, Ordering::Relaxed);
        let state = HostState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outgoing: OutgoingHttp {
                allowed: self.allow_network,
            },
            config: self.config.clone(),
            kv: self.kv.clone(),
            limiter: StoreLimiter::new(self.memory.clone()),
            _live: LiveInstance(self.live_instances.clone()),
            _ticking: self.ticking.instance(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let clock = Arc::new(SliceClock::default());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(on_epoch_tick(clock.clone(), self.cpu.clone()));
        Ok((store, clock))
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage {
            memory_bytes: self.memory.used(),
            peak_memory_bytes: self.memory.peak(),
            cpu_time: self.cpu.total(),
            instances: self.live_instances.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }
}

/// Counts a store among its container's live instances while it exists.
struct LiveInstance(Arc<AtomicU64>);

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `T` of every `Store<T>` the runtime creates.
pub(crate) struct HostState {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outgoing: OutgoingHttp,
    pub(crate) config: Arc<WasiConfigVariables>,
    pub(crate) kv: Option<Arc<KvStore>>,
    limiter: StoreLimiter,
    _live: LiveInstance,
    /// Keeps the engine's epoch ticking while this store lives.
    _ticking: TickingGuard,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

/// Outgoing `wasi:http` requests: sent as upstream does when the pod may use the network,
/// refused with `HTTP-request-denied` otherwise.
struct OutgoingHttp {
    allowed: bool,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for OutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _response_errors: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        if !self.allowed {
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
