//! ReplicaSet controller: keeps `spec.replicas` pods of each ReplicaSet's template running,
//! adopts matching orphan pods and releases owned pods that stopped matching, and reports what it
//! sees in the ReplicaSet's status (kube-controller-manager's `replicaset` controller).
//!
//! The plan is a pure function of the snapshot and the time; the runner writes it through the
//! API. ReplicaSets being deleted are left alone (the garbage collector deals with their pods).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::events::EventType;
use super::workload::{
    PodName, by_controller, controller_ref, deletion_order, int_at, is_deleting, is_pod_active,
    is_pod_available, is_pod_ready, key_of, meta, of_kind, owner_reference, pod_from_template,
    resource, spec_selector, uid_of,
};
use super::writes::{benign, create_pods_slow_start, merge_patch};
use super::{Context, Snapshot, str_at};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::apiserver::error::ApiError;

/// The component named in this controller's Events.
pub const COMPONENT: &str = "replicaset-controller";
/// Kubernetes' `burstReplicas`: at most this many pods are created or deleted for one
/// ReplicaSet in one pass.
pub const BURST_REPLICAS: usize = 500;
/// The condition a ReplicaSet gets when it cannot create or delete pods.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
/// How many ReplicaSets one pass works on at the same time.
const PARALLEL_SETS: usize = 16;
/// How many pod writes of one ReplicaSet are in flight at the same time.
const PARALLEL_WRITES: usize = 32;

/// One step of the ReplicaSet controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Make `rs` the controller of the orphan `pod`.
    Adopt { rs: Arc<Value>, pod: Arc<Value> },
    /// Drop `rs`'s ownerReference from a pod that no longer matches its selector.
    Release { rs: Arc<Value>, pod: Arc<Value> },
    /// Create `count` pods from the template.
    Create { rs: Arc<Value>, count: usize },
    /// Delete these surplus pods.
    Delete {
        rs: Arc<Value>,
        pods: Vec<Arc<Value>>,
    },
    /// Replace `status` (only planned when it differs from the stored one).
    Status { rs: Arc<Value>, status: Value },
}

impl Action {
    /// The ReplicaSet the action is about.
    pub fn rs(&self) -> &Arc<Value> {
        match self {
            Action::Adopt { rs, .. }
            | Action::Release { rs, .. }
            | Action::Create { rs, .. }
            | Action::Delete { rs, .. }
            | Action::Status { rs, .. } => rs,
        }
    }
}

/// Pure core: the actions for every ReplicaSet in `snapshot` at `now`.
pub fn plan(snapshot: &Snapshot, now: jiff::Timestamp) -> Vec<Action> {
    let pods: Vec<&Arc<Value>> = of_kind(snapshot, "", "pods")
        .filter(|p| is_pod_active(p))
        .collect();
    let owned = by_controller(pods.iter().copied());
    let mut orphans: HashMap<&str, Vec<&Arc<Value>>> = HashMap::new();
    for pod in &pods {
        if controller_ref(pod).is_none() {
            orphans.entry(key_of(pod).0).or_default().push(pod);
        }
    }
    // A pod matching two ReplicaSets goes to the first that claims it; the second would only
    // lose the adoption race on the resourceVersion.
    let mut adopted: HashSet<&str> = HashSet::new();
    let mut actions = Vec::new();
    for rs in of_kind(snapshot, "apps", "replicasets") {
        if is_deleting(rs) {
            continue;
        }
        let Some(selector) = spec_selector(rs) else {
            continue;
        };
        let (namespace, _) = key_of(rs);
        let mut claimed: Vec<&Arc<Value>> = Vec::new();
        for pod in owned.get(uid_of(rs)).into_iter().flatten() {
            if key_of(pod).0 != namespace {
                continue;
            }
            if selector.matches(meta(pod, "labels")) {
                claimed.push(pod);
            } else {
                actions.push(Action::Release {
                    rs: rs.clone(),
                    pod: (*pod).clone(),
                });
            }
        }
        for pod in orphans.get(namespace).into_iter().flatten() {
            if selector.matches(meta(pod, "labels")) && adopted.insert(uid_of(pod)) {
                actions.push(Action::Adopt {
                    rs: rs.clone(),
                    pod: (*pod).clone(),
                });
                claimed.push(pod);
            }
        }
        let wanted = usize::try_from(int_at(rs, "/spec/replicas", 1)).unwrap_or(0);
        if claimed.len() < wanted {
            actions.push(Action::Create {
                rs: rs.clone(),
                count: (wanted - claimed.len()).min(BURST_REPLICAS),
            });
        } else if claimed.len() > wanted {
            let mut surplus = claimed.clone();
            surplus.sort_by(|a, b| deletion_order(a, b));
            surplus.truncate((claimed.len() - wanted).min(BURST_REPLICAS));
            actions.push(Action::Delete {
                rs: rs.clone(),
                pods: surplus.into_iter().cloned().collect(),
            });
        }
        let status = status_of(rs, &claimed, now);
        if status_changed(rs, &status) {
            actions.push(Action::Status {
                rs: rs.clone(),
                status,
            });
        }
    }
    actions
}

