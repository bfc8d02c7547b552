//! openraft's storage trait over [`LogStore`] and [`StateMachine`], running redb work on the
//! blocking thread pool.
//!
//! openraft 0.9 lets a crate implement `RaftLogStorage` and `RaftStateMachine` directly only with
//! its `storage-v2` feature, which this workspace does not enable; without it, the combined
//! `RaftStorage` trait is implemented here and split into the two v2 traits by openraft's
//! `Adaptor`. The behaviour is the same: `Adaptor::append` calls the flushed callback only after
//! [`RaftStorage::append_to_log`] returns, and that commits with fsync. Moving to the v2 traits
//! means replacing only this file.

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogState, RaftLogReader, RaftSnapshotBuilder, Snapshot};
use openraft::{
    AnyError, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftStorage, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};

use tokio::sync::Notify;

use super::TypeConfig;
use super::command::ProposalResult;
use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::tables::DbError;

type Entry = openraft::Entry<TypeConfig>;
type StorageResult<T> = Result<T, StorageError<u64>>;

/// Runs blocking redb work off the async runtime and maps its error for openraft.
async fn blocking<T, F>(subject: ErrorSubject<u64>, verb: ErrorVerb, work: F) -> StorageResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
{
    let result = match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(DbError::Other(format!("storage task failed: {join}"))),
    };
    result.map_err(|e| StorageIOError::new(subject, verb, AnyError::new(&e)).into())
}

/// The store's openraft storage: one redb file for both the log and the state machine.
pub(crate) struct RaftStore {
    log: LogStore,
    sm: StateMachine,
    /// The last committed log id openraft reported, not yet recorded by an apply.
    committed: Option<LogId<u64>>,
    /// Signalled after each append, for the proposer's group commit.
    appended: Arc<Notify>,
}

impl RaftStore {
    pub(crate) fn new(log: LogStore, sm: StateMachine, appended: Arc<Notify>) -> Self {
        Self {
            log,
            sm,
            committed: None,
            appended,
        }
    }
}

/// Reads log entries for replication, concurrently with the core.
#[derive(Clone)]
pub(crate) struct LogReader {
    log: LogStore,
}

async fn read_entries<RB>(log: &LogStore, range: RB) -> StorageResult<Vec<Entry>>
where
    RB: RangeBounds<u64> + Clone + Debug + OptionalSend + 'static,
{
    let log = log.clone();
    blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
        log.entries(range)
    })
    .await
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry>> {
        read_entries(
            &self.log,
            (range.start_bound().cloned(), range.end_bound().cloned()),
        )
        .await
    }
}

impl RaftLogReader<TypeConfig> for RaftStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry>> {
        read_entries(
            &self.log,
            (range.start_bound().cloned(), range.end_bound().cloned()),
        )
        .await
    }
}

/// Builds snapshots concurrently with the core, from a redb read transaction.
pub(crate) struct SnapshotBuilder {
    sm: StateMachine,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let sm = self.sm.clone();
        let (meta, data) = blocking(ErrorSubject::Snapshot(None), ErrorVerb::Write, move || {
            sm.build_snapshot()
        })
        .await?;
        tracing::info!(snapshot = %meta, bytes = data.len(), "built store snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStorage<TypeConfig> for RaftStore {
    type LogReader = LogReader;
    type SnapshotBuilder = SnapshotBuilder;

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StorageResult<()> {
        let log = self.log.clone();
        let vote = *vote;
        blocking(ErrorSubject::Vote, ErrorVerb::Write, move || {
            log.save_vote(&vote)
        })
        .await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<u64>>> {
        let log = self.log.clone();
        blocking(ErrorSubject::Vote, ErrorVerb::Read, move || log.read_vote()).await
    }

    /// Kept in memory and written by the next apply (see `StateMachine::apply`): one redb
    /// transaction less per entry on the path every write waits on.
    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> StorageResult<()> {
        self.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<u64>>> {
        let log = self.log.clone();
        blocking(ErrorSubject::Store, ErrorVerb::Read, move || {
            log.read_committed()
        })
        .await
    }

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let log = self.log.clone();
        let bounds = blocking(ErrorSubject::Logs, ErrorVerb::Read, move || log.log_state()).await?;
        Ok(LogState {
            last_purged_log_id: bounds.purged,
            last_log_id: bounds.last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            log: self.log.clone(),
        }
    }

    async fn append_to_log<I>(&mut self, entries: I) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(());
        }
        let log = self.log.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Write, move || {
            log.append(entries)
        })
        .await?;
        self.appended.notify_one();
        Ok(())
    }

    async fn delete_conflict_logs_since(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let log = self.log.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            log.truncate_from(log_id.index)
        })
        .await
    }

    async fn purge_logs_upto(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let log = self.log.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            log.purge_upto(log_id)
        })
        .await
    }

    async fn last_applied_state(
        &mut self,
    ) -> StorageResult<(
        Option<LogId<u64>>,
        StoredMembership<u64, openraft::BasicNode>,
    )> {
        let sm = self.sm.clone();
        blocking(ErrorSubject::StateMachine, ErrorVerb::Read, move || {
            sm.applied_state()
        })
        .await
    }

    async fn apply_to_state_machine(
        &mut self,
        entries: &[Entry],
    ) -> StorageResult<Vec<ProposalResult>> {
        let entries = entries.to_vec();
        let sm = self.sm.clone();
        let committed = self.committed;
        blocking(ErrorSubject::StateMachine, ErrorVerb::Write, move || {
            sm.apply(entries, committed)
        })
        .await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            sm: self.sm.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let sm = self.sm.clone();
        let meta = meta.clone();
        let data = snapshot.into_inner();
        tracing::info!(snapshot = %meta, bytes = data.len(), "installing store snapshot");
        blocking(
            ErrorSubject::Snapshot(Some(meta.signature())),
            ErrorVerb::Write,
            move || sm.install_snapshot(&meta, data),
        )
        .await
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let sm = self.sm.clone();
        let current = blocking(ErrorSubject::Snapshot(None), ErrorVerb::Read, move || {
            sm.current_snapshot()
        })
        .await?;
        Ok(current.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
