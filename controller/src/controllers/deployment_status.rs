//! A deployment's status as Kubernetes computes it (`calculateStatus`, `syncRolloutStatus`):
//! counts summed over its ReplicaSets' statuses, and the Available, Progressing and
//! ReplicaFailure conditions with Kubernetes' reasons, messages and timestamp rules.

use serde_json::{Map, Value, json};

use super::rollout::Rollout;
use crate::controllers::replicaset::{REPLICA_FAILURE, put_count};
use crate::controllers::str_at;
use crate::controllers::workload::int_at;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const REASON_UPDATED: &str = "ReplicaSetUpdated";
pub const REASON_COMPLETE: &str = "NewReplicaSetAvailable";
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const REASON_PAUSED: &str = "DeploymentPaused";
pub const REASON_RESUMED: &str = "DeploymentResumed";
pub const REASON_CREATE_FAILED: &str = "ReplicaSetCreateError";

/// The condition of `kind` in a status.
pub fn condition<'a>(status: &'a Map<String, Value>, kind: &str) -> Option<&'a Value> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| str_at(c, "/type") == kind)
}

/// A deployment condition happening at `now`.
pub fn new_condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// Kubernetes' `SetDeploymentCondition`: a condition with the same status and reason as the
/// present one changes nothing (not even its message); one with the same status keeps the
/// present lastTransitionTime; the new condition goes last.
pub fn set_condition(status: &mut Map<String, Value>, mut cond: Value) {
    if let Some(current) = condition(status, str_at(&cond, "/type")) {
        if str_at(current, "/status") == str_at(&cond, "/status") {
            if str_at(current, "/reason") == str_at(&cond, "/reason") {
                return;
            }
            cond["lastTransitionTime"] = current
                .get("lastTransitionTime")
                .cloned()
                .unwrap_or(Value::Null);
        }
        remove_condition(status, str_at(&cond, "/type"));
    }
    let list = status.entry("conditions").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(list) = list.as_array_mut() {
        list.push(cond);
    }
}

/// Removes the condition of `kind` (and the list when it empties, as `omitempty`).
pub fn remove_condition(status: &mut Map<String, Value>, kind: &str) {
    let empty = match status.get_mut("conditions").and_then(Value::as_array_mut) {
        Some(list) => {
            list.retain(|c| str_at(c, "/type") != kind);
            list.is_empty()
        }
        None => false,
    };
    if empty {
        status.remove("conditions");
    }
}

