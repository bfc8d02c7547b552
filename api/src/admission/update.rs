//! Update rules: fields that may not change once an object exists.

use serde_json::Value;

use super::FieldError;
use super::util::get_str;
use crate::resource::ResourceInfo;

fn immutable(old: &Value, new: &Value, pointer: &str, field: &str, errs: &mut Vec<FieldError>) {
    let before = old.pointer(pointer).filter(|v| !v.is_null());
    let after = new.pointer(pointer).filter(|v| !v.is_null());
    if before != after {
        errs.push(FieldError::invalid(
            field,
            after.cloned().unwrap_or(Value::Null),
            "field is immutable",
        ));
    }
}

/// Like [`immutable`], but an absent new value is accepted (the server keeps the old one).
fn immutable_if_set(
    old: &Value,
    new: &Value,
    pointer: &str,
    field: &str,
    errs: &mut Vec<FieldError>,
) {
    if new.pointer(pointer).is_some_and(|v| !v.is_null())
        && old.pointer(pointer).is_some_and(|v| !v.is_null())
    {
        immutable(old, new, pointer, field, errs);
    }
}

pub(crate) fn validate_immutable(
    info: &ResourceInfo,
    old: &Value,
    new: &Value,
    errs: &mut Vec<FieldError>,
) {
    immutable(old, new, "/metadata/name", "metadata.name", errs);
    if info.namespaced {
        immutable(old, new, "/metadata/namespace", "metadata.namespace", errs);
    }
    immutable_if_set(old, new, "/metadata/uid", "metadata.uid", errs);
    immutable_if_set(
        old,
        new,
        "/metadata/creationTimestamp",
        "metadata.creationTimestamp",
        errs,
    );
    match (info.group, info.kind) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            immutable(old, new, "/spec/selector", "spec.selector", errs);
        }
        ("apps", "StatefulSet") => {
            immutable(old, new, "/spec/selector", "spec.selector", errs);
            stateful_set_spec(old, new, errs);
        }
        ("batch", "Job") => {
            immutable(old, new, "/spec/selector", "spec.selector", errs);
            immutable(old, new, "/spec/template", "spec.template", errs);
            immutable(
                old,
                new,
                "/spec/completionMode",
                "spec.completionMode",
                errs,
            );
            immutable(old, new, "/spec/completions", "spec.completions", errs);
        }
        ("", "Service") => {
            immutable_if_set(old, new, "/spec/clusterIP", "spec.clusterIP", errs);
            let was_headless =
                old.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
            let set_now = new
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .is_some_and(|ip| !ip.is_empty());
            if was_headless
                && !set_now
                && new.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName")
            {
                errs.push(FieldError::invalid(
                    "spec.clusterIP",
                    "",
                    "field is immutable",
                ));
            }
        }
        ("", "Pod") => pod_spec(old, new, errs),
        ("", "ConfigMap" | "Secret") => {
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                    errs.push(FieldError::forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
                for field in ["data", "binaryData"] {
                    if old.get(field).filter(|v| !v.is_null())
                        != new.get(field).filter(|v| !v.is_null())
                    {
                        errs.push(FieldError::forbidden(
                            field,
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
            if info.kind == "Secret" {
                let old_type = get_str(old, "type").unwrap_or("Opaque");
                let new_type = get_str(new, "type").unwrap_or("Opaque");
                if old_type != new_type {
                    errs.push(FieldError::invalid("type", new_type, "field is immutable"));
                }
            }
        }
        ("", "PersistentVolumeClaim") => {
            let mut a = old.get("spec").cloned().unwrap_or(Value::Null);
            let mut b = new.get("spec").cloned().unwrap_or(Value::Null);
            for spec in [&mut a, &mut b] {
                if let Some(map) = spec.as_object_mut() {
                    map.remove("resources");
                    map.remove("volumeName");
                    map.remove("volumeAttributesClassName");
                }
            }
            if a != b {
                errs.push(FieldError::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        _ => {}
    }
}

const STATEFUL_SET_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

fn stateful_set_spec(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let strip = |v: &Value| {
        let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(map) = spec.as_object_mut() {
            for key in STATEFUL_SET_MUTABLE {
                map.remove(*key);
            }
        }
        spec
    };
    if strip(old) != strip(new) {
        errs.push(FieldError::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}

/// A pod's spec may only change container images, `activeDeadlineSeconds`, tolerations
/// (additions), scheduling gates (removals), and `nodeName` from unset to set. Kubernetes
/// binds through the `binding` subresource instead; Edgeplane also accepts binding by update.
fn pod_spec(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let (Some(old_spec), Some(new_spec)) = (old.get("spec"), new.get("spec")) else {
        return;
    };
    let mut patched = old_spec.clone();
    for list in ["containers", "initContainers"] {
        let images: Vec<Option<Value>> = new_spec
            .get(list)
            .and_then(Value::as_array)
            .map(|cs| cs.iter().map(|c| c.get("image").cloned()).collect())
            .unwrap_or_default();
        if let Some(cs) = patched.get_mut(list).and_then(Value::as_array_mut)
            && cs.len() == images.len()
        {
            for (c, image) in cs.iter_mut().zip(images) {
                if let (Some(map), Some(image)) = (c.as_object_mut(), image) {
                    map.insert("image".into(), image);
                }
            }
        }
    }
    if let Some(map) = patched.as_object_mut() {
        for key in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
            match new_spec.get(key) {
                Some(v) => map.insert(key.to_string(), v.clone()),
                None => map.remove(key),
            };
        }
        if old_spec
            .get("nodeName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(node) = new_spec.get("nodeName")
        {
            map.insert("nodeName".into(), node.clone());
        }
    }
    if &patched != new_spec {
        errs.push(FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.schedulingGates` (only removals) and `spec.nodeName` (only when unset)",
        ));
    }
    if let (Some(a), Some(b)) = (
        old_spec
            .get("activeDeadlineSeconds")
            .and_then(Value::as_i64),
        new_spec
            .get("activeDeadlineSeconds")
            .and_then(Value::as_i64),
    ) && b > a
    {
        errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            b,
            format!("must be less than or equal to previous value {a}"),
        ));
    }
    let old_tolerations = old_spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new_tolerations = new_spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if old_tolerations.iter().any(|t| !new_tolerations.contains(t)) {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    let old_gates = old_spec
        .get("schedulingGates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let added_gate = new_spec
        .get("schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|gates| gates.iter().any(|g| !old_gates.contains(g)));
    if added_gate {
        errs.push(FieldError::forbidden(
            "spec.schedulingGates",
            "only deletion is allowed, but found new scheduling gate",
        ));
    }
}
