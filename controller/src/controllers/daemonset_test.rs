use super::*;
use crate::controllers::history::controller_revision;
use crate::controllers::workload::template_hash;
use serde_json::json;

const NOW: &str = "2026-06-01T12:00:00Z";

fn now() -> jiff::Timestamp {
    NOW.parse().expect("timestamp")
}

fn node(name: &str, labels: Value, taints: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

fn set(node_selector: Value, strategy: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds1", "generation": 2},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": strategy,
            "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"runtimeClassName": "wasm", "nodeSelector": node_selector,
                    "containers": [{"name": "c", "image": "agent:v1"}]}}}})
}

fn hash_of(set: &Value) -> String {
    template_hash(&set["spec"]["template"], None)
}

/// A pod of `set` on `node`: bound, Running and Ready, at `hash`.
fn pod(set: &Value, name: &str, node: &str, hash: &str, phase: &str, ready: bool) -> Value {
    let mut pod = daemon_pod(set, node, hash);
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["uid"] = json!(name);
    pod["metadata"]["creationTimestamp"] = json!("2026-06-01T11:00:00Z");
    pod["spec"]["nodeName"] = json!(node);
    pod["status"] = json!({"phase": phase, "conditions": [{"type": "Ready",
        "status": if ready { "True" } else { "False" }, "lastTransitionTime": "2026-06-01T11:00:00Z"}]});
    pod
}

fn snapshot(objects: Vec<Value>) -> Snapshot {
    crate::controllers::cache::snapshot_of(&objects)
}

/// The plan's creates and deletes, as `create NODE` / `delete POD`, sorted.
fn steps(objects: Vec<Value>) -> Vec<String> {
    let (_, actions) = plan(&snapshot(objects), now());
    let mut out: Vec<String> = actions
        .into_iter()
        .filter_map(|a| match a {
            DaemonAction::Create { node, .. } => Some(format!("create {node}")),
            DaemonAction::Delete { name, .. } => Some(format!("delete {name}")),
            DaemonAction::Status { .. } | DaemonAction::History { .. } => None,
        })
        .collect();
    out.sort();
    out
}

/// The stored ControllerRevision of `set`'s template, numbered `number`.
fn revision(set: &Value, number: i64) -> Value {
    let mut revision = controller_revision(set, &hash_of(set), number);
    revision["metadata"]["uid"] = json!(format!("cr{number}"));
    revision
}

/// The plan's history writes, and the collision count it writes, if any.
fn history_steps(objects: Vec<Value>) -> (Vec<String>, Option<Value>) {
    let (_, actions) = plan(&snapshot(objects), now());
    let mut collisions = None;
    let mut out = Vec::new();
    for action in actions {
        match action {
            DaemonAction::History { change, .. } => out.push(match change {
                HistoryWrite::Create(r) => format!("create {}", key_of(&r).1),
                HistoryWrite::Renumber { name, revision } => format!("renumber {name} {revision}"),
                HistoryWrite::Delete { name } => format!("delete {name}"),
            }),
            DaemonAction::Status { status, .. }
                if status.get("desiredNumberScheduled").is_none() =>
            {
                collisions = status.get("collisionCount").cloned();
            }
            _ => {}
        }
    }
    (out, collisions)
}

