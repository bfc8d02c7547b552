//! DaemonSet controller: one pod per eligible node, following nodes as they join, change and
//! leave, and rolling a new template out with `maxUnavailable`.
//!
//! As in Kubernetes since 1.12, the controller does not place pods itself: each pod it creates
//! carries required node affinity to its node (`matchFields metadata.name In [NODE]`) and the
//! default scheduler binds it. A node is eligible when the pod (with the tolerations every
//! DaemonSet pod gets: not-ready and unreachable NoExecute, unschedulable and pressure
//! NoSchedule) fits its node selector, required node affinity, taints and runtime.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Value, json};

use super::events::EventType;
use super::history::{self, HistoryWrite};
use super::workload::{
    POD_TEMPLATE_HASH, PodName, int_at, int_or_percent, is_deleting, is_pod_available,
    is_pod_ready, key_of, of_kind, owner_reference, pod_from_template, pod_phase, require_node,
    resource, spec_selector, uid_of,
};
use super::writes::{POD_MESSAGES, benign, create_recorded};
use super::{Context, Snapshot, str_at};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::apiserver::error::ApiError;
use crate::scheduler::core::{NodeInfo, PodInfo, Runtime, TaintEffect};

const COMPONENT: &str = "daemonset-controller";
/// The label Kubernetes puts the template revision in on DaemonSet pods.
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// Writes in flight at once.
const WIDTH: usize = 32;

