//! The [`Store`] handle: opening, restoring from a backup, and shutting down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use openraft::{
    BasicNode, CommittedLeaderId, Config, LogId, Membership, Raft, SnapshotPolicy, StoredMembership,
};
use redb::Database;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::error::StoreError;
use super::image::SnapshotImage;
use super::log_store::LogStore;
use super::metrics::LatencyHistogram;
use super::network::PeerNetworkFactory;
use super::raft_storage::{RaftLog, RaftSm};
use super::state_machine::{StateMachine, write_state};
use super::store_propose::{ProposalWaiters, Proposer, ProposerHandle};
use super::tables::{
    DbError, open_database, open_log_database, read_applied_state, read_stored_revision,
};
use super::watch::{WATCHER_QUEUE, WatchHub};
use super::{Bootstrap, StoreConfig, TypeConfig};

/// A handle to this controller's replica of the store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<StoreInner>,
}

pub(crate) struct StoreInner {
    pub(crate) id: u64,
    pub(crate) raft: Raft<TypeConfig>,
    pub(crate) db: Arc<Database>,
    /// The Raft log's own file (see `raft_storage`).
    pub(crate) log_db: Arc<Database>,
    pub(crate) hub: Arc<WatchHub>,
    /// Last applied log index, updated by the state machine after each commit.
    pub(crate) applied: Arc<watch::Sender<u64>>,
    /// The store revision, updated by the state machine after each commit.
    pub(crate) revision: Arc<AtomicU64>,
    /// Groups concurrent local proposals into shared log entries.
    pub(crate) proposer: ProposerHandle,
    pub(crate) client: reqwest::Client,
    pub(crate) commit_latency: LatencyHistogram,
    pub(crate) shut_down: AtomicBool,
}

/// Runs blocking redb work off the async runtime.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(db_error),
        Err(join) => Err(StoreError::Fatal(format!("storage task failed: {join}"))),
    }
}

pub(crate) fn db_error(e: DbError) -> StoreError {
    match e {
        DbError::Redb(redb::Error::DatabaseAlreadyOpen) => StoreError::Fatal(
            "store.redb is already open; is another controller using this data directory?"
                .to_owned(),
        ),
        e => StoreError::Fatal(e.to_string()),
    }
}

fn raft_config(cfg: &StoreConfig) -> Result<Arc<Config>, StoreError> {
    let snapshot_after = cfg.snapshot_after_logs.max(1);
    let config = Config {
        cluster_name: "edgeplane".to_owned(),
        // Edge links are slow and lossy: heartbeat often, but give elections room.
        heartbeat_interval: 250,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        install_snapshot_timeout: 10_000,
        snapshot_max_chunk_size: 1024 * 1024,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_after),
        // Keep some entries after a snapshot so that a briefly lagging follower catches up from
        // the log instead of receiving the whole snapshot.
        max_in_snapshot_log_to_keep: (snapshot_after / 10).min(1000),
        ..Config::default()
    };
    config
        .validate()
        .map(Arc::new)
        .map_err(|e| StoreError::Invalid(format!("raft configuration: {e}")))
}

