//! Validation of pod specs, shared by pods and every workload's pod template.

use std::collections::HashSet;

use serde_json::Value;

use super::FieldError;
use super::metadata::validate_labels;
use super::util::{child, get_arr, get_i64, get_obj, get_str, index};
use crate::validation;

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];

/// Checks a port number is in 1..=65535.
pub(crate) fn validate_port_number(port: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match port.as_i64() {
        Some(p) if (1..=65535).contains(&p) => {}
        _ => errs.push(FieldError::invalid(
            path,
            port.clone(),
            "must be between 1 and 65535, inclusive",
        )),
    }
}

/// An IANA service name: at most 15 lowercase alphanumerics or `-`, with a letter, no `--`.
pub(crate) fn validate_port_name(name: &str, path: &str, errs: &mut Vec<FieldError>) {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && name.bytes().any(|c| c.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be no more than 15 characters, contain only lowercase alphanumeric characters or '-', contain at least one letter, and not start or end with '-' or contain '--'",
        ));
    }
}

/// Checks a protocol is TCP, UDP or SCTP (absent is fine before defaulting).
pub(crate) fn validate_protocol(port: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(p) = get_str(port, "protocol")
        && !PROTOCOLS.contains(&p)
    {
        errs.push(FieldError::not_supported(
            child(path, "protocol"),
            p,
            PROTOCOLS,
        ));
    }
}

fn one_of(v: &Value, key: &str, allowed: &[&str], path: &str, errs: &mut Vec<FieldError>) {
    if let Some(s) = get_str(v, key)
        && !allowed.contains(&s)
    {
        errs.push(FieldError::not_supported(child(path, key), s, allowed));
    }
}

fn non_negative(v: &Value, key: &str, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(n) = get_i64(v, key)
        && n < 0
    {
        errs.push(FieldError::invalid(
            child(path, key),
            n,
            "must be greater than or equal to 0",
        ));
    }
}

/// Validates a pod template (`metadata.labels` and `spec`) at `path`.
pub(crate) fn validate_pod_template(
    template: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(template) = template.filter(|t| t.is_object()) else {
        errs.push(FieldError::required(path, ""));
        return;
    };
    if let Some(labels) = template.get("metadata").and_then(|m| get_obj(m, "labels")) {
        validate_labels(labels, &child(path, "metadata.labels"), errs);
    }
    validate_pod_spec(template.get("spec"), &child(path, "spec"), errs);
}

