//! ControllerRevisions: the template history of DaemonSets and StatefulSets, as Kubernetes'
//! `controller/history` keeps it. Each distinct pod template a set has had is one revision
//! named `{set}-{hash}`, numbered in the order the set took it on; going back to an older
//! template renumbers that revision instead of making a new one, and revisions beyond
//! `revisionHistoryLimit` that no pod runs are deleted. `rollout history` and `rollout undo`
//! read them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use edge_api::meta::revision_template;
use serde_json::{Value, json};

use super::workload::{
    controller_uid, int_at, key_of, meta, of_kind, owner_reference, resource, template_hash, uid_of,
};
use super::writes::merge_patch;
use super::{Context, Snapshot, str_at};
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::apiserver::error::ApiError;

/// The label a ControllerRevision carries its hash in.
pub const REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// One write to a set's history.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryWrite {
    /// Create this ControllerRevision (the set's template is new).
    Create(Value),
    /// Give an older revision the newest number again (the set went back to it).
    Renumber { name: String, revision: i64 },
    /// Delete a revision beyond `revisionHistoryLimit`.
    Delete { name: String },
}

/// The revision the set's template is at, and the writes that record it.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The revision's name, `{set}-{hash}`.
    pub name: String,
    /// The revision's hash (its `controller.kubernetes.io/hash` label).
    pub hash: String,
    pub writes: Vec<HistoryWrite>,
}

/// The ControllerRevisions of a snapshot, by controller and by name.
pub struct Index<'a> {
    owned: HashMap<&'a str, Vec<&'a Arc<Value>>>,
    names: HashSet<(&'a str, &'a str)>,
}

impl<'a> Index<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let mut index = Index {
            owned: HashMap::new(),
            names: HashSet::new(),
        };
        for revision in of_kind(snapshot, "apps", "controllerrevisions") {
            index.names.insert(key_of(revision));
            if let Some(uid) = controller_uid(revision) {
                index.owned.entry(uid).or_default().push(revision);
            }
        }
        index
    }

    /// The revisions `set` controls.
    pub fn owned(&self, set: &Value) -> Vec<&'a Arc<Value>> {
        let (namespace, _) = key_of(set);
        self.owned
            .get(uid_of(set))
            .into_iter()
            .flatten()
            .filter(|r| key_of(r).0 == namespace)
            .copied()
            .collect()
    }

    fn taken(&self, namespace: &str, name: &str) -> bool {
        self.names.contains(&(namespace, name))
    }
}

/// The ControllerRevision recording `set`'s template at `hash`, numbered `number`: the
/// template's labels plus the hash, the set's annotations (where `rollout history` finds the
/// change cause), and the template as a patch that replaces it.
pub fn controller_revision(set: &Value, hash: &str, number: i64) -> Value {
    let (namespace, name) = key_of(set);
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), json!(hash));
    let mut patch = template;
    if let Some(map) = patch.as_object_mut() {
        map.insert("$patch".into(), json!("replace"));
    }
    let mut metadata = json!({
        "name": format!("{name}-{hash}"),
        "namespace": namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(set, "apps/v1", str_at(set, "/kind"))],
    });
    if let Some(annotations) = meta(set, "annotations").filter(|a| a.is_object()) {
        metadata["annotations"] = annotations.clone();
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": metadata,
        "data": {"spec": {"template": patch}},
        "revision": number,
    })
}

/// The revision number of a ControllerRevision.
fn revision_number(revision: &Value) -> i64 {
    int_at(revision, "/revision", 0)
}

/// The hash of a ControllerRevision: its label, else its name after the set's.
fn revision_hash(revision: &Value, set_name: &str) -> String {
    let label = meta(revision, "labels")
        .and_then(|l| l.get(REVISION_HASH_LABEL))
        .and_then(Value::as_str);
    match label {
        Some(hash) => hash.to_owned(),
        None => {
            let name = key_of(revision).1;
            let hash = name
                .strip_prefix(set_name)
                .and_then(|h| h.strip_prefix('-'));
            hash.unwrap_or(name).to_owned()
        }
    }
}

/// The set's revision from the ControllerRevisions it owns, with the writes that bring the
/// history up to date; revisions named in `keep` (those pods still run) are never pruned.
/// `None` on a hash collision (the name taken by a revision with another template), which the
/// caller answers by raising `status.collisionCount`.
pub fn sync(set: &Value, index: &Index<'_>, keep: &HashSet<&str>) -> Option<History> {
    let (namespace, set_name) = key_of(set);
    let mut owned = index.owned(set);
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    owned.sort_by(|a, b| {
        revision_number(a)
            .cmp(&revision_number(b))
            .then_with(|| key_of(a).1.cmp(key_of(b).1))
    });
    let newest = owned.last().map_or(0, |r| revision_number(r));
    let mut writes = Vec::new();
    let equal = owned
        .iter()
        .rev()
        .find(|r| revision_template(r) == template);
    let (name, hash) = match equal {
        Some(revision) => {
            if revision_number(revision) != newest {
                writes.push(HistoryWrite::Renumber {
                    name: key_of(revision).1.to_owned(),
                    revision: newest + 1,
                });
            }
            (
                key_of(revision).1.to_owned(),
                revision_hash(revision, set_name),
            )
        }
        None => {
            let collisions = set
                .pointer("/status/collisionCount")
                .and_then(Value::as_i64);
            let hash = template_hash(&template, collisions);
            let name = format!("{set_name}-{hash}");
            if index.taken(namespace, &name) {
                return None;
            }
            writes.push(HistoryWrite::Create(controller_revision(
                set,
                &hash,
                newest + 1,
            )));
            (name, hash)
        }
    };
    // History beyond the limit goes, oldest first.
    let old: Vec<&&Arc<Value>> = owned
        .iter()
        .filter(|r| {
            let revision = key_of(r).1;
            revision != name && !keep.contains(revision)
        })
        .collect();
    let limit = usize::try_from(int_at(set, "/spec/revisionHistoryLimit", 10)).unwrap_or(0);
    for revision in old.iter().take(old.len().saturating_sub(limit)) {
        writes.push(HistoryWrite::Delete {
            name: key_of(revision).1.to_owned(),
        });
    }
    Some(History { name, hash, writes })
}

/// Writes one history change in `namespace`.
pub async fn write(ctx: &Context, namespace: &str, change: HistoryWrite) -> Result<(), ApiError> {
    let revisions = resource("apps", "v1", "controllerrevisions");
    match change {
        HistoryWrite::Create(revision) => ctx
            .api
            .create(
                revisions,
                Some(namespace),
                revision,
                WriteOptions::default(),
            )
            .await
            .map(drop),
        HistoryWrite::Renumber { name, revision } => {
            let patch = json!({"revision": revision});
            merge_patch(ctx, revisions, (namespace, &name), &patch, Part::Main)
                .await
                .map(drop)
        }
        HistoryWrite::Delete { name } => ctx
            .api
            .delete(revisions, Some(namespace), &name, &DeleteOptions::default())
            .await
            .map(drop),
    }
}
