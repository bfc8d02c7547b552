//! Deployment controller: rolls a Deployment's pod template out through ReplicaSets, one per
//! template (kube-controller-manager's `deployment` controller): rolling updates within
//! maxSurge/maxUnavailable, Recreate, pausing, scaling, revision history and the status that
//! `kubectl rollout status` reads.
//!
//! The plan is a pure function of the snapshot and the time: this file claims ReplicaSets,
//! [`rollout`] runs the sync (rolling update, Recreate), [`scale`] scaling events, paused
//! deployments and history cleanup, [`status`] the status, and [`replica_set`] holds the
//! planned ReplicaSets. The runner writes the plan through the API, deployments concurrently,
//! the steps of one deployment in order, stopping at the first that fails or is stale.
//!
//! Where this differs from Kubernetes:
//! - A pass that adopts or releases ReplicaSets of a deployment does only that for it; the
//!   next pass (a write triggers one) does the rest, so no write races the adoption.
//! - A ReplicaSet's available pods count for scaling old ones down only up to its planned
//!   size: its status lags a scale-down by a pass, and the surplus pods are about to go.
//!   Without this, pods turning Ready at different times can take a rollover below
//!   replicas - maxUnavailable (the simulation tests catch it).
//! - Each changed ReplicaSet is written once per pass with every change of the sync merged.
//! - A scaling event whose only active ReplicaSet already has the right size still refreshes
//!   its desired/max-replicas annotations, so that a stale one cannot block rollouts.
//! - Not done: `spec.rollbackTo` (gone from apps/v1), the `SelectingAll` event,
//!   `terminatingReplicas`.

#[path = "deployment_replica_set.rs"]
pub mod replica_set;
#[path = "deployment_rollout.rs"]
pub mod rollout;
#[path = "deployment_scale.rs"]
pub mod scale;
#[path = "deployment_status.rs"]
pub mod status;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Value, json};

use super::events::EventType;
use super::replicaset::{adopt_patch, release_patch};
use super::workload::{
    REVISION_ANNOTATION, by_controller, controller_ref, int_at, is_deleting, key_of, meta, of_kind,
    owner_reference, resource, spec_selector, uid_of,
};
use super::writes::{merge_patch, replace_status};
use super::{Context, Snapshot, str_at};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::apiserver::error::ApiError;
pub use replica_set::{DESIRED_REPLICAS, MAX_REPLICAS, REVISION_HISTORY, templates_equal};
use rollout::{Rollout, Surroundings};

/// The component named in this controller's Events.
pub const COMPONENT: &str = "deployment-controller";
/// How many deployments one pass works on at the same time.
const PARALLEL_DEPLOYMENTS: usize = 16;

/// One write the controller makes for a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub deployment: Arc<Value>,
    pub step: Step,
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Make the deployment the controller of an orphan ReplicaSet matching its selector.
    Adopt { rs: Arc<Value> },
    /// Drop the deployment's ownerReference from a ReplicaSet that no longer matches.
    Release { rs: Arc<Value> },
    /// Create the new ReplicaSet.
    CreateReplicaSet { rs: Value },
    /// Replace a ReplicaSet (size, annotations, minReadySeconds), guarded by its
    /// resourceVersion; `scaled` is `(from, to)` when its size changes.
    UpdateReplicaSet {
        rs: Value,
        scaled: Option<(i64, i64)>,
    },
    /// Delete an old ReplicaSet beyond the revision history limit.
    DeleteReplicaSet { rs: Arc<Value> },
    /// Set the deployment's revision annotation (that of its new ReplicaSet).
    SetRevision { revision: String },
    /// Replace the deployment's status.
    Status { status: Value },
}

