//! The Raft RPC server: `/internal/raft/*` routes that other controllers call.
//!
//! The API server mounts [`Store::router`] behind an authentication check that only admits other
//! controllers. Bodies are versioned postcard (see `wire`); a body that cannot be decoded gets
//! HTTP 400, and a store that is shutting down answers 503 so that peers back off and retry.

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::TypeConfig;
use super::command::Command;
use super::store_open::Store;
use super::wire::{
    self, AddVoterRequest, MembershipReply, PATH_ADD_VOTER, PATH_APPEND, PATH_PROPOSE,
    PATH_READ_INDEX, PATH_REMOVE_MEMBER, PATH_SNAPSHOT, PATH_VOTE, ProposeReply, ReadIndexReply,
    RemoveMemberRequest,
};

/// Largest accepted body: a batch of log entries or one snapshot chunk (1 MiB) with headroom.
const MAX_BODY: usize = 64 * 1024 * 1024;

impl Store {
    /// The `/internal/raft/*` routes (append, vote, snapshot, propose, read-index, add-voter,
    /// remove-member).
    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH_APPEND, post(append))
            .route(PATH_VOTE, post(vote))
            .route(PATH_SNAPSHOT, post(snapshot))
            .route(PATH_PROPOSE, post(propose))
            .route(PATH_READ_INDEX, post(read_index))
            .route(PATH_ADD_VOTER, post(add_voter))
            .route(PATH_REMOVE_MEMBER, post(remove_member))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(self.clone())
    }
}

/// Decodes the body, runs `handler` and encodes its reply.
async fn serve<Req, Resp, F, Fut>(store: &Store, body: &[u8], handler: F) -> Response
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: FnOnce(Req) -> Fut,
    Fut: Future<Output = Resp>,
{
    if store.check_running().is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "store is shutting down").into_response();
    }
    let req = match wire::decode::<Req>(body) {
        Ok(req) => req,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let reply = handler(req).await;
    match wire::encode(&reply) {
        Ok(bytes) => ([(header::CONTENT_TYPE, wire::CONTENT_TYPE)], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn append(State(store): State<Store>, body: Bytes) -> Response {
    serve(&store, &body, |req: AppendEntriesRequest<TypeConfig>| {
        store.inner.raft.append_entries(req)
    })
    .await
}

async fn vote(State(store): State<Store>, body: Bytes) -> Response {
    serve(&store, &body, |req: VoteRequest<u64>| {
        store.inner.raft.vote(req)
    })
    .await
}

async fn snapshot(State(store): State<Store>, body: Bytes) -> Response {
    serve(&store, &body, |req: InstallSnapshotRequest<TypeConfig>| {
        store.inner.raft.install_snapshot(req)
    })
    .await
}

async fn propose(State(store): State<Store>, body: Bytes) -> Response {
    let s = store.clone();
    serve(&store, &body, move |cmd: Command| async move {
        let reply: ProposeReply = s.serve_forwarded(s.propose_local(cmd)).await;
        reply
    })
    .await
}

async fn read_index(State(store): State<Store>, body: Bytes) -> Response {
    let s = store.clone();
    serve(&store, &body, move |(): ()| async move {
        let reply: ReadIndexReply = s.serve_forwarded(s.read_index_local()).await;
        reply
    })
    .await
}

async fn add_voter(State(store): State<Store>, body: Bytes) -> Response {
    let s = store.clone();
    serve(&store, &body, move |req: AddVoterRequest| async move {
        let reply: MembershipReply = s
            .serve_forwarded(s.add_voter_local(req.node_id, req.addr))
            .await;
        reply
    })
    .await
}

async fn remove_member(State(store): State<Store>, body: Bytes) -> Response {
    let s = store.clone();
    serve(&store, &body, move |req: RemoveMemberRequest| async move {
        let reply: MembershipReply = s.serve_forwarded(s.remove_member_local(req.node_id)).await;
        reply
    })
    .await
}
