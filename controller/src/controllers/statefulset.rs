//! StatefulSet controller: pods with stable names `{set}-{ordinal}`, made in order (or all at
//! once), each with its own PersistentVolumeClaims, replaced from the highest ordinal down
//! when the template changes, with the set's ControllerRevisions as its history
//! (kube-controller-manager's `statefulset` controller, apps/v1).
//!
//! Edgeplane has no volume binder, so this controller plays the local-volume one: once a pod
//! of a set is bound to a node, its claims get the `volume.kubernetes.io/selected-node`
//! annotation (and phase `Bound`), and a pod made again later for a pinned claim carries
//! required node affinity to that node, so that it returns to where its data is.
//!
//! The plan is a pure function of the snapshot and the time; `statefulset_run` writes it.
//! StatefulSets being deleted are left alone (the garbage collector deals with their pods).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::history::{self, HistoryWrite};
use super::workload::{
    controller_ref, controller_uid, int_at, int_or_percent, is_deleting, is_pod_available,
    is_pod_ready, key_of, meta, of_kind, pod_phase, spec_selector, uid_of,
};
use super::{Snapshot, str_at};

#[path = "statefulset_objects.rs"]
mod objects;
pub use objects::{
    Revisions, claim_name, claim_owners_change, claim_templates, ordinal_of, pod_revision,
    revisions, selected_node, stateful_claim, stateful_pod,
};

pub use super::statefulset_run::reconcile;

/// The component named in this controller's Events.
pub const COMPONENT: &str = "statefulset-controller";
/// The label naming a set's pod, for a per-pod Service.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label holding a pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The annotation naming the node a claim's volume lives on.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// One write for one StatefulSet.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Record the set's template in its history.
    History(HistoryWrite),
    /// Make the set the controller of this orphan pod.
    AdoptPod(Arc<Value>),
    /// Drop the set's ownerReference from a pod that no longer matches it.
    ReleasePod(Arc<Value>),
    /// Create a pod's claim (before the pod).
    CreateClaim { claim: Value, pod: String },
    /// Annotate a claim with the node its pod was bound to, and mark it `Bound` with `bind`.
    PinClaim {
        claim: Arc<Value>,
        node: String,
        bind: bool,
    },
    /// Replace a claim's ownerReferences (the retention policy changed, or its pod is
    /// scaled away).
    SetClaimOwners {
        claim: Arc<Value>,
        owners: Vec<Value>,
    },
    /// Create this pod.
    CreatePod(Value),
    /// Delete a pod: `why` is for the log.
    DeletePod { pod: Arc<Value>, why: &'static str },
    /// Replace the set's status (only planned when it differs from the stored one).
    Status(Value),
}

/// The steps of a set's plan, in the order they run: the actions of one step run
/// concurrently, and a failed step stops the later ones except the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Revisions,
    Ownership,
    Claims,
    CreatePods,
    DeletePods,
    Status,
}

impl Action {
    /// The step the action runs in.
    pub fn step(&self) -> Step {
        match self {
            Action::History(_) => Step::Revisions,
            Action::AdoptPod(_) | Action::ReleasePod(_) => Step::Ownership,
            Action::CreateClaim { .. }
            | Action::PinClaim { .. }
            | Action::SetClaimOwners { .. } => Step::Claims,
            Action::CreatePod(_) => Step::CreatePods,
            Action::DeletePod { .. } => Step::DeletePods,
            Action::Status(_) => Step::Status,
        }
    }
}

/// The actions for one StatefulSet.
#[derive(Debug, Clone)]
pub struct SetPlan {
    pub set: Arc<Value>,
    pub actions: Vec<Action>,
}

/// The objects a set's plan looks at, indexed once per pass.
struct World<'a> {
    owned_pods: HashMap<&'a str, Vec<&'a Arc<Value>>>,
    orphan_pods: HashMap<&'a str, Vec<&'a Arc<Value>>>,
    claims: HashMap<(&'a str, &'a str), &'a Arc<Value>>,
    revisions: history::Index<'a>,
}

impl<'a> World<'a> {
    fn new(snapshot: &'a Snapshot) -> Self {
        let mut world = World {
            owned_pods: HashMap::new(),
            orphan_pods: HashMap::new(),
            claims: HashMap::new(),
            revisions: history::Index::new(snapshot),
        };
        for pod in of_kind(snapshot, "", "pods") {
            match controller_uid(pod) {
                Some(uid) => world.owned_pods.entry(uid).or_default().push(pod),
                None if controller_ref(pod).is_none() => {
                    world
                        .orphan_pods
                        .entry(key_of(pod).0)
                        .or_default()
                        .push(pod);
                }
                None => {}
            }
        }
        for claim in of_kind(snapshot, "", "persistentvolumeclaims") {
            world.claims.insert(key_of(claim), claim);
        }
        world
    }

