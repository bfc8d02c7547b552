//! A deployment's ReplicaSet as its controller plans it: stored and planned versions, the
//! annotations Kubernetes keeps on it, and template equality ignoring the pod-template-hash.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::controllers::str_at;
use crate::controllers::workload::{POD_TEMPLATE_HASH, REVISION_ANNOTATION, int_at, meta};

/// The deployment's replicas when its ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The deployment's replicas plus maxSurge when its ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The earlier revisions a ReplicaSet served, when a rollback made it new again.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// Kubernetes keeps the revision history annotation under this many characters.
const REVISION_HISTORY_CHARS: usize = 2000;
/// Deployment annotations that are not copied to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
/// `math.MaxInt32`, which Kubernetes reads as "no limit" for the deadline and history limit.
pub(super) const UNLIMITED: i64 = i32::MAX as i64;

/// A ReplicaSet of the deployment: as stored, and as planned (the same `Arc` until a step
/// changes it). A ReplicaSet to be created has no stored version.
pub(super) struct Rs {
    pub(super) stored: Option<Arc<Value>>,
    pub(super) object: Arc<Value>,
}

impl Rs {
    pub(super) fn name(&self) -> &str {
        str_at(&self.object, "/metadata/name")
    }

    /// Planned `spec.replicas`.
    pub(super) fn replicas(&self) -> i64 {
        int_at(&self.object, "/spec/replicas", 1)
    }

    /// `spec.replicas` before this pass (planned for one being created), which is what
    /// Kubernetes' status arithmetic sees.
    pub(super) fn stored_replicas(&self) -> i64 {
        self.stored
            .as_ref()
            .map_or_else(|| self.replicas(), |s| int_at(s, "/spec/replicas", 1))
    }

    /// A `status` count (0 when absent).
    pub(super) fn status(&self, field: &str) -> i64 {
        self.object
            .get("status")
            .and_then(|s| s.get(field))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// Available pods that stay available once the ReplicaSet controller has caught up with
    /// the planned size: a ReplicaSet scaled below its available count loses the surplus.
    pub(super) fn available_after_scaling(&self) -> i64 {
        self.status("availableReplicas").min(self.replicas()).max(0)
    }

    pub(super) fn annotation(&self, key: &str) -> Option<&str> {
        meta(&self.object, "annotations")?.get(key)?.as_str()
    }

    pub(super) fn int_annotation(&self, key: &str) -> Option<i64> {
        self.annotation(key)?.parse().ok()
    }

    /// The revision annotation: 0 when missing, `None` when it is not a number.
    pub(super) fn revision(&self) -> Option<i64> {
        match self.annotation(REVISION_ANNOTATION) {
            None => Some(0),
            Some(v) => v.parse().ok(),
        }
    }

    pub(super) fn set_annotation(&mut self, key: &str, value: &str) -> bool {
        if self.annotation(key) == Some(value) {
            return false;
        }
        set_path(
            Arc::make_mut(&mut self.object),
            &["metadata", "annotations", key],
            json!(value),
        );
        true
    }

    pub(super) fn set_replicas(&mut self, replicas: i64) {
        if self.replicas() != replicas {
            set_path(
                Arc::make_mut(&mut self.object),
                &["spec", "replicas"],
                json!(replicas),
            );
        }
    }

    pub(super) fn changed(&self) -> bool {
        match &self.stored {
            Some(stored) => !Arc::ptr_eq(stored, &self.object) && **stored != *self.object,
            None => true,
        }
    }
}

/// Oldest first, by creation time and then name, as Kubernetes' `ReplicaSetsByCreationTimestamp`;
/// one still to be created is the newest.
pub(super) fn by_creation(a: &Rs, b: &Rs) -> Ordering {
    let key = |rs: &Rs| {
        (
            rs.stored.is_none(),
            str_at(&rs.object, "/metadata/creationTimestamp").to_owned(),
            rs.name().to_owned(),
        )
    };
    key(a).cmp(&key(b))
}

/// Sets `path` in `target`, making objects of whatever is in the way.
pub(super) fn set_path(target: &mut Value, path: &[&str], leaf: Value) {
    let mut at = target;
    for key in path {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at = match at {
            Value::Object(map) => map.entry(*key).or_insert(Value::Null),
            _ => return,
        };
    }
    *at = leaf;
}

/// Whether two pod templates are the same, ignoring the pod-template-hash label (Kubernetes'
/// `EqualIgnoreHash`). As Kubernetes' semantic equality, a missing field equals an empty one.
pub fn templates_equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    let strip = |t: Option<&Value>| {
        let mut t = t.cloned().unwrap_or(Value::Null);
        if let Some(labels) = t
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            labels.remove(POD_TEMPLATE_HASH);
        }
        t
    };
    edge_api::meta::semantically_equal(&strip(a), &strip(b))
}

/// Kubernetes' `copyDeploymentAnnotationsToReplicaSet`: the deployment's annotations
/// (`kubernetes.io/change-cause` among them), except its own bookkeeping, are added to the
/// ReplicaSet.
pub(super) fn copy_annotations(d: &Value, rs: &mut Rs) {
    let Some(annotations) = meta(d, "annotations").and_then(Value::as_object) else {
        return;
    };
    for (key, value) in annotations {
        if let Some(value) = value.as_str()
            && !NOT_COPIED.contains(&key.as_str())
        {
            rs.set_annotation(key, value);
        }
    }
}

/// Appends the revision a rolled-back-to ReplicaSet had to its revision history, keeping the
/// annotation under Kubernetes' length limit.
pub(super) fn append_revision_history(rs: &mut Rs, old: &str) {
    let history = rs.annotation(REVISION_HISTORY).unwrap_or("").to_owned();
    let mut entries: Vec<&str> = history.split(',').filter(|s| !s.is_empty()).collect();
    entries.push(old);
    while entries.len() > 1 && entries.join(",").len() > REVISION_HISTORY_CHARS {
        entries.remove(0);
    }
    let joined = entries.join(",");
    if joined.len() <= REVISION_HISTORY_CHARS {
        rs.set_annotation(REVISION_HISTORY, &joined);
    }
}
