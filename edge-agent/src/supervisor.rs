//! The supervisor: keeps one pod worker per desired pod, serves the controller's log and
//! port-forward streams, and reports node usage. It is the link's [`PodHost`].
//!
//! Desired state arrives as a whole map (level-triggered): a reconcile task starts workers for
//! new pods, passes changed specs on, and tells workers of pods that left the map to stop and
//! clean up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge_wire::link::{
    self, ContainerState, LogRequest, NodeStatusReport, PodRunSpec, PodUsage, StreamReply,
    StreamRequest, VolumeSource,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::link::PodHost;
use crate::logs::{self, LogQuery};
use crate::worker::{self, WorkerContext, WorkerHandle, WorkerInput};

type Desired = Arc<BTreeMap<String, PodRunSpec>>;

/// How long `logs -f` of an exited container waits for output still being written.
const FOLLOW_DRAIN: Duration = Duration::from_millis(500);

/// The pods of this node.
pub struct Supervisor {
    ctx: Arc<WorkerContext>,
    desired: watch::Sender<Desired>,
    workers: Arc<Mutex<HashMap<String, Managed>>>,
    cpu: Mutex<Option<(Instant, u64, u64)>>,
    /// The claims whose volumes this node keeps, once the controller has said so: until then
    /// (offline since the start) no claim directory is removed.
    kept_claims: Mutex<Option<HashSet<String>>>,
}

struct Managed {
    handle: WorkerHandle,
    spec: PodRunSpec,
    forgotten: bool,
}

impl Supervisor {
    /// Starts the supervisor; it runs pods until `shutdown`. The task ends when every worker
    /// has stopped.
    pub fn start(
        ctx: Arc<WorkerContext>,
        shutdown: CancellationToken,
    ) -> (Arc<Supervisor>, tokio::task::JoinHandle<()>) {
        let (desired, rx) = watch::channel(Desired::default());
        let supervisor = Arc::new(Supervisor {
            ctx,
            desired,
            workers: Arc::default(),
            cpu: Mutex::new(None),
            kept_claims: Mutex::new(None),
        });
        let task = tokio::spawn(reconcile_loop(supervisor.clone(), rx, shutdown));
        (supervisor, task)
    }

    fn reconcile(&self, desired: &BTreeMap<String, PodRunSpec>, shutdown: &CancellationToken) {
        let mut workers = lock(&self.workers);
        workers.retain(|_, m| !m.handle.task.is_finished());
        for (uid, spec) in desired {
            match workers.get_mut(uid) {
                None => {
                    let restored = self.ctx.board.get(uid);
                    let handle =
                        worker::spawn(self.ctx.clone(), spec.clone(), restored, shutdown.clone());
                    workers.insert(
                        uid.clone(),
                        Managed {
                            handle,
                            spec: spec.clone(),
                            forgotten: false,
                        },
                    );
                }
                Some(managed) if managed.spec != *spec => {
                    managed.spec = spec.clone();
                    send(&managed.handle, WorkerInput::Spec(Box::new(spec.clone())));
                }
                Some(_) => {}
            }
        }
        for (uid, managed) in workers.iter_mut() {
            if !desired.contains_key(uid) && !managed.forgotten {
                managed.forgotten = true;
                send(&managed.handle, WorkerInput::Forget);
            }
        }
        // Statuses and directories left from pods that went while the agent was stopped.
        for uid in self.ctx.board.uids() {
            if !desired.contains_key(&uid) && !workers.contains_key(&uid) {
                self.ctx.board.remove(&uid);
                if let Err(err) = self.ctx.state.remove_status(&uid) {
                    tracing::warn!(pod = %uid, "cannot forget the pod's status: {err}");
                }
            }
        }
        let removed = worker::remove_dirs_except(&self.ctx.pods_dir, |uid| {
            desired.contains_key(uid) || workers.contains_key(uid)
        });
        if removed > 0 {
            tracing::info!(pods = removed, "removed the data of pods that are gone");
        }
        self.remove_released_claims(desired, &workers);
    }

