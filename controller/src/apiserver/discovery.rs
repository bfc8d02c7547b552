//! Discovery documents (`/api`, `/apis`, group and version resource lists) and `/version`, so that
//! `kubectl api-resources`, `api-versions` and every client's REST mapping work.
//!
//! `/api` and `/apis` serve the aggregated form (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`,
//! every resource of every version in one response) to clients that ask for it in `Accept`, as
//! kubectl and client-go do, and the legacy `APIVersions` / `APIGroupList` to everyone else. Both
//! forms are built from the same resource table, so a client sees the same resources either way.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edge_api::resource::{self, ResourceInfo};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

use super::error::ApiError;
use edge_api::status::Status;

/// The Kubernetes version this server speaks, reported by `/version`.
pub const KUBERNETES_MINOR: &str = "37";

/// The group, version and kind a client names in `Accept` to ask for aggregated discovery.
const AGGREGATED_GROUP: &str = "apidiscovery.k8s.io";
const AGGREGATED_VERSION: &str = "v2";
const AGGREGATED_KIND: &str = "APIGroupDiscoveryList";

/// The `Content-Type` of an aggregated document; client-go recognises the aggregated form by it.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The verbs of the status and scale subresources.
const SUBRESOURCE_VERBS: &[&str] = &["get", "patch", "update"];

// ---------------------------------------------------------------------------------------------
// Negotiation

/// Which document a request for `/api` or `/apis` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryFormat {
    /// `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`.
    Aggregated,
    /// `APIVersions` (`/api`) or `APIGroupList` (`/apis`).
    Legacy,
}

impl DiscoveryFormat {
    /// Chooses the form from an `Accept` header the way the Kubernetes API server does
    /// (`NegotiateMediaTypeOptions` with `DiscoveryEndpointRestrictions`): a clause counts only if
    /// it names `g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` on a media type the server
    /// writes; every other clause, plain `application/json` included, is skipped rather than
    /// ending the search, and no matching clause at all means the legacy document.
    ///
    /// The apiserver orders clauses by q-value and specificity before that walk, but the order
    /// cannot change the outcome here: this server writes JSON only, so every acceptable clause
    /// yields the same response. Like the apiserver, `q=0` does not exclude a clause.
    /// `v=v2beta1` is not aggregated: Kubernetes stopped serving it in 1.35
    /// (`AggregatedDiscoveryRemoveBetaType`, locked on), and such clients get the legacy form.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let aggregated = accept
            .into_iter()
            .flat_map(|header| header.split(','))
            .filter_map(AcceptClause::parse)
            .any(|clause| clause.asks_for_aggregated());
        if aggregated {
            DiscoveryFormat::Aggregated
        } else {
            DiscoveryFormat::Legacy
        }
    }
}

/// One media range of an `Accept` header, split as goautoneg (the apiserver's parser) splits it.
struct AcceptClause<'a> {
    media_type: &'a str,
    sub_type: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> AcceptClause<'a> {
    /// Parses `type/subtype;key=value;...`; `None` for a clause that is not a media range.
    /// goautoneg trims only spaces and compares names case-sensitively, and so does this.
    fn parse(clause: &'a str) -> Option<Self> {
        let mut parts = clause.trim_matches(' ').split(';');
        let range = parts.next().unwrap_or("");
        let mut halves = range.split('/');
        let media_type = halves.next().unwrap_or("").trim_matches(' ');
        let (media_type, sub_type) = match (halves.next(), halves.next()) {
            (None, None) if media_type == "*" => ("*", "*"),
            (Some(sub_type), None) => (media_type, sub_type.trim_matches(' ')),
            _ => return None,
        };
        let params = parts
            .filter_map(|param| param.split_once('='))
            .map(|(key, value)| (key.trim_matches(' '), value.trim_matches(' ')))
            .filter(|(key, _)| *key != "q")
            .collect();
        Some(AcceptClause {
            media_type,
            sub_type,
            params,
        })
    }

    /// The value of a parameter; a repeated key takes its last value, as in goautoneg's map.
    fn param(&self, key: &str) -> Option<&'a str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    fn asks_for_aggregated(&self) -> bool {
        let json = matches!(
            (self.media_type, self.sub_type),
            ("application", "json") | ("application", "*") | ("*", "*")
        );
        // The apiserver rejects a clause that asks for a stream other than `watch` or for a
        // server version (`sv`), whatever else it names.
        let stream_ok = self
            .param("stream")
            .is_none_or(|s| s.is_empty() || s == "watch");
        let server_version_ok = self.param("sv").is_none_or(str::is_empty);
        json && stream_ok
            && server_version_ok
            && self.param("g") == Some(AGGREGATED_GROUP)
            && self.param("v") == Some(AGGREGATED_VERSION)
            && self.param("as") == Some(AGGREGATED_KIND)
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers of `/api` and `/apis`

