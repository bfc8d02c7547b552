//! What the StatefulSet controller makes and keeps: the set's pods and their claims as they
//! are created, the claims' ownerReferences under the retention policy, and the set's
//! ControllerRevisions (its history). Pure functions of objects.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use edge_api::meta::revision_template;

use super::{Action, SELECTED_NODE};
use crate::controllers::daemonset::REVISION_LABEL;
use crate::controllers::history;
use crate::controllers::str_at;
use crate::controllers::workload::{
    PodName, key_of, meta, owner_reference, pod_from_template, require_node, uid_of,
};

/// The ordinal of a pod named `{set}-{ordinal}`, if it is one of the set's.
pub fn ordinal_of(set_name: &str, pod_name: &str) -> Option<i64> {
    let suffix = pod_name.strip_prefix(set_name)?.strip_prefix('-')?;
    let ordinal: i64 = suffix.parse().ok()?;
    (ordinal >= 0 && ordinal.to_string() == suffix).then_some(ordinal)
}

/// The revision label of a pod.
pub fn pod_revision(pod: &Value) -> &str {
    meta(pod, "labels")
        .and_then(|l| l.get(REVISION_LABEL))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// What the set's pods are made from this pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Revisions {
    /// The revision of the set's template: pods are updated to it.
    pub update: String,
    /// The revision the set ran before its rollout (the update one once it is done).
    pub current: String,
    /// The template of `current`, when it differs from the set's.
    pub current_template: Option<Value>,
}

/// The set's revisions from the ControllerRevisions it owns, with the history writes;
/// `None` on a hash collision (the name taken by a revision with another template), which the
/// caller answers with a higher collision count.
pub fn revisions(
    set: &Value,
    index: &history::Index<'_>,
    pods: &BTreeMap<i64, &Arc<Value>>,
    actions: &mut Vec<Action>,
) -> Option<Revisions> {
    let stored = str_at(set, "/status/currentRevision");
    // The revision the set ran before its rollout, while it still has one.
    let before = index
        .owned(set)
        .iter()
        .find(|r| key_of(r).1 == stored)
        .map(|r| revision_template(r));
    // Revisions a pod still runs stay, and so does the current one.
    let keep: HashSet<&str> = pods
        .values()
        .map(|p| pod_revision(p))
        .chain([stored])
        .collect();
    let history = history::sync(set, index, &keep)?;
    actions.extend(history.writes.into_iter().map(Action::History));
    let update = history.name;
    let (current, current_template) = match before {
        Some(template) if stored != update => (stored.to_owned(), Some(template)),
        _ => (update.clone(), None),
    };
    Some(Revisions {
        update,
        current,
        current_template,
    })
}

/// The set's claim templates that have a name.
pub fn claim_templates(set: &Value) -> impl Iterator<Item = &Value> {
    set.pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| !str_at(t, "/metadata/name").is_empty())
}

/// The claim of `template` for the set's pod `ordinal`: `{template}-{set}-{ordinal}`.
pub fn claim_name(template: &Value, set_name: &str, ordinal: i64) -> String {
    format!(
        "{}-{set_name}-{ordinal}",
        str_at(template, "/metadata/name")
    )
}

/// The node a claim's volume is pinned to.
pub fn selected_node(claim: &Value) -> Option<&str> {
    meta(claim, "annotations")?
        .get(SELECTED_NODE)?
        .as_str()
        .filter(|n| !n.is_empty())
}

/// `(whenDeleted, whenScaled)` of the claim retention policy: whether claims go with the set,
/// and with a pod scaled away.
fn deletes_claims(set: &Value) -> (bool, bool) {
    let policy = |field: &str| {
        set.pointer("/spec/persistentVolumeClaimRetentionPolicy")
            .and_then(|p| p.get(field))
            .and_then(Value::as_str)
            == Some("Delete")
    };
    (policy("whenDeleted"), policy("whenScaled"))
}

/// The ownerReference a claim gets to the set or to its pod: not a controller one, as
/// Kubernetes sets it; the garbage collector deletes the claim once its owners are gone.
fn claim_owner(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": str_at(owner, "/metadata/name"),
        "uid": uid_of(owner),
    })
}

