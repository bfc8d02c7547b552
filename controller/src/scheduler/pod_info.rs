//! `PodInfo`: what the scheduler needs to know about a pod, parsed once from its JSON so the
//! per-node loops never touch `serde_json`.

use std::collections::BTreeMap;
use std::fmt;

use edge_api::quantity::parse_quantity;
use edge_api::selector::LabelSelector;
use serde_json::Value;

use super::node_info::{Taint, TaintEffect};
use super::node_selector::{NodeSelectorTerm, PreferredSchedulingTerm};

/// The CPU request counted for scoring a container that requests none (kube-scheduler's
/// `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory request counted for scoring a container that requests none (200Mi, kube-scheduler's
/// `DefaultMemoryRequest`).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The runtime class a pod needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Wasm,
    Oci,
}

impl Runtime {
    /// The name used in `runtimeClassName` and in the node label `edgeplane.io/runtime-<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Wasm => "wasm",
            Runtime::Oci => "oci",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CPU (millicores) and memory (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
}

impl Resources {
    pub(super) fn add(&mut self, other: Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
    }

    pub(super) fn subtract(&mut self, other: Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
    }

    fn max(&mut self, other: Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
    }
}

/// A host port a container binds. `host_ip` is normalized: the API's "" becomes `0.0.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub protocol: String,
    pub host_ip: String,
    pub port: i64,
}

impl HostPort {
    /// Two bindings conflict on the same protocol and port when either is the wildcard address
    /// or both name the same address.
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.host_ip == other.host_ip
                || self.host_ip == "0.0.0.0"
                || other.host_ip == "0.0.0.0")
    }
}

/// A pod toleration. An unknown operator or effect drops the toleration at parse time, so it
/// tolerates nothing, as kube-scheduler does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    /// Empty with `exists` tolerates every key.
    pub key: String,
    /// Operator `Exists` (true) or `Equal` (false, the default).
    pub exists: bool,
    pub value: String,
    /// `None` tolerates every effect.
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// Kubernetes' `Toleration.ToleratesTaint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        self.exists || self.value == taint.value
    }
}

/// A pod (anti-)affinity term, its namespaces already resolved against the owning pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodAffinityTerm {
    /// `None` (a missing or invalid `labelSelector`) matches no pod.
    pub selector: Option<LabelSelector>,
    /// The namespaces whose pods the term considers; empty with `all_namespaces` false means the
    /// owning pod's namespace was listed implicitly (it is stored here, so never empty then).
    pub namespaces: Vec<String>,
    /// An empty `namespaceSelector` (`{}`) selects every namespace. A non-empty one needs the
    /// namespaces' labels, which the core does not have: it adds no namespaces.
    pub all_namespaces: bool,
    pub topology_key: String,
}

impl PodAffinityTerm {
    fn from_value(v: &Value, own_namespace: &str) -> Self {
        let namespace_selector = v.get("namespaceSelector").filter(|s| !s.is_null());
        let all_namespaces = namespace_selector
            .is_some_and(|s| LabelSelector::from_label_selector(s).is_ok_and(|s| s.is_empty()));
        let mut namespaces = strings(v.get("namespaces"));
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.push(own_namespace.to_string());
        }
        Self {
            selector: v
                .get("labelSelector")
                .filter(|s| !s.is_null())
                .and_then(|s| LabelSelector::from_label_selector(s).ok()),
            namespaces,
            all_namespaces,
            topology_key: str_at(v, "topologyKey").to_string(),
        }
    }

    /// Whether a pod in `namespace` with `labels` is one the term is about.
    pub fn matches(&self, namespace: &str, labels: &Value) -> bool {
        (self.all_namespaces || self.namespaces.iter().any(|n| n == namespace))
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(Some(labels)))
    }
}

/// A preferred pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedPodAffinityTerm {
    pub weight: i64,
    pub term: PodAffinityTerm,
}

/// A pod's `podAffinity` and `podAntiAffinity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodAffinityRules {
    pub required_affinity: Vec<PodAffinityTerm>,
    pub required_anti_affinity: Vec<PodAffinityTerm>,
    pub preferred_affinity: Vec<WeightedPodAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedPodAffinityTerm>,
}

impl PodAffinityRules {
    pub fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty()
    }

    fn from_affinity(affinity: Option<&Value>, namespace: &str) -> Self {
        let terms = |kind: &str, when: &str| -> Vec<PodAffinityTerm> {
            array(affinity.and_then(|a| a.get(kind)).and_then(|k| k.get(when)))
                .map(|t| PodAffinityTerm::from_value(t, namespace))
                .collect()
        };
        let weighted = |kind: &str| -> Vec<WeightedPodAffinityTerm> {
            let preferred = affinity
                .and_then(|a| a.get(kind))
                .and_then(|k| k.get("preferredDuringSchedulingIgnoredDuringExecution"));
            array(preferred)
                .map(|t| WeightedPodAffinityTerm {
                    weight: t.get("weight").and_then(Value::as_i64).unwrap_or(0),
                    term: PodAffinityTerm::from_value(
                        t.get("podAffinityTerm").unwrap_or(&Value::Null),
                        namespace,
                    ),
                })
                .collect()
        };
        const REQUIRED: &str = "requiredDuringSchedulingIgnoredDuringExecution";
        Self {
            required_affinity: terms("podAffinity", REQUIRED),
            required_anti_affinity: terms("podAntiAffinity", REQUIRED),
            preferred_affinity: weighted("podAffinity"),
            preferred_anti_affinity: weighted("podAntiAffinity"),
        }
    }
}

