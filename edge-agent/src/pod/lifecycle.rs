//! The lifecycle of one pod on the agent, as the kubelet runs it: a pure state machine that
//! takes [`PodEvent`]s and returns [`PodAction`]s for the pod worker to carry out.
//!
//! No I/O and no clock: every event carries its time (Unix milliseconds), and the worker
//! sends [`PodEvent::Tick`] at [`PodLifecycle::next_wakeup_ms`].
//!
//! # Rules (the kubelet's)
//!
//! - Init containers run one at a time, in order, each to successful completion; regular
//!   containers start together once they all have. A failed init container is restarted
//!   (with back-off) unless the restart policy is `Never`, which fails the pod.
//! - A regular container that exits is restarted per `restartPolicy` (`Always`; `OnFailure`
//!   for a non-zero exit; `Never` not at all) after its back-off
//!   ([`CrashLoopBackoff`](super::backoff::CrashLoopBackoff)): the first restart is
//!   immediate, then 10 s, 20 s, ... up to 5 min, reset after 10 min of running.
//!   While it waits it reports `Waiting { CrashLoopBackOff, "back-off 20s restarting failed
//!   container=app pod=name_namespace(uid)" }`. `restartCount` counts instances after the
//!   first; `lastState` is the previous instance's termination.
//! - A start that fails (`ErrImagePull`, `RunContainerError`, ...) creates no instance: the
//!   container waits with the failure's reason and is retried after its own back-off (10 s,
//!   20 s, ...) whatever the restart policy, as the kubelet retries image pulls. A runtime
//!   that created an instance which then could not run reports it as exited (exit code 128,
//!   reason `StartError`, as containerd does), so the restart policy applies.
//! - Startup probes gate liveness and readiness (results before `started` are ignored); a
//!   liveness or startup failure stops the container, which is then restarted per policy. A
//!   container is ready when started and its readiness probe last succeeded (or it has none).
//! - A regular container whose spec changes (image, command, env ...; see
//!   `needs_new_instance`) is stopped and started again at once, whatever the policy, as
//!   the kubelet does on a container hash change. An init container's new spec is used from
//!   its next start.
//! - `activeDeadlineSeconds` after the pod's start time: every container is stopped and the
//!   pod is `Failed` with reason `DeadlineExceeded`.
//! - Deletion (the event, or `spec.deleting`): every container is stopped with the pod's grace
//!   period and none restarts; once all have stopped the report says `terminated`.
//! - Once the pod is finished (deleted and stopped, deadline exceeded, or a terminal phase)
//!   the status is completed as the kubelet's `TerminatePod` does: containers without a
//!   termination are reported `Terminated { 137, ContainerStatusUnknown }` and a phase still
//!   `Pending` or `Running` becomes `Failed`. `Succeeded` and `Failed` are never left.

use edge_wire::link::{PodCondition, PodPhase, PodRunSpec, PodStatusReport};

use super::container_track::{ContainerTrack, RunState, Termination};
use super::event::{DEADLINE_MESSAGE, PodAction, PodEvent, StopReason};
use super::lifecycle_events::{Exit, stop};
use super::probe::ProbeKind;
use super::status::{is_terminal, merge_conditions, pod_conditions, pod_phase};

/// Reason of a pod failed by its active deadline.
pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
/// Reason and exit code the kubelet gives a container whose end it could not observe.
const STATUS_UNKNOWN: &str = "ContainerStatusUnknown";
const STATUS_UNKNOWN_EXIT: i32 = 137;
const STATUS_UNKNOWN_MESSAGE: &str =
    "The container could not be located when the pod was terminated";

/// An event the lifecycle refused; its state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("pod {pod} has no container {container}")]
    UnknownContainer { pod: String, container: String },
    #[error("container {container} of pod {pod} cannot be reported {event}: it is {state}")]
    WrongState {
        pod: String,
        container: String,
        event: &'static str,
        state: &'static str,
    },
    #[error("container {container} of pod {pod} has no {kind:?} probe")]
    ProbeNotConfigured {
        pod: String,
        container: String,
        kind: ProbeKind,
    },
    #[error("spec of pod uid {got} given to the lifecycle of pod uid {expected}")]
    WrongPod { expected: String, got: String },
    #[error(
        "the containers of pod {pod} changed ({detail}); pod containers are immutable, so recreate the pod"
    )]
    ContainersChanged { pod: String, detail: String },
}

