//! Pure scheduling core: `(pod, nodes snapshot) -> decision`. Filter, then score, then pick, as
//! kube-scheduler's default profile does; no I/O, no clock. The runner builds a [`ClusterState`]
//! from the store, calls [`schedule`] per pending pod, [`ClusterState::assume`]s each decision so
//! the next pod sees it, and [`ClusterState::forget`]s it again when the bind fails.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

#[path = "filters.rs"]
mod filters;
#[path = "node_info.rs"]
mod node_info;
#[path = "node_selector.rs"]
mod node_selector;
#[path = "pod_info.rs"]
mod pod_info;
#[path = "scores.rs"]
mod scores;

pub use node_info::{
    ARCH_LABEL, DEFAULT_MAX_PODS, HOSTNAME_LABEL, NodeInfo, PlacedPod, Taint, TaintEffect,
    UNSCHEDULABLE_TAINT_KEY,
};
pub use node_selector::{
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm,
};
pub use pod_info::{
    DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST, HostPort, PodAffinityRules, PodAffinityTerm,
    PodInfo, Resources, Runtime, Toleration, TopologySpreadConstraint, WeightedPodAffinityTerm,
    WhenUnsatisfiable, normalize_image,
};
pub use scores::{
    MAX_NODE_SCORE, WEIGHT_BALANCED_ALLOCATION, WEIGHT_IMAGE_LOCALITY, WEIGHT_INTER_POD_AFFINITY,
    WEIGHT_LEAST_ALLOCATED, WEIGHT_NODE_AFFINITY, WEIGHT_POD_TOPOLOGY_SPREAD,
    WEIGHT_TAINT_TOLERATION,
};

use filters::PodFilter;
use node_info::hash_str;
use scores::{NodeScore, PodScorer};

/// Below this many nodes every node is scored (kube-scheduler's `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The least share of nodes scored in a large cluster, in percent.
pub const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;
/// The adaptive `percentageOfNodesToScore` starts here and drops by one per 125 nodes.
const BASE_PERCENTAGE_OF_NODES_TO_SCORE: usize = 50;

/// How many feasible nodes to find before scoring, kube-scheduler's adaptive
/// `numFeasibleNodesToFind` with the default `percentageOfNodesToScore`.
pub fn num_feasible_nodes_to_find(num_nodes: usize) -> usize {
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_nodes;
    }
    let percentage = BASE_PERCENTAGE_OF_NODES_TO_SCORE
        .saturating_sub(num_nodes / 125)
        .max(MIN_FEASIBLE_NODES_PERCENTAGE);
    (num_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The nodes and what is placed on them, as the scheduler sees the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Where the next search for feasible nodes starts, so pods spread over the whole cluster.
    next_start: usize,
    /// Counts decisions, to pick among equally scored nodes in turn.
    tie_breaker: usize,
    /// Where each controller's pods are, for default spreading.
    owner_pods: PodsPerOwner,
    /// Image key → how many nodes have the image (for ImageLocality).
    image_nodes: HashMap<u64, u32>,
    /// Placed pods with (anti-)affinity terms, over all nodes; while 0, plain pods skip the
    /// inter-pod affinity walk over the cluster's pods.
    affinity_pods: usize,
    /// Reused between pods so scheduling does not allocate per pod.
    feasible: Vec<usize>,
    scores: Vec<NodeScore>,
}

impl ClusterState {
    /// Builds the state from Node objects and the bound pods: pods without `spec.nodeName`, in
    /// phase `Succeeded` or `Failed`, or on an unknown node are left out. Of two nodes with one
    /// name the later wins.
    pub fn new<'a>(
        nodes: impl IntoIterator<Item = &'a Value>,
        pods: impl IntoIterator<Item = &'a Value>,
    ) -> Self {
        let mut state = Self::default();
        for node in nodes {
            let info = NodeInfo::from_node(node);
            match state.index.get(&info.name) {
                Some(&i) => state.nodes[i] = info,
                None => {
                    state.index.insert(info.name.clone(), state.nodes.len());
                    state.nodes.push(info);
                }
            }
        }
        for node in &state.nodes {
            for key in node.image_keys() {
                *state.image_nodes.entry(key).or_default() += 1;
            }
        }
        for pod in pods {
            let phase = pod.pointer("/status/phase").and_then(Value::as_str);
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let Some(node_name) = pod.pointer("/spec/nodeName").and_then(Value::as_str) else {
                continue;
            };
            if let Some(&i) = state.index.get(node_name) {
                state.assume(i, &PodInfo::from_pod(pod));
            }
        }
        state
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, index: usize) -> Option<&NodeInfo> {
        self.nodes.get(index)
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds a node, or refreshes a known one's facts keeping its pods. Returns whether anything
    /// the scheduler looks at changed (a heartbeat changes nothing).
    pub fn upsert_node(&mut self, node: &Value) -> bool {
        let fresh = NodeInfo::from_node(node);
        match self.index.get(&fresh.name) {
            Some(&i) => {
                let old_images: Vec<u64> = self.nodes[i].image_keys().collect();
                if !self.nodes[i].refresh(fresh) {
                    return false;
                }
                for key in old_images {
                    if let Some(count) = self.image_nodes.get_mut(&key) {
                        *count = count.saturating_sub(1);
                    }
                }
                self.image_nodes.retain(|_, count| *count > 0);
                for key in self.nodes[i].image_keys() {
                    *self.image_nodes.entry(key).or_default() += 1;
                }
            }
            None => {
                for key in fresh.image_keys() {
                    *self.image_nodes.entry(key).or_default() += 1;
                }
                self.index.insert(fresh.name.clone(), self.nodes.len());
                self.nodes.push(fresh);
            }
        }
        true
    }

    /// Counts `pod` on node `index` (after a decision, before the bind is confirmed), so the
    /// next pod of a batch sees it. Out-of-range indexes are ignored.
    pub fn assume(&mut self, index: usize, pod: &PodInfo) {
        if let Some(node) = self.nodes.get_mut(index)
            && node.add_pod(pod)
        {
            self.affinity_pods += usize::from(!pod.pod_affinity.is_empty());
            if let Some(owner) = pod.owner_uid.as_deref() {
                self.owner_pods.add(hash_str(owner), index);
            }
        }
    }

    /// Undoes [`ClusterState::assume`] (the bind failed).
    pub fn forget(&mut self, index: usize, pod: &PodInfo) {
        if let Some(node) = self.nodes.get_mut(index)
            && let Some(placed) = node.remove_pod(pod)
        {
            self.affinity_pods -= usize::from(placed.affinity.is_some());
            if let Some(owner) = placed.owner_key {
                self.owner_pods.remove(owner, index);
            }
        }
    }
}

