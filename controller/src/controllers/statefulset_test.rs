use super::*;
use crate::controllers::cache::snapshot_of;
use crate::controllers::daemonset::REVISION_LABEL;
use crate::controllers::history::controller_revision;
use crate::controllers::workload::template_hash;
use serde_json::json;

const NOW: &str = "2026-06-01T12:00:00Z";
/// When test pods became Ready: an hour before `NOW`.
const READY_SINCE: &str = "2026-06-01T11:00:00Z";

fn now() -> jiff::Timestamp {
    NOW.parse().expect("timestamp")
}

/// StatefulSet `web` (3 replicas of image `v1`, OrderedReady) with `spec` merged over it.
fn set(spec: Value) -> Value {
    let mut set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "sts1", "generation": 2},
        "spec": {
            "replicas": 3,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "v1"}]}}}});
    for (key, value) in spec.as_object().expect("spec patch is an object") {
        set["spec"][key] = value.clone();
    }
    set
}

/// `set` with its template's image changed.
fn with_image(mut set: Value, image: &str) -> Value {
    set["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    set
}

fn hash(set: &Value) -> String {
    template_hash(&set["spec"]["template"], None)
}

/// The revision name of `set`'s template.
fn rev(set: &Value) -> String {
    format!("web-{}", hash(set))
}

/// The stored ControllerRevision of `set`'s template, numbered `number`.
fn revision(set: &Value, number: i64) -> Value {
    let mut revision = controller_revision(set, &hash(set), number);
    revision["metadata"]["uid"] = json!(format!("cr{number}"));
    revision
}

/// Pod `ordinal` of `set` at `revision`, in `phase`, Ready or not.
fn pod(set: &Value, ordinal: i64, revision: &str, phase: &str, ready: bool) -> Value {
    let mut pod = stateful_pod(set, &set["spec"]["template"], revision, ordinal, None);
    pod["metadata"]["uid"] = json!(format!("pod{ordinal}"));
    pod["metadata"]["creationTimestamp"] = json!(READY_SINCE);
    pod["status"] = json!({"phase": phase, "conditions": [{"type": "Ready",
        "status": if ready { "True" } else { "False" }, "lastTransitionTime": READY_SINCE}]});
    pod
}

/// A Running, Ready pod at `set`'s own revision.
fn healthy(set: &Value, ordinal: i64) -> Value {
    pod(set, ordinal, &rev(set), "Running", true)
}

fn deleting(mut object: Value) -> Value {
    object["metadata"]["deletionTimestamp"] = json!(NOW);
    object
}

fn on_node(mut pod: Value, node: &str) -> Value {
    pod["spec"]["nodeName"] = json!(node);
    pod
}

/// A stored claim named `name` in phase `phase`, pinned to `node` when given.
fn claim(name: &str, phase: &str, node: Option<&str>) -> Value {
    let mut claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default", "uid": format!("pvc-{name}"),
            "resourceVersion": "7"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": phase}});
    if let Some(node) = node {
        claim["metadata"]["annotations"] = json!({SELECTED_NODE: node});
    }
    claim
}

fn data_template() -> Value {
    json!([{"metadata": {"name": "data", "labels": {"tier": "db"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}])
}

/// The plan's actions (but the status) as short strings, in plan order.
fn steps(objects: &[Value]) -> Vec<String> {
    plan(&snapshot_of(objects), now())
        .into_iter()
        .flat_map(|p| p.actions)
        .filter_map(|a| match a {
            Action::History(HistoryWrite::Create(r)) => {
                Some(format!("create revision {}", key_of(&r).1))
            }
            Action::History(HistoryWrite::Renumber { name, revision }) => {
                Some(format!("renumber {name} {revision}"))
            }
            Action::History(HistoryWrite::Delete { name }) => {
                Some(format!("delete revision {name}"))
            }
            Action::AdoptPod(p) => Some(format!("adopt {}", key_of(&p).1)),
            Action::ReleasePod(p) => Some(format!("release {}", key_of(&p).1)),
            Action::CreateClaim { claim, .. } => Some(format!("create claim {}", key_of(&claim).1)),
            Action::PinClaim { claim, node, bind } => Some(format!(
                "pin {} {node}{}",
                key_of(&claim).1,
                if bind { " bound" } else { "" }
            )),
            Action::SetClaimOwners { claim, owners } => {
                let kinds: Vec<&str> = owners.iter().map(|o| str_at(o, "/kind")).collect();
                Some(format!("owners {} [{}]", key_of(&claim).1, kinds.join(",")))
            }
            Action::CreatePod(p) => Some(format!("create pod {}", key_of(&p).1)),
            Action::DeletePod { pod, .. } => Some(format!("delete pod {}", key_of(&pod).1)),
            Action::Status(_) => None,
        })
        .collect()
}

#[test]
fn plans_pods_claims_and_revisions() {
    let base = set(json!({}));
    let r = rev(&base);
    let parallel = set(json!({"podManagementPolicy": "Parallel"}));
    let one = set(json!({"replicas": 1}));
    let parallel_one = set(json!({"replicas": 1, "podManagementPolicy": "Parallel"}));
    let slow = set(json!({"minReadySeconds": 7200}));
    let claims = set(json!({"replicas": 1, "volumeClaimTemplates": data_template()}));
    let v2 = with_image(base.clone(), "v2");
    let r2 = rev(&v2);
    let mut v2_rolling = v2.clone();
    v2_rolling["status"] = json!({"currentRevision": r});
    let partitioned = |partition: i64, extra: Value| {
        let mut s = v2_rolling.clone();
        s["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": partition}});
        for (k, v) in extra.as_object().expect("object") {
            s["spec"]["updateStrategy"]["rollingUpdate"][k] = v.clone();
        }
        s
    };
    let mut parallel_max2 = partitioned(0, json!({"maxUnavailable": 2}));
    parallel_max2["spec"]["podManagementPolicy"] = json!("Parallel");
    let mut on_delete = v2_rolling.clone();
    on_delete["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    let old = |s: &Value, ordinal| pod(s, ordinal, &r, "Running", true);
    let started = set(json!({"replicas": 2, "ordinals": {"start": 5}}));
    let (create_r, renumber_r, delete_r) = (
        format!("create revision {r}"),
        format!("renumber {r} 3"),
        format!("delete revision {r}"),
    );
    let mut foreign = healthy(&base, 0);
    foreign["metadata"]["ownerReferences"][0]["uid"] = json!("other");
    let mut orphan = healthy(&base, 0);
    orphan["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("ownerReferences");
    let mut stranger = orphan.clone();
    stranger["metadata"]["labels"]["app"] = json!("other");
    let mut strays = orphan.clone();
    strays["metadata"]["name"] = json!("web-x");
    let mut relabelled = healthy(&base, 0);
    relabelled["metadata"]["labels"]["app"] = json!("other");
    let mut delete_claims = claims.clone();
    delete_claims["spec"]["persistentVolumeClaimRetentionPolicy"] =
        json!({"whenDeleted": "Delete", "whenScaled": "Delete"});
    delete_claims["spec"]["replicas"] = json!(0);

    let cases: Vec<(&str, Vec<Value>, Vec<&str>)> = vec![
        (
            "ordered: the first pod alone",
            vec![base.clone(), revision(&base, 1)],
            vec!["create pod web-0"],
        ),
        (
            "ordered: waits for web-0 to be Ready",
            vec![
                base.clone(),
                revision(&base, 1),
                pod(&base, 0, &r, "Running", false),
            ],
            vec![],
        ),
        (
            "ordered: waits for web-0 to run",
            vec![
                base.clone(),
                revision(&base, 1),
                pod(&base, 0, &r, "Pending", false),
            ],
            vec![],
        ),
        (
            "ordered: the next pod once the lower ones are Ready",
            vec![base.clone(), revision(&base, 1), healthy(&base, 0)],
            vec!["create pod web-1"],
        ),
        (
            "ordered: a gap is filled first",
            vec![base.clone(), revision(&base, 1), healthy(&base, 1)],
            vec!["create pod web-0"],
        ),
        (
            "ordered: minReadySeconds not yet over",
            vec![slow.clone(), revision(&slow, 1), healthy(&slow, 0)],
            vec![],
        ),
        (
            "parallel: every pod at once",
            vec![parallel.clone(), revision(&parallel, 1)],
            vec!["create pod web-0", "create pod web-1", "create pod web-2"],
        ),
        (
            "ordinals.start names the pods",
            vec![started.clone(), revision(&started, 1)],
            vec!["create pod web-5"],
        ),
        (
            "a new template gets a revision",
            vec![base.clone()],
            vec![create_r.as_str(), "create pod web-0"],
        ),
        (
            "scale down: the highest ordinal first, one at a time",
            vec![
                one.clone(),
                revision(&one, 1),
                healthy(&one, 0),
                healthy(&one, 1),
                healthy(&one, 2),
            ],
            vec!["delete pod web-2"],
        ),
        (
            "scale down: waits for a pod being deleted",
            vec![
                one.clone(),
                revision(&one, 1),
                healthy(&one, 0),
                healthy(&one, 1),
                deleting(healthy(&one, 2)),
            ],
            vec![],
        ),
        (
            "scale down: waits while a remaining pod is not Ready",
            vec![
                one.clone(),
                revision(&one, 1),
                pod(&one, 0, &r, "Running", false),
                healthy(&one, 1),
            ],
            vec![],
        ),
        (
            "scale down: an unhealthy highest pod may go",
            vec![
                one.clone(),
                revision(&one, 1),
                healthy(&one, 0),
                healthy(&one, 1),
                pod(&one, 2, &r, "Pending", false),
            ],
            vec!["delete pod web-2"],
        ),
        (
            "parallel scale down: all surplus pods",
            vec![
                parallel_one.clone(),
                revision(&parallel_one, 1),
                healthy(&parallel_one, 0),
                pod(&parallel_one, 1, &r, "Running", false),
                healthy(&parallel_one, 2),
            ],
            vec!["delete pod web-2", "delete pod web-1"],
        ),
        (
            "a failed pod is deleted, and waited for",
            vec![
                base.clone(),
                revision(&base, 1),
                pod(&base, 0, &r, "Failed", false),
                healthy(&base, 1),
            ],
            vec!["delete pod web-0"],
        ),
        (
            "a succeeded pod is deleted too",
            vec![
                one.clone(),
                revision(&one, 1),
                pod(&one, 0, &r, "Succeeded", false),
            ],
            vec!["delete pod web-0"],
        ),
        (
            "a pod being deleted is waited for",
            vec![
                base.clone(),
                revision(&base, 1),
                deleting(pod(&base, 0, &r, "Failed", false)),
            ],
            vec![],
        ),
        (
            "rolling update: the highest old pod first",
            vec![
                v2_rolling.clone(),
                revision(&base, 1),
                revision(&v2, 2),
                old(&v2, 0),
                old(&v2, 1),
                old(&v2, 2),
            ],
            vec!["delete pod web-2"],
        ),
        (
            "rolling update: waits for the replaced pod to be Ready",
            vec![
                v2_rolling.clone(),
                revision(&base, 1),
                revision(&v2, 2),
                old(&v2, 0),
                old(&v2, 1),
                pod(&v2, 2, &r2, "Running", false),
            ],
            vec![],
        ),
        (
            "rolling update: continues below the updated pods",
            vec![
                v2_rolling.clone(),
                revision(&base, 1),
                revision(&v2, 2),
                old(&v2, 0),
                old(&v2, 1),
                healthy(&v2, 2),
            ],
            vec!["delete pod web-1"],
        ),
        (
            "partition: pods below it keep the old revision",
            vec![
                partitioned(2, json!({})),
                revision(&base, 1),
                revision(&v2, 2),
                old(&v2, 0),
                old(&v2, 1),
                healthy(&v2, 2),
            ],
            vec![],
        ),
        (
            "partition: the pod at it is updated",
            vec![
                partitioned(1, json!({})),
                revision(&base, 1),
                revision(&v2, 2),
                old(&v2, 0),
                old(&v2, 1),
                healthy(&v2, 2),
            ],
            vec!["delete pod web-1"],
        ),
        (
            "maxUnavailable 2: two old pods at once",
            vec![
                parallel_max2.clone(),
                revision(&base, 1),
                revision(&v2, 2),
                old(&v2, 0),
                old(&v2, 1),
                old(&v2, 2),
            ],
            vec!["delete pod web-2", "delete pod web-1"],
        ),
        (
            "OnDelete: old pods stay",
            vec![
                on_delete.clone(),
                revision(&base, 1),
                revision(&v2, 2),
                old(&v2, 0),
                old(&v2, 1),
                old(&v2, 2),
            ],
            vec![],
        ),
        (
            "a rollback renumbers the old revision",
            vec![base.clone(), revision(&base, 1), revision(&v2, 2)],
            vec![renumber_r.as_str(), "create pod web-0"],
        ),
        (
            "history beyond the limit goes, oldest first",
            vec![
                with_image(set(json!({"revisionHistoryLimit": 1})), "v3"),
                revision(&base, 1),
                revision(&v2, 2),
                revision(&with_image(base.clone(), "v3"), 3),
            ],
            vec![delete_r.as_str(), "create pod web-0"],
        ),
        (
            "claims come before their pod",
            vec![claims.clone(), revision(&claims, 1)],
            vec!["create claim data-web-0", "create pod web-0"],
        ),
        (
            "a bound pod pins its claims to its node",
            vec![
                claims.clone(),
                revision(&claims, 1),
                on_node(healthy(&claims, 0), "node-a"),
                claim("data-web-0", "Pending", None),
            ],
            vec!["pin data-web-0 node-a bound"],
        ),
        (
            "a pinned claim is left alone",
            vec![
                claims.clone(),
                revision(&claims, 1),
                on_node(healthy(&claims, 0), "node-a"),
                claim("data-web-0", "Bound", Some("node-a")),
            ],
            vec![],
        ),
        (
            "a pending pod gets its missing claims",
            vec![
                claims.clone(),
                revision(&claims, 1),
                pod(&claims, 0, &rev(&claims), "Pending", false),
            ],
            vec!["create claim data-web-0"],
        ),
        (
            "a claim being deleted is waited for",
            vec![
                claims.clone(),
                revision(&claims, 1),
                deleting(claim("data-web-0", "Bound", None)),
            ],
            vec![],
        ),
        (
            "whenScaled Delete: a scaled-away pod owns its claim before it goes",
            vec![
                delete_claims.clone(),
                revision(&delete_claims, 1),
                healthy(&delete_claims, 0),
                claim("data-web-0", "Bound", Some("node-a")),
            ],
            vec!["owners data-web-0 [Pod]", "delete pod web-0"],
        ),
        (
            "an orphan that matches is adopted",
            vec![base.clone(), revision(&base, 1), orphan.clone()],
            vec!["adopt web-0", "create pod web-1"],
        ),
        (
            "a pod of another controller is ignored",
            vec![base.clone(), revision(&base, 1), foreign],
            vec!["create pod web-0"],
        ),
        (
            "orphans that do not match or are not members are ignored",
            vec![base.clone(), revision(&base, 1), stranger, strays],
            vec!["create pod web-0"],
        ),
        (
            "an owned pod that stopped matching is released",
            vec![base.clone(), revision(&base, 1), relabelled],
            vec!["release web-0", "create pod web-0"],
        ),
        (
            "a set being deleted does nothing",
            vec![deleting(base.clone()), revision(&base, 1)],
            vec![],
        ),
    ];
    for (name, objects, expected) in cases {
        assert_eq!(steps(&objects), expected, "{name}");
    }
}

#[test]
fn pods_carry_identity_storage_and_revision() {
    let mut s = set(json!({"volumeClaimTemplates": data_template()}));
    s["spec"]["template"]["spec"]["volumes"] = json!([
        {"name": "data", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "web"}},
    ]);
    let pod = stateful_pod(&s, &s["spec"]["template"], "web-abc", 2, None);
    assert_eq!(pod["metadata"]["name"], "web-2");
    assert_eq!(pod["metadata"]["namespace"], "default");
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["app"], "web");
    assert_eq!(labels[POD_NAME_LABEL], "web-2");
    assert_eq!(labels[POD_INDEX_LABEL], "2");
    assert_eq!(labels[REVISION_LABEL], "web-abc");
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["uid"], &owner["controller"]),
        (&json!("StatefulSet"), &json!("sts1"), &json!(true))
    );
    assert_eq!(pod["spec"]["hostname"], "web-2");
    assert_eq!(pod["spec"]["subdomain"], "web");
    assert_eq!(
        pod["spec"]["volumes"],
        json!([
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-2"}},
            {"name": "config", "configMap": {"name": "web"}},
        ])
    );
    assert!(pod["spec"].get("affinity").is_none(), "not pinned");
}

