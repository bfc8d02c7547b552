//! One deployment's sync, as Kubernetes' `sync.go`, `rolling.go` and `recreate.go` do it: its
//! ReplicaSets are held in memory and changed by the same steps in the same order, and each
//! ReplicaSet that changed becomes one write at the end. (Kubernetes may write a ReplicaSet
//! twice in one sync, say to clean up unhealthy replicas and then to scale it down; the merged
//! write ends in the same state.)

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Step;
use super::replica_set::{
    DESIRED_REPLICAS, MAX_REPLICAS, Rs, UNLIMITED, append_revision_history, by_creation,
    copy_annotations, set_path, templates_equal,
};
use super::status::{
    PROGRESSING, REASON_NEW_RS_CREATED, REASON_PAUSED, REASON_RESUMED, REASON_TIMED_OUT, condition,
    new_condition, set_condition,
};
use crate::controllers::str_at;
use crate::controllers::workload::{
    POD_TEMPLATE_HASH, REVISION_ANNOTATION, int_at, int_or_percent, is_deleting, key_of, meta,
    owner_reference, pod_phase, template_hash, uid_of,
};

/// What a deployment needs from the rest of the snapshot.
pub(super) struct Surroundings<'a> {
    /// Names of every ReplicaSet in the deployment's namespace (a new one must not collide).
    pub(super) names: &'a HashSet<&'a str>,
    /// Pods by the uid of their controlling ReplicaSet.
    pub(super) pods: &'a HashMap<&'a str, Vec<&'a Arc<Value>>>,
}

/// One deployment's sync in progress.
pub(super) struct Rollout<'a> {
    pub(super) d: &'a Value,
    pub(super) around: Surroundings<'a>,
    pub(super) replicas: i64,
    pub(super) recreate: bool,
    /// Kubernetes' `MaxSurge(d)`: 0 for Recreate.
    pub(super) max_surge: i64,
    /// Kubernetes' `MaxUnavailable(d)`: 0 for Recreate or no replicas, at most `replicas`.
    pub(super) max_unavailable: i64,
    pub(super) progress_deadline: Option<i64>,
    pub(super) history_limit: Option<i64>,
    pub(super) rses: Vec<Rs>,
    pub(super) new_rs: Option<usize>,
    /// The revision the next new ReplicaSet gets: the highest old revision plus one.
    pub(super) next_revision: i64,
    /// The deployment's revision annotation, once the new ReplicaSet is known.
    pub(super) revision: Option<String>,
    pub(super) deletes: Vec<usize>,
    /// The deployment's status as the sync goes (conditions and collisionCount change first).
    pub(super) working: Map<String, Value>,
    /// The status to write at the end.
    pub(super) final_status: Option<Map<String, Value>>,
    pub(super) now: jiff::Timestamp,
    pub(super) stamp: String,
}

