//! The filters: whether a pod may run on a node at all, in kube-scheduler's plugin order, with
//! the reasons a node was rejected for the `FailedScheduling` message.

use std::collections::{HashMap, HashSet};

use super::node_info::{NodeInfo, TaintEffect, UNSCHEDULABLE_TAINT_KEY};
use super::pod_info::{PodInfo, Runtime, WhenUnsatisfiable};

/// Why a node cannot take the pod; rendered to text only when the pod fits nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    NotReady,
    Unschedulable,
    NodeName,
    /// The index of the first untolerated `NoSchedule`/`NoExecute` taint in `NodeInfo::taints`.
    Taint(usize),
    NodeAffinity,
    Runtime(Runtime),
    Platform,
    HostPorts,
    Resources {
        pods: bool,
        cpu: bool,
        memory: bool,
    },
    SpreadMissingLabel,
    Spread,
    PodAffinity,
    PodAntiAffinity,
    ExistingPodsAntiAffinity,
}

impl Rejection {
    /// kube-scheduler's reason texts (and Edgeplane's own for runtime and platform).
    pub(super) fn reasons(self, node: &NodeInfo, pod: &PodInfo, out: &mut Vec<String>) {
        let text = match self {
            Rejection::NotReady => "node(s) were not ready",
            Rejection::Unschedulable => "node(s) were unschedulable",
            Rejection::NodeName => "node(s) didn't match the requested node name",
            Rejection::Taint(index) => {
                let taint = &node.taints[index];
                let (key, value) = (&taint.key, &taint.value);
                out.push(format!("node(s) had untolerated taint {{{key}: {value}}}"));
                return;
            }
            Rejection::NodeAffinity => "node(s) didn't match Pod's node affinity/selector",
            Rejection::Runtime(runtime) => {
                out.push(format!(
                    "node(s) didn't offer the pod's runtime ({runtime})"
                ));
                return;
            }
            Rejection::Platform => {
                let platforms: Vec<String> = pod
                    .image_archs
                    .iter()
                    .flatten()
                    .map(|p| {
                        if p.contains('/') {
                            p.clone()
                        } else {
                            format!("linux/{p}")
                        }
                    })
                    .collect();
                let platforms = if platforms.is_empty() {
                    "none".to_string()
                } else {
                    platforms.join(", ")
                };
                out.push(format!(
                    "node(s) didn't match the image's platforms ({platforms})"
                ));
                return;
            }
            Rejection::HostPorts => "node(s) didn't have free ports for the requested pod ports",
            Rejection::Resources { pods, cpu, memory } => {
                for (failed, text) in [
                    (pods, "Too many pods"),
                    (cpu, "Insufficient cpu"),
                    (memory, "Insufficient memory"),
                ] {
                    if failed {
                        out.push(text.to_string());
                    }
                }
                return;
            }
            Rejection::SpreadMissingLabel => {
                "node(s) didn't match pod topology spread constraints (missing required label)"
            }
            Rejection::Spread => "node(s) didn't match pod topology spread constraints",
            Rejection::PodAffinity => "node(s) didn't match pod affinity rules",
            Rejection::PodAntiAffinity => "node(s) didn't match pod anti-affinity rules",
            Rejection::ExistingPodsAntiAffinity => {
                "node(s) didn't satisfy existing pods anti-affinity rules"
            }
        };
        out.push(text.to_string());
    }
}

/// What the filters precompute once per pod, so the per-node check is cheap.
pub(super) struct PodFilter<'a> {
    pod: &'a PodInfo,
    tolerates_unschedulable: bool,
    /// The architecture part of each platform the image offers; `None` when any node will do.
    archs: Option<Vec<&'a str>>,
    spread: Vec<SpreadFilter<'a>>,
    inter_pod: Option<InterPodFilter>,
}

/// One `DoNotSchedule` topology spread constraint, counted over the cluster.
struct SpreadFilter<'a> {
    key: &'a str,
    max_skew: i64,
    self_match: i64,
    min_match: i64,
    counts: HashMap<String, i64>,
}

/// Pod (anti-)affinity, counted over the cluster: topology key → value → matching pods.
#[derive(Default)]
struct InterPodFilter {
    /// Domains where an existing pod's required anti-affinity forbids the incoming pod.
    existing_anti: HashMap<String, HashSet<String>>,
    /// Domains holding a pod the incoming pod's required anti-affinity refuses.
    anti: HashMap<String, HashSet<String>>,
    /// Pods matching the incoming pod's required affinity terms, per domain.
    affinity: HashMap<String, HashMap<String, i64>>,
    /// The pod matches all its own required affinity terms (it may start a group).
    matches_own_affinity: bool,
}