/// The lifecycle of one pod. See the module documentation for its rules.
#[derive(Debug, Clone)]
pub struct PodLifecycle {
    pub(super) spec: PodRunSpec,
    pub(super) init: Vec<ContainerTrack>,
    pub(super) containers: Vec<ContainerTrack>,
    /// The latest time seen.
    pub(super) now_ms: i64,
    pub(super) start_time_ms: i64,
    pub(super) phase: PodPhase,
    pub(super) reason: Option<String>,
    pub(super) message: Option<String>,
    pub(super) conditions: Vec<PodCondition>,
    /// Every init container completed (cleared when they must run again after a reboot).
    pub(super) initialized: bool,
    pub(super) deleting: bool,
    /// Nothing starts again: deadline exceeded, or not restarted after a reboot.
    pub(super) halted: bool,
    /// The terminal completion of the status was applied.
    pub(super) finalized: bool,
    pub(super) pod_ip: Option<String>,
    pub(super) host_ip: Option<String>,
}

impl PodLifecycle {
    /// A pod the agent has just been given, first seen at `now_ms` (its start time). Returns
    /// the first actions (start the first init container, or the containers).
    pub fn new(spec: PodRunSpec, now_ms: i64) -> (Self, Vec<PodAction>) {
        let mut lifecycle = Self::blank(spec, now_ms);
        let mut actions = Vec::new();
        lifecycle.settle(&mut actions);
        actions.push(PodAction::ReportStatus);
        (lifecycle, actions)
    }

    pub(super) fn blank(spec: PodRunSpec, now_ms: i64) -> Self {
        let init = spec
            .init_containers
            .iter()
            .map(|c| ContainerTrack::new(c.clone(), true))
            .collect::<Vec<_>>();
        let containers = spec
            .containers
            .iter()
            .map(|c| ContainerTrack::new(c.clone(), false))
            .collect();
        Self {
            initialized: init.is_empty(),
            spec,
            init,
            containers,
            now_ms,
            start_time_ms: now_ms,
            phase: PodPhase::Pending,
            reason: None,
            message: None,
            conditions: Vec::new(),
            deleting: false,
            halted: false,
            finalized: false,
            pod_ip: None,
            host_ip: None,
        }
    }

    /// Applies one event. On error nothing changed.
    pub fn handle(&mut self, event: PodEvent) -> Result<Vec<PodAction>, LifecycleError> {
        let before = self.status();
        let clock = self.now_ms;
        self.now_ms = clock.max(event.at_ms());
        let mut actions = Vec::new();
        let applied = match event {
            PodEvent::SpecChanged { spec, .. } => self.apply_spec(*spec, &mut actions),
            PodEvent::ContainerStarted { name, at_ms } => {
                self.on_started(&name, at_ms, &mut actions)
            }
            PodEvent::ContainerStartFailed {
                name,
                reason,
                message,
                at_ms,
            } => self.on_start_failed(&name, reason, message, at_ms, &mut actions),
            PodEvent::ContainerExited {
                name,
                exit_code,
                reason,
                message,
                at_ms,
            } => {
                let exit = Exit {
                    exit_code,
                    reason,
                    message,
                    at_ms,
                };
                self.on_exited(&name, exit, &mut actions)
            }
            PodEvent::ProbeResult {
                name,
                instance,
                kind,
                success,
                ..
            } => self.on_probe(&name, instance, kind, success, &mut actions),
            PodEvent::DeleteRequested { .. } => {
                self.begin_delete(&mut actions);
                Ok(())
            }
            PodEvent::Tick { .. } => Ok(()),
        };
        if let Err(error) = applied {
            self.now_ms = clock;
            return Err(error);
        }
        self.settle(&mut actions);
        if self.status() != before {
            actions.push(PodAction::ReportStatus);
        }
        Ok(actions)
    }

    /// When the worker must send the next [`PodEvent::Tick`]: the earliest restart, start
    /// retry or active deadline. `None` when nothing is scheduled.
    pub fn next_wakeup_ms(&self) -> Option<i64> {
        if !self.restarts_allowed() {
            return None;
        }
        let retries = self.tracks().filter_map(|c| match &c.state {
            RunState::BackOff { restart_at_ms, .. } => Some(*restart_at_ms),
            RunState::StartFailed { retry_at_ms, .. } => Some(*retry_at_ms),
            _ => None,
        });
        retries.chain(self.deadline_ms()).min()
    }

