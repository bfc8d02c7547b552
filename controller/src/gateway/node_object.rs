//! The `v1 Node` object and the `kube-node-lease` Lease of an agent's node, built from what the
//! agent reports, as the kubelet registers its node and posts its status.

use edge_api::meta::{self, format_timestamp};
use edge_api::validation::{label_value, qualified_name};
use edge_wire::link::{NodeInfo, NodeStatusReport, Resources};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::auth::NODE_LEASE_NAMESPACE;

/// Labels marking the runtimes a node's agent offers: `edgeplane.io/runtime-wasm`, ...
pub const RUNTIME_LABEL_PREFIX: &str = "edgeplane.io/runtime-";

const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// The Node `name` as its agent describes it in `info`: a new object, or `existing` updated.
///
/// Labels: the well-known ones (`kubernetes.io/arch|os|hostname`, their `beta.` twins,
/// `node.kubernetes.io/instance-type` when known) and one `edgeplane.io/runtime-<name>: "true"`
/// per runtime are the agent's, as are its `--node-label`s; they win over labels of the same key
/// on `existing`, whose other labels (users') stay. Labels that are not valid Kubernetes labels
/// are left out, since one would make the API server refuse the whole node.
///
/// Spec: registration taints (`key=value:Effect`, `key:Effect`) only on a new node; an existing
/// node's spec (taints, `unschedulable`, `podCIDR`) is left to those who manage it.
///
/// Status: capacity, allocatable, addresses, `nodeInfo` and the kubelet endpoint are replaced;
/// `Ready` becomes `True` and the pressure conditions `False` unless they were `True` (the next
/// [`apply_node_status`] settles them); other status fields and conditions stay.
pub fn node_object(name: &str, info: &NodeInfo, existing: Option<&Value>, now: Timestamp) -> Value {
    let mut node = existing.cloned().unwrap_or_else(|| json!({}));
    if !node.is_object() {
        node = json!({});
    }
    node["apiVersion"] = json!("v1");
    node["kind"] = json!("Node");
    if let Some(metadata) = meta::metadata_mut(&mut node) {
        metadata.insert("name".into(), json!(name));
    }
    if let Some(labels) = meta::metadata_mut(&mut node).and_then(|m| object_entry(m, "labels")) {
        labels.retain(|k, _| !k.starts_with(RUNTIME_LABEL_PREFIX));
        for (k, v) in node_labels(name, info) {
            labels.insert(k, json!(v));
        }
    }
    if existing.is_none() {
        let taints: Vec<Value> = info.taints.iter().filter_map(|t| parse_taint(t)).collect();
        node["spec"] = if taints.is_empty() {
            json!({})
        } else {
            json!({ "taints": taints })
        };
    } else if !node["spec"].is_object() {
        node["spec"] = json!({});
    }
    if !node["status"].is_object() {
        node["status"] = json!({});
    }
    let status = &mut node["status"];
    status["capacity"] = resources(&info.capacity);
    status["allocatable"] = resources(&info.allocatable);
    status["addresses"] = addresses(info);
    status["daemonEndpoints"] = json!({ "kubeletEndpoint": { "Port": info.metrics_port } });
    status["nodeInfo"] = node_info(info);
    let keep_true = |kind: &str| condition_status(status, kind) == Some("True");
    let memory = keep_true("MemoryPressure");
    let disk = keep_true("DiskPressure");
    let pid = keep_true("PIDPressure");
    set_conditions(status, memory, disk, pid, now);
    node
}

/// `node` after a periodic status report: every agent-owned condition gets `now` as its
/// heartbeat, the memory and disk pressure conditions follow the report, `Ready` is `True`.
/// The report has no PID pressure, so `PIDPressure` stays as it was (`False` when absent).
pub fn apply_node_status(node: &Value, report: &NodeStatusReport, now: Timestamp) -> Value {
    let mut node = node.clone();
    if !node["status"].is_object() {
        node["status"] = json!({});
    }
    let status = &mut node["status"];
    let pid = condition_status(status, "PIDPressure") == Some("True");
    set_conditions(
        status,
        report.memory_pressure,
        report.disk_pressure,
        pid,
        now,
    );
    node
}

