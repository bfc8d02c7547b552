//! Deleting objects: preconditions, propagation policies, finalizers and graceful pod deletion.

use edge_api::resource::ResourceInfo;
use edge_api::status::Status;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::Api;
use super::api_write::{WriteOptions, ensure_object};
use super::error::ApiError;
use crate::store::{Applied, Command, Rejected};

/// Namespaces the cluster cannot work without; Kubernetes refuses to delete them too.
pub const PROTECTED_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";
pub const FINALIZER_ORPHAN: &str = "orphan";

/// `DeleteOptions` as clients send them (body or query).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    #[serde(default)]
    pub propagation_policy: Option<String>,
    #[serde(default)]
    pub grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub preconditions: Option<Preconditions>,
    #[serde(default)]
    pub orphan_dependents: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub resource_version: Option<String>,
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// The object is being deleted (finalizers or a grace period remain); this is its state now.
    Pending(Value),
}

impl Deleted {
    pub fn into_object(self) -> Value {
        match self {
            Deleted::Gone(v) | Deleted::Pending(v) => v,
        }
    }
}

impl Api {
    /// Deletes an object as Kubernetes does: immediately when nothing holds it, otherwise by
    /// setting `deletionTimestamp` and leaving the rest to finalizers and controllers.
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let policy = propagation(opts)?;
        let dry_run = opts
            .dry_run
            .as_ref()
            .is_some_and(|d| d.iter().any(|v| v == "All"));
        if info.plural == "namespaces" && PROTECTED_NAMESPACES.contains(&name) {
            return Err(ApiError::new(Status::failure(
                403,
                "Forbidden",
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            )));
        }
        for _attempt in 0..8 {
            let current = self.current(info, namespace, name).await?;
            check_preconditions(info, name, &current.object, current.revision, opts)?;
            let mut object = current.object.clone();
            let meta = ensure_object(&mut object, "metadata");
            let mut finalizers: Vec<Value> = meta
                .get("finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut add = |f: &str| {
                if !finalizers.iter().any(|v| v.as_str() == Some(f)) {
                    finalizers.push(Value::String(f.to_string()));
                }
            };
            match policy {
                Propagation::Foreground => add(FINALIZER_FOREGROUND),
                Propagation::Orphan => add(FINALIZER_ORPHAN),
                Propagation::Background => {}
            }
            let grace = pod_grace_period(info, &current.object, opts);
            let namespace_pending = info.plural == "namespaces";
            if finalizers.is_empty() && grace.is_none() && !namespace_pending {
                if dry_run {
                    return Ok(Deleted::Gone(current.object));
                }
                let key = info.key(namespace, name);
                match self
                    .store
                    .propose(Command::Delete {
                        key,
                        expected_revision: Some(current.revision),
                    })
                    .await?
                {
                    Ok(Applied::Deleted { object, .. }) => {
                        return Ok(Deleted::Gone(serde_json::from_slice(&object)?));
                    }
                    Ok(other) => {
                        return Err(ApiError::internal(format!(
                            "unexpected store outcome {other:?}"
                        )));
                    }
                    Err(Rejected::Conflict { .. }) => continue,
                    Err(rejected) => return Err(ApiError::rejected(info, name, rejected)),
                }
            }
            if !finalizers.is_empty() {
                meta.insert("finalizers".into(), Value::Array(finalizers));
            }
            if !meta.contains_key("deletionTimestamp") {
                let seconds = grace.unwrap_or(0);
                let at = jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_secs(seconds))
                    .unwrap_or_else(|_| jiff::Timestamp::now());
                meta.insert(
                    "deletionTimestamp".into(),
                    json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
                meta.insert("deletionGracePeriodSeconds".into(), json!(seconds));
            }
            if namespace_pending && let Some(map) = object.as_object_mut() {
                map.insert("status".into(), json!({"phase": "Terminating"}));
            }
            let written = self
                .write_deletion_state(
                    info,
                    namespace,
                    name,
                    &current,
                    object,
                    WriteOptions { dry_run },
                )
                .await;
            match written {
                Err(err) if err.is_conflict() => continue,
                Err(err) => return Err(err),
                Ok(object) => return Ok(Deleted::Pending(object)),
            }
        }
        Err(ApiError::new(Status::conflict(
            info.group,
            info.plural,
            name,
            "the object kept changing while being deleted",
        )))
    }

    /// Removes an object whose deletion is complete (namespace contents gone, pod stopped),
    /// whatever finalizers or grace period it still has.
    pub async fn delete_now(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = info.key(namespace, name);
        match self
            .store
            .propose(Command::Delete {
                key,
                expected_revision: None,
            })
            .await?
        {
            Ok(Applied::Deleted { object, .. }) => Ok(serde_json::from_slice(&object)?),
            Ok(other) => Err(ApiError::internal(format!(
                "unexpected store outcome {other:?}"
            ))),
            Err(rejected) => Err(ApiError::rejected(info, name, rejected)),
        }
    }

    async fn write_deletion_state(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        current: &super::api::Current,
        object: Value,
        opts: WriteOptions,
    ) -> Result<Value, ApiError> {
        // The deletion fields are server-owned, so the prepared object is written as it is,
        // conditional on the revision it was computed from.
        let key = info.key(namespace, name);
        let bytes = super::api_write::encode_checked(&object)?;
        if opts.dry_run {
            return Ok(object);
        }
        match self
            .store
            .propose(Command::Update {
                key,
                object: bytes,
                expected_revision: Some(current.revision),
            })
            .await?
        {
            Ok(Applied::Updated { object, .. }) => Ok(serde_json::from_slice(&object)?),
            Ok(other) => Err(ApiError::internal(format!(
                "unexpected store outcome {other:?}"
            ))),
            Err(rejected) => Err(ApiError::rejected(info, name, rejected)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Propagation {
    Background,
    Foreground,
    Orphan,
}

fn propagation(opts: &DeleteOptions) -> Result<Propagation, ApiError> {
    match (opts.propagation_policy.as_deref(), opts.orphan_dependents) {
        (Some("Foreground"), _) => Ok(Propagation::Foreground),
        (Some("Orphan"), _) | (None, Some(true)) => Ok(Propagation::Orphan),
        (Some("Background"), _) | (None, _) => Ok(Propagation::Background),
        (Some(other), _) => Err(ApiError::new(Status::failure(
            422,
            "Invalid",
            format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            ),
        ))),
    }
}

fn check_preconditions(
    info: &ResourceInfo,
    name: &str,
    object: &Value,
    revision: u64,
    opts: &DeleteOptions,
) -> Result<(), ApiError> {
    let Some(pre) = &opts.preconditions else {
        return Ok(());
    };
    let uid = object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(want) = pre.uid.as_deref().filter(|u| !u.is_empty())
        && want != uid
    {
        return Err(ApiError::new(Status::conflict(
            info.group,
            info.plural,
            name,
            &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
        )));
    }
    if let Some(want) = pre.resource_version.as_deref().filter(|v| !v.is_empty())
        && want != revision.to_string()
    {
        return Err(ApiError::new(Status::conflict(
            info.group,
            info.plural,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {revision}"
            ),
        )));
    }
    Ok(())
}

/// Pods running on a node stop gracefully: the agent confirms with a zero-grace delete.
/// Unscheduled pods, and an explicit `gracePeriodSeconds=0`, go at once.
fn pod_grace_period(info: &ResourceInfo, pod: &Value, opts: &DeleteOptions) -> Option<i64> {
    if info.plural != "pods" || !info.group.is_empty() {
        return None;
    }
    let on_node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    let grace = opts
        .grace_period_seconds
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30);
    (on_node && !finished && grace > 0).then_some(grace)
}

impl Api {
    /// `PUT /api/v1/namespaces/{name}/finalize`: replaces `spec.finalizers`; a deleting namespace
    /// whose finalizers are all gone is removed.
    pub async fn finalize_namespace(&self, name: &str, body: Value) -> Result<Value, ApiError> {
        let info = edge_api::resource::lookup("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces are not registered"))?;
        let finalizers = body
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or(json!([]));
        for _attempt in 0..8 {
            let current = self.current(info, None, name).await?;
            let mut object = current.object.clone();
            super::api_write::set_path(&mut object, &["spec", "finalizers"], finalizers.clone());
            match self
                .replace(
                    info,
                    None,
                    name,
                    &current,
                    object,
                    super::api_write::Part::Main,
                    WriteOptions::default(),
                )
                .await
            {
                Err(err) if err.is_conflict() => continue,
                other => return other,
            }
        }
        Err(ApiError::new(Status::conflict(
            info.group,
            info.plural,
            name,
            "the namespace kept changing while being finalized",
        )))
    }
}
