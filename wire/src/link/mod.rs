//! The controller<->agent link: one QUIC connection per agent (ALPN `edgeplane/1`) carrying
//! length-prefixed postcard frames.
//!
//! Streams on a connection:
//! - A connection without a client certificate may open exactly one bidirectional stream: a
//!   [`JoinRequest`] answered by a [`JoinReply`] (the agent's first start).
//! - A connection with a node certificate opens one bidirectional *control stream*: the agent
//!   sends [`AgentMessage::Hello`], the controller answers with a full
//!   [`ControllerMessage::Snapshot`] of the node's desired state and then revisioned
//!   [`ControllerMessage::Delta`]s; the agent acknowledges revisions and sends pod and node
//!   status.
//! - The controller opens further bidirectional streams for logs and port-forwarding; each
//!   starts with a [`StreamRequest`] frame answered by a [`StreamReply`] frame, then carries raw
//!   bytes.
//!
//! Versioning: postcard encodes fields by position, so a frame's layout is fixed per protocol
//! version. Both hellos carry [`PROTOCOL_VERSION`]; a peer refuses versions it does not speak with
//! a message that says which side to upgrade. A new version may add messages (new enum variants at
//! the end) and fields; peers then speak the lower of their two versions.

mod frame;
mod messages;
mod quic;

pub use frame::{FrameError, MAX_FRAME_BYTES, decode, encode, read_frame, write_frame};
pub use messages::*;
pub use quic::{QuicError, client_config, server_config};

/// ALPN protocol of the agent link.
pub const ALPN: &[u8] = b"edgeplane/1";

/// The wire protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 2;
