//! What the caller says about a container to start, and what it gets back about it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One Wasm container of a pod, resolved by the pod worker: env and config values already
/// taken from ConfigMaps and Secrets, volumes already mounted on the host.
#[derive(Debug, Clone, Default)]
pub struct WasmContainerSpec {
    /// The container's name; the guest sees it as `argv[0]`.
    pub name: String,
    /// The container's `args`, after `argv[0]`.
    pub args: Vec<String>,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// The values `wasi:config/store` serves.
    pub config: BTreeMap<String, String>,
    /// The pod's directory for `wasi:keyvalue`: `keyvalue.redb` in it is created on first use
    /// and survives restarts of the container, the pod worker and the device.
    pub kv_dir: PathBuf,
    /// Host directories the guest sees (volumes).
    pub preopens: Vec<Preopen>,
    /// `resources.limits.memory`: the most linear memory the container's instances may hold
    /// together. Going over it ends the container with [`ExitReason::OomKilled`].
    pub memory_limit_bytes: Option<u64>,
    /// `resources.limits.cpu` in millicores: the container gets at most this share of one core,
    /// measured over 100 ms periods (as the CFS quota does for OCI containers).
    pub cpu_limit_millis: Option<u64>,
    /// Where a `wasi:http` proxy serves: the pod's IP and the container's port. Port 0 picks a
    /// free port (see [`RunningContainer::local_addr`](super::RunningContainer::local_addr)).
    /// Ignored for commands.
    pub listen: Option<SocketAddr>,
    /// Whether the guest may use `wasi:sockets` and outgoing `wasi:http`. Denied by default.
    pub allow_network: bool,
}

/// A host directory made visible to the guest.
#[derive(Debug, Clone)]
pub struct Preopen {
    pub host_path: PathBuf,
    pub guest_path: String,
    pub read_only: bool,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// A command returned or called `exit`; 0 is success.
    Exited(i32),
    /// The container needed more memory than `resources.limits.memory`.
    OomKilled,
    /// [`RunningContainer::stop`](super::RunningContainer::stop) ended it: `forced` is false
    /// when an HTTP service finished its requests within the grace period.
    Stopped { forced: bool },
    /// The guest trapped (a panic, say) or could not be instantiated or served.
    Error(String),
}

impl ExitReason {
    /// The exit code for the container status, as a Linux process would have it.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExitReason::Exited(code) => *code,
            ExitReason::Stopped { forced: false } => 0,
            // Like a process ended by SIGKILL.
            ExitReason::OomKilled | ExitReason::Stopped { forced: true } => 137,
            ExitReason::Error(_) => 1,
        }
    }

    /// The `reason` of a terminated container status, as the kubelet names it.
    pub fn reason(&self) -> &'static str {
        match self {
            ExitReason::OomKilled => "OOMKilled",
            reason if reason.exit_code() == 0 => "Completed",
            _ => "Error",
        }
    }
}

/// A running container's resource use, for `edgectl top` and the metrics API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Linear memory the container's live instances hold now.
    pub memory_bytes: u64,
    /// The most linear memory held at once since the start.
    pub peak_memory_bytes: u64,
    /// CPU time spent running the guest (and host calls it made) since the start.
    pub cpu_time: Duration,
    /// Live instances: 1 for a running command; in-flight requests for a proxy.
    pub instances: u64,
    /// Requests a proxy has been handed since the start.
    pub requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_map_to_kubelet_codes_and_reasons() {
        let cases = [
            (ExitReason::Exited(0), 0, "Completed"),
            (ExitReason::Exited(3), 3, "Error"),
            (ExitReason::OomKilled, 137, "OOMKilled"),
            (ExitReason::Stopped { forced: false }, 0, "Completed"),
            (ExitReason::Stopped { forced: true }, 137, "Error"),
            (ExitReason::Error("trap".into()), 1, "Error"),
        ];
        for (reason, code, name) in cases {
            assert_eq!(
                (reason.exit_code(), reason.reason()),
                (code, name),
                "{reason:?}"
            );
        }
    }
}
