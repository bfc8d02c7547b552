//! Type checking of whole objects against the `k8s-openapi` structs, naming the bad field.

use k8s_openapi::api::{apps, batch, coordination, core, discovery, events};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::FieldError;
use crate::resource::ResourceInfo;

/// Deserializes `obj` into the typed struct of its resource and reports the first field
/// whose JSON type is wrong, e.g. `spec.replicas: invalid type: string "x", expected i32`.
pub(crate) fn check_shape(info: &ResourceInfo, obj: &Value) -> Result<(), FieldError> {
    // The typed structs reject a wrong apiVersion or kind without naming the field.
    for (field, want) in [
        ("apiVersion", info.api_version()),
        ("kind", info.kind.to_string()),
    ] {
        if let Some(v) = obj.get(field).filter(|v| !v.is_null())
            && v.as_str() != Some(want.as_str())
        {
            return Err(FieldError::invalid(
                field,
                v.clone(),
                format!("must be {want}"),
            ));
        }
    }
    match (info.group, info.kind) {
        ("", "Namespace") => check::<core::v1::Namespace>(obj),
        ("", "Pod") => check::<core::v1::Pod>(obj),
        ("", "Service") => check::<core::v1::Service>(obj),
        ("", "Endpoints") => check::<core::v1::Endpoints>(obj),
        ("", "ConfigMap") => check::<core::v1::ConfigMap>(obj),
        ("", "Secret") => check::<core::v1::Secret>(obj),
        ("", "Node") => check::<core::v1::Node>(obj),
        ("", "Event") => check::<core::v1::Event>(obj),
        ("", "PersistentVolumeClaim") => check::<core::v1::PersistentVolumeClaim>(obj),
        ("", "PersistentVolume") => check::<core::v1::PersistentVolume>(obj),
        ("", "ServiceAccount") => check::<core::v1::ServiceAccount>(obj),
        ("apps", "Deployment") => check::<apps::v1::Deployment>(obj),
        ("apps", "ReplicaSet") => check::<apps::v1::ReplicaSet>(obj),
        ("apps", "DaemonSet") => check::<apps::v1::DaemonSet>(obj),
        ("apps", "StatefulSet") => check::<apps::v1::StatefulSet>(obj),
        ("apps", "ControllerRevision") => check::<apps::v1::ControllerRevision>(obj),
        ("batch", "Job") => check::<batch::v1::Job>(obj),
        ("batch", "CronJob") => check::<batch::v1::CronJob>(obj),
        ("coordination.k8s.io", "Lease") => check::<coordination::v1::Lease>(obj),
        ("discovery.k8s.io", "EndpointSlice") => check::<discovery::v1::EndpointSlice>(obj),
        ("events.k8s.io", "Event") => check::<events::v1::Event>(obj),
        _ => match obj.get("metadata") {
            Some(meta) => check::<ObjectMeta>(meta).map_err(|mut e| {
                e.field = super::util::child("metadata", &e.field);
                e
            }),
            None => Ok(()),
        },
    }
}

fn check<T: DeserializeOwned>(obj: &Value) -> Result<(), FieldError> {
    if !obj.is_object() {
        return Err(FieldError::type_invalid("", "expected a JSON object"));
    }
    match serde_path_to_error::deserialize::<_, T>(obj) {
        Ok(_) => Ok(()),
        Err(err) => {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let mut message = err.into_inner().to_string();
            // Base64 errors from `ByteString` fields (secret data) do not say what was expected.
            if [
                "Invalid symbol",
                "Invalid last symbol",
                "Invalid padding",
                "Invalid input length",
            ]
            .iter()
            .any(|p| message.starts_with(p))
            {
                message = format!("illegal base64 data: {}", message.trim_end_matches('.'));
            }
            Err(
                match message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.strip_suffix('`'))
                {
                    Some(field) => FieldError::required(super::util::child(&path, field), ""),
                    None => FieldError::type_invalid(path, message),
                },
            )
        }
    }
}
