//! Single-node store tests: propose, read, reopen, watch, backup and restore, through the real
//! Raft and redb.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    Applied, Bootstrap, Command, EventKind, Rejected, Store, StoreConfig, StoreError, WatchEnd,
    WatchError,
};

/// A plain-HTTP client for loopback tests. reqwest is built without a default TLS provider, so
/// it gets a rustls configuration that trusts nothing (it is never used for HTTPS here).
pub(super) fn test_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("http client")
}

pub(super) fn config(dir: &Path, node_id: u64, url: &str, bootstrap: Bootstrap) -> StoreConfig {
    StoreConfig::new(
        dir.to_path_buf(),
        node_id,
        url.to_owned(),
        test_client(),
        bootstrap,
    )
}

pub(super) fn key(name: &str) -> String {
    format!("/registry/core/configmaps/default/{name}")
}

pub(super) fn object(name: &str, data: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"v": data},
    }))
    .expect("json")
}

pub(super) fn create(name: &str) -> Command {
    Command::Create {
        key: key(name),
        object: object(name, "1"),
    }
}

pub(super) fn resource_version(bytes: &[u8]) -> String {
    let value: Value = serde_json::from_slice(bytes).expect("stored json");
    value["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_owned()
}

/// Proposes and expects the command to be applied; returns its revision.
pub(super) async fn apply(store: &Store, cmd: Command) -> u64 {
    match store.propose(cmd).await {
        Ok(Ok(applied)) => applied.revision(),
        other => panic!("proposal failed: {other:?}"),
    }
}

async fn open_single(dir: &Path) -> Store {
    open_with(config(dir, 1, "http://127.0.0.1:1", Bootstrap::SingleNode)).await
}

async fn open_with(cfg: StoreConfig) -> Store {
    tokio::time::timeout(Duration::from_secs(20), Store::open(cfg))
        .await
        .expect("open in time")
        .expect("open")
}

#[tokio::test]
async fn propose_read_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_single(dir.path()).await;

    let rev_a = apply(&store, create("a")).await;
    let rev_b = apply(&store, create("b")).await;
    let rev_c = apply(&store, create("c")).await;
    assert!(rev_a < rev_b && rev_b < rev_c);
    assert_eq!(store.current_revision(), rev_c);

    let a = store.get(&key("a")).expect("get").expect("a exists");
    assert_eq!(a.revision, rev_a);
    assert_eq!(resource_version(&a.bytes), rev_a.to_string());
    assert_eq!(store.get(&key("zzz")).expect("get"), None);

    // Preconditions are checked by the state machine.
    assert_eq!(
        store.propose(create("a")).await.expect("propose"),
        Err(Rejected::AlreadyExists { key: key("a") })
    );
    let stale = Command::Update {
        key: key("a"),
        object: object("a", "2"),
        expected_revision: Some(rev_a - 1),
    };
    assert_eq!(
        store.propose(stale).await.expect("propose"),
        Err(Rejected::Conflict {
            key: key("a"),
            current_revision: rev_a
        })
    );
    let update = Command::Update {
        key: key("a"),
        object: object("a", "2"),
        expected_revision: Some(rev_a),
    };
    let rev_a2 = apply(&store, update).await;
    let deleted = store
        .propose(Command::Delete {
            key: key("c"),
            expected_revision: None,
        })
        .await
        .expect("propose");
    let Ok(Applied::Deleted {
        revision,
        object: last_state,
    }) = deleted
    else {
        panic!("expected Deleted, got {deleted:?}");
    };
    assert_eq!(resource_version(&last_state), revision.to_string());

    // Listing: prefix, paging, one consistent revision.
    let other = Command::Create {
        key: "/registry/core/configmaps/kube-system/x".to_owned(),
        object: object("x", "1"),
    };
    let last = apply(&store, other).await;
    let page = store
        .list("/registry/core/configmaps/default/", None, Some(1))
        .expect("list");
    assert_eq!(page.revision, last);
    assert!(page.more);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].key, key("a"));
    assert_eq!(page.items[0].revision, rev_a2);
    let rest = store
        .list(
            "/registry/core/configmaps/default/",
            Some(&key("a")),
            Some(10),
        )
        .expect("list");
    assert!(!rest.more);
    let keys: Vec<_> = rest.items.iter().map(|s| s.key.clone()).collect();
    assert_eq!(keys, vec![key("b")]);
    assert_eq!(
        store
            .list("/registry/", None, None)
            .expect("list")
            .items
            .len(),
        3
    );

    let mut metrics = String::new();
    store.write_prometheus(&mut metrics);
    assert!(
        metrics.contains("edgeplane_store_is_leader 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("edgeplane_store_revision {last}\n")));
    let applied = *store.inner.applied.borrow();
    assert!(metrics.contains(&format!("edgeplane_store_last_applied_index {applied}\n")));
    assert!(metrics.contains("edgeplane_store_commit_latency_seconds_count "));

    // Reopen: data and revisions survive, and new revisions continue after the old ones.
    store.shutdown().await;
    assert!(matches!(
        store.propose(create("late")).await,
        Err(StoreError::Fatal(_))
    ));
    drop(store);
    let store = open_single(dir.path()).await;
    assert_eq!(store.current_revision(), last);
    let a = store.get(&key("a")).expect("get").expect("a survives");
    assert_eq!(a.revision, rev_a2);
    assert_eq!(store.get(&key("c")).expect("get"), None);
    let rev_d = apply(&store, create("d")).await;
    assert!(rev_d > last, "revision {rev_d} must follow {last}");
    assert_eq!(store.read_barrier().await.expect("barrier"), rev_d);
    store.shutdown().await;
}

#[tokio::test]
async fn watch_from_revision_window_and_lag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path(), 1, "http://127.0.0.1:1", Bootstrap::SingleNode);
    cfg.watch_window = 5;
    let store = open_with(cfg).await;
    let prefix = "/registry/core/configmaps/default/";

    let start = store.current_revision();
    let mut watcher = store.watch(prefix, start).expect("watch");
    let rev_a = apply(&store, create("a")).await;
    let event = watcher.next().await.expect("event");
    assert_eq!(
        (event.revision, event.kind, event.key.clone()),
        (rev_a, EventKind::Added, key("a"))
    );
    assert_eq!(
        event.object["metadata"]["resourceVersion"],
        json!(rev_a.to_string())
    );

    let update = Command::Update {
        key: key("a"),
        object: object("a", "2"),
        expected_revision: None,
    };
    let rev_a2 = apply(&store, update).await;
    let event = watcher.next().await.expect("event");
    assert_eq!((event.revision, event.kind), (rev_a2, EventKind::Modified));
    let prev = event.prev_object.expect("prev object");
    assert_eq!(
        prev["metadata"]["resourceVersion"],
        json!(rev_a.to_string())
    );

    // Resuming from a revision inside the window replays what followed it.
    let mut resumed = store.watch(prefix, rev_a).expect("watch");
    assert_eq!(resumed.next().await.expect("event").revision, rev_a2);

    // Past the window: 410-style error.
    for i in 0..6 {
        apply(&store, create(&format!("w{i}"))).await;
    }
    assert!(matches!(
        store.watch(prefix, rev_a),
        Err(WatchError::TooOld { .. })
    ));

    // A watcher that does not read falls behind its queue bound and is dropped; the batch's
    // events all carry the batch's revision.
    let mut slow = store
        .watch(prefix, store.current_revision())
        .expect("watch");
    let batch = Command::Batch((0..1100).map(|i| create(&format!("bulk{i:04}"))).collect());
    let rev_batch = apply(&store, batch).await;
    let first = slow.next().await.expect("first queued event");
    assert_eq!(first.revision, rev_batch);
    let mut ended = None;
    for _ in 0..1100 {
        if let Err(end) = slow.next().await {
            ended = Some(end);
            break;
        }
    }
    assert_eq!(ended, Some(WatchEnd::Lagged));

    drop(watcher);
    let mut idle = store
        .watch(prefix, store.current_revision())
        .expect("watch");
    store.shutdown().await;
    assert_eq!(idle.next().await, Err(WatchEnd::Shutdown));
    assert!(matches!(store.watch(prefix, 0), Err(WatchError::Shutdown)));
}