impl<'a> Rollout<'a> {
    pub(super) fn new(
        d: &'a Value,
        owned: Vec<Arc<Value>>,
        around: Surroundings<'a>,
        now: jiff::Timestamp,
    ) -> Self {
        let replicas = int_at(d, "/spec/replicas", 1).max(0);
        let recreate = str_at(d, "/spec/strategy/type") == "Recreate";
        let default = json!("25%");
        let rolling = |field: &str| {
            d.pointer(&format!("/spec/strategy/rollingUpdate/{field}"))
                .unwrap_or(&default)
        };
        let resolve = |value: &Value, up: bool| {
            let fallback = int_or_percent(Some(&default), replicas, up, 0);
            int_or_percent(Some(value), replicas, up, fallback).max(0)
        };
        let surge = resolve(rolling("maxSurge"), true);
        let mut unavailable = resolve(rolling("maxUnavailable"), false);
        if surge == 0 && unavailable == 0 {
            // Both rounded down to nothing: Kubernetes allows one unavailable pod, since a
            // surge pod might never fit.
            unavailable = 1;
        }
        let limit = |pointer: &str, default: i64| {
            Some(int_at(d, pointer, default)).filter(|v| *v != UNLIMITED)
        };
        let mut rses: Vec<Rs> = owned
            .into_iter()
            .map(|object| Rs {
                stored: Some(object.clone()),
                object,
            })
            .collect();
        rses.sort_by(by_creation);
        Rollout {
            d,
            around,
            replicas,
            recreate,
            max_surge: if recreate { 0 } else { surge },
            max_unavailable: if recreate || replicas == 0 {
                0
            } else {
                unavailable.min(replicas)
            },
            progress_deadline: limit("/spec/progressDeadlineSeconds", 600),
            history_limit: limit("/spec/revisionHistoryLimit", 10).map(|l| l.max(0)),
            rses,
            new_rs: None,
            next_revision: 1,
            revision: None,
            deletes: Vec::new(),
            working: d
                .get("status")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            final_status: None,
            now,
            stamp: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    /// Kubernetes' `syncDeployment` from the point where the ReplicaSets are claimed.
    pub(super) fn run(mut self) -> Vec<Step> {
        self.sync_revision();
        if is_deleting(self.d) {
            self.sync_status();
            return self.finish();
        }
        self.check_paused_conditions();
        let paused = self.d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        if paused || self.is_scaling_event() {
            self.scale();
            if paused {
                self.cleanup();
            }
            self.sync_status();
        } else if self.recreate {
            self.rollout_recreate();
        } else {
            self.rollout_rolling();
        }
        self.finish()
    }

    pub(super) fn olds(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.rses.len()).filter(move |i| Some(*i) != self.new_rs)
    }

    pub(super) fn active_olds(&self) -> Vec<usize> {
        self.olds()
            .filter(|i| self.rses[*i].replicas() > 0)
            .collect()
    }

    fn total_replicas(&self) -> i64 {
        self.rses.iter().map(Rs::replicas).sum()
    }

    /// Kubernetes' `getNewReplicaSet` for an existing new ReplicaSet: the oldest whose template
    /// is the deployment's; it gets the deployment's annotations, the next revision when its
    /// own is older (a rollback) and the deployment's minReadySeconds.
    fn sync_revision(&mut self) {
        let template = self.d.pointer("/spec/template");
        self.new_rs = self
            .rses
            .iter()
            .position(|rs| templates_equal(rs.object.pointer("/spec/template"), template));
        let max_old = self
            .olds()
            .filter_map(|i| self.rses[i].revision())
            .max()
            .unwrap_or(0);
        self.next_revision = max_old + 1;
        let Some(new) = self.new_rs else {
            return;
        };
        let next = self.next_revision;
        let d = self.d;
        let rs = &mut self.rses[new];
        copy_annotations(d, rs);
        let had = rs.annotation(REVISION_ANNOTATION).map(str::to_owned);
        if let Some(old) = rs.revision()
            && old < next
        {
            rs.set_annotation(REVISION_ANNOTATION, &next.to_string());
            if let Some(had) = had {
                append_revision_history(rs, &had);
            }
        }
        let min_ready = int_at(d, "/spec/minReadySeconds", 0);
        if int_at(&rs.object, "/spec/minReadySeconds", 0) != min_ready {
            set_path(
                Arc::make_mut(&mut rs.object),
                &["spec", "minReadySeconds"],
                json!(min_ready),
            );
        }
        self.revision = Some(rs.annotation(REVISION_ANNOTATION).unwrap_or("").to_owned());
        let name = rs.name().to_owned();
        if self.progress_deadline.is_some() && condition(&self.working, PROGRESSING).is_none() {
            let found = new_condition(
                PROGRESSING,
                "True",
                "FoundNewReplicaSet",
                &format!("Found new replica set \"{name}\""),
                &self.stamp,
            );
            set_condition(&mut self.working, found);
        }
    }

    /// Kubernetes' `getNewReplicaSet` creating one: named after the deployment and the
    /// template's hash. A name already taken by another template is a hash collision: the
    /// deployment's collisionCount goes up (so the next hash differs) and the sync stops.
    /// Returns whether there is a new ReplicaSet now.
    fn create_new_rs(&mut self) -> bool {
        let d = self.d;
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let collisions = self.working.get("collisionCount").and_then(Value::as_i64);
        let hash = template_hash(&template, collisions);
        let (namespace, deployment) = key_of(d);
        let name = format!("{deployment}-{hash}");
        if self.around.names.contains(name.as_str()) {
            self.working
                .insert("collisionCount".into(), json!(collisions.unwrap_or(0) + 1));
            self.final_status = Some(self.working.clone());
            return false;
        }
        let mut template = template;
        set_path(
            &mut template,
            &["metadata", "labels", POD_TEMPLATE_HASH],
            json!(hash),
        );
        let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        set_path(
            &mut selector,
            &["matchLabels", POD_TEMPLATE_HASH],
            json!(hash),
        );
        let mut spec = json!({"replicas": 0, "selector": selector});
        let min_ready = int_at(d, "/spec/minReadySeconds", 0);
        if min_ready != 0 {
            spec["minReadySeconds"] = json!(min_ready);
        }
        spec["template"] = template.clone();
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                "ownerReferences": [owner_reference(d, "apps/v1", "Deployment")],
            },
            "spec": spec,
        });
        let mut rs = Rs {
            stored: None,
            object: Arc::new(object),
        };
        let replicas = self.new_rs_replicas(0);
        rs.set_replicas(replicas);
        copy_annotations(d, &mut rs);
        let revision = self.next_revision.to_string();
        rs.set_annotation(REVISION_ANNOTATION, &revision);
        rs.set_annotation(DESIRED_REPLICAS, &self.replicas.to_string());
        rs.set_annotation(MAX_REPLICAS, &(self.replicas + self.max_surge).to_string());
        self.rses.push(rs);
        self.new_rs = Some(self.rses.len() - 1);
        self.revision = Some(revision);
        if self.progress_deadline.is_some() {
            let created = new_condition(
                PROGRESSING,
                "True",
                REASON_NEW_RS_CREATED,
                &format!("Created new replica set \"{name}\""),
                &self.stamp,
            );
            set_condition(&mut self.working, created);
        }
        true
    }

    /// Kubernetes' `NewRSNewReplicas`: how big the new ReplicaSet (now `current` replicas) may
    /// be: Recreate takes all replicas at once; a rolling update grows it while the total stays
    /// within replicas + maxSurge, and never beyond replicas.
    fn new_rs_replicas(&self, current: i64) -> i64 {
        if self.recreate {
            return self.replicas;
        }
        let total = self.total_replicas();
        let max_total = self.replicas + self.max_surge;
        if total >= max_total {
            return current;
        }
        current + (max_total - total).min(self.replicas - current)
    }

    /// Kubernetes' `scaleReplicaSetAndRecordEvent`: nothing when the size is right.
    pub(super) fn scale_and_record(&mut self, i: usize, to: i64) -> bool {
        if self.rses[i].replicas() == to {
            return false;
        }
        self.scale_replica_set(i, to)
    }

    /// Kubernetes' `scaleReplicaSet`: the size and the desired/max annotations. Returns
    /// whether the size changed (the runner records the ScalingReplicaSet event).
    pub(super) fn scale_replica_set(&mut self, i: usize, to: i64) -> bool {
        let (desired, max) = (self.replicas, self.replicas + self.max_surge);
        let rs = &mut self.rses[i];
        let resized = rs.replicas() != to;
        rs.set_replicas(to.max(0));
        rs.set_annotation(DESIRED_REPLICAS, &desired.to_string());
        rs.set_annotation(MAX_REPLICAS, &max.to_string());
        resized
    }

    /// Kubernetes' `rolloutRolling`.
    fn rollout_rolling(&mut self) {
        if self.new_rs.is_none() && !self.create_new_rs() {
            return;
        }
        let Some(new) = self.new_rs else {
            return;
        };
        if self.reconcile_new(new) || self.reconcile_old(new) {
            self.sync_rollout_status();
            return;
        }
        if self.stored_status_complete() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// Kubernetes' `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self, new: usize) -> bool {
        let current = self.rses[new].replicas();
        if current == self.replicas {
            return false;
        }
        if current > self.replicas {
            return self.scale_and_record(new, self.replicas);
        }
        let wanted = self.new_rs_replicas(current);
        self.scale_and_record(new, wanted)
    }

    /// Kubernetes' `reconcileOldReplicaSets`: old pods may go as long as replicas -
    /// maxUnavailable stay available, counting the new ReplicaSet's unavailable pods against
    /// the budget so that a broken new template does not eat the old pods.
    fn reconcile_old(&mut self, new: usize) -> bool {
        let mut olds = self.active_olds();
        if olds.iter().map(|i| self.rses[*i].replicas()).sum::<i64>() == 0 {
            return false;
        }
        let all_pods = self.total_replicas();
        let min_available = self.replicas - self.max_unavailable;
        let new_rs = &self.rses[new];
        let new_unavailable = new_rs.replicas() - new_rs.available_after_scaling();
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        olds.sort_by(|a, b| by_creation(&self.rses[*a], &self.rses[*b]));
        let Some(cleaned) = self.cleanup_unhealthy(&olds, max_scaled_down) else {
            return false;
        };
        let scaled = self.scale_down_old(&olds);
        cleaned + scaled > 0
    }

    /// Kubernetes' `cleanupUnhealthyReplicas`: unavailable old pods go first, oldest
    /// ReplicaSet first, up to `max`. `None` when a ReplicaSet reports more available pods than
    /// it should have (its status lags a scale-down), as Kubernetes then waits.
    fn cleanup_unhealthy(&mut self, olds: &[usize], max: i64) -> Option<i64> {
        let mut total = 0;
        for &i in olds {
            if total >= max {
                break;
            }
            let replicas = self.rses[i].replicas();
            let available = self.rses[i].status("availableReplicas");
            if replicas == 0 || replicas == available {
                continue;
            }
            let down = (max - total).min(replicas - available);
            if down < 0 {
                return None;
            }
            self.scale_and_record(i, replicas - down);
            total += down;
        }
        Some(total)
    }

    /// Kubernetes' `scaleDownOldReplicaSetsForRollingUpdate`: old ReplicaSets shrink, oldest
    /// first, by as many pods as are available beyond replicas - maxUnavailable.
    fn scale_down_old(&mut self, olds: &[usize]) -> i64 {
        let min_available = self.replicas - self.max_unavailable;
        let available: i64 = self.rses.iter().map(Rs::available_after_scaling).sum();
        if available <= min_available {
            return 0;
        }
        let budget = available - min_available;
        let mut total = 0;
        for &i in olds {
            if total >= budget {
                break;
            }
            let replicas = self.rses[i].replicas();
            if replicas == 0 {
                continue;
            }
            let down = replicas.min(budget - total);
            self.scale_and_record(i, replicas - down);
            total += down;
        }
        total
    }

    /// Kubernetes' `rolloutRecreate`: every old pod goes before the new ReplicaSet starts.
    fn rollout_recreate(&mut self) {
        let mut scaled = false;
        for i in self.active_olds() {
            scaled |= self.scale_and_record(i, 0);
        }
        if scaled || self.old_pods_running() {
            self.sync_rollout_status();
            return;
        }
        if self.new_rs.is_none() && !self.create_new_rs() {
            return;
        }
        if let Some(new) = self.new_rs {
            self.scale_and_record(new, self.replicas);
        }
        if self.stored_status_complete() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// Kubernetes' `oldPodsRunning`: an old ReplicaSet still reports pods, or one of its pods is
    /// not finished (a pod being deleted still runs until its node stops it).
    fn old_pods_running(&self) -> bool {
        let namespace = key_of(self.d).0;
        self.olds().any(|i| {
            let rs = &self.rses[i];
            rs.status("replicas") > 0
                || self
                    .around
                    .pods
                    .get(uid_of(&rs.object))
                    .into_iter()
                    .flatten()
                    .any(|p| {
                        key_of(p).0 == namespace && !matches!(pod_phase(p), "Succeeded" | "Failed")
                    })
        })
    }

    /// Kubernetes' `checkPausedConditions`: pausing and resuming show in the Progressing
    /// condition, so that time spent paused does not count against the progress deadline.
    fn check_paused_conditions(&mut self) {
        if self.progress_deadline.is_none() {
            return;
        }
        let reason = condition(&self.working, PROGRESSING).map(|c| str_at(c, "/reason"));
        if reason == Some(REASON_TIMED_OUT) {
            return;
        }
        let paused = self.d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        let paused_shown = reason == Some(REASON_PAUSED);
        let (reason, message) = match (paused, paused_shown) {
            (true, false) => (REASON_PAUSED, "Deployment is paused"),
            (false, true) => (REASON_RESUMED, "Deployment is resumed"),
            _ => return,
        };
        let cond = new_condition(PROGRESSING, "Unknown", reason, message, &self.stamp);
        set_condition(&mut self.working, cond);
    }

    /// The writes for everything planned: the new ReplicaSet, changed ReplicaSets (the new one
    /// first, then old ones oldest first), deletions, the revision and the status.
    fn finish(self) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(new) = self.new_rs
            && self.rses[new].stored.is_none()
        {
            steps.push(Step::CreateReplicaSet {
                rs: (*self.rses[new].object).clone(),
            });
        }
        let order = self.new_rs.into_iter().chain(self.olds());
        for i in order {
            let rs = &self.rses[i];
            let Some(stored) = &rs.stored else {
                continue;
            };
            if rs.changed() {
                let from = int_at(stored, "/spec/replicas", 1);
                steps.push(Step::UpdateReplicaSet {
                    rs: (*rs.object).clone(),
                    scaled: (from != rs.replicas()).then_some((from, rs.replicas())),
                });
            }
        }
        for &i in &self.deletes {
            if let Some(stored) = &self.rses[i].stored {
                steps.push(Step::DeleteReplicaSet { rs: stored.clone() });
            }
        }
        if let Some(revision) = &self.revision
            && meta(self.d, "annotations")
                .and_then(|a| a.get(REVISION_ANNOTATION))
                .and_then(Value::as_str)
                != Some(revision.as_str())
        {
            steps.push(Step::SetRevision {
                revision: revision.clone(),
            });
        }
        if let Some(status) = self.final_status {
            let status = Value::Object(status);
            let empty = json!({});
            if self.d.get("status").unwrap_or(&empty) != &status {
                steps.push(Step::Status { status });
            }
        }
        steps
    }
}