    /// Sets the addresses the report carries (the worker knows them once the sandbox exists).
    /// Returns whether they changed (then report the status).
    pub fn set_addresses(&mut self, pod_ip: Option<String>, host_ip: Option<String>) -> bool {
        let changed = self.pod_ip != pod_ip || self.host_ip != host_ip;
        self.pod_ip = pod_ip;
        self.host_ip = host_ip;
        changed
    }

    /// The pod's current spec.
    pub fn spec(&self) -> &PodRunSpec {
        &self.spec
    }

    /// The pod's status.
    pub fn status(&self) -> PodStatusReport {
        let desc = self.pod_desc();
        let initializing = !self.initialized;
        PodStatusReport {
            uid: self.spec.uid.clone(),
            namespace: self.spec.namespace.clone(),
            name: self.spec.name.clone(),
            phase: self.phase,
            reason: self.reason.clone(),
            message: self.message.clone(),
            pod_ip: self.pod_ip.clone(),
            host_ip: self.host_ip.clone(),
            start_time_ms: Some(self.start_time_ms),
            conditions: self.conditions.clone(),
            init_containers: self.init.iter().map(|c| c.status(&desc, true)).collect(),
            containers: self
                .containers
                .iter()
                .map(|c| c.status(&desc, initializing))
                .collect(),
            terminated: self.deleting && self.finalized,
        }
    }

    /// The kubelet's `name_namespace(uid)`, used in messages.
    pub(super) fn pod_desc(&self) -> String {
        format!(
            "{}_{}({})",
            self.spec.name, self.spec.namespace, self.spec.uid
        )
    }

    pub(super) fn tracks(&self) -> impl Iterator<Item = &ContainerTrack> {
        self.init.iter().chain(&self.containers)
    }

    pub(super) fn tracks_mut(&mut self) -> impl Iterator<Item = &mut ContainerTrack> {
        self.init.iter_mut().chain(&mut self.containers)
    }

    pub(super) fn track_mut(&mut self, name: &str) -> Result<&mut ContainerTrack, LifecycleError> {
        let pod = format!("{}/{}", self.spec.namespace, self.spec.name);
        self.tracks_mut().find(|c| c.name() == name).ok_or_else(|| {
            LifecycleError::UnknownContainer {
                pod,
                container: name.to_owned(),
            }
        })
    }

    pub(super) fn wrong_state(
        &self,
        container: &ContainerTrack,
        event: &'static str,
    ) -> LifecycleError {
        LifecycleError::WrongState {
            pod: format!("{}/{}", self.spec.namespace, self.spec.name),
            container: container.name().to_owned(),
            event,
            state: container.state.name(),
        }
    }

    /// Containers may be started or restarted.
    pub(super) fn restarts_allowed(&self) -> bool {
        !self.deleting && !self.halted && !is_terminal(self.phase)
    }

    fn deadline_ms(&self) -> Option<i64> {
        let secs = i64::try_from(self.spec.active_deadline_secs?).unwrap_or(i64::MAX);
        Some(self.start_time_ms.saturating_add(secs.saturating_mul(1000)))
    }

    pub(super) fn begin_delete(&mut self, actions: &mut Vec<PodAction>) {
        if !self.deleting {
            self.deleting = true;
            self.stop_all(StopReason::PodDeleted, actions);
        }
    }

    /// Stops every instance and cancels pending restarts.
    fn stop_all(&mut self, reason: StopReason, actions: &mut Vec<PodAction>) {
        let grace = self.spec.termination_grace_secs;
        for track in self.tracks_mut() {
            match std::mem::replace(&mut track.state, RunState::Idle) {
                RunState::Running { started_ms } => {
                    track.state = RunState::Stopping {
                        started_ms: Some(started_ms),
                        reason,
                        restart: false,
                    };
                    actions.extend(track.stop_probes());
                    actions.push(stop(track, grace, reason));
                }
                RunState::Starting => {
                    track.state = RunState::Stopping {
                        started_ms: None,
                        reason,
                        restart: false,
                    };
                    actions.push(stop(track, grace, reason));
                }
                // Already being stopped: keep the stop, drop a planned restart.
                RunState::Stopping {
                    started_ms, reason, ..
                } => {
                    track.state = RunState::Stopping {
                        started_ms,
                        reason,
                        restart: false,
                    }
                }
                RunState::BackOff { exited, .. } => track.state = RunState::Exited(exited),
                other => track.state = other,
            }
        }
    }

