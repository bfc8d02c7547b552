//! Completion indexes of Indexed Jobs: reading a pod's index, the `completedIndexes`
//! interval notation ("0-2,4"), which indexes still need a pod, and which duplicate or
//! out-of-range pods to remove (kube's `indexed_job_utils.go`).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::workload::{deletion_order, meta};

/// The annotation (and label) that carries a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The environment variable every container of an Indexed Job's pod gets.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The pod's completion index from its annotation, if it has a well-formed one.
pub fn completion_index(pod: &Value) -> Option<i64> {
    let text = meta(pod, "annotations")?.get(COMPLETION_INDEX)?.as_str()?;
    text.parse::<i64>().ok().filter(|ix| *ix >= 0)
}

/// The index, when it is below `completions` (only such pods count).
pub fn valid_index(pod: &Value, completions: i64) -> Option<i64> {
    completion_index(pod).filter(|ix| *ix < completions)
}

/// Parses `completedIndexes`, keeping indexes below `completions` and ignoring malformed parts
/// (as kube's `parseIndexesFromString`).
pub fn parse_indexes(text: &str, completions: i64) -> BTreeSet<i64> {
    let mut set = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i64>(), b.parse::<i64>()),
            None => (part.parse::<i64>(), part.parse::<i64>()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            continue;
        };
        let last = last.min(completions - 1);
        if first < 0 || first > last {
            continue;
        }
        set.extend(first..=last);
    }
    set
}

/// Writes indexes as kube's `orderedIntervals.String()`: runs of three or more as `a-b`, a
/// pair as `a,b`.
pub fn format_indexes(indexes: &BTreeSet<i64>) -> String {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &ix in indexes {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == ix => *last = ix,
            _ => runs.push((ix, ix)),
        }
    }
    let parts: Vec<String> = runs
        .into_iter()
        .map(|(first, last)| match last - first {
            0 => first.to_string(),
            1 => format!("{first},{last}"),
            _ => format!("{first}-{last}"),
        })
        .collect();
    parts.join(",")
}

/// The lowest `count` indexes below `completions` that are neither in `busy` (succeeded or
/// with a pod) nor already taken.
pub fn first_pending(busy: &BTreeSet<i64>, count: usize, completions: i64) -> Vec<i64> {
    (0..completions)
        .filter(|ix| !busy.contains(ix))
        .take(count)
        .collect()
}

/// The active pods of an Indexed Job that must go whatever the counts say: pods without a
/// valid index, and all but the best pod of each index (kube's
/// `appendDuplicatedIndexPodsForRemoval`). Returns (to remove, to keep).
pub fn duplicates<'a>(
    pods: &[&'a Arc<Value>],
    completions: i64,
) -> (Vec<&'a Arc<Value>>, Vec<&'a Arc<Value>>) {
    let mut remove = Vec::new();
    let mut keep = Vec::new();
    let mut by_index: std::collections::BTreeMap<i64, Vec<&'a Arc<Value>>> = Default::default();
    for pod in pods {
        match valid_index(pod, completions) {
            Some(ix) => by_index.entry(ix).or_default().push(pod),
            None => remove.push(*pod),
        }
    }
    for (_, mut same) in by_index {
        // The pod that deletion_order puts last is the one worth keeping.
        same.sort_by(|a, b| deletion_order(a, b));
        if let Some(best) = same.pop() {
            keep.push(best);
        }
        remove.extend(same);
    }
    (remove, keep)
}

/// Sorts pods by completion index, pods without one last.
pub fn by_index(a: &Value, b: &Value) -> Ordering {
    let key = |p: &Value| completion_index(p).unwrap_or(i64::MAX);
    key(a).cmp(&key(b))
}
