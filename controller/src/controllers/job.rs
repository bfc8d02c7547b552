//! Job controller: runs a Job's pods to `completions` successes with at most `parallelism` at
//! a time (or, without `completions`, until one succeeds), with Indexed completion, the
//! backoff limit and the pod-failure backoff, the active deadline, suspension and the TTL
//! after finishing (kube-controller-manager's `job` and `ttl-after-finished` controllers).
//!
//! Every pod is counted exactly once, even across controller restarts and leader changes, by
//! kube's protocol: pods are created with the `batch.kubernetes.io/job-tracking` finalizer; a
//! finished pod's uid is first written to `status.uncountedTerminatedPods`, then its finalizer
//! is removed, then (next pass, when the pod has no finalizer or is gone) it moves into
//! `status.succeeded` / `status.failed`. The plan is a pure function of the snapshot and the
//! time; [`reconcile`] writes it through the API.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::events::EventType;
use super::job_index::{parse_indexes, valid_index};
use super::job_pods::{PodChanges, manage};
use super::job_status::{
    COMPLETE, FAILED, FAILURE_TARGET, JobStatus, SUCCESS_CRITERIA_MET, SUSPENDED, Uncounted,
    conditions, ensure_condition, finish_time, has_finalizer, is_failed, is_finished,
    is_terminating, past_backoff_limit_on_failure, status_changed, true_condition,
};
use super::job_track::track;
use super::workload::{
    by_controller, controller_ref, int_at, is_deleting, is_pod_active, is_pod_ready, key_of,
    of_kind, pod_phase, uid_of,
};
use super::{Snapshot, str_at};

pub use super::job_pods::job_pod;
pub use super::job_run::reconcile;

/// The component named in this controller's Events.
pub const COMPONENT: &str = "job-controller";
/// At most this many pods are created or deleted for one Job in one pass (kube's
/// `MaxPodCreateDeletePerSync`).
pub const MAX_POD_CHANGES: usize = 500;
/// At most this many uids wait in `uncountedTerminatedPods` (kube's `MaxUncountedPods`).
pub const MAX_UNCOUNTED: usize = 500;

/// An Event to record once the status write it belongs to succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub kind: EventType,
    pub reason: &'static str,
    pub message: String,
}

/// One step of the Job controller. The runner does a Job's steps in the order
/// DeletePods, CreatePods, Status, RemoveFinalizers, DeleteJob.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Delete these pods. With `strip_finalizer` the tracking finalizer goes first, so the pod
    /// is not counted (surplus and suspended pods); without it the pod is counted as failed
    /// (a failing Job's active pods).
    DeletePods {
        job: Arc<Value>,
        pods: Vec<Arc<Value>>,
        strip_finalizer: bool,
    },
    /// Create these pods (built from the template; `generateName` is set).
    CreatePods { job: Arc<Value>, pods: Vec<Value> },
    /// Replace the status (only planned when it changed), guarded by the Job's
    /// resourceVersion, then record `events`.
    Status {
        job: Arc<Value>,
        status: Value,
        events: Vec<JobEvent>,
    },
    /// Remove the tracking finalizer from these pods; only after the Job's Status step
    /// succeeded (their uids are then durable in `uncountedTerminatedPods`). `job` is `None`
    /// for pods whose Job is gone or finished.
    RemoveFinalizers {
        job: Option<Arc<Value>>,
        pods: Vec<Arc<Value>>,
    },
    /// Delete a finished Job whose `ttlSecondsAfterFinished` ran out.
    DeleteJob { job: Arc<Value> },
}