/// The owners the retention policy gives a claim of `pod` (`None` before the pod exists).
fn wanted_claim_owners(set: &Value, pod: Option<&Value>, scaled_away: bool) -> Vec<Value> {
    let (when_deleted, when_scaled) = deletes_claims(set);
    let mut owners = Vec::new();
    if when_deleted && !(when_scaled && scaled_away) {
        owners.push(claim_owner(set, "apps/v1", "StatefulSet"));
    }
    if let Some(pod) = pod
        && when_scaled
        && scaled_away
    {
        owners.push(claim_owner(pod, "v1", "Pod"));
    }
    owners
}

/// The ownerReferences `claim` of `pod` should have instead of its current ones, if they
/// differ: the policy decides the references to the set and to the pod; others are kept.
pub fn claim_owners_change(
    set: &Value,
    pod: &Value,
    claim: &Value,
    scaled_away: bool,
) -> Option<Vec<Value>> {
    let managed = [uid_of(set), uid_of(pod)];
    let current: Vec<&Value> = meta(claim, "ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let wanted = wanted_claim_owners(set, Some(pod), scaled_away);
    let managed_uids = |refs: &[&Value]| -> Vec<String> {
        let mut uids: Vec<String> = refs
            .iter()
            .map(|r| str_at(r, "/uid").to_owned())
            .filter(|u| managed.contains(&u.as_str()))
            .collect();
        uids.sort();
        uids
    };
    if managed_uids(&current) == managed_uids(&wanted.iter().collect::<Vec<_>>()) {
        return None;
    }
    let mut owners: Vec<Value> = current
        .into_iter()
        .filter(|r| !managed.contains(&str_at(r, "/uid")))
        .cloned()
        .collect();
    owners.extend(wanted);
    Some(owners)
}

/// The claim the set's pod `ordinal` gets from `template`: the template's labels and the
/// set's selector labels, owned by the set when the retention policy deletes it with the set.
pub fn stateful_claim(set: &Value, template: &Value, ordinal: i64) -> Value {
    let (namespace, set_name) = key_of(set);
    let mut labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(match_labels) = set
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    {
        labels.extend(match_labels.clone());
    }
    let mut metadata = Map::new();
    metadata.insert(
        "name".into(),
        json!(claim_name(template, set_name, ordinal)),
    );
    metadata.insert("namespace".into(), json!(namespace));
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    if let Some(annotations) = template
        .pointer("/metadata/annotations")
        .filter(|a| a.is_object())
    {
        metadata.insert("annotations".into(), annotations.clone());
    }
    let owners = wanted_claim_owners(set, None, false);
    if !owners.is_empty() {
        metadata.insert("ownerReferences".into(), Value::Array(owners));
    }
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": Value::Object(metadata),
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

/// The set's pod `ordinal` made from `template` at `revision`, pinned to `node` when its
/// claims' volumes are there.
pub fn stateful_pod(
    set: &Value,
    template: &Value,
    revision: &str,
    ordinal: i64,
    node: Option<&str>,
) -> Value {
    let (_, set_name) = key_of(set);
    let name = format!("{set_name}-{ordinal}");
    let index = ordinal.to_string();
    let mut pod = pod_from_template(
        set,
        template,
        owner_reference(set, "apps/v1", "StatefulSet"),
        PodName::Exact(&name),
        &[
            (super::POD_NAME_LABEL, &name),
            (super::POD_INDEX_LABEL, &index),
            (REVISION_LABEL, revision),
        ],
    );
    let spec = &mut pod["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    spec["hostname"] = json!(name);
    let service = str_at(set, "/spec/serviceName");
    if !service.is_empty() {
        spec["subdomain"] = json!(service);
    }
    // The claims' volumes come first and replace any template volume of the same name.
    let mut volumes: Vec<Value> = claim_templates(set)
        .map(|t| {
            json!({"name": str_at(t, "/metadata/name"),
                "persistentVolumeClaim": {"claimName": claim_name(t, set_name, ordinal)}})
        })
        .collect();
    let claimed: HashSet<String> = volumes
        .iter()
        .map(|v| str_at(v, "/name").to_owned())
        .collect();
    if let Some(existing) = spec.get("volumes").and_then(Value::as_array) {
        volumes.extend(
            existing
                .iter()
                .filter(|v| !claimed.contains(str_at(v, "/name")))
                .cloned(),
        );
    }
    if !volumes.is_empty() {
        spec["volumes"] = Value::Array(volumes);
    }
    if let Some(node) = node {
        require_node(spec, node);
    }
    pod
}
