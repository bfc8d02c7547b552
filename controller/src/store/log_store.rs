//! The Raft log and vote in redb: blocking operations, each one redb transaction.
//!
//! Appends, truncations, purges and votes commit with `Durability::Immediate` (fsync) before they
//! return, because openraft treats their completion as a promise to the rest of the cluster.
//!
//! A purge records the new purge point durably and returns; the purged entries are then removed
//! a few at a time by the appends that follow, so that thousands of deletions never hold redb's
//! single writer (and every write waiting behind it) at once. Entries at or below the purge point
//! that are still there (also after a restart) are never read, and the next purge removes them.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::{LogId, RaftLogId, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};

use super::TypeConfig;
use super::tables::{
    DbError, KEY_PURGED, KEY_VOTE, RAFT_LOG, RAFT_META, decode, encode, read_meta,
};

type Entry = openraft::Entry<TypeConfig>;

/// The ends of the stored log.
pub(crate) struct LogBounds {
    pub purged: Option<LogId<u64>>,
    /// The last entry's id, or `purged` when the log is empty.
    pub last: Option<LogId<u64>>,
}

/// Most purged entries one append removes.
const PURGE_CHUNK: usize = 32;

/// The log half of the redb storage.
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
    /// Index up to which purged entries may still be stored; 0 when none are (as far as this
    /// process knows).
    purge_pending: Arc<AtomicU64>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Database>) -> Self {
        Self {
            db,
            purge_pending: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Last purged log id and last log id (the purged one when the log is empty).
    pub(crate) fn log_state(&self) -> Result<LogBounds, DbError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(RAFT_META)?;
        let purged: Option<LogId<u64>> =
            read_meta::<Option<LogId<u64>>>(&meta, KEY_PURGED)?.flatten();
        let log = txn.open_table(RAFT_LOG)?;
        let last = match log.last()? {
            Some((_, bytes)) => Some(*decode::<Entry>("raft_log", bytes.value())?.get_log_id()),
            None => None,
        };
        // Entries left below the purge point by an unfinished removal do not count.
        let last = last.max(purged);
        Ok(LogBounds { purged, last })
    }

    pub(crate) fn entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<Entry>, DbError> {
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(*i),
            Bound::Excluded(i) => Bound::Excluded(*i),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(*i),
            Bound::Excluded(i) => Bound::Excluded(*i),
            Bound::Unbounded => Bound::Unbounded,
        };
        let txn = self.db.begin_read()?;
        let log = txn.open_table(RAFT_LOG)?;
        let mut out = Vec::new();
        for item in log.range::<u64>((start, end))? {
            let (_, bytes) = item?;
            out.push(decode("raft_log", bytes.value())?);
        }
        Ok(out)
    }

    /// Appends entries durably.
    pub(crate) fn append(&self, entries: Vec<Entry>) -> Result<(), DbError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let pending = self.purge_pending.load(Ordering::Acquire);
        let mut purge_done = false;
        {
            let mut log = txn.open_table(RAFT_LOG)?;
            for entry in &entries {
                log.insert(entry.get_log_id().index, encode(entry)?.as_slice())?;
            }
            if pending > 0 {
                let doomed: Vec<u64> = log
                    .range::<u64>(..=pending)?
                    .take(PURGE_CHUNK)
                    .map(|item| item.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()?;
                for index in &doomed {
                    log.remove(index)?;
                }
                purge_done = doomed.len() < PURGE_CHUNK;
            }
        }
        txn.commit()?;
        if purge_done {
            // Unless a newer purge moved the point meanwhile.
            let _ = self.purge_pending.compare_exchange(
                pending,
                0,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        Ok(())
    }

    /// Removes entries from `index` on (conflicting entries of a former leader), durably.
    pub(crate) fn truncate_from(&self, index: u64) -> Result<(), DbError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut log = txn.open_table(RAFT_LOG)?;
            log.retain_in::<u64, _>(index.., |_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Records `upto` as purged, durably; the appends that follow remove the entries up to it
    /// (see the module docs). openraft purges only up to a snapshot, and building one first makes
    /// the state machine durable (see `state_machine`), so nothing purged is still needed.
    pub(crate) fn purge_upto(&self, upto: LogId<u64>) -> Result<(), DbError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut meta = txn.open_table(RAFT_META)?;
            meta.insert(KEY_PURGED, encode(&Some(upto))?.as_slice())?;
        }
        txn.commit()?;
        self.purge_pending.fetch_max(upto.index, Ordering::AcqRel);
        Ok(())
    }

    pub(crate) fn save_vote(&self, vote: &Vote<u64>) -> Result<(), DbError> {
        self.put_meta(KEY_VOTE, encode(vote)?, Durability::Immediate)
    }

    pub(crate) fn read_vote(&self) -> Result<Option<Vote<u64>>, DbError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(RAFT_META)?;
        read_meta(&meta, KEY_VOTE)
    }

    fn put_meta(&self, key: &str, value: Vec<u8>, durability: Durability) -> Result<(), DbError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)?;
        {
            let mut meta = txn.open_table(RAFT_META)?;
            meta.insert(key, value.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }
}
