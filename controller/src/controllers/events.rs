//! Recording Kubernetes Events (`v1/events`) for what controllers and the scheduler do, so
//! that `get events` and `describe` can show it.
//!
//! A repeat of the same event (same object, reason and message) within [`AGGREGATE_WINDOW`]
//! bumps `count` and `lastTimestamp` on the existing Event instead of creating another, as
//! Kubernetes' event correlator does; so a pod that stays unschedulable costs one Event, not
//! one per retry. Recording never fails the caller: an Event that cannot be written is logged
//! and dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::str_at;
use super::workload::{resource, uid_of};
use crate::apiserver::Api;
use crate::apiserver::api::now_rfc3339;
use crate::apiserver::api_write::{Part, PatchKind, WriteOptions};

/// Repeats within this window update one Event.
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
/// How many distinct recent events the recorder remembers for aggregation.
const MEMORY: usize = 4096;
/// Most Event writes under way from [`Recorder::emit`]; beyond this, events are dropped (as
/// Kubernetes' event broadcaster drops them when its queue is full) so that recording never
/// holds back the work it reports on.
const MAX_PENDING: usize = 1024;

/// `Normal` or `Warning`, as Kubernetes Events are typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Writes Events; each names the component that reports it (`default-scheduler`,
/// `replicaset-controller`, ...).
#[derive(Clone)]
pub struct Recorder {
    api: Api,
    recent: Arc<Mutex<HashMap<String, Seen>>>,
    pending: Arc<AtomicUsize>,
}

struct Seen {
    namespace: String,
    name: String,
    count: u64,
    at: Instant,
}

impl Recorder {
    pub fn new(api: Api) -> Self {
        Recorder {
            api,
            recent: Arc::new(Mutex::new(HashMap::new())),
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Records an event about `object` (any stored object with `apiVersion` and `kind`), as
    /// reported by `component`.
    pub async fn record(
        &self,
        component: &str,
        object: &Value,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        if let Err(err) = self.write(component, object, kind, reason, message).await {
            tracing::debug!(reason, "event not recorded: {}", err.0.message);
        }
    }

    /// Records an event in the background, without waiting for the write; dropped when too
    /// many are under way already.
    pub fn emit(
        &self,
        component: &'static str,
        object: Arc<Value>,
        kind: EventType,
        reason: &'static str,
        message: String,
    ) {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            tracing::debug!(reason, "event dropped: too many event writes under way");
            return;
        }
        let recorder = self.clone();
        tokio::spawn(async move {
            recorder
                .record(component, &object, kind, reason, &message)
                .await;
            recorder.pending.fetch_sub(1, Ordering::AcqRel);
        });
    }

    async fn write(
        &self,
        component: &str,
        object: &Value,
        kind: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), crate::apiserver::error::ApiError> {
        let info = resource("", "v1", "events");
        let aggregate_key = format!("{}\u{0}{reason}\u{0}{message}", uid_of(object));
        let now = now_rfc3339();
        let repeat = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            match recent.get_mut(&aggregate_key) {
                Some(seen) if seen.at.elapsed() < AGGREGATE_WINDOW => {
                    seen.count += 1;
                    seen.at = Instant::now();
                    Some((seen.namespace.clone(), seen.name.clone(), seen.count))
                }
                _ => None,
            }
        };
        if let Some((namespace, name, count)) = repeat {
            let patch = json!({"count": count, "lastTimestamp": now});
            let patched = self
                .api
                .patch(
                    info,
                    Some(&namespace),
                    &name,
                    PatchKind::Merge,
                    patch.to_string().as_bytes(),
                    Part::Main,
                    WriteOptions::default(),
                )
                .await;
            match patched {
                Ok(_) => return Ok(()),
                // The Event was deleted (or never made it): start a new one.
                Err(err) if err.code() == 404 => {}
                Err(err) => return Err(err),
            }
        }
        let event = event_object(object, kind, reason, message, component, &now);
        let namespace = str_at(&event, "/metadata/namespace").to_owned();
        let created = self
            .api
            .create(info, Some(&namespace), event, WriteOptions::default())
            .await?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= MEMORY {
            recent.retain(|_, seen| seen.at.elapsed() < AGGREGATE_WINDOW);
            if recent.len() >= MEMORY {
                recent.clear();
            }
        }
        recent.insert(
            aggregate_key,
            Seen {
                namespace,
                name: str_at(&created, "/metadata/name").to_owned(),
                count: 1,
                at: Instant::now(),
            },
        );
        Ok(())
    }
}

/// The Event for one occurrence. Events about cluster-scoped objects (nodes) live in
/// `default`, as Kubernetes puts them.
pub fn event_object(
    object: &Value,
    kind: EventType,
    reason: &str,
    message: &str,
    component: &str,
    now: &str,
) -> Value {
    let name = str_at(object, "/metadata/name");
    let namespace = match str_at(object, "/metadata/namespace") {
        "" => "default",
        ns => ns,
    };
    let mut involved = json!({
        "apiVersion": str_at(object, "/apiVersion"),
        "kind": str_at(object, "/kind"),
        "name": name,
        "uid": uid_of(object),
        "resourceVersion": str_at(object, "/metadata/resourceVersion"),
    });
    if let Some(ns) = object.pointer("/metadata/namespace") {
        involved["namespace"] = ns.clone();
    }
    // Kubernetes names events `<object>.<hex nanoseconds>`; a dot keeps them valid names.
    let nanos = jiff::Timestamp::now().as_nanosecond();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": truncate(message, 1024),
        "type": kind.as_str(),
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    })
}

fn truncate(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_their_object_and_land_in_its_namespace() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "demo", "uid": "u1", "resourceVersion": "5"}});
        let node =
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u2"}});
        let e = event_object(
            &pod,
            EventType::Warning,
            "FailedScheduling",
            "no",
            "default-scheduler",
            "t",
        );
        assert_eq!(str_at(&e, "/metadata/namespace"), "demo");
        assert!(str_at(&e, "/metadata/name").starts_with("web."));
        assert_eq!(str_at(&e, "/involvedObject/kind"), "Pod");
        assert_eq!(str_at(&e, "/involvedObject/namespace"), "demo");
        assert_eq!(str_at(&e, "/type"), "Warning");
        assert_eq!(str_at(&e, "/source/component"), "default-scheduler");
        let e = event_object(
            &node,
            EventType::Normal,
            "NodeNotReady",
            "x",
            "node-controller",
            "t",
        );
        assert_eq!(str_at(&e, "/metadata/namespace"), "default");
        assert!(e.pointer("/involvedObject/namespace").is_none());
        assert_eq!(truncate("héllo", 2), "h");
    }
}
