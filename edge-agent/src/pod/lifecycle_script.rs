//! Helpers of the lifecycle tests: pod specs, events, expected actions, and a runner of
//! event scripts that checks each event's actions.

use edge_wire::link::{
    ContainerRunSpec, ContainerState, PodRunSpec, PodStatusReport, Probe, ProbeAction,
    RestartPolicy,
};

use super::event::{PodAction, PodEvent, StopReason};
use super::lifecycle::{LifecycleError, PodLifecycle};
use super::probe::ProbeKind;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const GRACE: u64 = 30;

pub fn container(name: &str) -> ContainerRunSpec {
    ContainerRunSpec {
        name: name.to_owned(),
        image: format!("registry.local/{name}:1"),
        ..Default::default()
    }
}

pub fn pod(policy: RestartPolicy, init: &[&str], containers: &[&str]) -> PodRunSpec {
    PodRunSpec {
        uid: "uid-1".to_owned(),
        namespace: "ns".to_owned(),
        name: "web".to_owned(),
        restart_policy: policy,
        termination_grace_secs: GRACE,
        init_containers: init.iter().map(|n| container(n)).collect(),
        containers: containers.iter().map(|n| container(n)).collect(),
        ..Default::default()
    }
}

pub fn probe() -> Probe {
    Probe {
        action: ProbeAction::TcpSocket { port: 8080 },
        initial_delay_secs: 0,
        period_secs: 10,
        timeout_secs: 1,
        success_threshold: 1,
        failure_threshold: 3,
    }
}

pub fn started(name: &str, at_ms: i64) -> PodEvent {
    PodEvent::ContainerStarted {
        name: name.to_owned(),
        at_ms,
    }
}

pub fn exited(name: &str, exit_code: i32, at_ms: i64) -> PodEvent {
    PodEvent::ContainerExited {
        name: name.to_owned(),
        exit_code,
        reason: if exit_code == 0 { "Completed" } else { "Error" }.to_owned(),
        message: None,
        at_ms,
    }
}

pub fn probed(name: &str, instance: u32, kind: ProbeKind, success: bool, at_ms: i64) -> PodEvent {
    PodEvent::ProbeResult {
        name: name.to_owned(),
        instance,
        kind,
        success,
        at_ms,
    }
}

pub fn tick(now_ms: i64) -> PodEvent {
    PodEvent::Tick { now_ms }
}

pub fn start(name: &str) -> PodAction {
    PodAction::StartContainer {
        name: name.to_owned(),
        init: false,
    }
}

pub fn start_init(name: &str) -> PodAction {
    PodAction::StartContainer {
        name: name.to_owned(),
        init: true,
    }
}

pub fn stop(name: &str, reason: StopReason) -> PodAction {
    PodAction::StopContainer {
        name: name.to_owned(),
        grace_secs: GRACE,
        reason,
    }
}

pub fn probes_on(name: &str, instance: u32) -> PodAction {
    PodAction::StartProbes {
        name: name.to_owned(),
        instance,
    }
}

pub fn probes_off(name: &str) -> PodAction {
    PodAction::StopProbes {
        name: name.to_owned(),
    }
}

pub const REPORT: PodAction = PodAction::ReportStatus;
pub const NONE: [PodAction; 0] = [];

/// Creates the lifecycle at time 0, checking its first actions, then runs `script`: each
/// event with the actions it must return.
pub fn run(
    spec: PodRunSpec,
    first: &[PodAction],
    script: &[(PodEvent, &[PodAction])],
) -> Result<PodLifecycle, LifecycleError> {
    let (mut lifecycle, actions) = PodLifecycle::new(spec, 0);
    assert_eq!(actions, first, "actions of new");
    play(&mut lifecycle, script)?;
    Ok(lifecycle)
}

pub fn play(
    lifecycle: &mut PodLifecycle,
    script: &[(PodEvent, &[PodAction])],
) -> Result<(), LifecycleError> {
    for (event, expected) in script {
        let actions = lifecycle.handle(event.clone())?;
        assert_eq!(&actions, expected, "actions of {event:?}");
    }
    Ok(())
}

pub fn condition(status: &PodStatusReport, kind: &str) -> (bool, i64) {
    status
        .conditions
        .iter()
        .find(|c| c.kind == kind)
        .map(|c| (c.status, c.last_transition_ms))
        .unwrap_or((false, -1))
}

pub fn waiting_reason(state: &ContainerState) -> Option<&str> {
    match state {
        ContainerState::Waiting { reason, .. } => Some(reason),
        _ => None,
    }
}

pub fn exit_code(state: &ContainerState) -> Option<i32> {
    match state {
        ContainerState::Terminated { exit_code, .. } => Some(*exit_code),
        _ => None,
    }
}