/// Whether a topology spread constraint filters or only scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

/// One `topologySpreadConstraints` entry. `matchLabelKeys` and the node inclusion policies are
/// not read: the defaults apply (node affinity honored, taints ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologySpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// `None` (missing or invalid) matches no pod.
    pub selector: Option<LabelSelector>,
    pub min_domains: Option<i64>,
}

impl TopologySpreadConstraint {
    /// Whether a placed pod (`other_namespace`, `other_labels`) counts towards this constraint of
    /// a pod in `own_namespace`: only pods of the same namespace do.
    pub fn counts(&self, own_namespace: &str, other_namespace: &str, other_labels: &Value) -> bool {
        own_namespace == other_namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(Some(other_labels)))
    }
}

/// The scheduling-relevant view of a pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// The `metadata.labels` object (or `{}`), kept as JSON for `LabelSelector::matches`.
    pub labels: Value,
    /// The uid of the `ownerReferences` entry with `controller: true`.
    pub owner_uid: Option<String>,
    /// Effective requests: `max(sum(containers), max(initContainers))` plus `spec.overhead`.
    pub requests: Resources,
    /// The same with missing container requests counted as 100m CPU and 200Mi memory; used for
    /// scoring only.
    pub non_zero_requests: Resources,
    pub host_ports: Vec<HostPort>,
    pub node_name: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    /// `None` when the pod has no required node affinity; otherwise the ORed terms.
    pub required_node_affinity: Option<Vec<NodeSelectorTerm>>,
    pub preferred_node_affinity: Vec<PreferredSchedulingTerm>,
    pub pod_affinity: PodAffinityRules,
    pub tolerations: Vec<Toleration>,
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// The images of init containers and containers, normalized (`:latest` added when untagged).
    pub images: Vec<String>,
    /// `None` when `runtimeClassName` is neither `wasm` nor `oci`; the runner may fill it in.
    pub runtime: Option<Runtime>,
    /// The architectures (`amd64` or `linux/amd64`) an OCI image offers; `None` means unknown and
    /// allows any node. Wasm pods ignore it.
    pub image_archs: Option<Vec<String>>,
}

impl PodInfo {
    pub fn from_pod(pod: &Value) -> Self {
        let metadata = pod.get("metadata").unwrap_or(&Value::Null);
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        let namespace = match str_at(metadata, "namespace") {
            "" => "default",
            ns => ns,
        }
        .to_string();
        let affinity = spec.get("affinity");
        let node_affinity = affinity.and_then(|a| a.get("nodeAffinity"));
        let containers: Vec<&Value> = array(spec.get("containers")).collect();
        let init_containers: Vec<&Value> = array(spec.get("initContainers")).collect();
        let overhead = resources_of(spec.get("overhead"), None, Resources::default());
        let no_defaults = Resources::default();
        let scoring_defaults = Resources {
            milli_cpu: DEFAULT_MILLI_CPU_REQUEST,
            memory: DEFAULT_MEMORY_REQUEST,
        };
        let mut requests = pod_requests(&containers, &init_containers, no_defaults);
        requests.add(overhead);
        let mut non_zero_requests = pod_requests(&containers, &init_containers, scoring_defaults);
        non_zero_requests.add(overhead);
        Self {
            name: str_at(metadata, "name").to_string(),
            uid: str_at(metadata, "uid").to_string(),
            labels: metadata
                .get("labels")
                .filter(|l| l.is_object())
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
            owner_uid: array(metadata.get("ownerReferences"))
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .map(|r| str_at(r, "uid").to_string()),
            requests,
            non_zero_requests,
            host_ports: containers.iter().flat_map(|c| host_ports(c)).collect(),
            node_name: Some(str_at(spec, "nodeName"))
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            node_selector: spec
                .get("nodeSelector")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
            required_node_affinity: node_affinity
                .and_then(|n| n.get("requiredDuringSchedulingIgnoredDuringExecution"))
                .filter(|r| !r.is_null())
                .map(|r| {
                    array(r.get("nodeSelectorTerms"))
                        .map(NodeSelectorTerm::from_value)
                        .collect()
                }),
            preferred_node_affinity: array(
                node_affinity
                    .and_then(|n| n.get("preferredDuringSchedulingIgnoredDuringExecution")),
            )
            .map(|p| PreferredSchedulingTerm {
                weight: p.get("weight").and_then(Value::as_i64).unwrap_or(0),
                term: NodeSelectorTerm::from_value(p.get("preference").unwrap_or(&Value::Null)),
            })
            .collect(),
            pod_affinity: PodAffinityRules::from_affinity(affinity, &namespace),
            tolerations: array(spec.get("tolerations"))
                .filter_map(parse_toleration)
                .collect(),
            topology_spread_constraints: array(spec.get("topologySpreadConstraints"))
                .filter_map(parse_spread_constraint)
                .collect(),
            images: init_containers
                .iter()
                .chain(&containers)
                .map(|c| normalize_image(str_at(c, "image")))
                .collect(),
            runtime: match str_at(spec, "runtimeClassName") {
                "wasm" => Some(Runtime::Wasm),
                "oci" => Some(Runtime::Oci),
                _ => None,
            },
            image_archs: None,
            namespace,
        }
    }

