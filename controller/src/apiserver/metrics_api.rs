//! `metrics.k8s.io/v1beta1`, the resource metrics API that `kubectl top` reads, answered the way
//! metrics-server answers it, from the usage agents report with their heartbeats
//! ([`crate::gateway::usage`]).
//!
//! Usage lives in the memory of the controller an agent is connected to, and nothing is merged
//! across controllers: in an HA control plane a controller knows only its own agents' nodes and
//! pods, and answers for the others as if they had no metrics yet (missing from lists, 404 when
//! named). That is acceptable while edge clusters mostly run one controller per agent group;
//! asking the peers would be the way to lift it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use edge_api::resource::{self, ResourceInfo};
use edge_api::selector::{FieldSelector, LabelSelector};
use edge_api::status::Status;
use edge_wire::link::PodUsage;
use serde_json::{Value, json};

use super::ApiServer;
use super::error::ApiError;
use super::http::forbidden;
use crate::auth::{Decision, Identity, RequestAttributes, authorize};
use crate::gateway::usage::NodeUsage;

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
/// The path prefix of the group version; the router sends everything below it here.
pub const PREFIX: &str = "/apis/metrics.k8s.io/v1beta1/";
const VERBS: &[&str] = &["get", "list"];

/// How often an agent's workers sample their containers' usage (`edge-agent` `worker`), and so
/// the window a pod's figures cover.
const POD_WINDOW: Duration = Duration::from_secs(10);

/// The resources of the group, for discovery. They are not in `edge_api::resource`'s table,
/// because nothing stores them: they are computed on each request.
pub static RESOURCES: [ResourceInfo; 2] = [
    ResourceInfo {
        group: GROUP,
        version: VERSION,
        kind: "NodeMetrics",
        plural: "nodes",
        singular: "",
        namespaced: false,
        short_names: &[],
        categories: &[],
        has_status: false,
        has_scale: false,
        verbs: VERBS,
    },
    ResourceInfo {
        group: GROUP,
        version: VERSION,
        kind: "PodMetrics",
        plural: "pods",
        singular: "",
        namespaced: true,
        short_names: &[],
        categories: &[],
        has_status: false,
        has_scale: false,
        verbs: VERBS,
    },
];

/// What a path below [`PREFIX`] addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MetricsTarget {
    Nodes {
        name: Option<String>,
    },
    /// `namespace` is `None` for the list across all namespaces.
    Pods {
        namespace: Option<String>,
        name: Option<String>,
    },
}

impl MetricsTarget {
    fn parse(rest: &str) -> Option<MetricsTarget> {
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        let owned = |s: &str| Some(s.to_owned());
        match segments.as_slice() {
            ["nodes"] => Some(MetricsTarget::Nodes { name: None }),
            ["nodes", name] => Some(MetricsTarget::Nodes { name: owned(name) }),
            ["pods"] => Some(MetricsTarget::Pods {
                namespace: None,
                name: None,
            }),
            ["namespaces", ns, "pods"] => Some(MetricsTarget::Pods {
                namespace: owned(ns),
                name: None,
            }),
            ["namespaces", ns, "pods", name] => Some(MetricsTarget::Pods {
                namespace: owned(ns),
                name: owned(name),
            }),
            _ => None,
        }
    }

    fn attributes(&self) -> RequestAttributes<'_> {
        let (resource, namespace, name) = match self {
            MetricsTarget::Nodes { name } => ("nodes", None, name.as_deref()),
            MetricsTarget::Pods { namespace, name } => {
                ("pods", namespace.as_deref(), name.as_deref())
            }
        };
        RequestAttributes {
            verb: if name.is_some() { "get" } else { "list" },
            group: GROUP,
            resource,
            subresource: None,
            namespace,
            name,
        }
    }
}

/// The selectors of a list request.
#[derive(Debug, Default)]
struct Selectors {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Selectors {
    fn from_params(params: &HashMap<String, String>) -> Result<Selectors, ApiError> {
        let (labels, fields) = super::http::selectors(params)?;
        Ok(Selectors { labels, fields })
    }

