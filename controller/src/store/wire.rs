//! The controller-to-controller protocol under `/internal/raft/`: paths and postcard bodies.
//!
//! Every body starts with one version byte ([`WIRE_VERSION`]); a receiver answers a body of an
//! unknown version with HTTP 400 instead of misreading it. Raft RPCs carry openraft's own request
//! and `Result<response, RaftError>` types; forwarded requests carry the types below.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::command::CommandResult;
use super::error::StoreError;

pub(crate) const WIRE_VERSION: u8 = 1;

pub(crate) const PATH_APPEND: &str = "/internal/raft/append";
pub(crate) const PATH_VOTE: &str = "/internal/raft/vote";
pub(crate) const PATH_SNAPSHOT: &str = "/internal/raft/snapshot";
pub(crate) const PATH_PROPOSE: &str = "/internal/raft/propose";
pub(crate) const PATH_READ_INDEX: &str = "/internal/raft/read-index";
pub(crate) const PATH_ADD_VOTER: &str = "/internal/raft/add-voter";
pub(crate) const PATH_REMOVE_MEMBER: &str = "/internal/raft/remove-member";

pub(crate) const CONTENT_TYPE: &str = "application/x-edgeplane-raft";

#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("empty body")]
    Empty,
    #[error("unsupported wire version {0} (this controller speaks {WIRE_VERSION})")]
    Version(u8),
    #[error("malformed body: {0}")]
    Malformed(String),
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    let out = vec![WIRE_VERSION];
    postcard::to_extend(value, out).map_err(|e| WireError::Malformed(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(WireError::Empty);
    };
    if version != WIRE_VERSION {
        return Err(WireError::Version(version));
    }
    postcard::from_bytes(body).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Body of `add-voter`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AddVoterRequest {
    pub node_id: u64,
    pub addr: String,
}

/// Body of `remove-member`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RemoveMemberRequest {
    pub node_id: u64,
}

/// A failure of a forwarded request, as seen by the controller that forwarded it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ForwardError {
    /// The receiver is not the leader (any more); ask again once a leader is known. Nothing was
    /// proposed.
    NotLeader,
    NoLeader,
    Unavailable(String),
    Timeout(String),
    Invalid(String),
    Fatal(String),
}

impl From<StoreError> for ForwardError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoLeader => ForwardError::NoLeader,
            StoreError::Unavailable(m) => ForwardError::Unavailable(m),
            StoreError::Timeout(m) => ForwardError::Timeout(m),
            StoreError::Invalid(m) => ForwardError::Invalid(m),
            e @ StoreError::Backup(_) => ForwardError::Fatal(e.to_string()),
            StoreError::Fatal(m) => ForwardError::Fatal(m),
        }
    }
}

impl ForwardError {
    /// The error to report locally; `None` for [`ForwardError::NotLeader`], which the caller
    /// retries.
    pub(crate) fn into_store_error(self, leader: &str) -> Option<StoreError> {
        Some(match self {
            ForwardError::NotLeader => return None,
            ForwardError::NoLeader => StoreError::NoLeader,
            ForwardError::Unavailable(m) => {
                StoreError::Unavailable(format!("leader {leader}: {m}"))
            }
            ForwardError::Timeout(m) => StoreError::Timeout(format!("leader {leader}: {m}")),
            ForwardError::Invalid(m) => StoreError::Invalid(m),
            ForwardError::Fatal(m) => {
                StoreError::Unavailable(format!("leader {leader} failed: {m}"))
            }
        })
    }
}

pub(crate) type ProposeReply = Result<CommandResult, ForwardError>;
pub(crate) type ReadIndexReply = Result<u64, ForwardError>;
pub(crate) type MembershipReply = Result<(), ForwardError>;
