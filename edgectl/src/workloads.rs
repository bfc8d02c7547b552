//! Facts about workload objects that `describe` and `rollout` share: ownership, revisions,
//! pod template equality and a deployment's new and old ReplicaSets.

use serde_json::Value;

/// The label a deployment's ReplicaSets and pods carry to tell templates apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision of a deployment's ReplicaSet (and of the deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The reason of a deployment's change, shown by `rollout history`.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Whether `object`'s controller reference points at the object with `owner_uid`.
pub fn controlled_by(object: &Value, owner_uid: &str) -> bool {
    !owner_uid.is_empty()
        && edge_api::meta::controller_ref(object)
            .is_some_and(|owner| text(owner, "/uid") == owner_uid)
}

/// The objects among `all` that `owner` controls.
pub fn owned_by<'a>(owner: &Value, all: &'a [Value]) -> Vec<&'a Value> {
    let uid = text(owner, "/metadata/uid");
    all.iter().filter(|o| controlled_by(o, uid)).collect()
}

/// kubectl's `deploymentutil.Revision`: 0 without the annotation, `None` when it is not a
/// number.
pub fn revision(object: &Value) -> Option<i64> {
    match edge_api::meta::annotation(object, REVISION_ANNOTATION) {
        None => Some(0),
        Some(text) => text.parse().ok(),
    }
}

/// Whether two pod templates are the same, ignoring the pod-template-hash label (Kubernetes'
/// `EqualIgnoreHash`). As Kubernetes' semantic equality, a missing field equals an empty one.
pub fn templates_equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    edge_api::meta::semantically_equal(&without_hash(a), &without_hash(b))
}

/// A copy of a pod template without the pod-template-hash label.
pub fn without_hash(template: Option<&Value>) -> Value {
    let mut template = template.cloned().unwrap_or(Value::Null);
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

/// A deployment's ReplicaSets as kubectl's `GetAllReplicaSets` sorts them: the new one (the
/// oldest whose template matches the deployment's) and the old ones.
pub struct DeploymentReplicaSets<'a> {
    pub new: Option<&'a Value>,
    pub all_old: Vec<&'a Value>,
}

pub fn deployment_replica_sets<'a>(
    deployment: &Value,
    replica_sets: &'a [Value],
) -> DeploymentReplicaSets<'a> {
    let mut owned = owned_by(deployment, replica_sets);
    owned.sort_by(|a, b| {
        (
            text(a, "/metadata/creationTimestamp"),
            text(a, "/metadata/name"),
        )
            .cmp(&(
                text(b, "/metadata/creationTimestamp"),
                text(b, "/metadata/name"),
            ))
    });
    let template = deployment.pointer("/spec/template");
    let new = owned
        .iter()
        .copied()
        .find(|rs| templates_equal(rs.pointer("/spec/template"), template));
    let new_uid = new.map(|rs| text(rs, "/metadata/uid"));
    let all_old = owned
        .into_iter()
        .filter(|rs| Some(text(rs, "/metadata/uid")) != new_uid)
        .collect();
    DeploymentReplicaSets { new, all_old }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, uid: &str, image: &str, replicas: i64, created: &str) -> Value {
        json!({"metadata": {"name": name, "uid": uid, "creationTimestamp": created,
                            "ownerReferences": [{"uid": "d1", "controller": true, "kind": "Deployment", "name": "web"}]},
               "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: name}},
                        "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn templates_compare_without_hash_and_empty_fields() {
        let a = json!({"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: "x"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}});
        let b = json!({"metadata": {"labels": {"app": "web"}, "annotations": {}}, "spec": {"containers": [{"name": "c", "image": "v1", "env": []}]}});
        let c = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v2"}]}});
        assert!(templates_equal(Some(&a), Some(&b)));
        assert!(!templates_equal(Some(&a), Some(&c)));
        assert!(templates_equal(None, Some(&json!({}))));
    }

    #[test]
    fn new_and_old_replica_sets() {
        let deployment = json!({"metadata": {"uid": "d1"}, "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v2"}]}}}});
        let mut stranger = rs("other", "u9", "v2", 1, "2025-01-01T00:00:00Z");
        stranger["metadata"]["ownerReferences"][0]["uid"] = json!("d2");
        let all = vec![
            rs("web-b", "u2", "v2", 3, "2025-01-02T00:00:00Z"),
            rs("web-a", "u1", "v1", 0, "2025-01-01T00:00:00Z"),
            rs("web-c", "u3", "v0", 1, "2025-01-03T00:00:00Z"),
            stranger,
        ];
        let sets = deployment_replica_sets(&deployment, &all);
        assert_eq!(sets.new.map(|r| text(r, "/metadata/name")), Some("web-b"));
        let names = |v: &[&Value]| {
            v.iter()
                .map(|r| text(r, "/metadata/name").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&sets.all_old), ["web-a", "web-c"]);
    }

    #[test]
    fn revisions() {
        let with = |v: &str| json!({"metadata": {"annotations": {REVISION_ANNOTATION: v}}});
        assert_eq!(revision(&with("7")), Some(7));
        assert_eq!(revision(&with("x")), None);
        assert_eq!(revision(&json!({})), Some(0));
    }
}