/// Pure core: the writes for every deployment in `snapshot` at `now`.
pub fn plan(snapshot: &Snapshot, now: jiff::Timestamp) -> Vec<Action> {
    let replica_sets: Vec<&Arc<Value>> = of_kind(snapshot, "apps", "replicasets").collect();
    let owned = by_controller(replica_sets.iter().copied());
    let mut names: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut orphans: HashMap<&str, Vec<&Arc<Value>>> = HashMap::new();
    for rs in &replica_sets {
        let (namespace, name) = key_of(rs);
        names.entry(namespace).or_default().insert(name);
        if controller_ref(rs).is_none() && !is_deleting(rs) {
            orphans.entry(namespace).or_default().push(rs);
        }
    }
    let pods = by_controller(of_kind(snapshot, "", "pods"));
    let no_names = HashSet::new();
    let mut adopted: HashSet<&str> = HashSet::new();
    let mut actions = Vec::new();
    for d in of_kind(snapshot, "apps", "deployments") {
        let (namespace, _) = key_of(d);
        let around = Surroundings {
            names: names.get(namespace).unwrap_or(&no_names),
            pods: &pods,
        };
        let mine = owned.get(uid_of(d)).map_or(&[][..], Vec::as_slice);
        let candidates = orphans.get(namespace).map_or(&[][..], Vec::as_slice);
        let steps = plan_deployment(d, mine, candidates, &mut adopted, around, now);
        actions.extend(steps.into_iter().map(|step| Action {
            deployment: d.clone(),
            step,
        }));
    }
    actions
}