/// Validates a pod spec at `path` (`spec` or `spec.template.spec`).
pub(crate) fn validate_pod_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        errs.push(FieldError::required(path, ""));
        return;
    };
    let mut volumes = HashSet::new();
    for (i, vol) in get_arr(spec, "volumes").iter().enumerate() {
        let vpath = index(&child(path, "volumes"), i);
        let name = get_str(vol, "name").unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(child(&vpath, "name"), ""));
            continue;
        }
        for msg in validation::dns1123_label(name) {
            errs.push(FieldError::invalid(child(&vpath, "name"), name, msg));
        }
        if !volumes.insert(name) {
            errs.push(FieldError::duplicate(child(&vpath, "name"), name));
        }
    }
    let containers = get_arr(spec, "containers");
    if containers.is_empty() {
        errs.push(FieldError::required(child(path, "containers"), ""));
    }
    let mut names = HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in get_arr(spec, list).iter().enumerate() {
            validate_container(c, &index(&child(path, list), i), &volumes, &mut names, errs);
        }
    }
    one_of(spec, "restartPolicy", RESTART_POLICIES, path, errs);
    one_of(spec, "dnsPolicy", DNS_POLICIES, path, errs);
    non_negative(spec, "terminationGracePeriodSeconds", path, errs);
    if let Some(n) = get_i64(spec, "activeDeadlineSeconds")
        && n <= 0
    {
        errs.push(FieldError::invalid(
            child(path, "activeDeadlineSeconds"),
            n,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(node) = get_str(spec, "nodeName").filter(|n| !n.is_empty()) {
        for msg in validation::dns1123_subdomain(node) {
            errs.push(FieldError::invalid(child(path, "nodeName"), node, msg));
        }
    }
    if let Some(selector) = get_obj(spec, "nodeSelector") {
        validate_labels(selector, &child(path, "nodeSelector"), errs);
    }
    if get_str(spec, "dnsPolicy") == Some("None")
        && spec.get("dnsConfig").is_none_or(Value::is_null)
    {
        errs.push(FieldError::required(
            child(path, "dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
}

fn validate_container<'a>(
    c: &'a Value,
    path: &str,
    volumes: &HashSet<&str>,
    names: &mut HashSet<&'a str>,
    errs: &mut Vec<FieldError>,
) {
    let name = get_str(c, "name").unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else {
        for msg in validation::dns1123_label(name) {
            errs.push(FieldError::invalid(child(path, "name"), name, msg));
        }
        if !names.insert(name) {
            errs.push(FieldError::duplicate(child(path, "name"), name));
        }
    }
    if get_str(c, "image").is_none_or(|i| i.trim().is_empty()) {
        errs.push(FieldError::required(child(path, "image"), ""));
    }
    one_of(c, "imagePullPolicy", PULL_POLICIES, path, errs);
    let mut port_names = HashSet::new();
    for (i, port) in get_arr(c, "ports").iter().enumerate() {
        let ppath = index(&child(path, "ports"), i);
        validate_port_number(
            port.get("containerPort").unwrap_or(&Value::Null),
            &child(&ppath, "containerPort"),
            errs,
        );
        if let Some(host) = port.get("hostPort").filter(|h| h.as_i64() != Some(0)) {
            validate_port_number(host, &child(&ppath, "hostPort"), errs);
        }
        validate_protocol(port, &ppath, errs);
        if let Some(pname) = get_str(port, "name") {
            validate_port_name(pname, &child(&ppath, "name"), errs);
            if !port_names.insert(pname) {
                errs.push(FieldError::duplicate(child(&ppath, "name"), pname));
            }
        }
    }
    for (i, env) in get_arr(c, "env").iter().enumerate() {
        let epath = index(&child(path, "env"), i);
        let ename = get_str(env, "name").unwrap_or_default();
        if ename.is_empty() {
            errs.push(FieldError::required(child(&epath, "name"), ""));
        } else if ename.contains('=') || !ename.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            errs.push(FieldError::invalid(
                child(&epath, "name"),
                ename,
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
    }
    let mut mount_paths = HashSet::new();
    for (i, mount) in get_arr(c, "volumeMounts").iter().enumerate() {
        let mpath = index(&child(path, "volumeMounts"), i);
        let vname = get_str(mount, "name").unwrap_or_default();
        if vname.is_empty() {
            errs.push(FieldError::required(child(&mpath, "name"), ""));
        } else if !volumes.contains(vname) {
            errs.push(FieldError::invalid(
                child(&mpath, "name"),
                vname,
                "not found in spec.volumes",
            ));
        }
        let mount_path = get_str(mount, "mountPath").unwrap_or_default();
        if mount_path.is_empty() {
            errs.push(FieldError::required(child(&mpath, "mountPath"), ""));
        } else if !mount_paths.insert(mount_path) {
            errs.push(FieldError::invalid(
                child(&mpath, "mountPath"),
                mount_path,
                "must be unique",
            ));
        }
    }
    if let Some(resources) = c.get("resources") {
        validate_resources(resources, &child(path, "resources"), errs);
    }
}

/// Quantities must parse and requests may not exceed limits.
fn validate_resources(resources: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let parse_all = |key: &str, errs: &mut Vec<FieldError>| {
        let mut out = Vec::new();
        for (name, q) in get_obj(resources, key).into_iter().flatten() {
            let text = match q {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let qpath = format!("{}[{name}]", child(path, key));
            match crate::quantity::parse_quantity(&text) {
                Ok(parsed) if parsed.is_negative() => {
                    errs.push(FieldError::invalid(
                        qpath,
                        text.as_str(),
                        "must be greater than or equal to 0",
                    ));
                }
                Ok(parsed) => out.push((name.clone(), parsed, text)),
                Err(e) => errs.push(FieldError::invalid(qpath, text.as_str(), e.to_string())),
            }
        }
        out
    };
    let limits = parse_all("limits", errs);
    let requests = parse_all("requests", errs);
    for (name, request, text) in &requests {
        if let Some((_, limit, limit_text)) = limits.iter().find(|(n, _, _)| n == name)
            && request > limit
        {
            errs.push(FieldError::invalid(
                format!("{}[{name}]", child(path, "requests")),
                text.as_str(),
                format!("must be less than or equal to {name} limit of {limit_text}"),
            ));
        }
    }
}

/// The restart policy of a pod template after defaulting.
pub(crate) fn restart_policy(template_spec: Option<&Value>) -> &str {
    template_spec
        .and_then(|s| get_str(s, "restartPolicy"))
        .unwrap_or("Always")
}
