//! What the Job controller reads from and writes to a Job's status: pod outcomes (finished,
//! failed, when), the pod-failure backoff, conditions, and the status object itself.
//!
//! All pure: functions of objects and the time.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::str_at;
use super::workload::{is_deleting, meta, pod_condition, pod_phase};

/// The finalizer that keeps a Job's pod around until the controller has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The first pause before a failed pod is replaced (kube's `DefaultJobPodFailureBackOff`).
pub const BACKOFF_BASE: SignedDuration = SignedDuration::from_secs(10);
/// The longest pause (kube's `MaxJobPodFailureBackOff`).
pub const BACKOFF_MAX: SignedDuration = SignedDuration::from_secs(360);

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const SUSPENDED: &str = "Suspended";

/// Whether the pod still carries the tracking finalizer.
pub fn has_finalizer(pod: &Value) -> bool {
    meta(pod, "finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(TRACKING_FINALIZER)))
}

/// A failed pod: phase Failed, or deleted before it succeeded (kube's `isPodFailed` when
/// terminating pods may be replaced; a deleted pod never gets the chance to fail otherwise).
pub fn is_failed(pod: &Value) -> bool {
    match pod_phase(pod) {
        "Failed" => true,
        "Succeeded" => false,
        _ => is_deleting(pod),
    }
}

/// Being deleted and not finished.
pub fn is_terminating(pod: &Value) -> bool {
    is_deleting(pod) && !matches!(pod_phase(pod), "Succeeded" | "Failed")
}

fn timestamp_at(object: &Value, pointer: &str) -> Option<Timestamp> {
    str_at(object, pointer).parse().ok()
}

/// When a pod finished: its containers' last `finishedAt`, else when it stopped being Ready,
/// else its deletion time, else `now` (kube's `getFinishedTime`).
pub fn finished_time(pod: &Value, now: Timestamp) -> Timestamp {
    let containers = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| timestamp_at(c, "/state/terminated/finishedAt"))
        .max();
    containers
        .or_else(|| {
            pod_condition(pod, "Ready")
                .filter(|c| str_at(c, "/status") == "False")
                .and_then(|c| timestamp_at(c, "/lastTransitionTime"))
        })
        .or_else(|| timestamp_at(pod, "/metadata/deletionTimestamp"))
        .unwrap_or(now)
}

/// How long pod creation must still wait after failures: 10 s after the first failure since
/// the last success, doubling per further failure up to 6 min, measured from the last failure
/// (kube's backoff record, rebuilt from the pods that are still there).
pub fn backoff_remaining(pods: &[&Arc<Value>], now: Timestamp) -> SignedDuration {
    let last_success = pods
        .iter()
        .filter(|p| pod_phase(p) == "Succeeded")
        .map(|p| finished_time(p, now))
        .max();
    let failures: Vec<Timestamp> = pods
        .iter()
        .filter(|p| is_failed(p))
        .map(|p| finished_time(p, now))
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let Some(last_failure) = failures.iter().max() else {
        return SignedDuration::ZERO;
    };
    let mut backoff = BACKOFF_BASE;
    for _ in 1..failures.len() {
        backoff = backoff.saturating_mul(2);
        if backoff >= BACKOFF_MAX {
            backoff = BACKOFF_MAX;
            break;
        }
    }
    let elapsed = now.duration_since(*last_failure);
    if backoff < elapsed {
        SignedDuration::ZERO
    } else {
        backoff - elapsed
    }
}

