//! The layout of `store.redb`: table definitions, meta keys and value encodings.
//!
//! | table | key | value |
//! |---|---|---|
//! | `raft_log` | log index | postcard `Entry<TypeConfig>` |
//! | `raft_meta` | `vote`, `committed`, `purged` | postcard `Vote` / `Option<LogId>` |
//! | `objects` | store key | 8-byte big-endian revision, then the JSON bytes |
//! | `sm_meta` | `last_applied`, `last_membership`, `revision` | postcard `Option<LogId>` / `StoredMembership` / `u64` |
//! | `snapshot` | `meta`, `data` | postcard `SnapshotMeta` / snapshot image bytes |

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::apply::ObjectRecord;

pub(crate) const RAFT_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
pub(crate) const RAFT_META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
pub(crate) const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
pub(crate) const SM_META: TableDefinition<&str, &[u8]> = TableDefinition::new("sm_meta");
/// Where stores written before the snapshot file kept their snapshot; deleted on open.
const SNAPSHOT_BEFORE_V3: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

pub(crate) const KEY_VOTE: &str = "vote";
pub(crate) const KEY_PURGED: &str = "purged";
pub(crate) const KEY_LAST_APPLIED: &str = "last_applied";
pub(crate) const KEY_LAST_MEMBERSHIP: &str = "last_membership";
/// The store revision: how many commands the state machine has applied (see `state_machine`).
pub(crate) const KEY_REVISION: &str = "revision";

/// A failure of the blocking storage layer, converted to openraft or store errors by callers.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    #[error("stored value under {what} is corrupt: {message}")]
    Corrupt { what: String, message: String },
    #[error("{0}")]
    Other(String),
}

macro_rules! redb_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self {
                DbError::Redb(e.into())
            }
        }
    )*};
}
redb_error_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// redb's page cache. Its default (1 GiB) is sized for servers; on a gateway the kernel's page
/// cache does most of this work anyway, so the store keeps its own small.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// The log is written once and read back mostly right after (by the state machine worker and
/// replication), so its cache can be smaller.
const LOG_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Opens (or creates) the state machine's database (`store.redb`) and makes sure its tables
/// exist, so that read transactions never meet a missing table.
pub(crate) fn open_database(path: &Path) -> Result<Database, DbError> {
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)?;
    let txn = db.begin_write()?;
    {
        txn.open_table(OBJECTS)?;
        txn.open_table(SM_META)?;
        // Snapshots lived in this table before they moved to their own file.
        txn.delete_table(SNAPSHOT_BEFORE_V3)?;
    }
    txn.commit()?;
    Ok(db)
}

/// Opens (or creates) the Raft log's database (`raft-log.redb`). A `store.redb` written before
/// the log had a file of its own still holds the log, vote and purge point: they are copied into
/// a new log file, which replaces nothing until it is complete (written under a temporary name,
/// then renamed), and only then removed from `store.redb`. An existing data directory thus keeps
/// its place in the cluster.
pub(crate) fn open_log_database(path: &Path, legacy: &Database) -> Result<Database, DbError> {
    if !path.exists() {
        let tmp = path.with_extension("redb.new");
        let _ = std::fs::remove_file(&tmp);
        {
            let db = Database::builder().create(&tmp)?;
            let mut txn = db.begin_write()?;
            txn.set_durability(redb::Durability::Immediate)?;
            {
                let mut log = txn.open_table(RAFT_LOG)?;
                let mut meta = txn.open_table(RAFT_META)?;
                let old = legacy.begin_read()?;
                if let Ok(old_log) = old.open_table(RAFT_LOG) {
                    for item in old_log.iter()? {
                        let (k, v) = item?;
                        log.insert(k.value(), v.value())?;
                    }
                }
                if let Ok(old_meta) = old.open_table(RAFT_META) {
                    for item in old_meta.iter()? {
                        let (k, v) = item?;
                        meta.insert(k.value(), v.value())?;
                    }
                }
            }
            txn.commit()?;
        }
        std::fs::rename(&tmp, path)
            .map_err(|e| DbError::Other(format!("renaming {}: {e}", tmp.display())))?;
        let txn = legacy.begin_write()?;
        txn.delete_table(RAFT_LOG)?;
        txn.delete_table(RAFT_META)?;
        txn.commit()?;
    }
    let db = Database::builder()
        .set_cache_size(LOG_CACHE_BYTES)
        .create(path)?;
    let txn = db.begin_write()?;
    {
        txn.open_table(RAFT_LOG)?;
        txn.open_table(RAFT_META)?;
    }
    txn.commit()?;
    Ok(db)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, DbError> {
    postcard::to_stdvec(value).map_err(|e| DbError::Other(format!("encode: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, DbError> {
    postcard::from_bytes(bytes).map_err(|e| DbError::Corrupt {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

/// Reads and decodes one value of a `&str`-keyed meta table.
pub(crate) fn read_meta<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, DbError> {
    match table.get(key)? {
        Some(bytes) => Ok(Some(decode(key, bytes.value())?)),
        None => Ok(None),
    }
}

pub(crate) fn encode_object(revision: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + bytes.len());
    out.extend_from_slice(&revision.to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

pub(crate) fn decode_object(key: &str, value: &[u8]) -> Result<ObjectRecord, DbError> {
    let Some((revision, bytes)) = value.split_first_chunk::<8>() else {
        return Err(DbError::Corrupt {
            what: key.to_owned(),
            message: "object record shorter than its revision".to_owned(),
        });
    };
    Ok(ObjectRecord {
        revision: u64::from_be_bytes(*revision),
        bytes: bytes.to_vec(),
    })
}

/// Reads the store revision from the `sm_meta` table (0 for a new store).
pub(crate) fn read_revision(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<u64, DbError> {
    Ok(read_meta::<u64>(meta, KEY_REVISION)?.unwrap_or(0))
}

/// Reads the store revision in its own read transaction.
pub(crate) fn read_stored_revision(db: &Database) -> Result<u64, DbError> {
    let txn = db.begin_read()?;
    read_revision(&txn.open_table(SM_META)?)
}

/// The applied state as stored: last applied log id and last membership.
pub(crate) type AppliedState = (
    Option<openraft::LogId<u64>>,
    openraft::StoredMembership<u64, openraft::BasicNode>,
);

/// Reads the applied state.
pub(crate) fn read_applied_state(db: &Database) -> Result<AppliedState, DbError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(SM_META)?;
    let last_applied =
        read_meta::<Option<openraft::LogId<u64>>>(&meta, KEY_LAST_APPLIED)?.flatten();
    let membership = read_meta(&meta, KEY_LAST_MEMBERSHIP)?.unwrap_or_default();
    Ok((last_applied, membership))
}
