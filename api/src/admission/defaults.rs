//! Defaulting of omitted fields per resource, as the Kubernetes API server does it.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::pod_defaults::default_pod_spec;
use super::util::{default_field, each_mut, get_str, object_at};
use crate::resource::ResourceInfo;

/// Fills omitted fields the way the Kubernetes API server would, for the resource `info`.
/// Fields of the wrong type are left alone for validation to report.
pub fn default_object(info: &ResourceInfo, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    default_field(obj, "apiVersion", json!(info.api_version()));
    default_field(obj, "kind", json!(info.kind));
    match (info.group, info.kind) {
        ("", "Pod") => {
            if let Some(spec) = object_at(obj, "spec") {
                default_pod_spec(spec);
            }
        }
        ("", "Service") => default_service(obj),
        ("", "Namespace") => default_namespace(obj),
        ("", "Secret") => default_secret(obj),
        ("", "Endpoints") => {
            for subset in each_mut(obj, "subsets") {
                for port in each_mut(subset, "ports") {
                    default_field(port, "protocol", json!("TCP"));
                }
            }
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            for port in each_mut(obj, "ports") {
                default_field(port, "protocol", json!("TCP"));
            }
        }
        ("", "PersistentVolumeClaim") => {
            if let Some(spec) = object_at(obj, "spec") {
                default_field(spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(status) = object_at(obj, "status") {
                default_field(status, "phase", json!("Pending"));
            }
        }
        ("", "PersistentVolume") => {
            if let Some(spec) = object_at(obj, "spec") {
                default_field(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
                default_field(spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(status) = object_at(obj, "status") {
                default_field(status, "phase", json!("Pending"));
            }
        }
        ("apps", "Deployment") => default_deployment(obj),
        ("apps", "ReplicaSet") => {
            if let Some(spec) = object_at(obj, "spec") {
                default_field(spec, "replicas", json!(1));
                default_template(spec);
            }
        }
        ("apps", "StatefulSet") => default_stateful_set(obj),
        ("apps", "DaemonSet") => default_daemon_set(obj),
        ("batch", "Job") => default_job(obj),
        ("batch", "CronJob") => default_cron_job(obj),
        _ => {}
    }
}

/// Defaults the pod spec of `spec.template`.
fn default_template(spec: &mut Value) {
    if let Some(template) = object_at(spec, "template")
        && let Some(pod_spec) = object_at(template, "spec")
    {
        default_pod_spec(pod_spec);
    }
}

fn default_deployment(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    default_field(spec, "replicas", json!(1));
    default_field(spec, "revisionHistoryLimit", json!(10));
    default_field(spec, "progressDeadlineSeconds", json!(600));
    if let Some(strategy) = object_at(spec, "strategy") {
        default_field(strategy, "type", json!("RollingUpdate"));
        if get_str(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = object_at(strategy, "rollingUpdate")
        {
            default_field(rolling, "maxUnavailable", json!("25%"));
            default_field(rolling, "maxSurge", json!("25%"));
        }
    }
    default_template(spec);
}

fn default_stateful_set(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    default_field(spec, "replicas", json!(1));
    default_field(spec, "podManagementPolicy", json!("OrderedReady"));
    default_field(spec, "revisionHistoryLimit", json!(10));
    default_field(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    if let Some(strategy) = object_at(spec, "updateStrategy") {
        default_field(strategy, "type", json!("RollingUpdate"));
        if get_str(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = object_at(strategy, "rollingUpdate")
        {
            default_field(rolling, "partition", json!(0));
        }
    }
    for claim in each_mut(spec, "volumeClaimTemplates") {
        if let Some(claim_spec) = object_at(claim, "spec") {
            default_field(claim_spec, "volumeMode", json!("Filesystem"));
        }
    }
    default_template(spec);
}

fn default_daemon_set(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    default_field(spec, "revisionHistoryLimit", json!(10));
    if let Some(strategy) = object_at(spec, "updateStrategy") {
        default_field(strategy, "type", json!("RollingUpdate"));
        if get_str(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = object_at(strategy, "rollingUpdate")
        {
            default_field(rolling, "maxUnavailable", json!(1));
            default_field(rolling, "maxSurge", json!(0));
        }
    }
    default_template(spec);
}

/// Labels the job controller relies on; Kubernetes adds them to the template and selector.
const JOB_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";

fn default_job_spec(spec: &mut Value) {
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        default_field(spec, "completions", json!(1));
    }
    default_field(spec, "parallelism", json!(1));
    default_field(spec, "backoffLimit", json!(6));
    default_field(spec, "completionMode", json!("NonIndexed"));
    default_field(spec, "suspend", json!(false));
    let replacement = if spec.get("podFailurePolicy").is_some_and(|p| !p.is_null()) {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    default_field(spec, "podReplacementPolicy", json!(replacement));
    default_template(spec);
}

/// Jobs get a generated selector on their uid unless `manualSelector` is set, as in
/// Kubernetes. This needs `metadata.uid`, so the API server assigns the uid before defaulting.
fn default_job(obj: &mut Value) {
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    default_job_spec(spec);
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if let (false, Some(uid)) = (manual, uid) {
        if spec.get("selector").is_none_or(Value::is_null) {
            spec["selector"] = json!({"matchLabels": {JOB_UID_LABEL: uid}});
        }
        if let Some(template) = object_at(spec, "template")
            && let Some(meta) = object_at(template, "metadata")
            && let Some(labels) = object_at(meta, "labels").and_then(Value::as_object_mut)
        {
            labels.entry(JOB_UID_LABEL).or_insert(json!(uid));
            labels.entry("controller-uid").or_insert(json!(uid));
            if let Some(name) = name {
                labels
                    .entry("batch.kubernetes.io/job-name")
                    .or_insert(json!(name));
                labels.entry("job-name").or_insert(json!(name));
            }
        }
    }
}

fn default_cron_job(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    default_field(spec, "concurrencyPolicy", json!("Allow"));
    default_field(spec, "suspend", json!(false));
    default_field(spec, "successfulJobsHistoryLimit", json!(3));
    default_field(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(template) = object_at(spec, "jobTemplate")
        && let Some(job_spec) = object_at(template, "spec")
    {
        default_job_spec(job_spec);
    }
}

fn default_service(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    default_field(spec, "type", json!("ClusterIP"));
    let service_type = get_str(spec, "type").unwrap_or_default().to_string();
    if service_type == "ExternalName" {
        return;
    }
    default_field(spec, "sessionAffinity", json!("None"));
    default_field(spec, "internalTrafficPolicy", json!("Cluster"));
    if matches!(service_type.as_str(), "NodePort" | "LoadBalancer") {
        default_field(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    for port in each_mut(spec, "ports") {
        default_field(port, "protocol", json!("TCP"));
        if let Some(p) = port.get("port").cloned() {
            default_field(port, "targetPort", p);
        }
    }
}

fn default_namespace(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (Some(name), Some(meta)) = (name, object_at(obj, "metadata"))
        && let Some(labels) = object_at(meta, "labels").and_then(Value::as_object_mut)
    {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    if let Some(spec) = object_at(obj, "spec") {
        default_field(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = object_at(obj, "status") {
        default_field(status, "phase", json!("Active"));
    }
}

/// Secrets default to `Opaque`, and `stringData` (write-only) is merged into `data`.
fn default_secret(obj: &mut Value) {
    default_field(obj, "type", json!("Opaque"));
    let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    if let Some(data) = object_at(obj, "data").and_then(Value::as_object_mut) {
        for (k, v) in string_data {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    } else if let Some(map) = obj.as_object_mut() {
        // `data` has the wrong type; put `stringData` back so validation reports both as found.
        map.insert(
            "stringData".into(),
            Value::Object(Map::from_iter(string_data)),
        );
    }
}