    fn claim(&self, namespace: &str, name: &str) -> Option<&'a Arc<Value>> {
        self.claims.get(&(namespace, name)).copied()
    }
}

/// Pure core: the actions for every StatefulSet in `snapshot` at `now`.
pub fn plan(snapshot: &Snapshot, now: jiff::Timestamp) -> Vec<SetPlan> {
    let sets: Vec<&Arc<Value>> = of_kind(snapshot, "apps", "statefulsets")
        .filter(|s| !is_deleting(s))
        .collect();
    if sets.is_empty() {
        return Vec::new();
    }
    let world = World::new(snapshot);
    // An orphan matching two sets goes to the first that claims it.
    let mut adopted: HashSet<&str> = HashSet::new();
    sets.into_iter()
        .filter_map(|set| {
            let actions = plan_set(set, &world, &mut adopted, now);
            (!actions.is_empty()).then(|| SetPlan {
                set: set.clone(),
                actions,
            })
        })
        .collect()
}

/// The ordinal of a pod named `{set}-{ordinal}`, if it is one of the set's.
/// The set's pods this pass, by ordinal, with the ownership writes that make them so.
fn claim_pods<'a>(
    set: &'a Arc<Value>,
    world: &World<'a>,
    adopted: &mut HashSet<&'a str>,
    actions: &mut Vec<Action>,
) -> Option<BTreeMap<i64, &'a Arc<Value>>> {
    let selector = spec_selector(set)?;
    let (namespace, set_name) = key_of(set);
    let member = |pod: &Value| {
        selector.matches(meta(pod, "labels")) && ordinal_of(set_name, key_of(pod).1).is_some()
    };
    let mut pods = BTreeMap::new();
    for pod in world.owned_pods.get(uid_of(set)).into_iter().flatten() {
        if key_of(pod).0 != namespace {
            continue;
        }
        match ordinal_of(set_name, key_of(pod).1) {
            Some(ordinal) if member(pod) => {
                pods.insert(ordinal, *pod);
            }
            _ => actions.push(Action::ReleasePod((*pod).clone())),
        }
    }
    for pod in world.orphan_pods.get(namespace).into_iter().flatten() {
        if let Some(ordinal) = ordinal_of(set_name, key_of(pod).1)
            && member(pod)
            && !is_deleting(pod)
            && adopted.insert(uid_of(pod))
        {
            actions.push(Action::AdoptPod((*pod).clone()));
            pods.entry(ordinal).or_insert(*pod);
        }
    }
    Some(pods)
}

/// One set's view of the pass: its pods by ordinal, its revisions and its settings.
struct SetView<'a, 'w> {
    set: &'a Arc<Value>,
    world: &'w World<'a>,
    pods: BTreeMap<i64, &'a Arc<Value>>,
    revs: Revisions,
    start: i64,
    replicas: i64,
    min_ready: i64,
    now: jiff::Timestamp,
    /// `OrderedReady`: one pod at a time, each waiting for the ones before.
    monotonic: bool,
    rolling: bool,
}

/// A claim template of a pod, the claim's name and the claim if it exists.
type PodClaim<'a> = (&'a Value, String, Option<&'a Arc<Value>>);

