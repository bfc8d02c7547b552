//! The scores: how well each feasible node suits a pod, each kube-scheduler default plugin scaled
//! to 0..=100 and weighted as in its default profile.

use std::collections::HashMap;

use super::ClusterState;
use super::filters::matches_node_affinity;
use super::node_info::{HOSTNAME_LABEL, NodeInfo, TaintEffect, hash_str};
use super::pod_info::{PodInfo, TopologySpreadConstraint, WhenUnsatisfiable};

/// The highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

/// kube-scheduler's default plugin weights.
pub const WEIGHT_LEAST_ALLOCATED: i64 = 1;
pub const WEIGHT_BALANCED_ALLOCATION: i64 = 1;
pub const WEIGHT_NODE_AFFINITY: i64 = 2;
pub const WEIGHT_TAINT_TOLERATION: i64 = 3;
pub const WEIGHT_INTER_POD_AFFINITY: i64 = 2;
pub const WEIGHT_POD_TOPOLOGY_SPREAD: i64 = 2;
pub const WEIGHT_IMAGE_LOCALITY: i64 = 1;

/// The score an existing pod's required affinity term adds (kube-scheduler's
/// `hardPodAffinityWeight` default).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;
/// The `maxSkew` of kube-scheduler's default hostname spreading constraint.
const DEFAULT_SPREAD_MAX_SKEW: i64 = 3;

/// ImageLocality thresholds: images below 23MB score nothing, and the score saturates at 1000MB
/// per container.
const MB: i64 = 1024 * 1024;
const IMAGE_MIN_THRESHOLD: i64 = 23 * MB;
const IMAGE_MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// One feasible node's scores; those that need normalizing over all nodes are still raw.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NodeScore {
    pub node: usize,
    pub least_allocated: i64,
    pub balanced_allocation: i64,
    pub image_locality: i64,
    pub node_affinity: i64,
    pub taint_toleration: i64,
    pub inter_pod_affinity: i64,
    /// `None` for a node lacking a spread constraint's topology key (scores 0).
    pub topology_spread: Option<i64>,
    /// The weighted sum, set by [`normalize`].
    pub total: i64,
}

/// What spreading counts: pods of the same controller (the system default) or pods matching a
/// `ScheduleAnyway` constraint.
enum SpreadMatcher<'a> {
    /// The nodes holding the controller's pods, with their counts, sorted by node.
    Owner(&'a [(usize, u32)]),
    Constraint(&'a TopologySpreadConstraint),
}

struct SpreadScore<'a> {
    matcher: SpreadMatcher<'a>,
    key: &'a str,
    max_skew: i64,
    /// `ln(domains + 2)`, kube-scheduler's `topologyNormalizingWeight`.
    weight: f64,
    /// Matching pods per domain; empty for the hostname key, which is counted on the node.
    counts: HashMap<String, i64>,
}

/// What the scores precompute once per pod (after filtering).
pub(super) struct PodScorer<'a> {
    pod: &'a PodInfo,
    /// `(image key, share of all nodes that have it)` for the pod's images some node has.
    images: Vec<(u64, f64)>,
    containers: i64,
    /// Topology key → value → inter-pod affinity score; `None` when nothing has such terms.
    inter_pod: Option<HashMap<String, HashMap<String, i64>>>,
    spread: Vec<SpreadScore<'a>>,
    /// Best-effort pods skip balanced allocation, as in kube-scheduler.
    balanced: bool,
}

impl<'a> PodScorer<'a> {
    pub(super) fn new(pod: &'a PodInfo, state: &'a ClusterState, feasible: &[usize]) -> Self {
        let nodes = state.nodes();
        let total = nodes.len().max(1) as f64;
        Self {
            pod,
            images: pod
                .images
                .iter()
                .filter_map(|image| {
                    let key = hash_str(image);
                    let holders = state.image_nodes.get(&key)?;
                    Some((key, f64::from(*holders) / total))
                })
                .collect(),
            containers: pod.images.len() as i64,
            inter_pod: inter_pod_scores(pod, nodes, state.affinity_pods),
            spread: spread_scores(pod, state, feasible),
            balanced: pod.requests != Default::default(),
        }
    }

