//! `NodeInfo`: a node as the scheduler sees it (parsed once from its JSON) plus the running tally
//! of the pods placed on it.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::Value;

use super::pod_info::{
    HostPort, PodAffinityRules, PodInfo, Resources, Runtime, array, normalize_image, str_at,
};
use crate::gateway::node_object::RUNTIME_LABEL_PREFIX;

/// The node label naming the CPU architecture.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";
/// The node label naming the host; nodes without it use their name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// The taint a pod must tolerate to land on a cordoned (`spec.unschedulable`) node.
pub const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";
/// The pod capacity of a node whose `status.allocatable.pods` is missing (the kubelet default).
pub const DEFAULT_MAX_PODS: i64 = 110;

/// A taint effect. Unknown effects (validation refuses them) are dropped at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NoSchedule" => Some(Self::NoSchedule),
            "PreferNoSchedule" => Some(Self::PreferNoSchedule),
            "NoExecute" => Some(Self::NoExecute),
            _ => None,
        }
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
}

/// A pod placed on a node: what spreading, affinity and `remove_pod` need of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedPod {
    /// [`PodInfo::key`].
    pub key: String,
    pub namespace: String,
    pub labels: Value,
    /// A hash of the controller owner's uid, so spreading counts compare integers.
    pub owner_key: Option<u64>,
    pub requests: Resources,
    pub non_zero_requests: Resources,
    pub host_ports: Vec<HostPort>,
    /// Only kept for pods that have (anti-)affinity terms.
    pub affinity: Option<Box<PodAffinityRules>>,
}

/// A schedulable node and what is placed on it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// A missing `status.allocatable` resource is 0: only pods that request none of it fit.
    pub allocatable: Resources,
    pub allocatable_pods: i64,
    pub arch: Option<String>,
    pub offers_wasm: bool,
    pub offers_oci: bool,
    /// `(hash of normalized image name, size in bytes)`, sorted by hash.
    images: Vec<(u64, i64)>,
    requested: Resources,
    non_zero_requested: Resources,
    pods: Vec<PlacedPod>,
    used_ports: Vec<HostPort>,
    /// How many of `pods` have (anti-)affinity terms.
    affinity_pods: usize,
}

