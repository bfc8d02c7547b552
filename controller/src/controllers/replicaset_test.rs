use super::*;

const NOW: &str = "2026-01-01T00:10:00Z";

fn now() -> jiff::Timestamp {
    NOW.parse().expect("timestamp")
}

fn snapshot(objects: Vec<Value>) -> Snapshot {
    crate::controllers::cache::snapshot_of(&objects)
}

/// A ReplicaSet selecting `app=NAME` whose stored status is what it would report for
/// `ready` ready (and available) pods out of `replicas` owned ones.
fn rs(name: &str, replicas: i64, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "demo", "uid": format!("uid-{name}"),
                     "generation": 1, "resourceVersion": "7"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "img"}]}},
        },
        "status": status,
    })
}

#[derive(Clone, Copy)]
enum State {
    /// Bound, Running, Ready for ten minutes.
    Ready,
    /// Bound, Running, not Ready.
    Running,
    /// Not bound to a node yet.
    Unscheduled,
    Succeeded,
    Deleting,
}

fn pod(name: &str, owner: Option<&Value>, app: &str, state: State) -> Value {
    let refs: Vec<Value> = owner
        .map(|o| owner_reference(o, "apps/v1", "ReplicaSet"))
        .into_iter()
        .collect();
    let (node, phase, ready) = match state {
        State::Ready => ("n1", "Running", "True"),
        State::Running | State::Deleting => ("n1", "Running", "False"),
        State::Unscheduled => ("", "Pending", "False"),
        State::Succeeded => ("n1", "Succeeded", "False"),
    };
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "demo", "uid": format!("uid-{name}"),
                     "labels": {"app": app}, "ownerReferences": refs, "resourceVersion": "3",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": node},
        "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": ready, "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    });
    if let State::Deleting = state {
        pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:09:00Z");
    }
    pod
}

fn describe(action: &Action) -> String {
    let name = |o: &Value| str_at(o, "/metadata/name").to_owned();
    match action {
        Action::Adopt { rs, pod } => format!("adopt {} {}", name(rs), name(pod)),
        Action::Release { rs, pod } => format!("release {} {}", name(rs), name(pod)),
        Action::Create { rs, count } => format!("create {} {count}", name(rs)),
        Action::Delete { rs, pods } => format!(
            "delete {} {}",
            name(rs),
            pods.iter().map(|p| name(p)).collect::<Vec<_>>().join(",")
        ),
        Action::Status { rs, status } => format!("status {} {status}", name(rs)),
    }
}

/// The status a ReplicaSet reports for `replicas` pods of which `ready` are ready.
fn reported(replicas: i64, ready: i64) -> Value {
    let mut status = Map::new();
    status.insert("replicas".into(), json!(replicas));
    put_count(&mut status, "fullyLabeledReplicas", replicas);
    put_count(&mut status, "readyReplicas", ready);
    put_count(&mut status, "availableReplicas", ready);
    status.insert("observedGeneration".into(), json!(1));
    Value::Object(status)
}

