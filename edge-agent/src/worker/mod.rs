//! Pod workers: one task per pod that carries out what its [`PodLifecycle`] decides — start
//! and stop containers in the runtime, run probes, serve host ports — and feeds the outcomes
//! back to it.
//!
//! The worker is the thin I/O shell around the pure lifecycle: every runtime outcome, probe
//! result and timer becomes a [`PodEvent`]; every [`PodAction`] becomes a runtime call, a task
//! or a status report (stored locally, then published on the [`StatusBoard`]).

mod containers;
mod ports;
mod volumes;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_wire::link::{ContainerUsage, PodRunSpec, PodStatusReport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use containers::{FetchedImage, ImageSource};
use ports::HostPortProxy;
pub(crate) use volumes::remove_dirs_except;

use crate::local_state::LocalState;
use crate::pod::{
    ContainerProber, PodAction, PodEvent, PodLifecycle, ProbeExecutor, ProbeOutcome, ProbeRunner,
    system_now_ms,
};
use crate::status_board::StatusBoard;
use crate::wasm::{RunningContainer, WasmRuntime};

/// Inputs a worker queues; specs are rare, so a small queue suffices, and the supervisor waits
/// when it is full.
const INPUT_QUEUE: usize = 8;
/// Events from the worker's own tasks (exits, probe results).
const EVENT_QUEUE: usize = 64;
/// How often a worker samples its containers' CPU and memory (reported with heartbeats for
/// `top`); the controller's metrics API states the same window.
const USAGE_SAMPLE: Duration = Duration::from_secs(10);
/// The first CPU window of a container that just started, so that `top` shows it promptly.
const FIRST_USAGE_SAMPLE: Duration = Duration::from_secs(2);

/// What every worker shares.
pub struct WorkerContext {
    pub runtime: WasmRuntime,
    pub images: Arc<dyn ImageSource>,
    pub board: Arc<StatusBoard>,
    pub state: Arc<LocalState>,
    /// `DATA_DIR/pods`: one directory per pod uid (logs, volumes, key-value store).
    pub pods_dir: PathBuf,
    /// `DATA_DIR/volumes`: local persistent volumes by claim uid.
    pub volumes_dir: PathBuf,
    /// The node's address: host ports are served on it, and it is the pod's `hostIP`.
    pub node_ip: IpAddr,
}

/// A worker's inputs.
#[derive(Debug)]
pub enum WorkerInput {
    /// The controller sent a (possibly unchanged) spec.
    Spec(Box<PodRunSpec>),
    /// The pod left the desired state: stop it, forget it and clean up.
    Forget,
}

/// Where a pod's container ports are served on the node, for port-forward.
pub type PortMap = Arc<Mutex<HashMap<u16, SocketAddr>>>;

/// The supervisor's handle of one worker.
pub struct WorkerHandle {
    pub inputs: mpsc::Sender<WorkerInput>,
    pub ports: PortMap,
    pub usage: Arc<Mutex<Vec<ContainerUsage>>>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the worker of `spec`, resuming from `restored` (its status before an agent restart).
pub fn spawn(
    ctx: Arc<WorkerContext>,
    spec: PodRunSpec,
    restored: Option<PodStatusReport>,
    shutdown: CancellationToken,
) -> WorkerHandle {
    let (inputs, rx) = mpsc::channel(INPUT_QUEUE);
    let ports: PortMap = Arc::default();
    let usage: Arc<Mutex<Vec<ContainerUsage>>> = Arc::default();
    let worker = Worker {
        ctx,
        ports: ports.clone(),
        usage: usage.clone(),
        running: HashMap::new(),
        starting: HashSet::new(),
        stop_when_started: HashMap::new(),
        forgetting: false,
    };
    let task = tokio::spawn(worker.run(spec, restored, rx, shutdown));
    WorkerHandle {
        inputs,
        ports,
        usage,
        task,
    }
}

/// A started container instance and what belongs to it.
struct Slot {
    container: Arc<RunningContainer>,
    probes: Option<CancellationToken>,
    host_ports: Vec<HostPortProxy>,
    /// The last CPU sample: when, and the CPU time used by then.
    cpu_sample: Option<(std::time::Instant, Duration)>,
}

/// The outcome of a start task.
enum Started {
    Ok(String, Arc<RunningContainer>, Vec<HostPortProxy>),
    Failed {
        name: String,
        reason: String,
        message: String,
    },
}

struct Worker {
    ctx: Arc<WorkerContext>,
    ports: PortMap,
    usage: Arc<Mutex<Vec<ContainerUsage>>>,
    running: HashMap<String, Slot>,
    /// Containers whose start task is in flight.
    starting: HashSet<String>,
    /// Stops asked for while the start was in flight: name → grace.
    stop_when_started: HashMap<String, u64>,
    forgetting: bool,
}

impl Worker {
    async fn run(
        mut self,
        spec: PodRunSpec,
        restored: Option<PodStatusReport>,
        mut inputs: mpsc::Receiver<WorkerInput>,
        shutdown: CancellationToken,
    ) {
        let uid = spec.uid.clone();
        let now = system_now_ms();
        let (mut lifecycle, actions) = match restored {
            Some(last) => match PodLifecycle::restore(spec.clone(), &last, now) {
                Ok(restored) => restored,
                Err(err) => {
                    tracing::warn!(pod = %uid, "cannot resume the pod's status: {err}");
                    PodLifecycle::new(spec, now)
                }
            },
            None => PodLifecycle::new(spec, now),
        };
        lifecycle.set_addresses(None, Some(self.ctx.node_ip.to_string()));
        if let Err(err) = volumes::prepare(&self.ctx, lifecycle.spec()) {
            tracing::warn!(pod = %uid, "volumes: {err}");
        }
        let (events_tx, mut events) = mpsc::channel::<PodEvent>(EVENT_QUEUE);
        let (started_tx, mut started) = mpsc::channel::<Started>(EVENT_QUEUE);
        self.execute(&lifecycle, actions, &events_tx, &started_tx);
        let mut usage_tick = tokio::time::interval(USAGE_SAMPLE);
        loop {
            let wake = lifecycle.next_wakeup_ms();
            let sleep = async {
                match wake {
                    Some(at) => {
                        let wait = (at - system_now_ms()).max(0) as u64;
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    // The agent is stopping: its in-process containers stop with it, and come back
                    // from the stored state when it starts again.
                    self.stop_all_now().await;
                    return;
                }
                input = inputs.recv() => match input {
                    Some(WorkerInput::Spec(spec)) => {
                        let deleting = spec.deleting;
                        if let Err(err) = volumes::prepare(&self.ctx, &spec) {
                            tracing::warn!(pod = %uid, "volumes: {err}");
                        }
                        self.handle(&mut lifecycle, PodEvent::SpecChanged { spec, at_ms: system_now_ms() }, &events_tx, &started_tx);
                        if deleting {
                            PodEvent::DeleteRequested { at_ms: system_now_ms() }
                        } else {
                            continue;
                        }
                    }
                    Some(WorkerInput::Forget) | None => {
                        self.forgetting = true;
                        PodEvent::DeleteRequested { at_ms: system_now_ms() }
                    }
                },
                Some(event) = events.recv() => event,
                Some(outcome) = started.recv() => match outcome {
                    Started::Ok(name, container, host_ports) => {
                        let grace = self.stop_when_started.remove(&name);
                        self.starting.remove(&name);
                        self.watch_exit(&name, container.clone(), &events_tx);
                        if let Some(addr) = container.local_addr() {
                            for port in container_ports(lifecycle.spec(), &name) {
                                lock(&self.ports).insert(port, addr);
                            }
                        }
                        self.running.insert(name.clone(), Slot { container: container.clone(), probes: None, host_ports, cpu_sample: None });
                        // Report the new container's memory at once, and its CPU after a short
                        // first window, rather than only at the next regular sample.
                        self.record_usage();
                        usage_tick.reset_after(FIRST_USAGE_SAMPLE);
                        if let Some(grace) = grace {
                            tokio::spawn(async move { container.stop(Duration::from_secs(grace)).await; });
                        }
                        PodEvent::ContainerStarted { name, at_ms: system_now_ms() }
                    }
                    Started::Failed { name, reason, message } => {
                        self.starting.remove(&name);
                        self.stop_when_started.remove(&name);
                        PodEvent::ContainerStartFailed { name, reason, message, at_ms: system_now_ms() }
                    }
                },
                _ = usage_tick.tick() => {
                    self.record_usage();
                    continue;
                }
                _ = sleep => PodEvent::Tick { now_ms: system_now_ms() },
            };
            if let PodEvent::ContainerExited { name, .. } = &event {
                if let Some(slot) = self.running.remove(name) {
                    if let Some(probes) = slot.probes {
                        probes.cancel();
                    }
                    drop(slot.host_ports);
                }
                let ports = container_ports(lifecycle.spec(), name);
                let mut map = lock(&self.ports);
                for port in ports {
                    map.remove(&port);
                }
            }
            self.handle(&mut lifecycle, event, &events_tx, &started_tx);
            if self.forgetting && self.running.is_empty() && self.starting.is_empty() {
                self.ctx.board.remove(&uid);
                if let Err(err) = self.ctx.state.remove_status(&uid) {
                    tracing::warn!(pod = %uid, "cannot forget the pod's status: {err}");
                }
                volumes::remove_pod_dir(&self.ctx, &uid);
                return;
            }
        }
    }

    fn handle(
        &mut self,
        lifecycle: &mut PodLifecycle,
        event: PodEvent,
        events: &mpsc::Sender<PodEvent>,
        started: &mpsc::Sender<Started>,
    ) {
        match lifecycle.handle(event) {
            Ok(actions) => self.execute(lifecycle, actions, events, started),
            Err(err) => tracing::debug!(pod = %lifecycle.spec().uid, "ignored event: {err}"),
        }
    }

    fn execute(
        &mut self,
        lifecycle: &PodLifecycle,
        actions: Vec<PodAction>,
        events: &mpsc::Sender<PodEvent>,
        started: &mpsc::Sender<Started>,
    ) {
        for action in actions {
            match action {
                PodAction::StartContainer { name, init } => {
                    self.start(lifecycle, &name, init, started.clone());
                }
                PodAction::StopContainer {
                    name, grace_secs, ..
                } => {
                    if let Some(slot) = self.running.get(&name) {
                        let container = slot.container.clone();
                        tokio::spawn(async move {
                            container.stop(Duration::from_secs(grace_secs)).await;
                        });
                    } else if self.starting.contains(&name) {
                        self.stop_when_started.insert(name, grace_secs);
                    }
                }
                PodAction::StartProbes { name, instance } => {
                    self.start_probes(lifecycle, &name, instance, events.clone());
                }
                PodAction::StopProbes { name } => {
                    if let Some(probes) = self.running.get_mut(&name).and_then(|s| s.probes.take())
                    {
                        probes.cancel();
                    }
                }
                PodAction::ReportStatus => {
                    let status = lifecycle.status();
                    if let Err(err) = self.ctx.state.put_status(&status) {
                        tracing::warn!(pod = %status.uid, "cannot store the pod's status: {err}");
                    }
                    self.ctx.board.publish(status);
                }
            }
        }
    }

    fn start(
        &mut self,
        lifecycle: &PodLifecycle,
        name: &str,
        init: bool,
        out: mpsc::Sender<Started>,
    ) {
        let spec = lifecycle.spec().clone();
        let status = lifecycle.status();
        let restarts = status
            .init_containers
            .iter()
            .chain(&status.containers)
            .find(|c| c.name == name)
            .map(|c| c.restart_count)
            .unwrap_or(0);
        let ctx = self.ctx.clone();
        let name = name.to_owned();
        self.starting.insert(name.clone());
        tokio::spawn(async move {
            let outcome = containers::start(&ctx, &spec, &name, init, restarts).await;
            let message = match outcome {
                Ok((container, host_ports)) => Started::Ok(name, Arc::new(container), host_ports),
                Err(failure) => Started::Failed {
                    name,
                    reason: failure.reason.to_owned(),
                    message: failure.message,
                },
            };
            let _ = out.send(message).await;
        });
    }

    fn watch_exit(
        &self,
        name: &str,
        container: Arc<RunningContainer>,
        events: &mpsc::Sender<PodEvent>,
    ) {
        let events = events.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let exit = container.wait().await;
            let message = match &exit {
                crate::wasm::ExitReason::Error(message) => Some(message.clone()),
                _ => None,
            };
            let _ = events
                .send(PodEvent::ContainerExited {
                    name,
                    exit_code: exit.exit_code(),
                    reason: exit.reason().to_owned(),
                    message,
                    at_ms: system_now_ms(),
                })
                .await;
        });
    }