impl NodeInfo {
    pub fn from_node(node: &Value) -> Self {
        let metadata = node.get("metadata").unwrap_or(&Value::Null);
        let spec = node.get("spec").unwrap_or(&Value::Null);
        let status = node.get("status").unwrap_or(&Value::Null);
        let labels: BTreeMap<String, String> = metadata
            .get("labels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let allocatable = status.get("allocatable");
        let quantity = |name: &str| {
            allocatable
                .and_then(|a| a.get(name))
                .and_then(Value::as_str)
                .and_then(|q| edge_api::quantity::parse_quantity(q).ok())
        };
        let runtime_label = |runtime: Runtime| {
            labels
                .get(&format!("{RUNTIME_LABEL_PREFIX}{runtime}"))
                .is_some_and(|v| v == "true")
        };
        // A node without any runtime label was not registered by an agent (it was written by
        // hand or by a tool that predates the labels): assume it offers both runtimes rather
        // than refusing every pod.
        let has_runtime_labels = labels.keys().any(|k| k.starts_with(RUNTIME_LABEL_PREFIX));
        let mut images: Vec<(u64, i64)> = array(status.get("images"))
            .flat_map(|image| {
                let size = image.get("sizeBytes").and_then(Value::as_i64).unwrap_or(0);
                array(image.get("names"))
                    .filter_map(Value::as_str)
                    .map(move |name| (hash_str(&normalize_image(name)), size))
            })
            .collect();
        images.sort_unstable();
        images.dedup_by_key(|(key, _)| *key);
        Self {
            name: str_at(metadata, "name").to_string(),
            taints: array(spec.get("taints"))
                .filter_map(|t| {
                    Some(Taint {
                        key: str_at(t, "key").to_string(),
                        value: str_at(t, "value").to_string(),
                        effect: TaintEffect::parse(str_at(t, "effect"))?,
                    })
                })
                .collect(),
            unschedulable: spec.get("unschedulable").and_then(Value::as_bool) == Some(true),
            ready: array(status.get("conditions"))
                .any(|c| str_at(c, "type") == "Ready" && str_at(c, "status") == "True"),
            allocatable: Resources {
                milli_cpu: quantity("cpu").map_or(0, |q| q.milli_value()),
                memory: quantity("memory").map_or(0, |q| q.value()),
            },
            allocatable_pods: quantity("pods").map_or(DEFAULT_MAX_PODS, |q| q.value()),
            arch: labels
                .get(ARCH_LABEL)
                .map(String::as_str)
                .or_else(|| {
                    status
                        .pointer("/nodeInfo/architecture")
                        .and_then(Value::as_str)
                })
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            offers_wasm: !has_runtime_labels || runtime_label(Runtime::Wasm),
            offers_oci: !has_runtime_labels || runtime_label(Runtime::Oci),
            images,
            labels,
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            pods: Vec::new(),
            used_ports: Vec::new(),
            affinity_pods: 0,
        }
    }

    /// Takes the node's own facts (labels, taints, conditions, allocatable, images) from
    /// `fresh`, keeping the pods placed here; false (and nothing changes) when they are equal,
    /// as they are for most node status writes (heartbeats).
    pub fn refresh(&mut self, fresh: NodeInfo) -> bool {
        let same = self.labels == fresh.labels
            && self.taints == fresh.taints
            && self.unschedulable == fresh.unschedulable
            && self.ready == fresh.ready
            && self.allocatable == fresh.allocatable
            && self.allocatable_pods == fresh.allocatable_pods
            && self.arch == fresh.arch
            && self.offers_wasm == fresh.offers_wasm
            && self.offers_oci == fresh.offers_oci
            && self.images == fresh.images;
        if same {
            return false;
        }
        self.labels = fresh.labels;
        self.taints = fresh.taints;
        self.unschedulable = fresh.unschedulable;
        self.ready = fresh.ready;
        self.allocatable = fresh.allocatable;
        self.allocatable_pods = fresh.allocatable_pods;
        self.arch = fresh.arch;
        self.offers_wasm = fresh.offers_wasm;
        self.offers_oci = fresh.offers_oci;
        self.images = fresh.images;
        true
    }

    /// Counts `pod` as placed here; false (and nothing changes) when it already was.
    pub fn add_pod(&mut self, pod: &PodInfo) -> bool {
        let key = pod.key();
        if self.pods.iter().any(|p| p.key == key) {
            return false;
        }
        let owner_key = pod.owner_uid.as_deref().map(hash_str);
        let affinity = (!pod.pod_affinity.is_empty()).then(|| Box::new(pod.pod_affinity.clone()));
        self.affinity_pods += usize::from(affinity.is_some());
        self.requested.add(pod.requests);
        self.non_zero_requested.add(pod.non_zero_requests);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        self.pods.push(PlacedPod {
            key,
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            owner_key,
            requests: pod.requests,
            non_zero_requests: pod.non_zero_requests,
            host_ports: pod.host_ports.clone(),
            affinity,
        });
        true
    }

    /// Undoes [`NodeInfo::add_pod`] for the pod with `pod`'s key, using what was recorded when it
    /// was added, and returns that record. Removing a pod that is not here changes nothing.
    pub fn remove_pod(&mut self, pod: &PodInfo) -> Option<PlacedPod> {
        let key = pod.key();
        let index = self.pods.iter().position(|p| p.key == key)?;
        let placed = self.pods.swap_remove(index);
        self.affinity_pods -= usize::from(placed.affinity.is_some());
        self.requested.subtract(placed.requests);
        self.non_zero_requested.subtract(placed.non_zero_requests);
        for port in &placed.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        Some(placed)
    }

    /// The sum of the requests of the pods placed here.
    pub fn requested(&self) -> Resources {
        self.requested
    }

    /// The same with the scoring defaults for containers without requests.
    pub fn non_zero_requested(&self) -> Resources {
        self.non_zero_requested
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    pub fn pods(&self) -> &[PlacedPod] {
        &self.pods
    }

    pub fn used_ports(&self) -> &[HostPort] {
        &self.used_ports
    }

    /// How many pods placed here have (anti-)affinity terms.
    pub fn affinity_pod_count(&self) -> usize {
        self.affinity_pods
    }

    /// The size of the image hashed to `image_key` when the node has it.
    pub(super) fn image_size(&self, image_key: u64) -> Option<i64> {
        self.images
            .binary_search_by_key(&image_key, |e| e.0)
            .ok()
            .map(|i| self.images[i].1)
    }

    pub(super) fn image_keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.images.iter().map(|e| e.0)
    }

    /// The node's value for a topology key; `kubernetes.io/hostname` falls back to the name.
    pub fn topology_value(&self, key: &str) -> Option<&str> {
        match self.labels.get(key) {
            Some(value) => Some(value),
            None if key == HOSTNAME_LABEL => Some(&self.name),
            None => None,
        }
    }
}

/// A stable (per process) 64-bit hash, so hot loops compare integers instead of strings. A
/// collision could only skew a score, never a filter.
pub(super) fn hash_str(s: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    s.hash(&mut hasher);
    hasher.finish()
}