impl<'a> PodFilter<'a> {
    /// `affinity_pods` is the number of placed pods with (anti-)affinity terms.
    pub(super) fn new(pod: &'a PodInfo, nodes: &[NodeInfo], affinity_pods: usize) -> Self {
        let unschedulable_taint = super::node_info::Taint {
            key: UNSCHEDULABLE_TAINT_KEY.to_string(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
        };
        let archs = match pod.runtime {
            Some(Runtime::Wasm) => None,
            _ => pod.image_archs.as_ref().map(|platforms| {
                platforms
                    .iter()
                    .map(|p| p.split('/').nth(1).unwrap_or(p))
                    .collect()
            }),
        };
        Self {
            pod,
            tolerates_unschedulable: pod.tolerates(&unschedulable_taint),
            archs,
            spread: spread_filters(pod, nodes),
            inter_pod: inter_pod_filter(pod, nodes, affinity_pods),
        }
    }

    /// Runs every filter on `node`, stopping at the first that rejects it.
    pub(super) fn check(&self, node: &NodeInfo) -> Result<(), Rejection> {
        let pod = self.pod;
        if !node.ready {
            return Err(Rejection::NotReady);
        }
        if node.unschedulable && !self.tolerates_unschedulable {
            return Err(Rejection::Unschedulable);
        }
        if pod.node_name.as_ref().is_some_and(|n| *n != node.name) {
            return Err(Rejection::NodeName);
        }
        if let Some(index) = node.taints.iter().position(|t| {
            matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
                && !pod.tolerates(t)
        }) {
            return Err(Rejection::Taint(index));
        }
        if !matches_node_affinity(pod, node) {
            return Err(Rejection::NodeAffinity);
        }
        match pod.runtime {
            Some(Runtime::Wasm) if !node.offers_wasm => {
                return Err(Rejection::Runtime(Runtime::Wasm));
            }
            Some(Runtime::Oci) if !node.offers_oci => return Err(Rejection::Runtime(Runtime::Oci)),
            _ => {}
        }
        // A node that does not report its architecture (a hand-made one) gets the benefit of
        // the doubt, like a node without runtime labels.
        if let (Some(archs), Some(arch)) = (&self.archs, &node.arch)
            && !archs.contains(&arch.as_str())
        {
            return Err(Rejection::Platform);
        }
        if pod
            .host_ports
            .iter()
            .any(|p| node.used_ports().iter().any(|used| used.conflicts_with(p)))
        {
            return Err(Rejection::HostPorts);
        }
        fits_resources(pod, node)?;
        for spread in &self.spread {
            let Some(value) = node.topology_value(spread.key) else {
                return Err(Rejection::SpreadMissingLabel);
            };
            let count = spread.counts.get(value).copied().unwrap_or(0);
            if count + spread.self_match - spread.min_match > spread.max_skew {
                return Err(Rejection::Spread);
            }
        }
        if let Some(inter_pod) = &self.inter_pod {
            inter_pod.check(pod, node)?;
        }
        Ok(())
    }
}

/// `nodeSelector` and required node affinity (its terms are ORed).
pub(super) fn matches_node_affinity(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k.as_str()) == Some(v))
        && pod
            .required_node_affinity
            .as_ref()
            .is_none_or(|terms| terms.iter().any(|t| t.matches(node)))
}

/// NodeResourcesFit: pod count always; CPU and memory only when requested.
fn fits_resources(pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    let requested = node.requested();
    let pods = node.pod_count() as i64 + 1 > node.allocatable_pods;
    let cpu = pod.requests.milli_cpu > 0
        && pod.requests.milli_cpu > node.allocatable.milli_cpu - requested.milli_cpu;
    let memory =
        pod.requests.memory > 0 && pod.requests.memory > node.allocatable.memory - requested.memory;
    if pods || cpu || memory {
        return Err(Rejection::Resources { pods, cpu, memory });
    }
    Ok(())
}

