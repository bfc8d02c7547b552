//! Tests of the pod lifecycle: init sequence, restarts and back-off, phases, deletion and
//! the active deadline.

use edge_wire::link::{ContainerState, PodPhase, RestartPolicy};

use crate::pod::event::{PodAction, PodEvent, StopReason};
use crate::pod::lifecycle::PodLifecycle;
use crate::pod::lifecycle_script::*;

#[test]
fn happy_path_runs_and_becomes_ready() -> TestResult {
    let (lifecycle, actions) = PodLifecycle::new(pod(RestartPolicy::Always, &[], &["app"]), 0);
    assert_eq!(actions, [start("app"), REPORT]);
    let status = lifecycle.status();
    assert_eq!(status.phase, PodPhase::Pending);
    assert_eq!(status.start_time_ms, Some(0));
    assert_eq!(
        waiting_reason(&status.containers[0].state),
        Some("ContainerCreating")
    );
    assert_eq!(condition(&status, "PodScheduled"), (true, 0));
    assert_eq!(condition(&status, "Initialized"), (true, 0));
    assert_eq!(condition(&status, "Ready"), (false, 0));

    let mut lifecycle = lifecycle;
    play(&mut lifecycle, &[(started("app", 1_500), &[REPORT])])?;
    let status = lifecycle.status();
    assert_eq!(status.phase, PodPhase::Running);
    assert_eq!(
        status.containers[0].state,
        ContainerState::Running { started_ms: 1_500 }
    );
    assert!(status.containers[0].ready && status.containers[0].started);
    assert_eq!(condition(&status, "ContainersReady"), (true, 1_500));
    assert_eq!(condition(&status, "Ready"), (true, 1_500));
    assert_eq!(condition(&status, "PodScheduled"), (true, 0));
    assert_eq!(lifecycle.next_wakeup_ms(), None);
    // Nothing changes: nothing to report.
    assert_eq!(lifecycle.handle(tick(60_000))?, NONE);
    Ok(())
}

#[test]
fn init_containers_run_in_order_before_the_containers() -> TestResult {
    let lifecycle = run(
        pod(RestartPolicy::Always, &["i1", "i2"], &["app"]),
        &[start_init("i1"), REPORT],
        &[
            (started("i1", 10), &[REPORT]),
            (exited("i1", 0, 20), &[start_init("i2"), REPORT]),
            (started("i2", 30), &[REPORT]),
        ],
    )?;
    let status = lifecycle.status();
    assert_eq!(status.phase, PodPhase::Pending);
    assert_eq!(
        waiting_reason(&status.containers[0].state),
        Some("PodInitializing")
    );
    let initialized = status.conditions.iter().find(|c| c.kind == "Initialized");
    assert_eq!(
        initialized.and_then(|c| c.message.as_deref()),
        Some("containers with incomplete status: [i2]")
    );
    let mut lifecycle = lifecycle;
    play(
        &mut lifecycle,
        &[
            (exited("i2", 0, 40), &[start("app"), REPORT]),
            (started("app", 50), &[REPORT]),
        ],
    )?;
    let status = lifecycle.status();
    assert_eq!(status.phase, PodPhase::Running);
    assert_eq!(condition(&status, "Initialized"), (true, 40));
    assert_eq!(exit_code(&status.init_containers[1].state), Some(0));
    Ok(())
}

#[test]
fn a_failed_init_container_follows_the_restart_policy() -> TestResult {
    struct Case {
        policy: RestartPolicy,
        actions: Vec<PodAction>,
        phase: PodPhase,
    }
    for case in [
        Case {
            policy: RestartPolicy::Always,
            actions: vec![start_init("i1"), REPORT],
            phase: PodPhase::Pending,
        },
        Case {
            policy: RestartPolicy::OnFailure,
            actions: vec![start_init("i1"), REPORT],
            phase: PodPhase::Pending,
        },
        Case {
            policy: RestartPolicy::Never,
            actions: vec![REPORT],
            phase: PodPhase::Failed,
        },
    ] {
        let lifecycle = run(
            pod(case.policy, &["i1"], &["app"]),
            &[start_init("i1"), REPORT],
            &[
                (started("i1", 10), &[REPORT]),
                (exited("i1", 1, 20), &case.actions),
            ],
        )?;
        let status = lifecycle.status();
        assert_eq!(status.phase, case.phase, "{:?}", case.policy);
        assert!(!condition(&status, "Initialized").0, "{:?}", case.policy);
        // The app never started.
        assert_eq!(
            waiting_reason(&status.containers[0].state),
            Some("PodInitializing"),
            "{:?}",
            case.policy
        );
    }
    Ok(())
}

