use clap::Parser;
use serde_json::{Value, json};

use super::*;
use crate::cli::{Cli, Command};
use crate::cmd::rollout_history::{
    Rollback, controller_revision_history, controller_revision_rollback, deployment_history,
    deployment_rollback, history_output, history_text, rollback_message,
};
use crate::workloads::{POD_TEMPLATE_HASH, REVISION_ANNOTATION};

/// The line and whether the rollout is done, or the error.
type Want = Result<(&'static str, bool), &'static str>;

fn deployment(spec: Value, status: Value, generation: i64) -> Value {
    json!({"metadata": {"name": "web", "generation": generation}, "spec": spec, "status": status})
}

#[test]
fn deployment_status_messages() {
    let progressing_timeout = json!({"observedGeneration": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
    let cases: Vec<(&str, Value, Want)> = vec![
        (
            "spec change not yet observed",
            deployment(json!({"replicas": 3}), json!({"observedGeneration": 1}), 2),
            Ok((
                "Waiting for deployment spec update to be observed...",
                false,
            )),
        ),
        (
            "new replicas still being created",
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1}),
                2,
            ),
            Ok((
                "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...",
                false,
            )),
        ),
        (
            "old replicas still running",
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3}),
                2,
            ),
            Ok((
                "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...",
                false,
            )),
        ),
        (
            "updated replicas not yet available",
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
                2,
            ),
            Ok((
                "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...",
                false,
            )),
        ),
        (
            "complete",
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
                2,
            ),
            Ok(("deployment \"web\" successfully rolled out", true)),
        ),
        (
            "scaled to zero",
            deployment(json!({"replicas": 0}), json!({"observedGeneration": 1}), 1),
            Ok(("deployment \"web\" successfully rolled out", true)),
        ),
        (
            "progress deadline exceeded",
            deployment(json!({"replicas": 3}), progressing_timeout, 2),
            Err("deployment \"web\" exceeded its progress deadline"),
        ),
    ];
    for (name, object, want) in cases {
        check_status(name, WorkloadKind::Deployment, &object, 0, want);
    }
}

fn check_status(name: &str, kind: WorkloadKind, object: &Value, revision: i64, want: Want) {
    let got = rollout_status(kind, object, revision)
        .map(|s| (s.message, s.done))
        .map_err(|e| e.to_string());
    let want = want
        .map(|(m, done)| (m.to_string(), done))
        .map_err(str::to_string);
    assert_eq!(got, want, "{name}");
}

#[test]
fn deployment_status_checks_the_pinned_revision() {
    let mut d = deployment(
        json!({"replicas": 1}),
        json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        1,
    );
    d["metadata"]["annotations"] = json!({REVISION_ANNOTATION: "3"});
    check_status(
        "pinned to the running revision",
        WorkloadKind::Deployment,
        &d,
        3,
        Ok(("deployment \"web\" successfully rolled out", true)),
    );
    check_status(
        "pinned to another revision",
        WorkloadKind::Deployment,
        &d,
        2,
        Err("desired revision (2) is different from the running revision (3)"),
    );
}