/// The node's `coordination.k8s.io/v1` Lease in `kube-node-lease`, renewed at `now` and owned by
/// the Node (no owner reference when the node's uid is not known yet, as the kubelet does).
pub fn node_lease(name: &str, node_uid: &str, duration_secs: u32, now: Timestamp) -> Value {
    let mut metadata = json!({ "name": name, "namespace": NODE_LEASE_NAMESPACE });
    if !node_uid.is_empty() {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "v1",
            "kind": "Node",
            "name": name,
            "uid": node_uid,
        }]);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration_secs,
            "renewTime": micro_time(now),
        },
    })
}

/// A Kubernetes `MicroTime`: `2006-01-02T15:04:05.000000Z`.
pub fn micro_time(t: Timestamp) -> String {
    let micros = t.subsec_microsecond().max(0);
    let whole = format_timestamp(t);
    let base = whole.strip_suffix('Z').unwrap_or(&whole);
    format!("{base}.{micros:06}Z")
}

/// The agent's labels, in the order they are applied (later ones win).
fn node_labels(name: &str, info: &NodeInfo) -> Vec<(String, String)> {
    let hostname = if info.hostname.is_empty() {
        name.to_lowercase()
    } else {
        info.hostname.to_lowercase()
    };
    let mut labels = vec![
        ("beta.kubernetes.io/arch".to_owned(), info.arch.clone()),
        ("beta.kubernetes.io/os".to_owned(), info.os.clone()),
        ("kubernetes.io/arch".to_owned(), info.arch.clone()),
        (
            "kubernetes.io/hostname".to_owned(),
            sanitize_label_value(&hostname),
        ),
        ("kubernetes.io/os".to_owned(), info.os.clone()),
    ];
    if let Some(t) = info.instance_type.as_deref().map(sanitize_label_value) {
        labels.push(("node.kubernetes.io/instance-type".to_owned(), t));
    }
    for runtime in &info.runtimes {
        labels.push((
            format!("{RUNTIME_LABEL_PREFIX}{runtime}"),
            "true".to_owned(),
        ));
    }
    labels.extend(info.labels.iter().cloned());
    labels
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && qualified_name(k).is_empty() && label_value(v).is_empty())
        .collect()
}

