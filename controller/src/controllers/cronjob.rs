//! CronJob controller: creates a Job for each time a CronJob's schedule fires, as
//! kube-controller-manager's `cronjob` controller (v2) does: the most recent missed time is run
//! once (never a backlog of them), `startingDeadlineSeconds` drops a time started too late,
//! `concurrencyPolicy` allows, forbids or replaces overlapping runs, `suspend` stops new runs,
//! and finished Jobs beyond the history limits are deleted.
//!
//! A Job's name is `{cronjob}-{scheduled unix minutes}`, so that a run is created at most once
//! even across controller restarts and leader changes: a Job of that name already owned by the
//! CronJob counts as the run. [`plan_cronjob`] is pure; [`reconcile`] writes its plan.

use std::collections::HashMap;
use std::sync::Arc;

use edge_api::cron::{CronError, Schedule};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde_json::{Map, Value, json};

use super::events::EventType;
use super::job_status::{COMPLETE, FAILED, is_finished, true_condition};
use super::workload::{by_controller, is_deleting, key_of, meta, of_kind, owner_reference, uid_of};
use super::{Snapshot, str_at};

pub use super::cronjob_run::reconcile;

/// The component named in Events.
pub const COMPONENT: &str = "cronjob-controller";
/// The annotation with the time a Job was scheduled for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// More missed times than this get a warning (kube's limit).
const TOO_MANY_MISSED: i64 = 100;

/// An Event to record about the CronJob.
#[derive(Clone, Debug, PartialEq)]
pub struct CronEvent {
    pub kind: EventType,
    pub reason: &'static str,
    pub message: String,
}

/// What to do for one CronJob, in order: delete `replace` (the running Jobs a Replace policy
/// stops), create `create`, write `status` (with the created Job added to `active` and
/// `lastScheduleTime` set to `scheduled`), then delete `expired` (history beyond the limits).
#[derive(Clone, Debug, Default)]
pub struct CronPlan {
    pub events: Vec<CronEvent>,
    pub replace: Vec<Arc<Value>>,
    pub create: Option<Value>,
    /// The time the created Job is for (RFC 3339).
    pub scheduled: Option<String>,
    /// The status to write, when it differs from the stored one (or a Job is created).
    pub status: Option<Value>,
    pub expired: Vec<Arc<Value>>,
}

impl CronPlan {
    fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.replace.is_empty()
            && self.create.is_none()
            && self.status.is_none()
            && self.expired.is_empty()
    }
}

/// Pure core: the plan of every CronJob in `snapshot` at `now`; schedules without a time zone
/// are read in `local` (Kubernetes uses the controller's own zone).
pub fn plan(snapshot: &Snapshot, now: Timestamp, local: &TimeZone) -> Vec<(Arc<Value>, CronPlan)> {
    let owned = by_controller(of_kind(snapshot, "batch", "jobs"));
    of_kind(snapshot, "batch", "cronjobs")
        .filter_map(|cj| {
            let (namespace, _) = key_of(cj);
            let jobs: Vec<&Arc<Value>> = owned
                .get(uid_of(cj))
                .into_iter()
                .flatten()
                .filter(|j| key_of(j).0 == namespace)
                .copied()
                .collect();
            let plan = plan_cronjob(cj, &jobs, now, local);
            (!plan.is_empty()).then(|| (cj.clone(), plan))
        })
        .collect()
}

/// The plan for one CronJob and the Jobs it controls.
pub fn plan_cronjob(
    cj: &Value,
    jobs: &[&Arc<Value>],
    now: Timestamp,
    local: &TimeZone,
) -> CronPlan {
    let mut plan = CronPlan::default();
    let mut status = cj.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut active = active_refs(&status);
    track_children(jobs, &mut active, &mut status, &mut plan.events);
    if !is_deleting(cj) {
        schedule_run(cj, jobs, now, local, &mut active, &mut status, &mut plan);
        plan.expired = expired_jobs(cj, jobs, &plan.replace);
    }
    status["active"] = Value::Array(active);
    if status["active"].as_array().is_some_and(Vec::is_empty) {
        status.as_object_mut().map(|s| s.remove("active"));
    }
    let current = cj.get("status").cloned().unwrap_or_else(|| json!({}));
    if plan.create.is_some() || !same_status(&current, &status) {
        plan.status = Some(status);
    }
    plan
}

