//! The Job controller's runner: writes the plan of [`super::job`] through the API, Jobs
//! concurrently and each Job's steps in order (pod deletions, pod creations, the status
//! write, finalizer removals, the TTL deletion), pod writes concurrently, all bounded.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Value, json};

use super::events::EventType;
use super::job::{Action, COMPONENT, JobEvent, plan};
use super::job_status::{TRACKING_FINALIZER, has_finalizer};
use super::workload::{key_of, meta, resource, uid_of};
use super::writes::{benign, create_pods_slow_start, replace_status};
use super::{Context, Snapshot};
use crate::apiserver::api_delete::{DeleteOptions, Preconditions};
use crate::apiserver::api_write::{Part, PatchKind, WriteOptions};
use crate::apiserver::error::ApiError;

/// How many Jobs one pass works on at the same time.
const PARALLEL_JOBS: usize = 16;
/// How many pod writes of one Job are in flight at the same time.
const PARALLEL_WRITES: usize = 32;

/// Runs the plan for `snapshot`.
pub async fn reconcile(ctx: &Context, snapshot: &Snapshot) -> Result<(), ApiError> {
    let actions = plan(snapshot, jiff::Timestamp::now());
    if actions.is_empty() {
        return Ok(());
    }
    let mut groups: Vec<Vec<Action>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for action in actions {
        let uid = job_of(&action)
            .map(|j| uid_of(j).to_owned())
            .unwrap_or_default();
        let at = *index.entry(uid).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(action);
    }
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(groups)
        .map(|actions| run_job(ctx, actions))
        .buffer_unordered(PARALLEL_JOBS)
        .collect()
        .await;
    results.into_iter().collect()
}

fn job_of(action: &Action) -> Option<&Arc<Value>> {
    match action {
        Action::DeletePods { job, .. }
        | Action::CreatePods { job, .. }
        | Action::Status { job, .. }
        | Action::DeleteJob { job } => Some(job),
        Action::RemoveFinalizers { job, .. } => job.as_ref(),
    }
}

/// The order of a Job's steps within one pass.
fn step(action: &Action) -> u8 {
    match action {
        Action::DeletePods { .. } => 0,
        Action::CreatePods { .. } => 1,
        Action::Status { .. } => 2,
        Action::RemoveFinalizers { .. } => 3,
        Action::DeleteJob { .. } => 4,
    }
}