/// Counts the pods matching each `DoNotSchedule` constraint per domain, over the nodes that pass
/// the pod's node affinity and carry every such constraint's topology key (as kube-scheduler's
/// PodTopologySpread PreFilter does).
fn spread_filters<'a>(pod: &'a PodInfo, nodes: &[NodeInfo]) -> Vec<SpreadFilter<'a>> {
    let constraints: Vec<_> = pod
        .topology_spread_constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
        .collect();
    if constraints.is_empty() {
        return Vec::new();
    }
    let eligible: Vec<&NodeInfo> = nodes
        .iter()
        .filter(|n| {
            matches_node_affinity(pod, n)
                && constraints
                    .iter()
                    .all(|c| n.topology_value(&c.topology_key).is_some())
        })
        .collect();
    constraints
        .into_iter()
        .map(|c| {
            let mut counts: HashMap<String, i64> = HashMap::new();
            for node in &eligible {
                let Some(value) = node.topology_value(&c.topology_key) else {
                    continue;
                };
                let matching = node
                    .pods()
                    .iter()
                    .filter(|p| c.counts(&pod.namespace, &p.namespace, &p.labels))
                    .count() as i64;
                *counts.entry(value.to_string()).or_default() += matching;
            }
            let mut min_match = counts.values().copied().min().unwrap_or(0);
            if c.min_domains.is_some_and(|m| (counts.len() as i64) < m) {
                min_match = 0;
            }
            SpreadFilter {
                key: &c.topology_key,
                max_skew: c.max_skew,
                self_match: i64::from(c.counts(&pod.namespace, &pod.namespace, &pod.labels)),
                min_match,
                counts,
            }
        })
        .collect()
}

/// Builds the inter-pod affinity state, or `None` when neither the pod nor any placed pod has
/// required (anti-)affinity terms, so plain pods never walk the cluster's pods.
fn inter_pod_filter(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    affinity_pods: usize,
) -> Option<InterPodFilter> {
    let rules = &pod.pod_affinity;
    let own_terms = !rules.required_affinity.is_empty() || !rules.required_anti_affinity.is_empty();
    if !own_terms && affinity_pods == 0 {
        return None;
    }
    let mut state = InterPodFilter::default();
    let mut needed = own_terms;
    for node in nodes {
        if !own_terms && node.affinity_pod_count() == 0 {
            continue;
        }
        for placed in node.pods() {
            if let Some(theirs) = &placed.affinity {
                for term in &theirs.required_anti_affinity {
                    needed = true;
                    if term.matches(&pod.namespace, &pod.labels)
                        && let Some(value) = node.topology_value(&term.topology_key)
                    {
                        let key = term.topology_key.clone();
                        state
                            .existing_anti
                            .entry(key)
                            .or_default()
                            .insert(value.to_string());
                    }
                }
            }
            for term in &rules.required_anti_affinity {
                if term.matches(&placed.namespace, &placed.labels)
                    && let Some(value) = node.topology_value(&term.topology_key)
                {
                    let key = term.topology_key.clone();
                    state.anti.entry(key).or_default().insert(value.to_string());
                }
            }
            for term in &rules.required_affinity {
                if term.matches(&placed.namespace, &placed.labels)
                    && let Some(value) = node.topology_value(&term.topology_key)
                {
                    let key = term.topology_key.clone();
                    *state
                        .affinity
                        .entry(key)
                        .or_default()
                        .entry(value.to_string())
                        .or_default() += 1;
                }
            }
        }
    }
    state.matches_own_affinity = rules
        .required_affinity
        .iter()
        .all(|t| t.matches(&pod.namespace, &pod.labels));
    needed.then_some(state)
}

impl InterPodFilter {
    /// kube-scheduler's InterPodAffinity Filter, in its order.
    fn check(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
        let mut pods_exist = true;
        for term in &pod.pod_affinity.required_affinity {
            let Some(value) = node.topology_value(&term.topology_key) else {
                return Err(Rejection::PodAffinity);
            };
            let count = self
                .affinity
                .get(&term.topology_key)
                .and_then(|values| values.get(value))
                .copied()
                .unwrap_or(0);
            pods_exist &= count > 0;
        }
        // The first pod of a group that has affinity to itself would wait forever otherwise.
        let starts_group = self.affinity.is_empty() && self.matches_own_affinity;
        if !pods_exist && !starts_group {
            return Err(Rejection::PodAffinity);
        }
        let in_domain = |domains: &HashMap<String, HashSet<String>>| {
            domains.iter().any(|(key, values)| {
                node.topology_value(key)
                    .is_some_and(|value| values.contains(value))
            })
        };
        if in_domain(&self.anti) {
            return Err(Rejection::PodAntiAffinity);
        }
        if in_domain(&self.existing_anti) {
            return Err(Rejection::ExistingPodsAntiAffinity);
        }
        Ok(())
    }
}