/// A snapshot file without its store belongs to some other cluster's past: never serve it.
fn remove_stale_snapshot(path: &std::path::Path) -> Result<(), DbError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(DbError::Other(format!("removing {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}

impl Store {
    /// Opens (or creates) `DATA_DIR/store.redb` and starts Raft. With [`Bootstrap::SingleNode`] a
    /// fresh store becomes a one-voter cluster; an existing one just reopens with its membership.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let dir = cfg.data_dir.clone();
        let path = cfg.db_path();
        let log_path = cfg.log_path();
        let snapshot = cfg.snapshot_path();
        let (db, log_db) = blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| DbError::Other(format!("creating {}: {e}", dir.display())))?;
            if !path.exists() {
                if log_path.exists() {
                    return Err(DbError::Other(format!(
                        "{} exists without {}: remove the data directory to start afresh, or \
                         restore from a backup",
                        log_path.display(),
                        path.display()
                    )));
                }
                remove_stale_snapshot(&snapshot)?;
            }
            let db = open_database(&path)?;
            let log_db = open_log_database(&log_path, &db)?;
            Ok((db, log_db))
        })
        .await?;
        let initialize = cfg.bootstrap == Bootstrap::SingleNode;
        Self::start(cfg, Arc::new(db), Arc::new(log_db), initialize).await
    }

    /// Starts a new single-node cluster from a backup, in a data directory without a store.
    /// Revisions continue after the backup's revision.
    pub async fn restore(cfg: StoreConfig, backup: &[u8]) -> Result<Store, StoreError> {
        let image = SnapshotImage::decode(backup)?;
        let path = cfg.db_path();
        let log_path = cfg.log_path();
        for existing in [&path, &log_path] {
            if existing.exists() {
                return Err(StoreError::Invalid(format!(
                    "{} already exists; restore into a data directory without a store",
                    existing.display()
                )));
            }
        }
        // The new cluster's log starts after the backup's revision, which also orders its log
        // after any log the backup came from.
        let leader = CommittedLeaderId::new(0, cfg.node_id);
        let last_applied = LogId::new(leader, image.revision);
        let nodes = BTreeMap::from([(cfg.node_id, BasicNode::new(&cfg.advertise_url))]);
        let membership = StoredMembership::new(
            Some(last_applied),
            Membership::new(vec![BTreeSet::from([cfg.node_id])], nodes),
        );
        let dir = cfg.data_dir.clone();
        let stale_snapshot = cfg.snapshot_path();
        let (db, log_db) = blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| DbError::Other(format!("creating {}: {e}", dir.display())))?;
            remove_stale_snapshot(&stale_snapshot)?;
            // Write into a temporary file and rename it, so that a crash mid-restore leaves no
            // half-seeded store behind.
            let tmp = path.with_extension("redb.restoring");
            let _ = std::fs::remove_file(&tmp);
            let db = open_database(&tmp)?;
            write_state(&db, &image, Some(last_applied), &membership)?;
            drop(db);
            std::fs::rename(&tmp, &path)
                .map_err(|e| DbError::Other(format!("renaming {}: {e}", tmp.display())))?;
            let db = open_database(&path)?;
            let log_db = open_log_database(&log_path, &db)?;
            Ok((db, log_db))
        })
        .await?;
        tracing::info!(revision = last_applied.index, "restored store from backup");
        Self::start(cfg, Arc::new(db), Arc::new(log_db), false).await
    }

    async fn start(
        cfg: StoreConfig,
        db: Arc<Database>,
        log_db: Arc<Database>,
        initialize: bool,
    ) -> Result<Store, StoreError> {
        let config = raft_config(&cfg)?;
        let state_db = db.clone();
        let ((last_applied, _), floor) = blocking(move || {
            Ok((
                read_applied_state(&state_db)?,
                read_stored_revision(&state_db)?,
            ))
        })
        .await?;
        let hub = Arc::new(WatchHub::new(cfg.watch_window, WATCHER_QUEUE, floor));
        let applied = Arc::new(watch::channel(last_applied.map_or(0, |id| id.index)).0);
        let revision = Arc::new(AtomicU64::new(floor));
        let appended = Arc::new(Notify::new());
        let waiters = Arc::new(ProposalWaiters::new());
        let log_store = RaftLog::new(LogStore::new(log_db.clone()), appended.clone());
        let state_machine = RaftSm::new(StateMachine::new(
            db.clone(),
            hub.clone(),
            applied.clone(),
            revision.clone(),
            cfg.snapshot_path(),
            waiters.clone(),
        ));
        let network = PeerNetworkFactory::new(cfg.peer_client.clone());
        let raft = Raft::new(cfg.node_id, config, network, log_store, state_machine)
            .await
            .map_err(StoreError::fatal)?;

        if initialize && !raft.is_initialized().await.map_err(StoreError::fatal)? {
            let nodes = BTreeMap::from([(cfg.node_id, BasicNode::new(&cfg.advertise_url))]);
            raft.initialize(nodes).await.map_err(StoreError::fatal)?;
            tracing::info!(
                node_id = cfg.node_id,
                "initialised a single-node store cluster"
            );
        } else {
            // A sole voter need not wait an election timeout to lead again after a restart.
            let voters: Vec<u64> = raft
                .with_raft_state(|st| st.membership_state.effective().voter_ids().collect())
                .await
                .map_err(StoreError::fatal)?;
            if voters == [cfg.node_id] {
                let _ = raft.trigger().elect().await;
            }
        }

        let proposer = Proposer::start(raft.clone(), appended, waiters);
        Ok(Store {
            inner: Arc::new(StoreInner {
                id: cfg.node_id,
                raft,
                db,
                log_db,
                hub,
                applied,
                revision,
                proposer,
                client: cfg.peer_client,
                commit_latency: LatencyHistogram::new(),
                shut_down: AtomicBool::new(false),
            }),
        })
    }

    /// Stops Raft and ends every watcher. Later proposals fail with [`StoreError::Fatal`]; local
    /// reads keep working until the last handle is dropped.
    pub async fn shutdown(&self) {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
        self.inner.hub.shutdown();
        // openraft's state machine worker and replication tasks end a moment after its core;
        // wait (briefly) until they have let go of the database, so that it can be opened
        // again as soon as this returns.
        let deadline = Instant::now() + Duration::from_secs(5);
        while (Arc::strong_count(&self.inner.db) > 1 || Arc::strong_count(&self.inner.log_db) > 1)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn check_running(&self) -> Result<(), StoreError> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(StoreError::Fatal("the store is shut down".to_owned()));
        }
        Ok(())
    }
}
