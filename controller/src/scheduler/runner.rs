//! The scheduler's runtime around the pure core: on the Raft leader, it lists and watches pods
//! and nodes, keeps a [`ClusterState`] current from those events, pops pending pods from the
//! [`Queue`], schedules them one after another (each decision assumed at once, so the next pod
//! sees it) and binds them concurrently through the `pods/binding` write, many in flight.
//!
//! - A bind that fails is forgotten and the pod backs off; a pod bound elsewhere meanwhile (409)
//!   is simply followed to where it went.
//! - A pod that fits nowhere gets `PodScheduled=False` (reason `Unschedulable`, the
//!   kube-scheduler message naming why each node refused it) and a `FailedScheduling` Event,
//!   and waits until a node changes or a pod leaves a node.
//! - Node heartbeats change nothing the scheduler reads, so they cost a comparison, not a
//!   rebuild; only a node going away rebuilds the state.
//! - Images: pods that do not name a runtime class are classified by looking their images up in
//!   the built-in registry (Wasm component or OCI image, and the OCI image's architectures);
//!   images elsewhere are unknown and constrain nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::core::{ClusterState, FitError, PodInfo, Runtime, schedule};
use super::queue::Queue;
use crate::apiserver::Api;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::apiserver::error::ApiError;
use crate::controllers::events::{EventType, Recorder};
use crate::controllers::str_at;
use crate::registry::Registry;
use crate::registry::inspect::ImageKind;
use crate::store::{EventKind, WatchEnd, WatchEvent, Watcher};

/// The name pods give to be scheduled by this scheduler (and the default when they name none).
pub const SCHEDULER_NAME: &str = "default-scheduler";
const PODS_PREFIX: &str = "/registry/core/pods/";
const NODES_PREFIX: &str = "/registry/core/nodes/";
/// How long an image lookup is trusted (a tag may be pushed again).
const IMAGE_TTL: Duration = Duration::from_secs(30);
/// Most pods scheduled between two looks at the watches.
const BATCH: usize = 2048;

/// Scheduler settings.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    /// Binds in flight at once. Binds are small Raft writes that the store groups into shared
    /// log entries, so many in flight is what makes thousands of pods per second possible.
    pub max_in_flight: usize,
    /// Record a `Scheduled` Event for every bound pod, as kube-scheduler does.
    pub scheduled_events: bool,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            max_in_flight: 2048,
            scheduled_events: true,
        }
    }
}