    /// Brings everything due up to date after an event: deletion, the deadline, due restarts,
    /// the init sequence, the phase and conditions, and the terminal completion.
    pub(super) fn settle(&mut self, actions: &mut Vec<PodAction>) {
        let now = self.now_ms;
        if self.spec.deleting {
            self.begin_delete(actions);
        }
        if self.restarts_allowed() && self.deadline_ms().is_some_and(|d| now >= d) {
            self.halted = true;
            self.reason = Some(DEADLINE_EXCEEDED.to_owned());
            self.message = Some(DEADLINE_MESSAGE.to_owned());
            self.stop_all(StopReason::DeadlineExceeded, actions);
        }
        if self.restarts_allowed() {
            self.start_due(actions);
        }
        self.refresh();
        let finished = self.deleting || self.halted || is_terminal(self.phase);
        if finished && !self.finalized && !self.tracks().any(ContainerTrack::is_active) {
            self.finalize();
            self.refresh();
        }
    }

    /// Restarts whose back-off passed, then the next init container or the containers.
    fn start_due(&mut self, actions: &mut Vec<PodAction>) {
        let now = self.now_ms;
        for track in self.tracks_mut() {
            match std::mem::replace(&mut track.state, RunState::Idle) {
                RunState::BackOff {
                    exited,
                    restart_at_ms,
                } if restart_at_ms <= now => {
                    track.crash_backoff.next(exited.finished_ms, now);
                    track.last_termination = Some(exited);
                    actions.extend(track.begin_start());
                }
                RunState::StartFailed { retry_at_ms, .. } if retry_at_ms <= now => {
                    actions.extend(track.begin_start());
                }
                other => track.state = other,
            }
        }
        match self.init.iter_mut().find(|c| !c.succeeded()) {
            Some(next) => {
                if next.state == RunState::Idle {
                    actions.extend(next.begin_start());
                }
            }
            None => {
                self.initialized = true;
                for track in &mut self.containers {
                    if track.state == RunState::Idle {
                        actions.extend(track.begin_start());
                    }
                }
            }
        }
    }

    /// Recomputes the phase (never leaving a terminal one) and the conditions.
    fn refresh(&mut self) {
        let desc = self.pod_desc();
        let init: Vec<_> = self.init.iter().map(|c| c.status(&desc, true)).collect();
        let containers: Vec<_> = self
            .containers
            .iter()
            .map(|c| c.status(&desc, !self.initialized))
            .collect();
        let pod_is_terminal = self.deleting || self.halted || self.finalized;
        let mut phase = pod_phase(
            self.spec.restart_policy,
            &init,
            &containers,
            pod_is_terminal,
        );
        if self.halted && self.reason.as_deref() == Some(DEADLINE_EXCEEDED) {
            phase = PodPhase::Failed;
        }
        if self.finalized && !is_terminal(phase) {
            phase = PodPhase::Failed;
        }
        if !is_terminal(self.phase) {
            self.phase = phase;
        }
        let wanted = pod_conditions(self.phase, self.initialized, &init, &containers);
        merge_conditions(&mut self.conditions, wanted, self.now_ms);
    }

    /// The kubelet's `TerminatePod`: every container that has no termination gets one, since
    /// nothing will run again. Regular containers only once the pod was initialized, and init
    /// containers only up to the last one that ran.
    fn finalize(&mut self) {
        self.finalized = true;
        let now = self.now_ms;
        let unknown = || {
            RunState::Exited(Termination {
                exit_code: STATUS_UNKNOWN_EXIT,
                reason: STATUS_UNKNOWN.to_owned(),
                message: Some(STATUS_UNKNOWN_MESSAGE.to_owned()),
                started_ms: now,
                finished_ms: now,
            })
        };
        let ran_init = self
            .init
            .iter()
            .rposition(|c| c.ever_ran)
            .map_or(0, |i| i + 1);
        for track in &mut self.init[..ran_init] {
            if !matches!(track.state, RunState::Exited(_)) {
                track.state = unknown();
            }
        }
        if self.initialized {
            for track in &mut self.containers {
                if !matches!(track.state, RunState::Exited(_)) {
                    track.state = unknown();
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "lifecycle_test.rs"]
mod tests;
