//! The pod phase and conditions, derived from container statuses as the kubelet derives them
//! (`getPhase`, `GeneratePodInitializedCondition`, `GenerateContainersReadyCondition`,
//! `GeneratePodReadyCondition`). Pure.

use edge_wire::link::{
    ContainerState, ContainerStatusReport, PodCondition, PodPhase, RestartPolicy,
};

/// `PodScheduled`: the controller bound the pod to this node, so it is always true here.
pub const POD_SCHEDULED: &str = "PodScheduled";
/// `Initialized`: every init container completed successfully.
pub const INITIALIZED: &str = "Initialized";
/// `ContainersReady`: every container is ready.
pub const CONTAINERS_READY: &str = "ContainersReady";
/// `Ready`: the pod can serve (no readiness gates here, so the same as `ContainersReady`).
pub const READY: &str = "Ready";

/// The kubelet's `getPhase` for a pod without restartable (sidecar) init containers.
///
/// `pod_is_terminal` is true once the pod will run nothing again (deleted and stopped,
/// deadline exceeded): its stopped containers then decide between `Succeeded` and `Failed`
/// whatever the restart policy.
pub fn pod_phase(
    policy: RestartPolicy,
    init: &[ContainerStatusReport],
    containers: &[ContainerStatusReport],
    pod_is_terminal: bool,
) -> PodPhase {
    let (mut pending_init, mut failed_init) = (0, 0);
    for status in init {
        match (&status.state, &status.last_state) {
            (ContainerState::Running { .. }, _) => pending_init += 1,
            (ContainerState::Terminated { exit_code, .. }, _) => {
                if *exit_code != 0 {
                    failed_init += 1;
                }
            }
            (
                ContainerState::Waiting { .. },
                Some(ContainerState::Terminated { exit_code, .. }),
            ) => {
                if *exit_code != 0 {
                    failed_init += 1;
                }
            }
            (ContainerState::Waiting { .. }, _) => pending_init += 1,
        }
    }

    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for status in containers {
        match (&status.state, &status.last_state) {
            (ContainerState::Running { .. }, _) => running += 1,
            (ContainerState::Terminated { exit_code, .. }, _) => {
                stopped += 1;
                if *exit_code == 0 {
                    succeeded += 1;
                }
            }
            (ContainerState::Waiting { .. }, Some(ContainerState::Terminated { .. })) => {
                stopped += 1
            }
            (ContainerState::Waiting { .. }, _) => waiting += 1,
        }
    }

    if failed_init > 0 && policy == RestartPolicy::Never {
        return PodPhase::Failed;
    }
    let any_regular_started = containers.iter().any(|s| {
        matches!(
            s.state,
            ContainerState::Running { .. } | ContainerState::Terminated { .. }
        )
    });
    if (pending_init > 0 && !any_regular_started) || waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 {
        return PodPhase::Running;
    }
    if stopped == 0 {
        // No regular containers at all (the API forbids it); nothing has run.
        return PodPhase::Pending;
    }
    if pod_is_terminal {
        return if stopped == succeeded {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        };
    }
    match policy {
        // Every container is restarting.
        RestartPolicy::Always => PodPhase::Running,
        _ if stopped == succeeded => PodPhase::Succeeded,
        RestartPolicy::Never => PodPhase::Failed,
        // At least one failed and is restarting.
        RestartPolicy::OnFailure => PodPhase::Running,
    }
}

/// Whether the phase is final: the kubelet never moves a pod out of it.
pub fn is_terminal(phase: PodPhase) -> bool {
    matches!(phase, PodPhase::Succeeded | PodPhase::Failed)
}

/// The wanted value of one condition, without its transition time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionValue {
    pub kind: &'static str,
    pub status: bool,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// The four conditions, in the order the pod reports them.
///
/// `initialized` is the pod's own record that its init containers all completed (it stays
/// true while regular containers restart); `ready` lists each regular container with its
/// readiness.
pub fn pod_conditions(
    phase: PodPhase,
    initialized: bool,
    init: &[ContainerStatusReport],
    containers: &[ContainerStatusReport],
) -> [ConditionValue; 4] {
    let completed = phase == PodPhase::Succeeded;
    let initialized_condition = if initialized || completed {
        ConditionValue {
            kind: INITIALIZED,
            status: true,
            reason: completed.then(|| "PodCompleted".to_owned()),
            message: None,
        }
    } else {
        let incomplete: Vec<&str> = init
            .iter()
            .filter(|s| !matches!(s.state, ContainerState::Terminated { exit_code: 0, .. }))
            .map(|s| s.name.as_str())
            .collect();
        ConditionValue {
            kind: INITIALIZED,
            status: false,
            reason: Some("ContainersNotInitialized".to_owned()),
            message: Some(format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            )),
        }
    };

    let unready: Vec<&str> = containers
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();
    let (ready, reason, message) = if completed {
        (false, Some("PodCompleted".to_owned()), None)
    } else if unready.is_empty() {
        (true, None, None)
    } else {
        (
            false,
            Some("ContainersNotReady".to_owned()),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let containers_ready = ConditionValue {
        kind: CONTAINERS_READY,
        status: ready,
        reason,
        message,
    };
    let pod_ready = ConditionValue {
        kind: READY,
        ..containers_ready.clone()
    };
    [
        ConditionValue {
            kind: POD_SCHEDULED,
            status: true,
            reason: None,
            message: None,
        },
        initialized_condition,
        containers_ready,
        pod_ready,
    ]
}

/// Replaces `stored` with `wanted`, keeping each condition's `last_transition_ms` unless its
/// status changed or it is new (then it becomes `now_ms`).
pub fn merge_conditions(stored: &mut Vec<PodCondition>, wanted: [ConditionValue; 4], now_ms: i64) {
    let merged = wanted
        .into_iter()
        .map(|value| {
            let previous = stored.iter().find(|c| c.kind == value.kind);
            let last_transition_ms = match previous {
                Some(p) if p.status == value.status => p.last_transition_ms,
                _ => now_ms,
            };
            PodCondition {
                kind: value.kind.to_owned(),
                status: value.status,
                last_transition_ms,
                reason: value.reason,
                message: value.message,
            }
        })
        .collect();
    *stored = merged;
}
