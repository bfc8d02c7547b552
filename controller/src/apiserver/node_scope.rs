//! The object-level half of node authorisation: a node identity may only touch its own Node,
//! pods bound to it, and the ConfigMaps, Secrets and claims those pods reference.

use std::sync::Arc;

use axum::body::Bytes;
use edge_api::resource;
use edge_api::selector::FieldSelector;
use serde_json::Value;

use super::ApiServer;
use super::api::ListOptions;
use super::error::ApiError;
use crate::auth::{Identity, NodeCheck, RequestAttributes};

/// Checks a node-scoped request against the objects it touches, narrowing lists and watches to
/// what the node may see.
pub async fn enforce(
    server: &Arc<ApiServer>,
    identity: &Identity,
    attrs: &RequestAttributes<'_>,
    check: NodeCheck,
    list: &mut ListOptions,
    body: &Bytes,
) -> Result<(), ApiError> {
    let Some(node) = identity.node_name() else {
        return Err(denied(
            identity,
            attrs,
            "only node identities get node-scoped access",
        ));
    };
    let collection = matches!(attrs.verb, "list" | "watch" | "deletecollection");
    match check {
        NodeCheck::Allow => Ok(()),
        NodeCheck::OwnNode => {
            if collection {
                narrow(list, "metadata.name", node)?;
                return Ok(());
            }
            let name = match attrs.name {
                Some(name) => name.to_string(),
                None => body_name(body),
            };
            if name == node {
                Ok(())
            } else {
                Err(denied(
                    identity,
                    attrs,
                    &format!("node {node:?} may only access its own objects"),
                ))
            }
        }
        NodeCheck::PodOnNode => {
            if collection {
                narrow(list, "spec.nodeName", node)?;
                return Ok(());
            }
            let Some(name) = attrs.name else {
                return Err(denied(identity, attrs, "nodes cannot create pods"));
            };
            let info = resource::lookup("", "v1", "pods")
                .ok_or_else(|| ApiError::internal("pods are not registered"))?;
            let pod = server.api.get(info, attrs.namespace, name).await?;
            if pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node) {
                Ok(())
            } else {
                Err(denied(
                    identity,
                    attrs,
                    &format!("no relationship found between node {node:?} and this object"),
                ))
            }
        }
        NodeCheck::ReferencedByPodOnNode => {
            let (Some(name), Some(namespace)) = (attrs.name, attrs.namespace) else {
                return Err(denied(
                    identity,
                    attrs,
                    "nodes may only get single objects their pods reference",
                ));
            };
            let pods = resource::lookup("", "v1", "pods")
                .ok_or_else(|| ApiError::internal("pods are not registered"))?;
            let mut opts = ListOptions::default();
            narrow(&mut opts, "spec.nodeName", node)?;
            let page = server.api.list(pods, Some(namespace), &opts).await?;
            if page
                .items
                .iter()
                .any(|pod| references(pod, attrs.resource, name))
            {
                Ok(())
            } else {
                Err(denied(
                    identity,
                    attrs,
                    &format!("no relationship found between node {node:?} and this object"),
                ))
            }
        }
    }
}

/// Adds `field=value` to a list's field selector.
fn narrow(list: &mut ListOptions, field: &str, value: &str) -> Result<(), ApiError> {
    let existing = list
        .fields
        .as_ref()
        .map(|f| f.to_string())
        .filter(|s| !s.is_empty());
    let combined = match existing {
        Some(existing) => format!("{existing},{field}={value}"),
        None => format!("{field}={value}"),
    };
    list.fields =
        Some(FieldSelector::parse(&combined).map_err(|e| ApiError::bad_request(e.to_string()))?);
    Ok(())
}

fn body_name(body: &Bytes) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn denied(identity: &Identity, attrs: &RequestAttributes, reason: &str) -> ApiError {
    super::http::forbidden(identity, attrs, reason)
}

/// Whether a pod spec references a ConfigMap, Secret or PersistentVolumeClaim by name.
pub fn references(pod: &Value, resource: &str, name: &str) -> bool {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let is = |v: Option<&Value>| v.and_then(Value::as_str) == Some(name);
    let volumes = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let containers = ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .flat_map(|k| spec.get(k).and_then(Value::as_array).into_iter().flatten());
    match resource {
        "configmaps" => {
            volumes.clone().any(|v| {
                is(v.pointer("/configMap/name"))
                    || v.pointer("/projected/sources")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|s| is(s.pointer("/configMap/name")))
            }) || containers
                .clone()
                .any(|c| container_refs(c, "configMapKeyRef", "configMapRef", name))
        }
        "secrets" => {
            volumes.clone().any(|v| {
                is(v.pointer("/secret/secretName"))
                    || v.pointer("/projected/sources")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|s| is(s.pointer("/secret/name")))
            }) || containers
                .clone()
                .any(|c| container_refs(c, "secretKeyRef", "secretRef", name))
                || spec
                    .get("imagePullSecrets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|s| is(s.get("name")))
        }
        "persistentvolumeclaims" => volumes
            .clone()
            .any(|v| is(v.pointer("/persistentVolumeClaim/claimName"))),
        _ => false,
    }
}

fn container_refs(container: &Value, key_ref: &str, from_ref: &str, name: &str) -> bool {
    let env = container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let env_from = container
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    env.clone().any(|e| {
        e.pointer(&format!("/valueFrom/{key_ref}/name"))
            .and_then(Value::as_str)
            == Some(name)
    }) || env_from.clone().any(|e| {
        e.pointer(&format!("/{from_ref}/name"))
            .and_then(Value::as_str)
            == Some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_references_of_a_pod() {
        let pod = json!({"spec": {
            "volumes": [{"name": "c", "configMap": {"name": "cfg"}}, {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
            "containers": [{"name": "app", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "k"}}}],
                            "envFrom": [{"configMapRef": {"name": "envcfg"}}]}],
            "imagePullSecrets": [{"name": "reg"}],
        }});
        let cases = [
            ("configmaps", "cfg", true),
            ("configmaps", "envcfg", true),
            ("configmaps", "other", false),
            ("secrets", "pw", true),
            ("secrets", "reg", true),
            ("secrets", "cfg", false),
            ("persistentvolumeclaims", "data", true),
            ("services", "cfg", false),
        ];
        for (resource, name, want) in cases {
            assert_eq!(references(&pod, resource, name), want, "{resource}/{name}");
        }
    }
}
