//! The agent's end of the controller link: connect, hello, follow the desired state, report
//! status and heartbeats, serve the controller's log and port-forward streams, and reconnect
//! with jittered exponential backoff when the link drops.
//!
//! The desired state is stored locally before it is acknowledged, and the pods keep running
//! whatever happens to the link (offline autonomy).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_wire::link::{
    self, AgentMessage, ControllerMessage, FrameError, Hello, NodeInfo, NodeStatusReport,
    PROTOCOL_VERSION, PodRunSpec, StreamRequest,
};
use futures::future::BoxFuture;
use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::identity::{self, Credentials};
use crate::local_state::LocalState;
use crate::status_board::StatusBoard;

/// First reconnect delay; doubles up to [`BACKOFF_MAX`], with full jitter.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A session that lasted this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(30);
/// How long connecting and the hello exchange may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the link needs from the rest of the agent.
pub trait PodHost: Send + Sync + 'static {
    /// The whole desired state changed to `pods` (by uid).
    fn desired_changed(&self, pods: &BTreeMap<String, PodRunSpec>);
    /// The claims whose local volumes this node keeps changed to `keep` (by uid).
    fn claims_changed(&self, keep: Vec<String>);
    /// Usage and pressure for the next heartbeat.
    fn node_status(&self) -> NodeStatusReport;
    /// Serves a stream the controller opened (logs, port-forward); the request has been read.
    fn serve_stream(
        self: Arc<Self>,
        request: StreamRequest,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) -> BoxFuture<'static, ()>;
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the controller refused the session: {0}")]
    Refused(String),
    #[error("link lost: {0}")]
    Lost(String),
}

/// The link's fixed inputs.
pub struct Link {
    pub server: String,
    pub credentials: Credentials,
    pub node: NodeInfo,
    pub state: Arc<LocalState>,
    pub board: Arc<StatusBoard>,
    pub host: Arc<dyn PodHost>,
}