fn active_refs(status: &Value) -> Vec<Value> {
    status
        .get("active")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// kube's child bookkeeping: finished Jobs leave `active` and move `lastSuccessfulTime`;
/// references to Jobs that are gone are dropped; an unfinished owned Job missing from `active`
/// (the controller stopped between creating it and writing the status) is put back.
fn track_children(
    jobs: &[&Arc<Value>],
    active: &mut Vec<Value>,
    status: &mut Value,
    events: &mut Vec<CronEvent>,
) {
    let mut last_success = status
        .get("lastSuccessfulTime")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok());
    for job in jobs {
        let uid = uid_of(job);
        let listed = active.iter().any(|r| str_at(r, "/uid") == uid);
        let finished = is_finished(job);
        if finished {
            if listed {
                active.retain(|r| str_at(r, "/uid") != uid);
                let condition = finished_condition(job);
                events.push(normal(
                    "SawCompletedJob",
                    format!(
                        "Saw completed job: {}, condition: {condition}",
                        key_of(job).1
                    ),
                ));
            }
            if true_condition(&conditions(job), COMPLETE).is_some()
                && let Some(done) = job
                    .pointer("/status/completionTime")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<Timestamp>().ok())
                && last_success.is_none_or(|last| done > last)
            {
                last_success = Some(done);
            }
        } else if !listed && !is_deleting(job) {
            // One of ours whose status write was lost is put back; any other (a manual
            // `create job --from`) is reported and left out, as Kubernetes does.
            if meta(job, "annotations")
                .and_then(|a| a.get(SCHEDULED_TIMESTAMP))
                .is_some()
            {
                active.push(job_ref(job));
            } else {
                events.push(warning(
                    "UnexpectedJob",
                    format!(
                        "Saw a job that the controller did not create or forgot: {}",
                        key_of(job).1
                    ),
                ));
            }
        }
    }
    let present: Vec<&str> = jobs.iter().map(|j| uid_of(j)).collect();
    active.retain(|r| {
        let keep = present.contains(&str_at(r, "/uid"));
        if !keep {
            events.push(normal(
                "MissingJob",
                format!("Active job went missing: {}", str_at(r, "/name")),
            ));
        }
        keep
    });
    if let Some(t) = last_success {
        status["lastSuccessfulTime"] = json!(rfc3339(t));
    }
}

fn conditions(job: &Value) -> Vec<Value> {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn finished_condition(job: &Value) -> &'static str {
    if true_condition(&conditions(job), FAILED).is_some() {
        FAILED
    } else {
        COMPLETE
    }
}

/// Decides whether a run is due now and adds it to the plan.
fn schedule_run(
    cj: &Value,
    jobs: &[&Arc<Value>],
    now: Timestamp,
    local: &TimeZone,
    active: &mut Vec<Value>,
    status: &mut Value,
    plan: &mut CronPlan,
) {
    if cj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let zone = match cj.pointer("/spec/timeZone").and_then(Value::as_str) {
        Some(name) => match edge_api::cron::time_zone(name) {
            Ok(zone) => zone,
            Err(_) => {
                plan.events.push(warning(
                    "UnknownTimeZone",
                    format!("invalid timeZone: {name:?}: unknown time zone {name}"),
                ));
                return;
            }
        },
        None => local.clone(),
    };
    let spec = str_at(cj, "/spec/schedule");
    let schedule = match Schedule::parse(spec) {
        Ok(schedule) => schedule,
        Err(err) => {
            plan.events.push(unparseable(spec, &err));
            return;
        }
    };
    let deadline = cj
        .pointer("/spec/startingDeadlineSeconds")
        .and_then(Value::as_i64);
    let Some(missed) = most_recent_time(cj, &schedule, &zone, now, deadline) else {
        return;
    };
    if missed.count > TOO_MANY_MISSED {
        plan.events.push(warning(
            "TooManyMissedTimes",
            format!(
                "too many missed start times: {}. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                missed.count
            ),
        ));
    }
    let scheduled = missed.time;
    if let Some(deadline) = deadline
        && scheduled.timestamp().as_second().saturating_add(deadline) < now.as_second()
    {
        plan.events.push(warning(
            "MissSchedule",
            format!(
                "Missed scheduled time to start a job: {}",
                rfc3339(scheduled.timestamp())
            ),
        ));
        return;
    }
    let name = job_name(cj, scheduled.timestamp());
    let scheduled_text = rfc3339(scheduled.timestamp());
    if jobs.iter().any(|j| key_of(j).1 == name) {
        // Created before, but the status write was lost: the run happened.
        status["lastScheduleTime"] = json!(scheduled_text);
        return;
    }
    if status.get("lastScheduleTime").and_then(Value::as_str) == Some(&scheduled_text) {
        return;
    }
    match str_at(cj, "/spec/concurrencyPolicy") {
        "Forbid" if !active.is_empty() => {
            plan.events.push(normal(
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".to_owned(),
            ));
            return;
        }
        "Replace" => {
            for r in active.drain(..) {
                if let Some(job) = jobs.iter().find(|j| uid_of(j) == str_at(&r, "/uid")) {
                    plan.replace.push(Arc::clone(job));
                }
            }
        }
        _ => {}
    }
    plan.create = Some(job_from_template(cj, &name, &scheduled));
    plan.scheduled = Some(scheduled_text);
}