fn count(status: &Map<String, Value>, key: &str) -> i64 {
    status.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// The stored status of a deployment with Progressing False `ReplicaSetCreateError`, for a
/// new ReplicaSet the API refused; `None` when that changes nothing or the deployment has no
/// progress deadline.
pub fn failed_create_status(d: &Value, message: &str, now: &str) -> Option<Value> {
    if int_at(d, "/spec/progressDeadlineSeconds", 600) == i64::from(i32::MAX) {
        return None;
    }
    let stored = d
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut status = stored.clone();
    let cond = new_condition(PROGRESSING, "False", REASON_CREATE_FAILED, message, now);
    set_condition(&mut status, cond);
    (status != stored).then_some(Value::Object(status))
}

impl Rollout<'_> {
    /// Kubernetes' `calculateStatus`.
    pub(super) fn calculate_status(&self) -> Map<String, Value> {
        let available: i64 = self
            .rses
            .iter()
            .map(|rs| rs.status("availableReplicas"))
            .sum();
        let total: i64 = self.rses.iter().map(|rs| rs.stored_replicas()).sum();
        let mut status = Map::new();
        put_count(
            &mut status,
            "observedGeneration",
            int_at(self.d, "/metadata/generation", 0),
        );
        put_count(
            &mut status,
            "replicas",
            self.rses.iter().map(|rs| rs.status("replicas")).sum(),
        );
        put_count(
            &mut status,
            "updatedReplicas",
            self.new_rs.map_or(0, |i| self.rses[i].status("replicas")),
        );
        put_count(
            &mut status,
            "readyReplicas",
            self.rses.iter().map(|rs| rs.status("readyReplicas")).sum(),
        );
        put_count(&mut status, "availableReplicas", available);
        put_count(
            &mut status,
            "unavailableReplicas",
            (total - available).max(0),
        );
        if let Some(conditions) = self.working.get("conditions") {
            status.insert("conditions".into(), conditions.clone());
        }
        if let Some(collisions) = self.working.get("collisionCount") {
            status.insert("collisionCount".into(), collisions.clone());
        }
        let cond = if available >= self.replicas - self.max_unavailable {
            new_condition(
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                &self.stamp,
            )
        } else {
            new_condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                &self.stamp,
            )
        };
        set_condition(&mut status, cond);
        status
    }

    /// Kubernetes' `syncDeploymentStatus`: the counts and Available, nothing about progress.
    pub(super) fn sync_status(&mut self) {
        self.final_status = Some(self.calculate_status());
    }

    /// Kubernetes' `syncRolloutStatus`: the counts, and Progressing moved along: complete,
    /// progressing (a fresh lastUpdateTime whenever pods moved), or past its deadline.
    pub(super) fn sync_rollout_status(&mut self) {
        let mut status = self.calculate_status();
        if self.progress_deadline.is_none() {
            remove_condition(&mut status, PROGRESSING);
        }
        let current = condition(&self.working, PROGRESSING).cloned();
        let settled = count(&status, "replicas") == count(&status, "updatedReplicas")
            && current
                .as_ref()
                .is_some_and(|c| str_at(c, "/reason") == REASON_COMPLETE);
        if let Some(deadline) = self.progress_deadline
            && !settled
        {
            let subject = match self.new_rs {
                Some(i) => format!("ReplicaSet \"{}\"", self.rses[i].name()),
                None => format!("Deployment \"{}\"", str_at(self.d, "/metadata/name")),
            };
            if self.complete(&status) {
                let cond = new_condition(
                    PROGRESSING,
                    "True",
                    REASON_COMPLETE,
                    &format!("{subject} has successfully progressed."),
                    &self.stamp,
                );
                set_condition(&mut status, cond);
            } else if self.progressing(&status) {
                let mut cond = new_condition(
                    PROGRESSING,
                    "True",
                    REASON_UPDATED,
                    &format!("{subject} is progressing."),
                    &self.stamp,
                );
                // Unlike other conditions, Progressing is replaced whenever there is progress,
                // so that lastUpdateTime says when pods last moved.
                if let Some(current) = &current {
                    if str_at(current, "/status") == "True" {
                        cond["lastTransitionTime"] = current
                            .get("lastTransitionTime")
                            .cloned()
                            .unwrap_or(Value::Null);
                    }
                    remove_condition(&mut status, PROGRESSING);
                }
                set_condition(&mut status, cond);
            } else if self.timed_out(&status, deadline) {
                let cond = new_condition(
                    PROGRESSING,
                    "False",
                    REASON_TIMED_OUT,
                    &format!("{subject} has timed out progressing."),
                    &self.stamp,
                );
                set_condition(&mut status, cond);
            }
        }
        match self.replica_failure() {
            Some(failure) => set_condition(&mut status, failure),
            None => remove_condition(&mut status, REPLICA_FAILURE),
        }
        self.final_status = Some(status);
    }

    /// Kubernetes' `DeploymentComplete`: every replica updated and available, no old ones.
    fn complete(&self, status: &Map<String, Value>) -> bool {
        count(status, "updatedReplicas") == self.replicas
            && count(status, "replicas") == self.replicas
            && count(status, "availableReplicas") == self.replicas
            && count(status, "observedGeneration") >= int_at(self.d, "/metadata/generation", 0)
    }

    /// Whether the stored status says the rollout is complete (old ReplicaSets are cleaned up
    /// only then).
    pub(super) fn stored_status_complete(&self) -> bool {
        let stored = self
            .d
            .get("status")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        self.complete(&stored)
    }

    /// Kubernetes' `DeploymentProgressing`: compared with the stored status, more pods are
    /// updated, ready or available, or fewer old ones are left.
    fn progressing(&self, new: &Map<String, Value>) -> bool {
        let empty = Map::new();
        let old = self
            .d
            .get("status")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let old_olds = count(old, "replicas") - count(old, "updatedReplicas");
        let new_olds = count(new, "replicas") - count(new, "updatedReplicas");
        count(new, "updatedReplicas") > count(old, "updatedReplicas")
            || new_olds < old_olds
            || count(new, "readyReplicas") > count(old, "readyReplicas")
            || count(new, "availableReplicas") > count(old, "availableReplicas")
    }

    /// Kubernetes' `DeploymentTimedOut`: no progress since lastUpdateTime for longer than
    /// the deadline.
    fn timed_out(&self, status: &Map<String, Value>, deadline: i64) -> bool {
        let Some(cond) = condition(status, PROGRESSING) else {
            return false;
        };
        match str_at(cond, "/reason") {
            REASON_COMPLETE => false,
            REASON_TIMED_OUT => true,
            _ => match str_at(cond, "/lastUpdateTime").parse::<jiff::Timestamp>() {
                Ok(from) => from.as_second() + deadline < self.now.as_second(),
                Err(_) => false,
            },
        }
    }

    /// Kubernetes' `getReplicaFailures`: the new ReplicaSet's ReplicaFailure condition, else
    /// any old one's, as a deployment condition.
    fn replica_failure(&self) -> Option<Value> {
        let failure_of = |i: usize| {
            self.rses[i]
                .object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| str_at(c, "/type") == REPLICA_FAILURE)
        };
        let found = self
            .new_rs
            .and_then(failure_of)
            .or_else(|| (0..self.rses.len()).find_map(failure_of))?;
        let at = found
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or(Value::Null);
        Some(json!({
            "type": REPLICA_FAILURE,
            "status": found.get("status").cloned().unwrap_or(Value::Null),
            "lastUpdateTime": at,
            "lastTransitionTime": at,
            "reason": found.get("reason").cloned().unwrap_or(Value::Null),
            "message": found.get("message").cloned().unwrap_or(Value::Null),
        }))
    }
}
