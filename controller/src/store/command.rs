//! The Raft entry payload ([`Command`]) and what applying it produced ([`CommandResult`]).
//!
//! These types are replicated in the Raft log and sent between controllers, so they derive
//! `Serialize`; change them only by adding variants at the end (postcard encodes the variant index).

use serde::{Deserialize, Serialize};

/// A write to the object store. Objects are JSON bytes; keys follow
/// `/registry/{group}/{resource}/{namespace}/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Store a new object; rejected with [`Rejected::AlreadyExists`] when the key exists.
    Create { key: String, object: Vec<u8> },
    /// Replace an existing object; with `expected_revision`, only if its revision matches.
    Update {
        key: String,
        object: Vec<u8>,
        expected_revision: Option<u64>,
    },
    /// Remove an object; with `expected_revision`, only if its revision matches.
    Delete {
        key: String,
        expected_revision: Option<u64>,
    },
    /// Several commands applied all-or-nothing at one revision: when one is rejected, none applies.
    Batch(Vec<Command>),
}

impl Command {
    /// A short description for logs and traces (never the object bytes).
    pub fn describe(&self) -> String {
        match self {
            Command::Create { key, .. } => format!("create {key}"),
            Command::Update { key, .. } => format!("update {key}"),
            Command::Delete { key, .. } => format!("delete {key}"),
            Command::Batch(cmds) => format!("batch of {}", cmds.len()),
        }
    }
}

/// A command that was applied. `revision` is the store revision the command was applied at:
/// the state machine counts applied commands, one revision each (see `state_machine`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// The stored object, with `metadata.resourceVersion` set.
    Created { revision: u64, object: Vec<u8> },
    /// The stored object, with `metadata.resourceVersion` set.
    Updated { revision: u64, object: Vec<u8> },
    /// The object's last state, with `metadata.resourceVersion` set to the delete's revision.
    Deleted { revision: u64, object: Vec<u8> },
    /// One result per command of the batch, in order.
    Batch(Vec<Applied>),
}

impl Applied {
    /// The revision the command was applied at (for an empty batch, 0).
    pub fn revision(&self) -> u64 {
        match self {
            Applied::Created { revision, .. }
            | Applied::Updated { revision, .. }
            | Applied::Deleted { revision, .. } => *revision,
            Applied::Batch(items) => items.first().map_or(0, Applied::revision),
        }
    }
}

/// A command whose precondition failed; nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejected {
    #[error("{key} already exists")]
    AlreadyExists { key: String },
    #[error("{key} not found")]
    NotFound { key: String },
    #[error("{key} has revision {current_revision}, not the expected one; read it again and retry")]
    Conflict { key: String, current_revision: u64 },
    /// The object bytes are not a JSON object (or its `metadata` is not an object).
    #[error("{key}: invalid object: {message}")]
    InvalidObject { key: String, message: String },
}

/// The outcome of applying one [`Command`].
pub type CommandResult = Result<Applied, Rejected>;

/// The payload of one Raft log entry: independent commands that were waiting to be proposed at
/// the same moment (group commit). Each is applied on its own, in order, at its own revision, and
/// gets its own result; one command's rejection does not affect the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Names the proposal on the node that proposed it, whose state machine hands the results
    /// straight to the waiting requests when it applies the entry (see `store_propose`).
    pub id: u64,
    pub cmds: Vec<Command>,
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cmds.as_slice() {
            [one] => f.write_str(&one.describe()),
            many => write!(f, "{} commands", many.len()),
        }
    }
}

/// The Raft response type: one result per command of the entry's [`Proposal`], in order.
///
/// Log entries that carry no proposal (leader blanks, membership changes) produce an empty list,
/// which no caller ever sees.
pub type ProposalResult = Vec<CommandResult>;