impl<'a> SetView<'a, '_> {
    fn healthy(&self, pod: &Value) -> bool {
        is_healthy(pod, self.min_ready, self.now)
    }

    fn in_range(&self, ordinal: i64) -> bool {
        (self.start..self.start + self.replicas).contains(&ordinal)
    }

    fn claims_of(&self, ordinal: i64) -> Vec<PodClaim<'a>> {
        let (namespace, set_name) = key_of(self.set);
        claim_templates(self.set)
            .map(|t| {
                let name = claim_name(t, set_name, ordinal);
                let claim = self.world.claim(namespace, &name);
                (t, name, claim)
            })
            .collect()
    }

    /// Claims follow the retention policy and the node their pod is bound to.
    fn tend_claims(&self, actions: &mut Vec<Action>) {
        for (ordinal, pod) in &self.pods {
            let node = str_at(pod, "/spec/nodeName");
            for (_, _, claim) in self.claims_of(*ordinal) {
                let Some(claim) = claim else { continue };
                let scaled_away = !self.in_range(*ordinal);
                if let Some(owners) = claim_owners_change(self.set, pod, claim, scaled_away) {
                    actions.push(Action::SetClaimOwners {
                        claim: claim.clone(),
                        owners,
                    });
                }
                if !node.is_empty() && selected_node(claim).is_none() && !is_deleting(claim) {
                    // The API makes new claims `Pending`, and no binder here moves them on.
                    actions.push(Action::PinClaim {
                        claim: claim.clone(),
                        node: node.to_owned(),
                        bind: matches!(str_at(claim, "/status/phase"), "" | "Pending"),
                    });
                }
            }
        }
    }

    /// Makes the missing pods of `start..start+replicas` and replaces finished ones; returns
    /// whether an `OrderedReady` set must wait before going on.
    fn tend_replicas(&self, actions: &mut Vec<Action>) -> bool {
        for ordinal in self.start..self.start + self.replicas {
            let claims = self.claims_of(ordinal);
            let wait = match self.pods.get(&ordinal) {
                Some(pod) if is_finished(pod) => {
                    // Deleted now, made again once it is gone.
                    if !is_deleting(pod) {
                        actions.push(Action::DeletePod {
                            pod: (*pod).clone(),
                            why: "pod finished",
                        });
                    }
                    true
                }
                Some(pod) => {
                    if matches!(pod_phase(pod), "" | "Pending") {
                        self.create_claims(ordinal, &claims, actions);
                    }
                    !self.healthy(pod)
                }
                // A claim on its way out: wait for it to go, then make it again.
                None if claims
                    .iter()
                    .any(|(_, _, c)| c.is_some_and(|c| is_deleting(c))) =>
                {
                    true
                }
                None => {
                    self.create_claims(ordinal, &claims, actions);
                    let node = claims
                        .iter()
                        .find_map(|(_, _, c)| c.and_then(|c| selected_node(c)));
                    actions.push(Action::CreatePod(self.new_pod(ordinal, node)));
                    true
                }
            };
            if wait && self.monotonic {
                return true;
            }
        }
        false
    }

    fn create_claims(&self, ordinal: i64, claims: &[PodClaim<'_>], actions: &mut Vec<Action>) {
        for (template, _, claim) in claims {
            if claim.is_none() {
                actions.push(Action::CreateClaim {
                    claim: stateful_claim(self.set, template, ordinal),
                    pod: format!("{}-{ordinal}", key_of(self.set).1),
                });
            }
        }
    }

    /// The pod `ordinal` as it is made now: pods below the partition (or, without
    /// `rollingUpdate`, below the current replica count) at the current revision.
    fn new_pod(&self, ordinal: i64, node: Option<&str>) -> Value {
        let index = ordinal - self.start;
        let at_current = self.rolling
            && match self.set.pointer("/spec/updateStrategy/rollingUpdate") {
                Some(rolling) => index < int_at(rolling, "/partition", 0),
                None => index < int_at(self.set, "/status/currentReplicas", 0),
            };
        let (revision, template) = match (&self.revs.current_template, at_current) {
            (Some(template), true) => (self.revs.current.as_str(), template),
            _ => (
                self.revs.update.as_str(),
                self.set.pointer("/spec/template").unwrap_or(&Value::Null),
            ),
        };
        stateful_pod(self.set, template, revision, ordinal, node)
    }

    /// Deletes the pods beyond the replica count from the highest ordinal; `OrderedReady` one
    /// at a time and only while the others are healthy (the first unhealthy one may go).
    /// Returns whether the set must wait before going on.
    fn scale_down(&self, actions: &mut Vec<Action>) -> bool {
        let condemned: Vec<&Arc<Value>> = self
            .pods
            .iter()
            .rev()
            .filter(|(ordinal, _)| !self.in_range(**ordinal))
            .map(|(_, pod)| *pod)
            .collect();
        let first_unhealthy = condemned.iter().position(|p| !self.healthy(p));
        for (at, pod) in condemned.iter().enumerate() {
            if is_deleting(pod) {
                if self.monotonic {
                    return true;
                }
            } else if self.monotonic && !self.healthy(pod) && Some(at) != first_unhealthy {
                return true;
            } else {
                actions.push(Action::DeletePod {
                    pod: (*pod).clone(),
                    why: "scaled down",
                });
                if self.monotonic {
                    return true;
                }
            }
        }
        false
    }

    /// Deletes old-revision pods from the highest ordinal down to the partition, while at
    /// most `maxUnavailable` pods are unhealthy; they are made again at the update revision.
    fn roll(&self, actions: &mut Vec<Action>) {
        let end = self.start + self.replicas;
        let max_unavailable = int_or_percent(
            self.set
                .pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable"),
            self.replicas,
            true,
            1,
        )
        .max(1);
        let unavailable = (self.start..end)
            .filter(|o| self.pods.get(o).is_none_or(|p| !self.healthy(p)))
            .count();
        let mut budget = usize::try_from(max_unavailable)
            .unwrap_or(1)
            .saturating_sub(unavailable);
        let partition = int_at(self.set, "/spec/updateStrategy/rollingUpdate/partition", 0);
        for ordinal in (self.start + partition.max(0)..end).rev() {
            if budget == 0 {
                return;
            }
            if let Some(pod) = self.pods.get(&ordinal)
                && pod_revision(pod) != self.revs.update
                && !is_deleting(pod)
                && !is_finished(pod)
            {
                actions.push(Action::DeletePod {
                    pod: (*pod).clone(),
                    why: "old revision",
                });
                budget -= 1;
            }
        }
    }
}

