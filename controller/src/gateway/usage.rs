//! The latest resource usage each connected agent reported, kept in memory for `top`.
//!
//! Usage changes on every heartbeat, so it never goes to the store: a Raft write per node per
//! heartbeat would cost more than everything else the cluster does. The price is that only the
//! controller an agent is connected to knows its usage (see `apiserver::metrics_api`), and that
//! a node's usage is gone once its session ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_wire::link::{NodeStatusReport, PodUsage};

/// A report further apart from the previous one than this many heartbeats does not measure a
/// window of its own (the agent reconnected, or was silent); it gets one heartbeat instead.
const MAX_WINDOW_HEARTBEATS: u32 = 3;

/// What one node reported last.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeUsage {
    /// When the controller received the report.
    pub timestamp: jiff::Timestamp,
    /// The interval the node's CPU figure covers: the time since its previous report.
    pub window: Duration,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    /// Per-pod usage, as the agent's workers last sampled it (pods without a running
    /// container have no containers here).
    pub pods: Vec<PodUsage>,
}

impl NodeUsage {
    /// The usage in `report`, received at `now`; `previous` is the node's last report, whose
    /// time bounds the window the CPU figure covers.
    pub fn from_report(
        report: &NodeStatusReport,
        previous: Option<&NodeUsage>,
        heartbeat: Duration,
        now: jiff::Timestamp,
    ) -> NodeUsage {
        let since_previous = previous
            .and_then(|p| Duration::try_from(now.duration_since(p.timestamp)).ok())
            .filter(|d| !d.is_zero() && *d <= heartbeat * MAX_WINDOW_HEARTBEATS);
        NodeUsage {
            timestamp: now,
            window: since_previous.unwrap_or(heartbeat),
            cpu_millis: report.cpu_used_millis,
            memory_bytes: report.memory_used_bytes,
            pods: report.pod_usage.clone(),
        }
    }
}

/// The latest usage of every node connected to this controller.
#[derive(Debug, Default)]
pub struct UsageBoard {
    nodes: Mutex<HashMap<String, Arc<NodeUsage>>>,
}

impl UsageBoard {
    /// Keeps `report` as `node`'s latest usage.
    pub fn record(&self, node: &str, report: &NodeStatusReport, heartbeat: Duration) {
        let mut nodes = lock(&self.nodes);
        let usage = NodeUsage::from_report(
            report,
            nodes.get(node).map(Arc::as_ref),
            heartbeat,
            jiff::Timestamp::now(),
        );
        nodes.insert(node.to_owned(), Arc::new(usage));
    }

    /// Drops `node`'s usage: its session ended, so the figures would only grow stale.
    pub fn forget(&self, node: &str) {
        lock(&self.nodes).remove(node);
    }

    /// The latest usage of `node`, if it reported any to this controller.
    pub fn node(&self, node: &str) -> Option<Arc<NodeUsage>> {
        lock(&self.nodes).get(node).cloned()
    }

    /// Every node's latest usage, by node name.
    pub fn nodes(&self) -> Vec<(String, Arc<NodeUsage>)> {
        let mut all: Vec<_> = lock(&self.nodes)
            .iter()
            .map(|(name, usage)| (name.clone(), usage.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one insert or remove, so the map stays consistent after a panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_wire::link::ContainerUsage;

    fn report(cpu: u64) -> NodeStatusReport {
        NodeStatusReport {
            cpu_used_millis: cpu,
            memory_used_bytes: 64 << 20,
            pod_usage: vec![PodUsage {
                uid: "u1".into(),
                namespace: "default".into(),
                name: "web".into(),
                containers: vec![ContainerUsage {
                    name: "c".into(),
                    cpu_millis: 5,
                    memory_bytes: 1 << 20,
                }],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn window_is_the_time_since_the_previous_report_within_reason() {
        let heartbeat = Duration::from_secs(10);
        let t0: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().expect("timestamp");
        let first = NodeUsage::from_report(&report(100), None, heartbeat, t0);
        assert_eq!(first.window, heartbeat);
        assert_eq!((first.cpu_millis, first.memory_bytes), (100, 64 << 20));
        assert_eq!(first.pods.len(), 1);

        let t1 = t0 + jiff::SignedDuration::from_millis(9_500);
        let second = NodeUsage::from_report(&report(200), Some(&first), heartbeat, t1);
        assert_eq!(second.window, Duration::from_millis(9_500));
        assert_eq!(second.timestamp, t1);

        // After a long silence the gap is no measurement window.
        let t2 = t1 + jiff::SignedDuration::from_secs(300);
        let third = NodeUsage::from_report(&report(300), Some(&second), heartbeat, t2);
        assert_eq!(third.window, heartbeat);
        // A clock that went backwards neither.
        let fourth = NodeUsage::from_report(&report(300), Some(&third), heartbeat, t0);
        assert_eq!(fourth.window, heartbeat);
    }

    #[test]
    fn board_keeps_the_latest_report_per_node_until_forgotten() {
        let board = UsageBoard::default();
        let heartbeat = Duration::from_secs(1);
        board.record("b", &report(1), heartbeat);
        board.record("a", &report(2), heartbeat);
        board.record("a", &report(3), heartbeat);
        let names: Vec<_> = board.nodes().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(board.node("a").map(|u| u.cpu_millis), Some(3));
        board.forget("a");
        assert!(board.node("a").is_none());
        assert_eq!(board.nodes().len(), 1);
    }
}