#[test]
fn a_second_init_failure_backs_off() -> TestResult {
    let mut lifecycle = run(
        pod(RestartPolicy::Always, &["i1"], &["app"]),
        &[start_init("i1"), REPORT],
        &[
            (started("i1", 0), &[REPORT]),
            (exited("i1", 1, 1_000), &[start_init("i1"), REPORT]),
            (started("i1", 1_100), &[REPORT]),
            (exited("i1", 1, 2_000), &[REPORT]),
        ],
    )?;
    let status = lifecycle.status();
    assert_eq!(
        waiting_reason(&status.init_containers[0].state),
        Some("CrashLoopBackOff")
    );
    assert_eq!(status.init_containers[0].restart_count, 1);
    assert_eq!(lifecycle.next_wakeup_ms(), Some(12_000));
    play(
        &mut lifecycle,
        &[(tick(12_000), &[start_init("i1"), REPORT])],
    )?;
    Ok(())
}

/// Crashes `app` right after each start, restarting it when told to: the waits between an
/// exit and the restart, and the message while waiting at the third crash.
#[test]
fn crash_loop_backs_off_doubling_to_five_minutes() -> TestResult {
    let (mut lifecycle, _) = PodLifecycle::new(pod(RestartPolicy::Always, &[], &["app"]), 0);
    let mut now = 0;
    let mut waits = Vec::new();
    for crash in 0..9 {
        lifecycle.handle(started("app", now))?;
        now += 1_000;
        let finished = now;
        let actions = lifecycle.handle(exited("app", 1, now))?;
        if !actions.contains(&start("app")) {
            let wake = lifecycle
                .next_wakeup_ms()
                .ok_or("no wakeup while backing off")?;
            if crash == 2 {
                let status = lifecycle.status();
                let c = &status.containers[0];
                assert_eq!(
                    c.state,
                    ContainerState::Waiting {
                        reason: "CrashLoopBackOff".to_owned(),
                        message: Some(
                            "back-off 20s restarting failed container=app pod=web_ns(uid-1)"
                                .to_owned()
                        ),
                    }
                );
                assert_eq!(c.restart_count, 2);
                assert_eq!(
                    exit_code(c.last_state.as_ref().ok_or("no last state")?),
                    Some(1)
                );
                assert_eq!(status.phase, PodPhase::Running);
                assert_eq!(lifecycle.handle(tick(wake - 1))?, NONE);
            }
            now = wake;
            assert_eq!(lifecycle.handle(tick(now))?, [start("app"), REPORT]);
        }
        waits.push(now - finished);
    }
    assert_eq!(
        waits,
        [
            0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000
        ]
    );
    assert_eq!(lifecycle.status().containers[0].restart_count, 8);
    Ok(())
}

#[test]
fn ten_minutes_of_running_resets_the_back_off() -> TestResult {
    let mut lifecycle = run(
        pod(RestartPolicy::Always, &[], &["app"]),
        &[start("app"), REPORT],
        &[
            (started("app", 0), &[REPORT]),
            (exited("app", 1, 1_000), &[start("app"), REPORT]),
            (started("app", 1_000), &[REPORT]),
            (exited("app", 1, 2_000), &[REPORT]),
            (tick(12_000), &[start("app"), REPORT]),
            (started("app", 12_000), &[REPORT]),
        ],
    )?;
    // Ran for more than 10 min: restarted at once, and the next crash waits 10 s again.
    play(
        &mut lifecycle,
        &[
            (exited("app", 1, 12_000 + 600_001), &[start("app"), REPORT]),
            (started("app", 700_000), &[REPORT]),
            (exited("app", 1, 701_000), &[REPORT]),
        ],
    )?;
    assert_eq!(lifecycle.next_wakeup_ms(), Some(711_000));
    Ok(())
}

#[test]
fn restart_policy_and_exit_code_decide_the_phase() -> TestResult {
    for (policy, code, restarted, phase) in [
        (RestartPolicy::Always, 0, true, PodPhase::Running),
        (RestartPolicy::Always, 1, true, PodPhase::Running),
        (RestartPolicy::OnFailure, 0, false, PodPhase::Succeeded),
        (RestartPolicy::OnFailure, 1, true, PodPhase::Running),
        (RestartPolicy::Never, 0, false, PodPhase::Succeeded),
        (RestartPolicy::Never, 1, false, PodPhase::Failed),
    ] {
        let (mut lifecycle, _) = PodLifecycle::new(pod(policy, &[], &["app"]), 0);
        lifecycle.handle(started("app", 0))?;
        let actions = lifecycle.handle(exited("app", code, 5_000))?;
        let case = format!("{policy:?} exit {code}");
        assert_eq!(actions.contains(&start("app")), restarted, "{case}");
        let status = lifecycle.status();
        assert_eq!(status.phase, phase, "{case}");
        if !restarted {
            assert_eq!(exit_code(&status.containers[0].state), Some(code), "{case}");
            assert_eq!(lifecycle.next_wakeup_ms(), None, "{case}");
            // A finished pod is not deleted, so it is not `terminated`.
            assert!(!status.terminated, "{case}");
        }
        if phase == PodPhase::Succeeded {
            let ready = status.conditions.iter().find(|c| c.kind == "Ready");
            assert_eq!(
                ready.and_then(|c| c.reason.as_deref()),
                Some("PodCompleted")
            );
        }
    }
    Ok(())
}

