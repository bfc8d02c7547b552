//! What [`super::lifecycle::PodLifecycle`] knows about one container: its run state, restart
//! history, back-offs and probe results, and the status it reports.

use edge_wire::link::{ContainerRunSpec, ContainerState, ContainerStatusReport};

use super::backoff::{CrashLoopBackoff, go_duration};
use super::event::{PodAction, StopReason};

/// `ContainerCreating`: the container is being created (image fetched, component loaded).
pub const CONTAINER_CREATING: &str = "ContainerCreating";
/// `PodInitializing`: the container waits for the pod's init containers.
pub const POD_INITIALIZING: &str = "PodInitializing";
/// `CrashLoopBackOff`: the container exited and waits for its back-off to restart.
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
/// `CreateContainerConfigError`: the controller could not resolve the container's
/// configuration.
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

/// How a container instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_ms: i64,
    pub finished_ms: i64,
}

impl Termination {
    /// The state this termination is reported as.
    pub fn state(&self) -> ContainerState {
        ContainerState::Terminated {
            exit_code: self.exit_code,
            reason: self.reason.clone(),
            message: self.message.clone(),
            started_ms: self.started_ms,
            finished_ms: self.finished_ms,
        }
    }

    /// Reads a reported terminated state back.
    pub fn from_state(state: &ContainerState) -> Option<Self> {
        match state {
            ContainerState::Terminated {
                exit_code,
                reason,
                message,
                started_ms,
                finished_ms,
            } => Some(Self {
                exit_code: *exit_code,
                reason: reason.clone(),
                message: message.clone(),
                started_ms: *started_ms,
                finished_ms: *finished_ms,
            }),
            _ => None,
        }
    }
}

/// Where a container is in its life. Transitions are made by `PodLifecycle`, which checks
/// them against this state first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Not started yet: waiting for its turn (init order) or for the pod to start.
    Idle,
    /// The controller could not resolve its configuration; it starts once a spec without
    /// `config_error` arrives.
    ConfigError {
        message: String,
    },
    /// Its last start failed (image pull, creation); retried at `retry_at_ms`.
    StartFailed {
        reason: String,
        message: String,
        retry_at_ms: i64,
    },
    /// `StartContainer` was sent; waiting for the runtime to say it started or failed.
    Starting,
    Running {
        started_ms: i64,
    },
    /// `StopContainer` was sent; waiting for the exit. `started_ms` is `None` when the stop
    /// was sent before the runtime reported the start. `restart` means: start it again at
    /// once when it exits (its spec changed).
    Stopping {
        started_ms: Option<i64>,
        reason: StopReason,
        restart: bool,
    },
    /// Exited and waits for its restart back-off (`CrashLoopBackOff`).
    BackOff {
        exited: Termination,
        restart_at_ms: i64,
    },
    /// Exited and will not run again (or, for an init container, completed).
    Exited(Termination),
}

impl RunState {
    /// A short name for errors.
    pub fn name(&self) -> &'static str {
        match self {
            RunState::Idle => "not started",
            RunState::ConfigError { .. } => "waiting for its configuration",
            RunState::StartFailed { .. } => "waiting to retry its start",
            RunState::Starting => "starting",
            RunState::Running { .. } => "running",
            RunState::Stopping { .. } => "stopping",
            RunState::BackOff { .. } => "in crash-loop back-off",
            RunState::Exited(_) => "exited",
        }
    }
}

/// One container of the pod.
#[derive(Debug, Clone)]
pub struct ContainerTrack {
    pub spec: ContainerRunSpec,
    pub init: bool,
    pub state: RunState,
    /// Instances started before the current one.
    pub restart_count: u32,
    /// An instance of this container has run (so the next start is a restart).
    pub ever_ran: bool,
    /// The previous instance's termination (`lastState`).
    pub last_termination: Option<Termination>,
    pub crash_backoff: CrashLoopBackoff,
    pub start_backoff: CrashLoopBackoff,
    /// The startup probe succeeded for the current instance.
    pub startup_ok: bool,
    /// The readiness probe's last result for the current instance.
    pub readiness_ok: bool,
    /// `StartProbes` was sent for the current instance and `StopProbes` not yet.
    pub probes_running: bool,
}

impl ContainerTrack {
    pub fn new(spec: ContainerRunSpec, init: bool) -> Self {
        let state = match &spec.config_error {
            Some(message) => RunState::ConfigError {
                message: message.clone(),
            },
            None => RunState::Idle,
        };
        Self {
            spec,
            init,
            state,
            restart_count: 0,
            ever_ran: false,
            last_termination: None,
            crash_backoff: CrashLoopBackoff::new(),
            start_backoff: CrashLoopBackoff::new(),
            startup_ok: false,
            readiness_ok: false,
            probes_running: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Runs, or has been asked to start or stop: an instance may exist.
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            RunState::Starting | RunState::Running { .. } | RunState::Stopping { .. }
        )
    }

