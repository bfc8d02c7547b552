//! The messages of the agent link (protocol version 1).
//!
//! The controller resolves everything an agent needs into compact run specs (env from ConfigMaps
//! and Secrets, volume contents, probes, limits), so the agent never sees API objects it does not
//! need and never talks to the store. Times are Unix milliseconds.

use serde::{Deserialize, Serialize};

/// First frame of a join stream: a node without a certificate asks for one.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub protocol: u32,
    /// The bootstrap token, `abcdef.0123456789abcdef`.
    pub token: String,
    pub node_name: String,
    /// A PEM certificate signing request; its subject is ignored (the controller sets
    /// `system:node:NAME`).
    pub csr_pem: String,
}

/// The controller's answer to a [`JoinRequest`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum JoinReply {
    /// The node certificate (PEM), issued for `system:node:NAME` in group `system:nodes`.
    Accepted { cert_pem: String },
    /// A one-line reason that says what to do.
    Rejected { message: String },
}

/// What an agent sends on its control stream.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum AgentMessage {
    /// First message: who the node is and what it already runs (boxed: it is much larger than
    /// the messages that follow).
    Hello(Box<Hello>),
    /// The agent has stored the desired state of `revision` in its local database.
    Ack { revision: u64 },
    /// Changed pod statuses (only pods whose status changed since the last report).
    PodStatus(Vec<PodStatusReport>),
    /// Periodic node status; also renews the node's lease.
    NodeStatus(NodeStatusReport),
}

/// What the controller sends on a control stream.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum ControllerMessage {
    /// Answer to [`AgentMessage::Hello`].
    Welcome(Welcome),
    /// The node's whole desired state; replaces whatever the agent had.
    Snapshot {
        revision: u64,
        pods: Vec<PodRunSpec>,
    },
    /// Changes since the previous revision: pods added or changed, pods removed (by uid).
    Delta {
        revision: u64,
        upserts: Vec<PodRunSpec>,
        removals: Vec<String>,
    },
    /// The controller ends the session (node deleted, protocol too old, ...); a one-line reason.
    Refused { message: String },
    /// The uids of the PersistentVolumeClaims whose local volumes this node keeps: every claim
    /// that exists and is not pinned to another node. The agent may remove the directory of any
    /// other claim that none of its pods uses. Sent after the first snapshot and whenever the
    /// set changes (protocol 2).
    Claims { keep: Vec<String> },
}

/// The agent's hello.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hello {
    pub protocol: u32,
    pub node: NodeInfo,
    /// Current status of every pod the agent runs or ran while offline, so that status
    /// written while the controller was unreachable is reported.
    pub pods: Vec<PodStatusReport>,
}

/// The controller's welcome.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub protocol: u32,
    /// How often the agent sends [`AgentMessage::NodeStatus`].
    pub heartbeat_ms: u64,
}

/// The node as its agent describes it at connect time.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct NodeInfo {
    pub agent_version: String,
    pub hostname: String,
    /// `linux`.
    pub os: String,
    /// Kubernetes' name for the CPU architecture: `amd64`, `arm64`, `arm`.
    pub arch: String,
    /// `v7` for 32-bit ARM, empty otherwise.
    pub arch_variant: String,
    pub kernel_version: String,
    pub os_image: String,
    /// The device model where known (`node.kubernetes.io/instance-type`), e.g. a Raspberry Pi's.
    pub instance_type: Option<String>,
    pub capacity: Resources,
    pub allocatable: Resources,
    /// Extra labels from the agent's `--node-label` flags.
    pub labels: Vec<(String, String)>,
    /// Taints to register with (`--register-with-taints`), as `key=value:Effect`.
    pub taints: Vec<String>,
    /// Runtimes this agent can run: `wasm`, `oci`.
    pub runtimes: Vec<String>,
    /// `(type, address)`: `InternalIP`, `ExternalIP`, `Hostname`.
    pub addresses: Vec<(String, String)>,
    /// Where the agent serves its `/metrics`.
    pub metrics_port: u16,
}

/// Amounts of node resources.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub pods: u64,
    pub ephemeral_storage_bytes: u64,
}

/// The agent's periodic report.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct NodeStatusReport {
    /// CPU the node used over the last interval.
    pub cpu_used_millis: u64,
    pub memory_used_bytes: u64,
    pub memory_pressure: bool,
    pub disk_pressure: bool,
    /// Per-pod usage for `top pods`.
    pub pod_usage: Vec<PodUsage>,
}

/// Resource use of one pod.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct PodUsage {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub containers: Vec<ContainerUsage>,
}

/// Resource use of one container.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerUsage {
    pub name: String,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// Everything an agent needs to run one pod.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct PodRunSpec {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// The pod's `metadata.generation` this spec was made from (it changes with the spec, not
    /// with status writes).
    pub revision: u64,
    pub hostname: String,
    pub subdomain: Option<String>,
    pub restart_policy: RestartPolicy,
    pub termination_grace_secs: u64,
    pub active_deadline_secs: Option<u64>,
    pub init_containers: Vec<ContainerRunSpec>,
    pub containers: Vec<ContainerRunSpec>,
    pub volumes: Vec<VolumeSpec>,
    pub host_network: bool,
    /// Registry credentials from `imagePullSecrets`: `(registry host, username, password)`.
    pub pull_credentials: Vec<(String, String, String)>,
    /// The pod is being deleted: stop it within `termination_grace_secs` and report it
    /// terminated.
    pub deleting: bool,
}