#[test]
fn daemon_set_and_stateful_set_status_messages() {
    let ds = |strategy: &str, generation: i64, status: Value| {
        json!({"metadata": {"name": "agent", "generation": generation},
               "spec": {"updateStrategy": {"type": strategy}}, "status": status})
    };
    let sts = |update_strategy: Value, replicas: i64, generation: i64, status: Value| {
        json!({"metadata": {"name": "db", "generation": generation},
               "spec": {"replicas": replicas, "updateStrategy": update_strategy}, "status": status})
    };
    let rolling = json!({"type": "RollingUpdate"});
    let partitioned = |p: i64| json!({"type": "RollingUpdate", "rollingUpdate": {"partition": p}});
    let cases: Vec<(&str, WorkloadKind, Value, Want)> = vec![
        (
            "ds not observed",
            WorkloadKind::DaemonSet,
            ds("RollingUpdate", 2, json!({"observedGeneration": 1})),
            Ok((
                "Waiting for daemon set spec update to be observed...",
                false,
            )),
        ),
        (
            "ds updating",
            WorkloadKind::DaemonSet,
            ds(
                "RollingUpdate",
                1,
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1}),
            ),
            Ok((
                "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...",
                false,
            )),
        ),
        (
            "ds becoming available",
            WorkloadKind::DaemonSet,
            ds(
                "RollingUpdate",
                1,
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}),
            ),
            Ok((
                "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...",
                false,
            )),
        ),
        (
            "ds done",
            WorkloadKind::DaemonSet,
            ds(
                "RollingUpdate",
                1,
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
            ),
            Ok(("daemon set \"agent\" successfully rolled out", true)),
        ),
        (
            "ds on delete",
            WorkloadKind::DaemonSet,
            ds("OnDelete", 1, json!({"observedGeneration": 1})),
            Err("rollout status is only available for RollingUpdate strategy type"),
        ),
        (
            "sts never observed",
            WorkloadKind::StatefulSet,
            sts(rolling.clone(), 3, 1, json!({})),
            Ok((
                "Waiting for statefulset spec update to be observed...",
                false,
            )),
        ),
        (
            "sts pods not ready",
            WorkloadKind::StatefulSet,
            sts(
                rolling.clone(),
                3,
                1,
                json!({"observedGeneration": 1, "readyReplicas": 1}),
            ),
            Ok(("Waiting for 2 pods to be ready...", false)),
        ),
        (
            "sts partition not reached",
            WorkloadKind::StatefulSet,
            sts(
                partitioned(1),
                3,
                1,
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1}),
            ),
            Ok((
                "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
                false,
            )),
        ),
        (
            "sts partition reached",
            WorkloadKind::StatefulSet,
            sts(
                partitioned(0),
                3,
                1,
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 3}),
            ),
            Ok((
                "partitioned roll out complete: 3 new pods have been updated...",
                true,
            )),
        ),
        (
            "sts rolling update under way",
            WorkloadKind::StatefulSet,
            sts(
                rolling.clone(),
                3,
                1,
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1,
                       "currentRevision": "db-1", "updateRevision": "db-2"}),
            ),
            Ok((
                "waiting for statefulset rolling update to complete 1 pods at revision db-2...",
                false,
            )),
        ),
        (
            "sts rolling update complete",
            WorkloadKind::StatefulSet,
            sts(
                rolling,
                3,
                1,
                json!({"observedGeneration": 1, "readyReplicas": 3, "currentReplicas": 3,
                       "currentRevision": "db-2", "updateRevision": "db-2"}),
            ),
            Ok((
                "statefulset rolling update complete 3 pods at revision db-2...",
                true,
            )),
        ),
        (
            "sts on delete",
            WorkloadKind::StatefulSet,
            sts(
                json!({"type": "OnDelete"}),
                3,
                1,
                json!({"observedGeneration": 1}),
            ),
            Err("rollout status is only available for RollingUpdate strategy type"),
        ),
    ];
    for (name, kind, object, want) in cases {
        check_status(name, kind, &object, 0, want);
    }
}

#[test]
fn restart_and_pause_patches() {
    let now = "2025-03-04T05:06:07Z";
    let running = json!({"spec": {"template": {}}});
    let paused = json!({"spec": {"paused": true}});
    let patch = restart_patch(Some(WorkloadKind::Deployment), &running, now).expect("restartable");
    assert_eq!(
        patch,
        Some(
            json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}})
        )
    );
    let restarted = patch.expect("a patch");
    assert_eq!(
        restart_patch(Some(WorkloadKind::DaemonSet), &restarted, now).expect("restartable"),
        None,
        "a restart within the same second changes nothing"
    );
    let err = |r: Result<Value>| r.expect_err("refused").to_string();
    assert_eq!(
        restart_patch(Some(WorkloadKind::Deployment), &paused, now)
            .expect_err("paused")
            .to_string(),
        "can't restart paused deployment (run rollout resume first)"
    );
    assert_eq!(
        restart_patch(None, &running, now)
            .expect_err("a pod")
            .to_string(),
        "restarting is not supported"
    );
    let deploy = Some(WorkloadKind::Deployment);
    assert_eq!(
        pause_patch(deploy, &running, true).expect("pausable"),
        json!({"spec": {"paused": true}})
    );
    assert_eq!(
        pause_patch(deploy, &paused, false).expect("resumable"),
        json!({"spec": {"paused": false}})
    );
    assert_eq!(err(pause_patch(deploy, &paused, true)), "is already paused");
    assert_eq!(err(pause_patch(deploy, &running, false)), "is not paused");
    assert_eq!(
        err(pause_patch(Some(WorkloadKind::StatefulSet), &running, true)),
        "pausing is not supported"
    );
    assert_eq!(
        err(pause_patch(None, &running, false)),
        "resuming is not supported"
    );
}

