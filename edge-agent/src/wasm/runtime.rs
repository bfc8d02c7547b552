//! [`WasmRuntime`]: the engine, its compile cache and epoch ticker, and loading components.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::container::RunningContainer;
use super::host::{ContainerEnv, EnvParts, HostState};
use super::keyvalue::{self, KvStores, KvView};
use super::proxy;
use super::{ComponentShape, WasmContainerSpec, WasmError};
use crate::logs::ContainerLog;

/// How often the engine's epoch advances: the time slice of a busy guest, the granularity of
/// CPU limits, and the longest a stop waits for a running guest to notice it.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings of the agent's Wasm runtime.
#[derive(Debug, Clone)]
pub struct WasmRuntimeConfig {
    /// Where compiled artefacts are kept across agent restarts (the agent's data directory,
    /// e.g. `<data>/wasm-cache`); created if missing.
    pub cache_dir: PathBuf,
    /// How many instances may live at once across all containers: a command is one, a proxy
    /// one per in-flight request. Sizes the pooling allocator, which reserves (but does not
    /// commit) address space for each.
    pub max_instances: u32,
    /// How long one request of a `wasi:http` proxy may run before its instance is interrupted
    /// (at the next epoch tick) and the client gets 504; the container serves on.
    pub request_timeout: Duration,
}

impl WasmRuntimeConfig {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        WasmRuntimeConfig {
            cache_dir: cache_dir.into(),
            max_instances: 256,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Where a [`LoadedComponent`]'s machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtefactSource {
    /// Compiled now (and written to the cache).
    Compiled,
    /// Read from the on-disk cache.
    DiskCache,
    /// Already loaded in this process (another container uses the same digest).
    Memory,
}

/// A compiled, linked component, ready to start containers from; cheap to clone.
#[derive(Clone)]
pub struct LoadedComponent {
    inner: Arc<Loaded>,
    source: ArtefactSource,
}

pub(crate) struct Loaded {
    digest: String,
    pub(crate) pre: LinkedComponent,
    /// Whether the component imports `wasi:keyvalue`: only then is the pod's database opened
    /// (a redb handle costs memory and its file a write).
    uses_keyvalue: bool,
}

/// The pre-instantiated component for its shape: instantiating one costs microseconds.
pub(crate) enum LinkedComponent {
    Command(CommandPre<HostState>),
    HttpProxy(ProxyPre<HostState>),
}

impl LoadedComponent {
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    pub fn shape(&self) -> ComponentShape {
        match self.inner.pre {
            LinkedComponent::Command(_) => ComponentShape::Command,
            LinkedComponent::HttpProxy(_) => ComponentShape::HttpProxy,
        }
    }

    pub fn source(&self) -> ArtefactSource {
        self.source
    }

    pub(crate) fn linked(&self) -> &LinkedComponent {
        &self.inner.pre
    }
}

/// The agent's Wasm runtime: one per agent, cheap to clone.
///
/// The engine compiles with epoch interruption (for CPU limits and stopping), runs guests on
/// fibers (async), and allocates instances from a pool; compiled artefacts are cached on disk.
#[derive(Clone)]
pub struct WasmRuntime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    cache: Cache,
    /// Serialises compiles so the cache's hit counter tells each load whether it hit.
    compile_lock: Mutex<()>,
    loaded: Mutex<HashMap<String, Weak<Loaded>>>,
    pub(crate) kv_stores: KvStores,
    request_timeout: Duration,
    /// Instances register here so that the epoch ticks while they live.
    pub(crate) ticking: Arc<TickerShared>,
    /// Held for its `Drop`, which stops the thread.
    _ticker: EpochTicker,
}

