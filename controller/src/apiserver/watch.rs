//! Watch streams: `?watch=1` as a chunked stream of `{"type":..,"object":..}` lines, with
//! selector-aware event types, bookmarks, timeouts and 410 Gone for revisions older than the window.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use edge_api::resource::ResourceInfo;
use edge_api::status::Status;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use super::ApiServer;
use super::api::{ListOptions, matches};
use super::error::ApiError;
use super::render::Rendering;
use crate::store::{EventKind, WatchEnd, WatchError};

/// How often an idle watch with `allowWatchBookmarks` gets a bookmark.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(15);
/// Kubernetes closes watches after 30–60 minutes so clients rebalance; a fixed 30 minutes here.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Lines buffered towards one client before its stream task waits.
const STREAM_BUFFER: usize = 64;

/// The parameters of one watch request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub list: ListOptions,
    pub resource_version: Option<String>,
    pub bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout: Option<Duration>,
    pub rendering: Rendering,
}

/// Starts a watch and returns the streaming response.
pub async fn watch(
    server: Arc<ApiServer>,
    info: &'static ResourceInfo,
    namespace: Option<String>,
    req: WatchRequest,
) -> Result<Response, ApiError> {
    let store = server.api.store().clone();
    let prefix = info.prefix(namespace.as_deref());
    let rv = req.resource_version.as_deref().unwrap_or("");
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    // "" and "0" mean "the current state, then changes": synthetic ADDED events first.
    let initial = if rv.is_empty() || rv == "0" || req.send_initial_events == Some(true) {
        if rv.is_empty() {
            store.read_barrier().await?;
        }
        let mut opts = req.list.clone();
        opts.limit = None;
        opts.continue_token = None;
        opts.any_version = true;
        let page = server.api.list(info, namespace.as_deref(), &opts).await?;
        Some(page)
    } else {
        None
    };
    let start = match &initial {
        Some(page) => page.revision,
        None => rv
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
    };
    let watcher = match store.watch(&prefix, start) {
        Ok(watcher) => Some(watcher),
        Err(WatchError::TooOld { .. }) => None,
        Err(other) => return Err(ApiError::internal(format!("watch failed: {other}"))),
    };
    let timeout = req.timeout.unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let metrics = server.metrics.clone();
    tokio::spawn(async move {
        metrics.watch_started(info.plural);
        let mut stream = EventWriter {
            tx,
            rendering: req.rendering,
            info,
            first: true,
        };
        let result = async {
            let Some(mut watcher) = watcher else {
                return stream.error(Status::gone(format!("too old resource version: {start}"))).await;
            };
            let mut last = start;
            if let Some(page) = initial {
                for object in page.items {
                    stream.event("ADDED", &object).await?;
                }
                if req.send_initial_events == Some(true) && req.bookmarks {
                    stream.bookmark(last, true).await?;
                }
            }
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let mut bookmark_timer = tokio::time::interval(BOOKMARK_INTERVAL);
            bookmark_timer.tick().await;
            loop {
                tokio::select! {
                    biased;
                    _ = stream.tx.closed() => return Ok(()),
                    _ = &mut deadline => return Ok(()),
                    event = watcher.next() => match event {
                        Ok(event) => {
                            last = event.revision;
                            if let Some((kind, object)) = filtered(&req.list, event.kind, &event.object, event.prev_object.as_deref()) {
                                stream.event(kind, object).await?;
                            }
                        }
                        Err(WatchEnd::Lagged) => {
                            return stream.error(Status::gone("the watch fell too far behind; list again and restart the watch")).await;
                        }
                        Err(WatchEnd::Shutdown) => return Ok(()),
                    },
                    _ = bookmark_timer.tick(), if req.bookmarks => stream.bookmark(last, false).await?,
                }
            }
        }
        .await;
        let _: Result<(), Closed> = result;
        metrics.watch_ended(info.plural);
    });
    let body =
        Body::from_stream(ReceiverStream::new(rx).map(Ok::<Bytes, std::convert::Infallible>));
    Response::builder()
        .header("content-type", req.rendering.content_type())
        .header("cache-control", "no-cache, private")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// What a watcher with selectors sees of one change: objects entering the selection are ADDED,
/// objects leaving it are DELETED, as the Kubernetes watch cache does it.
fn filtered<'a>(
    opts: &ListOptions,
    kind: EventKind,
    object: &'a Value,
    prev: Option<&'a Value>,
) -> Option<(&'static str, &'a Value)> {
    let now = matches(object, opts);
    let before = prev.is_some_and(|p| matches(p, opts));
    match kind {
        EventKind::Added => now.then_some(("ADDED", object)),
        EventKind::Deleted => (now || before).then_some(("DELETED", object)),
        EventKind::Modified => match (before, now) {
            (true, true) => Some(("MODIFIED", object)),
            (false, true) => Some(("ADDED", object)),
            (true, false) => Some(("DELETED", object)),
            (false, false) => None,
        },
    }
}

/// The client went away.
struct Closed;

struct EventWriter {
    tx: mpsc::Sender<Bytes>,
    rendering: Rendering,
    info: &'static ResourceInfo,
    first: bool,
}

impl EventWriter {
    async fn event(&mut self, kind: &str, object: &Value) -> Result<(), Closed> {
        let rendered = self.rendering.render_one(self.info, object, self.first);
        self.first = false;
        self.send(json!({"type": kind, "object": rendered})).await
    }

    async fn bookmark(&mut self, revision: u64, initial_events_end: bool) -> Result<(), Closed> {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": metadata});
        self.send(json!({"type": "BOOKMARK", "object": object}))
            .await
    }

    async fn error(&mut self, status: Status) -> Result<(), Closed> {
        self.send(json!({"type": "ERROR", "object": status.to_value()}))
            .await
    }

    async fn send(&mut self, line: Value) -> Result<(), Closed> {
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        self.tx.send(Bytes::from(bytes)).await.map_err(|_| Closed)
    }
}
