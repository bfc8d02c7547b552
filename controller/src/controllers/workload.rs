//! What every workload controller shares: finding objects of a kind in a snapshot, owner
//! references, pods made from templates, pod readiness and availability, template hashes.
//!
//! Everything here is pure: a function of objects (and the time), no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use edge_api::resource::ResourceInfo;
use edge_api::selector::LabelSelector;
use serde_json::{Map, Value, json};

use super::{Snapshot, str_at};

/// The label a Deployment's ReplicaSets and their pods carry to tell templates apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision annotation on a Deployment and its ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// The `metadata.FIELD` of an object.
pub fn meta<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    object.get("metadata")?.get(field)
}

/// `metadata.namespace` / `metadata.name` of an object.
pub fn key_of(object: &Value) -> (&str, &str) {
    (
        meta(object, "namespace")
            .and_then(Value::as_str)
            .unwrap_or(""),
        meta(object, "name").and_then(Value::as_str).unwrap_or(""),
    )
}

/// `metadata.uid` of an object.
pub fn uid_of(object: &Value) -> &str {
    meta(object, "uid").and_then(Value::as_str).unwrap_or("")
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(object: &Value) -> bool {
    meta(object, "deletionTimestamp").is_some()
}

/// The snapshot's objects of one resource (`group` is "" for the core group).
pub fn of_kind<'a>(
    snapshot: &'a Snapshot,
    group: &'a str,
    plural: &'a str,
) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
    snapshot
        .objects
        .iter()
        .filter(move |(info, _)| info.group == group && info.plural == plural)
        .map(|(_, object)| object)
}

/// The resource registered for `group/version/plural`; the built-in ones always are.
pub fn resource(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
    edge_api::resource::lookup(group, version, plural)
        .unwrap_or_else(|| panic!("built-in resource {group}/{version}/{plural} is registered"))
}

