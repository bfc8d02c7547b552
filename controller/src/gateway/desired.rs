//! The desired state of every connected node, kept current from one store watch.
//!
//! One task lists pods, ConfigMaps, Secrets and PersistentVolumeClaims, then follows the store's
//! watch. It indexes pods by node and by the objects they refer to, so a change recomputes only
//! the run specs of the nodes it concerns, and only for nodes whose agent is connected (a
//! session subscribes). Sessions receive whole [`NodeDesired`] values through a `watch` channel
//! and diff them against what they sent; a slow session only ever misses intermediate states.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_api::resource::{self, ResourceInfo};
use edge_wire::link::PodRunSpec;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::lock;
use super::run_spec::{ObjectLookup, RefKind, pod_run_spec, references};
use crate::store::{EventKind, Store, WatchEvent, Watcher};

/// Pause before listing again after the watch ended or the store was unavailable.
const RESYNC_PAUSE: Duration = Duration::from_millis(200);

/// What one node should run, as of a store revision.
#[derive(Debug, Default, PartialEq)]
pub struct NodeDesired {
    pub revision: u64,
    /// Run specs by pod uid.
    pub pods: BTreeMap<String, Arc<PodRunSpec>>,
    /// The claims whose local volumes the node keeps (see `ControllerMessage::Claims`).
    pub claims: BTreeSet<String>,
}

/// A session's view of its node's desired state: `None` until first computed.
pub type DesiredReceiver = watch::Receiver<Option<Arc<NodeDesired>>>;

/// The subscriptions of connected nodes; cheap to clone.
#[derive(Clone, Default)]
pub struct DesiredState {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    subscribers: Mutex<HashMap<String, watch::Sender<Option<Arc<NodeDesired>>>>>,
    /// Nodes subscribed since the task last looked; computed on its next turn.
    fresh: Mutex<HashSet<String>>,
    wake: Notify,
}

impl DesiredState {
    /// Follows `node`'s desired state. A second subscription for the same node (an agent that
    /// reconnected) shares the channel.
    pub fn subscribe(&self, node: &str) -> DesiredReceiver {
        let receiver = {
            let mut subscribers = lock(&self.shared.subscribers);
            match subscribers.get(node) {
                Some(sender) if !sender.is_closed() => sender.subscribe(),
                _ => {
                    let (sender, receiver) = watch::channel(None);
                    subscribers.insert(node.to_owned(), sender);
                    receiver
                }
            }
        };
        lock(&self.shared.fresh).insert(node.to_owned());
        self.shared.wake.notify_one();
        receiver
    }

    /// Nodes with a live subscription; forgets the others.
    fn subscribed(&self) -> HashSet<String> {
        let mut subscribers = lock(&self.shared.subscribers);
        subscribers.retain(|_, sender| !sender.is_closed());
        subscribers.keys().cloned().collect()
    }

    fn publish(&self, node: &str, desired: NodeDesired) {
        let subscribers = lock(&self.shared.subscribers);
        if let Some(sender) = subscribers.get(node) {
            sender.send_if_modified(|current| {
                let same = current.as_ref().is_some_and(|c| {
                    c.pods == desired.pods
                        && c.claims == desired.claims
                        && c.revision >= desired.revision
                });
                if same {
                    return false;
                }
                *current = Some(Arc::new(desired));
                true
            });
        }
    }
}

/// Keeps every subscribed node's desired state current until `shutdown`.
pub async fn run(store: Store, state: DesiredState, shutdown: CancellationToken) {
    loop {
        let (mut index, mut watcher) = match Index::sync(&store) {
            Ok(synced) => synced,
            Err(err) => {
                tracing::debug!("agent gateway: cannot list the store: {err}");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(RESYNC_PAUSE) => continue,
                }
            }
        };
        // Everyone subscribed gets a fresh computation after a (re)sync.
        let mut dirty: HashSet<String> = state.subscribed();
        lock(&state.shared.fresh).clear();
        loop {
            let subscribed = state.subscribed();
            for node in dirty.drain().filter(|n| subscribed.contains(n)) {
                state.publish(&node, index.desired(&node));
            }
            let event = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = state.shared.wake.notified() => None,
                event = watcher.next() => Some(event),
            };
            dirty.extend(lock(&state.shared.fresh).drain());
            let Some(event) = event else { continue };
            let mut ended = false;
            let mut next = Some(event);
            while let Some(event) = next.take() {
                match event {
                    Ok(event) => index.apply(event, &mut dirty),
                    Err(end) => {
                        tracing::debug!("agent gateway: watch ended: {end}");
                        ended = true;
                        break;
                    }
                }
                next = watcher.try_next();
            }
            // Which claims a node keeps depends on every claim.
            if std::mem::take(&mut index.claims_changed) {
                dirty.extend(state.subscribed());
            }
            if ended {
                break;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RESYNC_PAUSE) => {}
        }
    }
}

