//! Validation of services, endpoints and endpoint slices.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::Value;

use super::FieldError;
use super::metadata::validate_labels;
use super::pod::{validate_port_name, validate_port_number, validate_protocol};
use super::util::{child, get_arr, get_obj, get_str, index};
use crate::validation;

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

pub(crate) fn validate_service(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(spec) = obj.get("spec").filter(|s| s.is_object()) else {
        errs.push(FieldError::required("spec", ""));
        return;
    };
    let service_type = get_str(spec, "type").unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&service_type) {
        errs.push(FieldError::not_supported(
            "spec.type",
            service_type,
            SERVICE_TYPES,
        ));
    }
    let cluster_ip = get_str(spec, "clusterIP").unwrap_or_default();
    let headless = cluster_ip == "None";
    if !cluster_ip.is_empty() && !headless && cluster_ip.parse::<IpAddr>().is_err() {
        errs.push(FieldError::invalid(
            "spec.clusterIP",
            cluster_ip,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
    if service_type == "ExternalName" {
        match get_str(spec, "externalName").unwrap_or_default() {
            "" => errs.push(FieldError::required("spec.externalName", "")),
            name => {
                for msg in validation::dns1123_subdomain(name.trim_end_matches('.')) {
                    errs.push(FieldError::invalid("spec.externalName", name, msg));
                }
            }
        }
    }
    let ports = get_arr(spec, "ports");
    if ports.is_empty() && service_type != "ExternalName" && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let mut names = HashSet::new();
    let mut port_protocols = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = index("spec.ports", i);
        match get_str(port, "name").unwrap_or_default() {
            "" if ports.len() > 1 => errs.push(FieldError::required(child(&path, "name"), "")),
            "" => {}
            name => {
                for msg in validation::dns1123_label(name) {
                    errs.push(FieldError::invalid(child(&path, "name"), name, msg));
                }
                if !names.insert(name) {
                    errs.push(FieldError::duplicate(child(&path, "name"), name));
                }
            }
        }
        let number = port.get("port").unwrap_or(&Value::Null);
        validate_port_number(number, &child(&path, "port"), errs);
        validate_protocol(port, &path, errs);
        let protocol = get_str(port, "protocol").unwrap_or("TCP");
        if let Some(n) = number.as_i64()
            && !port_protocols.insert((n, protocol))
        {
            errs.push(FieldError::duplicate(
                &path,
                format!("{n}/{protocol}").as_str(),
            ));
        }
        match port.get("targetPort") {
            None | Some(Value::Null) => {}
            Some(Value::String(name)) => {
                validate_port_name(name, &child(&path, "targetPort"), errs)
            }
            Some(other) => validate_port_number(other, &child(&path, "targetPort"), errs),
        }
        if let Some(node_port) = port.get("nodePort").filter(|n| n.as_i64() != Some(0)) {
            if matches!(service_type, "NodePort" | "LoadBalancer") {
                validate_port_number(node_port, &child(&path, "nodePort"), errs);
            } else {
                errs.push(FieldError::forbidden(
                    child(&path, "nodePort"),
                    format!("may not be used when `type` is '{service_type}'"),
                ));
            }
        }
    }
    if let Some(selector) = get_obj(spec, "selector") {
        validate_labels(selector, "spec.selector", errs);
    }
    if let Some(affinity) = get_str(spec, "sessionAffinity")
        && !["ClientIP", "None"].contains(&affinity)
    {
        errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            affinity,
            &["ClientIP", "None"],
        ));
    }
}

pub(crate) fn validate_endpoints(obj: &Value, errs: &mut Vec<FieldError>) {
    for (i, subset) in get_arr(obj, "subsets").iter().enumerate() {
        let path = index("subsets", i);
        for list in ["addresses", "notReadyAddresses"] {
            for (j, addr) in get_arr(subset, list).iter().enumerate() {
                let ip = get_str(addr, "ip").unwrap_or_default();
                if ip.parse::<IpAddr>().is_err() {
                    errs.push(FieldError::invalid(
                        child(&index(&child(&path, list), j), "ip"),
                        ip,
                        "must be a valid IP address",
                    ));
                }
            }
        }
        for (j, port) in get_arr(subset, "ports").iter().enumerate() {
            let ppath = index(&child(&path, "ports"), j);
            validate_port_number(
                port.get("port").unwrap_or(&Value::Null),
                &child(&ppath, "port"),
                errs,
            );
            validate_protocol(port, &ppath, errs);
        }
    }
}

pub(crate) fn validate_endpoint_slice(obj: &Value, errs: &mut Vec<FieldError>) {
    const ADDRESS_TYPES: &[&str] = &["IPv4", "IPv6", "FQDN"];
    match get_str(obj, "addressType") {
        None | Some("") => errs.push(FieldError::required("addressType", "")),
        Some(t) if !ADDRESS_TYPES.contains(&t) => {
            errs.push(FieldError::not_supported("addressType", t, ADDRESS_TYPES))
        }
        Some(_) => {}
    }
    for (i, ep) in get_arr(obj, "endpoints").iter().enumerate() {
        if get_arr(ep, "addresses").is_empty() {
            errs.push(FieldError::required(
                child(&index("endpoints", i), "addresses"),
                "must contain at least 1 address",
            ));
        }
    }
    for (i, port) in get_arr(obj, "ports").iter().enumerate() {
        let path = index("ports", i);
        if let Some(p) = port.get("port").filter(|p| !p.is_null()) {
            validate_port_number(p, &child(&path, "port"), errs);
        }
        validate_protocol(port, &path, errs);
    }
}
