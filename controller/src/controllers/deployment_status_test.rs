//! The deployment status the plan writes: counts, Available, Progressing (created,
//! progressing, deadline, paused) and collisionCount.

use super::*;

#[test]
fn status_reports_counts_and_conditions() {
    // A first replica set: created, not available yet.
    let status = status_of(&[deploy(3, "v1")]).expect("status written");
    assert_eq!(status["observedGeneration"], json!(1));
    let progressing = condition_of(&status, "Progressing");
    assert_eq!(str_at(progressing, "/status"), "True");
    assert_eq!(str_at(progressing, "/reason"), "NewReplicaSetCreated");
    assert_eq!(
        str_at(progressing, "/message"),
        format!("Created new replica set \"{}\"", rs_name("v1"))
    );
    assert_eq!(str_at(progressing, "/lastUpdateTime"), NOW);
    let available = condition_of(&status, "Available");
    assert_eq!(
        (
            str_at(available, "/status"),
            str_at(available, "/reason"),
            str_at(available, "/message")
        ),
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability."
        )
    );

    // Mid-rollout counts: old pods count in replicas, not in updatedReplicas.
    let d = deploy(4, "v2");
    let status = status_of(&[
        d.clone(),
        rs_of(&d, "v1", 1, 3, 3),
        rs_of(&d, "v2", 2, 2, 1),
    ])
    .expect("status written");
    assert_eq!(
        (
            &status["replicas"],
            &status["updatedReplicas"],
            &status["readyReplicas"],
            &status["availableReplicas"],
            &status["unavailableReplicas"],
        ),
        (&json!(5), &json!(2), &json!(4), &json!(4), &json!(1))
    );
    assert_eq!(
        str_at(condition_of(&status, "Available"), "/status"),
        "True"
    );
    assert_eq!(
        str_at(condition_of(&status, "Progressing"), "/reason"),
        "ReplicaSetUpdated"
    );
    assert_eq!(
        str_at(condition_of(&status, "Progressing"), "/message"),
        format!("ReplicaSet \"{}\" is progressing.", rs_name("v2"))
    );
}

#[test]
fn progress_deadline_turns_progressing_false() {
    let d = deploy(4, "v2");
    let stalled = |updated_at: &str| {
        with(
            d.clone(),
            "/status",
            json!({"observedGeneration": 1, "replicas": 5, "updatedReplicas": 2, "readyReplicas": 3,
                   "availableReplicas": 3, "unavailableReplicas": 2, "conditions": [
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                 "message": "x", "lastUpdateTime": updated_at, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.",
                 "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
        )
    };
    let sets = |d: &Value| vec![d.clone(), rs_of(d, "v1", 1, 3, 3), rs_of(d, "v2", 2, 2, 0)];
    // 59 minutes without progress, 10 allowed: timed out.
    let status = status_of(&sets(&stalled("2026-01-01T00:01:00Z"))).expect("status written");
    let progressing = condition_of(&status, "Progressing");
    assert_eq!(
        (
            str_at(progressing, "/status"),
            str_at(progressing, "/reason")
        ),
        ("False", "ProgressDeadlineExceeded")
    );
    assert_eq!(
        str_at(progressing, "/message"),
        format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            rs_name("v2")
        )
    );
    assert_eq!(str_at(progressing, "/lastTransitionTime"), NOW);
    // Within the deadline: nothing to write.
    assert_eq!(status_of(&sets(&stalled("2026-01-01T00:55:00Z"))), None);
    // Progress (a new pod available) refreshes lastUpdateTime, keeps lastTransitionTime.
    let mut objects = sets(&stalled("2026-01-01T00:01:00Z"));
    objects[2] = rs_of(&d, "v2", 2, 2, 1);
    let status = status_of(&objects).expect("status written");
    let progressing = condition_of(&status, "Progressing");
    assert_eq!(str_at(progressing, "/reason"), "ReplicaSetUpdated");
    assert_eq!(str_at(progressing, "/lastUpdateTime"), NOW);
    assert_eq!(
        str_at(progressing, "/lastTransitionTime"),
        "2026-01-01T00:00:00Z"
    );
}

#[test]
fn pausing_and_resuming_show_in_progressing() {
    // Paused mid-rollout: one new pod surged, not available yet.
    let d = with(deploy(3, "v2"), "/spec/paused", json!(true));
    let d = with(
        d,
        "/metadata/annotations",
        json!({REVISION_ANNOTATION: "2"}),
    );
    let sets = |d: &Value| vec![d.clone(), rs_of(d, "v1", 1, 3, 3), rs_of(d, "v2", 2, 1, 0)];
    let status = status_of(&sets(&d)).expect("status written");
    let progressing = condition_of(&status, "Progressing");
    assert_eq!(
        (
            str_at(progressing, "/status"),
            str_at(progressing, "/reason"),
            str_at(progressing, "/message")
        ),
        ("Unknown", "DeploymentPaused", "Deployment is paused")
    );
    assert_eq!(
        steps(&sets(&d)),
        Vec::<String>::new(),
        "paused: no rollout step"
    );
    // Resumed: the condition says so until the rollout moves on.
    let resumed = with(
        with(d.clone(), "/status", status),
        "/spec/paused",
        json!(false),
    );
    let status = status_of(&sets(&resumed)).expect("status written");
    let progressing = condition_of(&status, "Progressing");
    assert_eq!(
        (
            str_at(progressing, "/status"),
            str_at(progressing, "/reason"),
            str_at(progressing, "/message")
        ),
        ("Unknown", "DeploymentResumed", "Deployment is resumed")
    );
}

#[test]
fn a_hash_collision_bumps_collision_count() {
    let d = deploy(3, "v2");
    let taken = with(
        with(
            rs_of(&d, "v9", 1, 1, 1),
            "/metadata/name",
            json!(rs_name("v2")),
        ),
        "/metadata/ownerReferences",
        json!([]),
    );
    let taken = with(taken, "/metadata/labels", json!({"app": "someone-else"}));
    let status = status_of(&[d.clone(), taken.clone()]).expect("status written");
    assert_eq!(status["collisionCount"], json!(1));
    // With the count, the next hash (and name) differ.
    let d = with(d, "/status", status);
    let created: Vec<String> = steps(&[d, taken]);
    let other = format!("web-{}", template_hash(&template("web", "v2"), Some(1)));
    assert_eq!(created[0], format!("create {other} replicas=3 rev=1"));
}
