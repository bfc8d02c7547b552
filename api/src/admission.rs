//! Admission: Kubernetes defaulting and validation of objects before they are stored.
//!
//! The API server decodes a body, calls [`default_object`], then [`validate_create`] or
//! [`validate_update`]. It fills `metadata.namespace` from the URL (and `metadata.uid` for
//! jobs, whose selector is generated from it) before these run.

mod data;
mod defaults;
mod invalid;
mod metadata;
mod pod;
mod pod_defaults;
mod service;
mod shape;
mod update;
mod util;
mod workloads;

use serde_json::Value;

pub use data::{BOOTSTRAP_TOKEN_TYPE, MAX_DATA_BYTES};
pub use defaults::default_object;
pub use invalid::{FieldError, FieldErrorKind, Invalid};
pub use metadata::MAX_ANNOTATIONS_BYTES;
pub use pod_defaults::default_pull_policy;

use crate::resource::ResourceInfo;

/// The largest object the store accepts, in bytes of JSON (etcd's limit in Kubernetes).
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// Validates a new object of resource `info` (after [`default_object`]).
pub fn validate_create(info: &ResourceInfo, obj: &Value) -> Result<(), Invalid> {
    let mut errs = Vec::new();
    validate_object(info, obj, &mut errs);
    Invalid::check(errs)
}

/// Validates an update from `old` to `new`: everything [`validate_create`] checks, plus
/// fields that may not change. Server-managed metadata (`uid`, `creationTimestamp`) may be
/// omitted from `new`; the server keeps the stored values.
pub fn validate_update(info: &ResourceInfo, old: &Value, new: &Value) -> Result<(), Invalid> {
    let mut errs = Vec::new();
    validate_object(info, new, &mut errs);
    if errs.iter().any(|e| e.kind == FieldErrorKind::TypeInvalid) {
        return Invalid::check(errs);
    }
    update::validate_immutable(info, old, new, &mut errs);
    Invalid::check(errs)
}

fn validate_object(info: &ResourceInfo, obj: &Value, errs: &mut Vec<FieldError>) {
    if let Err(e) = shape::check_shape(info, obj) {
        errs.push(e);
        return;
    }
    let size = serde_json::to_vec(obj).map_or(0, |v| v.len());
    if size > MAX_OBJECT_BYTES {
        errs.push(FieldError::too_long("", MAX_OBJECT_BYTES));
        return;
    }
    metadata::validate_metadata(info, obj, errs);
    match (info.group, info.kind) {
        ("", "Pod") => pod::validate_pod_spec(obj.get("spec"), "spec", errs),
        ("", "Service") => service::validate_service(obj, errs),
        ("", "Endpoints") => service::validate_endpoints(obj, errs),
        ("discovery.k8s.io", "EndpointSlice") => service::validate_endpoint_slice(obj, errs),
        ("", "ConfigMap") => data::validate_config_map(obj, errs),
        ("", "Secret") => data::validate_secret(obj, errs),
        ("", "Namespace") => data::validate_namespace(obj, errs),
        ("", "PersistentVolumeClaim") => data::validate_pvc(obj, errs),
        ("", "PersistentVolume") => data::validate_pv(obj, errs),
        ("", "Event") => data::validate_core_event(obj, errs),
        ("coordination.k8s.io", "Lease") => data::validate_lease(obj, errs),
        ("apps", "Deployment") => workloads::validate_deployment(obj, errs),
        ("apps", "ReplicaSet") => workloads::validate_replica_set(obj, errs),
        ("apps", "StatefulSet") => workloads::validate_stateful_set(obj, errs),
        ("apps", "DaemonSet") => workloads::validate_daemon_set(obj, errs),
        ("batch", "Job") => workloads::validate_job(obj, errs),
        ("batch", "CronJob") => workloads::validate_cron_job(obj, errs),
        _ => {}
    }
}

#[cfg(test)]
#[path = "admission/defaults_test.rs"]
mod defaults_test;

#[cfg(test)]
#[path = "admission/validate_test.rs"]
mod validate_test;

#[cfg(test)]
#[path = "admission/update_test.rs"]
mod update_test;