#[test]
fn claims_get_labels_and_owners_from_the_policy() {
    let templates = data_template();
    let cases = [
        ("default Retain", json!(null), false),
        (
            "whenDeleted Delete",
            json!({"whenDeleted": "Delete", "whenScaled": "Retain"}),
            true,
        ),
    ];
    for (name, policy, owned) in cases {
        let mut s = set(json!({"volumeClaimTemplates": templates.clone()}));
        if !policy.is_null() {
            s["spec"]["persistentVolumeClaimRetentionPolicy"] = policy;
        }
        let claim = stateful_claim(&s, &templates[0], 1);
        assert_eq!(claim["metadata"]["name"], "data-web-1", "{name}");
        assert_eq!(
            claim["metadata"]["labels"],
            json!({"tier": "db", "app": "web"}),
            "{name}"
        );
        assert_eq!(claim["spec"], templates[0]["spec"], "{name}");
        let owners = claim["metadata"].get("ownerReferences");
        assert_eq!(owners.is_some(), owned, "{name}");
        if let Some(owners) = owners {
            assert_eq!(owners[0]["uid"], "sts1", "{name}");
            assert!(owners[0].get("controller").is_none(), "{name}");
        }
    }
}

#[test]
fn recreated_pod_returns_to_its_claims_node() {
    let mut s = set(json!({"replicas": 1, "volumeClaimTemplates": data_template()}));
    s["spec"]["template"]["spec"]["affinity"] = json!({"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}});
    let objects = [
        s.clone(),
        revision(&s, 1),
        claim("data-web-0", "Bound", Some("node-b")),
    ];
    let actions: Vec<Action> = plan(&snapshot_of(&objects), now())
        .into_iter()
        .flat_map(|p| p.actions)
        .collect();
    let created: Vec<&Value> = actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{actions:?}");
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CreateClaim { .. })),
        "the claim exists"
    );
    let terms = &created[0]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    assert_eq!(
        terms,
        &json!([{
            "matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}],
        }])
    );
}