    pub(super) fn score(&self, index: usize, node: &NodeInfo) -> NodeScore {
        let pod = self.pod;
        let requested = node.non_zero_requested();
        let cpu = least_requested(
            requested.milli_cpu + pod.non_zero_requests.milli_cpu,
            node.allocatable.milli_cpu,
        );
        let memory = least_requested(
            requested.memory + pod.non_zero_requests.memory,
            node.allocatable.memory,
        );
        NodeScore {
            node: index,
            least_allocated: (cpu + memory) / 2,
            balanced_allocation: if self.balanced {
                self.balanced_allocation(node)
            } else {
                0
            },
            image_locality: self.image_locality(node),
            node_affinity: pod
                .preferred_node_affinity
                .iter()
                .filter(|p| p.term.matches(node))
                .map(|p| p.weight)
                .sum(),
            taint_toleration: node
                .taints
                .iter()
                .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
                .filter(|t| {
                    !pod.tolerations.iter().any(|tol| {
                        tol.effect
                            .is_none_or(|e| e == TaintEffect::PreferNoSchedule)
                            && tol.tolerates(t)
                    })
                })
                .count() as i64,
            inter_pod_affinity: self.inter_pod.as_ref().map_or(0, |domains| {
                domains
                    .iter()
                    .filter_map(|(key, values)| values.get(node.topology_value(key)?))
                    .sum()
            }),
            topology_spread: self.topology_spread(index, node),
            total: 0,
        }
    }

    fn balanced_allocation(&self, node: &NodeInfo) -> i64 {
        let requested = node.requested();
        let fraction = |used: i64, capacity: i64| {
            (capacity != 0).then(|| (used as f64 / capacity as f64).min(1.0))
        };
        let cpu = fraction(
            requested.milli_cpu + self.pod.requests.milli_cpu,
            node.allocatable.milli_cpu,
        );
        let memory = fraction(
            requested.memory + self.pod.requests.memory,
            node.allocatable.memory,
        );
        let std_dev = match (cpu, memory) {
            (Some(cpu), Some(memory)) => (cpu - memory).abs() / 2.0,
            _ => 0.0,
        };
        ((1.0 - std_dev) * MAX_NODE_SCORE as f64) as i64
    }

    /// kube-scheduler's ImageLocality: image sizes present on the node, scaled by how widely
    /// each image is spread (so one node holding an image does not attract every pod).
    fn image_locality(&self, node: &NodeInfo) -> i64 {
        if self.images.is_empty() {
            return 0;
        }
        let sum: i64 = self
            .images
            .iter()
            .filter_map(|&(key, share)| Some((node.image_size(key)? as f64 * share) as i64))
            .sum();
        let max_threshold = IMAGE_MAX_CONTAINER_THRESHOLD * self.containers.max(1);
        let sum = sum.clamp(IMAGE_MIN_THRESHOLD, max_threshold);
        MAX_NODE_SCORE * (sum - IMAGE_MIN_THRESHOLD) / (max_threshold - IMAGE_MIN_THRESHOLD)
    }

