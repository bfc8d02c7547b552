//! [`PodStatusReport`] → the pod's Kubernetes `status` object, shaped as the kubelet writes it
//! so that `kubectl get` and `kubectl describe` read it unchanged.

use edge_api::meta::format_timestamp;
use edge_api::quantity::parse_quantity;
use edge_wire::link::{ContainerState, ContainerStatusReport, PodCondition, PodStatusReport};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// Pod condition types the kubelet owns; every other condition (set by the scheduler, a
/// controller or a readiness gate) is kept from the previous status.
const KUBELET_CONDITIONS: &[&str] = &[
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// The `status` of `pod` after `report`. Pure: the same report and pod give the same status.
///
/// From the pod's previous `status` it keeps what the kubelet keeps: a terminal phase (a pod
/// never leaves `Succeeded` or `Failed`), `startTime`, the pod and host IPs when the report has
/// none, the transition time of conditions whose status did not change, conditions it does not
/// own (`PodScheduled` included unless the report has one), `nominatedNodeName` and `qosClass`.
/// Spec containers the report does not mention are listed waiting (`ContainerCreating`, or
/// `PodInitializing` in a pod with init containers).
pub fn status_json(report: &PodStatusReport, pod: &Value) -> Value {
    let previous = &pod["status"];
    let mut status = Map::new();
    let phase = match str_at(previous, "phase") {
        Some(p @ ("Succeeded" | "Failed")) => p,
        _ => report.phase.as_str(),
    };
    status.insert("phase".into(), json!(phase));
    status.insert(
        "conditions".into(),
        Value::Array(conditions(report, previous)),
    );
    if let Some(m) = &report.message {
        status.insert("message".into(), json!(m));
    }
    if let Some(r) = &report.reason {
        status.insert("reason".into(), json!(r));
    }
    if let Some(n) = previous.get("nominatedNodeName") {
        status.insert("nominatedNodeName".into(), n.clone());
    }
    insert_ips(&mut status, "hostIP", report.host_ip.as_deref(), previous);
    insert_ips(&mut status, "podIP", report.pod_ip.as_deref(), previous);
    let start = previous
        .get("startTime")
        .filter(|t| t.is_string())
        .cloned()
        .or_else(|| report.start_time_ms.map(time));
    if let Some(start) = start {
        status.insert("startTime".into(), start);
    }

    let spec = &pod["spec"];
    let waiting_reason = if array(spec, "initContainers").is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let init = container_statuses(
        &report.init_containers,
        spec,
        "initContainers",
        waiting_reason,
    );
    if !init.is_empty() {
        status.insert("initContainerStatuses".into(), Value::Array(init));
    }
    let mut regular = container_statuses(&report.containers, spec, "containers", waiting_reason);
    // The kubelet lists regular containers by name and init containers in spec order.
    regular.sort_by(|a, b| str_at(a, "name").cmp(&str_at(b, "name")));
    status.insert("containerStatuses".into(), Value::Array(regular));
    let qos = previous
        .get("qosClass")
        .filter(|q| q.is_string())
        .cloned()
        .unwrap_or_else(|| json!(qos_class(spec)));
    status.insert("qosClass".into(), qos);
    Value::Object(status)
}

/// The report's conditions, then the previous status's conditions the report lacks and the
/// kubelet does not own.
fn conditions(report: &PodStatusReport, previous: &Value) -> Vec<Value> {
    let old = array(previous, "conditions");
    let old_of = |kind: &str| old.iter().find(|c| str_at(c, "type") == Some(kind));
    let mut out: Vec<Value> = report
        .conditions
        .iter()
        .map(|c| condition(c, old_of(&c.kind)))
        .collect();
    for c in old {
        let kind = str_at(c, "type").unwrap_or_default();
        let reported = report.conditions.iter().any(|r| r.kind == kind);
        if !reported && !KUBELET_CONDITIONS.contains(&kind) {
            out.push(c.clone());
        }
    }
    out
}

fn condition(c: &PodCondition, old: Option<&Value>) -> Value {
    let status = if c.status { "True" } else { "False" };
    // An unchanged status keeps its transition time, so that repeated reports do not move it.
    let transition = old
        .filter(|o| str_at(o, "status") == Some(status))
        .and_then(|o| o.get("lastTransitionTime"))
        .filter(|t| t.is_string())
        .cloned()
        .unwrap_or_else(|| time(c.last_transition_ms));
    let mut out = json!({
        "type": c.kind,
        "status": status,
        "lastProbeTime": null,
        "lastTransitionTime": transition,
    });
    if let Some(r) = &c.reason {
        out["reason"] = json!(r);
    }
    if let Some(m) = &c.message {
        out["message"] = json!(m);
    }
    out
}

/// `hostIP` + `hostIPs` or `podIP` + `podIPs`: the reported address, else the previous ones.
fn insert_ips(
    status: &mut Map<String, Value>,
    field: &str,
    reported: Option<&str>,
    previous: &Value,
) {
    let list = format!("{field}s");
    match reported.filter(|ip| !ip.is_empty()) {
        Some(ip) => {
            status.insert(field.to_owned(), json!(ip));
            status.insert(list, json!([{ "ip": ip }]));
        }
        None => {
            if let Some(ip) = previous.get(field).filter(|ip| ip.is_string()) {
                status.insert(field.to_owned(), ip.clone());
                if let Some(ips) = previous.get(&list).filter(|l| l.is_array()) {
                    status.insert(list, ips.clone());
                }
            }
        }
    }
}

/// The statuses of the reported containers in spec order, with spec containers the report
/// lacks listed as waiting, and reported containers the spec lacks at the end.
fn container_statuses(
    reported: &[ContainerStatusReport],
    spec: &Value,
    list: &str,
    waiting_reason: &str,
) -> Vec<Value> {
    let spec_containers = array(spec, list);
    let mut out: Vec<Value> = spec_containers
        .iter()
        .map(|c| {
            let name = str_at(c, "name").unwrap_or_default();
            let image = str_at(c, "image").unwrap_or_default();
            match reported.iter().find(|r| r.name == name) {
                Some(r) => container_status(r, image),
                None => json!({
                    "name": name,
                    "state": { "waiting": { "reason": waiting_reason } },
                    "lastState": {},
                    "ready": false,
                    "restartCount": 0,
                    "image": image,
                    "imageID": "",
                    "started": false,
                }),
            }
        })
        .collect();
    let in_spec = |name: &str| {
        spec_containers
            .iter()
            .any(|c| str_at(c, "name") == Some(name))
    };
    out.extend(
        reported
            .iter()
            .filter(|r| !in_spec(&r.name))
            .map(|r| container_status(r, "")),
    );
    out
}

fn container_status(r: &ContainerStatusReport, spec_image: &str) -> Value {
    let image = if r.image.is_empty() {
        spec_image
    } else {
        r.image.as_str()
    };
    json!({
        "name": r.name,
        "state": state(&r.state),
        "lastState": r.last_state.as_ref().map_or_else(|| json!({}), state),
        "ready": r.ready,
        "restartCount": r.restart_count,
        "image": image,
        "imageID": r.image_id,
        "started": r.started,
    })
}

fn state(s: &ContainerState) -> Value {
    match s {
        ContainerState::Waiting { reason, message } => {
            let mut w = Map::new();
            if !reason.is_empty() {
                w.insert("reason".into(), json!(reason));
            }
            if let Some(m) = message {
                w.insert("message".into(), json!(m));
            }
            json!({ "waiting": w })
        }
        ContainerState::Running { started_ms } => {
            json!({ "running": { "startedAt": time(*started_ms) } })
        }
        ContainerState::Terminated {
            exit_code,
            reason,
            message,
            started_ms,
            finished_ms,
        } => {
            let mut t = Map::new();
            t.insert("exitCode".into(), json!(exit_code));
            if !reason.is_empty() {
                t.insert("reason".into(), json!(reason));
            }
            if let Some(m) = message {
                t.insert("message".into(), json!(m));
            }
            t.insert("startedAt".into(), time(*started_ms));
            t.insert("finishedAt".into(), time(*finished_ms));
            json!({ "terminated": t })
        }
    }
}

/// Unix milliseconds as a Kubernetes time (`2024-01-02T03:04:05Z`); zero or out of range is
/// the unset time, `null`.
fn time(ms: i64) -> Value {
    if ms <= 0 {
        return Value::Null;
    }
    Timestamp::from_millisecond(ms).map_or(Value::Null, |t| json!(format_timestamp(t)))
}

/// The pod's QoS class, computed as the API server does: `BestEffort` without any CPU or memory
/// request or limit, `Guaranteed` when every container limits both and requests equal limits,
/// else `Burstable`. A request defaults to its limit, as admission defaults it.
pub fn qos_class(spec: &Value) -> &'static str {
    // Sums in thousandths, per resource: [cpu, memory].
    let mut requests: [Option<i128>; 2] = [None, None];
    let mut limits: [Option<i128>; 2] = [None, None];
    let mut guaranteed = true;
    let containers = array(spec, "containers")
        .iter()
        .chain(array(spec, "initContainers"));
    for c in containers {
        let resources = &c["resources"];
        let amount = |section: &str, name: &str| -> Option<i128> {
            let q = parse_quantity(str_at(&resources[section], name)?).ok()?;
            Some(i128::from(q.milli_value())).filter(|v| *v > 0)
        };
        let mut limited = 0;
        for (i, name) in ["cpu", "memory"].into_iter().enumerate() {
            let limit = amount("limits", name);
            if let Some(l) = limit {
                limited += 1;
                limits[i] = Some(limits[i].unwrap_or(0) + l);
            }
            if let Some(r) = amount("requests", name).or(limit) {
                requests[i] = Some(requests[i].unwrap_or(0) + r);
            }
        }
        if limited < 2 {
            guaranteed = false;
        }
    }
    if requests.iter().chain(&limits).all(Option::is_none) {
        return "BestEffort";
    }
    if guaranteed && requests == limits {
        return "Guaranteed";
    }
    "Burstable"
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
#[path = "pod_status_test.rs"]
mod tests;