fn with_image(mut set: Value, image: &str) -> Value {
    set["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    set
}

#[test]
fn templates_are_recorded_as_controller_revisions() {
    let v1 = set(json!({}), json!({"type": "RollingUpdate"}));
    let v2 = with_image(v1.clone(), "agent:v2");
    let v3 = with_image(v1.clone(), "agent:v3");
    let name = |s: &Value| format!("agent-{}", hash_of(s));
    let plain = node("n1", json!({}), json!([]));
    let mut limited = v1.clone();
    limited["spec"]["revisionHistoryLimit"] = json!(1);
    let mut foreign = revision(&v2, 1);
    foreign["metadata"]["name"] = json!(name(&v1));
    foreign["metadata"]["ownerReferences"][0]["uid"] = json!("other");
    let cases: Vec<(&str, Vec<Value>, Vec<String>)> = vec![
        (
            "a new set records its template",
            vec![v1.clone(), plain.clone()],
            vec![format!("create {}", name(&v1))],
        ),
        (
            "a recorded template needs nothing",
            vec![v1.clone(), plain.clone(), revision(&v1, 1)],
            vec![],
        ),
        (
            "a changed template is the next revision",
            vec![v2.clone(), plain.clone(), revision(&v1, 1)],
            vec![format!("create {}", name(&v2))],
        ),
        (
            "going back renumbers the old revision",
            vec![
                v1.clone(),
                plain.clone(),
                revision(&v1, 1),
                revision(&v2, 2),
            ],
            vec![format!("renumber {} 3", name(&v1))],
        ),
        (
            "history beyond the limit goes, oldest first, unless a pod runs it",
            vec![
                limited.clone(),
                plain.clone(),
                revision(&v3, 1),
                revision(&v2, 2),
                revision(&v1, 3),
                pod(&v3, "p1", "n1", &hash_of(&v3), "Running", true),
            ],
            vec![],
        ),
        (
            "history beyond the limit goes",
            vec![
                limited.clone(),
                plain.clone(),
                revision(&v3, 1),
                revision(&v2, 2),
                revision(&v1, 3),
            ],
            vec![format!("delete {}", name(&v3))],
        ),
    ];
    for (what, objects, want) in cases {
        assert_eq!(history_steps(objects).0, want, "{what}");
    }
    // A revision of another owner under the template's name: the collision count goes up
    // and nothing else happens until the template has another hash.
    let (writes, collisions) = history_steps(vec![v1.clone(), plain.clone(), foreign]);
    assert_eq!((writes, collisions), (vec![], Some(json!(1))));
    assert!(
        steps(vec![v1.clone(), plain, {
            let mut f = revision(&v2, 1);
            f["metadata"]["name"] = json!(name(&v1));
            f
        }])
        .is_empty()
    );
}

#[test]
fn one_pod_per_eligible_node() {
    let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}});
    let ds = set(json!({}), rolling.clone());
    let gw = set(json!({"role": "gateway"}), rolling.clone());
    let h = hash_of(&ds);
    let plain = |n: &str| node(n, json!({}), json!([]));
    let cases: Vec<(&str, Vec<Value>, Vec<&str>)> = vec![
        (
            "every node gets one",
            vec![ds.clone(), plain("n1"), plain("n2")],
            vec!["create n1", "create n2"],
        ),
        (
            "a node with its pod needs nothing",
            vec![
                ds.clone(),
                plain("n1"),
                pod(&ds, "p1", "n1", &h, "Running", true),
            ],
            vec![],
        ),
        (
            "selector limits the nodes",
            vec![
                gw.clone(),
                plain("n1"),
                node("n2", json!({"role": "gateway"}), json!([])),
            ],
            vec!["create n2"],
        ),
        (
            "a pod on a node that stopped matching goes",
            vec![
                gw.clone(),
                plain("n1"),
                pod(&gw, "p1", "n1", &hash_of(&gw), "Running", true),
            ],
            vec!["delete p1"],
        ),
        (
            "NoSchedule taints keep pods off, unreachable and unschedulable do not",
            vec![
                ds.clone(),
                node(
                    "n1",
                    json!({}),
                    json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
                ),
                node(
                    "n2",
                    json!({}),
                    json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
                ),
                node(
                    "n3",
                    json!({}),
                    json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
                ),
            ],
            vec!["create n2", "create n3"],
        ),
        (
            "a wasm set skips nodes without the wasm runtime",
            vec![
                ds.clone(),
                node("n1", json!({"edgeplane.io/runtime-oci": "true"}), json!([])),
            ],
            vec![],
        ),
        (
            "duplicates go, oldest stays",
            vec![
                ds.clone(),
                plain("n1"),
                pod(&ds, "p1", "n1", &h, "Running", true),
                {
                    let mut p = pod(&ds, "p2", "n1", &h, "Running", true);
                    p["metadata"]["creationTimestamp"] = json!("2026-06-01T11:30:00Z");
                    p
                },
            ],
            vec!["delete p2"],
        ),
        (
            "a failed pod is deleted first",
            vec![
                ds.clone(),
                plain("n1"),
                pod(&ds, "p1", "n1", &h, "Failed", false),
            ],
            vec!["delete p1"],
        ),
        (
            "pods of a gone node go",
            vec![ds.clone(), pod(&ds, "p1", "gone", &h, "Running", true)],
            vec!["delete p1"],
        ),
        (
            "an unbound pod pinned to a node counts for it",
            vec![ds.clone(), plain("n1"), {
                let mut p = pod(&ds, "p1", "n1", &h, "Pending", false);
                p["spec"]["nodeName"] = Value::Null;
                p
            }],
            vec![],
        ),
    ];
    for (what, objects, want) in cases {
        assert_eq!(steps(objects), want, "{what}");
    }
}

