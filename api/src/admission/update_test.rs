//! Tests of admission update rules (immutable fields).

use serde_json::{Value, json};

use super::*;
use crate::resource::resolve;

fn check(kind: &str, old: &Value, patch: Value) -> Result<(), Invalid> {
    let info = resolve(kind).expect("resource");
    let mut old = old.clone();
    default_object(info, &mut old);
    let mut new = old.clone();
    json_patch::merge(&mut new, &patch);
    default_object(info, &mut new);
    validate_update(info, &old, &new)
}

fn base(kind: &str) -> Value {
    match kind {
        "Pod" => json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "d", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "app", "image": "nginx:1"}], "tolerations": [{"key": "a", "operator": "Exists"}]}}),
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" => {
            json!({"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": "x", "namespace": "d"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "serviceName": "x",
                     "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
        }
        "Job" => {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "d", "uid": "u"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}})
        }
        "Service" => {
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "d"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}})
        }
        "ConfigMap" => {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
            "immutable": true, "data": {"a": "b"}})
        }
        "Secret" => {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"}, "data": {"a": "Yg=="}})
        }
        other => panic!("no base for {other}"),
    }
}

#[test]
fn allowed_updates() {
    let cases = [
        (
            "Pod",
            json!({"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}),
        ),
        ("Pod", json!({"spec": {"nodeName": "edge-1"}})),
        ("Pod", json!({"metadata": {"labels": {"a": "b"}}})),
        (
            "Pod",
            json!({"metadata": {"uid": null, "creationTimestamp": null}}),
        ),
        (
            "Pod",
            json!({"spec": {"tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}}),
        ),
        (
            "Deployment",
            json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "c", "image": "j"}]}}}}),
        ),
        ("StatefulSet", json!({"spec": {"replicas": 3}})),
        (
            "Service",
            json!({"spec": {"clusterIP": null, "ports": [{"port": 81, "targetPort": 81, "protocol": "TCP"}]}}),
        ),
        ("ConfigMap", json!({"metadata": {"labels": {"a": "b"}}})),
        ("Secret", json!({"data": {"a": "Yw=="}})),
    ];
    for (kind, patch) in cases {
        if let Err(e) = check(kind, &base(kind), patch.clone()) {
            panic!("{kind} {patch}: {}", e.message());
        }
    }
}

#[test]
fn forbidden_updates_name_the_field() {
    let cases = [
        (
            "Pod",
            json!({"metadata": {"name": "other"}}),
            "metadata.name",
            "field is immutable",
        ),
        (
            "Pod",
            json!({"metadata": {"namespace": "other"}}),
            "metadata.namespace",
            "field is immutable",
        ),
        (
            "Pod",
            json!({"metadata": {"uid": "u2"}}),
            "metadata.uid",
            "field is immutable",
        ),
        (
            "Pod",
            json!({"metadata": {"creationTimestamp": "2025-01-01T00:00:00Z"}}),
            "metadata.creationTimestamp",
            "field is immutable",
        ),
        (
            "Pod",
            json!({"spec": {"restartPolicy": "Never"}}),
            "spec",
            "Forbidden: pod updates may not change fields",
        ),
        (
            "Pod",
            json!({"spec": {"tolerations": []}}),
            "spec.tolerations",
            "Forbidden",
        ),
        (
            "Deployment",
            json!({"spec": {"selector": {"matchLabels": {"app": "x", "b": "c"}}, "template": {"metadata": {"labels": {"b": "c"}}}}}),
            "spec.selector",
            "field is immutable",
        ),
        (
            "ReplicaSet",
            json!({"spec": {"selector": {"matchLabels": {"app": "y"}}, "template": {"metadata": {"labels": {"app": "y"}}}}}),
            "spec.selector",
            "field is immutable",
        ),
        (
            "DaemonSet",
            json!({"spec": {"selector": {"matchLabels": {"app": "y"}}, "template": {"metadata": {"labels": {"app": "y"}}}}}),
            "spec.selector",
            "field is immutable",
        ),
        (
            "StatefulSet",
            json!({"spec": {"serviceName": "other"}}),
            "spec",
            "updates to statefulset spec",
        ),
        (
            "Job",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "j"}]}}}}),
            "spec.template",
            "field is immutable",
        ),
        (
            "Service",
            json!({"spec": {"clusterIP": "10.96.0.11"}}),
            "spec.clusterIP",
            "Invalid value: \"10.96.0.11\": field is immutable",
        ),
        (
            "ConfigMap",
            json!({"data": {"a": "c"}}),
            "data",
            "Forbidden: field is immutable when `immutable` is set",
        ),
        (
            "ConfigMap",
            json!({"immutable": false}),
            "immutable",
            "Forbidden",
        ),
        (
            "Secret",
            json!({"type": "kubernetes.io/basic-auth", "data": {"username": "dQ=="}}),
            "type",
            "field is immutable",
        ),
    ];
    for (kind, patch, field, message) in cases {
        let err = match check(kind, &base(kind), patch.clone()) {
            Ok(()) => panic!("{kind} {patch}: expected an error on {field}"),
            Err(e) => e,
        };
        let cause = err
            .causes
            .iter()
            .find(|c| c.field == field)
            .unwrap_or_else(|| panic!("{kind} {patch}: no error on {field}: {}", err.message()));
        assert!(
            cause.to_string().contains(message),
            "{kind}: {cause} does not contain {message:?}"
        );
    }
}
