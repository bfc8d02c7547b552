//! The pure core of the state machine: decide what a [`Command`] does to the objects, without I/O.
//!
//! [`apply_command`] reads current objects through an [`ObjectView`] and returns the
//! [`CommandResult`] plus the list of [`Change`]s to write and publish. The redb runtime in
//! `state_machine` does the writing; tests use a `BTreeMap`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::command::{Applied, Command, CommandResult, Rejected};
use super::watch::EventKind;

/// A stored object: its revision and its JSON bytes (already stamped with `resourceVersion`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ObjectRecord {
    pub revision: u64,
    pub bytes: Vec<u8>,
}

/// Read access to the current objects.
pub(crate) trait ObjectView {
    type Error;
    fn object(&self, key: &str) -> Result<Option<ObjectRecord>, Self::Error>;
}

impl ObjectView for BTreeMap<String, ObjectRecord> {
    type Error = std::convert::Infallible;
    fn object(&self, key: &str) -> Result<Option<ObjectRecord>, Self::Error> {
        Ok(self.get(key).cloned())
    }
}

/// One change to one key, to be written to the objects table and published to watchers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Change {
    pub key: String,
    pub kind: EventKind,
    pub revision: u64,
    /// The new state; for a delete, the last state with `resourceVersion` set to `revision`.
    pub object: Arc<Value>,
    pub prev_object: Option<Arc<Value>>,
    /// Bytes to store under `key`, or `None` to remove it.
    pub stored: Option<Vec<u8>>,
}

/// What applying one command produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub result: CommandResult,
    /// Empty when the command was rejected.
    pub changes: Vec<Change>,
}

/// Applies `cmd` at store revision `revision` on top of `view`.
///
/// A rejected command (or any rejected part of a batch) yields no changes at all.
pub(crate) fn apply_command<V: ObjectView>(
    view: &V,
    cmd: &Command,
    revision: u64,
) -> Result<Outcome, V::Error> {
    let mut overlay = Overlay {
        base: view,
        pending: BTreeMap::new(),
        changes: Vec::new(),
        revision,
    };
    Ok(match overlay.apply(cmd)? {
        Ok(applied) => Outcome {
            result: Ok(applied),
            changes: overlay.changes,
        },
        Err(rejected) => Outcome {
            result: Err(rejected),
            changes: Vec::new(),
        },
    })
}

/// The view plus the changes made so far by the command being applied, so that later parts of
/// a batch see earlier ones.
struct Overlay<'a, V> {
    base: &'a V,
    pending: BTreeMap<String, Option<ObjectRecord>>,
    changes: Vec<Change>,
    revision: u64,
}

impl<V: ObjectView> Overlay<'_, V> {
    fn object(&self, key: &str) -> Result<Option<ObjectRecord>, V::Error> {
        match self.pending.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.base.object(key),
        }
    }

    fn apply(&mut self, cmd: &Command) -> Result<CommandResult, V::Error> {
        let revision = self.revision;
        match cmd {
            Command::Create { key, object } => {
                if self.object(key)?.is_some() {
                    return Ok(Err(Rejected::AlreadyExists { key: key.clone() }));
                }
                let (value, bytes) = match stamp(object, revision) {
                    Ok(stamped) => stamped,
                    Err(message) => return Ok(Err(invalid(key, message))),
                };
                self.record(key, EventKind::Added, value, None, Some(bytes.clone()));
                Ok(Ok(Applied::Created {
                    revision,
                    object: bytes,
                }))
            }
            Command::Update {
                key,
                object,
                expected_revision,
            } => {
                let Some(current) = self.object(key)? else {
                    return Ok(Err(Rejected::NotFound { key: key.clone() }));
                };
                if let Some(rejected) = check_revision(key, &current, *expected_revision) {
                    return Ok(Err(rejected));
                }
                let (value, bytes) = match stamp(object, revision) {
                    Ok(stamped) => stamped,
                    Err(message) => return Ok(Err(invalid(key, message))),
                };
                let prev = parse_stored(&current.bytes);
                self.record(
                    key,
                    EventKind::Modified,
                    value,
                    Some(prev),
                    Some(bytes.clone()),
                );
                Ok(Ok(Applied::Updated {
                    revision,
                    object: bytes,
                }))
            }
            Command::Delete {
                key,
                expected_revision,
            } => {
                let Some(current) = self.object(key)? else {
                    return Ok(Err(Rejected::NotFound { key: key.clone() }));
                };
                if let Some(rejected) = check_revision(key, &current, *expected_revision) {
                    return Ok(Err(rejected));
                }
                let prev = parse_stored(&current.bytes);
                // The last state is reported with the delete's revision, as Kubernetes does, so
                // that a watcher's resourceVersion moves forward with the Deleted event.
                let (value, bytes) = match stamp(&current.bytes, revision) {
                    Ok(stamped) => stamped,
                    Err(_) => (Value::clone(&prev), current.bytes.clone()),
                };
                self.record(key, EventKind::Deleted, value, Some(prev), None);
                Ok(Ok(Applied::Deleted {
                    revision,
                    object: bytes,
                }))
            }
            Command::Batch(cmds) => {
                let mut results = Vec::with_capacity(cmds.len());
                for cmd in cmds {
                    match self.apply(cmd)? {
                        Ok(applied) => results.push(applied),
                        Err(rejected) => return Ok(Err(rejected)),
                    }
                }
                Ok(Ok(Applied::Batch(results)))
            }
        }
    }

    fn record(
        &mut self,
        key: &str,
        kind: EventKind,
        object: Value,
        prev_object: Option<Arc<Value>>,
        stored: Option<Vec<u8>>,
    ) {
        self.pending.insert(
            key.to_owned(),
            stored.as_ref().map(|bytes| ObjectRecord {
                revision: self.revision,
                bytes: bytes.clone(),
            }),
        );
        self.changes.push(Change {
            key: key.to_owned(),
            kind,
            revision: self.revision,
            object: Arc::new(object),
            prev_object,
            stored,
        });
    }
}

fn check_revision(key: &str, current: &ObjectRecord, expected: Option<u64>) -> Option<Rejected> {
    match expected {
        Some(expected) if expected != current.revision => Some(Rejected::Conflict {
            key: key.to_owned(),
            current_revision: current.revision,
        }),
        _ => None,
    }
}

fn invalid(key: &str, message: String) -> Rejected {
    Rejected::InvalidObject {
        key: key.to_owned(),
        message,
    }
}

/// Parses object bytes, sets `metadata.resourceVersion` to `revision` and serialises them again.
pub(crate) fn stamp(object: &[u8], revision: u64) -> Result<(Value, Vec<u8>), String> {
    let mut value: Value = serde_json::from_slice(object).map_err(|e| e.to_string())?;
    let Value::Object(fields) = &mut value else {
        return Err("not a JSON object".to_owned());
    };
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Value::Object(metadata) = metadata else {
        return Err("metadata is not an object".to_owned());
    };
    metadata.insert(
        "resourceVersion".to_owned(),
        Value::String(revision.to_string()),
    );
    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    Ok((value, bytes))
}

/// Parses bytes the state machine stored itself; they were valid JSON when written, so a failure
/// means corruption, reported as `null` rather than failing the apply.
pub(crate) fn parse_stored(bytes: &[u8]) -> Arc<Value> {
    Arc::new(serde_json::from_slice(bytes).unwrap_or(Value::Null))
}
