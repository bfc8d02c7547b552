//! `describe daemonset`, `statefulset`, `job` and `cronjob`, laid out as kubectl's.

use serde_json::Value;

use super::workloads::{selector, template};
use super::{Writer, controlled_by, format_time, header, text, text_or};

/// kubectl's `Pods Status:` line from the pods the object selects.
fn pods_status(w: &mut Writer, pods: &[Value]) {
    let count = |phase: &str| {
        pods.iter()
            .filter(|p| text(p, "/status/phase") == phase)
            .count()
    };
    w.line(
        0,
        &format!(
            "Pods Status:\t{} Running / {} Waiting / {} Succeeded / {} Failed",
            count("Running"),
            count("Pending"),
            count("Succeeded"),
            count("Failed")
        ),
    );
}

/// `key=value,...` of a map, or `<none>`, as Go's `labels.FormatLabels`.
fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

fn seconds_or_unset(object: &Value, pointer: &str) -> String {
    match object.pointer(pointer).and_then(Value::as_i64) {
        Some(s) => format!("{s}s"),
        None => "<unset>".to_owned(),
    }
}

pub fn daemon_set(w: &mut Writer, ds: &Value, pods: &[Value]) {
    header(w, ds, true);
    w.line(0, &format!("Selector:\t{}", selector(ds)));
    w.line(
        0,
        &format!(
            "Node-Selector:\t{}",
            format_labels(ds.pointer("/spec/template/spec/nodeSelector"))
        ),
    );
    w.labels(0, "Labels", ds.pointer("/metadata/labels"));
    w.annotations(0, ds.pointer("/metadata/annotations"));
    let n = |p: &str| text_or(ds, p, "0");
    for (title, field) in [
        (
            "Desired Number of Nodes Scheduled",
            "desiredNumberScheduled",
        ),
        (
            "Current Number of Nodes Scheduled",
            "currentNumberScheduled",
        ),
        (
            "Number of Nodes Scheduled with Up-to-date Pods",
            "updatedNumberScheduled",
        ),
        (
            "Number of Nodes Scheduled with Available Pods",
            "numberAvailable",
        ),
        ("Number of Nodes Misscheduled", "numberMisscheduled"),
    ] {
        w.line(0, &format!("{title}: {}", n(&format!("/status/{field}"))));
    }
    pods_status(w, pods);
    template(w, ds.pointer("/spec/template"));
}

