//! `wasi:keyvalue` (store, atomics, batch) backed by a redb file per pod: durable on the
//! node's disk, so an offline gateway keeps what it buffered across restarts and reboots.
//!
//! Upstream `wasmtime-wasi-keyvalue` only has an in-memory store and no way to plug in
//! another, hence these host traits. Every write is one redb transaction committed with
//! immediate durability (fsynced) before the guest call returns; writes run on the blocking
//! pool so an fsync never stalls an executor thread. A bucket is a redb table; `open("")` is
//! the default bucket. Counters (`atomics.increment`) are decimal ASCII, as upstream stores them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::WasmError;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasi:keyvalue/imports",
        imports: {
            "wasi:keyvalue/store.[method]bucket.set": async | trappable,
            "wasi:keyvalue/store.[method]bucket.delete": async | trappable,
            "wasi:keyvalue/atomics.increment": async | trappable,
            "wasi:keyvalue/batch.set-many": async | trappable,
            "wasi:keyvalue/batch.delete-many": async | trappable,
            default: trappable,
        },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => super::KvError,
        },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// The file name of a pod's store in its `kv_dir`.
pub const KEYVALUE_FILE: &str = "keyvalue.redb";

/// `list-keys` returns at most this many keys per call, with a cursor for the rest.
const LIST_PAGE: usize = 1000;

/// A failed `wasi:keyvalue` operation; the guest sees it as `error::other`. (The store never
/// says `no-such-store` or `access-denied`: every identifier opens a bucket of the pod's own.)
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KvError(String);

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for KvError {
            fn from(error: $error) -> Self {
                KvError(format!("storage: {error}"))
            }
        }
    )*};
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

fn table_error(error: wasmtime::component::ResourceTableError) -> KvError {
    KvError(error.to_string())
}

/// An open bucket: the guest's handle names a table.
pub struct Bucket {
    table: String,
}

/// One pod's keyvalue database.
pub(crate) struct KvStore {
    db: redb::Database,
}

/// Open pod databases by path: redb allows one handle per file and process, and the containers
/// of one pod (and a restarting container overlapping its successor) share it.
#[derive(Default)]
pub(crate) struct KvStores {
    open: Mutex<HashMap<PathBuf, Weak<KvStore>>>,
}

impl KvStores {
    pub(crate) fn open(&self, kv_dir: &Path) -> Result<Arc<KvStore>, WasmError> {
        let path = kv_dir.join(KEYVALUE_FILE);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, store| store.strong_count() > 0);
        if let Some(store) = open.get(&path).and_then(Weak::upgrade) {
            return Ok(store);
        }
        std::fs::create_dir_all(kv_dir).map_err(WasmError::io(kv_dir))?;
        let db = redb::Database::create(&path).map_err(|e| WasmError::KeyValue {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let store = Arc::new(KvStore { db });
        open.insert(path, Arc::downgrade(&store));
        Ok(store)
    }
}

type Table<'a> = TableDefinition<'a, &'static str, &'static [u8]>;
/// A key and its value, as `get-many` returns them.
type KeyValue = (String, Vec<u8>);

impl KvStore {
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(Table::new(table)) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(key)?.map(|value| value.value().to_vec()))
    }

    fn get_many(&self, table: &str, keys: Vec<String>) -> Result<Vec<Option<KeyValue>>, KvError> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(Table::new(table)) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Ok(keys.iter().map(|_| None).collect());
            }
            Err(e) => return Err(e.into()),
        };
        keys.into_iter()
            .map(|key| {
                let value = table.get(key.as_str())?.map(|v| v.value().to_vec());
                Ok(value.map(|value| (key, value)))
            })
            .collect()
    }

    fn list_keys(&self, table: &str, cursor: u64) -> Result<(Vec<String>, Option<u64>), KvError> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(Table::new(table)) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((Vec::new(), None)),
            Err(e) => return Err(e.into()),
        };
        let skip = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut keys = Vec::new();
        let mut more = false;
        for entry in table.iter()?.skip(skip) {
            if keys.len() == LIST_PAGE {
                more = true;
                break;
            }
            keys.push(entry?.0.value().to_owned());
        }
        let next = more.then(|| cursor + keys.len() as u64);
        Ok((keys, next))
    }

    /// Runs `change` in one durable write transaction.
    fn write<R>(
        &self,
        table: &str,
        change: impl FnOnce(&mut redb::Table<'_, &'static str, &'static [u8]>) -> Result<R, KvError>,
    ) -> Result<R, KvError> {
        let txn = self.db.begin_write()?;
        let result = {
            let mut table = txn.open_table(Table::new(table))?;
            change(&mut table)?
        };
        txn.commit()?;
        Ok(result)
    }

    fn increment(&self, table: &str, key: &str, delta: u64) -> Result<u64, KvError> {
        self.write(table, |table| {
            let current = match table.get(key)? {
                None => 0,
                Some(value) => std::str::from_utf8(value.value())
                    .ok()
                    .and_then(|text| text.parse::<u64>().ok())
                    .ok_or_else(|| KvError(format!("value of {key:?} is not a counter")))?,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| KvError(format!("counter {key:?} would overflow")))?;
            table.insert(key, next.to_string().as_bytes())?;
            Ok(next)
        })
    }
}

