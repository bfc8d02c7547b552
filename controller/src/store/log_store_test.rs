//! The redb log: purges are recorded at once and carried out by later appends.

use std::sync::Arc;

use openraft::{CommittedLeaderId, EntryPayload, LogId, Vote};
use redb::ReadableDatabase;

use super::log_store::LogStore;
use super::tables::{KEY_VOTE, RAFT_LOG, RAFT_META, encode, open_database, open_log_database};

type Entry = openraft::Entry<super::TypeConfig>;

fn id(index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

fn blanks(range: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    range
        .map(|i| Entry {
            log_id: id(i),
            payload: EntryPayload::Blank,
        })
        .collect()
}

fn stored_indexes(log: &LogStore) -> Vec<u64> {
    log.entries(..)
        .expect("entries")
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

#[test]
fn purge_is_recorded_at_once_and_carried_out_by_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = open_database(&dir.path().join("store.redb")).expect("open state");
    let db = Arc::new(open_log_database(&dir.path().join("raft-log.redb"), &state).expect("open"));
    let log = LogStore::new(db.clone());
    log.append(blanks(1..=100)).expect("append");

    log.purge_upto(id(90)).expect("purge");
    let bounds = log.log_state().expect("state");
    assert_eq!(bounds.purged, Some(id(90)));
    assert_eq!(bounds.last, Some(id(100)));
    // Nothing removed yet: the purge itself only records the point.
    assert_eq!(stored_indexes(&log).len(), 100);

    // Each append removes a few purged entries until none are left.
    for i in 101..=110 {
        log.append(blanks(i..=i)).expect("append");
    }
    assert_eq!(stored_indexes(&log), (91..=110).collect::<Vec<_>>());

    // A log whose every entry is purged reports the purge point as its end, even while some
    // purged entries are still stored (as after a restart, which forgets the pending removal).
    log.purge_upto(id(110)).expect("purge");
    let reopened = LogStore::new(db);
    let bounds = reopened.log_state().expect("state");
    assert_eq!(bounds.purged, Some(id(110)));
    assert_eq!(bounds.last, Some(id(110)));
    assert_eq!(stored_indexes(&reopened).len(), 20);
    // The next purge takes the leftovers along.
    reopened.purge_upto(id(110)).expect("purge");
    reopened.append(blanks(111..=111)).expect("append");
    assert_eq!(stored_indexes(&reopened), vec![111]);
}

#[test]
fn a_log_kept_in_store_redb_moves_to_its_own_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state_path = dir.path().join("store.redb");
    let log_path = dir.path().join("raft-log.redb");
    // The layout before the split: log, vote and purge point in store.redb.
    {
        let old = open_database(&state_path).expect("open state");
        let txn = old.begin_write().expect("write");
        {
            let mut log = txn.open_table(RAFT_LOG).expect("log table");
            for entry in blanks(1..=5) {
                log.insert(
                    entry.log_id.index,
                    encode(&entry).expect("encode").as_slice(),
                )
                .expect("insert");
            }
            let mut meta = txn.open_table(RAFT_META).expect("meta table");
            let vote = Vote::<u64>::new(3, 7);
            meta.insert(KEY_VOTE, encode(&vote).expect("encode").as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    }

    let state = open_database(&state_path).expect("reopen state");
    let log = LogStore::new(Arc::new(
        open_log_database(&log_path, &state).expect("open log"),
    ));
    assert_eq!(stored_indexes(&log), vec![1, 2, 3, 4, 5]);
    assert_eq!(log.read_vote().expect("vote"), Some(Vote::<u64>::new(3, 7)));
    // ... and is gone from store.redb, so a second open does not copy it again.
    let txn = state.begin_read().expect("read");
    assert!(
        txn.open_table(RAFT_LOG).is_err(),
        "old log table left behind"
    );
}
