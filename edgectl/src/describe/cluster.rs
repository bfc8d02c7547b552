//! `describe` for services, config maps, secrets, namespaces and nodes.

use serde_json::Value;

use super::{Writer, format_time, header, text, text_or};

pub fn service(w: &mut Writer, svc: &Value) {
    header(w, svc, true);
    w.labels(0, "Labels", svc.pointer("/metadata/labels"));
    w.annotations(0, svc.pointer("/metadata/annotations"));
    let selector: Vec<String> = svc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    w.line(
        0,
        &format!(
            "Selector:\t{}",
            if selector.is_empty() {
                "<none>".to_string()
            } else {
                selector.join(",")
            }
        ),
    );
    w.line(
        0,
        &format!("Type:\t{}", text_or(svc, "/spec/type", "ClusterIP")),
    );
    w.line(
        0,
        &format!("IP:\t{}", text_or(svc, "/spec/clusterIP", "<none>")),
    );
    let ips: Vec<&str> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !ips.is_empty() {
        w.line(0, &format!("IPs:\t{}", ips.join(",")));
    }
    for port in svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = text_or(port, "/name", "<unset>");
        let protocol = text_or(port, "/protocol", "TCP");
        w.line(
            0,
            &format!("Port:\t{name}\t{}/{protocol}", text_or(port, "/port", "0")),
        );
        w.line(
            0,
            &format!(
                "TargetPort:\t{}/{protocol}",
                text_or(port, "/targetPort", &text_or(port, "/port", "0"))
            ),
        );
        if port.get("nodePort").is_some() {
            w.line(
                0,
                &format!(
                    "NodePort:\t{name}\t{}/{protocol}",
                    text_or(port, "/nodePort", "0")
                ),
            );
        }
    }
    w.line(
        0,
        &format!(
            "Session Affinity:\t{}",
            text_or(svc, "/spec/sessionAffinity", "None")
        ),
    );
}

pub fn config_map(w: &mut Writer, cm: &Value) {
    header(w, cm, true);
    w.labels(0, "Labels", cm.pointer("/metadata/labels"));
    w.annotations(0, cm.pointer("/metadata/annotations"));
    w.line(0, "\nData\n====");
    for (key, value) in cm
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        w.line(
            0,
            &format!("{key}:\n----\n{}\n", value.as_str().unwrap_or_default()),
        );
    }
    w.line(0, "\nBinaryData\n====");
    for (key, value) in cm
        .get("binaryData")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        w.line(0, &format!("{key}: {} bytes", decoded_len(value)));
    }
    w.line(0, "");
}

/// The size of base64 data without decoding it; secrets are described by size, never by value.
fn decoded_len(value: &Value) -> usize {
    let encoded = value.as_str().unwrap_or_default().trim_end_matches('=');
    encoded.len() * 3 / 4
}

pub fn secret(w: &mut Writer, secret: &Value) {
    header(w, secret, true);
    w.labels(0, "Labels", secret.pointer("/metadata/labels"));
    w.annotations(0, secret.pointer("/metadata/annotations"));
    w.line(
        0,
        &format!(
            "\nType:\t{}\n\nData\n====",
            text_or(secret, "/type", "Opaque")
        ),
    );
    for (key, value) in secret
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        w.line(0, &format!("{key}:\t{} bytes", decoded_len(value)));
    }
}

pub fn namespace(w: &mut Writer, ns: &Value) {
    header(w, ns, false);
    w.labels(0, "Labels", ns.pointer("/metadata/labels"));
    w.annotations(0, ns.pointer("/metadata/annotations"));
    w.line(
        0,
        &format!("Status:\t{}", text_or(ns, "/status/phase", "Active")),
    );
    w.line(0, "\nNo resource quota.\n\nNo LimitRange resource.");
}

pub fn node(w: &mut Writer, node: &Value) {
    let roles: Vec<&str> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    header(w, node, false);
    w.line(
        0,
        &format!(
            "Roles:\t{}",
            if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            }
        ),
    );
    w.labels(0, "Labels", node.pointer("/metadata/labels"));
    w.annotations(0, node.pointer("/metadata/annotations"));
    w.line(
        0,
        &format!(
            "CreationTimestamp:\t{}",
            format_time(node, "/metadata/creationTimestamp")
        ),
    );
    let taints: Vec<String> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| match text(t, "/value") {
            "" => format!("{}:{}", text(t, "/key"), text(t, "/effect")),
            value => format!("{}={value}:{}", text(t, "/key"), text(t, "/effect")),
        })
        .collect();
    w.line(
        0,
        &format!(
            "Taints:\t{}",
            if taints.is_empty() {
                "<none>".to_string()
            } else {
                taints.join("\n\t")
            }
        ),
    );
    w.line(
        0,
        &format!(
            "Unschedulable:\t{}",
            text_or(node, "/spec/unschedulable", "false")
        ),
    );
    if let Some(conditions) = node.pointer("/status/conditions").and_then(Value::as_array) {
        w.line(0, "Conditions:");
        w.line(
            1,
            "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage",
        );
        w.line(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------",
        );
        for c in conditions {
            w.line(
                1,
                &format!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    text(c, "/type"),
                    text(c, "/status"),
                    format_time(c, "/lastHeartbeatTime"),
                    format_time(c, "/lastTransitionTime"),
                    text(c, "/reason"),
                    text(c, "/message")
                ),
            );
        }
    }
    w.line(0, "Addresses:");
    for a in node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.line(
            1,
            &format!("{}:\t{}", text(a, "/type"), text(a, "/address")),
        );
    }
    for (label, pointer) in [
        ("Capacity", "/status/capacity"),
        ("Allocatable", "/status/allocatable"),
    ] {
        if let Some(map) = node.pointer(pointer).and_then(Value::as_object) {
            w.line(0, &format!("{label}:"));
            for (k, v) in map {
                w.line(
                    1,
                    &format!(
                        "{k}:\t{}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    ),
                );
            }
        }
    }
    if let Some(info) = node.pointer("/status/nodeInfo").and_then(Value::as_object) {
        w.line(0, "System Info:");
        for (k, v) in info {
            w.line(
                1,
                &format!(
                    "{}:\t{}",
                    super::smart_label(k),
                    v.as_str().unwrap_or_default()
                ),
            );
        }
    }
    if !text(node, "/spec/podCIDR").is_empty() {
        w.line(0, &format!("PodCIDR:\t{}", text(node, "/spec/podCIDR")));
    }
}
