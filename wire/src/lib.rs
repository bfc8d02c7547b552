//! The controller<->agent protocol, TLS configuration and certificate helpers shared by the controller, the agent and edgectl.
//!
//! This crate opens no connections; `host` reads the host's addresses and waits for signals; `kubeconfig` and `secret_file` read and write files, and
//! `link` reads and writes frames on streams its callers open.

mod der;
pub mod host;
pub mod kubeconfig;
pub mod link;
pub mod pki;
pub mod secret_file;
pub mod tls;
pub mod token;
