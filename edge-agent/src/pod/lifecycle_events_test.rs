//! Tests of the lifecycle's per-event transitions: probes, spec changes, start failures and
//! refused events.

use edge_wire::link::{ContainerState, PodPhase, RestartPolicy};

use crate::pod::event::{PodEvent, StopReason};
use crate::pod::lifecycle::{LifecycleError, PodLifecycle};
use crate::pod::lifecycle_script::*;
use crate::pod::probe::ProbeKind;

#[test]
fn liveness_failure_restarts_the_container() -> TestResult {
    let mut spec = pod(RestartPolicy::Always, &[], &["app"]);
    spec.containers[0].liveness = Some(probe());
    let lifecycle = run(
        spec,
        &[start("app"), REPORT],
        &[
            (started("app", 0), &[probes_on("app", 0), REPORT]),
            (probed("app", 0, ProbeKind::Liveness, true, 10_000), &[]),
            (
                probed("app", 0, ProbeKind::Liveness, false, 30_000),
                &[
                    probes_off("app"),
                    stop("app", StopReason::LivenessProbeFailed),
                    REPORT,
                ],
            ),
            // Still running until the runtime reports the exit.
            (exited("app", 137, 31_000), &[start("app"), REPORT]),
            (started("app", 31_500), &[probes_on("app", 1), REPORT]),
            // A late result of the first instance changes nothing.
            (probed("app", 0, ProbeKind::Liveness, false, 31_600), &[]),
        ],
    )?;
    let status = lifecycle.status();
    assert_eq!(status.containers[0].restart_count, 1);
    assert_eq!(
        status.containers[0].last_state.as_ref().and_then(exit_code),
        Some(137)
    );
    Ok(())
}

#[test]
fn liveness_failure_with_never_stops_for_good() -> TestResult {
    let mut spec = pod(RestartPolicy::Never, &[], &["app"]);
    spec.containers[0].liveness = Some(probe());
    let lifecycle = run(
        spec,
        &[start("app"), REPORT],
        &[
            (started("app", 0), &[probes_on("app", 0), REPORT]),
            (
                probed("app", 0, ProbeKind::Liveness, false, 30_000),
                &[
                    probes_off("app"),
                    stop("app", StopReason::LivenessProbeFailed),
                    REPORT,
                ],
            ),
            (exited("app", 137, 31_000), &[REPORT]),
        ],
    )?;
    assert_eq!(lifecycle.status().phase, PodPhase::Failed);
    Ok(())
}

#[test]
fn readiness_toggles_ready_and_containers_ready() -> TestResult {
    let mut spec = pod(RestartPolicy::Always, &[], &["app", "side"]);
    spec.containers[0].readiness = Some(probe());
    let mut lifecycle = run(
        spec,
        &[start("app"), start("side"), REPORT],
        &[
            (started("app", 100), &[probes_on("app", 0), REPORT]),
            (started("side", 200), &[REPORT]),
        ],
    )?;
    let status = lifecycle.status();
    assert!(!status.containers[0].ready && status.containers[1].ready);
    let ready = status.conditions.iter().find(|c| c.kind == "Ready");
    assert_eq!(
        ready.and_then(|c| c.message.as_deref()),
        Some("containers with unready status: [app]")
    );
    for (at, success, ready) in [
        (1_000, true, true),
        (2_000, false, false),
        (3_000, true, true),
    ] {
        play(
            &mut lifecycle,
            &[(
                probed("app", 0, ProbeKind::Readiness, success, at),
                &[REPORT],
            )],
        )?;
        let status = lifecycle.status();
        assert_eq!(condition(&status, "Ready"), (ready, at));
        assert_eq!(condition(&status, "ContainersReady"), (ready, at));
        assert_eq!(status.containers[0].ready, ready);
    }
    Ok(())
}

#[test]
fn startup_probe_gates_liveness_and_readiness() -> TestResult {
    let mut spec = pod(RestartPolicy::Always, &[], &["app"]);
    spec.containers[0].startup = Some(probe());
    spec.containers[0].liveness = Some(probe());
    let lifecycle = run(
        spec.clone(),
        &[start("app"), REPORT],
        &[
            (started("app", 0), &[probes_on("app", 0), REPORT]),
            // Before the startup probe passes, a liveness failure is ignored.
            (probed("app", 0, ProbeKind::Liveness, false, 1_000), &[]),
        ],
    )?;
    let status = lifecycle.status();
    assert!(!status.containers[0].started && !status.containers[0].ready);
    let mut lifecycle = lifecycle;
    play(
        &mut lifecycle,
        &[(probed("app", 0, ProbeKind::Startup, true, 2_000), &[REPORT])],
    )?;
    let status = lifecycle.status();
    assert!(status.containers[0].started && status.containers[0].ready);
    assert_eq!(condition(&status, "Ready"), (true, 2_000));

    // A startup failure kills the container.
    run(
        spec,
        &[start("app"), REPORT],
        &[
            (started("app", 0), &[probes_on("app", 0), REPORT]),
            (
                probed("app", 0, ProbeKind::Startup, false, 30_000),
                &[
                    probes_off("app"),
                    stop("app", StopReason::StartupProbeFailed),
                ],
            ),
        ],
    )?;
    Ok(())
}