/// Pods by node, and the objects pods refer to.
struct Index {
    revision: u64,
    pods_info: &'static ResourceInfo,
    /// Pod key → (node, pod).
    pods: HashMap<String, (String, Arc<Value>)>,
    by_node: HashMap<String, BTreeSet<String>>,
    objects: HashMap<(RefKind, String, String), Arc<Value>>,
    /// Referred object → keys of the pods that refer to it.
    referrers: HashMap<(RefKind, String, String), HashSet<String>>,
    /// A claim was added, changed or removed since the nodes were last marked for it.
    claims_changed: bool,
}

impl Index {
    fn sync(store: &Store) -> Result<(Index, Watcher), String> {
        let pods_info = info("pods")?;
        let listed = store
            .list("/registry/", None, None)
            .map_err(|e| e.to_string())?;
        let watcher = store
            .watch("/registry/", listed.revision)
            .map_err(|e| e.to_string())?;
        let mut index = Index {
            revision: listed.revision,
            pods_info,
            pods: HashMap::new(),
            by_node: HashMap::new(),
            objects: HashMap::new(),
            referrers: HashMap::new(),
            claims_changed: false,
        };
        let mut ignored = HashSet::new();
        for item in listed.items {
            if index.kind_of(&item.key).is_none() {
                continue;
            }
            match serde_json::from_slice::<Value>(&item.bytes) {
                Ok(object) => index.put(item.key, Arc::new(object), &mut ignored),
                Err(e) => tracing::warn!(key = %item.key, "skipping unreadable object: {e}"),
            }
        }
        Ok((index, watcher))
    }

    fn kind_of(&self, key: &str) -> Option<Kind> {
        if key.starts_with(&self.pods_info.prefix(None)) {
            return Some(Kind::Pod);
        }
        REF_KINDS
            .iter()
            .find(|(_, plural)| info(plural).is_ok_and(|info| key.starts_with(&info.prefix(None))))
            .map(|(kind, _)| Kind::Ref(*kind))
    }

    fn apply(&mut self, event: WatchEvent, dirty: &mut HashSet<String>) {
        self.revision = event.revision;
        if self.kind_of(&event.key).is_none() {
            return;
        }
        match event.kind {
            EventKind::Deleted => self.remove(&event.key, &event.object, dirty),
            EventKind::Added | EventKind::Modified => self.put(event.key, event.object, dirty),
        }
    }

    fn put(&mut self, key: String, object: Arc<Value>, dirty: &mut HashSet<String>) {
        match self.kind_of(&key) {
            Some(Kind::Pod) => {
                self.remove_pod(&key, dirty);
                let Some(node) = node_name(&object) else {
                    return;
                };
                let namespace = namespace_of(&object);
                for (kind, name) in references(&object) {
                    self.referrers
                        .entry((kind, namespace.clone(), name))
                        .or_default()
                        .insert(key.clone());
                }
                self.by_node
                    .entry(node.clone())
                    .or_default()
                    .insert(key.clone());
                dirty.insert(node.clone());
                self.pods.insert(key, (node, object));
            }
            Some(Kind::Ref(kind)) => {
                self.claims_changed |= kind == RefKind::PersistentVolumeClaim;
                let id = (kind, namespace_of(&object), name_of(&object));
                self.mark_referrers(&id, dirty);
                self.objects.insert(id, object);
            }
            None => {}
        }
    }

    fn remove(&mut self, key: &str, last: &Value, dirty: &mut HashSet<String>) {
        match self.kind_of(key) {
            Some(Kind::Pod) => self.remove_pod(key, dirty),
            Some(Kind::Ref(kind)) => {
                self.claims_changed |= kind == RefKind::PersistentVolumeClaim;
                let id = (kind, namespace_of(last), name_of(last));
                self.mark_referrers(&id, dirty);
                self.objects.remove(&id);
            }
            None => {}
        }
    }