    /// Completed successfully (what init containers must do).
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, RunState::Exited(t) if t.exit_code == 0)
    }

    pub fn has_probes(&self) -> bool {
        !self.init
            && (self.spec.liveness.is_some()
                || self.spec.readiness.is_some()
                || self.spec.startup.is_some())
    }

    /// An instance runs (possibly being stopped).
    pub fn instance_runs(&self) -> bool {
        matches!(
            self.state,
            RunState::Running { .. }
                | RunState::Stopping {
                    started_ms: Some(_),
                    ..
                }
        )
    }

    /// `started`: an instance runs and is past its startup probe if it has one.
    pub fn started(&self) -> bool {
        self.instance_runs() && (self.spec.startup.is_none() || self.startup_ok)
    }

    /// `ready`: started, not being stopped, and its readiness probe (if any) last succeeded.
    /// An init container is ready once it has completed.
    pub fn ready(&self) -> bool {
        if self.init {
            return self.succeeded();
        }
        matches!(self.state, RunState::Running { .. })
            && self.started()
            && (self.spec.readiness.is_none() || self.readiness_ok)
    }

    /// Asks for a new instance: `StartContainer`, or nothing while its configuration is
    /// unresolved.
    pub fn begin_start(&mut self) -> Option<PodAction> {
        if let Some(message) = &self.spec.config_error {
            self.state = RunState::ConfigError {
                message: message.clone(),
            };
            return None;
        }
        self.state = RunState::Starting;
        self.startup_ok = false;
        self.readiness_ok = false;
        Some(PodAction::StartContainer {
            name: self.spec.name.clone(),
            init: self.init,
        })
    }

    /// Counts a new instance that is running (or already exited): a restart if one ran before.
    pub fn count_instance(&mut self) {
        if self.ever_ran {
            self.restart_count = self.restart_count.saturating_add(1);
        }
        self.ever_ran = true;
    }

    /// `StopProbes` if the probes of the current instance run.
    pub fn stop_probes(&mut self) -> Option<PodAction> {
        std::mem::take(&mut self.probes_running).then(|| PodAction::StopProbes {
            name: self.spec.name.clone(),
        })
    }

    /// The status as reported. `pod_desc` is the kubelet's `name_namespace(uid)`;
    /// `pod_initializing` says the pod's init containers have not all completed.
    pub fn status(&self, pod_desc: &str, pod_initializing: bool) -> ContainerStatusReport {
        let waiting = |reason: &str, message: Option<String>| ContainerState::Waiting {
            reason: reason.to_owned(),
            message,
        };
        let mut last_state = self.last_termination.as_ref().map(Termination::state);
        let state = match &self.state {
            RunState::Idle if self.init || pod_initializing => waiting(POD_INITIALIZING, None),
            RunState::Idle | RunState::Starting => waiting(CONTAINER_CREATING, None),
            RunState::ConfigError { message } => {
                waiting(CREATE_CONTAINER_CONFIG_ERROR, Some(message.clone()))
            }
            RunState::StartFailed {
                reason, message, ..
            } => waiting(reason, Some(message.clone())),
            RunState::Running { started_ms } => ContainerState::Running {
                started_ms: *started_ms,
            },
            // Still running until the runtime reports the exit.
            RunState::Stopping {
                started_ms: Some(started_ms),
                ..
            } => ContainerState::Running {
                started_ms: *started_ms,
            },
            RunState::Stopping {
                started_ms: None, ..
            } => waiting(CONTAINER_CREATING, None),
            RunState::BackOff {
                exited,
                restart_at_ms,
            } => {
                last_state = Some(exited.state());
                let delay = go_duration(restart_at_ms.saturating_sub(exited.finished_ms));
                waiting(
                    CRASH_LOOP_BACK_OFF,
                    Some(format!(
                        "back-off {delay} restarting failed container={} pod={pod_desc}",
                        self.spec.name
                    )),
                )
            }
            RunState::Exited(termination) => termination.state(),
        };
        ContainerStatusReport {
            name: self.spec.name.clone(),
            image: self.spec.image.clone(),
            image_id: String::new(),
            ready: self.ready(),
            started: self.started(),
            restart_count: self.restart_count,
            state,
            last_state,
        }
    }
}

/// Whether two specs of one container differ in a way that needs a new instance, as the
/// kubelet's container hash does. Probes are left out (they are immutable in the API, and a
/// new instance would not change how they run), and so is `config_error` (it concerns the
/// next start, not the running instance).
pub fn needs_new_instance(old: &ContainerRunSpec, new: &ContainerRunSpec) -> bool {
    old.image != new.image
        || old.runtime != new.runtime
        || old.pull_policy != new.pull_policy
        || old.command != new.command
        || old.args != new.args
        || old.working_dir != new.working_dir
        || old.env != new.env
        || old.ports != new.ports
        || old.limits != new.limits
        || old.mounts != new.mounts
        || old.security != new.security
        || old.allow_network != new.allow_network
}