    /// Whether a metrics object passes: labels are the node's or pod's (copied into the
    /// metrics object's metadata), fields are the metrics object's own (`metadata.name`).
    fn matches(&self, metrics: &Value) -> bool {
        self.labels
            .as_ref()
            .is_none_or(|s| s.matches(metrics.pointer("/metadata/labels")))
            && self.fields.as_ref().is_none_or(|s| s.matches(metrics))
    }
}

/// Entry point for every path below [`PREFIX`].
pub async fn handle(
    State(server): State<Arc<ApiServer>>,
    Extension(identity): Extension<Arc<Identity>>,
    method: Method,
    uri: Uri,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match serve(&server, &identity, &method, &uri, &params) {
        Ok(body) => ([("content-type", "application/json")], body.to_string()).into_response(),
        Err(err) => err.into_response(),
    }
}

fn serve(
    server: &ApiServer,
    identity: &Identity,
    method: &Method,
    uri: &Uri,
    params: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let rest = uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let Some(target) = MetricsTarget::parse(rest) else {
        return Err(ApiError::new(Status::failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )));
    };
    let watching = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    if *method != Method::GET || watching {
        return Err(ApiError::new(Status::method_not_allowed()));
    }
    let attrs = target.attributes();
    match authorize(identity, &attrs) {
        Decision::Allow => {}
        Decision::Deny(reason) => return Err(forbidden(identity, &attrs, &reason)),
        // Nodes read their own objects only; metrics are for people.
        Decision::NodeScoped(_) => {
            return Err(forbidden(
                identity,
                &attrs,
                "nodes may not read resource metrics",
            ));
        }
    }
    let selectors = Selectors::from_params(params)?;
    let now = jiff::Timestamp::now();
    match &target {
        MetricsTarget::Nodes { name: Some(name) } => node(server, name, now),
        MetricsTarget::Nodes { name: None } => Ok(metrics_list(
            "NodeMetricsList",
            nodes(server, now)?
                .into_iter()
                .filter(|m| selectors.matches(m))
                .collect(),
        )),
        MetricsTarget::Pods {
            namespace: Some(ns),
            name: Some(name),
        } => pods(server, Some(ns), Some(name), now)?
            .into_iter()
            .next()
            .ok_or_else(|| pod_not_found(ns, name)),
        MetricsTarget::Pods { namespace, name } => Ok(metrics_list(
            "PodMetricsList",
            pods(server, namespace.as_deref(), name.as_deref(), now)?
                .into_iter()
                .filter(|m| selectors.matches(m))
                .collect(),
        )),
    }
}

fn node(server: &ApiServer, name: &str, now: jiff::Timestamp) -> Result<Value, ApiError> {
    let usage = server
        .gateway
        .usage()
        .node(name)
        .ok_or_else(|| node_not_found(name))?;
    match node_labels(server, name)? {
        Some(labels) => Ok(node_metrics(name, labels.as_ref(), &usage, now)),
        None => Err(node_not_found(name)),
    }
}

fn nodes(server: &ApiServer, now: jiff::Timestamp) -> Result<Vec<Value>, ApiError> {
    let mut items = Vec::new();
    for (name, usage) in server.gateway.usage().nodes() {
        // A node deleted while its agent is still connected has no metrics.
        if let Some(labels) = node_labels(server, &name)? {
            items.push(node_metrics(&name, labels.as_ref(), &usage, now));
        }
    }
    Ok(items)
}

/// The labels of a stored node: `None` when there is no such node.
fn node_labels(server: &ApiServer, name: &str) -> Result<Option<Option<Value>>, ApiError> {
    let info = registered("", "nodes")?;
    match server.api.current_local(info, None, name) {
        Ok(current) => Ok(Some(current.object.pointer("/metadata/labels").cloned())),
        Err(err) if err.code() == 404 => Ok(None),
        Err(err) => Err(err),
    }
}

