//! A simulated cluster for the deployment and ReplicaSet plans: a store that applies their
//! actions as the API would, and a kubelet that makes new pods Ready some passes later. Each
//! pass plans both controllers from the same snapshot, as `controllers::pass` does.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::super::{Action, Step, plan};
use crate::controllers::workload::{
    PodName, controller_uid, int_at, is_pod_active, is_pod_available, is_pod_ready, key_of,
    owner_reference, pod_from_template, uid_of,
};
use crate::controllers::{Snapshot, replicaset, str_at};

pub const BASE: &str = "2026-01-01T00:00:00Z";

pub fn snapshot_of(objects: &[Value]) -> Snapshot {
    crate::controllers::cache::snapshot_of(objects)
}

pub struct Cluster {
    pub objects: Vec<Value>,
    /// Seconds since [`BASE`]; a pass takes one.
    pub clock: i64,
    /// Passes a new pod waits before it is Ready...
    pub ready_after: i64,
    /// ...plus its serial number modulo this, so that pods of one batch turn Ready apart.
    pub jitter: u64,
    serial: u64,
    born: HashMap<String, i64>,
}

impl Cluster {
    pub fn new(ready_after: i64) -> Self {
        Cluster {
            objects: Vec::new(),
            clock: 0,
            ready_after,
            jitter: 1,
            serial: 0,
            born: HashMap::new(),
        }
    }

    pub fn now(&self) -> jiff::Timestamp {
        let base: jiff::Timestamp = BASE.parse().expect("timestamp");
        base.checked_add(jiff::SignedDuration::from_secs(self.clock))
            .expect("time in range")
    }

