//! The agent assembled: local state, runtime, images, pod supervisor, metrics and the link,
//! started in that order so that pods stored locally run again before the controller answers.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::identity::Credentials;
use crate::link::{Link, PodHost};
use crate::local_state::LocalState;
use crate::node_info::{self, NodeSettings};
use crate::status_board::StatusBoard;
use crate::supervisor::Supervisor;
use crate::wasm::{WasmRuntime, WasmRuntimeConfig};
use crate::worker::WorkerContext;
use crate::{images, metrics};

/// How the agent was started.
pub struct AgentSettings {
    pub server: String,
    pub data_dir: PathBuf,
    pub node_ip: Option<IpAddr>,
    pub labels: Vec<(String, String)>,
    pub taints: Vec<String>,
    pub max_pods: u64,
    pub metrics_addr: SocketAddr,
    pub hostname: String,
    /// How long one request of a Wasm HTTP service may run.
    pub wasm_request_timeout: std::time::Duration,
}

/// Errors of starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    State(#[from] crate::local_state::StateError),
    #[error("cannot start the Wasm runtime: {0}")]
    Runtime(#[from] crate::wasm::WasmError),
    #[error("cannot set up the image store: {0}")]
    Images(String),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running agent.
pub struct Agent {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// Starts everything; pods stored from an earlier run start at once.
    pub async fn start(
        settings: AgentSettings,
        credentials: Arc<Credentials>,
    ) -> Result<Agent, AgentError> {
        let data = &settings.data_dir;
        for dir in ["pods", "volumes", "wasm-cache"] {
            let path = data.join(dir);
            std::fs::create_dir_all(&path).map_err(|source| AgentError::Dir { path, source })?;
        }
        let state = Arc::new(LocalState::open(&data.join("agent.redb"))?);
        let board = Arc::new(StatusBoard::with(state.statuses()?));
        let mut wasm_config = WasmRuntimeConfig::new(data.join("wasm-cache"));
        wasm_config.request_timeout = settings.wasm_request_timeout;
        let runtime = WasmRuntime::new(wasm_config)?;
        let images =
            images::source(data, &settings.server, &credentials).map_err(AgentError::Images)?;
        let node = node_info::collect(&NodeSettings {
            hostname: settings.hostname.clone(),
            labels: settings.labels.clone(),
            taints: settings.taints.clone(),
            node_ip: settings.node_ip,
            max_pods: settings.max_pods,
            runtimes: vec!["wasm".to_owned()],
            metrics_port: settings.metrics_addr.port(),
            reserved_memory: 0,
            data_dir: data.clone(),
        });
        let node_ip = node
            .addresses
            .iter()
            .find(|(kind, _)| kind == "InternalIP")
            .and_then(|(_, ip)| ip.parse().ok())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let shutdown = CancellationToken::new();
        let ctx = Arc::new(WorkerContext {
            runtime,
            images,
            board: board.clone(),
            state: state.clone(),
            pods_dir: data.join("pods"),
            volumes_dir: data.join("volumes"),
            node_ip,
        });
        let (supervisor, supervisor_task) = Supervisor::start(ctx, shutdown.clone());
        let (_, stored) = state.desired()?;
        if !stored.is_empty() {
            tracing::info!(pods = stored.len(), "starting the pods stored locally");
        }
        supervisor.desired_changed(&stored);

        let metrics_listener = tokio::net::TcpListener::bind(settings.metrics_addr)
            .await
            .map_err(|source| AgentError::Metrics {
                addr: settings.metrics_addr,
                source,
            })?;
        let metrics_task = tokio::spawn(metrics::serve(
            metrics_listener,
            supervisor.clone(),
            board.clone(),
            shutdown.clone(),
        ));
        let link = Link {
            server: settings.server.clone(),
            credentials: (*credentials).clone(),
            node,
            state,
            board,
            host: supervisor,
        };
        let link_task = tokio::spawn(link.run(shutdown.clone()));
        tracing::info!(node = %credentials.node_name, server = %settings.server, "edge-agent started");
        Ok(Agent {
            shutdown,
            tasks: vec![metrics_task, link_task, supervisor_task],
        })
    }

    /// Stops the link and every pod.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        futures::future::join_all(self.tasks).await;
    }
}