#[test]
fn plans_follow_kubernetes() {
    let web = rs("web", 2, reported(2, 2));
    let fresh = rs("web", 3, json!({}));
    let burst = rs("web", 600, reported(0, 0));
    let shrink = rs("web", 1, reported(4, 2));
    let other_rs = rs("api", 1, reported(1, 1));
    let gone = {
        let mut g = rs("web", 2, reported(0, 0));
        g["metadata"]["deletionTimestamp"] = json!(NOW);
        g
    };
    let cases: Vec<(&str, Vec<Value>, Vec<String>)> = vec![
        (
            "settled: nothing to do",
            vec![
                web.clone(),
                pod("a", Some(&web), "web", State::Ready),
                pod("b", Some(&web), "web", State::Ready),
            ],
            vec![],
        ),
        (
            "new replica set: create all, report zero",
            vec![fresh.clone()],
            vec![
                "create web 3".into(),
                r#"status web {"replicas":0,"observedGeneration":1}"#.into(),
            ],
        ),
        (
            "at most burstReplicas per pass",
            vec![burst.clone()],
            vec!["create web 500".into()],
        ),
        (
            "surplus: unscheduled, then not ready, go first",
            vec![
                shrink.clone(),
                pod("ready1", Some(&shrink), "web", State::Ready),
                {
                    // Among equals the newer pod goes first.
                    let mut newer = pod("ready2", Some(&shrink), "web", State::Ready);
                    newer["metadata"]["creationTimestamp"] = json!("2026-01-01T00:05:00Z");
                    newer
                },
                pod("running", Some(&shrink), "web", State::Running),
                pod("pending", Some(&shrink), "web", State::Unscheduled),
            ],
            vec!["delete web pending,running,ready2".into()],
        ),
        (
            "orphan matching the selector is adopted and counted",
            vec![
                web.clone(),
                pod("a", Some(&web), "web", State::Ready),
                pod("orphan", None, "web", State::Ready),
            ],
            vec!["adopt web orphan".into()],
        ),
        (
            "orphan of another app is left alone",
            vec![
                web.clone(),
                pod("a", Some(&web), "web", State::Ready),
                pod("stranger", None, "db", State::Ready),
            ],
            vec![
                "create web 1".into(),
                r#"status web {"replicas":1,"fullyLabeledReplicas":1,"readyReplicas":1,"availableReplicas":1,"observedGeneration":1}"#.into(),
            ],
        ),
        (
            "owned pod whose labels changed is released and replaced",
            vec![
                web.clone(),
                pod("a", Some(&web), "web", State::Ready),
                pod("relabeled", Some(&web), "debug", State::Ready),
            ],
            vec![
                "release web relabeled".into(),
                "create web 1".into(),
                r#"status web {"replicas":1,"fullyLabeledReplicas":1,"readyReplicas":1,"availableReplicas":1,"observedGeneration":1}"#.into(),
            ],
        ),
        (
            "finished and terminating pods do not count",
            vec![
                web.clone(),
                pod("a", Some(&web), "web", State::Ready),
                pod("done", Some(&web), "web", State::Succeeded),
                pod("leaving", Some(&web), "web", State::Deleting),
                pod("done-orphan", None, "web", State::Succeeded),
            ],
            vec![
                "create web 1".into(),
                r#"status web {"replicas":1,"fullyLabeledReplicas":1,"readyReplicas":1,"availableReplicas":1,"observedGeneration":1}"#.into(),
            ],
        ),
        (
            "a replica set being deleted is left to the garbage collector",
            vec![gone, pod("a", None, "web", State::Ready)],
            vec![],
        ),
        (
            "pods of another replica set are not touched",
            vec![
                web.clone(),
                other_rs.clone(),
                pod("a", Some(&web), "web", State::Ready),
                pod("b", Some(&web), "web", State::Ready),
                pod("c", Some(&other_rs), "api", State::Ready),
            ],
            vec![],
        ),
    ];
    for (name, objects, want) in cases {
        let got: Vec<String> = plan(&snapshot(objects), now())
            .iter()
            .map(describe)
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn an_orphan_matching_two_replica_sets_is_adopted_once() {
    let a = rs("a", 1, reported(1, 1));
    let mut b = rs("b", 1, reported(1, 1));
    b["spec"]["selector"] = json!({"matchLabels": {"app": "a"}});
    let got: Vec<String> = plan(
        &snapshot(vec![a, b, pod("orphan", None, "a", State::Ready)]),
        now(),
    )
    .iter()
    .map(describe)
    .collect();
    assert_eq!(got[0], "adopt a orphan");
    assert_eq!(got[1], "create b 1");
}

#[test]
fn status_counts_ready_available_and_fully_labeled_pods() {
    let mut set = rs("web", 3, json!({}));
    set["spec"]["minReadySeconds"] = json!(300);
    set["spec"]["template"]["metadata"]["labels"]["tier"] = json!("front");
    set["metadata"]["generation"] = json!(4);
    let mut young = pod("young", Some(&set), "web", State::Ready);
    young["status"]["conditions"][0]["lastTransitionTime"] = json!("2026-01-01T00:08:00Z");
    let mut labeled = pod("labeled", Some(&set), "web", State::Ready);
    labeled["metadata"]["labels"]["tier"] = json!("front");
    let pods: Vec<Arc<Value>> = vec![
        Arc::new(young),
        Arc::new(labeled),
        Arc::new(pod("slow", Some(&set), "web", State::Running)),
    ];
    let refs: Vec<&Arc<Value>> = pods.iter().collect();
    let status = status_of(&set, &refs, now());
    assert_eq!(
        status,
        json!({"replicas": 3, "fullyLabeledReplicas": 1, "readyReplicas": 2,
               "availableReplicas": 1, "observedGeneration": 4})
    );
}

#[test]
fn replica_failure_is_added_once_and_dropped_when_writes_succeed() {
    let mut set = rs("web", 1, reported(0, 0));
    let failed = with_replica_failure(&set, &reported(0, 0), "FailedCreate", "quota", "t1");
    assert_eq!(
        failed.pointer("/conditions/0"),
        Some(
            &json!({"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": "t1",
                     "reason": "FailedCreate", "message": "quota"})
        )
    );
    set["status"] = failed.clone();
    // A repeat keeps the first failure's time and message: no write.
    let again = with_replica_failure(&set, &reported(0, 0), "FailedCreate", "quota again", "t2");
    assert_eq!(again, failed);
    assert!(!status_changed(&set, &again));
    // With the failure gone, the plan drops the condition.
    let set = Arc::new(set);
    let pod = Arc::new(pod("a", Some(&set), "web", State::Running));
    let status = status_of(&set, &[&pod], now());
    assert!(status.get("conditions").is_none(), "{status}");
}

#[test]
fn adoption_and_release_patches_keep_other_owners() {
    let owner = rs("web", 1, json!({}));
    let mut orphan = pod("p", None, "web", State::Ready);
    orphan["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "cm-uid"}]);
    let adopt = adopt_patch(&orphan, owner_reference(&owner, "apps/v1", "ReplicaSet"));
    assert_eq!(str_at(&adopt, "/metadata/resourceVersion"), "3");
    assert_eq!(str_at(&adopt, "/metadata/ownerReferences/0/uid"), "cm-uid");
    assert_eq!(str_at(&adopt, "/metadata/ownerReferences/1/uid"), "uid-web");
    assert_eq!(
        adopt.pointer("/metadata/ownerReferences/1/controller"),
        Some(&json!(true))
    );
    orphan["metadata"]["ownerReferences"] = adopt["metadata"]["ownerReferences"].clone();
    let release = release_patch(&orphan, "uid-web");
    assert_eq!(
        release.pointer("/metadata/ownerReferences"),
        Some(&json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "cm-uid"}]))
    );
}
