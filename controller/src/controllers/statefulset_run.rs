//! The StatefulSet controller's runner: writes each set's plan through the API, one step
//! after the other (revisions, pod ownership, claims, pod creates, pod deletes, status), the
//! writes of a step concurrently and bounded.

use futures::StreamExt;
use serde_json::{Value, json};

use super::events::EventType;
use super::history;
use super::replicaset::{adopt_patch, release_patch};
use super::statefulset::{Action, COMPONENT, SELECTED_NODE, SetPlan, Step, plan};
use super::workload::{key_of, owner_reference, resource, uid_of};
use super::writes::{benign, merge_patch, replace_status};
use super::{Context, Snapshot, str_at};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::apiserver::error::ApiError;

/// How many StatefulSets one pass works on at the same time.
const PARALLEL_SETS: usize = 16;
/// How many writes of one step of one set are in flight at the same time.
const PARALLEL_WRITES: usize = 32;

/// Runs one pass over every StatefulSet.
pub async fn reconcile(ctx: &Context, snapshot: &Snapshot) -> Result<(), ApiError> {
    let plans = plan(snapshot, jiff::Timestamp::now());
    if plans.is_empty() {
        return Ok(());
    }
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(plans)
        .map(|set_plan| run_set(ctx, set_plan))
        .buffer_unordered(PARALLEL_SETS)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Runs one set's plan step by step. After a failed step only the status is written, as
/// Kubernetes stops a sync at the first failed write (a pod is never made without its claims).
async fn run_set(ctx: &Context, set_plan: SetPlan) -> Result<(), ApiError> {
    let SetPlan { set, mut actions } = set_plan;
    actions.sort_by_key(Action::step);
    let mut first_error: Option<ApiError> = None;
    let mut rest = actions.into_iter().peekable();
    while let Some(first) = rest.next() {
        let step = first.step();
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|a| a.step() == step) {
            group.push(next);
        }
        if first_error.is_some() && step != Step::Status {
            continue;
        }
        // Creates start slowly (1, 2, 4, ...), so that a template the API refuses costs one
        // failed create, not hundreds.
        let slow = matches!(step, Step::Claims | Step::CreatePods);
        if let Err(err) = run_step(ctx, &set, group, slow).await {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Runs the actions of one step concurrently, in slow-start batches with `slow`, stopping
/// after a batch with a failure.
async fn run_step(
    ctx: &Context,
    set: &Value,
    actions: Vec<Action>,
    slow: bool,
) -> Result<(), ApiError> {
    let mut pending = actions.into_iter();
    let mut batch = if slow { 1 } else { usize::MAX };
    loop {
        let chunk: Vec<Action> = pending.by_ref().take(batch).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        batch = batch.saturating_mul(2);
        let results: Vec<Result<(), ApiError>> = futures::stream::iter(chunk)
            .map(|action| run_action(ctx, set, action))
            .buffer_unordered(PARALLEL_WRITES)
            .collect()
            .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
    }
}

async fn run_action(ctx: &Context, set: &Value, action: Action) -> Result<(), ApiError> {
    let pods = resource("", "v1", "pods");
    let claims = resource("", "v1", "persistentvolumeclaims");
    let (namespace, set_name) = key_of(set);
    let result = match action {
        Action::History(change) => history::write(ctx, namespace, change).await,
        Action::AdoptPod(pod) => {
            let patch = adopt_patch(&pod, owner_reference(set, "apps/v1", "StatefulSet"));
            merge_patch(ctx, pods, (namespace, key_of(&pod).1), &patch, Part::Main)
                .await
                .map(drop)
        }
        Action::ReleasePod(pod) => {
            let patch = release_patch(&pod, uid_of(set));
            merge_patch(ctx, pods, (namespace, key_of(&pod).1), &patch, Part::Main)
                .await
                .map(drop)
        }
        Action::CreateClaim { claim, pod } => {
            let name = str_at(&claim, "/metadata/name").to_owned();
            let result = ctx
                .api
                .create(claims, Some(namespace), claim, WriteOptions::default())
                .await;
            // A claim someone made meanwhile is as good (Kubernetes reuses existing claims).
            if !result.as_ref().is_err_and(|e| e.code() == 409) {
                let (kind, reason, message) = match &result {
                    Ok(_) => (
                        EventType::Normal,
                        "SuccessfulCreate",
                        format!("create Claim {name} Pod {pod} in StatefulSet {set_name} success"),
                    ),
                    Err(err) => (
                        EventType::Warning,
                        "FailedCreate",
                        format!(
                            "create Claim {name} for Pod {pod} in StatefulSet {set_name} failed error: {}",
                            err.0.message
                        ),
                    ),
                };
                ctx.events
                    .record(COMPONENT, set, kind, reason, &message)
                    .await;
            }
            result.map(drop)
        }
        Action::PinClaim { claim, node, bind } => {
            let name = key_of(&claim).1;
            let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
            match merge_patch(ctx, claims, (namespace, name), &patch, Part::Main)
                .await
                .map(drop)
            {
                Ok(()) if bind => {
                    let patch = json!({"status": {"phase": "Bound"}});
                    merge_patch(ctx, claims, (namespace, name), &patch, Part::Status)
                        .await
                        .map(drop)
                }
                other => other,
            }
        }
        Action::SetClaimOwners { claim, owners } => {
            let patch = json!({"metadata": {
                "ownerReferences": owners,
                "resourceVersion": str_at(&claim, "/metadata/resourceVersion"),
            }});
            merge_patch(
                ctx,
                claims,
                (namespace, key_of(&claim).1),
                &patch,
                Part::Main,
            )
            .await
            .map(drop)
        }
        Action::CreatePod(pod) => {
            let name = str_at(&pod, "/metadata/name").to_owned();
            let result = ctx
                .api
                .create(pods, Some(namespace), pod, WriteOptions::default())
                .await;
            let outcome = match &result {
                Ok(_) => Some((
                    EventType::Normal,
                    "SuccessfulCreate",
                    "successful".to_owned(),
                )),
                // Kubernetes records nothing for a pod that already exists; the next pass
                // sees it.
                Err(err) if err.code() == 409 => None,
                Err(err) => Some((
                    EventType::Warning,
                    "FailedCreate",
                    format!("failed error: {}", err.0.message),
                )),
            };
            if let Some((kind, reason, outcome)) = outcome {
                let message = format!("create Pod {name} in StatefulSet {set_name} {outcome}");
                ctx.events
                    .record(COMPONENT, set, kind, reason, &message)
                    .await;
            }
            result.map(drop)
        }
        Action::DeletePod { pod, why } => {
            let name = key_of(&pod).1;
            let options = DeleteOptions {
                propagation_policy: Some("Background".into()),
                ..DeleteOptions::default()
            };
            let result = ctx.api.delete(pods, Some(namespace), name, &options).await;
            let outcome = match &result {
                Ok(_) => Some((
                    EventType::Normal,
                    "SuccessfulDelete",
                    "successful".to_owned(),
                )),
                Err(err) if err.code() == 404 => None,
                Err(err) => Some((
                    EventType::Warning,
                    "FailedDelete",
                    format!("failed error: {}", err.0.message),
                )),
            };
            if let Some((kind, reason, outcome)) = outcome {
                tracing::debug!(pod = %name, "statefulset pod delete ({why}): {outcome}");
                let message = format!("delete Pod {name} in StatefulSet {set_name} {outcome}");
                ctx.events
                    .record(COMPONENT, set, kind, reason, &message)
                    .await;
            }
            result.map(drop)
        }
        Action::Status(status) => {
            // Only this controller writes a StatefulSet's status, and the status subresource
            // ignores everything else, so the write is not guarded by the resourceVersion.
            let info = resource("apps", "v1", "statefulsets");
            replace_status(ctx, info, set, status, false)
                .await
                .map(drop)
        }
    };
    match result {
        // Gone or changed since the snapshot: the next pass sees why.
        Err(err) if benign(&err) => Ok(()),
        other => other,
    }
}