/// The metrics of the pods in `namespace` (all when `None`), or of the one named, sorted by
/// namespace and name. A pod counts only while it is stored with the uid the agent reported
/// (not a deleted pod, nor an older pod of the same name) and has a sampled container.
fn pods(
    server: &ApiServer,
    namespace: Option<&str>,
    name: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Vec<Value>, ApiError> {
    let info = registered("", "pods")?;
    let mut items = Vec::new();
    for (_, usage) in server.gateway.usage().nodes() {
        let wanted = usage.pods.iter().filter(|pod| {
            !pod.containers.is_empty()
                && namespace.is_none_or(|ns| ns == pod.namespace)
                && name.is_none_or(|n| n == pod.name)
        });
        for pod in wanted {
            let object = match server
                .api
                .current_local(info, Some(&pod.namespace), &pod.name)
            {
                Ok(current) => current.object,
                Err(err) if err.code() == 404 => continue,
                Err(err) => return Err(err),
            };
            if object.pointer("/metadata/uid").and_then(Value::as_str) != Some(pod.uid.as_str()) {
                continue;
            }
            let labels = object.pointer("/metadata/labels");
            items.push(pod_metrics(pod, labels, &usage, now));
        }
    }
    items.sort_by_key(|m| {
        (
            m.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            m.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )
    });
    Ok(items)
}

fn registered(group: &str, plural: &str) -> Result<&'static ResourceInfo, ApiError> {
    resource::lookup(group, "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))
}

/// metrics-server's answer for a node without metrics.
fn node_not_found(name: &str) -> ApiError {
    ApiError::new(Status::not_found(GROUP, "nodemetrics", name))
}

/// metrics-server's answer for a pod without metrics: it names the pod `namespace/name`.
fn pod_not_found(namespace: &str, name: &str) -> ApiError {
    ApiError::new(Status::not_found(
        GROUP,
        "podmetrics",
        &format!("{namespace}/{name}"),
    ))
}

// ---------------------------------------------------------------------------------------------
// The objects

/// A `NodeMetrics` object.
fn node_metrics(
    name: &str,
    labels: Option<&Value>,
    usage: &NodeUsage,
    now: jiff::Timestamp,
) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(name, None, labels, now),
        "timestamp": rfc3339(usage.timestamp),
        "window": go_duration(usage.window),
        "usage": usage_object(usage.cpu_millis, usage.memory_bytes),
    })
}

/// A `PodMetrics` object, with one entry per sampled container.
fn pod_metrics(
    pod: &PodUsage,
    labels: Option<&Value>,
    usage: &NodeUsage,
    now: jiff::Timestamp,
) -> Value {
    let containers: Vec<Value> = pod
        .containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "usage": usage_object(c.cpu_millis, c.memory_bytes),
            })
        })
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": metadata(&pod.name, Some(&pod.namespace), labels, now),
        "timestamp": rfc3339(usage.timestamp),
        "window": go_duration(POD_WINDOW),
        "containers": containers,
    })
}

/// Metadata as metrics-server writes it: the object's name, namespace and labels, and the
/// moment the metrics object was made.
fn metadata(
    name: &str,
    namespace: Option<&str>,
    labels: Option<&Value>,
    now: jiff::Timestamp,
) -> Value {
    let mut meta = json!({"name": name, "creationTimestamp": rfc3339(now)});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    if let Some(labels) = labels.filter(|l| l.as_object().is_some_and(|m| !m.is_empty())) {
        meta["labels"] = labels.clone();
    }
    meta
}

fn metrics_list(kind: &str, items: Vec<Value>) -> Value {
    json!({
        "kind": kind,
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": {},
        "items": items,
    })
}

fn usage_object(cpu_millis: u64, memory_bytes: u64) -> Value {
    json!({"cpu": cpu_quantity(cpu_millis), "memory": memory_quantity(memory_bytes)})
}

/// CPU in the canonical form of a decimal quantity: `250m`, `2`, `0`.
fn cpu_quantity(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Memory in the canonical form of a binary quantity, as metrics-server reports it: the
/// largest binary suffix that divides the value exactly (`12345Ki`, `64Mi`), plain bytes when
/// none does.
fn memory_quantity(bytes: u64) -> String {
    const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if bytes == 0 {
        return "0".to_owned();
    }
    let mut value = bytes;
    let mut suffix = "";
    for next in SUFFIXES {
        if !value.is_multiple_of(1024) {
            break;
        }
        value /= 1024;
        suffix = next;
    }
    format!("{value}{suffix}")
}

/// A duration as Go prints one, which is what `metav1.Duration` parses: `10s`, `1.5s`.
fn go_duration(d: Duration) -> String {
    let millis = d.as_millis();
    let (secs, frac) = (millis / 1000, millis % 1000);
    if frac == 0 {
        format!("{secs}s")
    } else {
        let frac = format!("{frac:03}");
        format!("{secs}.{}s", frac.trim_end_matches('0'))
    }
}

fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
#[path = "metrics_api_test.rs"]
mod tests;