impl WasmRuntime {
    /// Creates the engine and starts the epoch ticker thread.
    pub fn new(config: WasmRuntimeConfig) -> Result<Self, WasmError> {
        std::fs::create_dir_all(&config.cache_dir).map_err(WasmError::io(&config.cache_dir))?;
        let mut cache_config = CacheConfig::new();
        cache_config
            .with_directory(config.cache_dir.clone())
            // Recompressing popular artefacts harder costs an edge device seconds of CPU to save
            // a little disk; keep the fast baseline compression.
            .with_optimized_compression_usage_counter_threshold(u64::MAX);
        let cache = Cache::new(cache_config).map_err(engine_error)?;

        let mut engine_config = Config::new();
        engine_config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cache(Some(cache.clone()));
        let engine = match Engine::new(engine_config.clone().allocation_strategy(
            InstanceAllocationStrategy::Pooling(pool(config.max_instances)),
        )) {
            Ok(engine) => engine,
            Err(e) => {
                // A device with little address space (a 39-bit arm64 kernel) cannot reserve the
                // pool; instances are then allocated on demand, slower but working.
                tracing::warn!(error = %format!("{e:#}"), "wasm: pooling allocator unavailable; allocating instances on demand");
                Engine::new(&engine_config).map_err(engine_error)?
            }
        };

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut HostState| {
            WasiConfig::new(&state.config)
        })
        .map_err(engine_error)?;
        keyvalue::add_to_linker(&mut linker, |state: &mut HostState| KvView {
            table: &mut state.table,
            store: state.kv.as_ref(),
        })
        .map_err(engine_error)?;

        let ticker = EpochTicker::start(engine.clone());
        Ok(WasmRuntime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache,
                compile_lock: Mutex::new(()),
                loaded: Mutex::default(),
                kv_stores: KvStores::default(),
                request_timeout: config.request_timeout,
                ticking: ticker.shared.clone(),
                _ticker: ticker,
            }),
        })
    }

    /// Loads a component: checks it against its digest (`sha256:<hex>`, as in an OCI
    /// manifest), reuses a loaded or cached compilation or compiles it, detects its shape and
    /// links it. Compiling runs on the blocking pool.
    pub async fn load(&self, digest: &str, wasm: &[u8]) -> Result<LoadedComponent, WasmError> {
        verify_digest(digest, wasm)?;
        if let Some(loaded) = self.loaded(digest) {
            return Ok(LoadedComponent {
                inner: loaded,
                source: ArtefactSource::Memory,
            });
        }
        let inner = self.inner.clone();
        let wasm = wasm.to_vec();
        let (component, source) = tokio::task::spawn_blocking(move || inner.compile(&wasm))
            .await
            .map_err(|e| WasmError::Engine(format!("compile task failed: {e}")))??;
        let engine = &self.inner.engine;
        let shape = ComponentShape::detect(engine, &component)?;
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| WasmError::Link(format!("{e:#}")))?;
        let pre = match shape {
            ComponentShape::Command => LinkedComponent::Command(
                CommandPre::new(instance_pre).map_err(|e| WasmError::Link(format!("{e:#}")))?,
            ),
            ComponentShape::HttpProxy => LinkedComponent::HttpProxy(
                ProxyPre::new(instance_pre).map_err(|e| WasmError::Link(format!("{e:#}")))?,
            ),
        };
        let uses_keyvalue = component
            .component_type()
            .imports(engine)
            .any(|(name, _)| name.starts_with("wasi:keyvalue/"));
        let loaded = Arc::new(Loaded {
            digest: digest.to_owned(),
            pre,
            uses_keyvalue,
        });
        let mut map = self
            .inner
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, loaded| loaded.strong_count() > 0);
        map.insert(digest.to_owned(), Arc::downgrade(&loaded));
        Ok(LoadedComponent {
            inner: loaded,
            source,
        })
    }

    /// Starts a container from a loaded component. Returns once the container runs: for a
    /// proxy, once its port is bound. stdout and stderr go to `log`.
    pub async fn start(
        &self,
        component: &LoadedComponent,
        spec: WasmContainerSpec,
        log: ContainerLog,
    ) -> Result<RunningContainer, WasmError> {
        let listener = match component.shape() {
            ComponentShape::HttpProxy => {
                Some(proxy::bind(spec.listen.ok_or(WasmError::NoListenAddress)?)?)
            }
            ComponentShape::Command => None,
        };
        let kv = if component.inner.uses_keyvalue {
            let inner = self.inner.clone();
            let kv_dir = spec.kv_dir.clone();
            // Opening a database that was not closed cleanly (power loss) repairs it first.
            let kv = tokio::task::spawn_blocking(move || inner.kv_stores.open(&kv_dir))
                .await
                .map_err(|e| WasmError::Engine(format!("keyvalue open task failed: {e}")))??;
            Some(kv)
        } else {
            None
        };
        let mut argv = Vec::with_capacity(spec.args.len() + 1);
        argv.push(spec.name);
        argv.extend(spec.args);
        let parts = EnvParts {
            argv,
            env: spec.env,
            config: WasiConfigVariables::from_iter(spec.config),
            kv,
            preopens: spec.preopens,
            allow_network: spec.allow_network,
            memory_limit: spec.memory_limit_bytes,
            cpu_limit_millis: spec.cpu_limit_millis,
            request_timeout: self.inner.request_timeout,
        };
        let env = Arc::new(ContainerEnv::new(
            self.inner.engine.clone(),
            self.inner.ticking.clone(),
            log,
            parts,
        ));
        RunningContainer::spawn(self.inner.clone(), component.linked(), env, listener)
    }

    fn loaded(&self, digest: &str) -> Option<Arc<Loaded>> {
        let map = self
            .inner
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(digest).and_then(Weak::upgrade)
    }
}

