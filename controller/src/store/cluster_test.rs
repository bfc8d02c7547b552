//! A three-controller cluster in one process, over plain HTTP on loopback: joining (by snapshot),
//! forwarding from followers, follower reads, and leader failover without losing acknowledged
//! writes.

use std::collections::BTreeMap;
use std::time::Duration;

use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::store_test::{apply, config, create, key};
use super::{Bootstrap, EventKind, Store};

struct Node {
    id: u64,
    url: String,
    store: Store,
    server: JoinHandle<()>,
    _dir: TempDir,
}

async fn start_node(id: u64, bootstrap: Bootstrap) -> Node {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path(), id, &url, bootstrap);
    // Small enough that the first node compacts its log before the others join, so they are
    // brought up to date by a snapshot.
    cfg.snapshot_after_logs = 10;
    let store = Store::open(cfg).await.expect("open");
    let app = store.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Node {
        id,
        url,
        store,
        server,
        _dir: dir,
    }
}

/// Waits until one of `nodes` is leader and all of them agree on it.
async fn agreed_leader(nodes: &[&Node]) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let leaders: Vec<_> = nodes
            .iter()
            .map(|n| n.store.leader().map(|l| l.0))
            .collect();
        if let Some(Some(leader)) = leaders.first() {
            let is_member = nodes.iter().any(|n| n.id == *leader);
            if is_member && leaders.iter().all(|l| *l == Some(*leader)) {
                return *leader;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agreed leader: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_cluster_survives_leader_loss() {
    let n1 = start_node(1, Bootstrap::SingleNode).await;
    assert_eq!(agreed_leader(&[&n1]).await, 1);

    // Acknowledged writes, with the revision each was acknowledged at.
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..25 {
        let name = format!("early{i:02}");
        acked.insert(key(&name), apply(&n1.store, create(&name)).await);
    }

    let n2 = start_node(2, Bootstrap::Join).await;
    let n3 = start_node(3, Bootstrap::Join).await;
    n1.store
        .add_voter(2, n2.url.clone())
        .await
        .expect("add node 2");
    // Membership changes are forwarded too: ask the new follower to add the third node.
    n2.store
        .add_voter(3, n3.url.clone())
        .await
        .expect("add node 3 via follower");
    let members = n1.store.members();
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|m| m.voter), "{members:?}");
    assert_eq!(agreed_leader(&[&n1, &n2, &n3]).await, 1);
    assert!(!n2.store.is_leader());

    // A follower forwards proposals to the leader; another follower's read barrier sees them.
    // (Watch n3 only once it has caught up: a snapshot it installs later would rightly end the
    // watch with `Lagged`.)
    n3.store.read_barrier().await.expect("n3 caught up");
    let mut watcher = n3
        .store
        .watch("/registry/", n3.store.current_revision())
        .expect("watch on follower");
    let rev = apply(&n2.store, create("from-follower")).await;
    acked.insert(key("from-follower"), rev);
    assert!(n3.store.read_barrier().await.expect("follower barrier") >= rev);
    let stored = n3
        .store
        .get(&key("from-follower"))
        .expect("get")
        .expect("replicated");
    assert_eq!(stored.revision, rev);
    let event = tokio::time::timeout(Duration::from_secs(5), watcher.next())
        .await
        .expect("event in time")
        .expect("event");
    assert_eq!((event.revision, event.kind), (rev, EventKind::Added));
    // The first node compacted its log, so the others were seeded by a snapshot.
    assert!(
        n1.store.inner.raft.metrics().borrow().purged.is_some(),
        "log not compacted"
    );
    assert!(
        n2.store.inner.raft.metrics().borrow().snapshot.is_some(),
        "no snapshot installed"
    );
    // Objects that arrived by snapshot keep their revisions.
    let early = n2
        .store
        .get(&key("early00"))
        .expect("get")
        .expect("snapshot data");
    assert_eq!(Some(&early.revision), acked.get(&key("early00")));

    // Lose the leader: stop its store and its server.
    n1.store.shutdown().await;
    n1.server.abort();
    let new_leader = agreed_leader(&[&n2, &n3]).await;
    assert_ne!(new_leader, 1);

    for (i, node) in [&n2, &n3, &n2, &n3].into_iter().enumerate() {
        let name = format!("after{i}");
        let rev = apply(&node.store, create(&name)).await;
        assert!(rev > acked.values().copied().max().unwrap_or(0));
        acked.insert(key(&name), rev);
    }

    // No acknowledged write is lost, and both survivors agree on every revision.
    for node in [&n2, &n3] {
        node.store.read_barrier().await.expect("barrier");
        for (k, rev) in &acked {
            let stored = node.store.get(k).expect("get");
            assert_eq!(
                stored.map(|s| s.revision),
                Some(*rev),
                "node {} key {k}",
                node.id
            );
        }
    }
    let mut metrics = String::new();
    n2.store.write_prometheus(&mut metrics);
    assert!(
        metrics.contains("edgeplane_store_members{role=\"voter\"} 3\n"),
        "{metrics}"
    );

    for node in [&n2, &n3] {
        node.store.shutdown().await;
        node.server.abort();
    }
}