/// For `restartPolicy: OnFailure`, container restarts of running and pending pods count
/// toward the backoff limit (kube's `pastBackoffLimitOnFailure`).
pub fn past_backoff_limit_on_failure(job: &Value, pods: &[&Arc<Value>], limit: i64) -> bool {
    if str_at(job, "/spec/template/spec/restartPolicy") != "OnFailure" {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|p| matches!(pod_phase(p), "Running" | "Pending"))
        .flat_map(|p| {
            ["initContainerStatuses", "containerStatuses"]
                .into_iter()
                .filter_map(|list| p.get("status")?.get(list)?.as_array())
                .flatten()
        })
        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// The Job's conditions as stored.
pub fn conditions(job: &Value) -> Vec<Value> {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The condition of `kind` with status True, if any.
pub fn true_condition<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a Value> {
    conditions
        .iter()
        .find(|c| str_at(c, "/type") == kind && str_at(c, "/status") == "True")
}

/// Complete or Failed: the Job is done and the controller leaves it alone.
pub fn is_finished(job: &Value) -> bool {
    finish_time(job).is_some()
}

/// When the Job became Complete or Failed.
pub fn finish_time(job: &Value) -> Option<Timestamp> {
    let conditions = job.pointer("/status/conditions")?.as_array()?;
    conditions
        .iter()
        .find(|c| matches!(str_at(c, "/type"), COMPLETE | FAILED) && str_at(c, "/status") == "True")
        .map(|c| timestamp_at(c, "/lastTransitionTime").unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A condition as kube's `newCondition` makes it.
pub fn new_condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": kind,
        "status": status,
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// kube's `ensureJobConditionStatus`: replaces a condition of `kind` that differs, adds one
/// that is missing unless it would be False. Returns whether anything changed.
pub fn ensure_condition(
    conditions: &mut Vec<Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> bool {
    if let Some(existing) = conditions.iter_mut().find(|c| str_at(c, "/type") == kind) {
        if str_at(existing, "/status") != status
            || str_at(existing, "/reason") != reason
            || str_at(existing, "/message") != message
        {
            *existing = new_condition(kind, status, reason, message, now);
            return true;
        }
        return false;
    }
    if status != "False" {
        conditions.push(new_condition(kind, status, reason, message, now));
        return true;
    }
    false
}

/// `status.uncountedTerminatedPods`: uids of finished pods recorded before their finalizer
/// is removed, so that each is counted exactly once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Uncounted {
    pub succeeded: Vec<String>,
    pub failed: Vec<String>,
}

impl Uncounted {
    pub fn of(job: &Value) -> Uncounted {
        let list = |key: &str| -> Vec<String> {
            job.pointer("/status/uncountedTerminatedPods")
                .and_then(|u| u.get(key))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        Uncounted {
            succeeded: list("succeeded"),
            failed: list("failed"),
        }
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.succeeded.iter().any(|u| u == uid) || self.failed.iter().any(|u| u == uid)
    }

    pub fn len(&self) -> usize {
        self.succeeded.len() + self.failed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        if !self.succeeded.is_empty() {
            map.insert("succeeded".into(), json!(self.succeeded));
        }
        if !self.failed.is_empty() {
            map.insert("failed".into(), json!(self.failed));
        }
        Value::Object(map)
    }
}

/// Everything the controller reports in a Job's status.
#[derive(Clone, Debug, Default)]
pub struct JobStatus {
    pub conditions: Vec<Value>,
    pub start_time: Option<String>,
    pub completion_time: Option<String>,
    pub active: i64,
    pub ready: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub terminating: i64,
    /// Indexed Jobs only.
    pub completed_indexes: Option<BTreeSet<i64>>,
    pub uncounted: Uncounted,
}

impl JobStatus {
    /// The status object, with zero counts left out as kube's `omitempty` does (`ready` and
    /// `terminating` are pointers there, so they are always written).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        if !self.conditions.is_empty() {
            map.insert("conditions".into(), json!(self.conditions));
        }
        if let Some(start) = &self.start_time {
            map.insert("startTime".into(), json!(start));
        }
        if let Some(done) = &self.completion_time {
            map.insert("completionTime".into(), json!(done));
        }
        for (key, value) in [
            ("active", self.active),
            ("succeeded", self.succeeded),
            ("failed", self.failed),
        ] {
            if value != 0 {
                map.insert(key.into(), json!(value));
            }
        }
        map.insert("ready".into(), json!(self.ready));
        map.insert("terminating".into(), json!(self.terminating));
        if let Some(indexes) = &self.completed_indexes
            && !indexes.is_empty()
        {
            map.insert(
                "completedIndexes".into(),
                json!(super::job_index::format_indexes(indexes)),
            );
        }
        map.insert("uncountedTerminatedPods".into(), self.uncounted.to_value());
        Value::Object(map)
    }
}

/// Whether `status` differs from the stored one.
pub fn status_changed(job: &Value, status: &Value) -> bool {
    let empty = json!({});
    job.get("status").unwrap_or(&empty) != status
}