/// The status Kubernetes computes for `rs` from the pods it owns, assuming its pod writes
/// succeed (so without a `ReplicaFailure` condition). Zero counts are left out, as Kubernetes'
/// `omitempty` does.
pub fn status_of(rs: &Value, pods: &[&Arc<Value>], now: jiff::Timestamp) -> Value {
    let min_ready = int_at(rs, "/spec/minReadySeconds", 0);
    let template_labels = rs
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    let fully_labeled = pods
        .iter()
        .filter(|pod| {
            let labels = meta(pod, "labels").and_then(Value::as_object);
            template_labels
                .into_iter()
                .flatten()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    let ready = pods.iter().filter(|p| is_pod_ready(p)).count();
    let available = pods
        .iter()
        .filter(|p| is_pod_available(p, min_ready, now))
        .count();
    let mut status = Map::new();
    status.insert("replicas".into(), json!(pods.len()));
    put_count(&mut status, "fullyLabeledReplicas", fully_labeled as i64);
    put_count(&mut status, "readyReplicas", ready as i64);
    put_count(&mut status, "availableReplicas", available as i64);
    put_count(
        &mut status,
        "observedGeneration",
        meta(rs, "generation").and_then(Value::as_i64).unwrap_or(0),
    );
    let conditions: Vec<Value> = conditions_of(rs)
        .filter(|c| str_at(c, "/type") != REPLICA_FAILURE)
        .cloned()
        .collect();
    if !conditions.is_empty() {
        status.insert("conditions".into(), Value::Array(conditions));
    }
    Value::Object(status)
}

/// `status` with a `ReplicaFailure` condition for a failed pod write; an existing one is kept
/// as it is, as Kubernetes does (its time and message stay those of the first failure).
pub fn with_replica_failure(
    rs: &Value,
    status: &Value,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let mut status = status.clone();
    let existing = conditions_of(rs)
        .find(|c| str_at(c, "/type") == REPLICA_FAILURE)
        .cloned()
        .unwrap_or_else(|| {
            json!({
                "type": REPLICA_FAILURE,
                "status": "True",
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            })
        });
    if let Some(map) = status.as_object_mut() {
        let conditions = map.entry("conditions").or_insert_with(|| json!([]));
        if let Some(list) = conditions.as_array_mut() {
            list.retain(|c| str_at(c, "/type") != REPLICA_FAILURE);
            list.push(existing);
        }
    }
    status
}

fn conditions_of(rs: &Value) -> impl Iterator<Item = &Value> {
    rs.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether `status` differs from the stored one.
fn status_changed(rs: &Value, status: &Value) -> bool {
    let empty = json!({});
    rs.get("status").unwrap_or(&empty) != status
}

/// Sets a count, leaving zero out.
pub(super) fn put_count(map: &mut Map<String, Value>, key: &str, value: i64) {
    if value != 0 {
        map.insert(key.into(), json!(value));
    }
}

/// A merge patch that makes `owner_ref` the controller of `object`, guarded by its
/// resourceVersion so that a concurrent change (another adopter) wins.
pub(super) fn adopt_patch(object: &Value, owner_ref: Value) -> Value {
    let uid = owner_ref.get("uid").cloned();
    let mut refs: Vec<Value> = meta(object, "ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("uid") != uid.as_ref())
        .cloned()
        .collect();
    refs.push(owner_ref);
    json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": str_at(object, "/metadata/resourceVersion"),
    }})
}

/// A merge patch that drops the ownerReferences to `owner_uid` from `object`.
pub(super) fn release_patch(object: &Value, owner_uid: &str) -> Value {
    let refs: Vec<Value> = meta(object, "ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
        .cloned()
        .collect();
    json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": str_at(object, "/metadata/resourceVersion"),
    }})
}

