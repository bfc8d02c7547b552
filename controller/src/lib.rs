//! The controller library: store, API server, auth, controllers and the built-in OCI registry. `main.rs` wires them together.

pub mod apiserver;
pub mod auth;
pub mod controllers;
pub mod gateway;
pub mod pki;
pub mod registry;
pub mod scheduler;
pub mod store;
pub mod tls;
pub mod tokens;
