//! Resuming a pod's lifecycle from the status the agent persisted, after the agent or the
//! node restarted and the runtime lost every instance.
//!
//! This is what the kubelet does after a node reboot, when it finds the pod's sandbox gone:
//!
//! - A pod whose phase was `Succeeded` or `Failed` stays so; nothing runs again.
//! - Every instance that was running ended with the node: it is recorded as
//!   `Terminated { exit_code: 255, reason: "Unknown" }` (what containerd reports for a task
//!   that vanished), finished at the restore time, and becomes the container's `lastState`.
//! - Restart counts continue from the report; each new instance counts one more.
//! - With `restartPolicy: Never`, a pod that had created any container is not started again
//!   (the kubelet does not recreate the sandbox): containers without a termination are
//!   completed as `ContainerStatusUnknown` and the pod ends `Failed`.
//! - Otherwise, if any container must run again (always with `Always`; with `OnFailure`
//!   those that had not succeeded), the sandbox is recreated and, as for any new sandbox,
//!   the init containers run again from the first, then those containers start. Back-offs
//!   start afresh (the kubelet keeps them in memory), so the restarts are immediate.
//! - The start time is kept, so `activeDeadlineSeconds` still counts from the first start,
//!   and so are the conditions' transition times where the conditions did not change.

use edge_wire::link::{
    ContainerState, ContainerStatusReport, PodRunSpec, PodStatusReport, RestartPolicy,
};

use super::container_track::{ContainerTrack, RunState, Termination};
use super::event::PodAction;
use super::lifecycle::{LifecycleError, PodLifecycle};
use super::lifecycle_events::should_restart;
use super::status::is_terminal;

/// Exit code and reason of an instance that ended with the node.
const LOST_EXIT: i32 = 255;
const LOST_REASON: &str = "Unknown";

impl PodLifecycle {
    /// Resumes the pod `spec` from `last`, its last persisted status, at `now_ms`. Returns the
    /// lifecycle and its first actions.
    pub fn restore(
        spec: PodRunSpec,
        last: &PodStatusReport,
        now_ms: i64,
    ) -> Result<(Self, Vec<PodAction>), LifecycleError> {
        if last.uid != spec.uid {
            return Err(LifecycleError::WrongPod {
                expected: spec.uid,
                got: last.uid.clone(),
            });
        }
        let mut lifecycle = Self::blank(spec, now_ms);
        lifecycle.start_time_ms = last.start_time_ms.unwrap_or(now_ms);
        lifecycle.pod_ip = last.pod_ip.clone();
        lifecycle.host_ip = last.host_ip.clone();
        lifecycle.conditions = last.conditions.clone();
        if is_terminal(last.phase) {
            lifecycle.phase = last.phase;
            lifecycle.reason = last.reason.clone();
            lifecycle.message = last.message.clone();
        }
        for track in &mut lifecycle.init {
            resume(track, &last.init_containers, now_ms);
        }
        for track in &mut lifecycle.containers {
            resume(track, &last.containers, now_ms);
        }
        let any_ran = lifecycle.tracks().any(|c| c.ever_ran);
        lifecycle.initialized = lifecycle.init.iter().all(ContainerTrack::succeeded)
            || lifecycle.containers.iter().any(|c| c.ever_ran);

        let policy = lifecycle.spec.restart_policy;
        if is_terminal(last.phase) || (policy == RestartPolicy::Never && any_ran) {
            lifecycle.halted = true;
        } else if lifecycle.containers.iter().any(|c| must_run(c, policy)) {
            // A new sandbox: the init containers run again, then the containers.
            for track in lifecycle.init.iter_mut() {
                rearm(track);
            }
            for track in lifecycle.containers.iter_mut() {
                if must_run(track, policy) {
                    rearm(track);
                }
            }
            lifecycle.initialized = lifecycle.init.is_empty();
        }

        let mut actions = Vec::new();
        lifecycle.settle(&mut actions);
        actions.push(PodAction::ReportStatus);
        Ok((lifecycle, actions))
    }
}

/// Takes over a container's history from its last reported status: the instance it shows
/// (if any) has ended, and is its state until the pod decides what runs again.
fn resume(track: &mut ContainerTrack, reports: &[ContainerStatusReport], now_ms: i64) {
    let Some(report) = reports.iter().find(|r| r.name == track.spec.name) else {
        return;
    };
    let reported_last = report.last_state.as_ref().and_then(Termination::from_state);
    let (ended, older) = match &report.state {
        ContainerState::Running { started_ms } => (
            Some(Termination {
                exit_code: LOST_EXIT,
                reason: LOST_REASON.to_owned(),
                message: None,
                started_ms: *started_ms,
                finished_ms: now_ms,
            }),
            reported_last,
        ),
        state @ ContainerState::Terminated { .. } => {
            (Termination::from_state(state), reported_last)
        }
        // Waiting to restart (or never started): the last termination is the latest instance.
        ContainerState::Waiting { .. } => (reported_last, None),
    };
    track.restart_count = report.restart_count;
    track.ever_ran = ended.is_some();
    track.last_termination = older;
    if let Some(ended) = ended {
        track.state = RunState::Exited(ended);
    }
}

/// Whether a regular container runs again in a new sandbox.
fn must_run(track: &ContainerTrack, policy: RestartPolicy) -> bool {
    match &track.state {
        RunState::Exited(t) => should_restart(policy, false, t.exit_code),
        _ => true,
    }
}

/// Makes an ended container wait for its next start, its last instance becoming `lastState`.
fn rearm(track: &mut ContainerTrack) {
    if let RunState::Exited(t) = std::mem::replace(&mut track.state, RunState::Idle) {
        track.last_termination = Some(t);
    }
    if let Some(message) = &track.spec.config_error {
        track.state = RunState::ConfigError {
            message: message.clone(),
        };
    }
}

#[cfg(test)]
#[path = "lifecycle_restore_test.rs"]
mod tests;
