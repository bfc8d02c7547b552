//! The state machine in redb: applying entries, building and installing snapshots.
//!
//! # Why applies may skip fsync
//!
//! The state machine has its own redb file (`store.redb`; the log is in `raft-log.redb`). Applies
//! commit with `Durability::None`, except at most one per [`DURABLE_EVERY`]: redb makes a
//! non-durable commit durable with the next `Durability::Immediate` commit to the same file, which
//! persists every commit before it. After a crash the state machine is therefore at some earlier
//! *durable* applied index `D` (its objects and `last_applied` are written in one transaction, so
//! they always agree). This is safe because every entry after `D` is still in the durable log:
//!
//! - entries reach the state machine only after they were appended, and appends are durable;
//! - the log is purged only up to a snapshot's `last_log_id`, and building a snapshot starts with
//!   a durable commit of the state machine, so `D` is at least the snapshot's index by the time
//!   anything up to it can be purged (openraft keeps `max_in_snapshot_log_to_keep` more entries
//!   besides);
//! - installing a received snapshot is a durable commit too; a built or received snapshot is
//!   written to its own file (below), so it plays no part in this.
//!
//! # The snapshot file
//!
//! The last built or received snapshot lives in `DATA_DIR/snapshot.bin` (its metadata, then the
//! image), replaced atomically (write, fsync, rename, fsync the directory). It is not a redb
//! value: writing many megabytes in a redb transaction would hold the file's single writer, and
//! with it every apply, for as long as that takes. A missing or unreadable file is harmless:
//! openraft builds a new snapshot when it needs one and finds none.
//!
//! On restart openraft re-applies `(D, committed]` from the log once a leader (this node, for a
//! single node) has committed an entry of its term again, and applying is deterministic, so the objects
//! and their `resourceVersion`s come out exactly as before the crash. A committed write is thus
//! never lost, even when every node is killed at once.
//!
//! # Revisions
//!
//! An entry carries a [`Proposal`]: the commands that were waiting to be proposed together
//! (group commit: one log append and one fsync for many writes). The state machine numbers the
//! commands it applies: each command that is not rejected gets the next store revision, which
//! becomes `metadata.resourceVersion` of what it wrote and the revision of its watch events
//! (as etcd's revision, not its Raft index, does for Kubernetes). The revision is stored in
//! `sm_meta` in the same transaction as the objects, so it is as durable as they are, and applying
//! the same entries again yields the same revisions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::{BasicNode, EntryPayload, LogId, SnapshotMeta, StoredMembership};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table};
use tokio::sync::watch;

use super::TypeConfig;
use super::apply::{ObjectRecord, ObjectView, apply_command};
use super::command::{Proposal, ProposalResult};
use super::image::{ImageObject, SnapshotImage};
use super::store_propose::ProposalWaiters;
use super::tables::{
    AppliedState, DbError, KEY_LAST_APPLIED, KEY_LAST_MEMBERSHIP, KEY_REVISION, OBJECTS, SM_META,
    decode, decode_object, encode, encode_object, read_meta, read_revision,
};
use super::watch::WatchHub;

type Entry = openraft::Entry<TypeConfig>;
pub(crate) type Membership = StoredMembership<u64, BasicNode>;
pub(crate) type Meta = SnapshotMeta<u64, BasicNode>;

/// The state machine half of the redb storage.
#[derive(Clone)]
pub(crate) struct StateMachine {
    db: Arc<Database>,
    hub: Arc<WatchHub>,
    /// Last applied index, for readers that wait on it.
    applied: Arc<watch::Sender<u64>>,
    /// The store revision as of the last apply.
    revision: Arc<AtomicU64>,
    /// `DATA_DIR/snapshot.bin` (see the module docs).
    snapshot_path: Arc<PathBuf>,
    /// Requests waiting on this node for the results of their proposals.
    waiters: Arc<ProposalWaiters>,
    /// When an apply last committed durably.
    last_durable: Arc<Mutex<Instant>>,
}

/// Longest time between two durable state-machine commits while entries are applied: bounds how
/// much of the log a restart re-applies, at one extra fsync per period under load and none when
/// idle.
const DURABLE_EVERY: Duration = Duration::from_secs(1);

struct TableView<'a, 't>(&'a Table<'t, &'static str, &'static [u8]>);

impl ObjectView for TableView<'_, '_> {
    type Error = DbError;
    fn object(&self, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        match self.0.get(key)? {
            Some(value) => Ok(Some(decode_object(key, value.value())?)),
            None => Ok(None),
        }
    }
}

