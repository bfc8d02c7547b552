//! The Job controller's counting (kube's `trackJobStatusAndRemoveFinalizers`): recorded
//! uids whose pods lost the tracking finalizer move into the counters, newly finished pods
//! are recorded in `uncountedTerminatedPods`, and the pods whose finalizer may go are picked.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::job::{Finish, MAX_UNCOUNTED, Spec};
use super::job_index::{by_index, parse_indexes};
use super::job_status::{Uncounted, has_finalizer, is_failed};
use super::str_at;
use super::workload::{int_at, pod_phase, uid_of};

/// The counting part of a pass (kube's `trackJobStatusAndRemoveFinalizers`).
pub(super) struct Tracked {
    pub succeeded: i64,
    pub failed: i64,
    pub completed_indexes: Option<BTreeSet<i64>>,
    pub uncounted: Uncounted,
    pub remove_finalizers: Vec<Arc<Value>>,
    pub reached_max: bool,
}

/// Moves recorded uids whose pods lost the finalizer (or are gone) into the counters,
/// records newly finished pods, and picks the pods whose finalizer may go.
pub(super) fn track(
    job: &Value,
    spec: &Spec,
    pods: &[&Arc<Value>],
    stored: &Uncounted,
    finish: Option<&Finish>,
    deleting: bool,
) -> Tracked {
    let with_finalizer: HashSet<&str> = pods
        .iter()
        .filter(|p| has_finalizer(p))
        .map(|p| uid_of(p))
        .collect();
    let mut succeeded = int_at(job, "/status/succeeded", 0);
    let mut failed = int_at(job, "/status/failed", 0);
    let mut uncounted = Uncounted::default();
    for uid in &stored.succeeded {
        if with_finalizer.contains(uid.as_str()) {
            uncounted.succeeded.push(uid.clone());
        } else {
            succeeded += 1;
        }
    }
    for uid in &stored.failed {
        if with_finalizer.contains(uid.as_str()) {
            uncounted.failed.push(uid.clone());
        } else {
            failed += 1;
        }
    }
    let completions = spec.completions.unwrap_or(0);
    let mut completed = spec
        .indexed
        .then(|| parse_indexes(str_at(job, "/status/completedIndexes"), completions));
    let failing = matches!(finish, Some(Finish::Failure { .. }));
    let mut ordered: Vec<&Arc<Value>> = pods.to_vec();
    if spec.indexed {
        ordered.sort_by(|a, b| by_index(a, b));
    }
    let mut remove_finalizers = Vec::new();
    let mut reached_max = false;
    let mut new_indexes = 0;
    for pod in ordered {
        if !has_finalizer(pod) {
            continue;
        }
        let uid = uid_of(pod);
        let considered_failed = is_failed(pod);
        let succeeded_pod = pod_phase(pod) == "Succeeded";
        if !(deleting || finish.is_some() || succeeded_pod || considered_failed) {
            continue;
        }
        remove_finalizers.push(pod.clone());
        if succeeded_pod && !stored.failed.iter().any(|u| u == uid) {
            match &mut completed {
                Some(indexes) => {
                    if let Some(ix) = spec.valid_index(pod)
                        && indexes.insert(ix)
                    {
                        new_indexes += 1;
                    }
                }
                None => {
                    if !stored.succeeded.iter().any(|u| u == uid) {
                        uncounted.succeeded.push(uid.to_owned());
                    }
                }
            }
        } else if (considered_failed || failing)
            && !stored.failed.iter().any(|u| u == uid)
            && (!spec.indexed || spec.valid_index(pod).is_some())
        {
            uncounted.failed.push(uid.to_owned());
        }
        if new_indexes + uncounted.len() >= MAX_UNCOUNTED {
            reached_max = true;
            break;
        }
    }
    if let Some(indexes) = &completed {
        succeeded = indexes.len() as i64;
    }
    Tracked {
        succeeded,
        failed,
        completed_indexes: completed,
        uncounted,
        remove_finalizers,
        reached_max,
    }
}
