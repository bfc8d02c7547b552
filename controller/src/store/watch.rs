//! The watch hub: a bounded window of recent events and a fan-out to watchers that never blocks
//! the apply path.
//!
//! The state machine publishes each applied change once. Every watcher has a bounded queue
//! ([`WATCHER_QUEUE`]); a watcher that falls further behind is dropped with [`WatchEnd::Lagged`]
//! instead of slowing the apply path or growing memory. Subscribing copies the matching part of
//! the window and registers the live queue under the same lock as publishing, so a watcher sees
//! every event after its revision exactly once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::mpsc;

use super::apply::Change;
use super::error::WatchError;

/// How many live events a watcher may have queued before it is dropped as lagging.
pub(crate) const WATCHER_QUEUE: usize = 1000;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// One applied change to one object.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchEvent {
    /// Store revision of the change (the object's new `resourceVersion`).
    pub revision: u64,
    pub kind: EventKind,
    pub key: String,
    /// The new state; for `Deleted`, the last state with `resourceVersion` = `revision`.
    pub object: Arc<Value>,
    /// The state before the change (absent for `Added`).
    pub prev_object: Option<Arc<Value>>,
}

/// Why a watch stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchEnd {
    /// The watcher fell too far behind, or the store jumped ahead by installing a snapshot;
    /// relist and watch again.
    #[error("the watcher fell behind and was dropped; relist and watch again")]
    Lagged,
    /// The store is shutting down.
    #[error("the store is shutting down")]
    Shutdown,
}

const OPEN: u8 = 0;
const LAGGED: u8 = 1;
const SHUTDOWN: u8 = 2;

/// A stream of events for one prefix, from a revision on.
pub struct Watcher {
    backlog: VecDeque<Arc<WatchEvent>>,
    live: mpsc::Receiver<Arc<WatchEvent>>,
    end: Arc<AtomicU8>,
    active: Arc<AtomicUsize>,
}

impl Watcher {
    /// The next event, or why the stream ended. Cancel-safe.
    pub async fn next(&mut self) -> Result<WatchEvent, WatchEnd> {
        if let Some(event) = self.backlog.pop_front() {
            return Ok(WatchEvent::clone(&event));
        }
        match self.live.recv().await {
            Some(event) => Ok(WatchEvent::clone(&event)),
            None => Err(match self.end.load(Ordering::Acquire) {
                LAGGED => WatchEnd::Lagged,
                _ => WatchEnd::Shutdown,
            }),
        }
    }
}

impl Watcher {
    /// The next event if one is ready, without waiting; `None` when there is none yet.
    pub fn try_next(&mut self) -> Option<Result<WatchEvent, WatchEnd>> {
        if let Some(event) = self.backlog.pop_front() {
            return Some(Ok(WatchEvent::clone(&event)));
        }
        match self.live.try_recv() {
            Ok(event) => Some(Ok(WatchEvent::clone(&event))),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                Some(Err(match self.end.load(Ordering::Acquire) {
                    LAGGED => WatchEnd::Lagged,
                    _ => WatchEnd::Shutdown,
                }))
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Subscriber {
    prefix: String,
    after: u64,
    tx: mpsc::Sender<Arc<WatchEvent>>,
    end: Arc<AtomicU8>,
}

impl Subscriber {
    fn close(&self, why: u8) {
        self.end.store(why, Ordering::Release);
    }
}

struct HubState {
    window: VecDeque<Arc<WatchEvent>>,
    /// Every event with a revision above `floor` is in `window`.
    floor: u64,
    subscribers: Vec<Subscriber>,
    shut_down: bool,
}

/// The fan-out point between the state machine and watchers.
pub(crate) struct WatchHub {
    state: Mutex<HubState>,
    window_size: usize,
    queue: usize,
    active: Arc<AtomicUsize>,
}

impl WatchHub {
    /// A hub whose window starts empty at `floor` (the applied revision at startup).
    pub(crate) fn new(window_size: usize, queue: usize, floor: u64) -> Self {
        Self {
            state: Mutex::new(HubState {
                window: VecDeque::new(),
                floor,
                subscribers: Vec::new(),
                shut_down: false,
            }),
            window_size: window_size.max(1),
            queue: queue.max(1),
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock cannot leave the state half-updated in a way that matters
        // more than losing every watcher, so keep going with the inner state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of live watchers.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// The oldest revision a watch may start after.
    pub(crate) fn floor(&self) -> u64 {
        self.lock().floor
    }

    /// Starts a watch of keys starting with `prefix`, for events with revision > `after`.
    pub(crate) fn subscribe(&self, prefix: &str, after: u64) -> Result<Watcher, WatchError> {
        let mut state = self.lock();
        if state.shut_down {
            return Err(WatchError::Shutdown);
        }
        if after < state.floor {
            return Err(WatchError::TooOld {
                oldest: state.floor,
            });
        }
        let backlog: VecDeque<_> = state
            .window
            .iter()
            .filter(|e| e.revision > after && e.key.starts_with(prefix))
            .cloned()
            .collect();
        let (tx, live) = mpsc::channel(self.queue);
        let end = Arc::new(AtomicU8::new(OPEN));
        state.subscribers.push(Subscriber {
            prefix: prefix.to_owned(),
            after,
            tx,
            end: end.clone(),
        });
        self.active.fetch_add(1, Ordering::Relaxed);
        Ok(Watcher {
            backlog,
            live,
            end,
            active: self.active.clone(),
        })
    }

    /// Publishes applied changes, in order. Never blocks on a watcher.
    pub(crate) fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut state = self.lock();
        for change in changes {
            let event = Arc::new(WatchEvent {
                revision: change.revision,
                kind: change.kind,
                key: change.key,
                object: change.object,
                prev_object: change.prev_object,
            });
            state.window.push_back(event.clone());
            while state.window.len() > self.window_size {
                if let Some(evicted) = state.window.pop_front() {
                    state.floor = state.floor.max(evicted.revision);
                }
            }
            state.subscribers.retain(|sub| {
                if event.revision <= sub.after || !event.key.starts_with(&sub.prefix) {
                    return true;
                }
                match sub.tx.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        sub.close(LAGGED);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
        }
    }

    /// Forgets the window after the state jumped to `floor` (a snapshot was installed); current
    /// watchers have missed events and end with [`WatchEnd::Lagged`].
    pub(crate) fn reset(&self, floor: u64) {
        let mut state = self.lock();
        state.window.clear();
        state.floor = floor;
        for sub in state.subscribers.drain(..) {
            sub.close(LAGGED);
        }
    }

    /// Ends every watcher with [`WatchEnd::Shutdown`] and refuses new ones.
    pub(crate) fn shutdown(&self) {
        let mut state = self.lock();
        state.shut_down = true;
        for sub in state.subscribers.drain(..) {
            sub.close(SHUTDOWN);
        }
    }
}