#[tokio::test]
async fn backup_and_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_single(dir.path()).await;
    for name in ["a", "b", "c"] {
        apply(&store, create(name)).await;
    }
    apply(
        &store,
        Command::Delete {
            key: key("b"),
            expected_revision: None,
        },
    )
    .await;
    let backup = store.backup().await.expect("backup");
    let backup_revision = store.current_revision();
    let originals = store.list("/registry/", None, None).expect("list").items;
    store.shutdown().await;
    drop(store);

    // Damaged backups are refused before anything is written.
    let restored_dir = tempfile::tempdir().expect("tempdir");
    let cfg = |dir: &Path| config(dir, 7, "http://127.0.0.1:1", Bootstrap::SingleNode);
    let truncated = Store::restore(cfg(restored_dir.path()), &backup[..backup.len() - 3]).await;
    assert!(
        matches!(truncated, Err(StoreError::Backup(_))),
        "truncated backup accepted"
    );
    let mut corrupt = backup.clone();
    corrupt[30] ^= 1;
    let corrupt = Store::restore(cfg(restored_dir.path()), &corrupt).await;
    assert!(
        matches!(corrupt, Err(StoreError::Backup(_))),
        "corrupt backup accepted"
    );
    // A directory that already has a store is refused.
    let occupied = Store::restore(cfg(dir.path()), &backup).await;
    assert!(
        matches!(occupied, Err(StoreError::Invalid(_))),
        "restore over a store"
    );

    let restored = tokio::time::timeout(
        Duration::from_secs(20),
        Store::restore(cfg(restored_dir.path()), &backup),
    )
    .await
    .expect("restore in time")
    .expect("restore");
    assert_eq!(restored.current_revision(), backup_revision);
    assert_eq!(
        restored.list("/registry/", None, None).expect("list").items,
        originals
    );

    // Revisions never go backwards after a restore.
    let rev_d = apply(&restored, create("d")).await;
    assert!(
        rev_d > backup_revision,
        "revision {rev_d} after backup {backup_revision}"
    );
    assert_eq!(restored.members().len(), 1);

    // The restored store reopens like any other.
    restored.shutdown().await;
    drop(restored);
    let reopened = open_with(cfg(restored_dir.path())).await;
    assert_eq!(
        reopened.get(&key("d")).expect("get").map(|s| s.revision),
        Some(rev_d)
    );
    assert_eq!(
        reopened.get(&key("a")).expect("get"),
        originals.first().cloned()
    );
    assert!(apply(&reopened, create("e")).await > rev_d);
    reopened.shutdown().await;
}