#[test]
fn timestamps_and_timeouts() {
    let now = rfc3339_now();
    assert!(now.parse::<jiff::Timestamp>().is_ok(), "{now}");
    assert!(!now.contains('.'), "whole seconds: {now}");
    assert_eq!(parse_timeout("0s").expect("zero"), None);
    assert_eq!(parse_timeout("0").expect("zero"), None);
    assert_eq!(
        parse_timeout("90").expect("seconds"),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        parse_timeout("1m30s").expect("go style"),
        Some(Duration::from_secs(90))
    );
    assert!(parse_timeout("soon").is_err());
}

fn parse(args: &[&str]) -> Command {
    let argv = ["edgectl"].iter().chain(args).copied();
    Cli::try_parse_from(argv).expect("parses").command
}

#[test]
fn command_lines() {
    let Command::Rollout(RolloutCommand::Status(status)) = parse(&[
        "rollout",
        "status",
        "deploy/web",
        "--watch=false",
        "--timeout=2m",
    ]) else {
        panic!("not rollout status");
    };
    assert!(!status.watch);
    assert_eq!(status.timeout, "2m");
    let Command::Rollout(RolloutCommand::Status(status)) =
        parse(&["rollout", "status", "deploy", "web", "-w"])
    else {
        panic!("not rollout status");
    };
    assert!(status.watch);
    assert_eq!(status.resources, ["deploy", "web"]);
    let Command::Rollout(RolloutCommand::Undo(undo)) =
        parse(&["rollout", "undo", "deploy/web", "--to-revision=2"])
    else {
        panic!("not rollout undo");
    };
    assert_eq!(undo.to_revision, 2);
    let Command::Set(crate::cmd::set_image::SetCommand::Image(set)) =
        parse(&["set", "image", "deploy/web", "nginx=nginx:1.27", "--all"])
    else {
        panic!("not set image");
    };
    assert_eq!(set.args, ["deploy/web", "nginx=nginx:1.27"]);
    assert!(set.all);
}

fn replica_set(name: &str, revision: Option<&str>, image: &str, cause: Option<&str>) -> Value {
    let mut annotations = serde_json::Map::new();
    if let Some(revision) = revision {
        annotations.insert(REVISION_ANNOTATION.into(), json!(revision));
    }
    if let Some(cause) = cause {
        annotations.insert("kubernetes.io/change-cause".into(), json!(cause));
    }
    annotations.insert(
        "deployment.kubernetes.io/desired-replicas".into(),
        json!("3"),
    );
    json!({"metadata": {"name": name, "uid": name, "annotations": annotations},
           "spec": {"template": {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: name}},
                                 "spec": {"containers": [{"name": "nginx", "image": image}]}}}})
}