#[test]
fn a_spec_change_restarts_only_the_changed_container() -> TestResult {
    let spec = pod(RestartPolicy::Never, &[], &["app", "side"]);
    let mut lifecycle = run(
        spec.clone(),
        &[start("app"), start("side"), REPORT],
        &[
            (started("app", 0), &[REPORT]),
            (started("side", 0), &[REPORT]),
        ],
    )?;
    let mut changed = spec.clone();
    changed.containers[0].image = "registry.local/app:2".to_owned();
    changed.revision = 2;
    let actions = lifecycle.handle(PodEvent::SpecChanged {
        spec: Box::new(changed),
        at_ms: 1_000,
    })?;
    assert_eq!(actions, [stop("app", StopReason::SpecChanged), REPORT]);
    // Restarted at once whatever the policy (here Never), with the new image.
    play(
        &mut lifecycle,
        &[
            (exited("app", 143, 2_000), &[start("app"), REPORT]),
            (started("app", 2_100), &[REPORT]),
        ],
    )?;
    let status = lifecycle.status();
    assert_eq!(status.containers[0].image, "registry.local/app:2");
    assert_eq!(status.containers[0].restart_count, 1);
    assert_eq!(status.containers[1].restart_count, 0);
    assert_eq!(status.phase, PodPhase::Running);
    // The same spec again (a new revision only) changes nothing.
    let mut same = lifecycle.spec().clone();
    same.revision = 3;
    assert_eq!(
        lifecycle.handle(PodEvent::SpecChanged {
            spec: Box::new(same),
            at_ms: 3_000
        })?,
        []
    );
    Ok(())
}

#[test]
fn start_failures_retry_with_back_off_and_config_errors_wait_for_a_spec() -> TestResult {
    let failed = |at_ms| PodEvent::ContainerStartFailed {
        name: "app".to_owned(),
        reason: "ErrImagePull".to_owned(),
        message: "registry.local/app:1: not found".to_owned(),
        at_ms,
    };
    let mut lifecycle = run(
        pod(RestartPolicy::Never, &[], &["app"]),
        &[start("app"), REPORT],
        &[(failed(1_000), &[REPORT])],
    )?;
    let status = lifecycle.status();
    assert_eq!(
        waiting_reason(&status.containers[0].state),
        Some("ErrImagePull")
    );
    assert_eq!(status.phase, PodPhase::Pending);
    assert_eq!(lifecycle.next_wakeup_ms(), Some(11_000));
    play(
        &mut lifecycle,
        &[
            (tick(11_000), &[start("app"), REPORT]),
            (failed(12_000), &[REPORT]),
        ],
    )?;
    assert_eq!(lifecycle.next_wakeup_ms(), Some(32_000));
    play(
        &mut lifecycle,
        &[
            (tick(32_000), &[start("app"), REPORT]),
            (started("app", 33_000), &[REPORT]),
        ],
    )?;
    assert_eq!(lifecycle.status().containers[0].restart_count, 0);

    let mut spec = pod(RestartPolicy::Always, &[], &["app"]);
    spec.containers[0].config_error = Some("configmap ns/settings has no key port".to_owned());
    let (mut lifecycle, actions) = PodLifecycle::new(spec.clone(), 0);
    assert_eq!(actions, [REPORT]);
    let status = lifecycle.status();
    assert_eq!(
        status.containers[0].state,
        ContainerState::Waiting {
            reason: "CreateContainerConfigError".to_owned(),
            message: Some("configmap ns/settings has no key port".to_owned()),
        }
    );
    spec.containers[0].config_error = None;
    let actions = lifecycle.handle(PodEvent::SpecChanged {
        spec: Box::new(spec),
        at_ms: 5_000,
    })?;
    assert_eq!(actions, [start("app"), REPORT]);
    Ok(())
}

#[test]
fn illegal_events_are_refused_without_change() -> TestResult {
    let mut spec = pod(RestartPolicy::Always, &["i1"], &["app"]);
    spec.containers[0].readiness = Some(probe());
    let (mut lifecycle, _) = PodLifecycle::new(spec.clone(), 0);
    let mut other_pod = spec.clone();
    other_pod.uid = "uid-2".to_owned();
    let mut renamed = spec.clone();
    renamed.containers[0].name = "web".to_owned();
    let cases: Vec<(PodEvent, &str)> = vec![
        (started("nope", 1), "pod ns/web has no container nope"),
        (
            exited("app", 1, 1),
            "container app of pod ns/web cannot be reported exited: it is not started",
        ),
        (
            started("app", 1),
            "container app of pod ns/web cannot be reported started: it is not started",
        ),
        (
            PodEvent::ContainerStartFailed {
                name: "app".to_owned(),
                reason: "ErrImagePull".to_owned(),
                message: String::new(),
                at_ms: 1,
            },
            "container app of pod ns/web cannot be reported failed to start: it is not started",
        ),
        (
            probed("app", 0, ProbeKind::Liveness, false, 1),
            "container app of pod ns/web has no Liveness probe",
        ),
        (
            probed("i1", 0, ProbeKind::Readiness, false, 1),
            "container i1 of pod ns/web has no Readiness probe",
        ),
        (
            PodEvent::SpecChanged {
                spec: Box::new(other_pod),
                at_ms: 1,
            },
            "spec of pod uid uid-2 given to the lifecycle of pod uid uid-1",
        ),
        (
            PodEvent::SpecChanged {
                spec: Box::new(renamed),
                at_ms: 1,
            },
            "the containers of pod ns/web changed (containers were [\"app\"], now [\"web\"]); pod containers are immutable, so recreate the pod",
        ),
    ];
    let before = lifecycle.status();
    for (event, message) in cases {
        let error = lifecycle
            .handle(event.clone())
            .err()
            .ok_or_else(|| format!("{event:?} was accepted"))?;
        assert_eq!(error.to_string(), message);
        assert_eq!(lifecycle.status(), before, "{event:?} changed the status");
    }
    // The lifecycle still works.
    play(&mut lifecycle, &[(started("i1", 2), &[REPORT])])?;
    let error = lifecycle.handle(started("i1", 3)).err();
    assert!(
        matches!(
            error,
            Some(LifecycleError::WrongState {
                state: "running",
                ..
            })
        ),
        "{error:?}"
    );
    Ok(())
}
