//! The Job controller's pod management (kube's `manageJob`): which active pods go when
//! there are too many (or the Job is suspended), and the pods to create, built from the
//! template with the tracking finalizer and, for Indexed Jobs, their completion index.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::job::{MAX_POD_CHANGES, Spec};
use super::job_index::{COMPLETION_INDEX, COMPLETION_INDEX_ENV, duplicates, first_pending};
use super::job_status::{TRACKING_FINALIZER, backoff_remaining, is_terminating};
use super::workload::{PodName, deletion_order, key_of, owner_reference, pod_from_template};

/// Longest `generateName` prefix (kube's `MaxGeneratedNameLength`: 63 less the suffix).
const MAX_GENERATED_PREFIX: usize = 58;

/// What a pass does to one Job's pods.
#[derive(Default)]
pub(super) struct PodChanges {
    pub delete: Vec<Arc<Value>>,
    pub strip_finalizer: bool,
    pub create: Vec<Value>,
}
/// kube's `manageJob`: deletes surplus (or, when suspended, all) active pods, or creates the
/// missing ones once the failure backoff allows; never both in one pass.
pub(super) fn manage(
    job: &Arc<Value>,
    spec: &Spec,
    pods: &[&Arc<Value>],
    active_pods: &[&Arc<Value>],
    succeeded: i64,
    succeeded_indexes: Option<&BTreeSet<i64>>,
    now: Timestamp,
) -> PodChanges {
    let active = active_pods.len() as i64;
    if spec.suspended {
        return PodChanges {
            delete: active_pods.iter().map(|p| (*p).clone()).collect(),
            strip_finalizer: true,
            create: Vec::new(),
        };
    }
    let want = match spec.completions {
        None if succeeded > 0 => active,
        None => spec.parallelism,
        Some(completions) => (completions - succeeded).clamp(0, spec.parallelism),
    };
    let surplus = usize::try_from(active - want).unwrap_or(0);
    let mut delete = removal_candidates(spec, active_pods, surplus);
    if !delete.is_empty() {
        delete.truncate(MAX_POD_CHANGES);
        return PodChanges {
            delete: delete.into_iter().cloned().collect(),
            strip_finalizer: true,
            create: Vec::new(),
        };
    }
    let terminating = if spec.replace_only_failed {
        pods.iter().filter(|p| is_terminating(p)).count() as i64
    } else {
        0
    };
    let missing = want - terminating - active;
    if missing <= 0 || backoff_remaining(pods, now) > SignedDuration::ZERO {
        return PodChanges::default();
    }
    let missing = usize::try_from(missing).unwrap_or(0).min(MAX_POD_CHANGES);
    let create = match (spec.completions, succeeded_indexes) {
        (Some(completions), Some(succeeded_indexes)) => {
            let mut busy = succeeded_indexes.clone();
            busy.extend(active_pods.iter().filter_map(|p| spec.valid_index(p)));
            if spec.replace_only_failed {
                busy.extend(
                    pods.iter()
                        .filter(|p| is_terminating(p))
                        .filter_map(|p| spec.valid_index(p)),
                );
            }
            first_pending(&busy, missing, completions)
                .into_iter()
                .map(|ix| job_pod(job, Some(ix)))
                .collect()
        }
        _ => (0..missing).map(|_| job_pod(job, None)).collect(),
    };
    PodChanges {
        delete: Vec::new(),
        strip_finalizer: true,
        create,
    }
}

/// kube's `activePodsForRemoval`: for Indexed Jobs the duplicates and out-of-range pods
/// first, then the pods that `deletion_order` puts first, `at_least` in all.
fn removal_candidates<'a>(
    spec: &Spec,
    active_pods: &[&'a Arc<Value>],
    at_least: usize,
) -> Vec<&'a Arc<Value>> {
    let (mut remove, mut left) = if spec.indexed {
        duplicates(active_pods, spec.completions.unwrap_or(0))
    } else {
        (Vec::new(), active_pods.to_vec())
    };
    if remove.len() < at_least {
        left.sort_by(|a, b| deletion_order(a, b));
        let more = at_least - remove.len();
        remove.extend(left.into_iter().take(more));
    }
    remove
}

/// A pod for the Job, with the tracking finalizer; for Indexed Jobs with its index in an
/// annotation, a label and `JOB_COMPLETION_INDEX`, and a stable hostname.
pub fn job_pod(job: &Value, index: Option<i64>) -> Value {
    let (_, name) = key_of(job);
    let mut template = job
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let index_text = index.map(|ix| ix.to_string());
    let mut prefix = match &index_text {
        Some(ix) => format!("{name}-{ix}-"),
        None => format!("{name}-"),
    };
    if prefix.len() > MAX_GENERATED_PREFIX {
        let tail = prefix.len() - name.len();
        let keep = MAX_GENERATED_PREFIX.saturating_sub(tail);
        prefix = format!(
            "{}{}",
            &name[..floor_char_boundary(name, keep)],
            &prefix[name.len()..]
        );
    }
    if let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(ix) = &index_text
    {
        for list in ["initContainers", "containers"] {
            for container in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                add_index_env(container);
            }
        }
        if spec
            .get("hostname")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            spec.insert("hostname".into(), json!(format!("{name}-{ix}")));
        }
    }
    let labels: Vec<(&str, &str)> = index_text
        .as_deref()
        .map(|ix| (COMPLETION_INDEX, ix))
        .into_iter()
        .collect();
    let mut pod = pod_from_template(
        job,
        &template,
        owner_reference(job, "batch/v1", "Job"),
        PodName::Generate(&prefix),
        &labels,
    );
    if let Some(metadata) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(ix) = &index_text {
            let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
            if let Some(map) = annotations.as_object_mut() {
                map.insert(COMPLETION_INDEX.into(), json!(ix));
            }
        }
        let finalizers = metadata.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(list) = finalizers.as_array_mut()
            && !list.iter().any(|f| f.as_str() == Some(TRACKING_FINALIZER))
        {
            list.push(json!(TRACKING_FINALIZER));
        }
    }
    pod
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len()))
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0)
}

/// `JOB_COMPLETION_INDEX` from the pod's annotation, unless the container sets it itself.
fn add_index_env(container: &mut Value) {
    let Some(map) = container.as_object_mut() else {
        return;
    };
    let env = map.entry("env").or_insert_with(|| json!([]));
    let Some(list) = env.as_array_mut() else {
        return;
    };
    if list
        .iter()
        .any(|e| e.get("name").and_then(Value::as_str) == Some(COMPLETION_INDEX_ENV))
    {
        return;
    }
    list.push(json!({
        "name": COMPLETION_INDEX_ENV,
        "valueFrom": {"fieldRef": {
            "fieldPath": format!("metadata.annotations['{COMPLETION_INDEX}']"),
        }},
    }));
}