/// Pure core: the actions for every Job in `snapshot` at `now`.
pub fn plan(snapshot: &Snapshot, now: Timestamp) -> Vec<Action> {
    let pods: Vec<&Arc<Value>> = of_kind(snapshot, "", "pods").collect();
    let owned = by_controller(pods.iter().copied());
    let mut jobs: HashMap<&str, &Arc<Value>> = HashMap::new();
    let mut actions = Vec::new();
    for job in of_kind(snapshot, "batch", "jobs") {
        jobs.insert(uid_of(job), job);
        let (namespace, _) = key_of(job);
        let mine: Vec<&Arc<Value>> = owned
            .get(uid_of(job))
            .into_iter()
            .flatten()
            .filter(|p| key_of(p).0 == namespace)
            .copied()
            .collect();
        actions.extend(plan_job(job, &mine, now));
    }
    // Pods that keep the finalizer although no unfinished Job will count them (kube's orphan
    // pod handling): their Job is gone or done, or they have no controller at all.
    let orphans: Vec<Arc<Value>> = pods
        .iter()
        .filter(|p| has_finalizer(p))
        .filter(|p| match controller_ref(p) {
            None => true,
            Some(r) if str_at(r, "/kind") == "Job" && str_at(r, "/apiVersion") == "batch/v1" => {
                jobs.get(str_at(r, "/uid"))
                    .is_none_or(|job| is_finished(job))
            }
            Some(_) => false,
        })
        .map(|p| (*p).clone())
        .collect();
    if !orphans.is_empty() {
        actions.push(Action::RemoveFinalizers {
            job: None,
            pods: orphans,
        });
    }
    actions
}

/// How a Job is about to finish.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Finish {
    Failure { reason: String, message: String },
    Success { reason: String, message: String },
}

/// The Job's spec, as the controller reads it.
pub(super) struct Spec {
    pub completions: Option<i64>,
    pub parallelism: i64,
    pub backoff_limit: i64,
    pub indexed: bool,
    pub suspended: bool,
    pub replace_only_failed: bool,
}

impl Spec {
    pub fn of(job: &Value) -> Spec {
        let completions = job.pointer("/spec/completions").and_then(Value::as_i64);
        Spec {
            completions,
            parallelism: int_at(job, "/spec/parallelism", 1).max(0),
            backoff_limit: int_at(job, "/spec/backoffLimit", 6),
            indexed: str_at(job, "/spec/completionMode") == "Indexed" && completions.is_some(),
            suspended: job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true),
            replace_only_failed: str_at(job, "/spec/podReplacementPolicy") == "Failed",
        }
    }

    pub fn valid_index(&self, pod: &Value) -> Option<i64> {
        valid_index(pod, self.completions.unwrap_or(0))
    }
}

