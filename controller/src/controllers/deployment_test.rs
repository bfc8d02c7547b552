use super::*;
use crate::controllers::workload::{POD_TEMPLATE_HASH, template_hash};

#[path = "deployment_api_test.rs"]
mod api_tests;
#[path = "deployment_rollout_test.rs"]
mod rollout_tests;
#[path = "deployment_sim_test.rs"]
mod sim;
#[path = "deployment_status_test.rs"]
mod status_tests;

use sim::{Cluster, snapshot_of};

const NOW: &str = "2026-01-01T01:00:00Z";

fn now() -> jiff::Timestamp {
    NOW.parse().expect("timestamp")
}

fn template(app: &str, image: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}},
           "spec": {"containers": [{"name": "c", "image": image}]}})
}

/// A deployment `web` of `replicas` running `image`, rolling 25%/25%.
fn deploy(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "uid": "uid-web", "generation": 1,
                     "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template("web", image),
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
    })
}

fn rs_name(image: &str) -> String {
    format!("web-{}", template_hash(&template("web", image), None))
}

/// A ReplicaSet of `d` for `image` with `replicas`, `available` of them available, sized
/// for `d`'s replicas (25% surge).
fn rs_of(d: &Value, image: &str, revision: i64, replicas: i64, available: i64) -> Value {
    let hash = template_hash(&template("web", image), None);
    let mut t = template("web", image);
    t["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let desired = int_at(d, "/spec/replicas", 1);
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name(image), "namespace": "demo", "uid": format!("uid-{image}"),
            "generation": 1, "resourceVersion": "5",
            "creationTimestamp": format!("2026-01-01T00:00:{:02}Z", revision),
            "labels": t["metadata"]["labels"].clone(),
            "ownerReferences": [owner_reference(d, "apps/v1", "Deployment")],
            "annotations": {
                REVISION_ANNOTATION: revision.to_string(),
                DESIRED_REPLICAS: desired.to_string(),
                MAX_REPLICAS: (desired + (desired + 3) / 4).to_string(),
            },
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", POD_TEMPLATE_HASH: hash}},
                 "template": t},
        "status": {"replicas": replicas.max(available), "readyReplicas": available,
                   "availableReplicas": available, "observedGeneration": 1},
    })
}

/// A status saying the rollout of `replicas` is complete.
fn complete(replicas: i64) -> Value {
    json!({"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
           "readyReplicas": replicas, "availableReplicas": replicas})
}

fn describe(action: &Action) -> Option<String> {
    let name = |o: &Value| str_at(o, "/metadata/name").to_owned();
    let revision = |o: &Value| {
        str_at(
            o,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        )
        .to_owned()
    };
    Some(match &action.step {
        Step::Adopt { rs } => format!("adopt {}", name(rs)),
        Step::Release { rs } => format!("release {}", name(rs)),
        Step::CreateReplicaSet { rs } => format!(
            "create {} replicas={} rev={}",
            name(rs),
            int_at(rs, "/spec/replicas", -1),
            revision(rs)
        ),
        Step::UpdateReplicaSet {
            rs,
            scaled: Some((from, to)),
        } => {
            format!("scale {} {from}->{to}", name(rs))
        }
        Step::UpdateReplicaSet { rs, scaled: None } => {
            format!("update {} rev={}", name(rs), revision(rs))
        }
        Step::DeleteReplicaSet { rs } => format!("delete {}", name(rs)),
        Step::SetRevision { revision } => format!("revision {revision}"),
        Step::Status { .. } => return None,
    })
}

fn steps(objects: &[Value]) -> Vec<String> {
    plan(&snapshot_of(objects), now())
        .iter()
        .filter_map(describe)
        .collect()
}

fn status_of(objects: &[Value]) -> Option<Value> {
    plan(&snapshot_of(objects), now())
        .into_iter()
        .find_map(|a| match a.step {
            Step::Status { status } => Some(status),
            _ => None,
        })
}

fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    let path: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/"))
        .collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    replica_set::set_path(&mut object, &path, value);
    object
}

fn condition_of<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| str_at(c, "/type") == kind)
        .unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