impl StateMachine {
    pub(crate) fn new(
        db: Arc<Database>,
        hub: Arc<WatchHub>,
        applied: Arc<watch::Sender<u64>>,
        revision: Arc<AtomicU64>,
        snapshot_path: PathBuf,
        waiters: Arc<ProposalWaiters>,
    ) -> Self {
        Self {
            db,
            hub,
            applied,
            revision,
            snapshot_path: Arc::new(snapshot_path),
            waiters,
            last_durable: Arc::new(Mutex::new(Instant::now())),
        }
    }

    pub(crate) fn applied_state(&self) -> Result<AppliedState, DbError> {
        super::tables::read_applied_state(&self.db)
    }

    /// Applies entries in one transaction, non-durable unless the last durable one is
    /// [`DURABLE_EVERY`] old (see the module docs), then publishes the changes to watchers.
    pub(crate) fn apply(&self, entries: Vec<Entry>) -> Result<Vec<ProposalResult>, DbError> {
        let mut txn = self.db.begin_write()?;
        let durable = self.durable_due();
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        let mut results = Vec::with_capacity(entries.len());
        let mut proposal_ids = Vec::with_capacity(entries.len());
        let mut changes = Vec::new();
        let mut last_applied = None;
        let revision;
        {
            let mut objects = txn.open_table(OBJECTS)?;
            let mut meta = txn.open_table(SM_META)?;
            let mut next = read_revision(&meta)?;
            for entry in entries {
                last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => {
                        results.push(Vec::new());
                        proposal_ids.push(None);
                    }
                    EntryPayload::Normal(Proposal { id, cmds }) => {
                        let mut entry_results = Vec::with_capacity(cmds.len());
                        for cmd in &cmds {
                            let outcome = apply_command(&TableView(&objects), cmd, next + 1)?;
                            if outcome.result.is_ok() {
                                next += 1;
                            }
                            for change in &outcome.changes {
                                match &change.stored {
                                    Some(bytes) => {
                                        let record = encode_object(change.revision, bytes);
                                        objects.insert(change.key.as_str(), record.as_slice())?;
                                    }
                                    None => {
                                        objects.remove(change.key.as_str())?;
                                    }
                                }
                            }
                            entry_results.push(outcome.result);
                            changes.extend(outcome.changes);
                        }
                        results.push(entry_results);
                        proposal_ids.push(Some(id));
                    }
                    EntryPayload::Membership(membership) => {
                        let stored = Membership::new(Some(entry.log_id), membership);
                        meta.insert(KEY_LAST_MEMBERSHIP, encode(&stored)?.as_slice())?;
                        results.push(Vec::new());
                        proposal_ids.push(None);
                    }
                }
            }
            if let Some(id) = last_applied {
                meta.insert(KEY_LAST_APPLIED, encode(&Some(id))?.as_slice())?;
            }
            meta.insert(KEY_REVISION, encode(&next)?.as_slice())?;
            revision = next;
        }
        txn.commit()?;
        if durable {
            self.mark_durable();
        }
        self.revision.store(revision, Ordering::Release);
        if let Some(id) = last_applied {
            self.applied.send_replace(id.index);
        }
        self.hub.publish(changes);
        // Answer the requests waiting here; openraft passes on whatever nobody here waits for.
        Ok(results
            .into_iter()
            .zip(proposal_ids)
            .map(|(results, id)| match id {
                Some(id) => self.waiters.deliver(id, results).unwrap_or_default(),
                None => results,
            })
            .collect())
    }

    fn durable_due(&self) -> bool {
        let last = self.last_durable.lock().unwrap_or_else(|p| p.into_inner());
        last.elapsed() >= DURABLE_EVERY
    }

    fn mark_durable(&self) {
        *self.last_durable.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Reads every object and the applied state in one read transaction.
    pub(crate) fn image(&self) -> Result<SnapshotImage, DbError> {
        read_image(&self.db)
    }

    /// Builds a snapshot of the current state (from a read transaction, so writes go on) and
    /// stores it durably in the snapshot file. First makes every apply so far durable, since the
    /// log may be purged up to the snapshot once it exists (see the module docs).
    pub(crate) fn build_snapshot(&self) -> Result<(Meta, Vec<u8>), DbError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        self.mark_durable();
        let image = self.image()?;
        let data = image.encode().map_err(|e| DbError::Other(e.to_string()))?;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let meta = Meta {
            last_log_id: image.last_applied,
            last_membership: image.membership.clone(),
            snapshot_id: format!(
                "{}-{}-{millis}",
                image.last_applied.map_or(0, |id| id.leader_id.term),
                image.revision
            ),
        };
        write_snapshot_file(&self.snapshot_path, &meta, &data)?;
        Ok((meta, data))
    }

    /// The last built or installed snapshot, if its file is there and readable.
    pub(crate) fn current_snapshot(&self) -> Result<Option<(Meta, Vec<u8>)>, DbError> {
        match read_snapshot_file(&self.snapshot_path) {
            Ok(found) => Ok(found),
            Err(e) => {
                tracing::warn!(
                    path = %self.snapshot_path.display(),
                    "ignoring the unreadable store snapshot file (a new one is built when needed): {e}"
                );
                Ok(None)
            }
        }
    }

    /// Replaces the whole state with a snapshot received from the leader, durably, then keeps
    /// the snapshot itself in the snapshot file.
    pub(crate) fn install_snapshot(&self, meta: &Meta, data: Vec<u8>) -> Result<(), DbError> {
        let image = SnapshotImage::decode(&data).map_err(|e| DbError::Corrupt {
            what: "received snapshot".to_owned(),
            message: e.to_string(),
        })?;
        write_state(&self.db, &image, meta.last_log_id, &meta.last_membership)?;
        write_snapshot_file(&self.snapshot_path, meta, &data)?;
        let index = meta.last_log_id.map_or(0, |id| id.index);
        // Watchers have missed whatever the snapshot skipped over.
        self.hub.reset(image.revision);
        self.revision.store(image.revision, Ordering::Release);
        self.applied.send_replace(index);
        Ok(())
    }
}