/// Tolerations every DaemonSet pod gets (Kubernetes' `AddOrUpdateDaemonPodTolerations`).
fn daemon_tolerations() -> Vec<Value> {
    let exists =
        |key: &str, effect: &str| json!({"key": key, "operator": "Exists", "effect": effect});
    vec![
        exists("node.kubernetes.io/not-ready", "NoExecute"),
        exists("node.kubernetes.io/unreachable", "NoExecute"),
        exists("node.kubernetes.io/disk-pressure", "NoSchedule"),
        exists("node.kubernetes.io/memory-pressure", "NoSchedule"),
        exists("node.kubernetes.io/pid-pressure", "NoSchedule"),
        exists("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// One step for one DaemonSet.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonAction {
    /// Create the set's pod for a node, at the revision with this hash.
    Create {
        set: usize,
        node: String,
        hash: String,
    },
    /// Delete a pod (not eligible node, duplicate, failed, or old revision).
    Delete {
        set: usize,
        namespace: String,
        name: String,
        why: &'static str,
    },
    /// Write the set's status.
    Status { set: usize, status: Value },
    /// Record the set's template in its history.
    History { set: usize, change: HistoryWrite },
}

/// The pod a set runs on `node`, as it would be created.
pub fn daemon_pod(set: &Value, node: &str, hash: &str) -> Value {
    let mut pod = unpinned_pod(set, hash);
    require_node(&mut pod["spec"], node);
    pod
}

/// The set's pod with its labels and tolerations, for any node.
fn unpinned_pod(set: &Value, hash: &str) -> Value {
    let (_, name) = key_of(set);
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let reference = owner_reference(set, "apps/v1", "DaemonSet");
    let prefix = format!("{name}-");
    let mut pod = pod_from_template(
        set,
        &template,
        reference,
        PodName::Generate(&prefix),
        &[(REVISION_LABEL, hash), (POD_TEMPLATE_HASH, hash)],
    );
    let spec = &mut pod["spec"];
    let mut tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for toleration in daemon_tolerations() {
        let same = |t: &Value| t["key"] == toleration["key"] && t["effect"] == toleration["effect"];
        if !tolerations.iter().any(same) {
            tolerations.push(toleration);
        }
    }
    spec["tolerations"] = Value::Array(tolerations);
    pod
}

/// The node a set's pod is for: where it is bound, or the node its affinity pins it to.
fn pod_node(pod: &Value) -> &str {
    match str_at(pod, "/spec/nodeName") {
        "" => str_at(
            pod,
            "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0",
        ),
        node => node,
    }
}

/// Whether the set's pod may start on `node` (`running: false`) or keep running there
/// (`running: true`). As in Kubernetes, a pod already on a node ignores its NoSchedule taints,
/// such as the `unreachable` one a silent node gets next to the NoExecute one.
pub fn node_should_run(pod: &PodInfo, node: &NodeInfo, running: bool) -> bool {
    let selector_ok = pod
        .node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    let affinity_ok = pod
        .required_node_affinity
        .as_ref()
        .is_none_or(|terms| terms.iter().any(|t| t.matches(node)));
    let taints_ok = node
        .taints
        .iter()
        .filter(|t| {
            t.effect == TaintEffect::NoExecute || (!running && t.effect == TaintEffect::NoSchedule)
        })
        .all(|t| pod.tolerates(t));
    let runtime_ok = match pod.runtime {
        Some(Runtime::Wasm) => node.offers_wasm,
        Some(Runtime::Oci) => node.offers_oci,
        None => true,
    };
    selector_ok && affinity_ok && taints_ok && runtime_ok
}

/// Pure core: the actions for every DaemonSet in `objects` at `now`.
pub fn plan(snapshot: &Snapshot, now: jiff::Timestamp) -> (Vec<Arc<Value>>, Vec<DaemonAction>) {
    let sets: Vec<Arc<Value>> = of_kind(snapshot, "apps", "daemonsets")
        .filter(|s| !is_deleting(s))
        .cloned()
        .collect();
    if sets.is_empty() {
        return (sets, Vec::new());
    }
    let nodes: Vec<NodeInfo> = of_kind(snapshot, "", "nodes")
        .map(|n| NodeInfo::from_node(n))
        .collect();
    let mut owned: HashMap<&str, Vec<&Arc<Value>>> = HashMap::new();
    for pod in of_kind(snapshot, "", "pods") {
        if let Some(uid) = super::workload::controller_uid(pod) {
            owned.entry(uid).or_default().push(pod);
        }
    }
    let revisions = history::Index::new(snapshot);
    let mut actions = Vec::new();
    for (index, set) in sets.iter().enumerate() {
        let pods = owned.get(uid_of(set)).map_or(&[][..], Vec::as_slice);
        let (_, set_name) = key_of(set);
        let keep: HashSet<String> = pods
            .iter()
            .map(|p| {
                format!(
                    "{set_name}-{}",
                    str_at(p, &format!("/metadata/labels/{REVISION_LABEL}"))
                )
            })
            .collect();
        let keep = keep.iter().map(String::as_str).collect();
        match history::sync(set, &revisions, &keep) {
            Some(history) => {
                actions.extend(
                    history
                        .writes
                        .into_iter()
                        .map(|change| DaemonAction::History { set: index, change }),
                );
                plan_set(index, set, &history.hash, &nodes, pods, now, &mut actions);
            }
            // Another object has the revision's name: a higher collision count gives the
            // template another hash.
            None => actions.push(DaemonAction::Status {
                set: index,
                status: json!({"collisionCount": int_at(set, "/status/collisionCount", 0) + 1}),
            }),
        }
    }
    (sets, actions)
}

fn plan_set(
    index: usize,
    set: &Value,
    hash: &str,
    nodes: &[NodeInfo],
    pods: &[&Arc<Value>],
    now: jiff::Timestamp,
    actions: &mut Vec<DaemonAction>,
) {
    let Some(selector) = spec_selector(set) else {
        return;
    };
    let probe = PodInfo::from_pod(&unpinned_pod(set, hash));
    let min_ready = int_at(set, "/spec/minReadySeconds", 0);
    let mut by_node: HashMap<&str, Vec<&Value>> = HashMap::new();
    for pod in pods {
        let labels = pod.pointer("/metadata/labels");
        if selector.matches(labels) && !is_deleting(pod) {
            by_node.entry(pod_node(pod)).or_default().push(pod);
        }
    }
    let delete = |pod: &Value, why: &'static str| {
        let (namespace, name) = key_of(pod);
        DaemonAction::Delete {
            set: index,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            why,
        }
    };
    let rolling = str_at(set, "/spec/updateStrategy/type") != "OnDelete";
    let mut desired = 0i64;
    let (mut scheduled, mut misscheduled, mut ready, mut updated, mut available) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    // Old pods that run fine, by node, as candidates for the rolling update.
    let mut old_available: Vec<&Value> = Vec::new();
    let mut unavailable = 0i64;
    for node in nodes {
        let mut here: Vec<&Value> = by_node.remove(node.name.as_str()).unwrap_or_default();
        let running = here.iter().any(|p| !str_at(p, "/spec/nodeName").is_empty());
        let should_run = node_should_run(&probe, node, running);
        if !should_run {
            if here.iter().any(|p| !str_at(p, "/spec/nodeName").is_empty()) {
                misscheduled += 1;
            }
            for pod in here {
                actions.push(delete(pod, "node is not eligible"));
            }
            continue;
        }
        desired += 1;
        // Failed pods go; the next pass creates a fresh one.
        let (failed, mut running): (Vec<&Value>, Vec<&Value>) =
            here.drain(..).partition(|p| pod_phase(p) == "Failed");
        for pod in &failed {
            actions.push(delete(pod, "pod failed"));
        }
        running.retain(|p| pod_phase(p) != "Succeeded");
        if running.is_empty() {
            if failed.is_empty() {
                actions.push(DaemonAction::Create {
                    set: index,
                    node: node.name.clone(),
                    hash: hash.to_owned(),
                });
            }
            unavailable += 1;
            continue;
        }
        // One pod per node: keep the oldest, delete the others.
        running.sort_by_key(|p| str_at(p, "/metadata/creationTimestamp").to_owned());
        for extra in running.iter().skip(1) {
            actions.push(delete(extra, "more than one pod on the node"));
        }
        let pod = running[0];
        if !str_at(pod, "/spec/nodeName").is_empty() {
            scheduled += 1;
        }
        let is_available = is_pod_available(pod, min_ready, now);
        ready += i64::from(is_pod_ready(pod));
        available += i64::from(is_available);
        let current = str_at(pod, &format!("/metadata/labels/{REVISION_LABEL}")) == hash;
        updated += i64::from(current);
        if !is_available {
            unavailable += 1;
        }
        if rolling && !current {
            if is_available {
                old_available.push(pod);
            } else {
                // Already unavailable: replacing it costs no availability.
                actions.push(delete(pod, "old revision"));
            }
        }
    }
    // Pods on nodes that no longer exist.
    for (_, pods) in by_node {
        for pod in pods {
            actions.push(delete(pod, "node is gone"));
        }
    }
    if rolling {
        let max_unavailable = int_or_percent(
            set.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable"),
            desired,
            true,
            1,
        )
        .max(1);
        let budget = (max_unavailable - unavailable).max(0);
        old_available.sort_by_key(|p| str_at(p, "/spec/nodeName").to_owned());
        for pod in old_available
            .into_iter()
            .take(usize::try_from(budget).unwrap_or(0))
        {
            actions.push(delete(pod, "old revision"));
        }
    }
    let status = json!({
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "observedGeneration": int_at(set, "/metadata/generation", 0),
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": (desired - available).max(0),
    });
    if !status_matches(set.get("status"), &status) {
        actions.push(DaemonAction::Status { set: index, status });
    }
}

/// Whether every field of `wanted` already has that value in `current`.
fn status_matches(current: Option<&Value>, wanted: &Value) -> bool {
    let Some(current) = current else {
        return false;
    };
    let zero = json!(0);
    wanted.as_object().is_some_and(|fields| {
        fields.iter().all(|(k, v)| {
            // Kubernetes omits zero counts; a missing field is 0.
            current.get(k).unwrap_or(&zero) == v
        })
    })
}

/// Runs one pass over every DaemonSet.
pub async fn reconcile(ctx: &Context, snapshot: &Snapshot) -> Result<(), ApiError> {
    let now = jiff::Timestamp::now();
    let (sets, actions) = plan(snapshot, now);
    if actions.is_empty() {
        return Ok(());
    }
    let pods = resource("", "v1", "pods");
    let daemonsets = resource("apps", "v1", "daemonsets");
    let results: Vec<Result<(), ApiError>> = futures::stream::iter(actions)
        .map(|action| {
            let sets = &sets;
            async move {
                match action {
                    DaemonAction::Create { set, node, hash } => {
                        let set = &sets[set];
                        let pod = daemon_pod(set, &node, &hash);
                        create_recorded(ctx, COMPONENT, set, pods, pod, &POD_MESSAGES)
                            .await
                            .map(|_| ())
                    }
                    DaemonAction::Delete {
                        set,
                        namespace,
                        name,
                        why,
                    } => {
                        let options = DeleteOptions::default();
                        match ctx
                            .api
                            .delete(pods, Some(&namespace), &name, &options)
                            .await
                        {
                            Ok(_) => {
                                tracing::debug!(pod = %name, "daemonset pod deleted: {why}");
                                let message = format!("Deleted pod: {name}");
                                ctx.events
                                    .record(
                                        COMPONENT,
                                        &sets[set],
                                        EventType::Normal,
                                        "SuccessfulDelete",
                                        &message,
                                    )
                                    .await;
                                Ok(())
                            }
                            Err(err) if err.code() == 404 => Ok(()),
                            Err(err) => Err(err),
                        }
                    }
                    DaemonAction::History { set, change } => {
                        match history::write(ctx, key_of(&sets[set]).0, change).await {
                            Err(err) if !benign(&err) => Err(err),
                            _ => Ok(()),
                        }
                    }
                    DaemonAction::Status { set, status } => {
                        let set = &sets[set];
                        let (namespace, name) = key_of(set);
                        let mut object = Value::clone(set);
                        object["status"] = merged_status(set.get("status"), status);
                        match ctx
                            .api
                            .update(
                                daemonsets,
                                Some(namespace),
                                name,
                                object,
                                Part::Status,
                                WriteOptions::default(),
                            )
                            .await
                        {
                            Ok(_) => Ok(()),
                            // Changed meanwhile: the next pass sees the new state.
                            Err(err) if err.is_conflict() || err.code() == 404 => Ok(()),
                            Err(err) => Err(err),
                        }
                    }
                }
            }
        })
        .buffer_unordered(WIDTH)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The current status with the computed fields replaced (other fields, like
/// `collisionCount`, are kept).
fn merged_status(current: Option<&Value>, computed: Value) -> Value {
    let mut status = current
        .filter(|s| s.is_object())
        .cloned()
        .unwrap_or(json!({}));
    if let (Some(target), Value::Object(fields)) = (status.as_object_mut(), computed) {
        for (k, v) in fields {
            target.insert(k, v);
        }
    }
    status
}

#[cfg(test)]
#[path = "daemonset_test.rs"]
mod tests;