#[test]
fn plans_follow_kubernetes() {
    let (v1, v2, v3) = (rs_name("v1"), rs_name("v2"), rs_name("v3"));
    let d4 = deploy(4, "v2");
    let d3 = deploy(3, "v2");
    let recreate = with(
        deploy(3, "v2"),
        "/spec/strategy",
        json!({"type": "Recreate"}),
    );
    let paused = with(deploy(3, "v2"), "/spec/paused", json!(true));
    let d20 = with(
        with(
            deploy(20, "v2"),
            "/spec/strategy/rollingUpdate",
            json!({"maxSurge": 3, "maxUnavailable": 2}),
        ),
        "/metadata/generation",
        json!(2),
    );
    let sized_for = |rs: Value, desired: i64, max: i64| {
        with(
            with(
                rs,
                "/metadata/annotations/deployment.kubernetes.io~1desired-replicas",
                json!(desired.to_string()),
            ),
            "/metadata/annotations/deployment.kubernetes.io~1max-replicas",
            json!(max.to_string()),
        )
    };
    let mut orphan = rs_of(&d3, "v1", 1, 0, 0);
    orphan["metadata"]["ownerReferences"] = json!([]);
    let relabeled = with(
        rs_of(&d3, "v1", 1, 0, 0),
        "/metadata/labels",
        json!({"app": "other"}),
    );
    let collision = with(
        with(
            rs_of(&d3, "v9", 1, 1, 1),
            "/metadata/name",
            json!(rs_name("v2")),
        ),
        "/metadata/ownerReferences",
        json!([]),
    );
    let collision = with(
        collision,
        "/metadata/labels",
        json!({"app": "someone-else"}),
    );
    let history = with(deploy(3, "v5"), "/spec/revisionHistoryLimit", json!(2));
    let history = with(history, "/status", complete(3));
    let history = with(
        history,
        "/metadata/annotations",
        json!({REVISION_ANNOTATION: "5"}),
    );
    let cases: Vec<(&str, Vec<Value>, Vec<String>)> = vec![
        (
            "a new deployment gets its first replica set at full size",
            vec![deploy(3, "v1")],
            vec![format!("create {v1} replicas=3 rev=1"), "revision 1".into()],
        ),
        (
            "a template change surges one new pod and drops one old, within 25%/25%",
            vec![d4.clone(), rs_of(&d4, "v1", 1, 4, 4)],
            vec![
                format!("create {v2} replicas=1 rev=2"),
                format!("scale {v1} 4->3"),
                "revision 2".into(),
            ],
        ),
        (
            "the new replica set grows while the total stays within replicas + maxSurge",
            vec![
                d4.clone(),
                rs_of(&d4, "v1", 1, 3, 3),
                rs_of(&d4, "v2", 2, 1, 0),
            ],
            vec![format!("scale {v2} 1->2"), "revision 2".into()],
        ),
        (
            "old pods wait while new ones are unavailable",
            vec![
                d4.clone(),
                rs_of(&d4, "v1", 1, 3, 3),
                rs_of(&d4, "v2", 2, 2, 0),
            ],
            vec!["revision 2".into()],
        ),
        (
            "old pods go once new ones are available",
            vec![
                d4.clone(),
                rs_of(&d4, "v1", 1, 3, 3),
                rs_of(&d4, "v2", 2, 2, 2),
            ],
            vec![format!("scale {v1} 3->1"), "revision 2".into()],
        ),
        (
            "unhealthy old replicas are cleaned up first, without touching healthy ones",
            vec![
                d4.clone(),
                rs_of(&d4, "v1", 1, 4, 2),
                rs_of(&d4, "v2", 2, 1, 0),
            ],
            vec![format!("scale {v1} 4->3"), "revision 2".into()],
        ),
        (
            "an old replica set whose status lags its scale-down waits a pass",
            vec![
                d4.clone(),
                with(rs_of(&d4, "v1", 1, 2, 4), "/status/replicas", json!(4)),
                rs_of(&d4, "v2", 2, 3, 3),
            ],
            vec!["revision 2".into()],
        ),
        (
            "maxSurge 0: old pods go first",
            vec![
                with(
                    d3.clone(),
                    "/spec/strategy/rollingUpdate",
                    json!({"maxSurge": 0, "maxUnavailable": 1}),
                ),
                rs_of(&d3, "v1", 1, 3, 3),
            ],
            vec![
                format!("create {v2} replicas=0 rev=2"),
                format!("scale {v1} 3->2"),
                "revision 2".into(),
            ],
        ),
        (
            "rollover: the oldest replica set shrinks first",
            vec![
                with(d4.clone(), "/spec/template", template("web", "v3")),
                rs_of(&d4, "v1", 1, 2, 2),
                rs_of(&d4, "v2", 2, 2, 2),
            ],
            vec![
                format!("create {v3} replicas=1 rev=3"),
                format!("scale {v1} 2->1"),
                "revision 3".into(),
            ],
        ),
        (
            "rollback: the old replica set with the template becomes new, with the next revision",
            vec![
                with(d4.clone(), "/spec/template", template("web", "v1")),
                rs_of(&d4, "v1", 1, 0, 0),
                rs_of(&d4, "v2", 2, 4, 4),
            ],
            vec![format!("scale {v1} 0->1"), "revision 3".into()],
        ),
        (
            "recreate: old replica sets go to zero first",
            vec![recreate.clone(), rs_of(&recreate, "v1", 1, 3, 3)],
            vec![format!("scale {v1} 3->0")],
        ),
        (
            "recreate: the new replica set waits while old pods are reported",
            vec![
                recreate.clone(),
                with(
                    rs_of(&recreate, "v1", 1, 0, 0),
                    "/status/replicas",
                    json!(1),
                ),
            ],
            vec![],
        ),
        (
            "recreate: the new replica set starts at full size once old pods are gone",
            vec![recreate.clone(), rs_of(&recreate, "v1", 1, 0, 0)],
            vec![format!("create {v2} replicas=3 rev=2"), "revision 2".into()],
        ),
        (
            "paused: a template change does not roll out",
            vec![paused.clone(), rs_of(&paused, "v1", 1, 3, 3)],
            vec![],
        ),
        (
            "paused: a replica change still resizes the replica set",
            vec![
                with(paused.clone(), "/spec/replicas", json!(5)),
                rs_of(&paused, "v1", 1, 3, 3),
            ],
            vec![format!("scale {v1} 3->5")],
        ),
        (
            "scaling a settled deployment resizes its replica set",
            vec![
                with(d3.clone(), "/spec/replicas", json!(5)),
                rs_of(&d3, "v2", 1, 3, 3),
            ],
            vec![format!("scale {v2} 3->5"), "revision 1".into()],
        ),
        (
            "scaling during a rollout is proportional, leftovers to the largest",
            vec![
                d20.clone(),
                sized_for(rs_of(&d20, "v1", 1, 8, 8), 10, 13),
                sized_for(rs_of(&d20, "v2", 2, 5, 0), 10, 13),
            ],
            vec![
                format!("scale {v2} 5->9"),
                format!("scale {v1} 8->14"),
                "revision 2".into(),
            ],
        ),
        (
            "an orphan replica set matching the selector is adopted, nothing else this pass",
            vec![d3.clone(), orphan],
            vec![format!("adopt {v1}")],
        ),
        (
            "an owned replica set that stopped matching is released",
            vec![d3.clone(), relabeled, rs_of(&d3, "v2", 2, 3, 3)],
            vec![format!("release {v1}")],
        ),
        (
            "a hash collision creates nothing (collisionCount goes up)",
            vec![d3.clone(), collision],
            vec![],
        ),
        (
            "history: the lowest revisions beyond the limit are deleted",
            vec![
                history.clone(),
                rs_of(&history, "v1", 1, 0, 0),
                rs_of(&history, "v2", 2, 0, 0),
                rs_of(&history, "v3", 3, 0, 0),
                rs_of(&history, "v4", 4, 0, 0),
                rs_of(&history, "v5", 5, 3, 3),
            ],
            vec![format!("delete {v1}"), format!("delete {v2}")],
        ),
        (
            "history: an old replica set that still has pods is kept",
            vec![
                with(history.clone(), "/spec/revisionHistoryLimit", json!(0)),
                with(rs_of(&history, "v1", 1, 0, 0), "/status/replicas", json!(1)),
                rs_of(&history, "v5", 5, 3, 3),
            ],
            vec![],
        ),
        (
            "a deployment being deleted only reports status",
            vec![with(
                deploy(3, "v1"),
                "/metadata/deletionTimestamp",
                json!(NOW),
            )],
            vec![],
        ),
        (
            "the new replica set follows the deployment's annotations and minReadySeconds",
            vec![
                with(
                    with(
                        d3.clone(),
                        "/metadata/annotations",
                        json!({"kubernetes.io/change-cause": "v2 please"}),
                    ),
                    "/spec/minReadySeconds",
                    json!(5),
                ),
                rs_of(&d3, "v2", 1, 3, 3),
            ],
            vec![format!("update {v2} rev=1"), "revision 1".into()],
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, objects, want)| {
            let got = steps(&objects);
            (got != want).then(|| format!("{name}:\n  got  {got:?}\n  want {want:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rollback_renumbers_the_old_replica_set() {
    let d = with(deploy(4, "v1"), "/spec/template", template("web", "v1"));
    let objects = vec![
        d.clone(),
        rs_of(&d, "v1", 1, 0, 0),
        rs_of(&d, "v2", 2, 4, 4),
    ];
    let updated = plan(&snapshot_of(&objects), now())
        .into_iter()
        .find_map(|a| match a.step {
            Step::UpdateReplicaSet { rs, .. } => Some(rs),
            _ => None,
        })
        .expect("the old replica set is updated");
    assert_eq!(str_at(&updated, "/metadata/name"), rs_name("v1"));
    let annotations = &updated["metadata"]["annotations"];
    assert_eq!(annotations[REVISION_ANNOTATION], json!("3"));
    assert_eq!(annotations[REVISION_HISTORY], json!("1"));
    assert_eq!(int_at(&updated, "/spec/replicas", -1), 1);
}

#[test]
fn new_replica_sets_carry_hash_owner_and_annotations() {
    let d = with(
        with(
            deploy(4, "v2"),
            "/metadata/annotations",
            json!({"kubernetes.io/change-cause": "bump"}),
        ),
        "/spec/minReadySeconds",
        json!(10),
    );
    let created = plan(&snapshot_of(&[d]), now())
        .into_iter()
        .find_map(|a| match a.step {
            Step::CreateReplicaSet { rs } => Some(rs),
            _ => None,
        })
        .expect("a replica set is created");
    let hash = template_hash(&template("web", "v2"), None);
    assert_eq!(str_at(&created, "/metadata/name"), format!("web-{hash}"));
    assert_eq!(str_at(&created, "/metadata/namespace"), "demo");
    assert_eq!(
        created["metadata"]["labels"],
        json!({"app": "web", POD_TEMPLATE_HASH: hash})
    );
    assert_eq!(
        created["spec"]["selector"],
        json!({"matchLabels": {"app": "web", POD_TEMPLATE_HASH: hash}})
    );
    assert_eq!(
        created["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH],
        json!(hash)
    );
    assert_eq!(created["spec"]["minReadySeconds"], json!(10));
    assert_eq!(
        str_at(&created, "/metadata/ownerReferences/0/uid"),
        "uid-web"
    );
    assert_eq!(
        created["metadata"]["ownerReferences"][0]["controller"],
        json!(true)
    );
    let annotations = &created["metadata"]["annotations"];
    assert_eq!(annotations[REVISION_ANNOTATION], json!("1"));
    assert_eq!(annotations[DESIRED_REPLICAS], json!("4"));
    assert_eq!(annotations[MAX_REPLICAS], json!("5"));
    assert_eq!(annotations["kubernetes.io/change-cause"], json!("bump"));
}

#[test]
fn templates_compare_without_hash_label_or_empty_fields() {
    let a = template("web", "v1");
    let mut b = a.clone();
    b["metadata"]["labels"][POD_TEMPLATE_HASH] = json!("abc");
    b["metadata"]["creationTimestamp"] = Value::Null;
    b["spec"]["volumes"] = json!([]);
    assert!(templates_equal(Some(&a), Some(&b)));
    assert!(!templates_equal(Some(&a), Some(&template("web", "v2"))));
    assert!(!templates_equal(Some(&a), None));
}

#[test]
fn conditions_keep_transition_times_as_kubernetes() {
    let mut status = serde_json::Map::new();
    let cond =
        |s: &str, r: &str, m: &str, t: &str| status::new_condition("Progressing", s, r, m, t);
    status::set_condition(&mut status, cond("True", "NewReplicaSetCreated", "a", "t1"));
    // Same status, other reason: replaced, transition time kept.
    status::set_condition(&mut status, cond("True", "ReplicaSetUpdated", "b", "t2"));
    let c = status::condition(&status, "Progressing")
        .expect("condition")
        .clone();
    assert_eq!(
        (str_at(&c, "/reason"), str_at(&c, "/lastTransitionTime")),
        ("ReplicaSetUpdated", "t1")
    );
    assert_eq!(str_at(&c, "/lastUpdateTime"), "t2");
    // Same status and reason: nothing changes, not even the message.
    status::set_condition(&mut status, cond("True", "ReplicaSetUpdated", "c", "t3"));
    assert_eq!(status::condition(&status, "Progressing"), Some(&c));
    // Another status: a transition.
    status::set_condition(
        &mut status,
        cond("False", "ProgressDeadlineExceeded", "d", "t4"),
    );
    let c = status::condition(&status, "Progressing").expect("condition");
    assert_eq!(str_at(c, "/lastTransitionTime"), "t4");
}