    fn start_probes(
        &mut self,
        lifecycle: &PodLifecycle,
        name: &str,
        instance: u32,
        events: mpsc::Sender<PodEvent>,
    ) {
        let Some(slot) = self.running.get_mut(name) else {
            return;
        };
        let Some(spec) = lifecycle
            .spec()
            .containers
            .iter()
            .chain(&lifecycle.spec().init_containers)
            .find(|c| c.name == name)
        else {
            return;
        };
        let cancel = CancellationToken::new();
        let prober = ContainerProber {
            name: name.to_owned(),
            instance,
            liveness: spec.liveness.clone(),
            readiness: spec.readiness.clone(),
            startup: spec.startup.clone(),
            executor: MappedProbes {
                ports: self.ports.clone(),
            },
            now_ms: system_now_ms,
        };
        tokio::spawn(prober.run(events, cancel.clone()));
        if let Some(old) = slot.probes.replace(cancel) {
            old.cancel();
        }
    }

    /// Samples each container's CPU (millicores since the last sample) and memory.
    fn record_usage(&mut self) {
        let now = std::time::Instant::now();
        let mut usage = Vec::new();
        for (name, slot) in &mut self.running {
            let u = slot.container.usage();
            let (at, cpu) = slot
                .cpu_sample
                .replace((now, u.cpu_time))
                .unwrap_or((now, u.cpu_time));
            let wall = now.duration_since(at).as_micros().max(1);
            let used = u.cpu_time.saturating_sub(cpu).as_micros();
            usage.push(ContainerUsage {
                name: name.clone(),
                cpu_millis: (used * 1000 / wall) as u64,
                memory_bytes: u.memory_bytes,
            });
        }
        *lock(&self.usage) = usage;
    }

