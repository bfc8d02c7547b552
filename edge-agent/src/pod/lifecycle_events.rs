//! How [`PodLifecycle`] applies each event to the container it names: the guarded
//! transitions of [`RunState`], each refusing an event the state does not allow.

use edge_wire::link::{PodRunSpec, RestartPolicy};

use super::container_track::{ContainerTrack, RunState, Termination, needs_new_instance};
use super::event::{PodAction, StopReason};
use super::lifecycle::{LifecycleError, PodLifecycle};
use super::probe::ProbeKind;

impl PodLifecycle {
    pub(super) fn apply_spec(
        &mut self,
        spec: PodRunSpec,
        actions: &mut Vec<PodAction>,
    ) -> Result<(), LifecycleError> {
        if spec.uid != self.spec.uid {
            return Err(LifecycleError::WrongPod {
                expected: self.spec.uid.clone(),
                got: spec.uid,
            });
        }
        let names = |list: &[edge_wire::link::ContainerRunSpec]| {
            list.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
        };
        for (old, new, what) in [
            (
                &self.spec.init_containers,
                &spec.init_containers,
                "init containers",
            ),
            (&self.spec.containers, &spec.containers, "containers"),
        ] {
            let (old, new) = (names(old), names(new));
            if old != new {
                return Err(LifecycleError::ContainersChanged {
                    pod: format!("{}/{}", self.spec.namespace, self.spec.name),
                    detail: format!("{what} were {old:?}, now {new:?}"),
                });
            }
        }
        let restarts = self.restarts_allowed();
        let now = self.now_ms;
        let grace = spec.termination_grace_secs;
        for (track, new) in self
            .tracks_mut()
            .zip(spec.init_containers.iter().chain(&spec.containers))
        {
            let changed = needs_new_instance(&track.spec, new);
            track.spec = new.clone();
            if let RunState::ConfigError { .. } = track.state
                && new.config_error.is_none()
            {
                track.state = RunState::Idle;
            }
            if !changed || track.init || !restarts {
                continue;
            }
            match std::mem::replace(&mut track.state, RunState::Idle) {
                RunState::Running { started_ms } => {
                    track.state = RunState::Stopping {
                        started_ms: Some(started_ms),
                        reason: StopReason::SpecChanged,
                        restart: true,
                    };
                    actions.extend(track.stop_probes());
                    actions.push(stop(track, grace, StopReason::SpecChanged));
                }
                RunState::Starting => {
                    track.state = RunState::Stopping {
                        started_ms: None,
                        reason: StopReason::SpecChanged,
                        restart: true,
                    };
                    actions.push(stop(track, grace, StopReason::SpecChanged));
                }
                // A new spec is a new back-off (the kubelet keys it by the spec hash).
                RunState::BackOff { exited, .. } => {
                    track.crash_backoff.reset();
                    track.crash_backoff.next(exited.finished_ms, now);
                    track.last_termination = Some(exited);
                    actions.extend(track.begin_start());
                }
                RunState::StartFailed { .. } => {
                    track.start_backoff.reset();
                    actions.extend(track.begin_start());
                }
                other => track.state = other,
            }
        }
        self.spec = spec;
        Ok(())
    }

    pub(super) fn on_started(
        &mut self,
        name: &str,
        at_ms: i64,
        actions: &mut Vec<PodAction>,
    ) -> Result<(), LifecycleError> {
        let track = self.track_mut(name)?;
        match &mut track.state {
            RunState::Starting => {
                track.count_instance();
                track.start_backoff.reset();
                track.state = RunState::Running { started_ms: at_ms };
                if track.has_probes() {
                    track.probes_running = true;
                    actions.push(PodAction::StartProbes {
                        name: name.to_owned(),
                        instance: track.restart_count,
                    });
                }
                Ok(())
            }
            RunState::Stopping { started_ms, .. } if started_ms.is_none() => {
                *started_ms = Some(at_ms);
                track.count_instance();
                Ok(())
            }
            _ => {
                let track = track.clone();
                Err(self.wrong_state(&track, "started"))
            }
        }
    }

    pub(super) fn on_start_failed(
        &mut self,
        name: &str,
        reason: String,
        message: String,
        at_ms: i64,
        actions: &mut Vec<PodAction>,
    ) -> Result<(), LifecycleError> {
        let restarts = self.restarts_allowed();
        let track = self.track_mut(name)?;
        match track.state {
            RunState::Starting => {
                track.start_backoff.next(at_ms, at_ms);
                let delay = track.start_backoff.delay_ms().unwrap_or_default();
                track.state = RunState::StartFailed {
                    reason,
                    message,
                    retry_at_ms: at_ms.saturating_add(delay),
                };
                Ok(())
            }
            RunState::Stopping {
                started_ms: None,
                restart,
                ..
            } => {
                track.state = RunState::Idle;
                if restart && restarts {
                    actions.extend(track.begin_start());
                }
                Ok(())
            }
            _ => {
                let track = track.clone();
                Err(self.wrong_state(&track, "failed to start"))
            }
        }
    }

