//! The edge agent: joins the cluster, keeps a QUIC link to the controller, runs the pods bound to
//! its node (Wasm in wasmtime) and keeps them running while the controller is unreachable.

pub mod agent;
pub mod identity;
pub mod image;
pub mod images;
pub mod link;
pub mod local_state;
pub mod logs;
pub mod metrics;
pub mod node_info;
pub mod pod;
pub mod status_board;
pub mod supervisor;
pub mod wasm;
pub mod worker;
