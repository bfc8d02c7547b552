//! Discovery documents (`/api`, `/apis`, group and version resource lists) and `/version`, so that
//! `kubectl api-resources`, `api-versions` and every client's REST mapping work.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use edge_api::resource::{self, ResourceInfo};
use serde_json::{Value, json};

use super::error::ApiError;
use edge_api::status::Status;

/// The Kubernetes version this server speaks, reported by `/version`.
pub const KUBERNETES_MINOR: &str = "37";

/// `GET /api`.
pub fn core_versions() -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    }))
}

/// The API groups other than core, with their versions.
fn groups() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for info in resource::all().iter().filter(|i| !i.group.is_empty()) {
        let versions = groups.entry(info.group).or_default();
        if !versions.contains(&info.version) {
            versions.push(info.version);
        }
    }
    groups
}

fn group_object(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /apis`.
pub fn group_list() -> Json<Value> {
    let groups: Vec<Value> = groups()
        .iter()
        .map(|(name, versions)| group_object(name, versions))
        .collect();
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// `GET /apis/{group}`.
pub fn group(name: &str) -> Response {
    match groups().get(name) {
        Some(versions) => {
            let mut object = group_object(name, versions);
            object["kind"] = json!("APIGroup");
            object["apiVersion"] = json!("v1");
            Json(object).into_response()
        }
        None => not_found(),
    }
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`.
pub fn group_version(group: &str, version: &str) -> Response {
    let infos: Vec<&ResourceInfo> = resource::all()
        .iter()
        .filter(|i| i.group == group && i.version == version)
        .collect();
    if infos.is_empty() {
        return not_found();
    }
    let mut resources = Vec::new();
    for info in infos {
        resources.push(json!({
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": info.verbs,
            "shortNames": info.short_names,
            "categories": info.categories,
        }));
        if info.has_status {
            resources.push(json!({
                "name": format!("{}/status", info.plural),
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": info.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if info.has_scale {
            resources.push(json!({
                "name": format!("{}/scale", info.plural),
                "singularName": "",
                "namespaced": info.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
    .into_response()
}

/// `GET /version`.
pub fn version() -> Json<Value> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    Json(json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0+edgeplane-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("linux/{arch}"),
        "emulationMajor": "1",
        "emulationMinor": KUBERNETES_MINOR,
    }))
}

fn not_found() -> Response {
    ApiError::new(Status::failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_include_apps_and_batch() {
        let groups = groups();
        assert_eq!(groups.get("apps"), Some(&vec!["v1"]));
        assert_eq!(groups.get("batch"), Some(&vec!["v1"]));
        assert!(!groups.contains_key(""));
    }
}