impl Link {
    /// Keeps a session with the controller until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let config = match self.credentials.client_config() {
            Ok(config) => config,
            Err(err) => return tracing::error!("cannot set up the link: {err}"),
        };
        let mut desired = match self.state.desired() {
            Ok((_, pods)) => pods,
            Err(err) => {
                tracing::error!("cannot read the stored desired state: {err}");
                BTreeMap::new()
            }
        };
        let mut endpoint: Option<quinn::Endpoint> = None;
        let mut delay = BACKOFF_START;
        loop {
            let started = Instant::now();
            let result = async {
                let (addr, host) = identity::resolve(&self.server)
                    .await
                    .map_err(|e| SessionError::Connect(e.to_string()))?;
                let endpoint = match &endpoint {
                    Some(e) => e.clone(),
                    None => {
                        let e = identity::client_endpoint(addr)
                            .map_err(|e| SessionError::Connect(e.to_string()))?;
                        endpoint = Some(e.clone());
                        e
                    }
                };
                self.session(&endpoint, &config, addr, &host, &mut desired, &shutdown)
                    .await
            }
            .await;
            match result {
                Ok(()) => return,
                Err(err) => {
                    if started.elapsed() >= STABLE_SESSION {
                        delay = BACKOFF_START;
                    }
                    match &err {
                        SessionError::Refused(_) => tracing::error!("{err}"),
                        _ => tracing::warn!("{err}; pods keep running, reconnecting"),
                    }
                }
            }
            let pause = rand::thread_rng().gen_range(Duration::ZERO..=delay);
            delay = (delay * 2).min(BACKOFF_MAX);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One session; `Ok` only on shutdown.
    async fn session(
        &self,
        endpoint: &quinn::Endpoint,
        config: &quinn::ClientConfig,
        addr: SocketAddr,
        host: &str,
        desired: &mut BTreeMap<String, PodRunSpec>,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionError> {
        let connect = async {
            let conn = endpoint
                .connect_with(config.clone(), addr, host)
                .map_err(|e| SessionError::Connect(e.to_string()))?
                .await
                .map_err(|e| SessionError::Connect(e.to_string()))?;
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| SessionError::Connect(e.to_string()))?;
            let hello = AgentMessage::Hello(Box::new(Hello {
                protocol: PROTOCOL_VERSION,
                node: self.node.clone(),
                pods: self.board.all(),
            }));
            write(&mut send, &hello).await?;
            match link::read_frame::<ControllerMessage, _>(&mut recv).await {
                Ok(ControllerMessage::Welcome(welcome)) => Ok((conn, send, recv, welcome)),
                Ok(ControllerMessage::Refused { message }) => Err(SessionError::Refused(message)),
                Ok(other) => Err(SessionError::Lost(format!(
                    "expected a welcome, got {}",
                    message_name(&other)
                ))),
                Err(err) => Err(SessionError::Connect(err.to_string())),
            }
        };
        let (conn, mut send, recv, welcome) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            connected = tokio::time::timeout(CONNECT_TIMEOUT, connect) => connected
                .map_err(|_| SessionError::Connect("no welcome within 10s".to_owned()))??,
        };
        tracing::info!(server = %self.server, "connected to the controller");
        let (frames_tx, mut frames) = mpsc::channel(16);
        let reader = tokio::spawn(read_frames(recv, frames_tx));
        let period = Duration::from_millis(welcome.heartbeat_ms.max(1000));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let result = loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    conn.close(0u32.into(), b"agent shutting down");
                    break Ok(());
                }
                frame = frames.recv() => match frame {
                    Some(Ok(message)) => {
                        if let Err(err) = self.on_message(message, desired, &mut send).await {
                            break Err(err);
                        }
                    }
                    Some(Err(FrameError::Closed)) | None => {
                        break Err(SessionError::Lost(close_reason(&conn)));
                    }
                    Some(Err(err)) => break Err(SessionError::Lost(err.to_string())),
                },
                _ = self.board.changed() => {
                    let changed = self.board.take_changed();
                    if !changed.is_empty()
                        && let Err(err) = write(&mut send, &AgentMessage::PodStatus(changed)).await
                    {
                        break Err(err);
                    }
                }
                _ = heartbeat.tick() => {
                    let status = AgentMessage::NodeStatus(self.host.node_status());
                    if let Err(err) = write(&mut send, &status).await {
                        break Err(err);
                    }
                }
                stream = conn.accept_bi() => match stream {
                    Ok((send, recv)) => self.accept_stream(send, recv),
                    Err(err) => break Err(SessionError::Lost(err.to_string())),
                },
            }
        };
        reader.abort();
        result
    }

    async fn on_message(
        &self,
        message: ControllerMessage,
        desired: &mut BTreeMap<String, PodRunSpec>,
        send: &mut quinn::SendStream,
    ) -> Result<(), SessionError> {
        let (revision, upserts, removals, replace_all) = match message {
            ControllerMessage::Snapshot { revision, pods } => (revision, pods, Vec::new(), true),
            ControllerMessage::Delta {
                revision,
                upserts,
                removals,
            } => (revision, upserts, removals, false),
            ControllerMessage::Refused { message } => return Err(SessionError::Refused(message)),
            ControllerMessage::Welcome(_) => return Ok(()),
            ControllerMessage::Claims { keep } => {
                self.host.claims_changed(keep);
                return Ok(());
            }
        };
        if replace_all {
            desired.clear();
        }
        for uid in &removals {
            desired.remove(uid);
        }
        for spec in &upserts {
            desired.insert(spec.uid.clone(), spec.clone());
        }
        if let Err(err) = self.state.apply(revision, &upserts, &removals, replace_all) {
            // The pods still follow the controller; only a restart while offline would miss this.
            tracing::error!("cannot store the desired state: {err}");
        }
        self.host.desired_changed(desired);
        write(send, &AgentMessage::Ack { revision }).await
    }

    fn accept_stream(&self, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
        let host = self.host.clone();
        tokio::spawn(async move {
            match link::read_frame::<StreamRequest, _>(&mut recv).await {
                Ok(request) => host.serve_stream(request, send, recv).await,
                Err(err) => {
                    tracing::debug!("bad stream request: {err}");
                    let _ = send.reset(1u32.into());
                }
            }
        });
    }
}

async fn read_frames(
    mut recv: quinn::RecvStream,
    out: mpsc::Sender<Result<ControllerMessage, FrameError>>,
) {
    loop {
        let frame = link::read_frame(&mut recv).await;
        let end = frame.is_err();
        if out.send(frame).await.is_err() || end {
            return;
        }
    }
}

async fn write(send: &mut quinn::SendStream, message: &AgentMessage) -> Result<(), SessionError> {
    link::write_frame(send, message)
        .await
        .map_err(|e| SessionError::Lost(e.to_string()))
}

fn close_reason(conn: &quinn::Connection) -> String {
    match conn.close_reason() {
        Some(reason) => reason.to_string(),
        None => "the controller closed the control stream".to_owned(),
    }
}

fn message_name(message: &ControllerMessage) -> &'static str {
    match message {
        ControllerMessage::Welcome(_) => "welcome",
        ControllerMessage::Snapshot { .. } => "snapshot",
        ControllerMessage::Delta { .. } => "delta",
        ControllerMessage::Refused { .. } => "refusal",
        ControllerMessage::Claims { .. } => "claims",
    }
}
