//! `pods/binding`: assigning a pending pod to a node, the one write the scheduler makes.
//!
//! As in Kubernetes, a binding sets `spec.nodeName` and the `PodScheduled=True` condition in one
//! write; a pod that already has a node, or is being deleted, is refused with 409.

use edge_api::admission;
use edge_api::resource::ResourceInfo;
use edge_api::status::Status;
use serde_json::{Value, json};

use super::api::{Api, now_rfc3339};
use super::api_write::{encode_checked, invalid};
use super::error::ApiError;
use crate::store::{Applied, Command};

/// How often a binding is retried when the pod changes between its read and its write (a status
/// write racing the scheduler); the binding itself does not depend on what changed.
const CONFLICT_ATTEMPTS: usize = 8;

/// The node a `Binding` body names, after checking the body against the pod in the URL.
pub fn binding_target(pod_name: &str, binding: &Value) -> Result<String, ApiError> {
    let body_name = binding
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !body_name.is_empty() && body_name != pod_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({pod_name})"
        )));
    }
    let kind = binding
        .pointer("/target/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !kind.is_empty() && kind != "Node" {
        return Err(unprocessable(
            pod_name,
            format!("target.kind: Unsupported value: \"{kind}\": supported values: \"Node\""),
        ));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(unprocessable(
            pod_name,
            "target.name: Required value".to_string(),
        ));
    }
    Ok(node.to_string())
}

/// `pod` bound to `node` at `now`: `spec.nodeName` set and `PodScheduled` True.
pub fn bound_pod(pod: &Value, node: &str, now: &str) -> Value {
    let mut pod = pod.clone();
    pod["spec"]["nodeName"] = json!(node);
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let scheduled = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": now,
    });
    match pod["status"]
        .get_mut("conditions")
        .and_then(Value::as_array_mut)
    {
        Some(conditions) => {
            conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
            conditions.insert(0, scheduled);
        }
        None => pod["status"]["conditions"] = json!([scheduled]),
    }
    pod
}

impl Api {
    /// Binds the pod `namespace/name` to the node `binding` names.
    pub async fn bind(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        binding: &Value,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let node = binding_target(name, binding)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The write below is conditional on the revision read here, so the first attempt
            // can read this controller's applied state without a read barrier: if that is
            // stale, the write conflicts and the retry reads linearizably (as does a first read that
            // finds nothing). (A pod seen bound
            // here is bound for good: nodeName never goes back.)
            let local = (attempts == 1)
                .then(|| self.current_local(info, Some(namespace), name).ok())
                .flatten();
            let current = match local {
                Some(current) => current,
                None => self.current(info, Some(namespace), name).await?,
            };
            if current
                .object
                .pointer("/metadata/deletionTimestamp")
                .is_some()
            {
                return Err(conflict(
                    name,
                    format!("pod {name} is being deleted, cannot be assigned to a host"),
                ));
            }
            let assigned = current
                .object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !assigned.is_empty() {
                return Err(conflict(
                    name,
                    format!("pod {name} is already assigned to node \"{assigned}\""),
                ));
            }
            let bound = bound_pod(&current.object, &node, &now_rfc3339());
            admission::validate_update(info, &current.object, &bound)
                .map_err(|inv| invalid(info, name, &inv))?;
            let bytes = encode_checked(&bound)?;
            if dry_run {
                return Ok(());
            }
            let command = Command::Update {
                key: info.key(Some(namespace), name),
                object: bytes,
                expected_revision: Some(current.revision),
            };
            match self.store.propose(command).await? {
                Ok(Applied::Updated { .. }) => return Ok(()),
                Ok(other) => {
                    return Err(ApiError::internal(format!(
                        "unexpected store outcome {other:?}"
                    )));
                }
                Err(rejected) => {
                    let err = ApiError::rejected(info, name, rejected);
                    if err.is_conflict() && attempts < CONFLICT_ATTEMPTS {
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }
}

fn conflict(name: &str, message: String) -> ApiError {
    ApiError::new(Status::failure(409, "Conflict", message).with_details("", "pods", name, ""))
}

fn unprocessable(name: &str, message: String) -> ApiError {
    let message = format!("Binding \"{name}\" is invalid: {message}");
    ApiError::new(Status::failure(422, "Invalid", message).with_details("", "Binding", name, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_bodies_are_checked() {
        let cases: &[(Value, Result<&str, u16>)] = &[
            (
                json!({"target": {"kind": "Node", "name": "edge-1"}}),
                Ok("edge-1"),
            ),
            (
                json!({"metadata": {"name": "web"}, "target": {"name": "edge-2"}}),
                Ok("edge-2"),
            ),
            (
                json!({"metadata": {"name": "other"}, "target": {"name": "edge-1"}}),
                Err(400),
            ),
            (
                json!({"target": {"kind": "Pod", "name": "edge-1"}}),
                Err(422),
            ),
            (json!({"target": {}}), Err(422)),
            (json!({}), Err(422)),
        ];
        for (body, want) in cases {
            let got = binding_target("web", body).map_err(|e| e.code());
            assert_eq!(
                got.as_deref().map_err(|c| *c),
                want.map_err(|c| c),
                "{body}"
            );
        }
    }

    #[test]
    fn bound_pod_sets_node_and_scheduled_condition() {
        let pod = json!({
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
            ]}
        });
        let bound = bound_pod(&pod, "edge-1", "2026-12-03T00:00:00Z");
        assert_eq!(bound["spec"]["nodeName"], "edge-1");
        assert_eq!(
            bound["status"]["conditions"].as_array().map(Vec::len),
            Some(1)
        );
        assert_eq!(bound["status"]["conditions"][0]["status"], "True");
        assert_eq!(bound["status"]["phase"], "Pending");
        let bare = bound_pod(&json!({"spec": {}}), "n", "t");
        assert_eq!(bare["status"]["conditions"][0]["type"], "PodScheduled");
    }
}
