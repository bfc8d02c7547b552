//! The scheduler: places pending pods on nodes (filter, then score, then bind), as
//! kube-scheduler does. `core` is the pure decision, `queue` the pure scheduling queue, and
//! `runner` the I/O around them (watches, binds, conditions, Events).

pub mod core;
pub mod queue;
pub mod runner;

pub use runner::{SCHEDULER_NAME, SchedulerOptions, run};
