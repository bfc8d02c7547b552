//! Background controllers that keep cluster state true: namespace lifecycle and garbage
//! collection. They run on the Raft leader only, read through `Api`, and write back through it.

pub mod gc;
pub mod namespace;

use std::time::Duration;

use edge_api::resource::{self, ResourceInfo};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::apiserver::Api;
use crate::apiserver::api::ListOptions;

/// Resync period: every controller looks at the whole state at least this often.
const RESYNC: Duration = Duration::from_secs(5);
/// Shortest pause between two passes triggered by changes.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Runs the controllers until `shutdown`.
pub async fn run(api: Api, shutdown: CancellationToken) {
    let mut watcher = None;
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        if watcher.is_none() {
            watcher = api
                .store()
                .watch("/registry/", api.store().current_revision())
                .ok();
        }
        let changed = async {
            match watcher.as_mut() {
                Some(w) => w.next().await.is_ok(),
                None => {
                    tokio::time::sleep(DEBOUNCE).await;
                    false
                }
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = resync.tick() => {}
            ok = changed => {
                if !ok {
                    watcher = None;
                }
                tokio::time::sleep(DEBOUNCE).await;
            }
        }
        if !api.store().is_leader() {
            continue;
        }
        if let Err(err) = pass(&api).await {
            tracing::debug!("controller pass: {}", err.0.message);
        }
    }
}

async fn pass(api: &Api) -> Result<(), crate::apiserver::error::ApiError> {
    namespace::ensure_defaults(api).await?;
    let snapshot = Snapshot::read(api).await?;
    namespace::reconcile(api, &snapshot).await?;
    gc::reconcile(api, &snapshot).await
}

/// Every object of every resource, read once per pass.
pub struct Snapshot {
    pub objects: Vec<(&'static ResourceInfo, Value)>,
}

impl Snapshot {
    pub async fn read(api: &Api) -> Result<Snapshot, crate::apiserver::error::ApiError> {
        let mut objects = Vec::new();
        let opts = ListOptions {
            any_version: true,
            ..ListOptions::default()
        };
        for info in resource::all() {
            for object in api.list(info, None, &opts).await?.items {
                objects.push((info, object));
            }
        }
        Ok(Snapshot { objects })
    }
}

pub(crate) fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}
