//! Writes the workload controllers share: objects created with their `SuccessfulCreate` /
//! `FailedCreate` Events, objects deleted whatever their state, and status replaced through
//! the status subresource.

use edge_api::resource::ResourceInfo;
use futures::StreamExt;
use serde_json::Value;

use super::events::EventType;
use super::workload::key_of;
use super::{Context, str_at};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::api_write::{Part, PatchKind, WriteOptions};
use crate::apiserver::error::ApiError;

/// The Event messages of a create, as the Kubernetes controller that makes the object words
/// them.
pub struct CreateMessages {
    /// From the created object's name.
    pub created: fn(&str) -> String,
    /// From the error's message.
    pub failed: fn(&str) -> String,
}

/// The ReplicaSet, DaemonSet and Job controllers' pod messages.
pub const POD_MESSAGES: CreateMessages = CreateMessages {
    created: |name| format!("Created pod: {name}"),
    failed: |err| format!("Error creating: {err}"),
};

/// A 404 or 409: the object is gone or changed, and the next pass sees why.
pub fn benign(err: &ApiError) -> bool {
    err.code() == 404 || err.code() == 409
}

/// Creates `object` in `owner`'s namespace and records the outcome on `owner`.
pub async fn create_recorded(
    ctx: &Context,
    component: &str,
    owner: &Value,
    info: &'static ResourceInfo,
    object: Value,
    messages: &CreateMessages,
) -> Result<Value, ApiError> {
    let (namespace, _) = key_of(owner);
    let result = ctx
        .api
        .create(info, Some(namespace), object, WriteOptions::default())
        .await;
    let (kind, reason, message) = match &result {
        Ok(created) => (
            EventType::Normal,
            "SuccessfulCreate",
            (messages.created)(str_at(created, "/metadata/name")),
        ),
        Err(err) => (
            EventType::Warning,
            "FailedCreate",
            (messages.failed)(&err.0.message),
        ),
    };
    ctx.events
        .record(component, owner, kind, reason, &message)
        .await;
    result
}

/// Deletes `object` with `options`; an object already gone or changed counts as done.
pub async fn delete_benign(
    ctx: &Context,
    info: &'static ResourceInfo,
    object: &Value,
    options: &DeleteOptions,
) -> Result<(), ApiError> {
    let (namespace, name) = key_of(object);
    match ctx.api.delete(info, Some(namespace), name, options).await {
        Err(err) if !benign(&err) => Err(err),
        _ => Ok(()),
    }
}

/// Replaces `object`'s status. With `guarded`, the write fails with 409 when the object changed
/// since it was read; without, whatever else changed meanwhile is kept.
pub async fn replace_status(
    ctx: &Context,
    info: &'static ResourceInfo,
    object: &Value,
    status: Value,
    guarded: bool,
) -> Result<Value, ApiError> {
    let (namespace, name) = key_of(object);
    let mut object = object.clone();
    object["status"] = status;
    if !guarded && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    ctx.api
        .update(
            info,
            Some(namespace),
            name,
            object,
            Part::Status,
            WriteOptions::default(),
        )
        .await
}

/// Merge-patches the main part or the status of `namespace/name`.
pub async fn merge_patch(
    ctx: &Context,
    info: &'static ResourceInfo,
    (namespace, name): (&str, &str),
    patch: &Value,
    part: Part,
) -> Result<Value, ApiError> {
    ctx.api
        .patch(
            info,
            Some(namespace),
            name,
            PatchKind::Merge,
            patch.to_string().as_bytes(),
            part,
            WriteOptions::default(),
        )
        .await
}

/// How many creates of one slow-start batch are in flight at the same time.
const PARALLEL_CREATES: usize = 32;

/// Creates `pods` for `owner` in Kubernetes' slow-start batches (1, 2, 4, ...), stopping after
/// a batch with a failure, so that a template the API refuses costs one failed create, not
/// hundreds.
pub async fn create_pods_slow_start(
    ctx: &Context,
    component: &str,
    owner: &Value,
    pods: impl IntoIterator<Item = Value>,
) -> Result<(), ApiError> {
    let info = super::workload::resource("", "v1", "pods");
    let mut pending = pods.into_iter();
    let mut batch = 1;
    loop {
        let chunk: Vec<Value> = pending.by_ref().take(batch).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        batch *= 2;
        let results: Vec<Result<Value, ApiError>> = futures::stream::iter(chunk)
            .map(|pod| create_recorded(ctx, component, owner, info, pod, &POD_MESSAGES))
            .buffer_unordered(PARALLEL_CREATES)
            .collect()
            .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
    }
}