    /// The identity used to find the pod again on a node: the uid, or `namespace/name` for
    /// objects that have none (hand-written ones in tests).
    pub fn key(&self) -> String {
        if self.uid.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            self.uid.clone()
        }
    }

    /// Whether some toleration of the pod tolerates `taint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        self.tolerations.iter().any(|t| t.tolerates(taint))
    }
}

/// Kubernetes' `PodRequests`: containers summed; each init container runs alone (plus the
/// restartable "sidecar" init containers started before it), so the pod needs the larger of the
/// two. `defaults` stand in for a container's missing requests.
fn pod_requests(
    containers: &[&Value],
    init_containers: &[&Value],
    defaults: Resources,
) -> Resources {
    let mut total = Resources::default();
    for c in containers {
        total.add(container_requests(c, defaults));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in init_containers {
        let mut requests = container_requests(c, defaults);
        if str_at(c, "restartPolicy") == "Always" {
            total.add(requests);
            sidecars.add(requests);
            requests = sidecars;
        } else {
            requests.add(sidecars);
        }
        init_peak.max(requests);
    }
    total.max(init_peak);
    total
}

/// A container's requests; a resource with a limit but no request is requested at its limit,
/// as API defaulting does.
fn container_requests(container: &Value, defaults: Resources) -> Resources {
    let resources = container.get("resources");
    resources_of(
        resources.and_then(|r| r.get("requests")),
        resources.and_then(|r| r.get("limits")),
        defaults,
    )
}

fn resources_of(list: Option<&Value>, fallback: Option<&Value>, defaults: Resources) -> Resources {
    let get = |name: &str| {
        list.and_then(|l| l.get(name))
            .or_else(|| fallback.and_then(|l| l.get(name)))
            .map(quantity_of)
    };
    Resources {
        milli_cpu: get("cpu").map_or(defaults.milli_cpu, |q| q.0),
        memory: get("memory").map_or(defaults.memory, |q| q.1),
    }
}

/// A quantity as (milli value, value); unparsable quantities (validation refuses them) count 0.
fn quantity_of(v: &Value) -> (i64, i64) {
    let parsed = match v {
        Value::String(s) => parse_quantity(s).ok(),
        Value::Number(n) => parse_quantity(&n.to_string()).ok(),
        _ => None,
    };
    parsed.map_or((0, 0), |q| (q.milli_value(), q.value()))
}

fn host_ports(container: &Value) -> Vec<HostPort> {
    array(container.get("ports"))
        .filter_map(|p| {
            let port = p
                .get("hostPort")
                .and_then(Value::as_i64)
                .filter(|&p| p > 0)?;
            Some(HostPort {
                protocol: match str_at(p, "protocol") {
                    "" => "TCP",
                    other => other,
                }
                .to_string(),
                host_ip: match str_at(p, "hostIP") {
                    "" => "0.0.0.0",
                    other => other,
                }
                .to_string(),
                port,
            })
        })
        .collect()
}

fn parse_toleration(v: &Value) -> Option<Toleration> {
    let exists = match str_at(v, "operator") {
        "Exists" => true,
        "" | "Equal" => false,
        _ => return None,
    };
    let effect = match str_at(v, "effect") {
        "" => None,
        effect => Some(TaintEffect::parse(effect)?),
    };
    Some(Toleration {
        key: str_at(v, "key").to_string(),
        exists,
        value: str_at(v, "value").to_string(),
        effect,
    })
}

fn parse_spread_constraint(v: &Value) -> Option<TopologySpreadConstraint> {
    let when_unsatisfiable = match str_at(v, "whenUnsatisfiable") {
        "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
        "DoNotSchedule" | "" => WhenUnsatisfiable::DoNotSchedule,
        _ => return None,
    };
    Some(TopologySpreadConstraint {
        max_skew: v.get("maxSkew").and_then(Value::as_i64).unwrap_or(1).max(1),
        topology_key: str_at(v, "topologyKey").to_string(),
        when_unsatisfiable,
        selector: v
            .get("labelSelector")
            .filter(|s| !s.is_null())
            .and_then(|s| LabelSelector::from_label_selector(s).ok()),
        min_domains: v.get("minDomains").and_then(Value::as_i64),
    })
}

/// kube-scheduler's `normalizedImageName`: an image without tag or digest means `:latest`.
pub fn normalize_image(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.is_empty() || last.contains(':') || last.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

pub(super) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub(super) fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

pub(super) fn strings(v: Option<&Value>) -> Vec<String> {
    array(v)
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}
