//! The inputs ([`PodEvent`]) and outputs ([`PodAction`]) of [`super::lifecycle::PodLifecycle`].

use edge_wire::link::PodRunSpec;

use super::probe::ProbeKind;

/// Message of a pod failed by its active deadline (also why its containers are stopped).
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// An input of the lifecycle. Each carries the time it happened; the lifecycle's clock is
/// the latest time it has seen.
#[derive(Debug, Clone, PartialEq)]
pub enum PodEvent {
    /// The controller sent a (new) spec for the pod.
    SpecChanged { spec: Box<PodRunSpec>, at_ms: i64 },
    /// The runtime started an instance of the container.
    ContainerStarted { name: String, at_ms: i64 },
    /// The runtime could not create the container: `reason` is `ErrImagePull`,
    /// `RunContainerError`, `CreateContainerError` ...
    ContainerStartFailed {
        name: String,
        reason: String,
        message: String,
        at_ms: i64,
    },
    /// The container's instance ended: `reason` is `Completed`, `Error`, `OOMKilled`,
    /// `DeadlineExceeded`, `StartError` ...
    ContainerExited {
        name: String,
        exit_code: i32,
        reason: String,
        message: Option<String>,
        at_ms: i64,
    },
    /// A probe's result changed (see `ProbeTracker`). `instance` is the `instance` of the
    /// [`PodAction::StartProbes`] that started the probes; results of an earlier instance
    /// are stale and ignored.
    ProbeResult {
        name: String,
        instance: u32,
        kind: ProbeKind,
        success: bool,
        at_ms: i64,
    },
    /// The pod is being deleted.
    DeleteRequested { at_ms: i64 },
    /// Time passed: sent at [`PodLifecycle::next_wakeup_ms`].
    Tick { now_ms: i64 },
}

impl PodEvent {
    /// When the event happened.
    pub fn at_ms(&self) -> i64 {
        match self {
            PodEvent::SpecChanged { at_ms, .. }
            | PodEvent::ContainerStarted { at_ms, .. }
            | PodEvent::ContainerStartFailed { at_ms, .. }
            | PodEvent::ContainerExited { at_ms, .. }
            | PodEvent::ProbeResult { at_ms, .. }
            | PodEvent::DeleteRequested { at_ms } => *at_ms,
            PodEvent::Tick { now_ms } => *now_ms,
        }
    }
}

/// What the pod worker must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodAction {
    /// Create and start a new instance of the container with its current spec.
    StartContainer { name: String, init: bool },
    /// Stop the container: signal it, kill it after `grace_secs`, then report the exit.
    StopContainer {
        name: String,
        grace_secs: u64,
        reason: StopReason,
    },
    /// Start probing the container (its probes are in the spec). Echo `instance` in the
    /// [`PodEvent::ProbeResult`]s.
    StartProbes { name: String, instance: u32 },
    /// Stop probing the container.
    StopProbes { name: String },
    /// The status changed: send [`PodLifecycle::status`] to the controller.
    ReportStatus,
}

/// Why a container is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    LivenessProbeFailed,
    StartupProbeFailed,
    SpecChanged,
    DeadlineExceeded,
    PodDeleted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::LivenessProbeFailed => "container failed liveness probe",
            StopReason::StartupProbeFailed => "container failed startup probe",
            StopReason::SpecChanged => "container definition changed, will be restarted",
            StopReason::DeadlineExceeded => DEADLINE_MESSAGE,
            StopReason::PodDeleted => "pod is being deleted",
        })
    }
}