fn unparseable(spec: &str, err: &CronError) -> CronEvent {
    let reason = match err {
        CronError::UnknownTimeZone(_) | CronError::BadLocation { .. } => "UnknownTimeZone",
        _ => "UnparseableSchedule",
    };
    warning(reason, format!("unparseable schedule: {spec:?} : {err}"))
}

/// The most recent time the schedule fired at or before `now` that has not run yet, and how
/// many such times there were.
#[derive(Debug)]
struct Missed {
    time: Zoned,
    count: i64,
}

/// kube's `mostRecentScheduleTime`: from the last scheduled time (or the creation time), bounded
/// by the starting deadline, to `now`.
fn most_recent_time(
    cj: &Value,
    schedule: &Schedule,
    zone: &TimeZone,
    now: Timestamp,
    deadline: Option<i64>,
) -> Option<Missed> {
    let time_at = |pointer: &str| {
        cj.pointer(pointer)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    let mut earliest = time_at("/status/lastScheduleTime")
        .or_else(|| time_at("/metadata/creationTimestamp"))
        .unwrap_or(now);
    if let Some(deadline) = deadline
        && let Ok(bound) = Timestamp::from_second(now.as_second().saturating_sub(deadline))
        && bound > earliest
    {
        earliest = bound;
    }
    let first = schedule.next_after(&earliest.to_zoned(zone.clone()))?;
    if first.timestamp() > now {
        return None;
    }
    let (mut time, mut count) = (first, 1);
    while let Some(next) = schedule.next_after(&time) {
        if next.timestamp() > now {
            break;
        }
        if count < TOO_MANY_MISSED {
            (time, count) = (next, count + 1);
            continue;
        }
        // Past the warning limit, count by the schedule's period as kube does (a rough count
        // for irregular schedules), so that a controller down for a year costs a few steps.
        let period = (next.timestamp().as_second() - time.timestamp().as_second()).max(1);
        let skip = (now.as_second() - next.timestamp().as_second()) / period;
        count += 1 + skip;
        let potential = next.timestamp().as_second() + (skip - 1).max(0) * period;
        time = next;
        let mut t = Timestamp::from_second(potential)
            .ok()?
            .to_zoned(zone.clone());
        while let Some(after) = schedule.next_after(&t) {
            if after.timestamp() > now {
                break;
            }
            (time, t) = (after.clone(), after);
        }
        break;
    }
    Some(Missed { time, count })
}

/// `{cronjob}-{scheduled time in unix minutes}` (kube's `getJobName`).
pub fn job_name(cj: &Value, scheduled: Timestamp) -> String {
    format!("{}-{}", key_of(cj).1, scheduled.as_second().div_euclid(60))
}

/// The Job for a run: the CronJob's `jobTemplate` with its labels and annotations, the
/// scheduled-time annotation and the CronJob as controller.
pub fn job_from_template(cj: &Value, name: &str, scheduled: &Zoned) -> Value {
    let template = cj.pointer("/spec/jobTemplate").cloned().unwrap_or_default();
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(key_of(cj).0));
    if let Some(labels) = template
        .pointer("/metadata/labels")
        .filter(|l| l.is_object())
    {
        metadata.insert("labels".into(), labels.clone());
    }
    let mut annotations = template
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), json!(go_rfc3339(scheduled)));
    metadata.insert("annotations".into(), Value::Object(annotations));
    metadata.insert(
        "ownerReferences".into(),
        json!([owner_reference(cj, "batch/v1", "CronJob")]),
    );
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