    fn topology_spread(&self, index: usize, node: &NodeInfo) -> Option<i64> {
        if self.spread.is_empty() {
            return Some(0);
        }
        let mut score = 0.0;
        for spread in &self.spread {
            // Every node has a hostname (its name at least), and hostname domains are counted
            // on the node itself: the hot default-spreading path needs no label lookup.
            let count = match &spread.matcher {
                SpreadMatcher::Owner(nodes) => nodes
                    .binary_search_by_key(&index, |e| e.0)
                    .map_or(0, |i| i64::from(nodes[i].1)),
                SpreadMatcher::Constraint(c) if spread.key == HOSTNAME_LABEL => {
                    node.pods()
                        .iter()
                        .filter(|p| c.counts(&self.pod.namespace, &p.namespace, &p.labels))
                        .count() as i64
                }
                SpreadMatcher::Constraint(_) => {
                    let value = node.topology_value(spread.key)?;
                    spread.counts.get(value).copied().unwrap_or(0)
                }
            };
            score += count as f64 * spread.weight + (spread.max_skew - 1) as f64;
        }
        Some(score.round() as i64)
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// kube-scheduler's InterPodAffinity PreScore: every placed pod matched by one of the pod's
/// preferred terms, or whose own terms match the pod, adds or subtracts weight to its domain.
fn inter_pod_scores(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    affinity_pods: usize,
) -> Option<HashMap<String, HashMap<String, i64>>> {
    let rules = &pod.pod_affinity;
    let own_terms =
        !rules.preferred_affinity.is_empty() || !rules.preferred_anti_affinity.is_empty();
    if !own_terms && affinity_pods == 0 {
        return None;
    }
    let mut scores: HashMap<String, HashMap<String, i64>> = HashMap::new();
    let mut add = |node: &NodeInfo, key: &str, weight: i64| {
        if let Some(value) = node.topology_value(key) {
            *scores
                .entry(key.to_string())
                .or_default()
                .entry(value.to_string())
                .or_default() += weight;
        }
    };
    for node in nodes {
        if !own_terms && node.affinity_pod_count() == 0 {
            continue;
        }
        for placed in node.pods() {
            for (terms, sign) in [
                (&rules.preferred_affinity, 1),
                (&rules.preferred_anti_affinity, -1),
            ] {
                for t in terms {
                    if t.term.matches(&placed.namespace, &placed.labels) {
                        add(node, &t.term.topology_key, sign * t.weight);
                    }
                }
            }
            let Some(theirs) = &placed.affinity else {
                continue;
            };
            for t in &theirs.required_affinity {
                if t.matches(&pod.namespace, &pod.labels) {
                    add(node, &t.topology_key, HARD_POD_AFFINITY_WEIGHT);
                }
            }
            for (terms, sign) in [
                (&theirs.preferred_affinity, 1),
                (&theirs.preferred_anti_affinity, -1),
            ] {
                for t in terms {
                    if t.term.matches(&pod.namespace, &pod.labels) {
                        add(node, &t.term.topology_key, sign * t.weight);
                    }
                }
            }
        }
    }
    Some(scores)
}

/// kube-scheduler's PodTopologySpread PreScore. A pod without constraints of its own gets the
/// system default: spread over hostnames the pods of its controller. (The default zone
/// constraint is left out: it would walk every node for every pod.)
fn spread_scores<'a>(
    pod: &'a PodInfo,
    state: &'a ClusterState,
    feasible: &[usize],
) -> Vec<SpreadScore<'a>> {
    let nodes = state.nodes();
    let weight = |domains: usize| ((domains + 2) as f64).ln();
    if pod.topology_spread_constraints.is_empty() {
        let Some(owner) = pod.owner_uid.as_deref() else {
            return Vec::new();
        };
        return vec![SpreadScore {
            matcher: SpreadMatcher::Owner(state.owner_pods.nodes(hash_str(owner))),
            key: HOSTNAME_LABEL,
            max_skew: DEFAULT_SPREAD_MAX_SKEW,
            weight: weight(feasible.len()),
            counts: HashMap::new(),
        }];
    }
    let constraints: Vec<&TopologySpreadConstraint> = pod
        .topology_spread_constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
        .collect();
    let has_keys = |node: &NodeInfo| {
        constraints
            .iter()
            .all(|c| node.topology_value(&c.topology_key).is_some())
    };
    constraints
        .iter()
        .map(|&c| {
            let key = c.topology_key.as_str();
            let mut domains: Vec<&str> = feasible
                .iter()
                .map(|&i| &nodes[i])
                .filter(|n| has_keys(n))
                .filter_map(|n| n.topology_value(key))
                .collect();
            domains.sort_unstable();
            domains.dedup();
            let mut counts = HashMap::new();
            if key != HOSTNAME_LABEL {
                for node in nodes
                    .iter()
                    .filter(|n| has_keys(n) && matches_node_affinity(pod, n))
                {
                    let Some(value) = node.topology_value(key) else {
                        continue;
                    };
                    let matching = node
                        .pods()
                        .iter()
                        .filter(|p| c.counts(&pod.namespace, &p.namespace, &p.labels))
                        .count() as i64;
                    *counts.entry(value.to_string()).or_default() += matching;
                }
            }
            SpreadScore {
                matcher: SpreadMatcher::Constraint(c),
                key,
                max_skew: c.max_skew,
                weight: weight(domains.len()),
                counts,
            }
        })
        .collect()
}

