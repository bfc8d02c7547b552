//! Cluster membership and status: adding and removing controllers, leader, members, metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};

use super::Member;
use super::error::StoreError;
use super::metrics::gauge;
use super::store_open::Store;
use super::store_propose::Attempt;
use super::wire::{AddVoterRequest, PATH_ADD_VOTER, PATH_REMOVE_MEMBER, RemoveMemberRequest};

/// How long adding a voter may take, including the new node catching up (maybe by snapshot).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

type MembershipResult = Result<
    openraft::raft::ClientWriteResponse<super::TypeConfig>,
    RaftError<u64, ClientWriteError<u64, BasicNode>>,
>;

fn membership_attempt(
    result: Result<MembershipResult, tokio::time::error::Elapsed>,
) -> Attempt<()> {
    match result {
        Err(_) => Attempt::Done(Err(StoreError::Timeout(
            "the membership change did not finish in time".to_owned(),
        ))),
        Ok(Ok(_)) => Attempt::Done(Ok(())),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Attempt::NotLeader,
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
            // Another change is in progress, or the change is not allowed.
            Attempt::Done(Err(StoreError::Unavailable(e.to_string())))
        }
        Ok(Err(RaftError::Fatal(e))) => Attempt::Done(Err(StoreError::fatal(e))),
    }
}

impl Store {
    /// Adds a controller as a voter: first as a learner, waiting until it caught up, then as a
    /// voter. Idempotent. Followers forward the request to the leader.
    pub async fn add_voter(&self, node_id: u64, advertise_url: String) -> Result<(), StoreError> {
        let req = AddVoterRequest {
            node_id,
            addr: advertise_url,
        };
        self.route_to_leader(PATH_ADD_VOTER, &req, MEMBERSHIP_TIMEOUT, || {
            self.add_voter_local(req.node_id, req.addr.clone())
        })
        .await
    }

    pub(crate) async fn add_voter_local(&self, node_id: u64, addr: String) -> Attempt<()> {
        let raft = &self.inner.raft;
        if self
            .members()
            .iter()
            .any(|m| m.id == node_id && m.voter && m.addr == addr)
        {
            return Attempt::Done(Ok(()));
        }
        tracing::info!(node_id, %addr, "adding store member as learner");
        let added = tokio::time::timeout(
            MEMBERSHIP_TIMEOUT,
            raft.add_learner(node_id, BasicNode::new(&addr), true),
        )
        .await;
        match membership_attempt(added) {
            Attempt::Done(Ok(())) => {}
            other => return other,
        }
        tracing::info!(node_id, "promoting store member to voter");
        let promoted = tokio::time::timeout(
            MEMBERSHIP_TIMEOUT,
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([node_id])), false),
        )
        .await;
        membership_attempt(promoted)
    }

    /// Removes a controller (voter or learner) from the cluster. Followers forward the request to
    /// the leader.
    pub async fn remove_member(&self, node_id: u64) -> Result<(), StoreError> {
        let req = RemoveMemberRequest { node_id };
        self.route_to_leader(PATH_REMOVE_MEMBER, &req, MEMBERSHIP_TIMEOUT, || {
            self.remove_member_local(node_id)
        })
        .await
    }

    pub(crate) async fn remove_member_local(&self, node_id: u64) -> Attempt<()> {
        let Some(member) = self.members().into_iter().find(|m| m.id == node_id) else {
            return Attempt::Done(Err(StoreError::Invalid(format!(
                "node {node_id} is not a member of the store cluster"
            ))));
        };
        let ids = BTreeSet::from([node_id]);
        let change = if member.voter {
            ChangeMembers::RemoveVoters(ids)
        } else {
            ChangeMembers::RemoveNodes(ids)
        };
        tracing::info!(node_id, voter = member.voter, "removing store member");
        let removed = tokio::time::timeout(
            MEMBERSHIP_TIMEOUT,
            self.inner.raft.change_membership(change, false),
        )
        .await;
        membership_attempt(removed)
    }

    /// Members of the cluster as this replica knows them.
    pub fn members(&self) -> Vec<Member> {
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
            })
            .collect()
    }

    /// The current leader's id and base URL, if one is known.
    pub fn leader(&self) -> Option<(u64, String)> {
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        let id = metrics.current_leader?;
        let node = metrics.membership_config.membership().get_node(&id)?;
        Some((id, node.addr.clone()))
    }

    /// Whether this replica is the leader.
    pub fn is_leader(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.inner.id)
    }

    /// Appends the store's metrics in Prometheus text format.
    pub fn write_prometheus(&self, out: &mut String) {
        let (term, leader, last_log, voters, learners) = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            let voters: BTreeMap<u64, ()> = membership.voter_ids().map(|id| (id, ())).collect();
            let learners = membership
                .nodes()
                .filter(|(id, _)| !voters.contains_key(id))
                .count();
            (
                m.current_term,
                m.current_leader,
                m.last_log_index.unwrap_or(0),
                voters.len(),
                learners,
            )
        };
        let has_leader = u64::from(leader.is_some());
        gauge(
            out,
            "edgeplane_store_raft_term",
            "Current Raft term.",
            &[("", term)],
        );
        gauge(
            out,
            "edgeplane_store_leader_id",
            "Node id of the current Raft leader (0 with has_leader=0 when none is known).",
            &[("", leader.unwrap_or(0))],
        );
        gauge(
            out,
            "edgeplane_store_has_leader",
            "Whether a Raft leader is known.",
            &[("", has_leader)],
        );
        gauge(
            out,
            "edgeplane_store_is_leader",
            "Whether this controller is the Raft leader.",
            &[("", u64::from(self.is_leader()))],
        );
        gauge(
            out,
            "edgeplane_store_last_applied_index",
            "Last Raft log index applied to the local state machine.",
            &[("", *self.inner.applied.borrow())],
        );
        gauge(
            out,
            "edgeplane_store_revision",
            "Store revision (resourceVersion) of the last change applied locally.",
            &[("", self.current_revision())],
        );
        gauge(
            out,
            "edgeplane_store_last_log_index",
            "Last Raft log index in the local log.",
            &[("", last_log)],
        );
        gauge(
            out,
            "edgeplane_store_members",
            "Members of the store cluster by role.",
            &[
                ("role=\"voter\"", voters as u64),
                ("role=\"learner\"", learners as u64),
            ],
        );
        gauge(
            out,
            "edgeplane_store_active_watchers",
            "Watchers currently subscribed to the store.",
            &[("", self.inner.hub.active() as u64)],
        );
        gauge(
            out,
            "edgeplane_store_watch_oldest_revision",
            "Oldest revision a watch can resume from (older ones get 410 Gone).",
            &[("", self.inner.hub.floor())],
        );
        self.inner.commit_latency.render(
            "edgeplane_store_commit_latency_seconds",
            "Time from proposing a command to its being applied (forwarding included).",
            out,
        );
    }
}