/// A free-form value (a device model such as `Raspberry Pi 4 Model B Rev 1.4`) made into a
/// label value: other characters become `-`, at most 63, alphanumeric at both ends.
fn sanitize_label_value(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// `key=value:Effect` or `key:Effect` → a taint; `None` when malformed.
fn parse_taint(s: &str) -> Option<Value> {
    let (key_value, effect) = s.rsplit_once(':')?;
    if !TAINT_EFFECTS.contains(&effect) {
        return None;
    }
    let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
    if key.is_empty() || !qualified_name(key).is_empty() || !label_value(value).is_empty() {
        return None;
    }
    let mut taint = json!({ "key": key, "effect": effect });
    if !value.is_empty() {
        taint["value"] = json!(value);
    }
    Some(taint)
}

/// Node resources as the kubelet writes them: `cpu` `"4"` or `"3500m"`, byte amounts in `Ki`
/// when whole kibibytes.
fn resources(r: &Resources) -> Value {
    json!({
        "cpu": cpu_quantity(r.cpu_millis),
        "ephemeral-storage": bytes_quantity(r.ephemeral_storage_bytes),
        "memory": bytes_quantity(r.memory_bytes),
        "pods": r.pods.to_string(),
    })
}

/// Millicores as a quantity: whole cores without a suffix, else `m`.
pub fn cpu_quantity(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Bytes as a quantity: `<n>Ki` when a whole number of kibibytes, else plain bytes.
pub fn bytes_quantity(bytes: u64) -> String {
    if bytes != 0 && bytes.is_multiple_of(1024) {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

/// The agent's addresses, plus a `Hostname` address when it sent none, as the kubelet adds.
fn addresses(info: &NodeInfo) -> Value {
    let mut out: Vec<Value> = info
        .addresses
        .iter()
        .map(|(kind, address)| json!({ "type": kind, "address": address }))
        .collect();
    let has_hostname = info.addresses.iter().any(|(k, _)| k == "Hostname");
    if !has_hostname && !info.hostname.is_empty() {
        out.push(json!({ "type": "Hostname", "address": info.hostname }));
    }
    Value::Array(out)
}

fn node_info(info: &NodeInfo) -> Value {
    let version = if info.agent_version.starts_with('v') {
        info.agent_version.clone()
    } else {
        format!("v{}", info.agent_version)
    };
    json!({
        "machineID": "",
        "systemUUID": "",
        "bootID": "",
        "kernelVersion": info.kernel_version,
        "osImage": info.os_image,
        "containerRuntimeVersion": format!("edgeplane://{}", info.agent_version),
        "kubeletVersion": version,
        "kubeProxyVersion": version,
        "operatingSystem": info.os,
        "architecture": info.arch,
    })
}

fn condition_status<'a>(status: &'a Value, kind: &str) -> Option<&'a str> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?
        .get("status")?
        .as_str()
}

/// Sets the four agent-owned conditions, each with heartbeat `now`.
fn set_conditions(status: &mut Value, memory: bool, disk: bool, pid: bool, now: Timestamp) {
    let pressure =
        |on: bool, yes: (&'static str, &'static str), no: (&'static str, &'static str)| {
            if on {
                (true, yes.0, yes.1)
            } else {
                (false, no.0, no.1)
            }
        };
    let wanted = [
        (
            "MemoryPressure",
            pressure(
                memory,
                (
                    "KubeletHasInsufficientMemory",
                    "edge-agent has insufficient memory available",
                ),
                (
                    "KubeletHasSufficientMemory",
                    "edge-agent has sufficient memory available",
                ),
            ),
        ),
        (
            "DiskPressure",
            pressure(
                disk,
                ("KubeletHasDiskPressure", "edge-agent has disk pressure"),
                (
                    "KubeletHasNoDiskPressure",
                    "edge-agent has no disk pressure",
                ),
            ),
        ),
        (
            "PIDPressure",
            pressure(
                pid,
                (
                    "KubeletHasInsufficientPID",
                    "edge-agent has insufficient PID available",
                ),
                (
                    "KubeletHasSufficientPID",
                    "edge-agent has sufficient PID available",
                ),
            ),
        ),
        (
            "Ready",
            (true, "KubeletReady", "edge-agent is posting ready status"),
        ),
    ];
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(conditions) = status["conditions"].as_array_mut() else {
        return;
    };
    let now_text = format_timestamp(now);
    for (kind, (on, reason, message)) in wanted {
        let status_text = if on { "True" } else { "False" };
        let existing = conditions
            .iter()
            .position(|c| c.get("type").and_then(Value::as_str) == Some(kind));
        // An unchanged status keeps its transition time; that time is what `kubectl describe`
        // shows as how long the node has been ready.
        let transition = existing
            .map(|i| &conditions[i])
            .filter(|c| c.get("status").and_then(Value::as_str) == Some(status_text))
            .and_then(|c| c.get("lastTransitionTime"))
            .filter(|t| t.is_string())
            .cloned()
            .unwrap_or_else(|| json!(now_text));
        let condition = json!({
            "type": kind,
            "status": status_text,
            "lastHeartbeatTime": now_text,
            "lastTransitionTime": transition,
            "reason": reason,
            "message": message,
        });
        match existing {
            Some(i) => conditions[i] = condition,
            None => conditions.push(condition),
        }
    }
}

/// The object at `key` of `map`, created (replacing a non-object) when needed.
fn object_entry<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    if !matches!(map.get(key), Some(Value::Object(_))) {
        map.insert(key.to_owned(), Value::Object(Map::new()));
    }
    map.get_mut(key).and_then(Value::as_object_mut)
}

#[cfg(test)]
#[path = "node_object_test.rs"]
mod tests;
