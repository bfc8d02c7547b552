//! The agent's own database (`DATA_DIR/agent.redb`): the desired state last received from the
//! controller and the last status of every pod, so the agent brings its pods back after a
//! restart with the controller unreachable, and reports what happened while offline.
//!
//! **The agent writes only when something changed** (SD cards wear out): a snapshot equal to
//! the stored state, or a status equal to the stored one, writes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use edge_wire::link::{PodRunSpec, PodStatusReport};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const PODS: TableDefinition<&str, &[u8]> = TableDefinition::new("pods");
const STATUS: TableDefinition<&str, &[u8]> = TableDefinition::new("status");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const KEY_REVISION: &str = "revision";

/// Errors of the local database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("local state database: {0}")]
    Db(String),
    #[error("local state holds an unreadable record {0}: {1}")]
    Corrupt(String, postcard::Error),
}

fn db_err(e: impl std::fmt::Display) -> StateError {
    StateError::Db(e.to_string())
}

/// The agent's local database.
pub struct LocalState {
    db: Database,
}

impl LocalState {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<LocalState, StateError> {
        let db = Database::builder()
            .set_cache_size(1 << 20)
            .create(path)
            .map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(PODS).map_err(db_err)?;
        tx.open_table(STATUS).map_err(db_err)?;
        tx.open_table(META).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(LocalState { db })
    }

    /// The stored desired state: its revision and pods by uid.
    pub fn desired(&self) -> Result<(u64, BTreeMap<String, PodRunSpec>), StateError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let revision = tx
            .open_table(META)
            .map_err(db_err)?
            .get(KEY_REVISION)
            .map_err(db_err)?
            .map(|v| v.value())
            .unwrap_or(0);
        let table = tx.open_table(PODS).map_err(db_err)?;
        let mut pods = BTreeMap::new();
        for entry in table.iter().map_err(db_err)? {
            let (uid, bytes) = entry.map_err(db_err)?;
            let spec: PodRunSpec = postcard::from_bytes(bytes.value())
                .map_err(|e| StateError::Corrupt(uid.value().to_owned(), e))?;
            pods.insert(uid.value().to_owned(), spec);
        }
        Ok((revision, pods))
    }

    /// Stores a delta (or, with `replace_all`, a whole snapshot) unless it changes nothing.
    /// Returns whether anything was written.
    pub fn apply(
        &self,
        revision: u64,
        upserts: &[PodRunSpec],
        removals: &[String],
        replace_all: bool,
    ) -> Result<bool, StateError> {
        let (stored_revision, stored) = self.desired()?;
        let mut wanted = if replace_all {
            BTreeMap::new()
        } else {
            stored.clone()
        };
        for uid in removals {
            wanted.remove(uid);
        }
        for spec in upserts {
            wanted.insert(spec.uid.clone(), spec.clone());
        }
        // The revision alone changing is not worth a write: it only orders deltas of one session.
        if wanted == stored {
            return Ok(false);
        }
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(PODS).map_err(db_err)?;
            for uid in stored.keys().filter(|uid| !wanted.contains_key(*uid)) {
                table.remove(uid.as_str()).map_err(db_err)?;
            }
            for (uid, spec) in &wanted {
                if stored.get(uid) != Some(spec) {
                    let bytes = postcard::to_allocvec(spec).map_err(db_err)?;
                    table
                        .insert(uid.as_str(), bytes.as_slice())
                        .map_err(db_err)?;
                }
            }
            let mut meta = tx.open_table(META).map_err(db_err)?;
            meta.insert(KEY_REVISION, revision.max(stored_revision))
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(true)
    }

    /// Every stored pod status.
    pub fn statuses(&self) -> Result<Vec<PodStatusReport>, StateError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(STATUS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (uid, bytes) = entry.map_err(db_err)?;
            out.push(
                postcard::from_bytes(bytes.value())
                    .map_err(|e| StateError::Corrupt(uid.value().to_owned(), e))?,
            );
        }
        Ok(out)
    }

    /// Stores a pod's status unless it is already stored as is. Returns whether it wrote.
    pub fn put_status(&self, report: &PodStatusReport) -> Result<bool, StateError> {
        let bytes = postcard::to_allocvec(report).map_err(db_err)?;
        {
            let tx = self.db.begin_read().map_err(db_err)?;
            let table = tx.open_table(STATUS).map_err(db_err)?;
            if table
                .get(report.uid.as_str())
                .map_err(db_err)?
                .is_some_and(|v| v.value() == bytes.as_slice())
            {
                return Ok(false);
            }
        }
        let tx = self.db.begin_write().map_err(db_err)?;
        tx.open_table(STATUS)
            .map_err(db_err)?
            .insert(report.uid.as_str(), bytes.as_slice())
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(true)
    }

    /// Forgets a pod's status (the pod is gone).
    pub fn remove_status(&self, uid: &str) -> Result<(), StateError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let removed = tx
            .open_table(STATUS)
            .map_err(db_err)?
            .remove(uid)
            .map_err(db_err)?
            .is_some();
        if removed {
            tx.commit().map_err(db_err)?;
        } else {
            tx.abort().map_err(db_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, image: &str) -> PodRunSpec {
        PodRunSpec {
            uid: uid.into(),
            name: uid.into(),
            containers: vec![edge_wire::link::ContainerRunSpec {
                name: "c".into(),
                image: image.into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn desired_state_survives_reopen_and_unchanged_writes_nothing() {
        let dir = tempfile::tempdir().expect("test step");
        let path = dir.path().join("agent.redb");
        let state = LocalState::open(&path).expect("test step");
        assert!(
            state
                .apply(3, &[pod("a", "x:1"), pod("b", "y:1")], &[], true)
                .expect("test step")
        );
        assert!(
            !state
                .apply(4, &[pod("a", "x:1"), pod("b", "y:1")], &[], true)
                .expect("test step")
        );
        assert!(
            state
                .apply(5, &[pod("c", "z:1")], &["a".into()], false)
                .expect("test step")
        );
        drop(state);
        let state = LocalState::open(&path).expect("test step");
        let (revision, pods) = state.desired().expect("test step");
        assert_eq!(revision, 5);
        assert_eq!(pods.keys().collect::<Vec<_>>(), vec!["b", "c"]);
        // A snapshot replaces everything.
        assert!(
            state
                .apply(9, &[pod("d", "w:1")], &[], true)
                .expect("test step")
        );
        assert_eq!(
            state
                .desired()
                .expect("test step")
                .1
                .keys()
                .collect::<Vec<_>>(),
            vec!["d"]
        );
    }

    #[test]
    fn statuses_are_written_only_when_changed() {
        let dir = tempfile::tempdir().expect("test step");
        let state = LocalState::open(&dir.path().join("agent.redb")).expect("test step");
        let mut report = PodStatusReport {
            uid: "a".into(),
            name: "a".into(),
            ..Default::default()
        };
        assert!(state.put_status(&report).expect("test step"));
        assert!(!state.put_status(&report).expect("test step"));
        report.phase = edge_wire::link::PodPhase::Running;
        assert!(state.put_status(&report).expect("test step"));
        assert_eq!(state.statuses().expect("test step"), vec![report]);
        state.remove_status("a").expect("test step");
        assert!(state.statuses().expect("test step").is_empty());
    }
}
