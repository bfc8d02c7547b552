//! The controllers' view of the cluster: every object, kept current by one store watch (an
//! informer, in Kubernetes terms).
//!
//! The cache lists the store once, then applies watch events as they come; it re-lists only when
//! the watch ends (the watcher lagged, or a snapshot was installed). Objects are the parsed values
//! the watch hub already holds, shared, so a controller pass costs no parsing and no store reads,
//! however many objects there are.

use std::collections::BTreeMap;
use std::sync::Arc;

use edge_api::resource::{self, ResourceInfo};
use serde_json::Value;

use crate::store::{EventKind, Store, StoreError, WatchEnd, WatchEvent, Watcher};

/// All stored objects live under this prefix.
const PREFIX: &str = "/registry/";

/// Every object in the store, as of [`ObjectCache::revision`].
pub struct ObjectCache {
    objects: BTreeMap<String, (&'static ResourceInfo, Arc<Value>)>,
    revision: u64,
    watcher: Watcher,
    dirty: Dirty,
}

/// Which controllers the changes applied since the last [`ObjectCache::take_dirty`] may concern,
/// so that a burst of unrelated writes does not make every controller look at everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dirty {
    /// An object with owners or being deleted changed, or an object went (it may have owned
    /// something).
    pub gc: bool,
    /// A namespace changed, or an object went (a terminating namespace may now be empty).
    pub namespaces: bool,
    /// A node or a lease changed.
    pub nodes: bool,
    /// A pod, node, claim or workload (ReplicaSet, Deployment, DaemonSet, StatefulSet, Job,
    /// CronJob) changed.
    pub workloads: bool,
}

impl Dirty {
    /// Everything, for a full resync.
    pub const ALL: Dirty = Dirty {
        gc: true,
        namespaces: true,
        nodes: true,
        workloads: true,
    };

    fn of(event: &WatchEvent, info: Option<&ResourceInfo>) -> Dirty {
        if event.kind == EventKind::Deleted {
            return Dirty::ALL;
        }
        let metadata = event.object.get("metadata");
        let owned = metadata
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .is_some_and(|refs| !refs.is_empty());
        let deleting = metadata.is_some_and(|m| m.get("deletionTimestamp").is_some());
        Dirty {
            gc: owned || deleting,
            namespaces: info.is_some_and(|i| i.plural == "namespaces" && i.group.is_empty()),
            nodes: info.is_some_and(|i| {
                (i.plural == "nodes" && i.group.is_empty())
                    || (i.plural == "leases" && i.group == "coordination.k8s.io")
            }),
            workloads: info.is_some_and(is_workload),
        }
    }

    fn merge(&mut self, other: Dirty) {
        self.gc |= other.gc;
        self.namespaces |= other.namespaces;
        self.nodes |= other.nodes;
        self.workloads |= other.workloads;
    }
}

/// Whether workload controllers care about objects of `info`.
fn is_workload(info: &ResourceInfo) -> bool {
    match info.group {
        "" => matches!(info.plural, "pods" | "nodes" | "persistentvolumeclaims"),
        "apps" => matches!(
            info.plural,
            "replicasets" | "deployments" | "daemonsets" | "statefulsets"
        ),
        "batch" => matches!(info.plural, "jobs" | "cronjobs"),
        _ => false,
    }
}

/// One consistent view of every object, for one controller pass.
pub struct Snapshot {
    pub objects: Vec<(&'static ResourceInfo, Arc<Value>)>,
}

impl ObjectCache {
    /// Lists every object and starts watching from the listed revision.
    pub fn sync(store: &Store) -> Result<ObjectCache, StoreError> {
        // The watch starts from the list's revision, so nothing between the two is missed. A
        // list older than the watch window (only possible right after a snapshot install) fails
        // the watch; the caller retries.
        let listed = store.list(PREFIX, None, None)?;
        let watcher = store
            .watch(PREFIX, listed.revision)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut objects = BTreeMap::new();
        for item in listed.items {
            let Some(info) = resource_of(&item.key) else {
                continue;
            };
            match serde_json::from_slice::<Value>(&item.bytes) {
                Ok(value) => {
                    objects.insert(item.key, (info, Arc::new(value)));
                }
                Err(e) => tracing::warn!(key = %item.key, "skipping unreadable object: {e}"),
            }
        }
        Ok(ObjectCache {
            objects,
            revision: listed.revision,
            watcher,
            dirty: Dirty::ALL,
        })
    }