/// Runs a write on the blocking pool: a commit waits for the disk.
async fn blocking<R: Send + 'static>(
    store: &Arc<KvStore>,
    write: impl FnOnce(&KvStore) -> Result<R, KvError> + Send + 'static,
) -> Result<R, KvError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || write(&store))
        .await
        .map_err(|e| KvError(format!("keyvalue write did not finish: {e}")))?
}

/// The host side of `wasi:keyvalue` for one store.
pub(crate) struct KvView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    /// `None` for a component that does not import `wasi:keyvalue` (never called then).
    pub(crate) store: Option<&'a Arc<KvStore>>,
}

impl KvView<'_> {
    fn store(&self) -> Result<&Arc<KvStore>, KvError> {
        self.store
            .ok_or_else(|| KvError("this container has no keyvalue store".to_owned()))
    }

    fn bucket(&self, bucket: &Resource<Bucket>) -> Result<String, KvError> {
        Ok(self.table.get(bucket).map_err(table_error)?.table.clone())
    }
}

impl store::Host for KvView<'_> {
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        let table = format!("bucket:{identifier}");
        self.table.push(Bucket { table }).map_err(table_error)
    }

    fn convert_error(&mut self, err: KvError) -> wasmtime::Result<store::Error> {
        Ok(store::Error::Other(err.0))
    }
}

impl store::HostBucket for KvView<'_> {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.store()?.get(&self.bucket(&bucket)?, &key)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        let table = self.bucket(&bucket)?;
        blocking(self.store()?, move |store| {
            store.write(&table, |t| {
                t.insert(key.as_str(), value.as_slice())?;
                Ok(())
            })
        })
        .await
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KvError> {
        let table = self.bucket(&bucket)?;
        blocking(self.store()?, move |store| {
            store.write(&table, |t| {
                t.remove(key.as_str())?;
                Ok(())
            })
        })
        .await
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        Ok(self.store()?.get(&self.bucket(&bucket)?, &key)?.is_some())
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvError> {
        let (keys, cursor) = self
            .store()?
            .list_keys(&self.bucket(&bucket)?, cursor.unwrap_or(0))?;
        Ok(store::KeyResponse { keys, cursor })
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvError> {
        let table = self.bucket(&bucket)?;
        blocking(self.store()?, move |store| {
            store.increment(&table, &key, delta)
        })
        .await
    }
}

impl batch::Host for KvView<'_> {
    fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<KeyValue>>, KvError> {
        self.store()?.get_many(&self.bucket(&bucket)?, keys)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        let table = self.bucket(&bucket)?;
        blocking(self.store()?, move |store| {
            store.write(&table, |t| {
                for (key, value) in &key_values {
                    t.insert(key.as_str(), value.as_slice())?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), KvError> {
        let table = self.bucket(&bucket)?;
        blocking(self.store()?, move |store| {
            store.write(&table, |t| {
                for key in &keys {
                    t.remove(key.as_str())?;
                }
                Ok(())
            })
        })
        .await
    }
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}` to a linker.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKv>(linker, view)?;
    atomics::add_to_linker::<T, HasKv>(linker, view)?;
    batch::add_to_linker::<T, HasKv>(linker, view)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_counters_survive_reopening() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let stores = KvStores::default();
        let store = stores.open(dir.path())?;
        assert!(
            Arc::ptr_eq(&store, &stores.open(dir.path())?),
            "one handle per file"
        );
        store.write("bucket:", |t| {
            t.insert("a", &b"1"[..])?;
            t.insert("b", &b"2"[..])?;
            Ok(())
        })?;
        assert_eq!(store.increment("bucket:", "n", 2)?, 2);
        assert_eq!(store.increment("bucket:", "n", 3)?, 5);
        assert!(store.increment("bucket:", "a", u64::MAX).is_err());
        assert!(matches!(store.increment("bucket:", "x", 1), Ok(1)));
        drop(store);

        let store = stores.open(dir.path())?;
        assert_eq!(store.get("bucket:", "b")?, Some(b"2".to_vec()));
        assert_eq!(store.get("bucket:", "n")?, Some(b"5".to_vec()));
        assert_eq!(store.get("bucket:other", "b")?, None);
        let (keys, cursor) = store.list_keys("bucket:", 1)?;
        assert_eq!(
            (keys, cursor),
            (vec!["b".into(), "n".into(), "x".into()], None)
        );
        let many = store.get_many("bucket:", vec!["a".into(), "zz".into()])?;
        assert_eq!(many, vec![Some(("a".into(), b"1".to_vec())), None]);
        Ok(())
    }
}
