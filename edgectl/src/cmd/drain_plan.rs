//! Drain's decisions, free of I/O: which pods may go (kubectl's pod filters, in kubectl's order),
//! whether the server offers eviction, which pods are gone, and how failures are reported.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// Marks pods that a kubelet made from a static manifest; the API server cannot delete them.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
pub const DAEMONSET_FATAL: &str = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)";
pub const DAEMONSET_WARNING: &str = "ignoring DaemonSet-managed Pods";
pub const LOCAL_STORAGE_FATAL: &str =
    "Pods with local storage (use --delete-emptydir-data to override)";
pub const LOCAL_STORAGE_WARNING: &str = "deleting Pods with local storage";
pub const UNMANAGED_FATAL: &str = "Pods declare no controller (use --force to override)";
pub const UNMANAGED_WARNING: &str = "deleting Pods that declare no controller";

/// The flags that decide which pods a drain may remove.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodFilters {
    pub force: bool,
    pub ignore_daemonsets: bool,
    pub delete_emptydir_data: bool,
}

/// What the server said about the DaemonSet a pod names as its controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonSetLookup {
    Exists,
    /// The server's message, e.g. `daemonsets.apps "x" not found`.
    NotFound(String),
    Failed(String),
}

/// kubectl's `PodDeleteStatus` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Okay,
    Skip,
    Warning,
    Error,
}

/// Whether a drain removes one pod, and why (kubectl's `PodDeleteStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub delete: bool,
    pub reason: Reason,
    pub message: String,
}

impl Verdict {
    fn okay() -> Verdict {
        Verdict {
            delete: true,
            reason: Reason::Okay,
            message: String::new(),
        }
    }

    fn skip() -> Verdict {
        Verdict {
            delete: false,
            reason: Reason::Skip,
            message: String::new(),
        }
    }

    fn warning(delete: bool, message: &str) -> Verdict {
        Verdict {
            delete,
            reason: Reason::Warning,
            message: message.to_string(),
        }
    }

    fn error(message: &str) -> Verdict {
        Verdict {
            delete: false,
            reason: Reason::Error,
            message: message.to_string(),
        }
    }
}

pub fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `namespace/name`, as kubectl lists pods in drain messages.
pub fn pod_ref(pod: &Value) -> String {
    format!(
        "{}/{}",
        str_at(pod, "/metadata/namespace"),
        str_at(pod, "/metadata/name")
    )
}

fn controller_of(pod: &Value) -> Option<&Value> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