/// The revision label of the pod the plan creates for `objects`.
fn created_revision(objects: &[Value]) -> String {
    let actions: Vec<Action> = plan(&snapshot_of(objects), now())
        .into_iter()
        .flat_map(|p| p.actions)
        .collect();
    let pods: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod(p) => Some(pod_revision(p).to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(pods.len(), 1, "one pod created: {actions:?}");
    pods[0].clone()
}

#[test]
fn recreated_pods_pick_their_revision() {
    let base = set(json!({}));
    let v2 = with_image(base.clone(), "v2");
    let (r1, r2) = (rev(&base), rev(&v2));
    let with = |strategy: Value| {
        let mut s = v2.clone();
        s["spec"]["updateStrategy"] = strategy;
        s["status"] = json!({"currentRevision": r1, "currentReplicas": 2});
        s
    };
    let cases = [
        (
            "below the partition: current revision",
            with(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})),
            &r1,
        ),
        (
            "at or above the partition: update revision",
            with(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})),
            &r2,
        ),
        (
            "no rollingUpdate, below currentReplicas: current revision",
            with(json!({"type": "RollingUpdate"})),
            &r1,
        ),
        (
            "OnDelete: update revision",
            with(json!({"type": "OnDelete"})),
            &r2,
        ),
    ];
    for (name, s, expected) in cases {
        // web-0 was deleted; web-1 and web-2 run the old revision.
        let objects = [
            s.clone(),
            revision(&base, 1),
            revision(&v2, 2),
            pod(&s, 1, &r1, "Running", true),
            pod(&s, 2, &r1, "Running", true),
        ];
        assert_eq!(&created_revision(&objects), expected, "{name}");
    }
}

