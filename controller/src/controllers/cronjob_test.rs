//! Tests of the CronJob controller's plan: when a run is due, missed runs, the starting
//! deadline, concurrency policies, suspension, child bookkeeping, history limits and time
//! zones.

use serde_json::json;

use super::*;
use crate::controllers::cache::snapshot_of;

fn at(text: &str) -> Timestamp {
    text.parse().expect("test time")
}

/// A CronJob as admission leaves it, created at 10:00:30, with `spec` merged over the
/// defaults and the given status.
fn cronjob(spec: Value, status: Value) -> Value {
    let mut cj = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "demo", "uid": "uid-tick",
                     "resourceVersion": "7", "creationTimestamp": "2026-06-01T10:00:30Z"},
        "spec": {
            "schedule": "*/5 * * * *", "concurrencyPolicy": "Allow", "suspend": false,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": {"app": "tick"}},
                "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                    "containers": [{"name": "c", "image": "busybox"}]}}},
            },
        },
        "status": status,
    });
    for (k, v) in spec.as_object().expect("spec object") {
        cj["spec"][k] = v.clone();
    }
    cj
}

/// A Job of the CronJob: `state` is "running", "complete" or "failed"; `started` its start.
fn child(name: &str, state: &str, started: &str) -> Value {
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "demo", "uid": format!("uid-{name}"),
                     "resourceVersion": "3", "creationTimestamp": started,
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                         "name": "tick", "uid": "uid-tick", "controller": true}]},
        "spec": {},
        "status": {"startTime": started},
    });
    let condition = match state {
        "complete" => Some("Complete"),
        "failed" => Some("Failed"),
        _ => None,
    };
    if let Some(kind) = condition {
        job["status"]["conditions"] = json!([{"type": kind, "status": "True"}]);
        job["status"]["completionTime"] = json!(started);
    }
    job
}

fn active(names: &[&str]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| {
                json!({"apiVersion": "batch/v1", "kind": "Job", "name": n,
                            "namespace": "demo", "uid": format!("uid-{n}")})
            })
            .collect(),
    )
}

fn plan_at(cj: &Value, jobs: &[Value], now: &str) -> CronPlan {
    let jobs: Vec<Arc<Value>> = jobs.iter().cloned().map(Arc::new).collect();
    let refs: Vec<&Arc<Value>> = jobs.iter().collect();
    plan_cronjob(cj, &refs, at(now), &TimeZone::UTC)
}

fn reasons(plan: &CronPlan) -> Vec<&'static str> {
    plan.events.iter().map(|e| e.reason).collect()
}

fn created_name(plan: &CronPlan) -> Option<String> {
    plan.create
        .as_ref()
        .map(|j| str_at(j, "/metadata/name").to_owned())
}

fn names(jobs: &[Arc<Value>]) -> Vec<&str> {
    jobs.iter().map(|j| key_of(j).1).collect()
}

/// `tick-{unix minutes}` of a time.
fn run_name(time: &str) -> String {
    format!("tick-{}", at(time).as_second() / 60)
}

