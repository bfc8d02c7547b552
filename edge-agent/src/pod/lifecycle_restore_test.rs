//! Tests of resuming a pod after the agent or node restarted.

use edge_wire::link::{ContainerState, PodPhase, PodStatusReport, RestartPolicy};

use crate::pod::event::{PodAction, PodEvent};
use crate::pod::lifecycle::PodLifecycle;
use crate::pod::lifecycle_script::*;

/// A report as the agent persisted it before the node went down.
fn report_of(lifecycle: &PodLifecycle) -> PodStatusReport {
    lifecycle.status()
}

#[test]
fn restore_after_a_reboot_restarts_what_ran() -> TestResult {
    // Always: the init container runs again, then the app; counts continue.
    let spec = pod(RestartPolicy::Always, &["i1"], &["app"]);
    let before = run(
        spec.clone(),
        &[start_init("i1"), REPORT],
        &[
            (started("i1", 0), &[REPORT]),
            (exited("i1", 0, 1_000), &[start("app"), REPORT]),
            (started("app", 1_000), &[REPORT]),
            (exited("app", 1, 2_000), &[start("app"), REPORT]),
            (started("app", 2_000), &[REPORT]),
        ],
    )?;
    let last = report_of(&before);
    assert_eq!(last.containers[0].restart_count, 1);
    let (mut lifecycle, actions) = PodLifecycle::restore(spec, &last, 100_000)?;
    assert_eq!(actions, [start_init("i1"), REPORT]);
    let status = lifecycle.status();
    assert_eq!(status.start_time_ms, Some(0));
    let app = &status.containers[0];
    assert_eq!(
        app.last_state,
        Some(ContainerState::Terminated {
            exit_code: 255,
            reason: "Unknown".to_owned(),
            message: None,
            started_ms: 2_000,
            finished_ms: 100_000,
        })
    );
    assert_eq!(waiting_reason(&app.state), Some("PodInitializing"));
    // getPhase: a completed init container waiting to run again is neither pending nor
    // failed, and the app is restarting.
    assert_eq!(status.phase, PodPhase::Running);
    play(&mut lifecycle, &[(started("i1", 100_100), &[REPORT])])?;
    assert_eq!(lifecycle.status().phase, PodPhase::Pending);
    play(
        &mut lifecycle,
        &[
            (exited("i1", 0, 100_200), &[start("app"), REPORT]),
            (started("app", 100_300), &[REPORT]),
        ],
    )?;
    let status = lifecycle.status();
    assert_eq!(status.phase, PodPhase::Running);
    assert_eq!(status.containers[0].restart_count, 2);
    assert_eq!(status.init_containers[0].restart_count, 1);
    Ok(())
}

#[test]
fn restore_follows_the_restart_policy() -> TestResult {
    // (policy, whether a's exit happened before the reboot, actions, phase after restore)
    for (policy, a_exits, actions, phase) in [
        (RestartPolicy::Never, false, vec![REPORT], PodPhase::Failed),
        (
            RestartPolicy::OnFailure,
            true,
            vec![start("b"), REPORT],
            PodPhase::Running,
        ),
        (
            RestartPolicy::Always,
            true,
            vec![start("a"), start("b"), REPORT],
            PodPhase::Running,
        ),
    ] {
        let spec = pod(policy, &[], &["a", "b"]);
        let mut script: Vec<(PodEvent, &[PodAction])> =
            vec![(started("a", 0), &[REPORT]), (started("b", 0), &[REPORT])];
        let restart_a: &[PodAction] = &[start("a"), REPORT];
        if a_exits {
            let expect: &[PodAction] = if policy == RestartPolicy::Always {
                restart_a
            } else {
                &[REPORT]
            };
            script.push((exited("a", 0, 500), expect));
        }
        let before = run(spec.clone(), &[start("a"), start("b"), REPORT], &script)?;
        let (lifecycle, got) = PodLifecycle::restore(spec, &report_of(&before), 9_000)?;
        assert_eq!(got, actions, "{policy:?}");
        assert_eq!(lifecycle.status().phase, phase, "{policy:?}");
    }
    // A finished pod stays finished.
    let spec = pod(RestartPolicy::OnFailure, &[], &["a"]);
    let before = run(
        spec.clone(),
        &[start("a"), REPORT],
        &[
            (started("a", 0), &[REPORT]),
            (exited("a", 0, 500), &[REPORT]),
        ],
    )?;
    let (lifecycle, got) = PodLifecycle::restore(spec.clone(), &report_of(&before), 9_000)?;
    assert_eq!(got, [REPORT]);
    assert_eq!(lifecycle.status().phase, PodPhase::Succeeded);
    assert_eq!(lifecycle.status().conditions, before.status().conditions);
    // A report of another pod is refused.
    let mut other = report_of(&before);
    other.uid = "uid-9".to_owned();
    assert!(PodLifecycle::restore(spec, &other, 9_000).is_err());
    Ok(())
}