#[test]
fn never_fails_only_when_every_container_has_stopped() -> TestResult {
    let mut lifecycle = run(
        pod(RestartPolicy::Never, &[], &["a", "b"]),
        &[start("a"), start("b"), REPORT],
        &[
            (started("a", 0), &[REPORT]),
            (started("b", 0), &[REPORT]),
            (exited("a", 1, 10), &[REPORT]),
        ],
    )?;
    assert_eq!(lifecycle.status().phase, PodPhase::Running);
    play(&mut lifecycle, &[(exited("b", 0, 20), &[REPORT])])?;
    assert_eq!(lifecycle.status().phase, PodPhase::Failed);
    Ok(())
}

#[test]
fn deletion_stops_everything_then_reports_terminated() -> TestResult {
    let mut lifecycle = run(
        pod(RestartPolicy::Always, &[], &["app", "crashy"]),
        &[start("app"), start("crashy"), REPORT],
        &[
            (started("app", 0), &[REPORT]),
            (started("crashy", 0), &[REPORT]),
            (exited("crashy", 1, 1_000), &[start("crashy"), REPORT]),
            (started("crashy", 1_000), &[REPORT]),
            (exited("crashy", 2, 2_000), &[REPORT]),
            (
                PodEvent::DeleteRequested { at_ms: 3_000 },
                &[stop("app", StopReason::PodDeleted), REPORT],
            ),
        ],
    )?;
    let status = lifecycle.status();
    assert!(!status.terminated);
    // The back-off is cancelled: crashy shows its last exit.
    assert_eq!(exit_code(&status.containers[1].state), Some(2));
    assert_eq!(lifecycle.next_wakeup_ms(), None);
    assert_eq!(lifecycle.handle(tick(20_000))?, NONE);
    // A second request changes nothing.
    assert_eq!(
        lifecycle.handle(PodEvent::DeleteRequested { at_ms: 20_001 })?,
        NONE
    );
    play(&mut lifecycle, &[(exited("app", 143, 25_000), &[REPORT])])?;
    let status = lifecycle.status();
    assert!(status.terminated);
    assert_eq!(status.phase, PodPhase::Failed);
    Ok(())
}

#[test]
fn deletion_through_the_spec_and_of_clean_exits() -> TestResult {
    let mut spec = pod(RestartPolicy::Always, &[], &["app"]);
    let mut lifecycle = run(
        spec.clone(),
        &[start("app"), REPORT],
        &[(started("app", 0), &[REPORT])],
    )?;
    spec.deleting = true;
    let actions = lifecycle.handle(PodEvent::SpecChanged {
        spec: Box::new(spec),
        at_ms: 1_000,
    })?;
    assert_eq!(actions, [stop("app", StopReason::PodDeleted), REPORT]);
    play(&mut lifecycle, &[(exited("app", 0, 2_000), &[REPORT])])?;
    let status = lifecycle.status();
    assert!(status.terminated);
    assert_eq!(status.phase, PodPhase::Succeeded);
    Ok(())
}

#[test]
fn deleting_a_pod_that_never_started_completes_its_statuses() -> TestResult {
    let mut lifecycle = run(
        pod(RestartPolicy::Always, &["i1"], &["app"]),
        &[start_init("i1"), REPORT],
        &[
            (started("i1", 0), &[REPORT]),
            (
                // Still running: the status does not change yet.
                PodEvent::DeleteRequested { at_ms: 1_000 },
                &[stop("i1", StopReason::PodDeleted)],
            ),
        ],
    )?;
    play(&mut lifecycle, &[(exited("i1", 137, 2_000), &[REPORT])])?;
    let status = lifecycle.status();
    assert!(status.terminated);
    assert_eq!(status.phase, PodPhase::Failed);
    // Never initialized: the app never ran, so it keeps waiting (the kubelet's TerminatePod).
    assert_eq!(
        waiting_reason(&status.containers[0].state),
        Some("PodInitializing")
    );
    Ok(())
}

#[test]
fn active_deadline_fails_the_pod() -> TestResult {
    let mut spec = pod(RestartPolicy::Always, &[], &["app"]);
    spec.active_deadline_secs = Some(60);
    let mut lifecycle = run(
        spec,
        &[start("app"), REPORT],
        &[(started("app", 500), &[REPORT])],
    )?;
    assert_eq!(lifecycle.next_wakeup_ms(), Some(60_000));
    assert_eq!(lifecycle.handle(tick(59_999))?, NONE);
    play(
        &mut lifecycle,
        &[(
            tick(60_000),
            &[stop("app", StopReason::DeadlineExceeded), REPORT],
        )],
    )?;
    let status = lifecycle.status();
    assert_eq!(status.phase, PodPhase::Failed);
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(lifecycle.next_wakeup_ms(), None);
    // The exit does not restart it, even with `Always`.
    play(&mut lifecycle, &[(exited("app", 143, 61_000), &[REPORT])])?;
    let status = lifecycle.status();
    assert_eq!(status.phase, PodPhase::Failed);
    assert_eq!(exit_code(&status.containers[0].state), Some(143));
    assert!(!status.terminated);
    Ok(())
}