fn is_finished(pod: &Value) -> bool {
    matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

fn daemonset_controller(pod: &Value) -> Option<&str> {
    controller_of(pod)
        .filter(|r| str_at(r, "/kind") == "DaemonSet")
        .map(|r| str_at(r, "/name"))
}

/// The DaemonSets (namespace, name) whose existence decides the fate of some pod.
pub fn daemonsets_to_check(pods: &[Value]) -> Vec<(String, String)> {
    let mut wanted: Vec<(String, String)> = pods
        .iter()
        .filter(|pod| !is_finished(pod))
        .filter_map(|pod| {
            daemonset_controller(pod).map(|name| {
                (
                    str_at(pod, "/metadata/namespace").to_string(),
                    name.to_string(),
                )
            })
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    wanted
}

/// kubectl's filters in kubectl's order (DaemonSet, mirror, local storage, unreplicated); the
/// first that does not delete decides, else the last one's verdict stands.
pub fn classify(
    pod: &Value,
    filters: PodFilters,
    daemonset: &dyn Fn(&str, &str) -> DaemonSetLookup,
) -> Verdict {
    let checks: [&dyn Fn() -> Verdict; 4] = [
        &|| daemonset_filter(pod, filters, daemonset),
        &|| mirror_filter(pod),
        &|| local_storage_filter(pod, filters),
        &|| unreplicated_filter(pod, filters),
    ];
    let mut verdict = Verdict::okay();
    for check in checks {
        verdict = check();
        if !verdict.delete {
            break;
        }
    }
    verdict
}

fn daemonset_filter(
    pod: &Value,
    filters: PodFilters,
    daemonset: &dyn Fn(&str, &str) -> DaemonSetLookup,
) -> Verdict {
    let Some(name) = daemonset_controller(pod) else {
        return Verdict::okay();
    };
    if is_finished(pod) {
        return Verdict::okay();
    }
    match daemonset(str_at(pod, "/metadata/namespace"), name) {
        // An orphan whose DaemonSet is gone goes with --force, as kubectl allows.
        DaemonSetLookup::NotFound(message) if filters.force => Verdict::warning(true, &message),
        DaemonSetLookup::NotFound(message) | DaemonSetLookup::Failed(message) => {
            Verdict::error(&message)
        }
        DaemonSetLookup::Exists if filters.ignore_daemonsets => {
            Verdict::warning(false, DAEMONSET_WARNING)
        }
        DaemonSetLookup::Exists => Verdict::error(DAEMONSET_FATAL),
    }
}

fn mirror_filter(pod: &Value) -> Verdict {
    let mirror = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    if mirror {
        Verdict::skip()
    } else {
        Verdict::okay()
    }
}

fn local_storage_filter(pod: &Value, filters: PodFilters) -> Verdict {
    let local = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .is_some_and(|volumes| volumes.iter().any(|v| v.get("emptyDir").is_some()));
    if !local || is_finished(pod) {
        Verdict::okay()
    } else if filters.delete_emptydir_data {
        Verdict::warning(true, LOCAL_STORAGE_WARNING)
    } else {
        Verdict::error(LOCAL_STORAGE_FATAL)
    }
}

fn unreplicated_filter(pod: &Value, filters: PodFilters) -> Verdict {
    if is_finished(pod) || controller_of(pod).is_some() {
        Verdict::okay()
    } else if filters.force {
        Verdict::warning(true, UNMANAGED_WARNING)
    } else {
        Verdict::error(UNMANAGED_FATAL)
    }
}

/// Every pod on a node with its verdict (kubectl's `PodDeleteList`).
#[derive(Debug, Clone)]
pub struct DrainPlan {
    pub items: Vec<(Value, Verdict)>,
}

impl DrainPlan {
    pub fn new(
        pods: Vec<Value>,
        filters: PodFilters,
        daemonset: &dyn Fn(&str, &str) -> DaemonSetLookup,
    ) -> DrainPlan {
        let items = pods
            .into_iter()
            .map(|pod| {
                let verdict = classify(&pod, filters, daemonset);
                (pod, verdict)
            })
            .collect();
        DrainPlan { items }
    }

    /// The pods to evict or delete.
    pub fn pods(&self) -> Vec<&Value> {
        self.items
            .iter()
            .filter(|(_, v)| v.delete)
            .map(|(pod, _)| pod)
            .collect()
    }

    /// Pod references grouped by message, in the order the messages first appear.
    fn grouped(&self, reason: Reason) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (pod, verdict) in self.items.iter().filter(|(_, v)| v.reason == reason) {
            let message = match verdict.message.as_str() {
                "" => "unexpected error",
                message => message,
            };
            match groups.iter_mut().find(|(m, _)| m == message) {
                Some((_, pods)) => pods.push(pod_ref(pod)),
                None => groups.push((message.to_string(), vec![pod_ref(pod)])),
            }
        }
        groups
    }

    /// kubectl's one warning line, e.g. `ignoring DaemonSet-managed Pods: kube-system/proxy-x`.
    pub fn warnings(&self) -> Option<String> {
        let text = self
            .grouped(Reason::Warning)
            .into_iter()
            .map(|(message, pods)| format!("{message}: {}", pods.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        (!text.is_empty()).then_some(text)
    }

    /// Why the drain may not go on, one message per reason (`cannot delete …: ns/pod, …`).
    pub fn errors(&self) -> Vec<String> {
        self.grouped(Reason::Error)
            .into_iter()
            .map(|(message, pods)| format!("cannot delete {message}: {}", pods.join(", ")))
            .collect()
    }
}

/// The `group/version` of the Eviction kind if the core `v1` resource list offers
/// `pods/eviction`, the way kubectl checks for eviction support.
pub fn eviction_api_version(resource_list: &Value) -> Option<String> {
    resource_list
        .get("resources")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| {
            str_at(r, "/name") == "pods/eviction"
                && str_at(r, "/kind") == "Eviction"
                && !str_at(r, "/group").is_empty()
                && !str_at(r, "/version").is_empty()
        })
        .map(|r| format!("{}/{}", str_at(r, "/group"), str_at(r, "/version")))
}

/// A pod a drain removed, remembered by UID so a new pod of the same name does not count as it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodKey {
    pub fn of(pod: &Value) -> PodKey {
        PodKey {
            namespace: str_at(pod, "/metadata/namespace").to_string(),
            name: str_at(pod, "/metadata/name").to_string(),
            uid: str_at(pod, "/metadata/uid").to_string(),
        }
    }
}

/// Splits the awaited pods into those gone from `current` (absent, or replaced by a pod with
/// another UID) and those still there.
pub fn split_gone(awaited: Vec<PodKey>, current: &[Value]) -> (Vec<PodKey>, Vec<PodKey>) {
    let present: Vec<PodKey> = current.iter().map(PodKey::of).collect();
    awaited.into_iter().partition(|key| !present.contains(key))
}

/// A duration as Go prints one (`30s`, `1m30s`, `1h0m0s`, `1.5s`, `500ms`), which is how kubectl
/// reports its `--timeout`.
pub fn go_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    if duration < Duration::from_secs(1) {
        let nanos = duration.subsec_nanos();
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}µs", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let mut second_text = seconds.to_string();
    let nanos = duration.subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        second_text.push('.');
        second_text.push_str(fraction.trim_end_matches('0'));
    }
    match (hours, minutes) {
        (0, 0) => format!("{second_text}s"),
        (0, m) => format!("{m}m{second_text}s"),
        (h, m) => format!("{h}h{m}m{second_text}s"),
    }
}

/// A failed drain of one node, printed as Go's error aggregates print: one message alone,
/// several as `[a, b]`. `aggregate` says whether kubectl holds it as an aggregate, which decides
/// how its final report is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub messages: Vec<String>,
    pub aggregate: bool,
}

impl Failure {
    pub fn single(message: String) -> Failure {
        Failure {
            messages: vec![message],
            aggregate: false,
        }
    }

    pub fn aggregate(messages: Vec<String>) -> Failure {
        Failure {
            messages,
            aggregate: true,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.messages.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

/// The lines kubectl ends a failed drain with: an aggregate one message per line, anything
/// else as `error: MESSAGE`.
pub fn final_report(failures: &[Failure]) -> Vec<String> {
    match failures {
        [] => Vec::new(),
        [one] if one.aggregate => one.messages.clone(),
        [one] => vec![format!("error: {one}")],
        many => many.iter().map(Failure::to_string).collect(),
    }
}

#[cfg(test)]
#[path = "drain_plan_test.rs"]
mod tests;
