//! Tests of discovery: `Accept` negotiation, the shape of the aggregated documents, their
//! agreement with the legacy documents, and revalidation by `ETag`.

use axum::body::to_bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::*;

/// What kubectl and client-go send for `/api` and `/apis`.
const KUBECTL_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const V2: &str = "g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const V2BETA1: &str = "g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

#[test]
fn negotiates_as_the_apiserver_does() {
    use DiscoveryFormat::{Aggregated, Legacy};
    let cases: Vec<(String, DiscoveryFormat)> = vec![
        // No preference, or only plain JSON: the legacy documents.
        ("".to_string(), Legacy),
        (" ".to_string(), Legacy),
        ("application/json".to_string(), Legacy),
        ("application/json, */*".to_string(), Legacy),
        ("*/*".to_string(), Legacy),
        (
            "application/json;as=Table;v=v1;g=meta.k8s.io".to_string(),
            Legacy,
        ),
        (KUBECTL_ACCEPT.to_string(), Aggregated),
        (format!("application/json;{V2}"), Aggregated),
        (
            "application/json; as=APIGroupDiscoveryList ; v=v2 ;g=apidiscovery.k8s.io".to_string(),
            Aggregated,
        ),
        (format!("*/*;{V2}"), Aggregated),
        (format!("*;{V2}"), Aggregated),
        (format!("application/*;{V2}"), Aggregated),
        // A clause that does not ask for aggregation is skipped, not taken: the apiserver allows
        // only the aggregated kind on these endpoints when it negotiates.
        (
            format!("application/json,application/json;{V2}"),
            Aggregated,
        ),
        // q-values order the clauses, and the apiserver does not drop q=0 ones.
        (
            format!("application/json;q=0.9,application/json;{V2};q=0.1"),
            Aggregated,
        ),
        (format!("application/json;{V2};q=0"), Aggregated),
        // v2beta1 is no longer served (Kubernetes 1.35 and later).
        (
            format!("application/json;{V2BETA1},application/json"),
            Legacy,
        ),
        (
            format!("application/json;{V2BETA1},application/json;{V2}"),
            Aggregated,
        ),
        // Only the complete group, version and kind count.
        (
            "application/json;as=APIGroupDiscoveryList".to_string(),
            Legacy,
        ),
        (
            "application/json;g=apidiscovery.k8s.io;v=v2".to_string(),
            Legacy,
        ),
        (
            "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList".to_string(),
            Legacy,
        ),
        // A repeated parameter takes its last value.
        (
            "application/json;v=v1;g=apidiscovery.k8s.io;as=APIGroupDiscoveryList;v=v2".to_string(),
            Aggregated,
        ),
        // This server writes JSON only.
        (format!("application/vnd.kubernetes.protobuf;{V2}"), Legacy),
        (
            format!("application/vnd.kubernetes.protobuf;{V2},application/json;{V2}"),
            Aggregated,
        ),
        (format!("application/yaml;{V2}"), Legacy),
        // Names compare case-sensitively, as in goautoneg.
        (format!("Application/JSON;{V2}"), Legacy),
        (
            "application/json;G=apidiscovery.k8s.io;V=v2;AS=APIGroupDiscoveryList".to_string(),
            Legacy,
        ),
        // `stream=watch` and unknown parameters are allowed; other streams and `sv` are not.
        (format!("application/json;{V2};stream=watch"), Aggregated),
        (format!("application/json;{V2};profile=nopeer"), Aggregated),
        (format!("application/json;{V2};stream=other"), Legacy),
        (format!("application/json;{V2};sv=v1"), Legacy),
        // Malformed media ranges are skipped.
        (format!("application/json/x;{V2}"), Legacy),
        (format!("json;{V2}"), Legacy),
    ];
    for (accept, want) in cases {
        assert_eq!(
            DiscoveryFormat::negotiate(Some(&accept)),
            want,
            "{accept:?}"
        );
    }
    assert_eq!(DiscoveryFormat::negotiate(None), DiscoveryFormat::Legacy);
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn reply(response: Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a readable body")
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(root: DiscoveryRoot, accept: Option<&str>, if_none_match: Option<&str>) -> Reply {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (header::ACCEPT, accept),
        (header::IF_NONE_MATCH, if_none_match),
    ] {
        if let Some(value) = value {
            headers.insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
    }
    reply(match root {
        DiscoveryRoot::Api => api_root(headers).await,
        DiscoveryRoot::Apis => apis_root(headers).await,
    })
    .await
}

/// The resource named `plural` in the only version of the group at `index`.
fn resource_in(doc: &Value, index: usize, plural: &str) -> Value {
    doc["items"][index]["versions"][0]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["resource"] == plural)
        .cloned()
        .unwrap_or_else(|| panic!("{plural} is not listed"))
}

#[tokio::test]
async fn api_serves_the_core_group_aggregated() {
    let reply = get(DiscoveryRoot::Api, Some(KUBECTL_ACCEPT), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some(AGGREGATED_CONTENT_TYPE)
    );
    let doc = reply.json();
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
    assert_eq!(doc["metadata"], json!({}));
    let items = doc["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    // The core group has an empty name, which is omitted.
    assert_eq!(items[0]["metadata"], json!({}));
    let versions = items[0]["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["version"], "v1");
    assert_eq!(versions[0]["freshness"], "Current");

    assert_eq!(
        resource_in(&doc, 0, "pods"),
        json!({
            "resource": "pods",
            "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
            "scope": "Namespaced",
            "singularResource": "pod",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["po"],
            "categories": ["all"],
            "subresources": [{
                "subresource": "status",
                "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
                "verbs": ["get", "patch", "update"],
            }],
        })
    );
    let nodes = resource_in(&doc, 0, "nodes");
    assert_eq!(nodes["scope"], "Cluster");
    assert_eq!(nodes["shortNames"], json!(["no"]));
    assert!(nodes.get("categories").is_none());
    // Empty lists are omitted, as Go's `omitempty` does.
    let secrets = resource_in(&doc, 0, "secrets");
    for absent in ["shortNames", "categories", "subresources"] {
        assert!(secrets.get(absent).is_none(), "secrets has {absent}");
    }
}

#[tokio::test]
async fn apis_serves_every_named_group_aggregated() {
    let doc = get(DiscoveryRoot::Apis, Some(KUBECTL_ACCEPT), None)
        .await
        .json();
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    let names: Vec<&str> = doc["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["metadata"]["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "apps",
            "batch",
            "coordination.k8s.io",
            "discovery.k8s.io",
            "events.k8s.io",
            "metrics.k8s.io"
        ]
    );
    assert_eq!(
        resource_in(&doc, 0, "deployments"),
        json!({
            "resource": "deployments",
            "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "scope": "Namespaced",
            "singularResource": "deployment",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["deploy"],
            "categories": ["all"],
            "subresources": [
                {
                    "subresource": "scale",
                    "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                    "verbs": ["get", "patch", "update"],
                },
                {
                    "subresource": "status",
                    "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                    "verbs": ["get", "patch", "update"],
                },
            ],
        })
    );
    let jobs = resource_in(&doc, 1, "jobs");
    assert_eq!(
        jobs["responseKind"],
        json!({"group": "batch", "version": "v1", "kind": "Job"})
    );
    assert!(jobs.get("shortNames").is_none());
}

#[tokio::test]
async fn other_clients_get_the_legacy_documents() {
    let v2beta1_only = format!("application/json;{V2BETA1}");
    for accept in [None, Some("application/json"), Some(v2beta1_only.as_str())] {
        let api = get(DiscoveryRoot::Api, accept, None).await;
        assert_eq!(api.status, StatusCode::OK);
        assert_eq!(api.header(header::CONTENT_TYPE), Some("application/json"));
        assert_eq!(
            api.json(),
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
            "{accept:?}"
        );
        assert!(api.header(header::ETAG).is_none());
        let apis = get(DiscoveryRoot::Apis, accept, None).await;
        assert_eq!(apis.json()["kind"], "APIGroupList", "{accept:?}");
    }
}

#[tokio::test]
async fn etag_answers_revalidation_with_not_modified() {
    let first = get(DiscoveryRoot::Apis, Some(KUBECTL_ACCEPT), None).await;
    let etag = first.header(header::ETAG).expect("an ETag").to_string();
    // The hex SHA-512 of the document, in quotes.
    assert_eq!(etag.len(), 130);
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(first.header(header::VARY), Some("Accept"));
    assert_eq!(first.header(header::CACHE_CONTROL), Some("public"));

    let again = get(DiscoveryRoot::Apis, Some(KUBECTL_ACCEPT), Some(&etag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header(header::ETAG), Some(etag.as_str()));
    assert_eq!(again.header(header::VARY), Some("Accept"));

    let stale = get(DiscoveryRoot::Apis, Some(KUBECTL_ACCEPT), Some("\"0\"")).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body, first.body);

    let core = get(DiscoveryRoot::Api, Some(KUBECTL_ACCEPT), Some(&etag)).await;
    assert_eq!(core.status, StatusCode::OK);
    assert_ne!(core.header(header::ETAG), Some(etag.as_str()));
}

/// A legacy `APIResourceList` entry reduced to what both forms carry: the name (`pods`,
/// `pods/status`), scope, response group/version/kind, verbs, short names and categories.
fn legacy_entry(entry: &Value, group: &str, version: &str) -> Value {
    json!({
        "name": entry["name"],
        "namespaced": entry["namespaced"],
        "group": entry.get("group").cloned().unwrap_or(json!(group)),
        "version": entry.get("version").cloned().unwrap_or(json!(version)),
        "kind": entry["kind"],
        "verbs": entry["verbs"],
        "shortNames": entry.get("shortNames").cloned().unwrap_or(json!([])),
        "categories": entry.get("categories").cloned().unwrap_or(json!([])),
    })
}

/// The legacy entries client-go derives from one aggregated version (`SplitGroupsAndResources`),
/// reduced like `legacy_entry`.
fn entries_from_aggregated(version: &Value) -> Vec<Value> {
    let mut entries = Vec::new();
    for resource in version["resources"].as_array().into_iter().flatten() {
        let namespaced = json!(resource["scope"] == "Namespaced");
        let kind = &resource["responseKind"];
        entries.push(json!({
            "name": resource["resource"],
            "namespaced": namespaced,
            "group": kind["group"],
            "version": kind["version"],
            "kind": kind["kind"],
            "verbs": resource["verbs"],
            "shortNames": resource.get("shortNames").cloned().unwrap_or(json!([])),
            "categories": resource.get("categories").cloned().unwrap_or(json!([])),
        }));
        for sub in resource["subresources"].as_array().into_iter().flatten() {
            let kind = &sub["responseKind"];
            entries.push(json!({
                "name": format!(
                    "{}/{}",
                    resource["resource"].as_str().unwrap_or(""),
                    sub["subresource"].as_str().unwrap_or("")
                ),
                "namespaced": namespaced,
                "group": kind["group"],
                "version": kind["version"],
                "kind": kind["kind"],
                "verbs": sub["verbs"],
                "shortNames": [],
                "categories": [],
            }));
        }
    }
    entries
}

#[tokio::test]
async fn aggregated_and_legacy_documents_agree() {
    let legacy_groups = reply(group_list().into_response()).await.json();
    let legacy_names: Vec<Value> = legacy_groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["name"].clone())
        .collect();
    let mut checked = 0;
    for root in [DiscoveryRoot::Api, DiscoveryRoot::Apis] {
        let doc = get(root, Some(KUBECTL_ACCEPT), None).await.json();
        let items = doc["items"].as_array().expect("items");
        if root == DiscoveryRoot::Apis {
            let names: Vec<Value> = items
                .iter()
                .map(|g| g["metadata"]["name"].clone())
                .collect();
            assert_eq!(names, legacy_names);
        }
        for item in items {
            let group = item["metadata"]["name"].as_str().unwrap_or("");
            for version in item["versions"].as_array().into_iter().flatten() {
                let v = version["version"].as_str().expect("a version");
                let legacy = reply(group_version(group, v)).await.json();
                let want: Vec<Value> = legacy["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|entry| legacy_entry(entry, group, v))
                    .collect();
                assert_eq!(entries_from_aggregated(version), want, "{group}/{v}");
                checked += want.len();
            }
        }
    }
    let subresources: usize = resource::all()
        .iter()
        .map(|i| usize::from(i.has_status) + usize::from(i.has_scale))
        .sum();
    let metrics = crate::apiserver::metrics_api::RESOURCES.len();
    assert_eq!(checked, resource::all().len() + metrics + subresources);
}

#[test]
fn groups_include_apps_and_batch() {
    let groups = groups();
    assert_eq!(groups.get("apps"), Some(&vec!["v1"]));
    assert_eq!(groups.get("batch"), Some(&vec!["v1"]));
    assert!(!groups.contains_key(""));
    assert_eq!(versions_of(""), ["v1"]);
}