/// The actions for one Job and the pods it controls.
pub fn plan_job(job: &Arc<Value>, pods: &[&Arc<Value>], now: Timestamp) -> Vec<Action> {
    if is_finished(job) {
        return ttl_expired(job, now)
            .then(|| Action::DeleteJob { job: job.clone() })
            .into_iter()
            .collect();
    }
    let now_text = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let spec = Spec::of(job);
    let deleting = is_deleting(job);
    let stored = Uncounted::of(job);
    let active_pods: Vec<&Arc<Value>> = pods.iter().copied().filter(|p| is_pod_active(p)).collect();
    let counts_as_new = |p: &Value| {
        has_finalizer(p)
            && !stored.contains(uid_of(p))
            && (!spec.indexed || spec.valid_index(p).is_some())
    };
    let new_succeeded = pods
        .iter()
        .filter(|p| counts_as_new(p) && pod_phase(p) == "Succeeded")
        .count() as i64;
    let new_failed = pods
        .iter()
        .filter(|p| counts_as_new(p) && is_failed(p))
        .count() as i64;
    // Indexed Jobs count succeeded indexes: the stored ones and those of succeeded pods not
    // counted yet (kube's `calculateSucceededIndexes`).
    let succeeded_indexes = spec.completions.filter(|_| spec.indexed).map(|c| {
        let mut all = parse_indexes(str_at(job, "/status/completedIndexes"), c);
        all.extend(
            pods.iter()
                .filter(|p| pod_phase(p) == "Succeeded" && has_finalizer(p))
                .filter_map(|p| spec.valid_index(p)),
        );
        all
    });
    let succeeded = match &succeeded_indexes {
        Some(all) => all.len() as i64,
        None => int_at(job, "/status/succeeded", 0) + new_succeeded + stored.succeeded.len() as i64,
    };
    let failed = int_at(job, "/status/failed", 0) + new_failed + stored.failed.len() as i64;

    let mut conditions = conditions(job);
    let mut start_time = job
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if start_time.is_none() && !spec.suspended {
        start_time = Some(now_text.clone());
    }
    let mut finish = finish_in_progress(&conditions);
    if finish.is_none() {
        if failed > spec.backoff_limit
            || past_backoff_limit_on_failure(job, pods, spec.backoff_limit)
        {
            finish = Some(Finish::Failure {
                reason: "BackoffLimitExceeded".into(),
                message: "Job has reached the specified backoff limit".into(),
            });
        } else if past_active_deadline(job, &spec, start_time.as_deref(), now) {
            finish = Some(Finish::Failure {
                reason: "DeadlineExceeded".into(),
                message: "Job was active longer than specified deadline".into(),
            });
        }
    }

    let mut events = Vec::new();
    let mut changes = PodChanges::default();
    let mut active = active_pods.len();
    if finish.is_some() {
        // A finishing Job's active pods go, keeping their finalizers so they are counted.
        changes.delete = active_pods.iter().map(|p| (*p).clone()).collect();
        active = 0;
    } else {
        let managed = !deleting;
        if managed {
            changes = manage(
                job,
                &spec,
                pods,
                &active_pods,
                succeeded,
                succeeded_indexes.as_ref(),
                now,
            );
            active = active + changes.create.len() - changes.delete.len();
        }
        let complete = match spec.completions {
            None => succeeded > 0 && active == 0,
            Some(completions) => succeeded >= completions && active == 0,
        };
        if complete {
            finish = Some(Finish::Success {
                reason: "CompletionsReached".into(),
                message: "Reached expected number of succeeded pods".into(),
            });
        } else if managed {
            if spec.suspended {
                let changed = ensure_condition(
                    &mut conditions,
                    SUSPENDED,
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    &now_text,
                );
                if changed {
                    events.push(normal("Suspended", "Job suspended"));
                }
            } else {
                let changed = ensure_condition(
                    &mut conditions,
                    SUSPENDED,
                    "False",
                    "JobResumed",
                    "Job resumed",
                    &now_text,
                );
                if changed {
                    events.push(normal("Resumed", "Job resumed"));
                    // The active deadline counts from the resumption.
                    start_time = Some(now_text.clone());
                }
            }
        }
    }
    let deleted: HashSet<&str> = changes.delete.iter().map(|p| uid_of(p)).collect();
    let ready = active_pods
        .iter()
        .filter(|p| is_pod_ready(p) && !deleted.contains(uid_of(p)))
        .count();
    let terminating = pods.iter().filter(|p| is_terminating(p)).count() + changes.delete.len();

    let tracked = track(job, &spec, pods, &stored, finish.as_ref(), deleting);
    let mut status = JobStatus {
        conditions,
        start_time,
        completion_time: job
            .pointer("/status/completionTime")
            .and_then(Value::as_str)
            .map(str::to_owned),
        active: active as i64,
        ready: ready as i64,
        succeeded: tracked.succeeded,
        failed: tracked.failed,
        terminating: terminating as i64,
        completed_indexes: tracked.completed_indexes,
        uncounted: tracked.uncounted,
    };
    let target = match &finish {
        Some(Finish::Failure { reason, message }) => Some((FAILURE_TARGET, reason, message)),
        Some(Finish::Success { reason, message }) => Some((SUCCESS_CRITERIA_MET, reason, message)),
        None => None,
    };
    if let Some((kind, reason, message)) = target
        && true_condition(&status.conditions, kind).is_none()
    {
        ensure_condition(
            &mut status.conditions,
            kind,
            "True",
            reason,
            message,
            &now_text,
        );
    }
    // The terminal condition waits until every finished pod is counted and no pod is still
    // terminating (kube's `enactJobFinished` with delayed terminal conditions).
    if let Some(finish) = &finish
        && !tracked.reached_max
        && status.uncounted.is_empty()
        && status.terminating == 0
    {
        enact_finished(&spec, finish, &mut status, &mut events, &now_text);
    }

    let mut actions = Vec::new();
    if !changes.delete.is_empty() {
        actions.push(Action::DeletePods {
            job: job.clone(),
            pods: changes.delete,
            strip_finalizer: changes.strip_finalizer,
        });
    }
    if !changes.create.is_empty() {
        actions.push(Action::CreatePods {
            job: job.clone(),
            pods: changes.create,
        });
    }
    let status = status.to_value();
    if status_changed(job, &status) {
        actions.push(Action::Status {
            job: job.clone(),
            status,
            events,
        });
    }
    if !tracked.remove_finalizers.is_empty() {
        actions.push(Action::RemoveFinalizers {
            job: Some(job.clone()),
            pods: tracked.remove_finalizers,
        });
    }
    actions
}

