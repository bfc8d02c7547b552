//! Table columns of pods and workload resources.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, Column, NAME, RowFn, arr_at, col, int_at, name_cell, or_none, str_at, time_at, wide,
};
use crate::meta::{self, age_since, human_age};
use crate::selector::LabelSelector;

const CONTAINERS: Column = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
const IMAGES: Column = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);
const SELECTOR: Column = wide("Selector", "string", "Label selector for pods.");

pub(crate) fn pods() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        wide("IP", "string", "IP address allocated to the pod."),
        wide(
            "Node",
            "string",
            "Name of the Node this pod is assigned to.",
        ),
        wide(
            "Nominated Node",
            "string",
            "Name of the Node this pod is nominated to run on.",
        ),
        wide("Readiness Gates", "string", "Readiness gates of the pod."),
    ];
    (columns, pod_row)
}

/// The pod's status as kubectl computes it: the phase or reason, overridden by init and
/// container states, `Terminating` when deletion has started.
pub fn pod_status(pod: &Value) -> String {
    pod_summary(pod).status
}

struct PodSummary {
    status: String,
    ready: usize,
    total: usize,
    restarts: i64,
    last_restart: Option<Timestamp>,
}

fn pod_summary(pod: &Value) -> PodSummary {
    let mut reason = str_at(pod, "/status/phase").to_string();
    let status_reason = str_at(pod, "/status/reason");
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    let gated = arr_at(pod, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("PodScheduled")
            && c.get("reason").and_then(Value::as_str) == Some("SchedulingGated")
    });
    if gated {
        reason = "SchedulingGated".to_string();
    }
    let mut restarts = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut note_restart = |status: &Value, restarts: &mut i64| {
        *restarts += int_at(status, "/restartCount");
        if let Some(t) = time_at(status, "/lastState/terminated/finishedAt") {
            last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
        }
    };
    let init_total = arr_at(pod, "/spec/initContainers").len();
    let mut initializing = false;
    for (i, status) in arr_at(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        note_restart(status, &mut restarts);
        let terminated = status.pointer("/state/terminated");
        let waiting_reason = str_at(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| int_at(t, "/exitCode") == 0) {
            continue;
        }
        if let Some(t) = terminated {
            let r = str_at(t, "/reason");
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if int_at(t, "/signal") != 0 {
                format!("Init:Signal:{}", int_at(t, "/signal"))
            } else {
                format!("Init:ExitCode:{}", int_at(t, "/exitCode"))
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    let initialized = arr_at(pod, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Initialized")
            && c.get("status").and_then(Value::as_str) == Some("True")
    });
    let total = arr_at(pod, "/spec/containers").len();
    let mut ready = 0;
    if !initializing || initialized {
        restarts = 0;
        let mut has_running = false;
        for status in arr_at(pod, "/status/containerStatuses").iter().rev() {
            note_restart(status, &mut restarts);
            let waiting = str_at(status, "/state/waiting/reason");
            let terminated = status.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, "/reason");
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int_at(t, "/signal") != 0 {
                    format!("Signal:{}", int_at(t, "/signal"))
                } else {
                    format!("ExitCode:{}", int_at(t, "/exitCode"))
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = arr_at(pod, "/status/conditions").iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            });
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    if meta::deletion_timestamp(pod).is_some()
        || pod.pointer("/metadata/deletionTimestamp").is_some()
    {
        reason = if status_reason == "NodeLost" || status_reason == "NodeUnreachable" {
            "Unknown"
        } else {
            "Terminating"
        }
        .to_string();
    }
    if reason.is_empty() {
        reason = "Pending".to_string();
    }
    PodSummary {
        status: reason,
        ready,
        total,
        restarts,
        last_restart,
    }
}

fn pod_row(pod: &Value, now: Timestamp) -> Vec<Value> {
    let s = pod_summary(pod);
    let restarts = match s.last_restart {
        Some(t) => format!("{} ({} ago)", s.restarts, age_since(Some(t), now)),
        None => s.restarts.to_string(),
    };
    let gates = arr_at(pod, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() {
        json!("<none>")
    } else {
        let ready = gates
            .iter()
            .filter(|g| {
                let t = g
                    .get("conditionType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                arr_at(pod, "/status/conditions").iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some(t)
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            })
            .count();
        json!(format!("{ready}/{}", gates.len()))
    };
    vec![
        name_cell(pod),
        json!(format!("{}/{}", s.ready, s.total)),
        json!(s.status),
        json!(restarts),
        json!(meta::age(pod, now)),
        or_none(str_at(pod, "/status/podIP")),
        or_none(str_at(pod, "/spec/nodeName")),
        or_none(str_at(pod, "/status/nominatedNodeName")),
        gates_cell,
    ]
}

/// Container names and images of a pod template, joined by commas.
fn containers_and_images(obj: &Value, pointer: &str) -> (Value, Value) {
    let containers = arr_at(obj, pointer);
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

fn selector_cell(obj: &Value) -> Value {
    match obj
        .pointer("/spec/selector")
        .map(LabelSelector::from_label_selector)
    {
        Some(Ok(s)) if !s.is_empty() => json!(s.to_string()),
        _ => json!("<none>"),
    }
}

pub(crate) fn deployments() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        col(
            "Up-to-date",
            "integer",
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        col(
            "Available",
            "integer",
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ];
    (columns, |d, now| {
        let (containers, images) = containers_and_images(d, "/spec/template/spec/containers");
        vec![
            name_cell(d),
            json!(format!(
                "{}/{}",
                int_at(d, "/status/readyReplicas"),
                int_at(d, "/spec/replicas")
            )),
            json!(int_at(d, "/status/updatedReplicas")),
            json!(int_at(d, "/status/availableReplicas")),
            json!(meta::age(d, now)),
            containers,
            images,
            selector_cell(d),
        ]
    })
}

pub(crate) fn replica_sets() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Desired", "integer", "Number of desired pods."),
        col("Current", "integer", "Number of actual replicas."),
        col(
            "Ready",
            "integer",
            "The number of ready replicas for this replica set.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ];
    (columns, |r, now| {
        let (containers, images) = containers_and_images(r, "/spec/template/spec/containers");
        vec![
            name_cell(r),
            json!(int_at(r, "/spec/replicas")),
            json!(int_at(r, "/status/replicas")),
            json!(int_at(r, "/status/readyReplicas")),
            json!(meta::age(r, now)),
            containers,
            images,
            selector_cell(r),
        ]
    })
}

pub(crate) fn daemon_sets() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col(
            "Desired",
            "integer",
            "The total number of nodes that should be running the daemon pod.",
        ),
        col(
            "Current",
            "integer",
            "The number of nodes that are running at least 1 daemon pod.",
        ),
        col(
            "Ready",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
        ),
        col(
            "Up-to-date",
            "integer",
            "The total number of nodes that are running updated daemon pod.",
        ),
        col(
            "Available",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
        ),
        col(
            "Node Selector",
            "string",
            "NodeSelector is a selector which must be true for the pod to fit on a node.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ];
    (columns, |d, now| {
        let (containers, images) = containers_and_images(d, "/spec/template/spec/containers");
        vec![
            name_cell(d),
            json!(int_at(d, "/status/desiredNumberScheduled")),
            json!(int_at(d, "/status/currentNumberScheduled")),
            json!(int_at(d, "/status/numberReady")),
            json!(int_at(d, "/status/updatedNumberScheduled")),
            json!(int_at(d, "/status/numberAvailable")),
            super::labels_string(d.pointer("/spec/template/spec/nodeSelector")),
            json!(meta::age(d, now)),
            containers,
            images,
            selector_cell(d),
        ]
    })
}

pub(crate) fn stateful_sets() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ];
    (columns, |s, now| {
        let (containers, images) = containers_and_images(s, "/spec/template/spec/containers");
        vec![
            name_cell(s),
            json!(format!(
                "{}/{}",
                int_at(s, "/status/readyReplicas"),
                int_at(s, "/spec/replicas")
            )),
            json!(meta::age(s, now)),
            containers,
            images,
        ]
    })
}

fn condition_true(obj: &Value, kind: &str) -> bool {
    arr_at(obj, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some(kind)
            && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

pub(crate) fn jobs() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Status", "string", "Status of the job."),
        col("Completions", "string", "The completion status of the job."),
        col("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ];
    (columns, |j, now| {
        let (containers, images) = containers_and_images(j, "/spec/template/spec/containers");
        let succeeded = int_at(j, "/status/succeeded");
        let completions = match j.pointer("/spec/completions").and_then(Value::as_i64) {
            Some(c) => format!("{succeeded}/{c}"),
            None => {
                let parallelism = int_at(j, "/spec/parallelism");
                if parallelism > 1 {
                    format!("{succeeded}/1 of {parallelism}")
                } else {
                    format!("{succeeded}/1")
                }
            }
        };
        let duration = match time_at(j, "/status/startTime") {
            Some(start) => {
                let end = time_at(j, "/status/completionTime").unwrap_or(now);
                human_age(end.duration_since(start))
            }
            None => String::new(),
        };
        let status = if meta::deletion_timestamp(j).is_some() {
            "Terminating"
        } else if condition_true(j, "Complete") {
            "Complete"
        } else if condition_true(j, "Failed") {
            "Failed"
        } else if condition_true(j, "FailureTarget") {
            "FailureTarget"
        } else if condition_true(j, "SuccessCriteriaMet") {
            "SuccessCriteriaMet"
        } else if condition_true(j, "Suspended") {
            "Suspended"
        } else {
            "Running"
        };
        vec![
            name_cell(j),
            json!(status),
            json!(completions),
            json!(duration),
            json!(meta::age(j, now)),
            containers,
            images,
            selector_cell(j),
        ]
    })
}

pub(crate) fn cron_jobs() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Schedule", "string", "The schedule in Cron format."),
        col(
            "Timezone",
            "string",
            "The time zone name for the given schedule.",
        ),
        col(
            "Suspend",
            "boolean",
            "Whether subsequent executions are suspended.",
        ),
        col("Active", "integer", "Number of currently running jobs."),
        col(
            "Last Schedule",
            "string",
            "Information when was the last time the job was successfully scheduled.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ];
    (columns, |c, now| {
        let (containers, images) =
            containers_and_images(c, "/spec/jobTemplate/spec/template/spec/containers");
        let suspend = c
            .pointer("/spec/suspend")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let last = match time_at(c, "/status/lastScheduleTime") {
            Some(t) => age_since(Some(t), now),
            None => "<none>".to_string(),
        };
        let selector = match c
            .pointer("/spec/jobTemplate/spec/selector")
            .map(LabelSelector::from_label_selector)
        {
            Some(Ok(s)) if !s.is_empty() => json!(s.to_string()),
            _ => json!("<none>"),
        };
        vec![
            name_cell(c),
            json!(str_at(c, "/spec/schedule")),
            or_none(str_at(c, "/spec/timeZone")),
            json!(if suspend { "True" } else { "False" }),
            json!(arr_at(c, "/status/active").len()),
            json!(last),
            json!(meta::age(c, now)),
            containers,
            images,
            selector,
        ]
    })
}

pub(crate) fn controller_revisions() -> (Vec<Column>, RowFn) {
    let columns = vec![
        NAME,
        col("Controller", "string", "Controller of the object."),
        col("Revision", "integer", "Revision of the ControllerRevision."),
        AGE,
    ];
    (columns, |r, now| {
        let controller = match meta::controller_ref(r) {
            Some(owner) => {
                let (group, _) = crate::resource::split_api_version(str_at(owner, "/apiVersion"));
                let kind = str_at(owner, "/kind").to_ascii_lowercase();
                let kind = if group.is_empty() {
                    kind
                } else {
                    format!("{kind}.{group}")
                };
                json!(format!("{kind}/{}", str_at(owner, "/name")))
            }
            None => json!("<none>"),
        };
        vec![
            name_cell(r),
            controller,
            json!(int_at(r, "/revision")),
            json!(meta::age(r, now)),
        ]
    })
}