/// Runs the scheduler until `shutdown`, whenever this controller leads.
pub async fn run(
    api: Api,
    events: Recorder,
    registry: Option<Arc<Registry>>,
    options: SchedulerOptions,
    shutdown: CancellationToken,
) {
    loop {
        if !api.store().is_leader() {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
            }
        }
        match Scheduler::start(&api, &events, registry.clone(), &options) {
            Ok(mut scheduler) => scheduler.run(&shutdown).await,
            Err(err) => {
                tracing::debug!("scheduler: {err}");
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// What a finished bind reports.
struct BindDone {
    key: String,
    node: String,
    result: Result<(), ApiError>,
}

/// One leadership term's scheduler: its watches, caches and in-flight binds.
struct Scheduler {
    api: Api,
    events: Recorder,
    registry: Option<Arc<Registry>>,
    options: SchedulerOptions,
    pods: Watcher,
    nodes: Watcher,
    node_objects: HashMap<String, Arc<Value>>,
    /// Bound, unfinished pods by key, with their node: what the state counts.
    bound: HashMap<String, (String, Arc<Value>)>,
    /// Pods waiting for a node, by key.
    pending: HashMap<String, Arc<Value>>,
    /// Assumed pods whose bind has not answered yet: node and what was assumed.
    in_flight: HashMap<String, (String, PodInfo)>,
    state: ClusterState,
    queue: Queue,
    binds: JoinSet<BindDone>,
    images: HashMap<String, (Instant, Option<ImageKind>)>,
    /// Something changed that may let parked pods fit.
    changed: bool,
    /// A node went away: rebuild the state before scheduling again.
    rebuild: bool,
}

impl Scheduler {
    fn start(
        api: &Api,
        events: &Recorder,
        registry: Option<Arc<Registry>>,
        options: &SchedulerOptions,
    ) -> Result<Scheduler, String> {
        let store = api.store();
        let listed_nodes = store
            .list(NODES_PREFIX, None, None)
            .map_err(|e| e.to_string())?;
        let listed_pods = store
            .list(PODS_PREFIX, None, None)
            .map_err(|e| e.to_string())?;
        let nodes = store
            .watch(NODES_PREFIX, listed_nodes.revision)
            .map_err(|e| e.to_string())?;
        let pods = store
            .watch(PODS_PREFIX, listed_pods.revision)
            .map_err(|e| e.to_string())?;
        let mut scheduler = Scheduler {
            api: api.clone(),
            events: events.clone(),
            registry,
            options: options.clone(),
            pods,
            nodes,
            node_objects: HashMap::new(),
            bound: HashMap::new(),
            pending: HashMap::new(),
            in_flight: HashMap::new(),
            state: ClusterState::default(),
            queue: Queue::default(),
            binds: JoinSet::new(),
            images: HashMap::new(),
            changed: false,
            rebuild: true,
        };
        for item in listed_nodes.items {
            if let Ok(node) = serde_json::from_slice::<Value>(&item.bytes) {
                let name = str_at(&node, "/metadata/name").to_owned();
                scheduler.node_objects.insert(name, Arc::new(node));
            }
        }
        for item in listed_pods.items {
            if let Ok(pod) = serde_json::from_slice::<Value>(&item.bytes) {
                scheduler.pod_changed(EventKind::Added, Arc::new(pod));
            }
        }
        scheduler.rebuild_state();
        Ok(scheduler)
    }

    async fn run(&mut self, shutdown: &CancellationToken) {
        loop {
            if shutdown.is_cancelled() || !self.api.store().is_leader() {
                return;
            }
            if self.absorb().is_err() {
                return;
            }
            if self.rebuild {
                self.rebuild_state();
            }
            let now = Instant::now();
            if std::mem::take(&mut self.changed) {
                self.queue.cluster_changed(now);
            }
            self.queue.tick(now);
            self.schedule_batch().await;
            let wake = self
                .queue
                .next_wake()
                .unwrap_or_else(|| now + Duration::from_secs(1));
            let can_pop = self.queue.has_active() && self.binds.len() < self.options.max_in_flight;
            if can_pop {
                // More work is ready; look at the watches again first, without waiting.
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                Some(done) = self.binds.join_next(), if !self.binds.is_empty() => {
                    if let Ok(done) = done {
                        self.bind_done(done);
                    }
                }
                event = self.nodes.next() => match event {
                    Ok(event) => self.node_event(event),
                    Err(_) => return,
                },
                event = self.pods.next() => match event {
                    Ok(event) => self.pod_changed(event.kind, event.object),
                    Err(_) => return,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// Applies every waiting watch event and finished bind.
    fn absorb(&mut self) -> Result<(), WatchEnd> {
        while let Some(event) = self.nodes.try_next() {
            self.node_event(event?);
        }
        while let Some(event) = self.pods.try_next() {
            let event = event?;
            self.pod_changed(event.kind, event.object);
        }
        while let Some(done) = self.binds.try_join_next() {
            if let Ok(done) = done {
                self.bind_done(done);
            }
        }
        Ok(())
    }

    fn node_event(&mut self, event: WatchEvent) {
        let name = str_at(&event.object, "/metadata/name").to_owned();
        if event.kind == EventKind::Deleted {
            self.node_objects.remove(&name);
            self.rebuild = true;
            self.changed = true;
            return;
        }
        if self.state.upsert_node(&event.object) {
            self.changed = true;
        }
        self.node_objects.insert(name, event.object);
    }

    /// Follows one pod: pending ones are queued, bound ones counted where they run, finished
    /// and deleted ones forgotten.
    fn pod_changed(&mut self, kind: EventKind, pod: Arc<Value>) {
        let key = pod_key(&pod);
        let node = str_at(&pod, "/spec/nodeName");
        let finished = matches!(str_at(&pod, "/status/phase"), "Succeeded" | "Failed");
        if kind == EventKind::Deleted || finished {
            self.pending.remove(&key);
            self.queue.remove(&key);
            if let Some((node, _)) = self.bound.remove(&key) {
                self.forget(&key, &node);
                self.changed = true;
            }
            return;
        }
        if !node.is_empty() {
            self.pending.remove(&key);
            self.queue.remove(&key);
            let ours = match self.in_flight.remove(&key) {
                Some((assumed, _)) if assumed == node => true,
                Some((assumed, _)) => {
                    // Bound elsewhere while our bind was under way: undo our assumption.
                    self.forget(&key, &assumed);
                    false
                }
                None => false,
            };
            if !ours && !self.bound.contains_key(&key) {
                // Bound by someone else (or before this term): count it there.
                if let Some(index) = self.state.node_index(node) {
                    self.state.assume(index, &PodInfo::from_pod(&pod));
                }
                self.changed = true;
            }
            self.bound.insert(key, (node.to_owned(), pod));
            return;
        }
        if !is_ours(&pod) || self.in_flight.contains_key(&key) {
            return;
        }
        self.queue.add(&key);
        self.pending.insert(key, pod);
    }

    fn forget(&mut self, key: &str, node: &str) {
        if let Some(index) = self.state.node_index(node) {
            let info = PodInfo {
                uid: key.to_owned(),
                ..PodInfo::default()
            };
            self.state.forget(index, &info);
        }
    }

    fn rebuild_state(&mut self) {
        self.rebuild = false;
        self.state = ClusterState::new(
            self.node_objects.values().map(Arc::as_ref),
            self.bound.values().map(|(_, pod)| pod.as_ref()),
        );
        for (node, info) in self.in_flight.values() {
            if let Some(index) = self.state.node_index(node) {
                self.state.assume(index, info);
            }
        }
    }

    async fn schedule_batch(&mut self) {
        let mut done = 0;
        while done < BATCH && self.binds.len() < self.options.max_in_flight {
            let Some(key) = self.queue.pop() else {
                return;
            };
            let Some(pod) = self.pending.get(&key).cloned() else {
                continue;
            };
            done += 1;
            let mut info = PodInfo::from_pod(&pod);
            self.classify_images(&mut info).await;
            match schedule(&info, &mut self.state) {
                Ok(index) => {
                    self.state.assume(index, &info);
                    let node = self.state.nodes()[index].name.clone();
                    self.in_flight.insert(key.clone(), (node.clone(), info));
                    self.spawn_bind(key, node, pod);
                }
                Err(fit) => {
                    self.queue.park(&key, Instant::now());
                    self.unschedulable(&pod, &fit);
                }
            }
        }
    }

    fn spawn_bind(&mut self, key: String, node: String, pod: Arc<Value>) {
        let api = self.api.clone();
        let events = self.events.clone();
        let record = self.options.scheduled_events;
        self.binds.spawn(async move {
            let info = crate::controllers::workload::resource("", "v1", "pods");
            let namespace = str_at(&pod, "/metadata/namespace");
            let name = str_at(&pod, "/metadata/name");
            let binding = json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": name, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            let result = api.bind(info, namespace, name, &binding, false).await;
            if result.is_ok() && record {
                events.emit(
                    SCHEDULER_NAME,
                    pod.clone(),
                    EventType::Normal,
                    "Scheduled",
                    format!("Successfully assigned {namespace}/{name} to {node}"),
                );
            }
            BindDone { key, node, result }
        });
    }

    fn bind_done(&mut self, done: BindDone) {
        let BindDone { key, node, result } = done;
        let Err(err) = result else {
            // Counted already; the watch event confirms it (or already did).
            if let Some((assumed, _)) = self.in_flight.remove(&key)
                && let Some(pod) = self.pending.remove(&key)
            {
                self.bound.insert(key, (assumed, pod));
            }
            return;
        };
        if self.in_flight.remove(&key).is_none() {
            return;
        }
        self.forget(&key, &node);
        self.changed = true;
        match err.code() {
            // The pod went, or was bound or deleted meanwhile: its watch event tells the rest.
            404 | 409 => {
                self.pending.remove(&key);
                self.queue.remove(&key);
            }
            _ => {
                tracing::debug!(pod = %key, node = %node, "bind failed: {}", err.0.message);
                if let Some(pod) = self.pending.get(&key).cloned() {
                    self.events.emit(
                        SCHEDULER_NAME,
                        pod,
                        EventType::Warning,
                        "FailedScheduling",
                        format!("Binding rejected: {}", err.0.message),
                    );
                    self.queue.requeue(&key, Instant::now());
                }
            }
        }
    }

    /// Records why a pod fits nowhere: its `PodScheduled` condition and an Event.
    fn unschedulable(&mut self, pod: &Arc<Value>, fit: &FitError) {
        let message = fit.to_string();
        self.events.emit(
            SCHEDULER_NAME,
            pod.clone(),
            EventType::Warning,
            "FailedScheduling",
            message.clone(),
        );
        if let Some(condition) = unschedulable_condition(pod, &message) {
            let api = self.api.clone();
            let pod = pod.clone();
            tokio::spawn(async move {
                if let Err(err) = write_condition(&api, &pod, condition).await {
                    tracing::debug!("pod condition not written: {}", err.0.message);
                }
            });
        }
    }

    /// Fills in the runtime and architectures of pods that leave them to the image.
    async fn classify_images(&mut self, info: &mut PodInfo) {
        if info.runtime == Some(Runtime::Wasm) {
            return;
        }
        let Some(registry) = self.registry.clone() else {
            return;
        };
        let mut any_oci = false;
        let mut all_wasm = !info.images.is_empty();
        let mut archs: Option<Vec<String>> = None;
        for image in info.images.clone() {
            let kind = match self.images.get(&image) {
                Some((at, kind)) if at.elapsed() < IMAGE_TTL => kind.clone(),
                _ => {
                    let kind = registry.inspect(&image).await;
                    self.images
                        .insert(image.clone(), (Instant::now(), kind.clone()));
                    kind
                }
            };
            match kind {
                Some(ImageKind::Wasm) => {}
                Some(ImageKind::Oci { archs: offered }) => {
                    all_wasm = false;
                    any_oci = true;
                    if !offered.is_empty() {
                        archs = Some(match archs {
                            None => offered,
                            Some(known) => {
                                known.into_iter().filter(|a| offered.contains(a)).collect()
                            }
                        });
                    }
                }
                None => all_wasm = false,
            }
        }
        if info.runtime.is_none() {
            if all_wasm {
                info.runtime = Some(Runtime::Wasm);
            } else if any_oci {
                info.runtime = Some(Runtime::Oci);
            }
        }
        if info.runtime == Some(Runtime::Oci) {
            info.image_archs = archs;
        }
        if self.images.len() > 4096 {
            self.images.retain(|_, (at, _)| at.elapsed() < IMAGE_TTL);
        }
    }
}

/// The key the core knows a pod by ([`PodInfo::key`]).
fn pod_key(pod: &Value) -> String {
    match str_at(pod, "/metadata/uid") {
        "" => format!(
            "{}/{}",
            match str_at(pod, "/metadata/namespace") {
                "" => "default",
                ns => ns,
            },
            str_at(pod, "/metadata/name")
        ),
        uid => uid.to_owned(),
    }
}

/// Whether this scheduler should place `pod` (unbound pods only): it names this scheduler (or
/// none), is not being deleted and has no scheduling gates.
fn is_ours(pod: &Value) -> bool {
    let scheduler = str_at(pod, "/spec/schedulerName");
    let gated = pod
        .pointer("/spec/schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|g| !g.is_empty());
    (scheduler.is_empty() || scheduler == SCHEDULER_NAME)
        && pod.pointer("/metadata/deletionTimestamp").is_none()
        && !gated
}

/// The `PodScheduled=False` condition to write, or `None` when the pod already says so.
fn unschedulable_condition(pod: &Value, message: &str) -> Option<Value> {
    let current = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| str_at(c, "/type") == "PodScheduled");
    if let Some(c) = current
        && str_at(c, "/status") == "False"
        && str_at(c, "/reason") == "Unschedulable"
        && str_at(c, "/message") == message
    {
        return None;
    }
    Some(json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": crate::apiserver::api::now_rfc3339(),
    }))
}

/// Replaces the pod's `PodScheduled` condition, if the pod is still unbound.
async fn write_condition(api: &Api, pod: &Value, condition: Value) -> Result<(), ApiError> {
    let info = crate::controllers::workload::resource("", "v1", "pods");
    let namespace = str_at(pod, "/metadata/namespace");
    let name = str_at(pod, "/metadata/name");
    let current = api.current_local(info, Some(namespace), name)?;
    let mut object = current.object;
    if !str_at(&object, "/spec/nodeName").is_empty() {
        return Ok(());
    }
    let conditions = object
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut);
    match conditions {
        Some(list) => {
            list.retain(|c| str_at(c, "/type") != "PodScheduled");
            list.push(condition);
        }
        None => {
            if !object.get("status").is_some_and(Value::is_object) {
                object["status"] = json!({});
            }
            object["status"]["conditions"] = json!([condition]);
        }
    }
    object["metadata"]["resourceVersion"] = json!(current.revision.to_string());
    api.update(
        info,
        Some(namespace),
        name,
        object,
        Part::Status,
        WriteOptions::default(),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unbound_pods_for_this_scheduler_are_queued() {
        let cases = [
            (json!({"spec": {}}), true),
            (
                json!({"spec": {"schedulerName": "default-scheduler"}}),
                true,
            ),
            (json!({"spec": {"schedulerName": "other"}}), false),
            (
                json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}}),
                false,
            ),
            (
                json!({"spec": {"schedulingGates": [{"name": "wait"}]}}),
                false,
            ),
            (json!({"spec": {"schedulingGates": []}}), true),
        ];
        for (pod, want) in cases {
            assert_eq!(is_ours(&pod), want, "{pod}");
        }
    }

    #[test]
    fn the_condition_is_written_once_per_message() {
        let fresh = json!({"status": {"conditions": []}});
        let condition = unschedulable_condition(&fresh, "0/1 nodes").expect("new condition");
        assert_eq!(str_at(&condition, "/reason"), "Unschedulable");
        let said = json!({"status": {"conditions": [condition]}});
        assert!(unschedulable_condition(&said, "0/1 nodes").is_none());
        assert!(unschedulable_condition(&said, "0/2 nodes").is_some());
    }

    #[test]
    fn pods_are_keyed_like_the_core_keys_them() {
        let pod = json!({"metadata": {"uid": "u1", "name": "a", "namespace": "n"}});
        assert_eq!(pod_key(&pod), PodInfo::from_pod(&pod).key());
        let pod = json!({"metadata": {"name": "a"}});
        assert_eq!(pod_key(&pod), PodInfo::from_pod(&pod).key());
    }
}