fn normal(reason: &'static str, message: &str) -> JobEvent {
    JobEvent {
        kind: EventType::Normal,
        reason,
        message: message.to_owned(),
    }
}

/// A finish already decided in an earlier pass: its interim condition is stored.
fn finish_in_progress(conditions: &[Value]) -> Option<Finish> {
    let of = |c: &Value| {
        (
            str_at(c, "/reason").to_owned(),
            str_at(c, "/message").to_owned(),
        )
    };
    if let Some(c) = true_condition(conditions, FAILURE_TARGET) {
        let (reason, message) = of(c);
        return Some(Finish::Failure { reason, message });
    }
    true_condition(conditions, SUCCESS_CRITERIA_MET).map(|c| {
        let (reason, message) = of(c);
        Finish::Success { reason, message }
    })
}

/// kube's `pastActiveDeadline`: never while suspended.
fn past_active_deadline(job: &Value, spec: &Spec, start: Option<&str>, now: Timestamp) -> bool {
    let Some(deadline) = job
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
    else {
        return false;
    };
    if spec.suspended {
        return false;
    }
    let Some(start) = start.and_then(|s| s.parse::<Timestamp>().ok()) else {
        return false;
    };
    now.duration_since(start) >= SignedDuration::from_secs(deadline)
}

/// Whether a finished Job's `ttlSecondsAfterFinished` has run out.
fn ttl_expired(job: &Value, now: Timestamp) -> bool {
    let Some(ttl) = job
        .pointer("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_i64)
    else {
        return false;
    };
    if is_deleting(job) {
        return false;
    }
    finish_time(job).is_some_and(|done| done + SignedDuration::from_secs(ttl) <= now)
}

/// Adds the terminal condition (and `completionTime`) and the Event that goes with it.
fn enact_finished(
    spec: &Spec,
    finish: &Finish,
    status: &mut JobStatus,
    events: &mut Vec<JobEvent>,
    now: &str,
) {
    match finish {
        Finish::Success { reason, message } => {
            ensure_condition(
                &mut status.conditions,
                COMPLETE,
                "True",
                reason,
                message,
                now,
            );
            status.completion_time = Some(now.to_owned());
            if spec.completions.is_some_and(|c| status.succeeded > c) {
                events.push(JobEvent {
                    kind: EventType::Warning,
                    reason: "TooManySucceededPods",
                    message: "Too many succeeded pods running after completion count reached"
                        .into(),
                });
            }
            events.push(normal("Completed", "Job completed"));
        }
        Finish::Failure { reason, message } => {
            ensure_condition(&mut status.conditions, FAILED, "True", reason, message, now);
            let reason = match reason.as_str() {
                "BackoffLimitExceeded" => "BackoffLimitExceeded",
                "DeadlineExceeded" => "DeadlineExceeded",
                _ => "JobFailed",
            };
            events.push(JobEvent {
                kind: EventType::Warning,
                reason,
                message: message.clone(),
            });
        }
    }
}

#[cfg(test)]
#[path = "job_test.rs"]
mod tests;