impl RuntimeInner {
    fn compile(&self, wasm: &[u8]) -> Result<(Component, ArtefactSource), WasmError> {
        let _one_at_a_time = self
            .compile_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let hits = self.cache.cache_hits();
        // With the cache configured, this loads the artefact compiled for this exact engine
        // configuration and wasmtime version, or compiles and stores it. The cache validates
        // what it reads (a stale or damaged file is recompiled), which a hand-kept directory of
        // `Engine::precompile_component` outputs could only do with `unsafe` deserialisation.
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| WasmError::InvalidComponent(format!("{e:#}")))?;
        let source = if self.cache.cache_hits() > hits {
            ArtefactSource::DiskCache
        } else {
            ArtefactSource::Compiled
        };
        Ok((component, source))
    }
}

fn pool(max_instances: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    // A component built by Rust for wasm32-wasip2 has one memory, a few core instances (its
    // module and the canonical ABI shims) and a table each.
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(8))
        .total_memories(max_instances.saturating_mul(2))
        .total_tables(max_instances.saturating_mul(8))
        .total_stacks(max_instances);
    pool
}

fn verify_digest(digest: &str, wasm: &[u8]) -> Result<(), WasmError> {
    let expected = digest
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| WasmError::BadDigest(digest.to_owned()))?;
    let actual = hex::encode(Sha256::digest(wasm));
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(WasmError::DigestMismatch {
            expected: digest.to_owned(),
            actual,
        });
    }
    Ok(())
}

