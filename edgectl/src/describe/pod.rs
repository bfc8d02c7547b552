//! `describe pod`, and the container blocks shared with pod templates.

use serde_json::Value;

use super::{Writer, controlled_by, format_time, header, text, text_or};

pub fn describe(w: &mut Writer, pod: &Value, now: jiff::Timestamp) {
    header(w, pod, true);
    if let Some(priority) = pod.pointer("/spec/priority") {
        w.line(0, &format!("Priority:\t{priority}"));
    }
    w.line(
        0,
        &format!(
            "Service Account:\t{}",
            text_or(pod, "/spec/serviceAccountName", "default")
        ),
    );
    let node = match (text(pod, "/spec/nodeName"), text(pod, "/status/hostIP")) {
        ("", _) => "<none>".to_string(),
        (node, "") => node.to_string(),
        (node, ip) => format!("{node}/{ip}"),
    };
    w.line(0, &format!("Node:\t{node}"));
    if pod.pointer("/status/startTime").is_some() {
        w.line(
            0,
            &format!("Start Time:\t{}", format_time(pod, "/status/startTime")),
        );
    }
    w.labels(0, "Labels", pod.pointer("/metadata/labels"));
    w.annotations(0, pod.pointer("/metadata/annotations"));
    let phase = text_or(pod, "/status/phase", "Unknown");
    match pod
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    {
        Some(at) => w.line(
            0,
            &format!(
                "Status:\tTerminating (lasts {})",
                edge_api::meta::age_since(Some(at), now)
            ),
        ),
        None => w.line(0, &format!("Status:\t{phase}")),
    }
    for (label, pointer) in [("Reason", "/status/reason"), ("Message", "/status/message")] {
        if !text(pod, pointer).is_empty() {
            w.line(0, &format!("{label}:\t{}", text(pod, pointer)));
        }
    }
    w.line(0, &format!("IP:\t{}", text(pod, "/status/podIP")));
    let ips: Vec<&str> = pod
        .pointer("/status/podIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|ip| text(ip, "/ip"))
        .collect();
    if ips.is_empty() {
        w.line(0, "IPs:\t<none>");
    } else {
        w.line(0, "IPs:");
        for ip in ips {
            w.line(1, &format!("IP:\t{ip}"));
        }
    }
    controlled_by(w, pod);
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    containers(
        w,
        0,
        "Containers",
        pod.pointer("/spec/containers"),
        statuses,
    );
    conditions(w, pod);
    volumes(w, 0, pod.pointer("/spec/volumes"));
    w.line(
        0,
        &format!(
            "QoS Class:\t{}",
            text_or(pod, "/status/qosClass", "BestEffort")
        ),
    );
    w.labels(0, "Node-Selectors", pod.pointer("/spec/nodeSelector"));
    tolerations(w, 0, pod.pointer("/spec/tolerations"));
}

/// `Tolerations:` with one toleration per line, or `<none>`.
pub fn tolerations(w: &mut Writer, level: usize, list: Option<&Value>) {
    let tolerations: Vec<String> = list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(toleration)
        .collect();
    match tolerations.split_first() {
        None => w.line(level, "Tolerations:\t<none>"),
        Some((first, rest)) => {
            w.line(level, &format!("Tolerations:\t{first}"));
            for t in rest {
                w.line(level, &format!("\t{t}"));
            }
        }
    }
}

fn toleration(t: &Value) -> String {
    let mut s = text(t, "/key").to_string();
    if !text(t, "/value").is_empty() {
        s.push('=');
        s.push_str(text(t, "/value"));
    }
    if !text(t, "/effect").is_empty() {
        s.push(':');
        s.push_str(text(t, "/effect"));
    }
    if text(t, "/operator") == "Exists" && s.is_empty() {
        s = "op=Exists".to_string();
    } else if text(t, "/operator") == "Exists" {
        s.push_str(" op=Exists");
    }
    if let Some(seconds) = t.get("tolerationSeconds") {
        s.push_str(&format!(" for {seconds}s"));
    }
    s
}

/// `Containers:` with one block per container (and its status, on pods).
pub fn containers(
    w: &mut Writer,
    level: usize,
    title: &str,
    containers: Option<&Value>,
    statuses: Option<&Vec<Value>>,
) {
    w.line(level, &format!("{title}:"));
    for c in containers.and_then(Value::as_array).into_iter().flatten() {
        let name = text(c, "/name");
        let status = statuses.and_then(|s| s.iter().find(|s| text(s, "/name") == name));
        // kubectl indents a template's container names by one more space than its title,
        // and a container's fields alike in pods and templates.
        let indent = if level > 0 { " " } else { "" };
        w.line(1, &format!("{indent}{name}:"));
        let l = 2;
        if let Some(status) = status {
            w.line(
                l,
                &format!("Container ID:\t{}", text(status, "/containerID")),
            );
        }
        w.line(l, &format!("Image:\t{}", text(c, "/image")));
        if let Some(status) = status {
            w.line(l, &format!("Image ID:\t{}", text(status, "/imageID")));
        }
        let ports: Vec<String> = c
            .pointer("/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}/{}",
                    text_or(p, "/containerPort", "0"),
                    text_or(p, "/protocol", "TCP")
                )
            })
            .collect();
        w.line(
            l,
            &format!(
                "Port:\t{}",
                if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(", ")
                }
            ),
        );
        w.line(
            l,
            &format!(
                "Host Port:\t{}",
                if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    "0/TCP".to_string()
                }
            ),
        );
        for (label, key) in [("Command", "/command"), ("Args", "/args")] {
            if let Some(items) = c.pointer(key).and_then(Value::as_array) {
                w.line(l, &format!("{label}:"));
                for item in items {
                    w.line(l + 1, item.as_str().unwrap_or_default());
                }
            }
        }
        if let Some(status) = status {
            state(w, l, "State", status.get("state"));
            if status
                .get("lastState")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
            {
                state(w, l, "Last State", status.get("lastState"));
            }
            let ready = if status.get("ready").and_then(Value::as_bool) == Some(true) {
                "True"
            } else {
                "False"
            };
            w.line(l, &format!("Ready:\t{ready}"));
            w.line(
                l,
                &format!("Restart Count:\t{}", text_or(status, "/restartCount", "0")),
            );
        }
        for (label, key) in [
            ("Limits", "/resources/limits"),
            ("Requests", "/resources/requests"),
        ] {
            if let Some(map) = c
                .pointer(key)
                .and_then(Value::as_object)
                .filter(|m| !m.is_empty())
            {
                w.line(l, &format!("{label}:"));
                for (k, v) in map {
                    w.line(
                        l + 1,
                        &format!(
                            "{k}:\t{}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_string)
                        ),
                    );
                }
            }
        }
        let env: Vec<String> = c
            .pointer("/env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| match e.get("value") {
                Some(v) => format!("{}:\t{}", text(e, "/name"), v.as_str().unwrap_or_default()),
                None => format!("{}:\t<set from a source>", text(e, "/name")),
            })
            .collect();
        if env.is_empty() {
            w.line(l, "Environment:\t<none>");
        } else {
            w.line(l, "Environment:");
            for e in env {
                w.line(l + 1, &e);
            }
        }
        let mounts: Vec<String> = c
            .pointer("/volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| {
                let mode = if m.get("readOnly").and_then(Value::as_bool) == Some(true) {
                    "ro"
                } else {
                    "rw"
                };
                format!(
                    "{} from {} ({mode})",
                    text(m, "/mountPath"),
                    text(m, "/name")
                )
            })
            .collect();
        if mounts.is_empty() {
            w.line(l, "Mounts:\t<none>");
        } else {
            w.line(l, "Mounts:");
            for m in mounts {
                w.line(l + 1, &m);
            }
        }
    }
}

