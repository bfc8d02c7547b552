//! The controller library: store, API server, auth and controllers. `main.rs` wires them together.

pub mod apiserver;
pub mod auth;
pub mod controllers;
pub mod pki;
pub mod store;
pub mod tls;
pub mod tokens;
