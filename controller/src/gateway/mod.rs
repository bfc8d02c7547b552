//! The agent gateway: the controller's end of the QUIC agent link (UDP, on the API port).
//!
//! An unauthenticated connection may only join ([`join`]); a connection with a node certificate
//! runs a [`session`]: the gateway registers the node, sends it the run specs of the pods bound
//! to it ([`desired`], converted by [`run_spec`]), and writes the status it reports back through
//! the API as that node ([`status_writer`], [`pod_status`], [`node_object`]). The gateway runs on
//! every controller: it reads from the local store and writes through [`Api`], so an agent may
//! connect to any controller of the cluster.

pub mod desired;
mod join;
pub mod node_object;
pub mod pod_status;
pub mod run_spec;
mod session;
mod status_writer;
pub mod usage;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge_api::resource::{self, ResourceInfo};
use edge_wire::link::{Hello, NodeStatusReport};
use rustls_pki_types::CertificateDer;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::apiserver::Api;
use crate::apiserver::api_write::{Part, WriteOptions};
use crate::auth::{Identity, NODE_LEASE_NAMESPACE};
use crate::pki::ClusterPki;
use desired::DesiredState;

/// How long a QUIC handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of a node or lease write that keeps meeting concurrent changes.
const CONFLICT_ATTEMPTS: usize = 5;
/// The node's status is written at least this often even when nothing changed (its
/// `lastHeartbeatTime`); the lease carries liveness in between.
const NODE_STATUS_REFRESH: Duration = Duration::from_secs(60);

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// How often agents send node status (and so renew their lease).
    pub heartbeat: Duration,
    /// How long a node may stay silent before it counts as gone (`leaseDurationSeconds`, and
    /// the node lifecycle's grace period).
    pub node_grace: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            heartbeat: Duration::from_secs(10),
            node_grace: Duration::from_secs(40),
        }
    }
}

/// The agent gateway of one controller.
pub struct AgentGateway {
    api: Api,
    pki: Arc<ClusterPki>,
    options: GatewayOptions,
    desired: DesiredState,
    sessions: Mutex<HashMap<String, (u64, quinn::Connection)>>,
    next_session: AtomicU64,
    /// When each node's status was last written, and the last report (for its conditions).
    node_status: Mutex<HashMap<String, (Instant, NodeStatusReport)>>,
    /// The latest usage of each connected node, for `top`.
    usage: usage::UsageBoard,
}

impl AgentGateway {
    pub fn new(api: Api, pki: Arc<ClusterPki>, options: GatewayOptions) -> Arc<AgentGateway> {
        Arc::new(AgentGateway {
            api,
            pki,
            options,
            desired: DesiredState::default(),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            node_status: Mutex::new(HashMap::new()),
            usage: usage::UsageBoard::default(),
        })
    }

    /// The UDP endpoint agents connect to, on the API's address.
    pub fn endpoint(
        addr: SocketAddr,
        tls: rustls::ServerConfig,
    ) -> Result<quinn::Endpoint, std::io::Error> {
        let config = edge_wire::link::server_config(tls)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        quinn::Endpoint::server(config, addr)
    }