/// A write failure that does not fail the pass: the object changed or went since the
/// snapshot, and the next pass sees the new state.
async fn run_job(ctx: &Context, mut actions: Vec<Action>) -> Result<(), ApiError> {
    actions.sort_by_key(step);
    let mut first_error: Option<ApiError> = None;
    // Finalizers go only once the uids are durable in the status.
    let mut status_written = true;
    for action in actions {
        let result = match action {
            Action::DeletePods {
                job,
                pods,
                strip_finalizer,
            } => delete_pods(ctx, &job, pods, strip_finalizer).await,
            Action::CreatePods { job, pods } => {
                create_pods_slow_start(ctx, COMPONENT, &job, pods).await
            }
            Action::Status {
                job,
                status,
                events,
            } => {
                let result =
                    replace_status(ctx, resource("batch", "v1", "jobs"), &job, status, true)
                        .await
                        .map(|_| ());
                status_written = result.is_ok();
                if result.is_ok() {
                    record(ctx, &job, &events).await;
                }
                match result {
                    Err(err) if benign(&err) => Ok(()),
                    other => other,
                }
            }
            Action::RemoveFinalizers { pods, .. } if status_written => {
                remove_finalizers(ctx, pods).await
            }
            Action::RemoveFinalizers { .. } => Ok(()),
            Action::DeleteJob { job } => delete_job(ctx, &job).await,
        };
        if let Err(err) = result {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn record(ctx: &Context, job: &Value, events: &[JobEvent]) {
    for event in events {
        ctx.events
            .record(COMPONENT, job, event.kind, event.reason, &event.message)
            .await;
    }
}

/// Deletes pods concurrently; with `strip_finalizer` the tracking finalizer is removed first,
/// so the pod is not counted. A pod that is already gone counts as deleted.
async fn delete_pods(
    ctx: &Context,
    job: &Arc<Value>,
    pods: Vec<Arc<Value>>,
    strip_finalizer: bool,
) -> Result<(), ApiError> {
    let info = resource("", "v1", "pods");
    let options = DeleteOptions {
        propagation_policy: Some("Background".into()),
        ..DeleteOptions::default()
    };
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(pods)
        .map(|pod| {
            let options = &options;
            async move {
                if strip_finalizer && has_finalizer(&pod) {
                    remove_finalizer(ctx, &pod).await?;
                }
                let (namespace, name) = key_of(&pod);
                match ctx.api.delete(info, Some(namespace), name, options).await {
                    Ok(_) => {
                        let message = format!("Deleted pod: {name}");
                        ctx.events
                            .record(
                                COMPONENT,
                                job,
                                EventType::Normal,
                                "SuccessfulDelete",
                                &message,
                            )
                            .await;
                        Ok(())
                    }
                    Err(err) if err.code() == 404 => Ok(()),
                    Err(err) => {
                        let message = format!("Error deleting: {}", err.0.message);
                        ctx.events
                            .record(COMPONENT, job, EventType::Warning, "FailedDelete", &message)
                            .await;
                        Err(err)
                    }
                }
            }
        })
        .buffer_unordered(PARALLEL_WRITES)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn remove_finalizers(ctx: &Context, pods: Vec<Arc<Value>>) -> Result<(), ApiError> {
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(pods)
        .map(|pod| async move { remove_finalizer(ctx, &pod).await })
        .buffer_unordered(PARALLEL_WRITES)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Removes the tracking finalizer with a JSON patch that first tests it is still where the
/// snapshot saw it; a pod that changed (422), went (404) or conflicted is left to the next
/// pass.
async fn remove_finalizer(ctx: &Context, pod: &Value) -> Result<(), ApiError> {
    let Some(position) = meta(pod, "finalizers")
        .and_then(Value::as_array)
        .and_then(|f| {
            f.iter()
                .position(|v| v.as_str() == Some(TRACKING_FINALIZER))
        })
    else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{position}");
    let patch = json!([
        {"op": "test", "path": path, "value": TRACKING_FINALIZER},
        {"op": "remove", "path": path},
    ]);
    let (namespace, name) = key_of(pod);
    let result = ctx
        .api
        .patch(
            resource("", "v1", "pods"),
            Some(namespace),
            name,
            PatchKind::Json,
            patch.to_string().as_bytes(),
            Part::Main,
            WriteOptions::default(),
        )
        .await;
    match result {
        Err(err) if !benign(&err) && err.code() != 422 => Err(err),
        Err(err) => {
            tracing::debug!(
                pod = name,
                "tracking finalizer not removed: {}",
                err.0.message
            );
            Ok(())
        }
        Ok(_) => Ok(()),
    }
}

/// Deletes a Job whose TTL after finishing ran out; its pods follow by garbage collection.
async fn delete_job(ctx: &Context, job: &Value) -> Result<(), ApiError> {
    let (namespace, name) = key_of(job);
    // The uid precondition keeps a new Job of the same name safe.
    let options = DeleteOptions {
        propagation_policy: Some("Background".into()),
        preconditions: Some(Preconditions {
            uid: Some(uid_of(job).to_owned()),
            resource_version: None,
        }),
        ..DeleteOptions::default()
    };
    match ctx
        .api
        .delete(
            resource("batch", "v1", "jobs"),
            Some(namespace),
            name,
            &options,
        )
        .await
    {
        Err(err) if !benign(&err) => Err(err),
        _ => Ok(()),
    }
}