#[test]
fn history_tables() {
    let sets = [
        replica_set(
            "web-3",
            Some("3"),
            "nginx:3",
            Some("edgectl set image nginx=nginx:3"),
        ),
        replica_set("web-1", Some("1"), "nginx:1", None),
        replica_set("web-x", Some("bad"), "nginx:x", None),
        replica_set("web-10", Some("10"), "nginx:10", None),
    ];
    let refs: Vec<&Value> = sets.iter().collect();
    let history = deployment_history(&refs);
    assert_eq!(history.keys().copied().collect::<Vec<_>>(), [1, 3, 10]);
    assert_eq!(
        history_text(&history, 0).expect("a table"),
        "REVISION  CHANGE-CAUSE\n1         <none>\n3         edgectl set image nginx=nginx:3\n10        <none>\n"
    );
    assert_eq!(
        history_output(
            "deployment.apps/web",
            0,
            "REVISION  CHANGE-CAUSE\n1         <none>\n"
        ),
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n\n"
    );
    let template = history_text(&history, 3).expect("revision 3");
    assert!(
        template.starts_with("Pod Template:\n  Labels:"),
        "{template}"
    );
    assert!(template.contains("pod-template-hash=web-3"), "{template}");
    assert!(
        template
            .contains("Annotations:  kubernetes.io/change-cause: edgectl set image nginx=nginx:3"),
        "{template}"
    );
    assert!(template.contains("    Image:"), "{template}");
    assert!(template.contains("nginx:3"), "{template}");
    assert_eq!(
        history_text(&history, 7).expect_err("no 7").to_string(),
        "unable to find the specified revision"
    );
    assert_eq!(
        history_text(&Default::default(), 0).expect("empty"),
        "No rollout history found."
    );
    let revisions = [
        json!({"metadata": {"name": "agent-b", "annotations": {"kubernetes.io/change-cause": "bump"}},
               "revision": 2, "data": {"spec": {"template": {"$patch": "replace",
                   "spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}}),
        json!({"metadata": {"name": "agent-a"}, "revision": 1,
               "data": {"spec": {"template": {"$patch": "replace",
                   "spec": {"containers": [{"name": "a", "image": "a:1"}]}}}}}),
    ];
    let refs: Vec<&Value> = revisions.iter().collect();
    let history = controller_revision_history(&refs);
    assert_eq!(
        history_text(&history, 0).expect("a table"),
        "REVISION  CHANGE-CAUSE\n1         <none>\n2         bump\n"
    );
    assert_eq!(
        history[&1].template,
        json!({"spec": {"containers": [{"name": "a", "image": "a:1"}]}})
    );
}

#[test]
fn deployment_undo_picks_the_revision() {
    let sets = [
        replica_set("web-1", Some("1"), "nginx:1", Some("first")),
        replica_set("web-3", Some("3"), "nginx:3", None),
        replica_set("web-2", Some("2"), "nginx:2", None),
    ];
    let refs: Vec<&Value> = sets.iter().collect();
    let mut current = json!({"metadata": {"name": "web", "resourceVersion": "41",
        "annotations": {REVISION_ANNOTATION: "3", "team": "edge",
                        "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:3"}]}}}});
    let revision_of = |r: &Result<Rollback>| match r {
        Ok(Rollback::Restore { revision, .. }) => Ok(*revision),
        Ok(Rollback::Skip(revision)) => Ok(-revision),
        Err(e) => Err(e.to_string()),
    };
    let cases: Vec<(i64, Result<i64, &str>)> = vec![
        (0, Ok(2)),
        (1, Ok(1)),
        (3, Ok(-3)),
        (5, Err("unable to find specified revision 5 in history")),
        (-1, Err("unable to find specified revision -1 in history")),
    ];
    for (to, want) in cases {
        let got = revision_of(&deployment_rollback(&current, &refs, to));
        assert_eq!(got, want.map_err(str::to_string), "--to-revision={to}");
    }
    let Rollback::Restore {
        patch, patch_type, ..
    } = deployment_rollback(&current, &refs, 1).expect("rolls back")
    else {
        panic!("expected a restore");
    };
    assert_eq!(patch_type, PatchType::Json);
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "41"},
            {"op": "add", "path": "/spec/template", "value": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}},
            {"op": "add", "path": "/metadata/annotations", "value": {
                REVISION_ANNOTATION: "3",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kubernetes.io/change-cause": "first"}}
        ])
    );
    let only = [replica_set("web-3", Some("3"), "nginx:3", None)];
    let only: Vec<&Value> = only.iter().collect();
    assert_eq!(
        revision_of(&deployment_rollback(&current, &only, 0)),
        Err("no rollout history found for deployment \"web\"".to_string())
    );
    current["spec"]["paused"] = json!(true);
    assert!(
        revision_of(&deployment_rollback(&current, &refs, 1))
            .expect_err("paused")
            .starts_with("you cannot rollback a paused deployment")
    );
    assert_eq!(
        rollback_message("deployment.apps/web", &Rollback::Skip(3)),
        "deployment.apps/web skipped rollback (current template already matches revision 3)"
    );
}

#[test]
fn controller_revision_undo_picks_the_revision() {
    let cr = |revision: i64, image: &str| {
        json!({"metadata": {"name": format!("agent-{revision}")}, "revision": revision,
               "data": {"spec": {"template": {"$patch": "replace",
                   "spec": {"containers": [{"name": "a", "image": image}]}}}}})
    };
    let revisions = [cr(3, "a:3"), cr(1, "a:1"), cr(2, "a:2")];
    let refs: Vec<&Value> = revisions.iter().collect();
    let ds =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:3"}]}}}});
    match controller_revision_rollback(&ds, &refs, 0).expect("previous") {
        Rollback::Restore {
            revision,
            patch_type,
            patch,
        } => {
            assert_eq!(revision, 2);
            assert_eq!(patch_type, PatchType::Strategic);
            assert_eq!(patch, revisions[2]["data"]);
        }
        other => panic!("expected a restore, got {other:?}"),
    }
    assert_eq!(
        controller_revision_rollback(&ds, &refs, 3).expect("current"),
        Rollback::Skip(3)
    );
    let err = |r: Result<Rollback>| r.expect_err("refused").to_string();
    assert_eq!(
        err(controller_revision_rollback(&ds, &refs[..1], 0)),
        "no last revision to roll back to"
    );
    assert_eq!(
        err(controller_revision_rollback(&ds, &refs, 9)),
        "unable to find specified revision 9 in history"
    );
}
