//! Defaulting of pod specs, shared by pods and every workload's pod template.

use serde_json::{Value, json};

use super::util::{default_field, each_mut, get_str, object_at};

/// Fills the fields the Kubernetes API server defaults in a `PodSpec`.
pub(crate) fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default_field(spec, "restartPolicy", json!("Always"));
    default_field(spec, "dnsPolicy", json!("ClusterFirst"));
    default_field(spec, "schedulerName", json!("default-scheduler"));
    default_field(spec, "terminationGracePeriodSeconds", json!(30));
    default_field(spec, "securityContext", json!({}));
    default_field(spec, "enableServiceLinks", json!(true));
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in each_mut(spec, list) {
            default_container(c);
        }
    }
    for vol in each_mut(spec, "volumes") {
        default_volume(vol);
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise (digests count as tagged).
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    if let Some(image) = get_str(c, "image") {
        let policy = default_pull_policy(image);
        default_field(c, "imagePullPolicy", json!(policy));
    }
    default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_field(c, "terminationMessagePolicy", json!("File"));
    for port in each_mut(c, "ports") {
        default_field(port, "protocol", json!("TCP"));
    }
    for env in each_mut(c, "env") {
        if let Some(field_ref) = env.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef")) {
            default_field(field_ref, "apiVersion", json!("v1"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            default_probe(p);
        }
    }
    // Requests default to limits when only limits are given.
    if let Some(resources) = c.get_mut("resources").filter(|r| r.is_object())
        && let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned()
        && let Some(requests) = object_at(resources, "requests").and_then(Value::as_object_mut)
    {
        for (k, v) in limits {
            requests.entry(k).or_insert(v);
        }
    }
}

fn default_probe(p: &mut Value) {
    default_field(p, "timeoutSeconds", json!(1));
    default_field(p, "periodSeconds", json!(10));
    default_field(p, "successThreshold", json!(1));
    default_field(p, "failureThreshold", json!(3));
    if let Some(http) = p.get_mut("httpGet").filter(|h| h.is_object()) {
        default_field(http, "path", json!("/"));
        default_field(http, "scheme", json!("HTTP"));
    }
}

/// The volume source keys Kubernetes knows; a volume with none of them becomes an `emptyDir`.
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn default_volume(vol: &mut Value) {
    let Some(map) = vol.as_object_mut() else {
        return;
    };
    if !VOLUME_SOURCES.iter().any(|k| map.contains_key(*k)) {
        map.insert("emptyDir".into(), json!({}));
    }
    for source in ["configMap", "secret", "downwardAPI", "projected"] {
        if let Some(s) = map.get_mut(source).filter(|s| s.is_object()) {
            default_field(s, "defaultMode", json!(420));
        }
    }
    if let Some(h) = map.get_mut("hostPath").filter(|h| h.is_object()) {
        default_field(h, "type", json!(""));
    }
}
