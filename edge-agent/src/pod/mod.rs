//! Pods on the agent: the pure lifecycle of a pod ([`PodLifecycle`]: events in, actions out)
//! and the probes that feed it.
//!
//! # API
//!
//! ```text
//! PodLifecycle::new(spec, now_ms)               -> (PodLifecycle, Vec<PodAction>)
//! PodLifecycle::restore(spec, &last, now_ms)    -> Result<(PodLifecycle, Vec<PodAction>), LifecycleError>
//! lifecycle.handle(PodEvent)                    -> Result<Vec<PodAction>, LifecycleError>
//! lifecycle.next_wakeup_ms() -> Option<i64>     // send PodEvent::Tick then
//! lifecycle.status() -> PodStatusReport
//! lifecycle.set_addresses(pod_ip, host_ip) -> bool
//!
//! ContainerProber { name, instance, liveness, readiness, startup, executor: ProbeRunner::new(ip), now_ms }
//!     .run(mpsc::Sender<PodEvent>, CancellationToken).await   // one task per StartProbes
//! ```
//!
//! The pod worker owns a lifecycle, feeds it runtime, probe and timer events, and carries
//! out the returned actions; the lifecycle never does I/O.

pub mod backoff;
mod container_track;
mod event;
mod lifecycle;
mod lifecycle_events;
mod lifecycle_restore;
#[cfg(test)]
mod lifecycle_script;
pub mod probe;
pub mod status;

pub use backoff::CrashLoopBackoff;
pub use event::{PodAction, PodEvent, StopReason};
pub use lifecycle::{DEADLINE_EXCEEDED, LifecycleError, PodLifecycle};
pub use probe::{
    ContainerProber, ProbeExecutor, ProbeKind, ProbeOutcome, ProbeRunner, ProbeTracker,
    system_now_ms,
};