#[test]
fn rolling_update_respects_max_unavailable() {
    let ds = set(
        json!({}),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
    );
    let old = "old";
    let plain = |n: &str| node(n, json!({}), json!([]));
    let mut objects = vec![ds.clone(), plain("n1"), plain("n2"), plain("n3")];
    objects.push(pod(&ds, "p1", "n1", old, "Running", true));
    objects.push(pod(&ds, "p2", "n2", old, "Running", true));
    objects.push(pod(&ds, "p3", "n3", old, "Running", true));
    assert_eq!(steps(objects.clone()), ["delete p1"], "one at a time");
    // While a replacement is not available yet, nothing more goes.
    objects.retain(|o| o["metadata"]["name"] != "p1");
    let mut fresh = pod(&ds, "p1b", "n1", &hash_of(&ds), "Running", false);
    fresh["metadata"]["creationTimestamp"] = json!("2026-06-01T11:59:00Z");
    objects.push(fresh);
    assert_eq!(steps(objects.clone()), Vec::<String>::new());
    // An unavailable old pod may go at once: it costs nothing.
    let ds_two = set(
        json!({}),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
    );
    let objects = vec![
        ds_two.clone(),
        plain("n1"),
        plain("n2"),
        pod(&ds_two, "p1", "n1", old, "Running", false),
        pod(&ds_two, "p2", "n2", old, "Running", true),
    ];
    assert_eq!(steps(objects), ["delete p1"]);
    // OnDelete never deletes for an update.
    let on_delete = set(json!({}), json!({"type": "OnDelete"}));
    let objects = vec![
        on_delete.clone(),
        plain("n1"),
        pod(&on_delete, "p1", "n1", old, "Running", true),
    ];
    assert_eq!(steps(objects), Vec::<String>::new());
}

#[test]
fn status_counts_and_settled_sets_write_nothing() {
    let ds = set(json!({}), json!({"type": "RollingUpdate"}));
    let h = hash_of(&ds);
    let plain = |n: &str| node(n, json!({}), json!([]));
    let objects = vec![
        ds.clone(),
        plain("n1"),
        plain("n2"),
        pod(&ds, "p1", "n1", &h, "Running", true),
        pod(&ds, "p2", "n2", &h, "Running", false),
        revision(&ds, 1),
    ];
    let (_, actions) = plan(&snapshot(objects.clone()), now());
    let status = actions
        .iter()
        .find_map(|a| match a {
            DaemonAction::Status { status, .. } => Some(status.clone()),
            _ => None,
        })
        .expect("status written");
    assert_eq!(status["desiredNumberScheduled"], 2);
    assert_eq!(status["currentNumberScheduled"], 2);
    assert_eq!(status["numberReady"], 1);
    assert_eq!(status["numberAvailable"], 1);
    assert_eq!(status["numberUnavailable"], 1);
    assert_eq!(status["updatedNumberScheduled"], 2);
    assert_eq!(status["observedGeneration"], 2);
    let mut settled = objects;
    settled[0]["status"] = status;
    let (_, actions) = plan(&snapshot(settled), now());
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn daemon_pods_are_pinned_and_tolerate_node_trouble() {
    let ds = set(json!({}), json!({"type": "RollingUpdate"}));
    let pod = daemon_pod(&ds, "n7", "h");
    assert_eq!(pod_node(&pod), "n7");
    assert_eq!(
        str_at(&pod, "/metadata/labels/controller-revision-hash"),
        "h"
    );
    let tolerations = pod["spec"]["tolerations"].as_array().expect("tolerations");
    assert!(
        tolerations
            .iter()
            .any(|t| t["key"] == "node.kubernetes.io/unreachable")
    );
    let info = PodInfo::from_pod(&pod);
    let n7 = NodeInfo::from_node(&node("n7", json!({}), json!([])));
    let n8 = NodeInfo::from_node(&node("n8", json!({}), json!([])));
    assert!(
        info.required_node_affinity
            .as_ref()
            .expect("affinity")
            .iter()
            .any(|t| t.matches(&n7))
    );
    assert!(
        !info
            .required_node_affinity
            .as_ref()
            .expect("affinity")
            .iter()
            .any(|t| t.matches(&n8))
    );
}