    /// Accepts agents on `endpoint` until `shutdown`.
    pub async fn serve(self: Arc<Self>, endpoint: quinn::Endpoint, shutdown: CancellationToken) {
        let hub = tokio::spawn(desired::run(
            self.api.store().clone(),
            self.desired.clone(),
            shutdown.clone(),
        ));
        loop {
            let incoming = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                incoming = endpoint.accept() => incoming,
            };
            let Some(incoming) = incoming else { break };
            let gateway = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { gateway.accept(incoming, shutdown).await });
        }
        endpoint.close(0u32.into(), b"controller shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        let _ = hub.await;
    }

    /// The connection of `node`'s agent, if it is connected to this controller.
    pub fn connection(&self, node: &str) -> Option<quinn::Connection> {
        lock(&self.sessions).get(node).map(|(_, conn)| conn.clone())
    }

    /// The latest usage of the nodes connected to this controller, for `top`.
    pub fn usage(&self) -> &usage::UsageBoard {
        &self.usage
    }

    async fn accept(self: Arc<Self>, incoming: quinn::Incoming, shutdown: CancellationToken) {
        let connecting = match incoming.accept() {
            Ok(connecting) => connecting,
            Err(err) => return tracing::debug!("agent handshake refused: {err}"),
        };
        let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return tracing::debug!("agent handshake failed: {err}"),
            Err(_) => return tracing::debug!("agent handshake timed out"),
        };
        match peer_identity(&conn) {
            None => join::serve(&self, conn).await,
            Some(Ok(identity)) => match identity.node_name() {
                Some(node) => {
                    let node = node.to_owned();
                    session::run(self.clone(), conn, node, shutdown).await;
                }
                None => conn.close(
                    5u32.into(),
                    b"only node certificates may open an agent session",
                ),
            },
            Some(Err(err)) => {
                tracing::debug!("agent certificate refused: {err}");
                conn.close(5u32.into(), b"unusable client certificate");
            }
        }
    }

    fn is_connected(&self, node: &str) -> bool {
        lock(&self.sessions).contains_key(node)
    }

    /// Records `conn` as `node`'s session, closing an older one (the agent reconnected before
    /// the old connection timed out).
    fn attach(&self, node: &str, conn: &quinn::Connection) -> u64 {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let old = lock(&self.sessions).insert(node.to_owned(), (id, conn.clone()));
        if let Some((_, old)) = old {
            old.close(4u32.into(), b"replaced by a newer connection of this node");
        }
        id
    }

    /// Ends session `id` of `node`, and forgets the node's usage, unless a newer session of the
    /// node replaced it.
    fn detach(&self, node: &str, id: u64) {
        let mut sessions = lock(&self.sessions);
        if sessions
            .get(node)
            .is_some_and(|(current, _)| *current == id)
        {
            sessions.remove(node);
            self.usage.forget(node);
        }
    }

    /// Creates or updates the Node object from the agent's hello, marks it Ready and renews its
    /// lease.
    async fn register_node(&self, node: &str, hello: &Hello) -> Result<(), String> {
        let nodes = info("", "nodes")?;
        for _ in 0..CONFLICT_ATTEMPTS {
            let existing = match self.api.current_local(nodes, None, node) {
                Ok(current) => Some(current),
                Err(err) if err.code() == 404 => None,
                Err(err) => return Err(err.0.message.clone()),
            };
            let now = jiff::Timestamp::now();
            let wanted = node_object::node_object(
                node,
                &hello.node,
                existing.as_ref().map(|c| &c.object),
                now,
            );
            let written = match &existing {
                None => {
                    self.api
                        .create(nodes, None, wanted.clone(), WriteOptions::default())
                        .await
                }
                Some(current)
                    if current.object.pointer("/metadata/labels")
                        == wanted.pointer("/metadata/labels")
                        && current.object.get("spec") == wanted.get("spec") =>
                {
                    Ok(current.object.clone())
                }
                Some(current) => {
                    let mut update = wanted.clone();
                    update["metadata"]["resourceVersion"] =
                        Value::String(current.revision.to_string());
                    self.api
                        .update(
                            nodes,
                            None,
                            node,
                            update,
                            Part::Main,
                            WriteOptions::default(),
                        )
                        .await
                }
            };
            let stored = match written {
                Ok(stored) => stored,
                Err(err) if err.code() == 409 => continue,
                Err(err) => return Err(err.0.message.clone()),
            };
            let mut with_status = stored;
            with_status["status"] = wanted["status"].clone();
            match self
                .api
                .update(
                    nodes,
                    None,
                    node,
                    with_status,
                    Part::Status,
                    WriteOptions::default(),
                )
                .await
            {
                Ok(_) => {}
                Err(err) if err.code() == 409 => continue,
                Err(err) => return Err(err.0.message.clone()),
            }
            lock(&self.node_status).insert(
                node.to_owned(),
                (Instant::now(), NodeStatusReport::default()),
            );
            return self.renew_lease(node).await;
        }
        Err(format!("node {node} kept changing during registration"))
    }

    /// A heartbeat: renews the lease, and writes the node's status when it changed or has not
    /// been written for a while.
    async fn heartbeat(&self, node: &str, report: NodeStatusReport) -> Result<(), String> {
        self.usage.record(node, &report, self.options.heartbeat);
        self.renew_lease(node).await?;
        let due = {
            let mut status = lock(&self.node_status);
            let entry = status
                .entry(node.to_owned())
                .or_insert_with(|| (Instant::now(), NodeStatusReport::default()));
            let changed = entry.1.memory_pressure != report.memory_pressure
                || entry.1.disk_pressure != report.disk_pressure;
            let due = changed || entry.0.elapsed() >= NODE_STATUS_REFRESH;
            if due {
                entry.0 = Instant::now();
            }
            entry.1 = report.clone();
            due
        };
        if !due {
            return Ok(());
        }
        let nodes = info("", "nodes")?;
        for _ in 0..CONFLICT_ATTEMPTS {
            let current = self
                .api
                .current_local(nodes, None, node)
                .map_err(|e| e.0.message.clone())?;
            let mut updated =
                node_object::apply_node_status(&current.object, &report, jiff::Timestamp::now());
            updated["metadata"]["resourceVersion"] = Value::String(current.revision.to_string());
            match self
                .api
                .update(
                    nodes,
                    None,
                    node,
                    updated,
                    Part::Status,
                    WriteOptions::default(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if err.code() == 409 => continue,
                Err(err) => return Err(err.0.message.clone()),
            }
        }
        Err(format!("node {node} kept changing"))
    }

    /// Renews (or creates) the node's lease in `kube-node-lease`.
    async fn renew_lease(&self, node: &str) -> Result<(), String> {
        let leases = info("coordination.k8s.io", "leases")?;
        let nodes = info("", "nodes")?;
        let duration = self.options.node_grace.as_secs().max(1) as u32;
        for _ in 0..CONFLICT_ATTEMPTS {
            let node_uid = self
                .api
                .current_local(nodes, None, node)
                .map_err(|e| e.0.message.clone())?
                .object
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let fresh = node_object::node_lease(node, &node_uid, duration, jiff::Timestamp::now());
            let result = match self
                .api
                .current_local(leases, Some(NODE_LEASE_NAMESPACE), node)
            {
                Err(err) if err.code() == 404 => {
                    self.api
                        .create(
                            leases,
                            Some(NODE_LEASE_NAMESPACE),
                            fresh,
                            WriteOptions::default(),
                        )
                        .await
                }
                Err(err) => return Err(err.0.message.clone()),
                Ok(current) => {
                    let mut lease = current.object;
                    lease["spec"] = fresh["spec"].clone();
                    lease["metadata"]["resourceVersion"] =
                        Value::String(current.revision.to_string());
                    self.api
                        .update(
                            leases,
                            Some(NODE_LEASE_NAMESPACE),
                            node,
                            lease,
                            Part::Main,
                            WriteOptions::default(),
                        )
                        .await
                }
            };
            match result {
                Ok(_) => return Ok(()),
                Err(err) if err.code() == 409 => continue,
                Err(err) => return Err(err.0.message.clone()),
            }
        }
        Err(format!("the lease of node {node} kept changing"))
    }
}