#[test]
fn runs_when_due_and_once() {
    struct Case {
        name: &'static str,
        spec: Value,
        status: Value,
        now: &'static str,
        want: Option<&'static str>,
        events: Vec<&'static str>,
    }
    let cases = [
        Case {
            name: "not due yet",
            spec: json!({}),
            status: json!({}),
            now: "2026-06-01T10:04:59Z",
            want: None,
            events: vec![],
        },
        Case {
            name: "first time",
            spec: json!({}),
            status: json!({}),
            now: "2026-06-01T10:05:02Z",
            want: Some("2026-06-01T10:05:00Z"),
            events: vec![],
        },
        Case {
            name: "already ran",
            spec: json!({}),
            status: json!({"lastScheduleTime": "2026-06-01T10:05:00Z"}),
            now: "2026-06-01T10:09:00Z",
            want: None,
            events: vec![],
        },
        Case {
            name: "missed runs start only the latest",
            spec: json!({}),
            status: json!({"lastScheduleTime": "2026-06-01T10:05:00Z"}),
            now: "2026-06-01T10:31:00Z",
            want: Some("2026-06-01T10:30:00Z"),
            events: vec![],
        },
        Case {
            name: "too many missed runs warn",
            spec: json!({"schedule": "* * * * *"}),
            status: json!({"lastScheduleTime": "2025-06-01T10:05:00Z"}),
            now: "2026-06-01T10:31:30Z",
            want: Some("2026-06-01T10:31:00Z"),
            events: vec!["TooManyMissedTimes"],
        },
        Case {
            // As Kubernetes: times older than the deadline are not looked at at all.
            name: "too late for the starting deadline",
            spec: json!({"startingDeadlineSeconds": 60}),
            status: json!({"lastScheduleTime": "2026-06-01T10:00:00Z"}),
            now: "2026-06-01T10:07:30Z",
            want: None,
            events: vec![],
        },
        Case {
            name: "within the starting deadline",
            spec: json!({"startingDeadlineSeconds": 200}),
            status: json!({"lastScheduleTime": "2026-06-01T10:00:00Z"}),
            now: "2026-06-01T10:07:30Z",
            want: Some("2026-06-01T10:05:00Z"),
            events: vec![],
        },
        Case {
            name: "the deadline bounds the missed-run count",
            spec: json!({"schedule": "* * * * *", "startingDeadlineSeconds": 300}),
            status: json!({"lastScheduleTime": "2025-06-01T10:05:00Z"}),
            now: "2026-06-01T10:31:30Z",
            want: Some("2026-06-01T10:31:00Z"),
            events: vec![],
        },
        Case {
            name: "suspended",
            spec: json!({"suspend": true}),
            status: json!({}),
            now: "2026-06-01T10:05:02Z",
            want: None,
            events: vec![],
        },
        Case {
            name: "macro",
            spec: json!({"schedule": "@hourly"}),
            status: json!({}),
            now: "2026-06-01T11:00:01Z",
            want: Some("2026-06-01T11:00:00Z"),
            events: vec![],
        },
        Case {
            name: "unparseable schedule",
            spec: json!({"schedule": "61 * * * *"}),
            status: json!({}),
            now: "2026-06-01T11:00:01Z",
            want: None,
            events: vec!["UnparseableSchedule"],
        },
        Case {
            name: "unknown time zone",
            spec: json!({"timeZone": "Mars/Olympus"}),
            status: json!({}),
            now: "2026-06-01T11:00:01Z",
            want: None,
            events: vec!["UnknownTimeZone"],
        },
    ];
    for case in cases {
        let cj = cronjob(case.spec, case.status);
        let plan = plan_at(&cj, &[], case.now);
        assert_eq!(
            created_name(&plan),
            case.want.map(run_name),
            "{}",
            case.name
        );
        assert_eq!(
            plan.scheduled.as_deref(),
            case.want,
            "{}: scheduled",
            case.name
        );
        assert_eq!(reasons(&plan), case.events, "{}: events", case.name);
    }
}

#[test]
fn concurrency_policies() {
    let running = child("tick-1", "running", "2026-06-01T10:00:00Z");
    let status = json!({"lastScheduleTime": "2026-06-01T10:00:00Z", "active": active(&["tick-1"])});
    let now = "2026-06-01T10:05:01Z";
    for (policy, creates, replaced, events) in [
        ("Allow", true, vec![], vec![]),
        ("Forbid", false, vec![], vec!["JobAlreadyActive"]),
        ("Replace", true, vec!["tick-1"], vec![]),
    ] {
        let cj = cronjob(json!({"concurrencyPolicy": policy}), status.clone());
        let plan = plan_at(&cj, std::slice::from_ref(&running), now);
        assert_eq!(plan.create.is_some(), creates, "{policy}");
        assert_eq!(names(&plan.replace), replaced, "{policy}");
        assert_eq!(reasons(&plan), events, "{policy}");
        let kept = plan
            .status
            .as_ref()
            .map(|s| active_refs(s).len())
            .unwrap_or(1);
        assert_eq!(kept, if policy == "Replace" { 0 } else { 1 }, "{policy}");
    }
}

#[test]
fn children_are_tracked() {
    let now = "2026-06-01T10:03:00Z";
    // A finished active Job leaves the list and sets the last success.
    let cj = cronjob(json!({}), json!({"active": active(&["tick-1"])}));
    let done = child("tick-1", "complete", "2026-06-01T10:01:00Z");
    let plan = plan_at(&cj, &[done], now);
    let status = plan.status.clone().expect("status changes");
    assert!(active_refs(&status).is_empty());
    assert_eq!(status["lastSuccessfulTime"], "2026-06-01T10:01:00Z");
    assert_eq!(reasons(&plan), ["SawCompletedJob"]);

    // A failed one leaves it without a success.
    let failed = child("tick-1", "failed", "2026-06-01T10:01:00Z");
    let plan = plan_at(&cj, &[failed], now);
    let status = plan.status.clone().expect("status changes");
    assert!(status.get("lastSuccessfulTime").is_none());
    assert!(plan.events[0].message.ends_with("condition: Failed"));

    // An active reference to a Job that is gone is dropped.
    let plan = plan_at(&cj, &[], now);
    assert_eq!(reasons(&plan), ["MissingJob"]);
    assert!(active_refs(plan.status.as_ref().expect("status changes")).is_empty());

    // A running Job the status forgot is put back; one made by hand is only reported.
    let cj = cronjob(json!({}), json!({}));
    let manual = child("tick-1", "running", "2026-06-01T10:01:00Z");
    let plan = plan_at(&cj, std::slice::from_ref(&manual), now);
    assert_eq!(reasons(&plan), ["UnexpectedJob"]);
    assert!(plan.status.is_none());
    let mut running = manual;
    running["metadata"]["annotations"] = json!({SCHEDULED_TIMESTAMP: "2026-06-01T10:00:00Z"});
    let plan = plan_at(&cj, std::slice::from_ref(&running), now);
    assert_eq!(
        active_refs(plan.status.as_ref().expect("status changes")).len(),
        1
    );

    // Nothing to say when the status is already right.
    let cj = cronjob(json!({}), json!({"active": active(&["tick-1"])}));
    let plan = plan_at(&cj, &[running], now);
    assert!(plan.status.is_none() && plan.events.is_empty());
}

