//! The `scale` subresource: an `autoscaling/v1 Scale` view of `spec.replicas` for deployments,
//! replica sets and stateful sets.

use edge_api::resource::ResourceInfo;
use edge_api::selector::LabelSelector;
use edge_api::status::Status;
use serde_json::{Value, json};

use super::api::Api;
use super::api_write::{Part, PatchKind, WriteOptions, apply_patch, decode_patch, set_path};
use super::error::ApiError;

/// Reads the Scale of an object.
pub async fn get(
    api: &Api,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, ApiError> {
    let current = api.current(info, ns, name).await?;
    Ok(to_scale(&current.object))
}

/// Replaces the Scale: sets `spec.replicas` of the object.
pub async fn update(
    api: &Api,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    scale: Value,
    write: WriteOptions,
) -> Result<Value, ApiError> {
    let precondition = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let replicas = replicas_of(&scale)?;
    for _attempt in 0..8 {
        let current = api.current(info, ns, name).await?;
        if let Some(rv) = precondition
            && rv != current.revision.to_string()
        {
            return Err(ApiError::stale(info, name));
        }
        let mut object = current.object.clone();
        set_path(&mut object, &["spec", "replicas"], json!(replicas));
        match api
            .replace(info, ns, name, &current, object, Part::Main, write)
            .await
        {
            Err(err) if err.is_conflict() && precondition.is_none() => continue,
            other => return other.map(|o| to_scale(&o)),
        }
    }
    Err(ApiError::stale(info, name))
}

/// Patches the Scale view and applies the resulting replica count.
pub async fn patch(
    api: &Api,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    kind: PatchKind,
    body: &[u8],
    write: WriteOptions,
) -> Result<Value, ApiError> {
    let patch = decode_patch(kind, body)?;
    for _attempt in 0..8 {
        let current = api.current(info, ns, name).await?;
        let patched = apply_patch(info, kind, &to_scale(&current.object), &patch)?;
        let replicas = replicas_of(&patched)?;
        let mut object = current.object.clone();
        set_path(&mut object, &["spec", "replicas"], json!(replicas));
        match api
            .replace(info, ns, name, &current, object, Part::Main, write)
            .await
        {
            Err(err) if err.is_conflict() => continue,
            other => return other.map(|o| to_scale(&o)),
        }
    }
    Err(ApiError::stale(info, name))
}

fn replicas_of(scale: &Value) -> Result<i64, ApiError> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(n),
            _ => Err(ApiError::new(Status::failure(
                422,
                "Invalid",
                format!(
                    "Scale.autoscaling \"\" is invalid: spec.replicas: Invalid value: {v}: must be greater than or equal to 0"
                ),
            ))),
        },
    }
}

/// The Scale view of a scalable object.
pub fn to_scale(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or(Value::Null);
    let selector = object
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_label_selector(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_reads_replicas_and_selector() {
        let deployment = json!({
            "metadata": {"name": "web", "namespace": "a", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2},
        });
        let scale = to_scale(&deployment);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"]["replicas"], 2);
        assert_eq!(scale["status"]["selector"], "app=web");
        assert_eq!(scale["metadata"]["resourceVersion"], "7");
        assert_eq!(
            replicas_of(&json!({"spec": {"replicas": -1}}))
                .err()
                .map(|e| e.code()),
            Some(422)
        );
    }
}