    fn stamp(&self) -> String {
        self.now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    pub fn snapshot(&self) -> Snapshot {
        snapshot_of(&self.objects)
    }

    /// Stores a new object as the API would: uid, resourceVersion, creationTimestamp,
    /// generation, empty status.
    pub fn create(&mut self, mut object: Value) -> Value {
        self.serial += 1;
        if str_at(&object, "/metadata/name").is_empty() {
            let prefix = str_at(&object, "/metadata/generateName").to_owned();
            object["metadata"]["name"] = json!(format!("{prefix}{:05}", self.serial));
        }
        object["metadata"]["uid"] = json!(format!("uid-{}", self.serial));
        object["metadata"]["resourceVersion"] = json!(self.serial.to_string());
        object["metadata"]["creationTimestamp"] = json!(self.stamp());
        object["metadata"]["generation"] = json!(1);
        if object.get("status").is_none() {
            object["status"] = json!({});
        }
        self.objects.push(object.clone());
        object
    }

    fn position(&self, object: &Value) -> Option<usize> {
        self.objects.iter().position(|o| {
            str_at(o, "/kind") == str_at(object, "/kind") && key_of(o) == key_of(object)
        })
    }

    /// Replaces an object's spec and metadata (keeping its status), checking the
    /// resourceVersion as the API does; bumps generation when the spec changed.
    pub fn update(&mut self, mut object: Value) {
        let at = self.position(&object).expect("updated object exists");
        let current = &self.objects[at];
        assert_eq!(
            str_at(&object, "/metadata/resourceVersion"),
            str_at(current, "/metadata/resourceVersion"),
            "update of {} from a stale read",
            str_at(current, "/metadata/name")
        );
        let generation = int_at(current, "/metadata/generation", 1);
        let bumped = current.get("spec") != object.get("spec");
        object["status"] = current.get("status").cloned().unwrap_or(json!({}));
        self.serial += 1;
        object["metadata"]["resourceVersion"] = json!(self.serial.to_string());
        object["metadata"]["generation"] = json!(generation + i64::from(bumped));
        self.objects[at] = object;
    }

    fn edit(&mut self, object: &Value, change: impl FnOnce(&mut Value)) {
        let at = self.position(object).expect("edited object exists");
        change(&mut self.objects[at]);
        self.serial += 1;
        self.objects[at]["metadata"]["resourceVersion"] = json!(self.serial.to_string());
    }

    fn remove(&mut self, object: &Value) {
        if let Some(at) = self.position(object) {
            self.objects.remove(at);
        }
    }

    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| str_at(o, "/kind") == kind && str_at(o, "/metadata/name") == name)
            .expect("object exists")
    }

    /// Changes a deployment's spec as a user would (`kubectl set image`, `scale`, ...).
    pub fn change_deployment(&mut self, name: &str, change: impl FnOnce(&mut Value)) {
        let mut d = self.get("Deployment", name).clone();
        change(&mut d);
        self.update(d);
    }

    pub fn replica_sets(&self) -> Vec<&Value> {
        let mut sets: Vec<&Value> = self
            .objects
            .iter()
            .filter(|o| str_at(o, "/kind") == "ReplicaSet")
            .collect();
        sets.sort_by_key(|s| str_at(s, "/metadata/uid")[4..].parse::<u64>().unwrap_or(0));
        sets
    }

    /// Active pods of the ReplicaSets of deployment `name`: (all, available with the
    /// deployment's minReadySeconds).
    pub fn pods_of(&self, name: &str) -> (i64, i64) {
        let d = self.get("Deployment", name);
        let min_ready = int_at(d, "/spec/minReadySeconds", 0);
        let d_uid = uid_of(d).to_owned();
        let sets: Vec<&str> = self
            .replica_sets()
            .into_iter()
            .filter(|s| controller_uid(s) == Some(d_uid.as_str()))
            .map(uid_of)
            .collect();
        let pods: Vec<&Value> = self
            .objects
            .iter()
            .filter(|o| str_at(o, "/kind") == "Pod" && is_pod_active(o))
            .filter(|p| controller_uid(p).is_some_and(|u| sets.contains(&u)))
            .collect();
        let now = self.now();
        let available = pods
            .iter()
            .filter(|p| is_pod_available(p, min_ready, now))
            .count();
        (pods.len() as i64, available as i64)
    }

    fn apply_deployment(&mut self, actions: Vec<Action>) {
        for Action { deployment, step } in actions {
            match step {
                Step::Adopt { rs } => {
                    let reference = owner_reference(&deployment, "apps/v1", "Deployment");
                    self.edit(&rs, |o| {
                        o["metadata"]["ownerReferences"] = json!([reference])
                    });
                }
                Step::Release { rs } => {
                    self.edit(&rs, |o| o["metadata"]["ownerReferences"] = json!([]));
                }
                Step::CreateReplicaSet { rs } => {
                    assert!(self.position(&rs).is_none(), "replica set name reused");
                    self.create(rs);
                }
                Step::UpdateReplicaSet { rs, .. } => self.update(rs),
                Step::DeleteReplicaSet { rs } => self.remove(&rs),
                Step::SetRevision { revision } => {
                    self.edit(&deployment, |o| {
                        o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                            json!(revision)
                    });
                }
                Step::Status { status } => self.edit(&deployment, |o| o["status"] = status),
            }
        }
    }

    fn apply_replica_set(&mut self, actions: Vec<replicaset::Action>) {
        for action in actions {
            match action {
                replicaset::Action::Adopt { rs, pod } => {
                    let reference = owner_reference(&rs, "apps/v1", "ReplicaSet");
                    self.edit(&pod, |o| {
                        o["metadata"]["ownerReferences"] = json!([reference])
                    });
                }
                replicaset::Action::Release { pod, .. } => {
                    self.edit(&pod, |o| o["metadata"]["ownerReferences"] = json!([]));
                }
                replicaset::Action::Create { rs, count } => {
                    let template = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
                    let prefix = format!("{}-", str_at(&rs, "/metadata/name"));
                    for _ in 0..count {
                        let mut pod = pod_from_template(
                            &rs,
                            &template,
                            owner_reference(&rs, "apps/v1", "ReplicaSet"),
                            PodName::Generate(&prefix),
                            &[],
                        );
                        pod["spec"]["nodeName"] = json!("n1");
                        pod["status"] = json!({"phase": "Running", "conditions": [
                            {"type": "Ready", "status": "False", "lastTransitionTime": self.stamp()}]});
                        let created = self.create(pod);
                        let delay = (self.serial % self.jitter.max(1)) as i64;
                        self.born
                            .insert(uid_of(&created).to_owned(), self.clock + delay);
                    }
                }
                replicaset::Action::Delete { pods, .. } => {
                    for pod in pods {
                        self.remove(&pod);
                    }
                }
                replicaset::Action::Status { rs, status } => {
                    // The status subresource: no resourceVersion guard.
                    let at = self.position(&rs).expect("replica set exists");
                    self.objects[at]["status"] = status;
                }
            }
        }
    }

    /// Pods old enough become Ready. Returns whether any pod was not Ready.
    fn kubelet(&mut self) -> bool {
        let stamp = self.stamp();
        let mut changed = false;
        for object in &mut self.objects {
            if str_at(object, "/kind") != "Pod" || is_pod_ready(object) {
                continue;
            }
            let born = self.born.get(uid_of(object)).copied().unwrap_or(0);
            if self.clock - born >= self.ready_after {
                object["status"]["conditions"] = json!([
                    {"type": "Ready", "status": "True", "lastTransitionTime": stamp}]);
            }
            // A pod on its way to Ready keeps the cluster unsettled.
            changed = true;
        }
        changed
    }

    /// One controller pass, then the kubelet; `check` sees the cluster after the pass's
    /// writes, before any pod turns Ready. Returns how many writes the pass planned.
    pub fn pass(&mut self, check: &mut dyn FnMut(&Cluster)) -> usize {
        let snapshot = self.snapshot();
        let now = self.now();
        let deployments = plan(&snapshot, now);
        let replica_sets = replicaset::plan(&snapshot, now);
        let writes = deployments.len() + replica_sets.len();
        self.apply_deployment(deployments);
        self.apply_replica_set(replica_sets);
        check(self);
        let kubelet = self.kubelet();
        self.clock += 1;
        writes + usize::from(kubelet)
    }

    /// Passes until one changes nothing; panics when that takes more than `limit`.
    pub fn settle(&mut self, limit: usize, check: &mut dyn FnMut(&Cluster)) -> usize {
        for passes in 1..=limit {
            if self.pass(check) == 0 {
                return passes;
            }
        }
        panic!("not settled after {limit} passes: {:#?}", self.objects);
    }
}
