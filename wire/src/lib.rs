//! The controller<->agent protocol, TLS configuration and certificate helpers shared by the controller, the agent and edgectl.
//!
//! This crate does no network I/O; `kubeconfig` and `secret_file` read and write files.

mod der;
pub mod kubeconfig;
pub mod pki;
pub mod secret_file;
pub mod tls;
pub mod token;