pub fn stateful_set(w: &mut Writer, sts: &Value, pods: &[Value]) {
    header(w, sts, true);
    w.line(
        0,
        &format!(
            "CreationTimestamp:\t{}",
            format_time(sts, "/metadata/creationTimestamp")
        ),
    );
    w.line(0, &format!("Selector:\t{}", selector(sts)));
    w.labels(0, "Labels", sts.pointer("/metadata/labels"));
    w.annotations(0, sts.pointer("/metadata/annotations"));
    w.line(
        0,
        &format!(
            "Replicas:\t{} desired | {} total",
            text_or(sts, "/spec/replicas", "1"),
            text_or(sts, "/status/replicas", "0")
        ),
    );
    let strategy = text_or(sts, "/spec/updateStrategy/type", "RollingUpdate");
    w.line(0, &format!("Update Strategy:\t{strategy}"));
    if let Some(partition) = sts
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
    {
        w.line(1, &format!("Partition:\t{partition}"));
    }
    pods_status(w, pods);
    template(w, sts.pointer("/spec/template"));
    let claims = sts
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let Some(claims) = claims else {
        w.line(0, "Volume Claims:\t<none>");
        return;
    };
    w.line(0, "Volume Claims:");
    for claim in claims {
        w.line(1, &format!("Name:\t{}", text(claim, "/metadata/name")));
        w.line(
            1,
            &format!("StorageClass:\t{}", text(claim, "/spec/storageClassName")),
        );
        w.labels(1, "Labels", claim.pointer("/metadata/labels"));
        w.annotations(1, claim.pointer("/metadata/annotations"));
        w.line(
            1,
            &format!(
                "Capacity:\t{}",
                text_or(claim, "/spec/resources/requests/storage", "<default>")
            ),
        );
        let modes: Vec<&str> = claim
            .pointer("/spec/accessModes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        w.line(1, &format!("Access Modes:\t{}", modes.join(",")));
    }
}

/// The spec lines a Job and a CronJob's job template share (kubectl's `describeJobTemplate`
/// prints `<unset>` where a Job always has a value).
fn job_spec(w: &mut Writer, spec: Option<&Value>) {
    let spec = spec.cloned().unwrap_or(Value::Null);
    let field = |name: &str| text_or(&spec, &format!("/{name}"), "<unset>");
    w.line(0, &format!("Parallelism:\t{}", field("parallelism")));
    w.line(0, &format!("Completions:\t{}", field("completions")));
    if spec.get("completionMode").is_some() {
        w.line(0, &format!("Completion Mode:\t{}", field("completionMode")));
    }
    if spec.get("suspend").is_some() {
        w.line(0, &format!("Suspend:\t{}", field("suspend")));
    }
    if spec.get("backoffLimit").is_some() {
        w.line(0, &format!("Backoff Limit:\t{}", field("backoffLimit")));
    }
    if spec.get("ttlSecondsAfterFinished").is_some() {
        w.line(
            0,
            &format!(
                "TTL Seconds After Finished:\t{}",
                field("ttlSecondsAfterFinished")
            ),
        );
    }
}

pub fn job(w: &mut Writer, job: &Value) {
    header(w, job, true);
    w.line(0, &format!("Selector:\t{}", selector(job)));
    w.labels(0, "Labels", job.pointer("/metadata/labels"));
    w.annotations(0, job.pointer("/metadata/annotations"));
    controlled_by(w, job);
    job_spec(w, job.get("spec"));
    if job.pointer("/status/startTime").is_some() {
        w.line(
            0,
            &format!("Start Time:\t{}", format_time(job, "/status/startTime")),
        );
    }
    let start = time_at(job, "/status/startTime");
    if let Some(done) = time_at(job, "/status/completionTime") {
        w.line(
            0,
            &format!(
                "Completed At:\t{}",
                format_time(job, "/status/completionTime")
            ),
        );
        if let Some(start) = start {
            let seconds = done.as_second() - start.as_second();
            w.line(
                0,
                &format!(
                    "Duration:\t{}",
                    edge_api::meta::human_age(jiff::SignedDuration::from_secs(seconds))
                ),
            );
        }
    }
    if job.pointer("/spec/activeDeadlineSeconds").is_some() {
        w.line(
            0,
            &format!(
                "Active Deadline Seconds:\t{}",
                seconds_or_unset(job, "/spec/activeDeadlineSeconds")
            ),
        );
    }
    let n = |p: &str| text_or(job, p, "0");
    w.line(
        0,
        &format!(
            "Pods Statuses:\t{} Active ({} Ready) / {} Succeeded / {} Failed",
            n("/status/active"),
            n("/status/ready"),
            n("/status/succeeded"),
            n("/status/failed")
        ),
    );
    if text(job, "/spec/completionMode") == "Indexed" {
        w.line(
            0,
            &format!(
                "Completed Indexes:\t{}",
                text_or(job, "/status/completedIndexes", "<none>")
            ),
        );
    }
    template(w, job.pointer("/spec/template"));
}

pub fn cron_job(w: &mut Writer, cj: &Value) {
    header(w, cj, true);
    w.labels(0, "Labels", cj.pointer("/metadata/labels"));
    w.annotations(0, cj.pointer("/metadata/annotations"));
    let field = |p: &str| text_or(cj, &format!("/spec/{p}"), "<unset>");
    w.line(0, &format!("Schedule:\t{}", field("schedule")));
    if cj.pointer("/spec/timeZone").is_some() {
        w.line(0, &format!("Time Zone:\t{}", field("timeZone")));
    }
    w.line(
        0,
        &format!("Concurrency Policy:\t{}", field("concurrencyPolicy")),
    );
    w.line(0, &format!("Suspend:\t{}", field("suspend")));
    w.line(
        0,
        &format!(
            "Successful Job History Limit:\t{}",
            field("successfulJobsHistoryLimit")
        ),
    );
    w.line(
        0,
        &format!(
            "Failed Job History Limit:\t{}",
            field("failedJobsHistoryLimit")
        ),
    );
    w.line(
        0,
        &format!(
            "Starting Deadline Seconds:\t{}",
            seconds_or_unset(cj, "/spec/startingDeadlineSeconds")
        ),
    );
    let job_template = cj.pointer("/spec/jobTemplate").cloned().unwrap_or_default();
    let selector = if job_template.pointer("/spec/selector").is_some() {
        super::workloads::selector(&job_template)
    } else {
        "<unset>".to_owned()
    };
    w.line(0, &format!("Selector:\t{selector}"));
    job_spec(w, job_template.get("spec"));
    template(w, job_template.pointer("/spec/template"));
    w.line(
        0,
        &format!(
            "Last Schedule Time:\t{}",
            format_time(cj, "/status/lastScheduleTime")
        ),
    );
    let active: Vec<&str> = cj
        .pointer("/status/active")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| text(r, "/name"))
        .collect();
    let active = if active.is_empty() {
        "<none>".to_owned()
    } else {
        active.join(", ")
    };
    w.line(0, &format!("Active Jobs:\t{active}"));
}

fn time_at(object: &Value, pointer: &str) -> Option<jiff::Timestamp> {
    object.pointer(pointer)?.as_str()?.parse().ok()
}
