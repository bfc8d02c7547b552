//! The Raft-replicated object store: openraft log and state machine in redb, watch hub, snapshots and backups.
//!
//! A write becomes a [`Command`], is proposed to Raft ([`Store::propose`]), and is applied by the
//! state machine (`apply` holds its pure core), which stamps `metadata.resourceVersion` with the
//! store revision and publishes a [`WatchEvent`] to the watch hub. Commands proposed at the same
//! moment share one Raft entry (`store_propose`: group commit), but each gets its own revision. The objects live in
//! `DATA_DIR/store.redb`, the Raft log and vote in `DATA_DIR/raft-log.redb`, the last snapshot in
//! `DATA_DIR/snapshot.bin`; see `tables` for the layout and `state_machine` for why applies may
//! use non-durable commits.
//!
//! File map: `command` (the Raft entry payload and its result), `apply` (pure apply logic),
//! `tables` (redb layout), `log_store` and `state_machine` (blocking redb work), `raft_storage`
//! (openraft's storage traits over them), `image` (snapshot and backup format), `watch` (hub and
//! watchers), `wire` (RPC bodies), `network` (Raft RPC client), `routes` (Raft RPC server),
//! `metrics`, and `store_*` (the [`Store`] handle, one verb group per file).

mod apply;
mod command;
mod error;
mod image;
mod log_store;
mod metrics;
mod network;
mod raft_storage;
mod routes;
mod state_machine;
mod store_members;
mod store_open;
mod store_propose;
mod store_read;
mod tables;
mod watch;
mod wire;

#[cfg(test)]
mod apply_test;
#[cfg(test)]
mod cluster_test;
#[cfg(test)]
mod log_store_test;
#[cfg(test)]
mod store_test;
#[cfg(test)]
mod watch_test;

use std::io::Cursor;
use std::path::PathBuf;

pub use command::{Applied, Command, CommandResult, Proposal, ProposalResult, Rejected};
pub use error::{StoreError, WatchError};
pub use image::ImageError;
pub use store_open::Store;
pub use watch::{EventKind, WatchEnd, WatchEvent, Watcher};

openraft::declare_raft_types!(
    /// The openraft type configuration of the store: `u64` node ids, controller base URLs as
    /// node addresses, [`Proposal`] entries and in-memory snapshots.
    pub TypeConfig:
        D = Proposal,
        R = ProposalResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Default number of recent watch events kept for resuming watches.
pub const DEFAULT_WATCH_WINDOW: usize = 10_000;
/// Default number of applied log entries between two state machine snapshots.
pub const DEFAULT_SNAPSHOT_AFTER_LOGS: u64 = 10_000;

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Directory holding `store.redb`.
    pub data_dir: PathBuf,
    /// This controller's Raft node id; unique in the cluster and stable across restarts.
    pub node_id: u64,
    /// Base URL other controllers reach this one at, e.g. `https://127.0.0.1:6443`.
    pub advertise_url: String,
    /// HTTP client for Raft RPCs and forwarded requests to other controllers.
    pub peer_client: reqwest::Client,
    /// What to do when the store has never been part of a cluster.
    pub bootstrap: Bootstrap,
    /// Number of recent watch events kept so that watches can resume ([`DEFAULT_WATCH_WINDOW`]).
    pub watch_window: usize,
    /// Build a snapshot (and compact the log) after this many applied entries
    /// ([`DEFAULT_SNAPSHOT_AFTER_LOGS`]).
    pub snapshot_after_logs: u64,
}

impl StoreConfig {
    /// A configuration with the default watch window and snapshot policy.
    pub fn new(
        data_dir: PathBuf,
        node_id: u64,
        advertise_url: String,
        peer_client: reqwest::Client,
        bootstrap: Bootstrap,
    ) -> Self {
        Self {
            data_dir,
            node_id,
            advertise_url,
            peer_client,
            bootstrap,
            watch_window: DEFAULT_WATCH_WINDOW,
            snapshot_after_logs: DEFAULT_SNAPSHOT_AFTER_LOGS,
        }
    }

    /// Path of the redb file inside `data_dir`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("store.redb")
    }

    /// The Raft log and vote (see `raft_storage`).
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("raft-log.redb")
    }

    /// The last built or received Raft snapshot (see `state_machine`).
    pub fn snapshot_path(&self) -> PathBuf {
        self.data_dir.join("snapshot.bin")
    }
}

/// How a store that has never been part of a cluster starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// Initialise a one-voter cluster on first start; later starts just reopen.
    SingleNode,
    /// Stay uninitialised until a leader adds this node with [`Store::add_voter`].
    Join,
}

/// One stored object as read from the local state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    /// Store revision of the object's last change; equals its `metadata.resourceVersion`.
    pub revision: u64,
    /// The object's JSON bytes.
    pub bytes: Vec<u8>,
}

/// One page of a prefix listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub items: Vec<Stored>,
    /// Store revision at the time of the read.
    pub revision: u64,
    /// Whether more keys with the prefix follow the last item.
    pub more: bool,
}

/// One member of the Raft cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub addr: String,
    /// Voter, or learner (a node still catching up).
    pub voter: bool,
}