/// One deployment: claim its ReplicaSets (Kubernetes' `ClaimReplicaSets`), then sync.
fn plan_deployment<'a>(
    d: &Arc<Value>,
    owned: &[&'a Arc<Value>],
    orphans: &[&'a Arc<Value>],
    adopted: &mut HashSet<&'a str>,
    around: Surroundings<'_>,
    now: jiff::Timestamp,
) -> Vec<Step> {
    let Some(selector) = spec_selector(d) else {
        // A deployment selecting nothing (or everything) is not rolled out; Kubernetes still
        // records that it saw the generation.
        let generation = int_at(d, "/metadata/generation", 0);
        if int_at(d, "/status/observedGeneration", 0) >= generation {
            return Vec::new();
        }
        let mut status = d.get("status").cloned().unwrap_or_else(|| json!({}));
        replica_set::set_path(&mut status, &["observedGeneration"], json!(generation));
        return vec![Step::Status { status }];
    };
    let namespace = key_of(d).0;
    let mut steps = Vec::new();
    let mut mine = Vec::new();
    for rs in owned {
        if key_of(rs).0 != namespace {
            continue;
        }
        if selector.matches(meta(rs, "labels")) {
            mine.push((*rs).clone());
        } else if !is_deleting(rs) {
            steps.push(Step::Release { rs: (*rs).clone() });
        }
    }
    if !is_deleting(d) {
        for rs in orphans {
            if selector.matches(meta(rs, "labels")) && adopted.insert(uid_of(rs)) {
                steps.push(Step::Adopt { rs: (*rs).clone() });
            }
        }
    }
    if !steps.is_empty() {
        return steps;
    }
    Rollout::new(d, mine, around, now).run()
}

/// Runs the plan for `snapshot`.
pub async fn reconcile(ctx: &Context, snapshot: &Snapshot) -> Result<(), ApiError> {
    let actions = plan(snapshot, jiff::Timestamp::now());
    if actions.is_empty() {
        return Ok(());
    }
    let mut groups: Vec<(Arc<Value>, Vec<Step>)> = Vec::new();
    for Action { deployment, step } in actions {
        match groups.last_mut() {
            Some((d, steps)) if Arc::ptr_eq(d, &deployment) => steps.push(step),
            _ => groups.push((deployment, vec![step])),
        }
    }
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(groups)
        .map(|(d, steps)| run_deployment(ctx, d, steps))
        .buffer_unordered(PARALLEL_DEPLOYMENTS)
        .collect()
        .await;
    results.into_iter().collect()
}

/// What became of one write.
enum Outcome {
    Done,
    /// The object changed or went since the snapshot: the rest waits for the next pass.
    Stale,
}

fn settle(result: Result<Value, ApiError>) -> Result<Outcome, ApiError> {
    match result {
        Ok(_) => Ok(Outcome::Done),
        Err(err) if err.code() == 404 || err.code() == 409 => Ok(Outcome::Stale),
        Err(err) => Err(err),
    }
}

/// The steps of one deployment, in order; a stale or failed write ends them.
async fn run_deployment(ctx: &Context, d: Arc<Value>, steps: Vec<Step>) -> Result<(), ApiError> {
    let replica_sets = resource("apps", "v1", "replicasets");
    let deployments = resource("apps", "v1", "deployments");
    let (namespace, name) = key_of(&d);
    for step in steps {
        let outcome = match step {
            Step::Adopt { rs } => {
                let patch = adopt_patch(&rs, owner_reference(&d, "apps/v1", "Deployment"));
                settle(patch_main(ctx, replica_sets, &rs, &patch).await)?
            }
            Step::Release { rs } => {
                let patch = release_patch(&rs, uid_of(&d));
                settle(patch_main(ctx, replica_sets, &rs, &patch).await)?
            }
            Step::CreateReplicaSet { rs } => {
                let rs_name = str_at(&rs, "/metadata/name").to_owned();
                let replicas = int_at(&rs, "/spec/replicas", 0);
                match ctx
                    .api
                    .create(replica_sets, Some(namespace), rs, WriteOptions::default())
                    .await
                {
                    Ok(_) => {
                        if replicas > 0 {
                            let message =
                                format!("Scaled up replica set {rs_name} from 0 to {replicas}");
                            ctx.events
                                .record(
                                    COMPONENT,
                                    &d,
                                    EventType::Normal,
                                    "ScalingReplicaSet",
                                    &message,
                                )
                                .await;
                        }
                        Outcome::Done
                    }
                    // A ReplicaSet of that name appeared since the snapshot; the next pass
                    // tells whether it is ours or a hash collision.
                    Err(err) if err.code() == 409 => Outcome::Stale,
                    Err(err) => {
                        let message = format!(
                            "Failed to create new replica set \"{rs_name}\": {}",
                            err.0.message
                        );
                        ctx.events
                            .record(
                                COMPONENT,
                                &d,
                                EventType::Warning,
                                status::REASON_CREATE_FAILED,
                                &message,
                            )
                            .await;
                        let stamp = crate::apiserver::api::now_rfc3339();
                        if let Some(status) = status::failed_create_status(&d, &message, &stamp) {
                            // Best effort: the create failure is what the pass reports.
                            let _ = write_status(ctx, &d, status).await;
                        }
                        return Err(err);
                    }
                }
            }
            Step::UpdateReplicaSet { rs, scaled } => {
                let rs_name = str_at(&rs, "/metadata/name").to_owned();
                let result = ctx
                    .api
                    .update(
                        replica_sets,
                        Some(namespace),
                        &rs_name,
                        rs,
                        Part::Main,
                        WriteOptions::default(),
                    )
                    .await;
                let outcome = settle(result)?;
                if let (Outcome::Done, Some((from, to))) = (&outcome, scaled) {
                    let direction = if to > from { "up" } else { "down" };
                    let message =
                        format!("Scaled {direction} replica set {rs_name} from {from} to {to}");
                    ctx.events
                        .record(
                            COMPONENT,
                            &d,
                            EventType::Normal,
                            "ScalingReplicaSet",
                            &message,
                        )
                        .await;
                }
                outcome
            }
            Step::DeleteReplicaSet { rs } => {
                let options = DeleteOptions {
                    propagation_policy: Some("Background".into()),
                    ..DeleteOptions::default()
                };
                let result = ctx
                    .api
                    .delete(
                        replica_sets,
                        Some(namespace),
                        str_at(&rs, "/metadata/name"),
                        &options,
                    )
                    .await
                    .map(|deleted| deleted.into_object());
                match result {
                    Err(err) if err.code() == 404 => Outcome::Done,
                    other => settle(other)?,
                }
            }
            Step::SetRevision { revision } => {
                let patch = json!({"metadata": {"annotations": {REVISION_ANNOTATION: revision}}});
                let result = merge_patch(ctx, deployments, (namespace, name), &patch, Part::Main);
                settle(result.await)?
            }
            Step::Status { status } => settle(write_status(ctx, &d, status).await)?,
        };
        if let Outcome::Stale = outcome {
            return Ok(());
        }
    }
    Ok(())
}

async fn patch_main(
    ctx: &Context,
    info: &'static edge_api::resource::ResourceInfo,
    object: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    merge_patch(ctx, info, key_of(object), patch, Part::Main).await
}

/// Replaces the deployment's status. Only this controller writes it and the status
/// subresource ignores the rest, so there is no resourceVersion guard: the revision annotation
/// written just before must not make it fail.
async fn write_status(ctx: &Context, d: &Value, status: Value) -> Result<Value, ApiError> {
    let info = resource("apps", "v1", "deployments");
    replace_status(ctx, info, d, status, false).await
}

#[cfg(test)]
#[path = "deployment_test.rs"]
mod tests;