    pub(super) fn on_exited(
        &mut self,
        name: &str,
        exit: Exit,
        actions: &mut Vec<PodAction>,
    ) -> Result<(), LifecycleError> {
        let restarts = self.restarts_allowed();
        let policy = self.spec.restart_policy;
        let now = self.now_ms;
        let track = self.track_mut(name)?;
        let (started_ms, restart_now) = match track.state {
            RunState::Running { started_ms } => (started_ms, false),
            RunState::Stopping {
                started_ms: Some(started_ms),
                restart,
                ..
            } => (started_ms, restart),
            // The instance ended before its start was reported.
            RunState::Starting => {
                track.count_instance();
                (exit.at_ms, false)
            }
            RunState::Stopping {
                started_ms: None,
                restart,
                ..
            } => {
                track.count_instance();
                (exit.at_ms, restart)
            }
            _ => {
                let track = track.clone();
                return Err(self.wrong_state(&track, "exited"));
            }
        };
        actions.extend(track.stop_probes());
        let termination = Termination {
            exit_code: exit.exit_code,
            reason: exit.reason,
            message: exit.message,
            started_ms,
            finished_ms: exit.at_ms,
        };
        if !restarts || !(restart_now || should_restart(policy, track.init, exit.exit_code)) {
            track.state = RunState::Exited(termination);
            return Ok(());
        }
        if !restart_now
            && let Some(restart_at_ms) =
                track.crash_backoff.restart_at(termination.finished_ms, now)
        {
            track.state = RunState::BackOff {
                exited: termination,
                restart_at_ms,
            };
            return Ok(());
        }
        track.crash_backoff.next(termination.finished_ms, now);
        track.last_termination = Some(termination);
        actions.extend(track.begin_start());
        Ok(())
    }

    pub(super) fn on_probe(
        &mut self,
        name: &str,
        instance: u32,
        kind: ProbeKind,
        success: bool,
        actions: &mut Vec<PodAction>,
    ) -> Result<(), LifecycleError> {
        let grace = self.spec.termination_grace_secs;
        let pod = format!("{}/{}", self.spec.namespace, self.spec.name);
        let track = self.track_mut(name)?;
        let configured = !track.init
            && match kind {
                ProbeKind::Liveness => track.spec.liveness.is_some(),
                ProbeKind::Readiness => track.spec.readiness.is_some(),
                ProbeKind::Startup => track.spec.startup.is_some(),
            };
        if !configured {
            return Err(LifecycleError::ProbeNotConfigured {
                pod,
                container: name.to_owned(),
                kind,
            });
        }
        let RunState::Running { started_ms } = track.state else {
            // A result that was in flight when the instance stopped.
            return Ok(());
        };
        if instance != track.restart_count {
            return Ok(());
        }
        let kill = match kind {
            ProbeKind::Startup if !track.startup_ok => {
                track.startup_ok = success;
                (!success).then_some(StopReason::StartupProbeFailed)
            }
            ProbeKind::Startup => None,
            // Liveness and readiness wait for the startup probe.
            _ if !track.started() => None,
            ProbeKind::Liveness => (!success).then_some(StopReason::LivenessProbeFailed),
            ProbeKind::Readiness => {
                track.readiness_ok = success;
                None
            }
        };
        if let Some(reason) = kill {
            track.state = RunState::Stopping {
                started_ms: Some(started_ms),
                reason,
                restart: false,
            };
            actions.extend(track.stop_probes());
            actions.push(stop(track, grace, reason));
        }
        Ok(())
    }
}

/// How an instance ended, as the event says.
pub(super) struct Exit {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub at_ms: i64,
}

pub(super) fn stop(track: &ContainerTrack, grace_secs: u64, reason: StopReason) -> PodAction {
    PodAction::StopContainer {
        name: track.name().to_owned(),
        grace_secs,
        reason,
    }
}

/// Whether an instance that exited with `exit_code` is started again.
pub(super) fn should_restart(policy: RestartPolicy, init: bool, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => exit_code != 0,
        // Init containers run to completion: only a failure repeats them.
        RestartPolicy::Always => !init || exit_code != 0,
    }
}

#[cfg(test)]
#[path = "lifecycle_events_test.rs"]
mod tests;