/// Writes `meta` and `data` to `path` atomically and durably: a temporary file, fsync, rename,
/// fsync of the directory. Layout: metadata length (u32, little-endian), metadata (postcard),
/// snapshot image.
fn write_snapshot_file(path: &Path, meta: &Meta, data: &[u8]) -> Result<(), DbError> {
    let io =
        |what: &str, e: std::io::Error| DbError::Other(format!("{what} {}: {e}", path.display()));
    let meta_bytes = encode(meta)?;
    let meta_len = u32::try_from(meta_bytes.len())
        .map_err(|_| DbError::Other("snapshot metadata too large".to_owned()))?;
    let tmp = path.with_extension("bin.tmp");
    {
        let mut file = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
        file.write_all(&meta_len.to_le_bytes())
            .and_then(|()| file.write_all(&meta_bytes))
            .and_then(|()| file.write_all(data))
            .and_then(|()| file.sync_all())
            .map_err(|e| io("writing", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io("replacing", e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing the directory of", e))?;
    }
    Ok(())
}

/// Reads the snapshot file; `None` when there is none.
fn read_snapshot_file(path: &Path) -> Result<Option<(Meta, Vec<u8>)>, DbError> {
    let mut bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DbError::Other(format!("reading {}: {e}", path.display()))),
    };
    let corrupt = |message: &str| DbError::Corrupt {
        what: path.display().to_string(),
        message: message.to_owned(),
    };
    let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(corrupt("shorter than its header"));
    };
    let meta_len = u32::from_le_bytes(*len) as usize;
    if rest.len() < meta_len {
        return Err(corrupt("shorter than its metadata"));
    }
    let meta: Meta = decode("snapshot metadata", &rest[..meta_len])?;
    bytes.drain(..4 + meta_len);
    Ok(Some((meta, bytes)))
}

/// Reads every object and the applied state in one read transaction.
pub(crate) fn read_image(db: &Database) -> Result<SnapshotImage, DbError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(SM_META)?;
    let last_applied = read_meta::<Option<LogId<u64>>>(&meta, KEY_LAST_APPLIED)?.flatten();
    let membership: Membership = read_meta(&meta, KEY_LAST_MEMBERSHIP)?.unwrap_or_default();
    let revision = read_revision(&meta)?;
    let table = txn.open_table(OBJECTS)?;
    let mut objects = Vec::new();
    for item in table.iter()? {
        let (key, value) = item?;
        let record = decode_object(key.value(), value.value())?;
        objects.push(ImageObject {
            key: key.value().to_owned(),
            revision: record.revision,
            bytes: record.bytes,
        });
    }
    Ok(SnapshotImage {
        last_applied,
        revision,
        membership,
        objects,
    })
}

/// Replaces objects, revision and applied state in one durable transaction.
pub(crate) fn write_state(
    db: &Database,
    image: &SnapshotImage,
    last_applied: Option<LogId<u64>>,
    membership: &Membership,
) -> Result<(), DbError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut table = txn.open_table(OBJECTS)?;
        table.retain(|_, _| false)?;
        for object in &image.objects {
            let record = encode_object(object.revision, &object.bytes);
            table.insert(object.key.as_str(), record.as_slice())?;
        }
        let mut meta = txn.open_table(SM_META)?;
        meta.insert(KEY_LAST_APPLIED, encode(&last_applied)?.as_slice())?;
        meta.insert(KEY_LAST_MEMBERSHIP, encode(membership)?.as_slice())?;
        meta.insert(KEY_REVISION, encode(&image.revision)?.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}
