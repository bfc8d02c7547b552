//! Proposing commands, and routing any leader-only request to the leader.
//!
//! # Group commit
//!
//! openraft 0.9 appends one log entry at a time and waits for its fsync before the next, so one
//! command per entry would cap the store at one write per fsync. The [`Proposer`] task therefore
//! puts every command that is waiting when an entry can be proposed into that one entry (a
//! [`Proposal`]); the state machine still applies them one by one, each at its own revision and
//! with its own result. Under load the entries grow by themselves (commands queue while the
//! previous entries are written); a lone command is proposed at once, so nothing waits for a
//! batch to fill.
//!
//! openraft 0.9 also appends each entry as soon as it is proposed, one after another, so the
//! proposer does not hand over the next group until the log append in progress has finished
//! (the storage signals each append): whatever arrives meanwhile shares the next entry. Without
//! this, at a steady few hundred writes per second every command became its own entry, the
//! append-apply path stayed nearly saturated, and queueing in front of it made the slowest 1%
//! of writes take 5 times the median.
//!
//! # Results
//!
//! Each entry carries a proposal id; the state machine of the node that proposed it hands the
//! results straight to the [`ProposalWaiters`] when it applies the entry (as etcd's apply loop
//! triggers its waiters). openraft's own response arrives later: its core answers client writes
//! only between log appends, so under steady load the answers for applied entries queued behind
//! a chain of appends for 10–20 ms. A request whose proposal fails before it is applied (no
//! longer the leader, no quorum in time) still learns that from openraft.
//!
//! On the leader a request runs locally; on a follower it is forwarded over HTTP. While no leader
//! is known (an election), requests wait up to [`LEADER_WAIT`]. A request is retried only when it
//! certainly did not take effect: the leader was unreachable before the request left, or the
//! receiver answered that it is not the leader without proposing anything.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use openraft::Raft;
use openraft::error::{ClientWriteError, RaftError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::TypeConfig;
use super::command::{Command, CommandResult, Proposal, ProposalResult};
use super::error::StoreError;
use super::network::{PostError, post_wire};
use super::store_open::Store;
use super::wire::{ForwardError, PATH_PROPOSE};

/// How long a request waits for a leader to be known.
pub(crate) const LEADER_WAIT: Duration = Duration::from_secs(5);
/// How long a local proposal waits for its entry to be committed and applied.
pub(crate) const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts while leadership settles.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Most commands in one log entry.
const MAX_GROUP: usize = 512;
/// A group stops growing once its commands hold this many bytes, so that one entry stays a
/// reasonable AppendEntries message for followers on slow links.
const MAX_GROUP_BYTES: usize = 2 * 1024 * 1024;
/// Entries the proposer has handed to Raft and not yet seen applied. More than one lets an entry
/// be written while earlier ones are applied and answered.
const IN_FLIGHT: usize = 8;
/// Longest wait for the append in progress before the next group goes anyway (an entry that is
/// refused, e.g. by a node that just lost leadership, is never appended).
const APPEND_WAIT: Duration = Duration::from_millis(20);

/// The result of one attempt on the leader.
pub(crate) enum Attempt<T> {
    Done(Result<T, StoreError>),
    /// The node turned out not to be the leader; nothing was done. Try again.
    NotLeader,
}

impl Store {
    /// Proposes a command to Raft and waits until it is committed and applied locally on the
    /// leader. Followers forward it to the leader.
    ///
    /// [`StoreError::Timeout`] means the outcome is unknown: the command may still be applied.
    pub async fn propose(&self, cmd: Command) -> Result<CommandResult, StoreError> {
        self.check_running()?;
        let started = Instant::now();
        let result = self
            .route_to_leader(
                PATH_PROPOSE,
                &cmd,
                COMMIT_TIMEOUT + Duration::from_secs(2),
                || self.propose_local(cmd.clone()),
            )
            .await;
        if result.is_ok() {
            self.inner.commit_latency.observe(started.elapsed());
        }
        result
    }

    /// Proposes on this node, which believes it is the leader.
    pub(crate) async fn propose_local(&self, cmd: Command) -> Attempt<CommandResult> {
        tracing::debug!(command = %cmd.describe(), "proposing");
        self.inner.proposer.propose(cmd).await
    }

    /// Runs `local` if this node is the leader, or POSTs `req` to the leader's `path` otherwise,
    /// retrying while leadership settles for up to [`LEADER_WAIT`].
    pub(crate) async fn route_to_leader<Req, T, L, Fut>(
        &self,
        path: &str,
        req: &Req,
        forward_timeout: Duration,
        local: L,
    ) -> Result<T, StoreError>
    where
        Req: Serialize,
        T: DeserializeOwned,
        L: Fn() -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            self.check_running()?;
            let (leader_id, leader_addr) = self.wait_for_leader(deadline).await?;
            let attempt = if leader_id == self.inner.id {
                local().await
            } else {
                self.forward(&leader_addr, path, req, forward_timeout).await
            };
            match attempt {
                Attempt::Done(result) => return result,
                Attempt::NotLeader if Instant::now() >= deadline => {
                    return Err(StoreError::NoLeader);
                }
                Attempt::NotLeader => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
    }

    async fn forward<Req, T>(
        &self,
        leader_addr: &str,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Attempt<T>
    where
        Req: Serialize,
        T: DeserializeOwned,
    {
        let reply = post_wire::<Req, Result<T, ForwardError>>(
            &self.inner.client,
            leader_addr,
            path,
            req,
            timeout,
        )
        .await;
        match reply {
            Ok(Ok(value)) => Attempt::Done(Ok(value)),
            Ok(Err(ForwardError::NoLeader)) => Attempt::NotLeader,
            Ok(Err(e)) => match e.into_store_error(leader_addr) {
                Some(e) => Attempt::Done(Err(e)),
                None => Attempt::NotLeader,
            },
            // The request never reached the old leader (it is probably down); wait for the
            // election to name a new one.
            Err(PostError::Unreachable(message)) => {
                tracing::debug!(%message, "leader unreachable, retrying");
                Attempt::NotLeader
            }
            Err(PostError::Failed(message)) => Attempt::Done(Err(StoreError::Unavailable(message))),
        }
    }

    /// Waits until some leader is known, or the deadline passes.
    async fn wait_for_leader(&self, deadline: Instant) -> Result<(u64, String), StoreError> {
        loop {
            if let Some(leader) = self.leader() {
                return Ok(leader);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(StoreError::NoLeader);
            }
            let _ = self
                .inner
                .raft
                .wait(Some(remaining.min(RETRY_PAUSE * 5)))
                .metrics(|m| m.current_leader.is_some(), "a leader is known")
                .await;
        }
    }

    /// Serves a request forwarded by a follower: runs it only if this node is the leader, and
    /// never forwards it again (which could loop while leadership moves).
    pub(crate) async fn serve_forwarded<T, Fut>(&self, local: Fut) -> Result<T, ForwardError>
    where
        Fut: Future<Output = Attempt<T>>,
    {
        if self.check_running().is_err() || !self.is_leader() {
            return Err(ForwardError::NotLeader);
        }
        match local.await {
            Attempt::Done(result) => result.map_err(ForwardError::from),
            Attempt::NotLeader => Err(ForwardError::NotLeader),
        }
    }
}

/// A command waiting to be proposed, and where its outcome goes.
type Pending = (Command, oneshot::Sender<Attempt<CommandResult>>);

/// Sends commands to the [`Proposer`] task.
pub(crate) struct ProposerHandle {
    tx: mpsc::UnboundedSender<Pending>,
}

impl ProposerHandle {
    async fn propose(&self, cmd: Command) -> Attempt<CommandResult> {
        let (reply, outcome) = oneshot::channel();
        if self.tx.send((cmd, reply)).is_err() {
            return Attempt::Done(Err(StoreError::fatal("the store is shut down")));
        }
        outcome
            .await
            .unwrap_or_else(|_| Attempt::Done(Err(StoreError::fatal("the store is shut down"))))
    }
}

/// Requests waiting for their proposals to be applied on this node (see the module docs).
pub(crate) struct ProposalWaiters {
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<ProposalResult>>>,
}

impl ProposalWaiters {
    pub(crate) fn new() -> Self {
        // A random start keeps this process's ids apart from those of entries proposed before a
        // restart, which may be applied again.
        Self {
            next_id: AtomicU64::new(rand::random()),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    fn register(&self) -> (u64, oneshot::Receiver<ProposalResult>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        (id, rx)
    }

    fn forget(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Hands the results of proposal `id` to its waiter, or gives them back when nobody here
    /// waits for them (another node proposed it, or its request gave up).
    pub(crate) fn deliver(&self, id: u64, results: ProposalResult) -> Option<ProposalResult> {
        let waiter = self.lock().remove(&id);
        match waiter {
            Some(waiter) => waiter.send(results).err(),
            None => Some(results),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<ProposalResult>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The group-commit task (see the module docs). It ends when the last [`ProposerHandle`] is
/// dropped.
pub(crate) struct Proposer {
    raft: Raft<TypeConfig>,
    rx: mpsc::UnboundedReceiver<Pending>,
    /// Signalled by the storage after each log append.
    appended: Arc<Notify>,
    waiters: Arc<ProposalWaiters>,
}

impl Proposer {
    pub(crate) fn start(
        raft: Raft<TypeConfig>,
        appended: Arc<Notify>,
        waiters: Arc<ProposalWaiters>,
    ) -> ProposerHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(
            Proposer {
                raft,
                rx,
                appended,
                waiters,
            }
            .run(),
        );
        ProposerHandle { tx }
    }

    async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        while let Some(first) = self.rx.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            // Everything that queued up while the slots were busy joins this entry.
            let mut bytes = command_bytes(&first.0);
            let mut group = vec![first];
            while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
                let Ok(next) = self.rx.try_recv() else { break };
                bytes += command_bytes(&next.0);
                group.push(next);
            }
            let raft = self.raft.clone();
            let waiters = self.waiters.clone();
            tokio::spawn(async move {
                write_group(&raft, &waiters, group).await;
                drop(slot);
            });
            // (A signal left over from an earlier append lets one more group through at once:
            // then at most two entries wait for the log, which is fine.)
            let _ = tokio::time::timeout(APPEND_WAIT, self.appended.notified()).await;
        }
    }
}

/// Proposes one group as one entry and answers each of its commands.
async fn write_group(raft: &Raft<TypeConfig>, waiters: &ProposalWaiters, group: Vec<Pending>) {
    let (cmds, replies): (Vec<Command>, Vec<_>) = group.into_iter().unzip();
    let count = cmds.len();
    let answer_all = |replies: Vec<oneshot::Sender<Attempt<CommandResult>>>,
                      attempt: &dyn Fn() -> Attempt<CommandResult>| {
        for reply in replies {
            let _ = reply.send(attempt());
        }
    };
    let (id, mut applied) = waiters.register();
    let written = tokio::time::timeout(COMMIT_TIMEOUT, async {
        let write = raft.client_write(Proposal { id, cmds });
        tokio::select! {
            biased;
            Ok(results) = &mut applied => Ok(results),
            written = write => written.map(|response| response.data),
        }
    })
    .await;
    waiters.forget(id);
    // The state machine hands the results to whichever side waits for them: to `applied`, or
    // (when nobody waits any more) back to openraft's response. Seen under load: the response
    // won the race with the results already in `applied`; take them from there.
    let written = match written {
        Ok(Ok(data)) if data.len() != count => match applied.try_recv() {
            Ok(results) => Ok(Ok(results)),
            Err(_) => Ok(Ok(data)),
        },
        other => other,
    };
    match written {
        Ok(Ok(data)) if data.len() == count => {
            for (reply, result) in replies.into_iter().zip(data) {
                let _ = reply.send(Attempt::Done(Ok(result)));
            }
        }
        Ok(Ok(data)) => {
            let message = format!(
                "the state machine answered {} results for {count} commands",
                data.len()
            );
            answer_all(replies, &|| {
                Attempt::Done(Err(StoreError::Fatal(message.clone())))
            });
        }
        Err(_) => answer_all(replies, &|| {
            Attempt::Done(Err(StoreError::Timeout(
                "the proposal was not committed in time (no quorum?)".to_owned(),
            )))
        }),
        // Leadership moved before the entry was accepted. (If it moved after the entry was
        // appended, the entry may still commit under the next leader; a retried command then
        // meets its own effect, e.g. `AlreadyExists`.)
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
            answer_all(replies, &|| Attempt::NotLeader);
        }
        Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
            answer_all(replies, &|| {
                Attempt::Done(Err(StoreError::Invalid(e.to_string())))
            });
        }
        Ok(Err(RaftError::Fatal(e))) => {
            answer_all(replies, &|| Attempt::Done(Err(StoreError::fatal(&e))));
        }
    }
}

/// Roughly how many bytes a command adds to a log entry.
fn command_bytes(cmd: &Command) -> usize {
    match cmd {
        Command::Create { key, object } | Command::Update { key, object, .. } => {
            key.len() + object.len()
        }
        Command::Delete { key, .. } => key.len(),
        Command::Batch(cmds) => cmds.iter().map(command_bytes).sum(),
    }
}