fn state(w: &mut Writer, level: usize, label: &str, state: Option<&Value>) {
    let Some((name, details)) = state
        .and_then(Value::as_object)
        .and_then(|m| m.iter().next())
    else {
        w.line(level, &format!("{label}:\tWaiting"));
        return;
    };
    let mut title = name.clone();
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    w.line(level, &format!("{label}:\t{title}"));
    for (field, pointer, time) in [
        ("Reason", "/reason", false),
        ("Message", "/message", false),
        ("Exit Code", "/exitCode", false),
        ("Started", "/startedAt", true),
        ("Finished", "/finishedAt", true),
    ] {
        if details.pointer(pointer).is_some() {
            let value = if time {
                format_time(details, pointer)
            } else {
                text_or(details, pointer, "")
            };
            w.line(level + 1, &format!("{field}:\t{value}"));
        }
    }
}

fn conditions(w: &mut Writer, pod: &Value) {
    let Some(conditions) = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    else {
        return;
    };
    w.line(0, "Conditions:");
    w.line(1, "Type\tStatus");
    for c in conditions {
        w.line(
            1,
            &format!("{} \t{} ", text(c, "/type"), text(c, "/status")),
        );
    }
}

/// `Volumes:` with each volume's source type.
pub fn volumes(w: &mut Writer, level: usize, volumes: Option<&Value>) {
    let volumes: Vec<&Value> = volumes
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if volumes.is_empty() {
        w.line(level, "Volumes:\t<none>");
        return;
    }
    w.line(level, "Volumes:");
    for v in volumes {
        w.line(level + 1, &format!("{}:", text(v, "/name")));
        let source = v
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, _)| k.as_str() != "name");
        if let Some((kind, details)) = source {
            w.line(level + 2, &format!("Type:\t{kind}"));
            for (k, value) in details.as_object().into_iter().flatten() {
                if !value.is_object() && !value.is_array() {
                    w.line(
                        level + 2,
                        &format!(
                            "{}:\t{}",
                            super::smart_label(k),
                            value
                                .as_str()
                                .map_or_else(|| value.to_string(), str::to_string)
                        ),
                    );
                }
            }
        }
    }
}