fn engine_error(e: wasmtime::Error) -> WasmError {
    WasmError::Engine(format!("{e:#}"))
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`] while some instance is alive,
/// until dropped. A thread (not a task) so that ticks keep coming when every executor thread is
/// busy running guests. With no instance alive (no pods, or HTTP services between requests) it
/// sleeps, so an idle agent does not wake up a hundred times a second.
struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: Option<JoinHandle<()>>,
}

/// What the ticker thread and the instances share.
pub(crate) struct TickerShared {
    live: AtomicUsize,
    stop: AtomicBool,
    thread: OnceLock<std::thread::Thread>,
}

impl TickerShared {
    /// Marks one more instance alive (waking the ticker) until the guard drops.
    pub(crate) fn instance(self: &Arc<Self>) -> TickingGuard {
        if self.live.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
        TickingGuard(self.clone())
    }
}

/// Keeps the epoch ticking while it lives.
pub(crate) struct TickingGuard(Arc<TickerShared>);

impl Drop for TickingGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let shared = Arc::new(TickerShared {
            live: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            thread: OnceLock::new(),
        });
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn({
                let shared = shared.clone();
                move || {
                    while !shared.stop.load(Ordering::Acquire) {
                        if shared.live.load(Ordering::Acquire) == 0 {
                            // An unpark between the check and here makes this return at once.
                            std::thread::park();
                            continue;
                        }
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .map_err(|e| tracing::error!(error = %e, "wasm: cannot start the epoch ticker"))
            .ok();
        if let Some(thread) = &thread {
            let _ = shared.thread.set(thread.thread().clone());
        }
        EpochTicker { shared, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::ExitReason;

    fn digest_of(wasm: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(wasm)))
    }

    #[test]
    fn digests_must_be_sha256_and_match() {
        let wasm = b"\0asm";
        assert!(verify_digest(&digest_of(wasm), wasm).is_ok());
        assert!(matches!(
            verify_digest(&digest_of(b"other"), wasm),
            Err(WasmError::DigestMismatch { .. })
        ));
        for bad in ["sha512:00", "sha256:xyz", "", "abc"] {
            assert!(
                matches!(verify_digest(bad, wasm), Err(WasmError::BadDigest(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn loads_compile_once_then_hit_memory_then_disk() -> anyhow::Result<()> {
        let cache = tempfile::tempdir()?;
        let wasm = wat::parse_str(crate::wasm::testdata::EXIT_ZERO)?;
        let digest = digest_of(&wasm);
        {
            let runtime = WasmRuntime::new(WasmRuntimeConfig::new(cache.path()))?;
            let first = runtime.load(&digest, &wasm).await?;
            assert_eq!(first.source(), ArtefactSource::Compiled);
            assert_eq!(first.shape(), ComponentShape::Command);
            let again = runtime.load(&digest, &wasm).await?;
            assert_eq!(again.source(), ArtefactSource::Memory);
        }
        let runtime = WasmRuntime::new(WasmRuntimeConfig::new(cache.path()))?;
        let after_restart = runtime.load(&digest, &wasm).await?;
        assert_eq!(after_restart.source(), ArtefactSource::DiskCache);

        let err = runtime.load(&digest_of(b"junk"), b"junk").await;
        assert!(
            matches!(err, Err(WasmError::InvalidComponent(_))),
            "{:?}",
            err.err()
        );
        Ok(())
    }

    #[tokio::test]
    async fn limits_and_stop_apply_to_hand_written_guests() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let runtime = WasmRuntime::new(WasmRuntimeConfig::new(dir.path().join("cache")))?;
        let start = |name: &str, wat: &str, memory_limit_bytes| {
            let runtime = runtime.clone();
            let (name, wat, dir) = (name.to_owned(), wat.to_owned(), dir.path().to_owned());
            async move {
                let wasm = wat::parse_str(&wat)?;
                let loaded = runtime.load(&digest_of(&wasm), &wasm).await?;
                let spec = WasmContainerSpec {
                    name: name.clone(),
                    kv_dir: dir.join("kv"),
                    memory_limit_bytes,
                    ..WasmContainerSpec::default()
                };
                let log =
                    ContainerLog::open(&dir.join(name), 0, crate::logs::LogOptions::default())?;
                anyhow::Ok(runtime.start(&loaded, spec, log).await?)
            }
        };
        let grow = start("grow", crate::wasm::testdata::GROW, Some(4 << 20)).await?;
        assert_eq!(grow.wait().await, ExitReason::OomKilled);
        assert!(grow.usage().peak_memory_bytes <= 4 << 20);

        let spin = start("spin", crate::wasm::testdata::SPIN, None).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(spin.try_exit(), None);
        let stopped =
            tokio::time::timeout(Duration::from_secs(10), spin.stop(Duration::from_secs(60)));
        assert_eq!(stopped.await?, ExitReason::Stopped { forced: true });
        Ok(())
    }
}
