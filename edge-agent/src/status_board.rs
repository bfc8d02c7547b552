//! The current status of every pod on this node, shared by the pod workers (who publish) and
//! the controller link (who reports).
//!
//! Publishing an unchanged status does nothing. Changed pods are remembered until the link takes
//! them, so a burst of changes is reported once per pod, and nothing is lost while the link is
//! down: the next hello carries every status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use edge_wire::link::PodStatusReport;
use tokio::sync::Notify;

/// Pod statuses by uid, with the set changed since the link last looked.
#[derive(Default)]
pub struct StatusBoard {
    inner: Mutex<Inner>,
    changed: Notify,
}

#[derive(Default)]
struct Inner {
    current: BTreeMap<String, PodStatusReport>,
    dirty: BTreeSet<String>,
}

impl StatusBoard {
    /// Starts with the statuses stored before a restart (not marked changed: the hello sends them).
    pub fn with(reports: Vec<PodStatusReport>) -> StatusBoard {
        let board = StatusBoard::default();
        {
            let mut inner = board.lock();
            for report in reports {
                inner.current.insert(report.uid.clone(), report);
            }
        }
        board
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Each update is a single insert or removal, so the maps are consistent after a panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a pod's status; returns whether it changed.
    pub fn publish(&self, report: PodStatusReport) -> bool {
        let mut inner = self.lock();
        if inner.current.get(&report.uid) == Some(&report) {
            return false;
        }
        inner.dirty.insert(report.uid.clone());
        inner.current.insert(report.uid.clone(), report);
        drop(inner);
        self.changed.notify_one();
        true
    }

    /// Forgets a pod that is gone.
    pub fn remove(&self, uid: &str) {
        let mut inner = self.lock();
        inner.current.remove(uid);
        inner.dirty.remove(uid);
    }

    /// The status of one pod.
    pub fn get(&self, uid: &str) -> Option<PodStatusReport> {
        self.lock().current.get(uid).cloned()
    }

    /// The uids of every pod with a status.
    pub fn uids(&self) -> Vec<String> {
        self.lock().current.keys().cloned().collect()
    }

    /// Every status, for a hello; clears the changed set.
    pub fn all(&self) -> Vec<PodStatusReport> {
        let mut inner = self.lock();
        inner.dirty.clear();
        inner.current.values().cloned().collect()
    }

    /// Every status, leaving the changed set alone (for metrics).
    pub fn all_quiet(&self) -> Vec<PodStatusReport> {
        self.lock().current.values().cloned().collect()
    }

    /// The statuses changed since the last call (or hello).
    pub fn take_changed(&self) -> Vec<PodStatusReport> {
        let mut inner = self.lock();
        let dirty = std::mem::take(&mut inner.dirty);
        dirty
            .iter()
            .filter_map(|uid| inner.current.get(uid).cloned())
            .collect()
    }

    /// Waits until something is published.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(uid: &str, phase: edge_wire::link::PodPhase) -> PodStatusReport {
        PodStatusReport {
            uid: uid.into(),
            phase,
            ..Default::default()
        }
    }

    #[test]
    fn only_changes_are_reported_once() {
        use edge_wire::link::PodPhase::*;
        let board = StatusBoard::with(vec![report("a", Running)]);
        assert!(board.take_changed().is_empty());
        assert!(!board.publish(report("a", Running)));
        assert!(board.publish(report("a", Failed)));
        assert!(board.publish(report("b", Pending)));
        assert!(board.publish(report("b", Running)));
        let changed = board.take_changed();
        assert_eq!(changed, vec![report("a", Failed), report("b", Running)]);
        assert!(board.take_changed().is_empty());
        board.remove("a");
        assert_eq!(board.all(), vec![report("b", Running)]);
    }
}
