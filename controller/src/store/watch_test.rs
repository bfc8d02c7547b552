//! Tests of the watch hub: resuming from the window, 410 after it, lagging, shutdown, and no
//! missed or duplicated event when subscribing while events are published.

use std::sync::Arc;

use serde_json::json;

use super::apply::Change;
use super::error::WatchError;
use super::watch::{EventKind, WatchEnd, WatchHub, Watcher};

const PODS: &str = "/registry/core/pods/";

fn change(revision: u64, key: &str) -> Change {
    Change {
        key: key.to_owned(),
        kind: EventKind::Added,
        revision,
        object: Arc::new(json!({"metadata": {"resourceVersion": revision.to_string()}})),
        prev_object: None,
        stored: None,
    }
}

fn pod(revision: u64) -> Change {
    change(revision, &format!("{PODS}default/p{revision}"))
}

async fn revisions(watcher: &mut Watcher, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..n {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), watcher.next())
            .await
            .expect("event in time")
            .expect("event");
        out.push(event.revision);
    }
    out
}

#[tokio::test]
async fn resumes_from_window_then_follows_live() {
    let hub = WatchHub::new(100, 100, 0);
    hub.publish((1..=5).map(pod).collect());
    let mut watcher = hub.subscribe(PODS, 2).expect("subscribe");
    hub.publish(vec![pod(6)]);
    assert_eq!(revisions(&mut watcher, 4).await, vec![3, 4, 5, 6]);
    assert_eq!(hub.active(), 1);
    drop(watcher);
    assert_eq!(hub.active(), 0);
}

#[tokio::test]
async fn filters_by_prefix_and_future_revision() {
    let hub = WatchHub::new(100, 100, 0);
    let mut watcher = hub
        .subscribe("/registry/core/pods/kube-system/", 3)
        .expect("subscribe");
    hub.publish(vec![
        change(2, "/registry/core/pods/kube-system/old"),
        change(4, "/registry/core/pods/default/other"),
        change(5, "/registry/core/pods/kube-system/new"),
    ]);
    let event = watcher.next().await.expect("event");
    assert_eq!(
        (event.revision, event.key.as_str()),
        (5, "/registry/core/pods/kube-system/new")
    );
}

#[tokio::test]
async fn too_old_after_window_moves_on() {
    let hub = WatchHub::new(3, 100, 0);
    hub.publish((1..=6).map(pod).collect());
    assert_eq!(hub.floor(), 3);
    assert_eq!(
        hub.subscribe(PODS, 2).err(),
        Some(WatchError::TooOld { oldest: 3 })
    );
    let mut watcher = hub.subscribe(PODS, 3).expect("at the floor is fine");
    assert_eq!(revisions(&mut watcher, 3).await, vec![4, 5, 6]);
}

#[tokio::test]
async fn startup_floor_rejects_older_revisions() {
    let hub = WatchHub::new(10, 10, 40);
    assert_eq!(
        hub.subscribe(PODS, 39).err(),
        Some(WatchError::TooOld { oldest: 40 })
    );
    assert!(hub.subscribe(PODS, 40).is_ok());
}

#[tokio::test]
async fn slow_watcher_is_dropped_without_blocking_publish() {
    let hub = WatchHub::new(100, 2, 0);
    let mut slow = hub.subscribe(PODS, 0).expect("subscribe");
    let mut other = hub.subscribe("/registry/apps/", 0).expect("subscribe");
    hub.publish((1..=3).map(pod).collect());
    assert_eq!(revisions(&mut slow, 2).await, vec![1, 2]);
    assert_eq!(slow.next().await, Err(WatchEnd::Lagged));
    // A watcher of another prefix is not affected.
    hub.publish(vec![change(4, "/registry/apps/deployments/default/d")]);
    assert_eq!(revisions(&mut other, 1).await, vec![4]);
}

#[tokio::test]
async fn shutdown_and_reset_end_watchers() {
    let hub = WatchHub::new(100, 100, 0);
    let mut before_reset = hub.subscribe(PODS, 0).expect("subscribe");
    hub.publish(vec![pod(1)]);
    hub.reset(50);
    assert_eq!(revisions(&mut before_reset, 1).await, vec![1]);
    assert_eq!(before_reset.next().await, Err(WatchEnd::Lagged));
    assert_eq!(
        hub.subscribe(PODS, 49).err(),
        Some(WatchError::TooOld { oldest: 50 })
    );

    let mut watcher = hub.subscribe(PODS, 50).expect("subscribe");
    hub.shutdown();
    assert_eq!(watcher.next().await, Err(WatchEnd::Shutdown));
    assert_eq!(hub.subscribe(PODS, 50).err(), Some(WatchError::Shutdown));
}

#[tokio::test]
async fn subscribing_during_publishing_misses_and_duplicates_nothing() {
    const LAST: u64 = 3000;
    let hub = Arc::new(WatchHub::new(100_000, 100_000, 0));
    let publisher = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            for revision in 1..=LAST {
                hub.publish(vec![pod(revision)]);
            }
        })
    };
    let mut watchers = Vec::new();
    for after in [0, 10, 500, 1000, 2000] {
        watchers.push((after, hub.subscribe(PODS, after).expect("subscribe")));
        std::thread::yield_now();
    }
    publisher.join().expect("publisher");
    for (after, mut watcher) in watchers {
        let got = revisions(&mut watcher, (LAST - after) as usize).await;
        let want: Vec<u64> = (after + 1..=LAST).collect();
        assert_eq!(got, want, "watch after {after}");
    }
}