#[test]
fn a_run_created_before_a_lost_status_write_is_not_repeated() {
    let cj = cronjob(json!({}), json!({}));
    let name = run_name("2026-06-01T10:05:00Z");
    let mut existing = child(&name, "running", "2026-06-01T10:05:00Z");
    existing["metadata"]["annotations"] = json!({SCHEDULED_TIMESTAMP: "2026-06-01T10:05:00Z"});
    let plan = plan_at(&cj, &[existing], "2026-06-01T10:05:30Z");
    assert!(plan.create.is_none());
    let status = plan.status.clone().expect("status changes");
    assert_eq!(status["lastScheduleTime"], "2026-06-01T10:05:00Z");
    assert_eq!(str_at(&active_refs(&status)[0], "/name"), name);
}

#[test]
fn history_limits_delete_the_oldest_finished_jobs() {
    let mut jobs: Vec<Value> = (1..=5)
        .map(|i| {
            child(
                &format!("ok-{i}"),
                "complete",
                &format!("2026-06-01T0{i}:00:00Z"),
            )
        })
        .collect();
    jobs.push(child("bad-1", "failed", "2026-06-01T01:30:00Z"));
    jobs.push(child("bad-2", "failed", "2026-06-01T02:30:00Z"));
    jobs.push(child("run-1", "running", "2026-06-01T00:30:00Z"));
    let cj = cronjob(
        json!({}),
        json!({"lastScheduleTime": "2026-06-01T10:00:00Z", "active": active(&["run-1"])}),
    );
    let plan = plan_at(&cj, &jobs, "2026-06-01T10:01:00Z");
    let mut expired = names(&plan.expired);
    expired.sort();
    assert_eq!(expired, ["bad-1", "ok-1", "ok-2"]);

    let cj = cronjob(
        json!({"successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0}),
        json!({}),
    );
    let plan = plan_at(&cj, &jobs, "2026-06-01T10:01:00Z");
    assert_eq!(plan.expired.len(), 7);
}

#[test]
fn jobs_come_from_the_template() {
    let cj = cronjob(
        json!({"schedule": "0 9 * * *", "timeZone": "Asia/Tokyo"}),
        json!({}),
    );
    let plan = plan_at(&cj, &[], "2026-06-02T00:00:30Z");
    let job = plan.create.expect("09:00 in Tokyo is due");
    assert_eq!(plan.scheduled.as_deref(), Some("2026-06-02T00:00:00Z"));
    assert_eq!(
        job["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
        "2026-06-02T09:00:00+09:00"
    );
    assert_eq!(job["metadata"]["labels"]["app"], "tick");
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(
        job["spec"]["template"]["spec"]["restartPolicy"],
        "OnFailure"
    );
    assert_eq!(
        str_at(&job, "/metadata/name"),
        run_name("2026-06-02T00:00:00Z")
    );
}

#[test]
fn the_local_zone_reads_schedules_without_one() {
    let cj = cronjob(json!({"schedule": "0 9 * * *"}), json!({}));
    let tokyo = edge_api::cron::time_zone("Asia/Tokyo").expect("zone");
    let jobs: Vec<&Arc<Value>> = Vec::new();
    let plan = plan_cronjob(&cj, &jobs, at("2026-06-02T00:00:30Z"), &tokyo);
    assert!(plan.create.is_some());
    let plan = plan_cronjob(&cj, &jobs, at("2026-06-02T00:00:30Z"), &TimeZone::UTC);
    assert!(plan.create.is_none());
}

#[test]
fn a_deleting_cronjob_starts_nothing() {
    let mut cj = cronjob(json!({}), json!({}));
    cj["metadata"]["deletionTimestamp"] = json!("2026-06-01T10:05:00Z");
    let plan = plan_at(&cj, &[], "2026-06-01T10:05:02Z");
    assert!(plan.create.is_none() && plan.expired.is_empty());
}

#[test]
fn plan_covers_every_cronjob_of_the_snapshot() {
    let due = cronjob(json!({}), json!({}));
    let mut other = cronjob(json!({"suspend": true}), json!({}));
    other["metadata"]["name"] = json!("idle");
    other["metadata"]["uid"] = json!("uid-idle");
    let snapshot = snapshot_of(&[due, other]);
    let plans = plan(&snapshot, at("2026-06-01T10:05:02Z"), &TimeZone::UTC);
    assert_eq!(plans.len(), 1);
    assert_eq!(key_of(&plans[0].0).1, "tick");
}