    /// Removes the directories of claims the controller no longer keeps on this node (deleted,
    /// or pinned elsewhere) that no pod here uses, desired or still stopping.
    fn remove_released_claims(
        &self,
        desired: &BTreeMap<String, PodRunSpec>,
        workers: &HashMap<String, Managed>,
    ) {
        let kept = lock(&self.kept_claims);
        let Some(kept) = kept.as_ref() else { return };
        let specs = || desired.values().chain(workers.values().map(|m| &m.spec));
        let in_use: HashSet<&str> = specs()
            .flat_map(|spec| &spec.volumes)
            .filter_map(|volume| match &volume.source {
                VolumeSource::LocalClaim { claim_uid } => Some(claim_uid.as_str()),
                _ => None,
            })
            .collect();
        let removed = worker::remove_dirs_except(&self.ctx.volumes_dir, |uid| {
            kept.contains(uid) || in_use.contains(uid)
        });
        if removed > 0 {
            tracing::info!(
                claims = removed,
                "removed the volumes of claims that are gone"
            );
        }
    }

    /// Node CPU use in millicores since the last call, from `/proc/stat`.
    fn cpu_millis(&self) -> u64 {
        let Some((busy, total)) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| proc_stat_jiffies(&s))
        else {
            return 0;
        };
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1);
        let mut last = lock(&self.cpu);
        let used = match *last {
            Some((_, last_busy, last_total)) if total > last_total => {
                (busy.saturating_sub(last_busy)) * 1000 * cpus / (total - last_total)
            }
            _ => 0,
        };
        *last = Some((Instant::now(), busy, total));
        used
    }

    /// Whether the container's last run has ended (it is not running and not being started).
    fn container_exited(&self, pod_uid: &str, container: &str) -> bool {
        let Some(status) = self.ctx.board.get(pod_uid) else {
            return true;
        };
        status
            .init_containers
            .iter()
            .chain(&status.containers)
            .find(|c| c.name == container)
            .is_some_and(|c| match &c.state {
                ContainerState::Terminated { .. } => true,
                ContainerState::Waiting { .. } => {
                    matches!(c.last_state, Some(ContainerState::Terminated { .. }))
                }
                ContainerState::Running { .. } => false,
            })
    }

    async fn serve_logs(&self, request: LogRequest, mut send: quinn::SendStream) {
        let dir = self
            .ctx
            .pods_dir
            .join(&request.pod_uid)
            .join("logs")
            .join(&request.container);
        let query = LogQuery {
            previous: request.previous,
            tail: request.tail_lines.map(|n| n as usize),
        };
        let since = request
            .since_ms
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
        let keep = move |line: &logs::LogLine| since.is_none_or(|s| line.time >= s);
        let mut limit = request.limit_bytes.unwrap_or(u64::MAX);
        if request.follow && !request.previous {
            let mut lines = match logs::follow_logs(&dir, &query) {
                Ok(lines) => Box::pin(lines),
                Err(err) => return refuse(send, &log_error(&request, err)).await,
            };
            if reply_ok(&mut send).await.is_err() {
                return;
            }
            loop {
                // Like the kubelet, following ends once the container has exited and its last
                // output has been read (no new line for a moment).
                let exited = self.container_exited(&request.pod_uid, &request.container);
                let line = tokio::select! {
                    line = lines.next() => line,
                    _ = send.stopped() => return,
                    () = tokio::time::sleep(FOLLOW_DRAIN), if exited => break,
                };
                let Some(Ok(line)) = line else { break };
                if !keep(&line) {
                    continue;
                }
                if write_limited(&mut send, &line.render(request.timestamps), &mut limit)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        } else {
            let lines = match logs::read_logs(&dir, &query) {
                Ok(lines) => lines,
                Err(err) => return refuse(send, &log_error(&request, err)).await,
            };
            if reply_ok(&mut send).await.is_err() {
                return;
            }
            for line in lines.iter().filter(|l| keep(l)) {
                if write_limited(&mut send, &line.render(request.timestamps), &mut limit)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        let _ = send.finish();
    }

    async fn serve_port_forward(
        &self,
        uid: &str,
        port: u16,
        mut send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) {
        let target = lock(&self.workers)
            .get(uid)
            .and_then(|m| lock(&m.handle.ports).get(&port).copied());
        let Some(target) = target else {
            return refuse(
                send,
                &format!("error forwarding port {port} to pod {uid}: no container of the pod listens on port {port}"),
            )
            .await;
        };
        let mut upstream = match tokio::net::TcpStream::connect(target).await {
            Ok(stream) => stream,
            Err(err) => {
                return refuse(
                    send,
                    &format!("error forwarding port {port} to pod {uid}: {err}"),
                )
                .await;
            }
        };
        if reply_ok(&mut send).await.is_err() {
            return;
        }
        let mut stream = tokio::io::join(recv, send);
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
    }
}

impl PodHost for Supervisor {
    fn desired_changed(&self, pods: &BTreeMap<String, PodRunSpec>) {
        self.desired.send_replace(Arc::new(pods.clone()));
    }

    fn claims_changed(&self, keep: Vec<String>) {
        *lock(&self.kept_claims) = Some(keep.into_iter().collect());
        let desired = self.desired.borrow().clone();
        let workers = lock(&self.workers);
        self.remove_released_claims(&desired, &workers);
    }

    fn node_status(&self) -> NodeStatusReport {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |name: &str| {
            meminfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .map(|kib| kib * 1024)
        };
        let total = field("MemTotal:").unwrap_or(0);
        let available = field("MemAvailable:").unwrap_or(total);
        let pod_usage = {
            let workers = lock(&self.workers);
            workers
                .values()
                .map(|m| PodUsage {
                    uid: m.spec.uid.clone(),
                    namespace: m.spec.namespace.clone(),
                    name: m.spec.name.clone(),
                    containers: lock(&m.handle.usage).clone(),
                })
                .collect()
        };
        NodeStatusReport {
            cpu_used_millis: self.cpu_millis(),
            memory_used_bytes: total.saturating_sub(available),
            // The kubelet's default hard eviction threshold.
            memory_pressure: available < 100 << 20,
            disk_pressure: disk_nearly_full(&self.ctx.pods_dir),
            pod_usage,
        }
    }

    fn serve_stream(
        self: Arc<Self>,
        request: StreamRequest,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) -> BoxFuture<'static, ()> {
        let this = self;
        Box::pin(async move {
            match request {
                StreamRequest::Logs(request) => this.serve_logs(request, send).await,
                StreamRequest::PortForward { pod_uid, port } => {
                    this.serve_port_forward(&pod_uid, port, send, recv).await;
                }
            }
        })
    }
}

async fn reconcile_loop(
    supervisor: Arc<Supervisor>,
    mut desired: watch::Receiver<Desired>,
    shutdown: CancellationToken,
) {
    loop {
        let current = desired.borrow_and_update().clone();
        supervisor.reconcile(&current, &shutdown);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            changed = desired.changed() => if changed.is_err() { break },
            // Finished workers are pruned, and leftovers retried, now and then.
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
        }
    }
    let handles: Vec<_> = lock(&supervisor.workers)
        .drain()
        .map(|(_, m)| m.handle.task)
        .collect();
    futures::future::join_all(handles).await;
}

