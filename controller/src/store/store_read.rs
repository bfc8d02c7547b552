//! Reading the store: linearizable read barrier, local get and list, watches, backups.
//!
//! `get` and `list` are synchronous: they are short redb read transactions (MVCC snapshots that
//! never wait for writers), so they are done in place rather than on the blocking pool.

use std::ops::Bound;
use std::time::Duration;

use tokio::time::Instant;

use openraft::LogId;
use openraft::error::{CheckIsLeaderError, RaftError};
use redb::ReadableDatabase;

use super::error::{StoreError, WatchError};
use super::state_machine::read_image;
use super::store_open::{Store, blocking, db_error};
use super::store_propose::{Attempt, COMMIT_TIMEOUT, LEADER_WAIT};
use super::tables::{DbError, OBJECTS, SM_META, decode_object, read_revision};
use super::watch::Watcher;
use super::wire::PATH_READ_INDEX;
use super::{Listed, Stored};

impl Store {
    /// Waits until this replica has applied everything committed before the call, so that local
    /// reads after it are linearizable. Returns the local store revision.
    pub async fn read_barrier(&self) -> Result<u64, StoreError> {
        let started = Instant::now();
        let index = self
            .route_to_leader(PATH_READ_INDEX, &(), COMMIT_TIMEOUT, || {
                self.read_index_local()
            })
            .await?;
        let mut applied = self.inner.applied.subscribe();
        let remaining =
            (started + LEADER_WAIT + COMMIT_TIMEOUT).saturating_duration_since(Instant::now());
        match tokio::time::timeout(
            remaining.max(Duration::from_secs(1)),
            applied.wait_for(|a| *a >= index),
        )
        .await
        {
            Ok(Ok(_)) => Ok(self.current_revision()),
            Ok(Err(_)) => Err(StoreError::Fatal("the store is shut down".to_owned())),
            Err(_) => Err(StoreError::Timeout(format!(
                "this replica did not catch up to log index {index} in time"
            ))),
        }
    }

    /// The leader's read index: confirms leadership with a quorum and waits until it applied
    /// everything committed so far.
    pub(crate) async fn read_index_local(&self) -> Attempt<u64> {
        let confirm = self.inner.raft.ensure_linearizable();
        match tokio::time::timeout(COMMIT_TIMEOUT, confirm).await {
            Err(_) => Attempt::Done(Err(StoreError::Timeout(
                "could not confirm leadership in time".to_owned(),
            ))),
            Ok(Ok(read_log_id)) => {
                Attempt::Done(Ok(read_log_id.map_or(0, |id: LogId<u64>| id.index)))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => {
                Attempt::NotLeader
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Attempt::Done(Err(StoreError::Unavailable(e.to_string())))
            }
            Ok(Err(RaftError::Fatal(e))) => Attempt::Done(Err(StoreError::fatal(e))),
        }
    }

    /// Reads one object from the local replica.
    pub fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let read = || -> Result<Option<Stored>, DbError> {
            let txn = self.inner.db.begin_read()?;
            let table = txn.open_table(OBJECTS)?;
            let Some(value) = table.get(key)? else {
                return Ok(None);
            };
            let record = decode_object(key, value.value())?;
            Ok(Some(Stored {
                key: key.to_owned(),
                revision: record.revision,
                bytes: record.bytes,
            }))
        };
        read().map_err(db_error)
    }

    /// Lists objects whose key starts with `prefix`, in key order, after `start_after` (a key
    /// returned by an earlier page), at most `limit` of them (`None` or 0: all), from one
    /// consistent read of the local replica.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Listed, StoreError> {
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let read = || -> Result<Listed, DbError> {
            let txn = self.inner.db.begin_read()?;
            let meta = txn.open_table(SM_META)?;
            let revision = read_revision(&meta)?;
            let table = txn.open_table(OBJECTS)?;
            let start = match start_after {
                Some(after) if after >= prefix => Bound::Excluded(after),
                _ => Bound::Included(prefix),
            };
            let mut items = Vec::new();
            let mut more = false;
            for item in table.range::<&str>((start, Bound::Unbounded))? {
                let (key, value) = item?;
                let key = key.value();
                if !key.starts_with(prefix) {
                    break;
                }
                if items.len() == limit {
                    more = true;
                    break;
                }
                let record = decode_object(key, value.value())?;
                items.push(Stored {
                    key: key.to_owned(),
                    revision: record.revision,
                    bytes: record.bytes,
                });
            }
            Ok(Listed {
                items,
                revision,
                more,
            })
        };
        read().map_err(db_error)
    }

    /// Watches keys starting with `prefix` for changes with revision > `after_revision`.
    pub fn watch(&self, prefix: &str, after_revision: u64) -> Result<Watcher, WatchError> {
        self.inner.hub.subscribe(prefix, after_revision)
    }

    /// The store revision of the local replica: the revision of the last applied change.
    pub fn current_revision(&self) -> u64 {
        self.inner
            .revision
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// A consistent image of every object and the revision it was taken at, from the local
    /// replica (call [`Store::read_barrier`] first for an up-to-date one).
    pub async fn backup(&self) -> Result<Vec<u8>, StoreError> {
        let db = self.inner.db.clone();
        let image = blocking(move || read_image(&db)).await?;
        Ok(image.encode()?)
    }
}
