//! Garbage collector: cascading deletion through ownerReferences. Dependents whose owners are
//! all gone are deleted (background); owners deleted in the foreground wait for their
//! dependents; owners deleted with `orphan` release them first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use edge_api::resource::ResourceInfo;
use serde_json::{Value, json};

use super::{Snapshot, str_at};
use crate::apiserver::Api;
use crate::apiserver::api_delete::{DeleteOptions, FINALIZER_FOREGROUND, FINALIZER_ORPHAN};
use crate::apiserver::api_write::{Part, PatchKind, WriteOptions};
use crate::apiserver::error::ApiError;

/// One step the collector takes.
#[derive(Debug, PartialEq, Eq)]
pub enum GcAction {
    /// Delete a dependent (its owners are gone or being deleted in the foreground).
    Delete { index: usize, foreground: bool },
    /// Drop the ownerReferences to `owner_uid` from a dependent.
    Release { index: usize, owner_uid: String },
    /// Remove a deletion finalizer from an owner whose dependents are dealt with.
    RemoveFinalizer {
        index: usize,
        finalizer: &'static str,
    },
}

/// `metadata.FIELD` of an object, looked up without building a JSON pointer.
fn meta<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    object.get("metadata")?.get(field)
}

/// Pure core: the actions for one snapshot of every object.
///
/// Only dependents (objects with owners) and objects being deleted can need an action, and
/// usually few objects are either, so the plan looks at the rest only to find owners by uid.
pub fn plan(objects: &[(&'static ResourceInfo, Arc<Value>)]) -> Vec<GcAction> {
    let mut dependents: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut deleting_objects: Vec<usize> = Vec::new();
    for (index, (_, object)) in objects.iter().enumerate() {
        let owners: Vec<&str> = meta(object, "ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| r.get("uid").and_then(Value::as_str).unwrap_or(""))
            .collect();
        if !owners.is_empty() {
            dependents.push((index, owners));
        }
        if meta(object, "deletionTimestamp").is_some() {
            deleting_objects.push(index);
        }
    }
    if dependents.is_empty() && deleting_objects.is_empty() {
        return Vec::new();
    }
    let referenced: HashSet<&str> = dependents
        .iter()
        .flat_map(|(_, owners)| owners.iter().copied())
        .collect();
    let by_uid: HashMap<&str, usize> = objects
        .iter()
        .enumerate()
        .filter_map(|(i, (_, o))| {
            let uid = meta(o, "uid").and_then(Value::as_str)?;
            (!uid.is_empty() && referenced.contains(uid)).then_some((uid, i))
        })
        .collect();
    let has_finalizer = |i: usize, f: &str| {
        meta(&objects[i].1, "finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == f))
    };
    let deleting = |i: usize| meta(&objects[i].1, "deletionTimestamp").is_some();
    let mut actions = Vec::new();
    let mut dependents_of: HashMap<usize, usize> = HashMap::new();
    for (index, owners) in dependents {
        let live: Vec<usize> = owners
            .iter()
            .filter_map(|uid| by_uid.get(uid).copied())
            .collect();
        for &owner in &live {
            *dependents_of.entry(owner).or_default() += 1;
        }
        if let Some(&owner) = live
            .iter()
            .find(|&&o| deleting(o) && has_finalizer(o, FINALIZER_ORPHAN))
        {
            actions.push(GcAction::Release {
                index,
                owner_uid: str_at(&objects[owner].1, "/metadata/uid").to_string(),
            });
            continue;
        }
        let all_gone = live.is_empty();
        let foreground_owner = live
            .iter()
            .any(|&o| deleting(o) && has_finalizer(o, FINALIZER_FOREGROUND));
        let all_owners_deleting_fg = !live.is_empty()
            && live
                .iter()
                .all(|&o| deleting(o) && has_finalizer(o, FINALIZER_FOREGROUND));
        if (all_gone || (foreground_owner && all_owners_deleting_fg)) && !deleting(index) {
            actions.push(GcAction::Delete {
                index,
                foreground: foreground_owner,
            });
        }
    }
    let mut seen = HashSet::new();
    for index in deleting_objects {
        if dependents_of.get(&index).copied().unwrap_or(0) > 0 {
            continue;
        }
        for finalizer in [FINALIZER_FOREGROUND, FINALIZER_ORPHAN] {
            if has_finalizer(index, finalizer) && seen.insert((index, finalizer)) {
                actions.push(GcAction::RemoveFinalizer { index, finalizer });
            }
        }
    }
    actions
}

/// Applies the collector's plan for one snapshot.
pub async fn reconcile(api: &Api, snapshot: &Snapshot) -> Result<(), ApiError> {
    for action in plan(&snapshot.objects) {
        let result = match &action {
            GcAction::Delete { index, foreground } => {
                let (info, object) = &snapshot.objects[*index];
                let opts = DeleteOptions {
                    propagation_policy: Some(
                        if *foreground {
                            "Foreground"
                        } else {
                            "Background"
                        }
                        .to_string(),
                    ),
                    ..DeleteOptions::default()
                };
                api.delete(
                    info,
                    namespace_of(object),
                    str_at(object, "/metadata/name"),
                    &opts,
                )
                .await
                .map(|_| ())
            }
            GcAction::Release { index, owner_uid } => {
                let (info, object) = &snapshot.objects[*index];
                let kept: Vec<Value> = object
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
                    .cloned()
                    .collect();
                let patch = json!({"metadata": {"ownerReferences": kept, "resourceVersion": str_at(object, "/metadata/resourceVersion")}});
                patch_object(api, info, object, &patch).await
            }
            GcAction::RemoveFinalizer { index, finalizer } => {
                let (info, object) = &snapshot.objects[*index];
                let kept: Vec<Value> = object
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|f| f.as_str() != Some(finalizer))
                    .cloned()
                    .collect();
                let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": str_at(object, "/metadata/resourceVersion")}});
                patch_object(api, info, object, &patch).await
            }
        };
        match result {
            Ok(()) => {}
            // Someone else moved first; the next pass sees the new state.
            Err(err) if err.code() == 404 || err.code() == 409 => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn namespace_of(object: &Value) -> Option<&str> {
    Some(str_at(object, "/metadata/namespace")).filter(|s| !s.is_empty())
}

async fn patch_object(
    api: &Api,
    info: &ResourceInfo,
    object: &Value,
    patch: &Value,
) -> Result<(), ApiError> {
    let body = serde_json::to_vec(patch)?;
    api.patch(
        info,
        namespace_of(object),
        str_at(object, "/metadata/name"),
        PatchKind::Merge,
        &body,
        Part::Main,
        WriteOptions::default(),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_api::resource;

    fn obj(uid: &str, owners: &[&str], deleting: bool, finalizers: &[&str]) -> Arc<Value> {
        let refs: Vec<Value> = owners
            .iter()
            .map(|o| json!({"uid": o, "kind": "ReplicaSet", "name": o, "apiVersion": "apps/v1"}))
            .collect();
        let mut v = json!({"metadata": {"name": uid, "namespace": "a", "uid": uid, "ownerReferences": refs, "finalizers": finalizers}});
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        Arc::new(v)
    }

    #[test]
    fn plans_cascades() {
        let pods = resource::lookup("", "v1", "pods").expect("pods");
        let rs = resource::lookup("apps", "v1", "replicasets").expect("rs");
        // An orphaned dependent is deleted; a dependent of a live owner stays.
        let objects = vec![
            (pods, obj("p1", &["gone"], false, &[])),
            (rs, obj("rs", &[], false, &[])),
            (pods, obj("p2", &["rs"], false, &[])),
        ];
        assert_eq!(
            plan(&objects),
            vec![GcAction::Delete {
                index: 0,
                foreground: false
            }]
        );
        // Foreground: dependents deleted first, the finalizer stays while they exist.
        let objects = vec![
            (rs, obj("rs", &[], true, &[FINALIZER_FOREGROUND])),
            (pods, obj("p", &["rs"], false, &[])),
        ];
        assert_eq!(
            plan(&objects),
            vec![GcAction::Delete {
                index: 1,
                foreground: true
            }]
        );
        let objects = vec![(rs, obj("rs", &[], true, &[FINALIZER_FOREGROUND]))];
        assert_eq!(
            plan(&objects),
            vec![GcAction::RemoveFinalizer {
                index: 0,
                finalizer: FINALIZER_FOREGROUND
            }]
        );
        // Orphan: dependents are released, then the finalizer goes.
        let objects = vec![
            (rs, obj("rs", &[], true, &[FINALIZER_ORPHAN])),
            (pods, obj("p", &["rs"], false, &[])),
        ];
        assert_eq!(
            plan(&objects),
            vec![GcAction::Release {
                index: 1,
                owner_uid: "rs".into()
            }]
        );
        let objects = vec![
            (rs, obj("rs", &[], true, &[FINALIZER_ORPHAN])),
            (pods, obj("p", &[], false, &[])),
        ];
        assert_eq!(
            plan(&objects),
            vec![GcAction::RemoveFinalizer {
                index: 0,
                finalizer: FINALIZER_ORPHAN
            }]
        );
    }
}
