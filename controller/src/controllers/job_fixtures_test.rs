//! Fixtures for the Job controller's tests: Jobs, pods, snapshots, and a small in-memory
//! cluster that applies a plan the way the API server and the agents would.
// Each test module includes this file and uses a different part of it.
#![allow(dead_code)]

use std::sync::Arc;

use edge_api::resource::ResourceInfo;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::controllers::job::{Action, plan};
use crate::controllers::job_status::TRACKING_FINALIZER;
use crate::controllers::workload::{owner_reference, resource};
use crate::controllers::{Snapshot, str_at};

pub const NOW: &str = "2026-01-01T00:10:00Z";

pub fn now() -> Timestamp {
    NOW.parse().expect("timestamp")
}

/// `now` moved by `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    now() + SignedDuration::from_secs(seconds)
}

pub fn text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn info_of(object: &Value) -> &'static ResourceInfo {
    match str_at(object, "/kind") {
        "Pod" => resource("", "v1", "pods"),
        "Job" => resource("batch", "v1", "jobs"),
        other => panic!("no resource for kind {other}"),
    }
}

pub fn snapshot(objects: &[Value]) -> Snapshot {
    crate::controllers::cache::snapshot_of(objects)
}

/// A Job as admission leaves it (defaults and generated selector), with `spec` merged over
/// one completion, parallelism 1 and backoff limit 6, and the given status.
pub fn job(name: &str, spec: Value, status: Value) -> Value {
    let uid = format!("uid-{name}");
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "demo", "uid": uid, "resourceVersion": "5",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "completions": 1, "parallelism": 1, "backoffLimit": 6,
            "completionMode": "NonIndexed", "suspend": false,
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "template": {
                "metadata": {"labels": {"batch.kubernetes.io/controller-uid": uid,
                                        "batch.kubernetes.io/job-name": name}},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "work", "image": "busybox"}]},
            },
        },
        "status": status,
    });
    edge_api::patch::merge_patch(&mut job["spec"], &spec);
    job
}

/// How a test pod looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Phase {
    Pending,
    Running,
    Ready,
    Succeeded,
    Failed,
}

/// A pod of `owner` with the tracking finalizer, finished (if it is) at `finished`.
pub fn pod(owner: &Value, name: &str, phase: Phase, finished: Timestamp) -> Value {
    let (phase_text, ready) = match phase {
        Phase::Pending => ("Pending", "False"),
        Phase::Running => ("Running", "False"),
        Phase::Ready => ("Running", "True"),
        Phase::Succeeded => ("Succeeded", "False"),
        Phase::Failed => ("Failed", "False"),
    };
    let mut containers = json!([{"name": "work", "restartCount": 0, "state": {"running": {}}}]);
    if matches!(phase, Phase::Succeeded | Phase::Failed) {
        containers = json!([{"name": "work", "restartCount": 0, "state": {"terminated": {
            "exitCode": if phase == Phase::Succeeded { 0 } else { 1 },
            "finishedAt": text(finished)}}}]);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "demo", "uid": format!("uid-{name}"),
                     "resourceVersion": "3", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "finalizers": [TRACKING_FINALIZER],
                     "labels": owner.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({})),
                     "ownerReferences": [owner_reference(owner, "batch/v1", "Job")]},
        "spec": {"nodeName": "n1", "restartPolicy": "Never",
                 "containers": [{"name": "work", "image": "busybox"}]},
        "status": {"phase": phase_text,
                   "conditions": [{"type": "Ready", "status": ready,
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                   "containerStatuses": containers},
    })
}

/// `pod` with a completion index annotation.
pub fn indexed_pod(owner: &Value, name: &str, index: i64, phase: Phase) -> Value {
    let mut p = pod(owner, name, phase, now());
    p["metadata"]["annotations"] =
        json!({"batch.kubernetes.io/job-completion-index": index.to_string()});
    p
}

pub fn without_finalizer(mut pod: Value) -> Value {
    pod["metadata"]["finalizers"] = json!([]);
    pod
}

pub fn deleting(mut pod: Value, since: Timestamp) -> Value {
    pod["metadata"]["deletionTimestamp"] = json!(text(since));
    pod
}

/// The short name of an action, for compact assertions.
pub fn kind(action: &Action) -> String {
    match action {
        Action::DeletePods {
            pods,
            strip_finalizer,
            ..
        } => format!(
            "delete {} {}",
            names(pods),
            if *strip_finalizer { "strip" } else { "keep" }
        ),
        Action::CreatePods { pods, .. } => format!("create {}", pods.len()),
        Action::Status { .. } => "status".into(),
        Action::RemoveFinalizers { pods, .. } => format!("unfinalize {}", names(pods)),
        Action::DeleteJob { .. } => "delete job".into(),
    }
}

fn names(pods: &[Arc<Value>]) -> String {
    let mut names: Vec<&str> = pods.iter().map(|p| str_at(p, "/metadata/name")).collect();
    names.sort();
    names.join(",")
}

