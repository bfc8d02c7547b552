//! The scheduler: places pending pods on nodes (filter, then score, then bind), as
//! kube-scheduler does. `core` is the pure decision; this module's runner does the I/O.

pub mod core;
