//! `describe deployment` and `describe replicaset`.

use serde_json::Value;

use super::{Writer, controlled_by, format_time, header, text, text_or};

/// `app=web,tier=fe` from a `matchLabels` selector (and `key in (a,b)` for expressions).
pub(super) fn selector(object: &Value) -> String {
    let mut parts: Vec<String> = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in object
        .pointer("/spec/selector/matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(format!(
            "{} {} ({})",
            text(e, "/key"),
            text(e, "/operator").to_lowercase(),
            values.join(",")
        ));
    }
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(",")
    }
}

fn pod_template(w: &mut Writer, object: &Value) {
    template(w, object.pointer("/spec/template"));
}

/// kubectl's `DescribePodTemplate`, which `describe` and `rollout history --revision` print.
pub fn template(w: &mut Writer, template: Option<&Value>) {
    w.line(0, "Pod Template:");
    let Some(template) = template else {
        w.line(1, "<unset>");
        return;
    };
    w.labels(1, "Labels", template.pointer("/metadata/labels"));
    let annotations = template.pointer("/metadata/annotations");
    if annotations
        .and_then(Value::as_object)
        .is_some_and(|a| !a.is_empty())
    {
        w.annotations(1, annotations);
    }
    let account = text(template, "/spec/serviceAccountName");
    if !account.is_empty() {
        w.line(1, &format!("Service Account:\t{account}"));
    }
    let init = template.pointer("/spec/initContainers");
    if init
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        super::pod::containers(w, 1, "Init Containers", init, None);
    }
    super::pod::containers(
        w,
        1,
        "Containers",
        template.pointer("/spec/containers"),
        None,
    );
    super::pod::volumes(w, 1, template.pointer("/spec/volumes"));
    let priority = text(template, "/spec/priorityClassName");
    if !priority.is_empty() {
        w.line(1, &format!("Priority Class Name:\t{priority}"));
    }
    w.labels(1, "Node-Selectors", template.pointer("/spec/nodeSelector"));
    super::pod::tolerations(w, 1, template.pointer("/spec/tolerations"));
}

fn conditions(w: &mut Writer, object: &Value) {
    let Some(conditions) = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    else {
        return;
    };
    w.line(0, "Conditions:");
    w.line(1, "Type\tStatus\tReason");
    w.line(1, "----\t------\t------");
    for c in conditions {
        w.line(
            1,
            &format!(
                "{}\t{}\t{}",
                text(c, "/type"),
                text(c, "/status"),
                text(c, "/reason")
            ),
        );
    }
}

pub fn deployment(w: &mut Writer, d: &Value) {
    header(w, d, true);
    w.line(
        0,
        &format!(
            "CreationTimestamp:\t{}",
            format_time(d, "/metadata/creationTimestamp")
        ),
    );
    w.labels(0, "Labels", d.pointer("/metadata/labels"));
    w.annotations(0, d.pointer("/metadata/annotations"));
    w.line(0, &format!("Selector:\t{}", selector(d)));
    let n = |p: &str| text_or(d, p, "0");
    w.line(
        0,
        &format!(
            "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable",
            text_or(d, "/spec/replicas", "1"),
            n("/status/updatedReplicas"),
            n("/status/replicas"),
            n("/status/availableReplicas"),
            n("/status/unavailableReplicas")
        ),
    );
    let strategy = text_or(d, "/spec/strategy/type", "RollingUpdate");
    w.line(0, &format!("StrategyType:\t{strategy}"));
    w.line(
        0,
        &format!(
            "MinReadySeconds:\t{}",
            text_or(d, "/spec/minReadySeconds", "0")
        ),
    );
    if strategy == "RollingUpdate" {
        w.line(
            0,
            &format!(
                "RollingUpdateStrategy:\t{} max unavailable, {} max surge",
                text_or(d, "/spec/strategy/rollingUpdate/maxUnavailable", "25%"),
                text_or(d, "/spec/strategy/rollingUpdate/maxSurge", "25%")
            ),
        );
    }
    pod_template(w, d);
    conditions(w, d);
}

pub fn replica_set(w: &mut Writer, rs: &Value) {
    header(w, rs, true);
    w.line(0, &format!("Selector:\t{}", selector(rs)));
    w.labels(0, "Labels", rs.pointer("/metadata/labels"));
    w.annotations(0, rs.pointer("/metadata/annotations"));
    controlled_by(w, rs);
    w.line(
        0,
        &format!(
            "Replicas:\t{} current / {} desired",
            text_or(rs, "/status/replicas", "0"),
            text_or(rs, "/spec/replicas", "1")
        ),
    );
    w.line(
        0,
        &format!(
            "Pods Status:\t{} Ready / {} Available",
            text_or(rs, "/status/readyReplicas", "0"),
            text_or(rs, "/status/availableReplicas", "0")
        ),
    );
    pod_template(w, rs);
    conditions(w, rs);
}
