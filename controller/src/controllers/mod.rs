//! Background controllers that keep cluster state true: namespace lifecycle, garbage
//! collection, node lifecycle, taint eviction and the workload controllers. They run on the Raft leader only, read through `Api`, and write back through it.

pub mod cache;
pub mod cronjob;
pub mod cronjob_run;
pub mod daemonset;
pub mod deployment;
pub mod events;
pub mod gc;
pub mod history;
pub mod job;
pub mod job_index;
pub mod job_pods;
pub mod job_run;
pub mod job_status;
pub mod job_track;
pub mod namespace;
pub mod node_lifecycle;
pub mod replicaset;
pub mod statefulset;
pub mod statefulset_run;
pub mod taint_eviction;
pub mod workload;
pub mod writes;

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::apiserver::Api;
pub use cache::{Dirty, ObjectCache, Snapshot};

/// Resync period: every controller looks at the whole state at least this often.
const RESYNC: Duration = Duration::from_secs(5);
/// Shortest pause between two passes triggered by changes, so that a burst of writes costs one
/// pass, not one per write.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Controller settings.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// How long a node may stay silent before it is marked unreachable
    /// (`--node-monitor-grace-period`).
    pub node_grace: Duration,
    /// How long pods stay on an unreachable node before they are evicted, for pods that do not
    /// say themselves (`--pod-eviction-timeout`; Kubernetes' default toleration is 300 s).
    pub pod_eviction_timeout: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            node_grace: Duration::from_secs(40),
            pod_eviction_timeout: Duration::from_secs(300),
        }
    }
}

/// What every controller pass gets: the API to write through, the settings and the Event
/// recorder.
pub struct Context {
    pub api: Api,
    pub options: ControllerOptions,
    pub events: events::Recorder,
}

/// Runs the controllers until `shutdown`.
pub async fn run(api: Api, options: ControllerOptions, shutdown: CancellationToken) {
    let ctx = Context {
        events: events::Recorder::new(api.clone()),
        api: api.clone(),
        options,
    };
    let mut cache: Option<ObjectCache> = None;
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        if cache.is_none() {
            cache = ObjectCache::sync(api.store())
                .inspect_err(|e| tracing::debug!("controller cache: {e}"))
                .ok();
        }
        let changed = async {
            match cache.as_mut() {
                Some(cache) => cache.changed().await.is_ok(),
                None => {
                    tokio::time::sleep(DEBOUNCE).await;
                    false
                }
            }
        };
        let full = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = resync.tick() => true,
            ok = changed => {
                if !ok {
                    cache = None;
                }
                tokio::time::sleep(DEBOUNCE).await;
                false
            }
        };
        let Some(current) = cache.as_mut() else {
            continue;
        };
        if current.catch_up().is_err() {
            cache = None;
            continue;
        }
        let dirty = current.take_dirty();
        let dirty = if full { Dirty::ALL } else { dirty };
        if !api.store().is_leader() || dirty == Dirty::default() {
            continue;
        }
        if let Err(err) = pass(&ctx, &current.snapshot(), dirty).await {
            tracing::debug!("controller pass: {}", err.0.message);
            // Try again with the next change (or the next resync).
            current.mark_dirty(dirty);
        }
    }
}

async fn pass(
    ctx: &Context,
    snapshot: &Snapshot,
    dirty: Dirty,
) -> Result<(), crate::apiserver::error::ApiError> {
    let (api, options) = (&ctx.api, &ctx.options);
    if dirty.namespaces {
        namespace::ensure_defaults(api).await?;
        namespace::reconcile(api, snapshot).await?;
    }
    if dirty.gc {
        gc::reconcile(api, snapshot).await?;
    }
    if dirty.nodes {
        node_lifecycle::reconcile(api, snapshot, options.node_grace).await?;
    }
    if dirty.workloads {
        // A failing workload controller does not hold the others back; the pass reports the
        // first failure so that it runs again.
        let mut failed = Ok(());
        let mut keep = |result: Result<(), crate::apiserver::error::ApiError>| {
            if failed.is_ok() {
                failed = result;
            }
        };
        keep(Ok(()));
        // Deployments before ReplicaSets: the ReplicaSet controller's status writes would
        // otherwise make the deployment controller's guarded ReplicaSet updates stale.
        keep(deployment::reconcile(ctx, snapshot).await);
        keep(replicaset::reconcile(ctx, snapshot).await);
        keep(daemonset::reconcile(ctx, snapshot).await);
        keep(statefulset::reconcile(ctx, snapshot).await);
        keep(job::reconcile(ctx, snapshot).await);
        keep(cronjob::reconcile(ctx, snapshot).await);
        keep(taint_eviction::reconcile(ctx, snapshot).await);
        failed?;
    }
    Ok(())
}

pub(crate) fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}