#[tokio::test]
async fn join_mode_waits_for_a_leader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with(config(dir.path(), 5, "http://127.0.0.1:1", Bootstrap::Join)).await;
    assert_eq!(store.leader(), None);
    assert!(!store.is_leader());
    let result = store.propose(create("a")).await;
    assert!(matches!(result, Err(StoreError::NoLeader)), "{result:?}");
    assert!(StoreError::NoLeader.is_retryable());
    store.shutdown().await;
}

#[tokio::test]
async fn concurrent_proposals_share_entries_but_not_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_single(dir.path()).await;
    let start = store.current_revision();
    let last_index = |store: &Store| {
        let metrics = store.inner.raft.metrics();
        let index = metrics.borrow().last_log_index;
        index.unwrap_or(0)
    };
    let index_before = last_index(&store);

    // 200 creates at once, plus a second create of "n0" that must be rejected on its own.
    let mut tasks = tokio::task::JoinSet::new();
    for name in (0..200).map(|i| format!("n{i}")).chain(["n0".to_owned()]) {
        let store = store.clone();
        tasks.spawn(async move { store.propose(create(&name)).await });
    }
    let mut revisions = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(Ok(applied)) => revisions.push(applied.revision()),
            Ok(Err(Rejected::AlreadyExists { .. })) => {}
            other => panic!("proposal failed: {other:?}"),
        }
    }

    // Exactly one of the two "n0" creates won; every applied command has its own revision, and
    // the revisions are exactly the next 200.
    revisions.sort_unstable();
    let expected: Vec<u64> = (start + 1..=start + 200).collect();
    assert_eq!(revisions, expected);
    assert_eq!(store.current_revision(), start + 200);
    let listed = store.list("/registry/core/configmaps/default/n", None, None);
    assert_eq!(listed.expect("list").items.len(), 200);

    // The commands were grouped: far fewer log entries than commands.
    let index_after = last_index(&store);
    assert!(
        index_after - index_before < 100,
        "201 concurrent proposals took {} log entries",
        index_after - index_before
    );

    // Revisions survive a restart unchanged and continue after it.
    store.shutdown().await;
    drop(store);
    let store = open_single(dir.path()).await;
    assert_eq!(store.current_revision(), start + 200);
    assert_eq!(apply(&store, create("after")).await, start + 201);
}

#[tokio::test]
async fn compacted_store_reopens_with_its_snapshot_file_and_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = || {
        let mut cfg = config(dir.path(), 1, "http://127.0.0.1:1", Bootstrap::SingleNode);
        cfg.snapshot_after_logs = 5;
        cfg
    };
    let store = open_with(small()).await;
    for i in 0..30 {
        apply(&store, create(&format!("s{i}"))).await;
    }
    let snapshot = dir.path().join("snapshot.bin");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !snapshot.exists() {
        assert!(std::time::Instant::now() < deadline, "no snapshot file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let revision = store.current_revision();
    store.shutdown().await;
    drop(store);

    let store = open_with(small()).await;
    assert_eq!(store.current_revision(), revision);
    let listed = store.list("/registry/core/configmaps/default/s", None, None);
    assert_eq!(listed.expect("list").items.len(), 30);
    store.shutdown().await;
    drop(store);

    // A damaged snapshot file is ignored (and replaced when one is next needed).
    std::fs::write(&snapshot, b"\x07\x00\x00\x00garbage").expect("damage");
    let store = open_with(small()).await;
    assert_eq!(store.current_revision(), revision);
    assert_eq!(
        apply(&store, create("after")).await,
        revision + 1,
        "writes go on"
    );
    let listed = store.list("/registry/core/configmaps/default/s", None, None);
    assert_eq!(listed.expect("list").items.len(), 30);
    store.shutdown().await;
}