/// `GET /api`: the core group, aggregated when the client asks for it.
pub async fn api_root(headers: HeaderMap) -> Response {
    match DiscoveryFormat::negotiate(accept(&headers)) {
        DiscoveryFormat::Aggregated => {
            aggregated_response(&aggregated(DiscoveryRoot::Api), &headers)
        }
        DiscoveryFormat::Legacy => core_versions().into_response(),
    }
}

/// `GET /apis`: every other group, aggregated when the client asks for it.
pub async fn apis_root(headers: HeaderMap) -> Response {
    match DiscoveryFormat::negotiate(accept(&headers)) {
        DiscoveryFormat::Aggregated => {
            aggregated_response(&aggregated(DiscoveryRoot::Apis), &headers)
        }
        DiscoveryFormat::Legacy => group_list().into_response(),
    }
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
}

/// Writes an aggregated document with the caching headers the apiserver sends: an `ETag` (the
/// SHA-512 of the document), `Vary: Accept` because `/api` and `/apis` have two forms, and
/// `304 Not Modified` when `If-None-Match` names the current `ETag`.
fn aggregated_response(list: &ApiGroupDiscoveryList, headers: &HeaderMap) -> Response {
    let body = match serde_json::to_vec(list) {
        Ok(body) => body,
        Err(err) => {
            return ApiError::internal(format!("encoding the discovery document: {err}"))
                .into_response();
        }
    };
    let etag = format!("\"{}\"", hex::encode_upper(Sha512::digest(&body)));
    let cache_headers = [
        (header::VARY, HeaderValue::from_static("Accept")),
        (header::CACHE_CONTROL, HeaderValue::from_static("public")),
    ];
    // The ETag is hex in quotes, so it is always a valid header value.
    let etag_header = HeaderValue::from_str(&etag).ok();
    let client_has_it = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes());
    let mut response = if client_has_it {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(AGGREGATED_CONTENT_TYPE),
            )],
            body,
        )
            .into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.extend(cache_headers);
    if let Some(etag) = etag_header {
        response_headers.insert(header::ETAG, etag);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Aggregated documents (`apidiscovery.k8s.io/v2`, `staging/src/k8s.io/api/apidiscovery/v2`)

/// The two aggregated documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DiscoveryRoot {
    /// `/api`: the core group, whose name is empty.
    Api,
    /// `/apis`: every named group.
    Apis,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroupDiscoveryList {
    kind: &'static str,
    api_version: String,
    /// `ListMeta`, always empty: the document has no resourceVersion.
    metadata: EmptyMeta,
    items: Vec<ApiGroupDiscovery>,
}

#[derive(Debug, Serialize)]
struct EmptyMeta {}

#[derive(Debug, Serialize)]
struct ApiGroupDiscovery {
    /// `ObjectMeta` with only the name, which is omitted for the core group.
    metadata: GroupMeta,
    /// Most preferred first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    versions: Vec<ApiVersionDiscovery>,
}

#[derive(Debug, Serialize)]
struct GroupMeta {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'static str,
}

#[derive(Debug, Serialize)]
struct ApiVersionDiscovery {
    version: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<ApiResourceDiscovery>,
    freshness: Freshness,
}

/// Whether a version's resource list is up to date; this server's always is.
#[derive(Debug, Serialize)]
enum Freshness {
    Current,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResourceDiscovery {
    resource: &'static str,
    response_kind: GroupVersionKind,
    scope: ResourceScope,
    singular_resource: &'static str,
    verbs: &'static [&'static str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    short_names: &'static [&'static str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    categories: &'static [&'static str],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subresources: Vec<ApiSubresourceDiscovery>,
}

#[derive(Debug, Serialize)]
enum ResourceScope {
    Cluster,
    Namespaced,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiSubresourceDiscovery {
    subresource: &'static str,
    response_kind: GroupVersionKind,
    verbs: &'static [&'static str],
}

#[derive(Debug, Serialize)]
struct GroupVersionKind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
}

