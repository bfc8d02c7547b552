//! openraft's storage traits (`storage-v2`) over [`LogStore`] and [`StateMachine`], running redb
//! work on the blocking thread pool.
//!
//! The log and the state machine are separate objects in separate redb files (`raft-log.redb`,
//! `store.redb`), so openraft's core appending an entry and its state-machine worker applying
//! the previous one run side by side instead of taking turns on one lock and one redb writer.
//! openraft 0.9's core still waits for each append's flush before it goes on.

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{
    LogFlushed, LogState, RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
    Snapshot,
};
use openraft::{
    AnyError, ErrorSubject, ErrorVerb, LogId, OptionalSend, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership, Vote,
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

/// The Raft log and vote, for openraft's core.
pub(crate) struct RaftLog {
    log: LogStore,
    /// Signalled after each append, for the proposer's group commit.
    appended: Arc<Notify>,
}

impl RaftLog {
    pub(crate) fn new(log: LogStore, appended: Arc<Notify>) -> Self {
        Self { log, appended }
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

impl RaftLogReader<TypeConfig> for RaftLog {
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

impl RaftLogStorage<TypeConfig> for RaftLog {
    type LogReader = LogReader;

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

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let log = self.log.clone();
        let written = blocking(ErrorSubject::Logs, ErrorVerb::Write, move || {
            log.append(entries)
        })
        .await;
        match &written {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        self.appended.notify_one();
        written
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let log = self.log.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            log.truncate_from(log_id.index)
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let log = self.log.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            log.purge_upto(log_id)
        })
        .await
    }
}

/// The state machine, for openraft's state-machine worker.
pub(crate) struct RaftSm {
    sm: StateMachine,
}

impl RaftSm {
    pub(crate) fn new(sm: StateMachine) -> Self {
        Self { sm }
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

impl RaftStateMachine<TypeConfig> for RaftSm {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
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

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<ProposalResult>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let sm = self.sm.clone();
        blocking(ErrorSubject::StateMachine, ErrorVerb::Write, move || {
            sm.apply(entries)
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