/// Scales the plugins whose raw scores depend on the other nodes to 0..=100, in place, as their
/// kube-scheduler `NormalizeScore` does.
pub(super) fn normalize(scores: &mut [NodeScore]) {
    let max_of = |scores: &[NodeScore], f: fn(&NodeScore) -> i64| scores.iter().map(f).max();
    let node_affinity_max = max_of(scores, |s| s.node_affinity).unwrap_or(0);
    let taint_max = max_of(scores, |s| s.taint_toleration).unwrap_or(0);
    let inter_pod_max = max_of(scores, |s| s.inter_pod_affinity).unwrap_or(0);
    let inter_pod_min = scores
        .iter()
        .map(|s| s.inter_pod_affinity)
        .min()
        .unwrap_or(0);
    let spread_max = scores
        .iter()
        .filter_map(|s| s.topology_spread)
        .max()
        .unwrap_or(0);
    let spread_min = scores
        .iter()
        .filter_map(|s| s.topology_spread)
        .min()
        .unwrap_or(0);
    for s in scores {
        s.node_affinity = if node_affinity_max > 0 {
            MAX_NODE_SCORE * s.node_affinity / node_affinity_max
        } else {
            0
        };
        s.taint_toleration = if taint_max > 0 {
            MAX_NODE_SCORE - MAX_NODE_SCORE * s.taint_toleration / taint_max
        } else {
            MAX_NODE_SCORE
        };
        s.inter_pod_affinity = if inter_pod_max > inter_pod_min {
            MAX_NODE_SCORE * (s.inter_pod_affinity - inter_pod_min)
                / (inter_pod_max - inter_pod_min)
        } else {
            0
        };
        s.topology_spread = Some(match s.topology_spread {
            None => 0,
            Some(_) if spread_max == 0 => MAX_NODE_SCORE,
            Some(score) => MAX_NODE_SCORE * (spread_max + spread_min - score) / spread_max,
        });
        s.total = s.weighted_sum();
    }
}

impl NodeScore {
    fn weighted_sum(&self) -> i64 {
        WEIGHT_LEAST_ALLOCATED * self.least_allocated
            + WEIGHT_BALANCED_ALLOCATION * self.balanced_allocation
            + WEIGHT_IMAGE_LOCALITY * self.image_locality
            + WEIGHT_NODE_AFFINITY * self.node_affinity
            + WEIGHT_TAINT_TOLERATION * self.taint_toleration
            + WEIGHT_INTER_POD_AFFINITY * self.inter_pod_affinity
            + WEIGHT_POD_TOPOLOGY_SPREAD * self.topology_spread.unwrap_or(0)
    }
}

/// Normalizes the raw scores and returns the best node; of equally good nodes the
/// `tie_breaker`-th (modulo their number), so a round-robin counter spreads ties instead of
/// always picking the first.
pub(super) fn select_best(scores: &mut [NodeScore], tie_breaker: usize) -> Option<usize> {
    normalize(scores);
    let best = scores.iter().map(|s| s.total).max()?;
    let ties = scores.iter().filter(|s| s.total == best).count();
    scores
        .iter()
        .filter(|s| s.total == best)
        .nth(tie_breaker % ties)
        .map(|s| s.node)
}