/// The identity in the client certificate of `conn`: `None` without one.
fn peer_identity(conn: &quinn::Connection) -> Option<Result<Identity, String>> {
    let any = conn.peer_identity()?;
    let chain = any.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    let leaf = chain.first()?;
    Some(Identity::from_certificate(leaf).map_err(|e| e.to_string()))
}

fn info(group: &str, plural: &str) -> Result<&'static ResourceInfo, String> {
    let version = "v1";
    resource::lookup(group, version, plural).ok_or_else(|| format!("{plural} are not registered"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked: every update is one insert.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl AgentGateway {
    /// Opens a stream to `node`'s agent for `request` and waits for the agent's answer; after an
    /// `Ok` the stream carries the request's bytes (logs, a port-forward connection).
    pub async fn open_stream(
        &self,
        node: &str,
        request: &edge_wire::link::StreamRequest,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), StreamError> {
        use edge_wire::link::StreamReply;
        let conn = self
            .connection(node)
            .ok_or_else(|| StreamError::NotConnected(node.to_owned()))?;
        let opened = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
            edge_wire::link::write_frame(&mut send, request)
                .await
                .map_err(|e| e.to_string())?;
            let reply: StreamReply = edge_wire::link::read_frame(&mut recv)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((send, recv, reply))
        };
        match tokio::time::timeout(STREAM_OPEN_TIMEOUT, opened).await {
            Err(_) => Err(StreamError::Agent(format!(
                "the agent of node {node} did not answer within {}s",
                STREAM_OPEN_TIMEOUT.as_secs()
            ))),
            Ok(Err(message)) => Err(StreamError::Agent(message)),
            Ok(Ok((_, _, StreamReply::Error { message }))) => Err(StreamError::Refused(message)),
            Ok(Ok((send, recv, StreamReply::Ok))) => Ok((send, recv)),
        }
    }
}

/// How long an agent has to accept a stream.
const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a stream to an agent could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("node {0} is not connected to this controller")]
    NotConnected(String),
    #[error("{0}")]
    Agent(String),
    /// The agent refused (no such container, port closed); its message is for the user.
    #[error("{0}")]
    Refused(String),
}
