//! Writes the pod status an agent reports into the pods' `status`, as that node.
//!
//! Reports are coalesced by pod: only the newest report of a pod waits to be written, so a
//! burst of changes (a crash loop, a reconnect with hundreds of pods) costs at most one write
//! per pod in flight, and the queue is bounded by the number of pods on the node. A pod that
//! finished stopping after its deletion is removed (the kubelet's final delete).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_api::resource::{self, ResourceInfo};
use edge_wire::link::PodStatusReport;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::pod_status::status_json;
use crate::apiserver::Api;
use crate::apiserver::api_delete::DeleteOptions;
use crate::apiserver::api_write::{Part, WriteOptions};

/// Status writes of one node in flight at once.
const CONCURRENT_WRITES: usize = 8;
/// Attempts of one write that keeps meeting concurrent changes of the pod.
const CONFLICT_ATTEMPTS: usize = 5;
/// Pause before writing again what failed for another reason (no leader, say).
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The status writer of one session.
pub(super) struct StatusWriter {
    shared: Arc<Shared>,
    /// Stops the write loop when the session drops its writer.
    _stop: DropGuard,
}

struct Shared {
    pending: Mutex<HashMap<String, PodStatusReport>>,
    wake: Notify,
}

impl StatusWriter {
    /// Starts writing for `node` until `shutdown` or until the writer is dropped (reports still
    /// queued then are dropped too: the agent sends every pod's status again when it reconnects).
    pub(super) fn spawn(api: Api, node: String, shutdown: CancellationToken) -> StatusWriter {
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            wake: Notify::new(),
        });
        let stop = shutdown.child_token();
        tokio::spawn(write_loop(api, node, shared.clone(), stop.clone()));
        StatusWriter {
            shared,
            _stop: stop.drop_guard(),
        }
    }

    /// Queues reports; a newer report of a pod replaces a queued older one.
    pub(super) fn submit(&self, reports: Vec<PodStatusReport>) {
        if reports.is_empty() {
            return;
        }
        let mut pending = lock(&self.shared.pending);
        for report in reports {
            pending.insert(report.uid.clone(), report);
        }
        drop(pending);
        self.shared.wake.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn write_loop(api: Api, node: String, shared: Arc<Shared>, stop: CancellationToken) {
    let Some(pods) = resource::lookup("", "v1", "pods") else {
        return;
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = shared.wake.notified() => {}
        }
        let batch: Vec<PodStatusReport> = lock(&shared.pending).drain().map(|(_, r)| r).collect();
        let failed: Vec<PodStatusReport> = futures::stream::iter(batch)
            .map(|report| {
                let api = &api;
                let node = node.as_str();
                async move {
                    match write_status(api, pods, node, &report).await {
                        Ok(()) => None,
                        Err(message) => {
                            tracing::debug!(%node, pod = %report.name, "status not written: {message}");
                            Some(report)
                        }
                    }
                }
            })
            .buffer_unordered(CONCURRENT_WRITES)
            .filter_map(|r| async move { r })
            .collect()
            .await;
        if !failed.is_empty() {
            {
                let mut pending = lock(&shared.pending);
                for report in failed {
                    // A newer report queued meanwhile wins.
                    pending.entry(report.uid.clone()).or_insert(report);
                }
            }
            let shared = shared.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(RETRY_PAUSE) => shared.wake.notify_one(),
                }
            });
        }
    }
}

/// Writes one report. Reports of pods that are gone, were replaced (another uid) or are not
/// bound to `node` are dropped: the node may only write its own pods.
async fn write_status(
    api: &Api,
    pods: &'static ResourceInfo,
    node: &str,
    report: &PodStatusReport,
) -> Result<(), String> {
    let namespace = Some(report.namespace.as_str());
    for _ in 0..CONFLICT_ATTEMPTS {
        let current = match api.current_local(pods, namespace, &report.name) {
            Ok(current) => current,
            Err(err) if err.code() == 404 => return Ok(()),
            Err(err) => return Err(err.0.message.clone()),
        };
        let pod = &current.object;
        let uid = pod.pointer("/metadata/uid").and_then(Value::as_str);
        let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str);
        if uid != Some(report.uid.as_str()) || bound != Some(node) {
            return Ok(());
        }
        let deleting = pod.pointer("/metadata/deletionTimestamp").is_some();
        if report.terminated && deleting {
            let opts = DeleteOptions {
                grace_period_seconds: Some(0),
                ..DeleteOptions::default()
            };
            return match api.delete(pods, namespace, &report.name, &opts).await {
                Ok(_) => Ok(()),
                Err(err) if err.code() == 404 => Ok(()),
                Err(err) if err.code() == 409 => continue,
                Err(err) => Err(err.0.message.clone()),
            };
        }
        let status = status_json(report, pod);
        if pod.get("status") == Some(&status) {
            return Ok(());
        }
        let mut updated = pod.clone();
        updated["status"] = status;
        updated["metadata"]["resourceVersion"] = Value::String(current.revision.to_string());
        match api
            .update(
                pods,
                namespace,
                &report.name,
                updated,
                Part::Status,
                WriteOptions::default(),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) if err.code() == 409 => continue,
            Err(err) if err.code() == 404 => return Ok(()),
            Err(err) => return Err(err.0.message.clone()),
        }
    }
    Err("the pod kept changing".to_owned())
}