/// The aggregated document of `/api` or `/apis`. Groups, versions and resources come in the
/// same order as in the legacy documents.
fn aggregated(root: DiscoveryRoot) -> ApiGroupDiscoveryList {
    let items = match root {
        DiscoveryRoot::Api => vec![aggregated_group("", &versions_of(""))],
        DiscoveryRoot::Apis => groups()
            .iter()
            .map(|(name, versions)| aggregated_group(name, versions))
            .collect(),
    };
    ApiGroupDiscoveryList {
        kind: AGGREGATED_KIND,
        api_version: format!("{AGGREGATED_GROUP}/{AGGREGATED_VERSION}"),
        metadata: EmptyMeta {},
        items,
    }
}

fn aggregated_group(name: &'static str, versions: &[&'static str]) -> ApiGroupDiscovery {
    let versions = versions
        .iter()
        .map(|version| ApiVersionDiscovery {
            version,
            resources: resources_of(name, version)
                .into_iter()
                .map(aggregated_resource)
                .collect(),
            freshness: Freshness::Current,
        })
        .collect();
    ApiGroupDiscovery {
        metadata: GroupMeta { name },
        versions,
    }
}

fn aggregated_resource(info: &'static ResourceInfo) -> ApiResourceDiscovery {
    ApiResourceDiscovery {
        resource: info.plural,
        response_kind: GroupVersionKind {
            group: info.group,
            version: info.version,
            kind: info.kind,
        },
        scope: if info.namespaced {
            ResourceScope::Namespaced
        } else {
            ResourceScope::Cluster
        },
        singular_resource: info.singular,
        verbs: info.verbs,
        short_names: info.short_names,
        categories: info.categories,
        subresources: subresources(info)
            .into_iter()
            .map(|sub| ApiSubresourceDiscovery {
                subresource: sub.name,
                response_kind: sub.response_kind,
                verbs: SUBRESOURCE_VERBS,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// What both forms are built from

/// Every resource discovery lists: the stored ones, then the computed resource metrics.
fn served() -> impl Iterator<Item = &'static ResourceInfo> {
    resource::all()
        .iter()
        .chain(super::metrics_api::RESOURCES.iter())
}

/// The resources of one group version, in table order.
fn resources_of(group: &str, version: &str) -> Vec<&'static ResourceInfo> {
    served()
        .filter(|i| i.group == group && i.version == version)
        .collect()
}

/// The versions of one group, preferred (first in the table) first.
fn versions_of(group: &str) -> Vec<&'static str> {
    let mut versions = Vec::new();
    for info in served().filter(|i| i.group == group) {
        if !versions.contains(&info.version) {
            versions.push(info.version);
        }
    }
    versions
}

/// The API groups other than core, with their versions.
fn groups() -> BTreeMap<&'static str, Vec<&'static str>> {
    served()
        .filter(|i| !i.group.is_empty())
        .map(|i| (i.group, versions_of(i.group)))
        .collect()
}

/// A subresource and the kind its endpoint returns.
struct Subresource {
    name: &'static str,
    response_kind: GroupVersionKind,
}

/// The subresources of a resource, by name as the Kubernetes API server lists them.
fn subresources(info: &ResourceInfo) -> Vec<Subresource> {
    let mut subs = Vec::new();
    if info.has_scale {
        subs.push(Subresource {
            name: "scale",
            response_kind: GroupVersionKind {
                group: "autoscaling",
                version: "v1",
                kind: "Scale",
            },
        });
    }
    if info.has_status {
        subs.push(Subresource {
            name: "status",
            response_kind: GroupVersionKind {
                group: info.group,
                version: info.version,
                kind: info.kind,
            },
        });
    }
    subs
}

// ---------------------------------------------------------------------------------------------
// Legacy documents

/// `GET /api` without aggregation: `APIVersions`.
pub fn core_versions() -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": versions_of(""),
        "serverAddressByClientCIDRs": [],
    }))
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

/// `GET /apis` without aggregation: `APIGroupList`.
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
    let infos = resources_of(group, version);
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
        for sub in subresources(info) {
            let mut entry = json!({
                "name": format!("{}/{}", info.plural, sub.name),
                "singularName": "",
                "namespaced": info.namespaced,
            });
            // The legacy form names the group and version only where they differ from the
            // resource's own (`autoscaling/v1` for scale).
            let kind = &sub.response_kind;
            if (kind.group, kind.version) != (info.group, info.version) {
                entry["group"] = json!(kind.group);
                entry["version"] = json!(kind.version);
            }
            entry["kind"] = json!(kind.kind);
            entry["verbs"] = json!(SUBRESOURCE_VERBS);
            resources.push(entry);
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
#[path = "discovery_test.rs"]
mod tests;