fn send(handle: &WorkerHandle, input: WorkerInput) {
    // A full queue means the worker is busy with an older spec; the level-triggered reconcile
    // resends the current one on the next change or resync.
    if let Err(err) = handle.inputs.try_send(input) {
        tracing::debug!("worker input not queued: {err}");
    }
}

async fn reply_ok(send: &mut quinn::SendStream) -> Result<(), link::FrameError> {
    link::write_frame(send, &StreamReply::Ok).await
}

async fn refuse(mut send: quinn::SendStream, message: &str) {
    let reply = StreamReply::Error {
        message: message.to_owned(),
    };
    if link::write_frame(&mut send, &reply).await.is_ok() {
        let _ = send.finish();
    }
}

async fn write_limited(
    send: &mut quinn::SendStream,
    bytes: &[u8],
    limit: &mut u64,
) -> Result<(), ()> {
    if *limit == 0 {
        return Err(());
    }
    let take = bytes.len().min(*limit as usize);
    *limit -= take as u64;
    send.write_all(&bytes[..take]).await.map_err(|_| ())
}

fn log_error(request: &LogRequest, err: logs::LogError) -> String {
    match err {
        logs::LogError::NoLogs { .. } if request.previous => format!(
            "previous terminated container \"{}\" in pod not found",
            request.container
        ),
        logs::LogError::NoLogs { .. } => format!(
            "container \"{}\" in pod is waiting to start: no logs yet",
            request.container
        ),
        other => other.to_string(),
    }
}

/// `(busy, total)` jiffies of all CPUs from `/proc/stat`.
fn proc_stat_jiffies(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle + iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Less than 10% of the filesystem free (the kubelet's default `nodefs.available` threshold).
fn disk_nearly_full(dir: &std::path::Path) -> bool {
    rustix::fs::statvfs(dir)
        .map(|st| st.f_blocks > 0 && st.f_bavail * 10 < st.f_blocks)
        .unwrap_or(false)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update is one insert or removal, so a poisoned map is still consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_jiffies() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(proc_stat_jiffies(stat), Some((150, 1000)));
        assert_eq!(proc_stat_jiffies("nonsense"), None);
    }
}