/// Controller owner key → `(node index, pods of that owner there)`, sorted by node. One small,
/// hot list per controller makes the default-spreading lookup cheap for every node scored,
/// where a per-node table would cost a cache miss per node.
#[derive(Debug, Clone, Default)]
struct PodsPerOwner(HashMap<u64, Vec<(usize, u32)>>);

impl PodsPerOwner {
    fn add(&mut self, owner: u64, node: usize) {
        let nodes = self.0.entry(owner).or_default();
        match nodes.binary_search_by_key(&node, |e| e.0) {
            Ok(i) => nodes[i].1 += 1,
            Err(i) => nodes.insert(i, (node, 1)),
        }
    }

    fn remove(&mut self, owner: u64, node: usize) {
        let Some(nodes) = self.0.get_mut(&owner) else {
            return;
        };
        if let Ok(i) = nodes.binary_search_by_key(&node, |e| e.0) {
            nodes[i].1 -= 1;
            if nodes[i].1 == 0 {
                nodes.remove(i);
            }
        }
        if nodes.is_empty() {
            self.0.remove(&owner);
        }
    }

    /// The nodes holding pods of `owner`, with their counts.
    fn nodes(&self, owner: u64) -> &[(usize, u32)] {
        self.0.get(&owner).map_or(&[], Vec::as_slice)
    }
}

/// Why a pod fits no node: how many nodes there were and, per reason, how many were rejected
/// for it. Displays as kube-scheduler's `FailedScheduling` event message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub reasons: BTreeMap<String, usize>,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.num_all_nodes;
        if n == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        write!(f, "0/{n} nodes are available:")?;
        // kube-scheduler sorts the "<count> <reason>" strings themselves.
        let mut reasons: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        reasons.sort();
        if !reasons.is_empty() {
            write!(f, " {}.", reasons.join(", "))?;
        }
        // Edgeplane does not preempt, so preemption never helps.
        write!(
            f,
            " preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
        )
    }
}

impl std::error::Error for FitError {}

/// Picks the node for `pod`: filters nodes from a rotating start until enough feasible ones are
/// found (all of them in clusters under 100 nodes), scores those and returns the best one's
/// index. Does not assume the pod; the caller does once it decides to bind.
pub fn schedule(pod: &PodInfo, state: &mut ClusterState) -> Result<usize, FitError> {
    let n = state.nodes.len();
    if n == 0 {
        return Err(FitError::default());
    }
    let affinity_pods = state.affinity_pods;
    let filter = PodFilter::new(pod, &state.nodes, affinity_pods);
    let to_find = num_feasible_nodes_to_find(n);
    let mut feasible = std::mem::take(&mut state.feasible);
    feasible.clear();
    let start = state.next_start % n;
    let mut processed = 0;
    for offset in 0..n {
        let i = (start + offset) % n;
        processed += 1;
        if filter.check(&state.nodes[i]).is_ok() {
            feasible.push(i);
            if feasible.len() >= to_find {
                break;
            }
        }
    }
    state.next_start = (start + processed) % n;
    let decision = match feasible.as_slice() {
        [] => Err(diagnose(&filter, pod, &state.nodes)),
        [only] => Ok(*only),
        _ => {
            let mut scores = std::mem::take(&mut state.scores);
            scores.clear();
            let scorer = PodScorer::new(pod, state, &feasible);
            scores.extend(feasible.iter().map(|&i| scorer.score(i, &state.nodes[i])));
            let best = scores::select_best(&mut scores, state.tie_breaker);
            state.scores = scores;
            Ok(best.unwrap_or(feasible[0]))
        }
    };
    state.feasible = feasible;
    state.tie_breaker = state.tie_breaker.wrapping_add(1);
    decision
}

/// Runs the filters again on every node (only when none fit, so the hot path never formats
/// reasons) and counts the rejections.
fn diagnose(filter: &PodFilter<'_>, pod: &PodInfo, nodes: &[NodeInfo]) -> FitError {
    let mut reasons = BTreeMap::new();
    let mut texts = Vec::new();
    for node in nodes {
        if let Err(rejection) = filter.check(node) {
            texts.clear();
            rejection.reasons(node, pod, &mut texts);
            for text in texts.drain(..) {
                *reasons.entry(text).or_default() += 1;
            }
        }
    }
    FitError {
        num_all_nodes: nodes.len(),
        reasons,
    }
}

#[cfg(test)]
#[path = "core_test.rs"]
mod tests;