    async fn stop_all_now(&mut self) {
        let stops: Vec<_> = self
            .running
            .drain()
            .map(|(_, slot)| {
                if let Some(probes) = slot.probes {
                    probes.cancel();
                }
                async move { slot.container.stop(Duration::from_secs(1)).await }
            })
            .collect();
        futures::future::join_all(stops).await;
    }
}

/// Probes a container's port where its runtime actually serves it (a Wasm service listens on
/// an address the agent chose).
#[derive(Clone)]
struct MappedProbes {
    ports: PortMap,
}

impl ProbeExecutor for MappedProbes {
    fn check(
        &self,
        action: &edge_wire::link::ProbeAction,
        timeout: Duration,
    ) -> impl std::future::Future<Output = ProbeOutcome> + Send {
        let port = match action {
            edge_wire::link::ProbeAction::HttpGet { port, .. }
            | edge_wire::link::ProbeAction::TcpSocket { port } => Some(*port),
            edge_wire::link::ProbeAction::Exec { .. } => None,
        };
        let target = port.and_then(|p| lock(&self.ports).get(&p).copied());
        let action = action.clone();
        async move {
            match (port, target) {
                (Some(port), None) => {
                    ProbeOutcome::Failure(format!("dial tcp :{port}: connect: connection refused"))
                }
                (_, Some(addr)) => {
                    let runner = ProbeRunner::new(addr.ip());
                    runner.check(&with_port(action, addr.port()), timeout).await
                }
                (None, None) => {
                    ProbeRunner::new(IpAddr::from([127, 0, 0, 1]))
                        .check(&action, timeout)
                        .await
                }
            }
        }
    }
}

fn with_port(action: edge_wire::link::ProbeAction, actual: u16) -> edge_wire::link::ProbeAction {
    use edge_wire::link::ProbeAction;
    match action {
        ProbeAction::HttpGet {
            path,
            scheme,
            headers,
            ..
        } => ProbeAction::HttpGet {
            path,
            port: actual,
            scheme,
            headers,
        },
        ProbeAction::TcpSocket { .. } => ProbeAction::TcpSocket { port: actual },
        other => other,
    }
}

/// The container ports of container `name`.
fn container_ports(spec: &PodRunSpec, name: &str) -> Vec<u16> {
    spec.containers
        .iter()
        .chain(&spec.init_containers)
        .filter(|c| c.name == name)
        .flat_map(|c| c.ports.iter().map(|p| p.container_port))
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one insert or replacement, so a poisoned map is still consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