#[test]
fn status_counts_pods_and_revisions() {
    let base = set(json!({"minReadySeconds": 600}));
    let v2 = with_image(base.clone(), "v2");
    let (r1, r2) = (rev(&base), rev(&v2));
    let revs = Revisions {
        update: r2.clone(),
        current: r1.clone(),
        current_template: None,
    };
    let mut fresh = pod(&v2, 3, &r2, "Running", true);
    fresh["status"]["conditions"][0]["lastTransitionTime"] = json!("2026-06-01T11:59:00Z");
    let cases: Vec<(&str, Vec<Value>, Value)> = vec![
        (
            "mid rollout",
            vec![
                pod(&v2, 0, &r1, "Running", true),
                pod(&v2, 1, &r1, "Running", false),
                pod(&v2, 2, &r2, "Running", true),
                fresh,
                deleting(pod(&v2, 4, &r2, "Running", true)),
            ],
            json!({"replicas": 5, "readyReplicas": 4, "availableReplicas": 3,
                "currentReplicas": 2, "updatedReplicas": 2, "currentRevision": r1}),
        ),
        (
            "rollout complete",
            vec![
                pod(&v2, 0, &r2, "Running", true),
                pod(&v2, 1, &r2, "Running", true),
            ],
            json!({"replicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                "currentReplicas": 2, "updatedReplicas": 2, "currentRevision": r2}),
        ),
        (
            "no pods yet",
            vec![],
            json!({"replicas": 0, "readyReplicas": 0, "availableReplicas": 0,
                "currentReplicas": 0, "updatedReplicas": 0, "currentRevision": r2}),
        ),
    ];
    for (name, pods, expected) in cases {
        let pods: Vec<Arc<Value>> = pods.into_iter().map(Arc::new).collect();
        let refs: Vec<&Arc<Value>> = pods.iter().collect();
        let status = status_of(&v2, &refs, &revs, now());
        for (key, value) in expected.as_object().expect("object") {
            assert_eq!(&status[key], value, "{name}: {key}");
        }
        assert_eq!(status["updateRevision"], json!(r2), "{name}");
        assert_eq!(status["observedGeneration"], 2, "{name}");
        assert_eq!(status["collisionCount"], 0, "{name}");
    }
}

#[test]
fn status_is_written_only_when_it_changes() {
    let s = set(json!({"replicas": 1}));
    let pods = [healthy(&s, 0)];
    let revs = Revisions {
        update: rev(&s),
        current: rev(&s),
        current_template: None,
    };
    let arcs: Vec<Arc<Value>> = pods.iter().cloned().map(Arc::new).collect();
    let refs: Vec<&Arc<Value>> = arcs.iter().collect();
    let mut settled = s.clone();
    settled["status"] = status_of(&s, &refs, &revs, now());
    let writes = |set: &Value| {
        let objects = [set.clone(), revision(set, 1), pods[0].clone()];
        plan(&snapshot_of(&objects), now())
            .into_iter()
            .flat_map(|p| p.actions)
            .filter(|a| matches!(a, Action::Status(_)))
            .count()
    };
    assert_eq!(writes(&s), 1, "a set without status gets one");
    assert_eq!(
        writes(&settled),
        0,
        "an unchanged status is not written again"
    );
}

#[test]
fn a_hash_collision_bumps_the_collision_count() {
    let s = set(json!({}));
    // Another object already has the name the set's revision would get.
    let mut squatter = revision(&with_image(s.clone(), "other"), 1);
    squatter["metadata"]["name"] = json!(rev(&s));
    squatter["metadata"]["ownerReferences"][0]["uid"] = json!("someone-else");
    let plans = plan(&snapshot_of(&[s, squatter]), now());
    let actions: Vec<Action> = plans.into_iter().flat_map(|p| p.actions).collect();
    assert_eq!(actions.len(), 1, "{actions:?}");
    match &actions[0] {
        Action::Status(status) => assert_eq!(status["collisionCount"], 1),
        other => panic!("expected a status write, got {other:?}"),
    }
}

#[test]
fn member_names_have_canonical_ordinals() {
    let cases = [
        ("web-0", Some(0)),
        ("web-12", Some(12)),
        ("web-01", None),
        ("web-", None),
        ("web-x", None),
        ("web-1-0", None),
        ("webs-0", None),
    ];
    for (name, expected) in cases {
        assert_eq!(ordinal_of("web", name), expected, "{name}");
    }
    assert_eq!(ordinal_of("web-1", "web-1-0"), Some(0));
}