pub fn kinds(actions: &[Action]) -> Vec<String> {
    actions.iter().map(kind).collect()
}

/// The status an action list writes, if any.
pub fn written_status(actions: &[Action]) -> Option<Value> {
    actions.iter().find_map(|a| match a {
        Action::Status { status, .. } => Some(status.clone()),
        _ => None,
    })
}

/// Event reasons an action list records with its status write.
pub fn status_events(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .flat_map(|a| match a {
            Action::Status { events, .. } => events.iter().map(|e| e.reason).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The type=status pairs of the conditions in `status`.
pub fn condition_summary(status: &Value) -> Vec<String> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}={} {}",
                str_at(c, "/type"),
                str_at(c, "/status"),
                str_at(c, "/reason")
            )
        })
        .collect()
}

/// A cluster in memory: objects, and the effect of each action on them.
pub struct Cluster {
    pub objects: Vec<Value>,
    created: usize,
}

impl Cluster {
    pub fn new(objects: Vec<Value>) -> Cluster {
        Cluster {
            objects,
            created: 0,
        }
    }

    pub fn plan(&self, now: Timestamp) -> Vec<Action> {
        plan(&snapshot(&self.objects), now)
    }

    fn position(&self, uid: &str) -> Option<usize> {
        self.objects
            .iter()
            .position(|o| str_at(o, "/metadata/uid") == uid)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| str_at(o, "/metadata/name") == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.objects
            .iter_mut()
            .find(|o| str_at(o, "/metadata/name") == name)
    }

    pub fn pods(&self) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|o| str_at(o, "/kind") == "Pod")
            .collect()
    }

    /// What the agent reports: the pod's phase changed (finished now, when it finished).
    pub fn set_phase(&mut self, name: &str, phase: Phase, at: Timestamp) {
        let Some(p) = self.get_mut(name) else {
            panic!("no pod {name}");
        };
        let owner_free = p.clone();
        let mut fresh = pod(&json!({}), name, phase, at);
        fresh["metadata"] = owner_free["metadata"].clone();
        fresh["spec"] = owner_free["spec"].clone();
        *p = fresh;
    }

    /// Removes a pod whose finalizers are gone and that is being deleted.
    fn settle(&mut self, uid: &str) {
        if let Some(i) = self.position(uid) {
            let o = &self.objects[i];
            let finalizers = o
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if o.pointer("/metadata/deletionTimestamp").is_some() && finalizers == 0 {
                self.objects.remove(i);
            }
        }
    }

    fn strip(&mut self, uid: &str) {
        if let Some(i) = self.position(uid) {
            if let Some(list) = self.objects[i]
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)
            {
                list.retain(|f| f.as_str() != Some(TRACKING_FINALIZER));
            }
            self.settle(uid);
        }
    }

    /// Applies every action, as a run without failures would.
    pub fn apply(&mut self, actions: Vec<Action>, now: Timestamp) {
        for action in actions {
            self.apply_one(action, now);
        }
    }

    pub fn apply_one(&mut self, action: Action, now: Timestamp) {
        match action {
            Action::DeletePods {
                pods,
                strip_finalizer,
                ..
            } => {
                for p in pods {
                    let uid = str_at(&p, "/metadata/uid").to_owned();
                    if strip_finalizer {
                        self.strip(&uid);
                    }
                    if let Some(i) = self.position(&uid) {
                        self.objects[i]["metadata"]["deletionTimestamp"] = json!(text(now));
                        self.settle(&uid);
                    }
                }
            }
            Action::CreatePods { pods, .. } => {
                for mut p in pods {
                    self.created += 1;
                    let name = format!("{}{}", str_at(&p, "/metadata/generateName"), self.created);
                    p["metadata"]["name"] = json!(name);
                    p["metadata"]["uid"] = json!(format!("uid-{name}"));
                    p["status"] = json!({"phase": "Pending"});
                    self.objects.push(p);
                }
            }
            Action::Status { job, status, .. } => {
                if let Some(i) = self.position(str_at(&job, "/metadata/uid")) {
                    self.objects[i]["status"] = status;
                }
            }
            Action::RemoveFinalizers { pods, .. } => {
                for p in pods {
                    self.strip(str_at(&p, "/metadata/uid"));
                }
            }
            Action::DeleteJob { job } => {
                if let Some(i) = self.position(str_at(&job, "/metadata/uid")) {
                    self.objects.remove(i);
                }
            }
        }
    }

    /// Plans and applies until a pass plans nothing; returns the passes' action kinds.
    pub fn settle_all(&mut self, now: Timestamp) -> Vec<Vec<String>> {
        let mut passes = Vec::new();
        for _ in 0..20 {
            let actions = self.plan(now);
            if actions.is_empty() {
                return passes;
            }
            passes.push(kinds(&actions));
            self.apply(actions, now);
        }
        panic!("no settled state after 20 passes: {passes:?}");
    }

    pub fn job(&self, name: &str) -> &Value {
        self.get(name).expect("job exists")
    }
}
