//! A minimal OpenAPI v3 description: one document per group version listing each resource's
//! paths with the `fieldValidation` query parameter, which is what kubectl reads to decide that
//! the server validates fields itself (so `kubectl apply` needs no client-side schemas).

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use edge_api::resource::{self, ResourceInfo};
use edge_api::status::Status;
use serde_json::{Map, Value, json};

use super::error::ApiError;

fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut gvs: Vec<(&str, &str)> = resource::all()
        .iter()
        .map(|i| (i.group, i.version))
        .collect();
    gvs.sort();
    gvs.dedup();
    gvs
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`: the index of group-version documents.
pub async fn root() -> Json<Value> {
    let mut paths = Map::new();
    for (group, version) in group_versions() {
        let path = gv_path(group, version);
        let url = format!("/openapi/v3/{path}?hash={}", env!("CARGO_PKG_VERSION"));
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    Json(json!({"paths": paths}))
}

/// `GET /openapi/v3/{api|apis/...}`: the document of one group version.
pub async fn group_version(Path(rest): Path<String>) -> Response {
    let Some((group, version)) = group_versions()
        .into_iter()
        .find(|(g, v)| gv_path(g, v) == rest)
    else {
        return ApiError::new(Status::failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ))
        .into_response();
    };
    let mut paths = Map::new();
    for info in resource::all()
        .iter()
        .filter(|i| i.group == group && i.version == version)
    {
        let (collection, item) = resource_paths(info);
        let gvk = json!({"group": info.group, "version": info.version, "kind": info.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        // kubectl looks for the parameters on the operation itself, not on the path.
        let op = |id: &str| json!({"operationId": id, "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {}});
        paths.insert(collection, json!({"post": op("create"), "get": op("list")}));
        paths.insert(item, json!({"get": op("read"), "put": op("replace"), "patch": op("patch"), "delete": op("delete")}));
    }
    Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{}.0", super::discovery::KUBERNETES_MINOR)},
        "paths": paths,
        "components": {"schemas": {}},
    }))
    .into_response()
}

fn resource_paths(info: &ResourceInfo) -> (String, String) {
    let base = format!("/{}", gv_path(info.group, info.version));
    let collection = if info.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{base}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    (collection, item)
}