fn plan_set<'a>(
    set: &'a Arc<Value>,
    world: &World<'a>,
    adopted: &mut HashSet<&'a str>,
    now: jiff::Timestamp,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(pods) = claim_pods(set, world, adopted, &mut actions) else {
        return actions;
    };
    let Some(revs) = revisions(set, &world.revisions, &pods, &mut actions) else {
        let mut status = stored_status(set);
        status["collisionCount"] = json!(int_at(set, "/status/collisionCount", 0) + 1);
        actions.push(Action::Status(status));
        return actions;
    };
    let view = SetView {
        set,
        world,
        pods,
        revs,
        start: int_at(set, "/spec/ordinals/start", 0).max(0),
        replicas: int_at(set, "/spec/replicas", 1).max(0),
        min_ready: int_at(set, "/spec/minReadySeconds", 0),
        now,
        monotonic: str_at(set, "/spec/podManagementPolicy") != "Parallel",
        rolling: is_rolling(set),
    };
    view.tend_claims(&mut actions);
    // As in Kubernetes, scaling comes before updates, and an `OrderedReady` set that waits
    // for a pod does nothing after it.
    let wait = view.tend_replicas(&mut actions) || view.scale_down(&mut actions);
    if !wait && view.rolling {
        view.roll(&mut actions);
    }
    let pods: Vec<&Arc<Value>> = view.pods.values().copied().collect();
    let status = status_of(set, &pods, &view.revs, now);
    if set.get("status") != Some(&status) {
        actions.push(Action::Status(status));
    }
    actions
}

/// Running, Ready for `minReadySeconds`, and not being deleted.
fn is_healthy(pod: &Value, min_ready: i64, now: jiff::Timestamp) -> bool {
    !is_deleting(pod) && pod_phase(pod) == "Running" && is_pod_available(pod, min_ready, now)
}

fn is_finished(pod: &Value) -> bool {
    matches!(pod_phase(pod), "Failed" | "Succeeded")
}

/// `updateStrategy.type` is `RollingUpdate` (the default).
fn is_rolling(set: &Value) -> bool {
    matches!(
        str_at(set, "/spec/updateStrategy/type"),
        "" | "RollingUpdate"
    )
}

/// The stored status, or an empty one.
fn stored_status(set: &Value) -> Value {
    set.get("status")
        .filter(|s| s.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

/// The set's status from its pods (those in range and those being scaled away): the stored
/// status with the counts and revisions replaced; other fields, like conditions, are kept.
pub fn status_of(
    set: &Value,
    pods: &[&Arc<Value>],
    revs: &Revisions,
    now: jiff::Timestamp,
) -> Value {
    let min_ready = int_at(set, "/spec/minReadySeconds", 0);
    let count = |keep: &dyn Fn(&Value) -> bool| pods.iter().filter(|p| keep(p)).count() as i64;
    let running = |p: &Value| pod_phase(p) == "Running";
    let replicas = pods.len() as i64;
    let ready = count(&|p| running(p) && is_pod_ready(p));
    let available = count(&|p| running(p) && is_pod_available(p, min_ready, now));
    let mut current = count(&|p| !is_deleting(p) && pod_revision(p) == revs.current);
    let updated = count(&|p| !is_deleting(p) && pod_revision(p) == revs.update);
    let mut current_revision = revs.current.as_str();
    if is_rolling(set) && updated == replicas && ready == replicas {
        // The rollout is complete: the update revision is the current one.
        current = updated;
        current_revision = revs.update.as_str();
    }
    let mut status = stored_status(set);
    let fields = [
        (
            "observedGeneration",
            json!(int_at(set, "/metadata/generation", 0)),
        ),
        ("replicas", json!(replicas)),
        ("readyReplicas", json!(ready)),
        ("currentReplicas", json!(current)),
        ("updatedReplicas", json!(updated)),
        ("availableReplicas", json!(available)),
        ("currentRevision", json!(current_revision)),
        ("updateRevision", json!(revs.update)),
        (
            "collisionCount",
            json!(int_at(set, "/status/collisionCount", 0)),
        ),
    ];
    for (key, value) in fields {
        status[key] = value;
    }
    status
}

#[cfg(test)]
#[path = "statefulset_test.rs"]
mod tests;