/// The ownerReference with `controller: true`, if any.
pub fn controller_ref(object: &Value) -> Option<&Value> {
    meta(object, "ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// The uid of the controlling owner, if any.
pub fn controller_uid(object: &Value) -> Option<&str> {
    controller_ref(object)?.get("uid")?.as_str()
}

/// The ownerReference a controller puts on what it creates.
pub fn owner_reference(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": str_at(owner, "/metadata/name"),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Objects grouped by the uid of their controlling owner.
pub fn by_controller<'a>(
    objects: impl IntoIterator<Item = &'a Arc<Value>>,
) -> HashMap<&'a str, Vec<&'a Arc<Value>>> {
    let mut map: HashMap<&str, Vec<&Arc<Value>>> = HashMap::new();
    for object in objects {
        if let Some(uid) = controller_uid(object) {
            map.entry(uid).or_default().push(object);
        }
    }
    map
}

/// The owner's `spec.selector` as a label selector; `None` when it is missing or invalid (an
/// owner with no usable selector selects nothing, as in Kubernetes).
pub fn spec_selector(owner: &Value) -> Option<LabelSelector> {
    let selector = owner.pointer("/spec/selector")?;
    let parsed = LabelSelector::from_label_selector(selector).ok()?;
    // An empty selector would select every pod in the namespace; Kubernetes refuses it for
    // workloads, so it selects nothing here.
    (!parsed.is_empty()).then_some(parsed)
}

/// A pod made from `owner`'s `spec.template`, owned by it, named `generate_name` plus a random
/// suffix (or exactly `name` when given), with extra labels merged in.
pub fn pod_from_template(
    owner: &Value,
    template: &Value,
    owner_ref: Value,
    name: PodName<'_>,
    extra_labels: &[(&str, &str)],
) -> Value {
    let (namespace, _) = key_of(owner);
    let mut metadata = Map::new();
    match name {
        PodName::Generate(prefix) => {
            metadata.insert("generateName".into(), json!(prefix));
        }
        PodName::Exact(name) => {
            metadata.insert("name".into(), json!(name));
        }
    }
    metadata.insert("namespace".into(), json!(namespace));
    let mut labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in extra_labels {
        labels.insert((*k).to_owned(), json!(v));
    }
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    if let Some(annotations) = template.pointer("/metadata/annotations")
        && annotations.as_object().is_some_and(|a| !a.is_empty())
    {
        metadata.insert("annotations".into(), annotations.clone());
    }
    if let Some(finalizers) = template.pointer("/metadata/finalizers") {
        metadata.insert("finalizers".into(), finalizers.clone());
    }
    metadata.insert("ownerReferences".into(), json!([owner_ref]));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": Value::Object(metadata),
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

/// How a pod made from a template is named.
#[derive(Clone, Copy, Debug)]
pub enum PodName<'a> {
    /// `metadata.generateName`: the server adds a random suffix.
    Generate(&'a str),
    /// A fixed name (StatefulSet ordinals, Job indexes are still generated).
    Exact(&'a str),
}

/// `status.phase` of a pod.
pub fn pod_phase(pod: &Value) -> &str {
    str_at(pod, "/status/phase")
}

/// A pod that counts toward its owner: not finished and not being deleted.
pub fn is_pod_active(pod: &Value) -> bool {
    !matches!(pod_phase(pod), "Succeeded" | "Failed") && !is_deleting(pod)
}

/// The pod condition of `kind`, if present.
pub fn pod_condition<'a>(pod: &'a Value, kind: &str) -> Option<&'a Value> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// Whether the pod's Ready condition is True.
pub fn is_pod_ready(pod: &Value) -> bool {
    pod_condition(pod, "Ready").is_some_and(|c| str_at(c, "/status") == "True")
}

/// Ready for at least `min_ready_seconds` at `now` (Kubernetes' "available").
pub fn is_pod_available(pod: &Value, min_ready_seconds: i64, now: jiff::Timestamp) -> bool {
    let Some(ready) = pod_condition(pod, "Ready") else {
        return false;
    };
    if str_at(ready, "/status") != "True" {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match str_at(ready, "/lastTransitionTime").parse::<jiff::Timestamp>() {
        Ok(since) => now.as_second() - since.as_second() >= min_ready_seconds,
        Err(_) => false,
    }
}

/// Whether the pod is bound to a node.
pub fn is_pod_scheduled(pod: &Value) -> bool {
    !str_at(pod, "/spec/nodeName").is_empty()
}

/// The order in which surplus pods are deleted, as Kubernetes' ActivePods sort: unscheduled
/// before scheduled, pending before unknown before running, not ready before ready, more
/// restarts first, newer before older. Returns `Less` when `a` should go first.
pub fn deletion_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let scheduled = |p: &Value| is_pod_scheduled(p);
    let phase_rank = |p: &Value| match pod_phase(p) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let restarts = |p: &Value| -> i64 {
        p.pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
            .max()
            .unwrap_or(0)
    };
    let created = |p: &Value| str_at(p, "/metadata/creationTimestamp").to_owned();
    scheduled(a)
        .cmp(&scheduled(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_pod_ready(a).cmp(&is_pod_ready(b)))
        .then_with(|| restarts(b).cmp(&restarts(a)))
        // Newer first: a later timestamp sorts first.
        .then_with(|| created(b).cmp(&created(a)))
        .then(Ordering::Equal)
}

/// Adds required node affinity to `node` (`matchFields metadata.name In [node]`) to a pod spec,
/// so that the scheduler can only bind it there. Each existing required term keeps its
/// expressions and gains the node-name field (terms are ORed).
pub fn require_node(spec: &mut Value, node: &str) {
    if !spec.is_object() {
        return;
    }
    let fields = json!([{"key": "metadata.name", "operator": "In", "values": [node]}]);
    let mut terms: Vec<Value> = spec
        .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
        .map(|terms| terms.iter().filter(|t| t.is_object()).cloned().collect())
        .unwrap_or_default();
    if terms.is_empty() {
        terms.push(json!({}));
    }
    for term in &mut terms {
        term["matchFields"] = fields.clone();
    }
    // Indexing only creates members of objects, so each level is made one first.
    if !spec.get("affinity").is_some_and(Value::is_object) {
        spec["affinity"] = json!({});
    }
    let affinity = &mut spec["affinity"];
    if !affinity.get("nodeAffinity").is_some_and(Value::is_object) {
        affinity["nodeAffinity"] = json!({});
    }
    affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
        json!({"nodeSelectorTerms": terms});
}

/// Kubernetes' pod-template-hash: FNV-1a (32 bit) of the template, plus the collision count,
/// written with the safe alphabet.
pub fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    // Maps keep their insertion order, so keys are fed sorted: the same template always hashes
    // the same, however a client ordered its fields.
    feed_canonical(template, &mut feed);
    if let Some(count) = collision_count {
        feed(&count.to_le_bytes());
    }
    safe_encode(&hash.to_string())
}

/// Feeds `value` as JSON with every object's keys in sorted order.
fn feed_canonical(value: &Value, feed: &mut impl FnMut(&[u8])) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            feed(b"{");
            for key in keys {
                feed(Value::String(key.clone()).to_string().as_bytes());
                feed(b":");
                feed_canonical(&map[key], feed);
                feed(b",");
            }
            feed(b"}");
        }
        Value::Array(items) => {
            feed(b"[");
            for item in items {
                feed_canonical(item, feed);
                feed(b",");
            }
            feed(b"]");
        }
        other => feed(other.to_string().as_bytes()),
    }
}

/// Kubernetes' `rand.SafeEncodeString`: each byte mapped into an alphabet without vowels.
fn safe_encode(s: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// An integer field, or `default` when absent.
pub fn int_at(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// An int-or-percent value (`maxSurge: 25%`) resolved against `total`, rounding up or down.
/// A missing or malformed value resolves to `default`.
pub fn int_or_percent(value: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) => {
                let scaled = percent * total;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

#[cfg(test)]
#[path = "workload_test.rs"]
mod tests;