/// Runs the plan for `snapshot`: ReplicaSets concurrently, the pod writes of each concurrently
/// too, all bounded.
pub async fn reconcile(ctx: &Context, snapshot: &Snapshot) -> Result<(), ApiError> {
    let now = jiff::Timestamp::now();
    let actions = plan(snapshot, now);
    if actions.is_empty() {
        return Ok(());
    }
    let mut groups: Vec<(Arc<Value>, Vec<Action>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for action in actions {
        let uid = uid_of(action.rs()).to_owned();
        let at = *index.entry(uid).or_insert_with(|| {
            groups.push((action.rs().clone(), Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(action);
    }
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(groups)
        .map(|(rs, actions)| run_replica_set(ctx, rs, actions))
        .buffer_unordered(PARALLEL_SETS)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn run_replica_set(
    ctx: &Context,
    rs: Arc<Value>,
    actions: Vec<Action>,
) -> Result<(), ApiError> {
    let (namespace, name) = key_of(&rs);
    let mut first_error: Option<ApiError> = None;
    let mut failure: Option<(&str, String)> = None;
    let mut status: Option<Value> = None;
    for action in actions {
        match action {
            Action::Adopt { pod, .. } => {
                let patch = adopt_patch(&pod, owner_reference(&rs, "apps/v1", "ReplicaSet"));
                if let Err(err) = patch_pod(ctx, &pod, &patch).await {
                    first_error.get_or_insert(err);
                }
            }
            Action::Release { pod, .. } => {
                if let Err(err) = patch_pod(ctx, &pod, &release_patch(&pod, uid_of(&rs))).await {
                    first_error.get_or_insert(err);
                }
            }
            Action::Create { count, .. } => {
                if let Err(err) = create_pods(ctx, &rs, count).await {
                    failure = Some(("FailedCreate", err.0.message.clone()));
                    first_error.get_or_insert(err);
                }
            }
            Action::Delete { pods: doomed, .. } => {
                if let Err(err) = delete_pods(ctx, &rs, doomed).await {
                    failure = Some(("FailedDelete", err.0.message.clone()));
                    first_error.get_or_insert(err);
                }
            }
            Action::Status {
                status: planned, ..
            } => status = Some(planned),
        }
    }
    if let Some((reason, message)) = &failure {
        let base = status
            .take()
            .unwrap_or_else(|| rs.get("status").cloned().unwrap_or_else(|| json!({})));
        let failed = with_replica_failure(
            &rs,
            &base,
            reason,
            message,
            &crate::apiserver::api::now_rfc3339(),
        );
        if status_changed(&rs, &failed) {
            status = Some(failed);
        }
    }
    if let Some(status) = status {
        // Only this controller writes a ReplicaSet's status, and the status subresource
        // ignores everything else, so no resourceVersion guard: the deployment controller may
        // have scaled the ReplicaSet in this pass, which must not make the status write fail.
        let mut object = (*rs).clone();
        object["status"] = status;
        if let Some(m) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let result = ctx
            .api
            .update(
                resource("apps", "v1", "replicasets"),
                Some(namespace),
                name,
                object,
                Part::Status,
                WriteOptions::default(),
            )
            .await;
        if let Err(err) = result
            && !benign(&err)
        {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Merge-patches a pod's metadata; a pod that changed or went since the snapshot is left to
/// the next pass.
async fn patch_pod(ctx: &Context, pod: &Value, patch: &Value) -> Result<(), ApiError> {
    let pods = resource("", "v1", "pods");
    match merge_patch(ctx, pods, key_of(pod), patch, Part::Main).await {
        Err(err) if !benign(&err) => Err(err),
        _ => Ok(()),
    }
}

/// Creates `count` pods from the ReplicaSet's template.
async fn create_pods(ctx: &Context, rs: &Arc<Value>, count: usize) -> Result<(), ApiError> {
    let (_, name) = key_of(rs);
    let template = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let prefix = format!("{name}-");
    let pods = (0..count).map(|_| {
        pod_from_template(
            rs,
            &template,
            owner_reference(rs, "apps/v1", "ReplicaSet"),
            PodName::Generate(&prefix),
            &[],
        )
    });
    create_pods_slow_start(ctx, COMPONENT, rs, pods).await
}

/// Deletes the surplus pods concurrently; a pod that is already gone counts as deleted.
async fn delete_pods(
    ctx: &Context,
    rs: &Arc<Value>,
    pods: Vec<Arc<Value>>,
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
                let (namespace, name) = key_of(&pod);
                match ctx.api.delete(info, Some(namespace), name, options).await {
                    Ok(_) => {
                        let message = format!("Deleted pod: {name}");
                        ctx.events
                            .record(
                                COMPONENT,
                                rs,
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
                            .record(COMPONENT, rs, EventType::Warning, "FailedDelete", &message)
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

#[cfg(test)]
#[path = "replicaset_test.rs"]
mod tests;
