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
        match event.kind {
            EventKind::Deleted => {
                self.objects.remove(&event.key);
            }
            EventKind::Added | EventKind::Modified => {
                if let Some(info) = resource_of(&event.key) {
                    self.objects.insert(event.key, (info, event.object));
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