    /// Waits for the next change and applies it, then applies every change that is already
    /// waiting. An error means the watch ended: sync a new cache.
    pub async fn changed(&mut self) -> Result<(), WatchEnd> {
        let event = self.watcher.next().await?;
        self.apply(event);
        self.catch_up()
    }

    /// Applies every change that is waiting, without blocking.
    pub fn catch_up(&mut self) -> Result<(), WatchEnd> {
        while let Some(event) = self.watcher.try_next() {
            self.apply(event?);
        }
        Ok(())
    }

    fn apply(&mut self, event: WatchEvent) {
        self.revision = event.revision;
        let info = resource_of(&event.key);
        self.dirty.merge(Dirty::of(&event, info));
        match event.kind {
            EventKind::Deleted => {
                self.objects.remove(&event.key);
            }
            EventKind::Added | EventKind::Modified => {
                if let Some(info) = info {
                    self.objects.insert(event.key, (info, event.object));
                }
            }
        }
    }

    /// Marks controllers to run again (after a failed pass).
    pub fn mark_dirty(&mut self, dirty: Dirty) {
        self.dirty.merge(dirty);
    }

    /// What the changes since the last call may concern; clears it.
    pub fn take_dirty(&mut self) -> Dirty {
        std::mem::take(&mut self.dirty)
    }

    /// The revision of the last change applied to the cache.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Every cached object, in key order.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            objects: self
                .objects
                .values()
                .map(|(info, object)| (*info, object.clone()))
                .collect(),
        }
    }
}

/// The resource a store key belongs to.
fn resource_of(key: &str) -> Option<&'static ResourceInfo> {
    resource::all()
        .iter()
        .find(|info| key.starts_with(&info.prefix(None)))
}

/// A snapshot of `objects` for unit tests, each stored under the resource of its
/// `apiVersion` and `kind`.
#[cfg(test)]
pub fn snapshot_of(objects: &[Value]) -> Snapshot {
    let info = |o: &Value| {
        let (api_version, kind) = (super::str_at(o, "/apiVersion"), super::str_at(o, "/kind"));
        edge_api::resource::by_kind(api_version, kind)
            .unwrap_or_else(|| panic!("test object of unknown kind {api_version} {kind}"))
    };
    Snapshot {
        objects: objects
            .iter()
            .map(|o| (info(o), Arc::new(o.clone())))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, key: &str, object: Value) -> WatchEvent {
        WatchEvent {
            revision: 7,
            kind,
            key: key.to_owned(),
            object: Arc::new(object),
            prev_object: None,
        }
    }

    #[test]
    fn only_relevant_changes_wake_controllers() {
        use serde_json::json;
        const CM: &str = "/registry/core/configmaps/default/c";
        const NS: &str = "/registry/core/namespaces/demo";
        let plain = json!({"metadata": {"name": "c"}});
        let owned = json!({"metadata": {"name": "c", "ownerReferences": [{"uid": "u"}]}});
        let deleting =
            json!({"metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        let cases = [
            (EventKind::Added, CM, plain.clone(), Dirty::default()),
            (EventKind::Modified, CM, plain.clone(), Dirty::default()),
            (
                EventKind::Added,
                CM,
                owned,
                Dirty {
                    gc: true,
                    ..Dirty::default()
                },
            ),
            (
                EventKind::Modified,
                CM,
                deleting,
                Dirty {
                    gc: true,
                    ..Dirty::default()
                },
            ),
            (EventKind::Deleted, CM, plain.clone(), Dirty::ALL),
            (
                EventKind::Modified,
                "/registry/core/nodes/n1",
                plain.clone(),
                Dirty {
                    nodes: true,
                    workloads: true,
                    ..Dirty::default()
                },
            ),
            (
                EventKind::Added,
                NS,
                plain,
                Dirty {
                    namespaces: true,
                    ..Dirty::default()
                },
            ),
        ];
        for (kind, key, object, want) in cases {
            let event = event(kind, key, object);
            assert_eq!(Dirty::of(&event, resource_of(key)), want, "{kind:?} {key}");
        }
    }

    #[test]
    fn keys_map_to_their_resource() {
        let cases = [
            ("/registry/core/pods/default/web", Some("pods")),
            ("/registry/core/namespaces/demo", Some("namespaces")),
            ("/registry/apps/deployments/demo/web", Some("deployments")),
            ("/registry/core/podsx/default/web", None),
            ("/elsewhere/core/pods/default/web", None),
        ];
        for (key, plural) in cases {
            assert_eq!(resource_of(key).map(|i| i.plural), plural, "{key}");
        }
    }
}