/// The reference `status.active` holds for a Job.
pub fn job_ref(job: &Value) -> Value {
    let (namespace, name) = key_of(job);
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": name,
        "namespace": namespace,
        "uid": uid_of(job),
        "resourceVersion": meta(job, "resourceVersion").cloned().unwrap_or(Value::Null),
    })
}

/// Finished Jobs beyond `successfulJobsHistoryLimit` (default 3) and `failedJobsHistoryLimit`
/// (default 1), oldest first; Jobs already being replaced or deleted are left alone.
fn expired_jobs(cj: &Value, jobs: &[&Arc<Value>], replaced: &[Arc<Value>]) -> Vec<Arc<Value>> {
    let limit = |field: &str, default: i64| {
        cj.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_i64)
            .unwrap_or(default)
            .max(0) as usize
    };
    let mut by_outcome: HashMap<&str, Vec<&Arc<Value>>> = HashMap::new();
    for job in jobs {
        if is_finished(job)
            && !is_deleting(job)
            && !replaced.iter().any(|r| uid_of(r) == uid_of(job))
        {
            by_outcome
                .entry(finished_condition(job))
                .or_default()
                .push(job);
        }
    }
    let mut expired = Vec::new();
    for (outcome, keep) in [
        (COMPLETE, limit("successfulJobsHistoryLimit", 3)),
        (FAILED, limit("failedJobsHistoryLimit", 1)),
    ] {
        let mut finished = by_outcome.remove(outcome).unwrap_or_default();
        if finished.len() <= keep {
            continue;
        }
        finished.sort_by_key(|j| start_time(j));
        let surplus = finished.len() - keep;
        expired.extend(finished.into_iter().take(surplus).cloned());
    }
    expired
}

/// When a Job started (its creation time when it never did), then its name, for ordering.
fn start_time(job: &Value) -> (Timestamp, String) {
    let at = |pointer: &str| {
        job.pointer(pointer)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    let start = at("/status/startTime")
        .or_else(|| at("/metadata/creationTimestamp"))
        .unwrap_or(Timestamp::MIN);
    (start, key_of(job).1.to_owned())
}

/// Whether two statuses say the same (a missing list equals an empty one).
fn same_status(a: &Value, b: &Value) -> bool {
    let field = |s: &Value, k: &str| s.get(k).cloned().unwrap_or(Value::Null);
    let active = |s: &Value| {
        let mut uids: Vec<String> = active_refs(s)
            .iter()
            .map(|r| str_at(r, "/uid").to_owned())
            .collect();
        uids.sort();
        uids
    };
    active(a) == active(b)
        && field(a, "lastScheduleTime") == field(b, "lastScheduleTime")
        && field(a, "lastSuccessfulTime") == field(b, "lastSuccessfulTime")
}

/// RFC 3339 in UTC at whole seconds, as Kubernetes writes times.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A zoned time as Go's `time.RFC3339` prints it: `Z` for UTC, else the offset.
fn go_rfc3339(t: &Zoned) -> String {
    if t.offset().seconds() == 0 {
        rfc3339(t.timestamp())
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

fn normal(reason: &'static str, message: String) -> CronEvent {
    CronEvent {
        kind: EventType::Normal,
        reason,
        message,
    }
}

fn warning(reason: &'static str, message: String) -> CronEvent {
    CronEvent {
        kind: EventType::Warning,
        reason,
        message,
    }
}

#[cfg(test)]
#[path = "cronjob_test.rs"]
mod tests;