    fn remove_pod(&mut self, key: &str, dirty: &mut HashSet<String>) {
        let Some((node, old)) = self.pods.remove(key) else {
            return;
        };
        let namespace = namespace_of(&old);
        for (kind, name) in references(&old) {
            let id = (kind, namespace.clone(), name);
            if let Some(keys) = self.referrers.get_mut(&id) {
                keys.remove(key);
                if keys.is_empty() {
                    self.referrers.remove(&id);
                }
            }
        }
        if let Some(keys) = self.by_node.get_mut(&node) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_node.remove(&node);
            }
        }
        dirty.insert(node);
    }

    fn mark_referrers(&self, id: &(RefKind, String, String), dirty: &mut HashSet<String>) {
        for key in self.referrers.get(id).into_iter().flatten() {
            if let Some((node, _)) = self.pods.get(key) {
                dirty.insert(node.clone());
            }
        }
    }

    fn desired(&self, node: &str) -> NodeDesired {
        let pods = self
            .by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|key| self.pods.get(key))
            .map(|(_, pod)| {
                let spec = pod_run_spec(pod, self);
                (spec.uid.clone(), Arc::new(spec))
            })
            .collect();
        NodeDesired {
            revision: self.revision,
            pods,
            claims: self.kept_claims(node),
        }
    }

    /// The uids of the claims that exist and are not pinned to a node other than `node`.
    fn kept_claims(&self, node: &str) -> BTreeSet<String> {
        self.objects
            .iter()
            .filter(|((kind, _, _), _)| *kind == RefKind::PersistentVolumeClaim)
            .filter(|(_, claim)| {
                let pinned = claim
                    .pointer("/metadata/annotations/volume.kubernetes.io~1selected-node")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                pinned.is_empty() || pinned == node
            })
            .filter_map(|(_, claim)| claim.pointer("/metadata/uid").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }
}

impl ObjectLookup for Index {
    fn get(&self, kind: RefKind, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(&(kind, namespace.to_owned(), name.to_owned()))
            .cloned()
    }
}

/// The objects pods refer to, and their resources.
const REF_KINDS: [(RefKind, &str); 3] = [
    (RefKind::ConfigMap, "configmaps"),
    (RefKind::Secret, "secrets"),
    (RefKind::PersistentVolumeClaim, "persistentvolumeclaims"),
];

#[derive(Clone, Copy)]
enum Kind {
    Pod,
    Ref(RefKind),
}

fn info(plural: &str) -> Result<&'static ResourceInfo, String> {
    resource::lookup("", "v1", plural).ok_or_else(|| format!("{plural} are not registered"))
}

fn node_name(pod: &Value) -> Option<String> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

fn namespace_of(object: &Value) -> String {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn name_of(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(name: &str, uid: &str, node: Option<&str>) -> Arc<Value> {
        let mut claim = json!({"metadata": {"name": name, "namespace": "default", "uid": uid}});
        if let Some(node) = node {
            claim["metadata"]["annotations"] = json!({"volume.kubernetes.io/selected-node": node});
        }
        Arc::new(claim)
    }

    #[test]
    fn a_node_keeps_its_own_and_unpinned_claims() {
        let mut index = Index {
            revision: 1,
            pods_info: info("pods").expect("pods"),
            pods: HashMap::new(),
            by_node: HashMap::new(),
            objects: HashMap::new(),
            referrers: HashMap::new(),
            claims_changed: false,
        };
        let mut dirty = HashSet::new();
        let prefix = info("persistentvolumeclaims")
            .expect("claims")
            .prefix(Some("default"));
        for (name, uid, node) in [
            ("here", "u1", Some("edge-a")),
            ("there", "u2", Some("edge-b")),
            ("unpinned", "u3", None),
        ] {
            index.put(
                format!("{prefix}{name}"),
                claim(name, uid, node),
                &mut dirty,
            );
        }
        assert!(index.claims_changed);
        let kept = |index: &Index, node: &str| -> Vec<String> {
            index.desired(node).claims.into_iter().collect()
        };
        assert_eq!(kept(&index, "edge-a"), ["u1", "u3"]);
        assert_eq!(kept(&index, "edge-b"), ["u2", "u3"]);
        // A claim deleted is kept nowhere.
        let gone = claim("here", "u1", Some("edge-a"));
        index.remove(&format!("{prefix}here"), &gone, &mut dirty);
        assert_eq!(kept(&index, "edge-a"), ["u3"]);
    }
}
