//! The Raft RPC client: openraft's `RaftNetwork` over HTTP POSTs of postcard bodies to other
//! controllers, plus the POST helper used to forward requests to the leader.

use std::fmt::Display;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::TypeConfig;
use super::wire::{self, CONTENT_TYPE, PATH_APPEND, PATH_SNAPSHOT, PATH_VOTE};

/// Why a POST to another controller failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    /// The request certainly did not reach the peer (connection refused, DNS, TLS handshake).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The request may or may not have been processed.
    #[error("{0}")]
    Failed(String),
}

/// POSTs a versioned postcard body to `{base}{path}` and decodes the reply.
pub(crate) async fn post_wire<Req, Resp>(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    req: &Req,
    timeout: Duration,
) -> Result<Resp, PostError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let body = wire::encode(req).map_err(|e| PostError::Unreachable(e.to_string()))?;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let response = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .timeout(timeout)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() || e.is_builder() {
                PostError::Unreachable(format!("{url}: {e}"))
            } else {
                PostError::Failed(format!("{url}: {e}"))
            }
        })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| PostError::Failed(format!("{url}: reading reply: {e}")))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes);
        // The peer refused the request before acting on it (bad version, auth, unknown path).
        return Err(PostError::Unreachable(format!(
            "{url}: HTTP {status}: {text}"
        )));
    }
    wire::decode(&bytes).map_err(|e| PostError::Failed(format!("{url}: {e}")))
}

/// Creates [`PeerConnection`]s; all share one HTTP client (and its connection pool).
pub(crate) struct PeerNetworkFactory {
    client: reqwest::Client,
}

impl PeerNetworkFactory {
    pub(crate) fn new(client: reqwest::Client) -> Self {
        Self { client }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetworkFactory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerConnection {
        PeerConnection {
            client: self.client.clone(),
            target,
            node: node.clone(),
        }
    }
}

/// Raft RPCs to one peer.
pub(crate) struct PeerConnection {
    client: reqwest::Client,
    target: u64,
    node: BasicNode,
}

fn any_error(message: impl Display) -> AnyError {
    AnyError::error(message.to_string())
}

impl PeerConnection {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, BasicNode, RaftError<u64, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let reply = post_wire::<Req, Result<Resp, RaftError<u64, E>>>(
            &self.client,
            &self.node.addr,
            path,
            req,
            option.hard_ttl(),
        )
        .await;
        match reply {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                remote,
            ))),
            // openraft backs off before retrying an unreachable peer.
            Err(PostError::Unreachable(m)) => {
                Err(RPCError::Unreachable(Unreachable::new(&any_error(m))))
            }
            Err(PostError::Failed(m)) => Err(RPCError::Network(NetworkError::new(&any_error(m)))),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(PATH_APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(PATH_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(PATH_VOTE, &rpc, &option).await
    }
}