/// `spec.restartPolicy`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

/// Which runtime runs a container.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeKind {
    /// Decided from the image: a Wasm artifact runs in wasmtime, anything else as OCI.
    #[default]
    Auto,
    Wasm,
    Oci,
}

/// `imagePullPolicy`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

/// One container, resolved.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ContainerRunSpec {
    pub name: String,
    pub image: String,
    pub runtime: RuntimeKind,
    pub pull_policy: PullPolicy,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    /// Fully resolved environment, in order (`valueFrom` and `envFrom` already applied).
    /// Wasm containers also see it through `wasi:config/store`.
    pub env: Vec<(String, String)>,
    pub ports: Vec<PortSpec>,
    pub limits: ContainerLimits,
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
    pub startup: Option<Probe>,
    pub mounts: Vec<VolumeMount>,
    pub security: SecuritySpec,
    /// Wasm: the container may open outbound sockets and make outgoing HTTP requests.
    pub allow_network: bool,
    /// Why the controller could not resolve the container's configuration (a missing ConfigMap
    /// key, say); the agent reports the container waiting with reason
    /// `CreateContainerConfigError` and this message instead of starting it.
    pub config_error: Option<String>,
}

/// A container port.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct PortSpec {
    pub name: Option<String>,
    pub container_port: u16,
    pub host_port: Option<u16>,
    /// `TCP` or `UDP`.
    pub protocol: String,
}

/// Requests and limits of one container.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerLimits {
    pub cpu_request_millis: Option<u64>,
    pub cpu_limit_millis: Option<u64>,
    pub memory_request_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
}

/// A liveness, readiness or startup probe.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub action: ProbeAction,
    pub initial_delay_secs: u32,
    pub period_secs: u32,
    pub timeout_secs: u32,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// How a probe checks a container.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    HttpGet {
        path: String,
        port: u16,
        /// `HTTP` or `HTTPS`.
        scheme: String,
        headers: Vec<(String, String)>,
    },
    TcpSocket {
        port: u16,
    },
    Exec {
        command: Vec<String>,
    },
}

/// Where a volume appears in a container.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeMount {
    pub volume: String,
    pub mount_path: String,
    pub sub_path: Option<String>,
    pub read_only: bool,
}

/// A pod volume with its source resolved.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub source: VolumeSource,
}

/// What backs a volume.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    EmptyDir {
        memory: bool,
        size_limit_bytes: Option<u64>,
    },
    HostPath {
        path: String,
        /// `spec.volumes[].hostPath.type`, empty for none.
        kind: String,
    },
    /// ConfigMap, Secret and downward API volumes: the files to write (relative path, content,
    /// mode).
    Files {
        files: Vec<VolumeFile>,
        default_mode: u32,
    },
    /// A PersistentVolumeClaim bound to a local volume on this node: the agent provisions
    /// `DATA_DIR/volumes/<claim uid>`.
    LocalClaim { claim_uid: String },
}

/// One file of a [`VolumeSource::Files`] volume.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VolumeFile {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: Option<u32>,
}

/// The parts of `securityContext` an OCI runtime honours.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct SecuritySpec {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: bool,
    pub read_only_root_filesystem: bool,
    pub privileged: bool,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
}

/// A pod's status as the agent sees it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct PodStatusReport {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub phase: PodPhase,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub pod_ip: Option<String>,
    pub host_ip: Option<String>,
    pub start_time_ms: Option<i64>,
    pub conditions: Vec<PodCondition>,
    pub init_containers: Vec<ContainerStatusReport>,
    pub containers: Vec<ContainerStatusReport>,
    /// Every container has stopped after the pod was deleted; the controller may remove the
    /// pod object.
    pub terminated: bool,
}

/// `status.phase`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    /// The phase as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

/// One entry of `status.conditions`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct PodCondition {
    /// `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`.
    pub kind: String,
    pub status: bool,
    pub last_transition_ms: i64,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// One container's status.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerStatusReport {
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub ready: bool,
    pub started: bool,
    pub restart_count: u32,
    pub state: ContainerState,
    pub last_state: Option<ContainerState>,
}

/// A container's state, as in `containerStatuses[].state`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_ms: i64,
    },
    Terminated {
        exit_code: i32,
        reason: String,
        message: Option<String>,
        started_ms: i64,
        finished_ms: i64,
    },
}

impl Default for ContainerState {
    fn default() -> Self {
        ContainerState::Waiting {
            reason: "ContainerCreating".to_owned(),
            message: None,
        }
    }
}

/// First frame of a stream the controller opens to an agent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum StreamRequest {
    /// Container logs; the agent then sends the log bytes and closes the stream (or keeps
    /// sending with `follow`).
    Logs(LogRequest),
    /// A TCP connection to `port` of the pod; bytes flow both ways until either side closes.
    PortForward { pod_uid: String, port: u16 },
}

/// What `kubectl logs` asks for.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct LogRequest {
    pub pod_uid: String,
    pub container: String,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since_ms: Option<i64>,
    pub limit_bytes: Option<u64>,
}

/// The agent's answer to a [`StreamRequest`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum StreamReply {
    Ok,
    /// A one-line reason, shown to the user.
    Error {
        message: String,
    },
}
