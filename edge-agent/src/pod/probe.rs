//! Container probes: running one check ([`ProbeRunner`]), the kubelet's threshold logic
//! ([`ProbeTracker`]), and the task that probes one container ([`ContainerProber`]).
//!
//! As in the kubelet's probe workers:
//! - A probe first runs `initialDelaySeconds` after the container started, then every
//!   `periodSeconds`; each check gives up after `timeoutSeconds`.
//! - A result is established after `successThreshold` consecutive successes or
//!   `failureThreshold` consecutive failures, and reported only when it changes. Readiness
//!   starts as failure, liveness as success, startup as unknown.
//! - Liveness and readiness wait until the startup probe has succeeded; the startup probe
//!   stops once it has. After a liveness or startup failure the probe holds (the container is
//!   being restarted, with new probes).
//! - A check that could not run (an `Exec` probe, `HTTPS`) is neither success nor failure:
//!   the kubelet throws such results away. The probe is logged once and not run again.
//!
//! Zero values (which the API defaults away) are read as the API defaults: period 10 s,
//! timeout 1 s, success threshold 1, failure threshold 3.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use edge_wire::link::{Probe, ProbeAction};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::event::PodEvent;

/// The `User-Agent` of HTTP probes, as the kubelet's `kube-probe/<major>.<minor>`.
pub const PROBE_USER_AGENT: &str = "kube-probe/1.37";

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Success,
    /// The container answered wrongly or not in time; why, in the kubelet's words.
    Failure(String),
    /// The check cannot run here; why.
    Unsupported(String),
}

/// Runs one check. The real one is [`ProbeRunner`]; tests script their own.
pub trait ProbeExecutor: Send + Sync {
    fn check(
        &self,
        action: &ProbeAction,
        timeout: Duration,
    ) -> impl Future<Output = ProbeOutcome> + Send;
}

/// Runs checks against the pod's address (its IP, or the node's with `hostNetwork`).
#[derive(Debug, Clone)]
pub struct ProbeRunner {
    host: IpAddr,
}

impl ProbeRunner {
    pub fn new(host: IpAddr) -> Self {
        Self { host }
    }

    async fn http_get(
        &self,
        port: u16,
        path: &str,
        scheme: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> ProbeOutcome {
        if !scheme.eq_ignore_ascii_case("HTTP") {
            return ProbeOutcome::Unsupported(format!(
                "httpGet probes with scheme {scheme} are not supported yet; use scheme HTTP or a tcpSocket probe"
            ));
        }
        let addr = SocketAddr::new(self.host, port);
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        match tokio::time::timeout(timeout, http_status(addr, &path, headers)).await {
            Err(_) => ProbeOutcome::Failure(format!(
                "Get \"http://{addr}{path}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
            Ok(Ok(code)) if (200..400).contains(&code) => ProbeOutcome::Success,
            Ok(Ok(code)) => {
                ProbeOutcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
            }
            Ok(Err(error)) => {
                ProbeOutcome::Failure(format!("Get \"http://{addr}{path}\": {error}"))
            }
        }
    }

    async fn tcp_connect(&self, port: u16, timeout: Duration) -> ProbeOutcome {
        let addr = SocketAddr::new(self.host, port);
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => ProbeOutcome::Success,
            Ok(Err(error)) => ProbeOutcome::Failure(format!("dial tcp {addr}: {error}")),
            Err(_) => ProbeOutcome::Failure(format!("dial tcp {addr}: i/o timeout")),
        }
    }
}

impl ProbeExecutor for ProbeRunner {
    async fn check(&self, action: &ProbeAction, timeout: Duration) -> ProbeOutcome {
        match action {
            ProbeAction::HttpGet {
                path,
                port,
                scheme,
                headers,
            } => self.http_get(*port, path, scheme, headers, timeout).await,
            ProbeAction::TcpSocket { port } => self.tcp_connect(*port, timeout).await,
            ProbeAction::Exec { .. } => ProbeOutcome::Unsupported(
                "exec probes are not supported: Wasm containers cannot run commands and OCI exec is not implemented yet; use an httpGet or tcpSocket probe".to_owned(),
            ),
        }
    }
}

/// One HTTP/1.1 GET; the status code. hyper's client connection is used rather than a
/// hand-written request: the crate already depends on hyper, and its response parser handles
/// what a minimal one would get wrong (status lines split across reads, interim `1xx`
/// responses, malformed heads). Only the head is awaited; the body is dropped unread.
async fn http_status(
    addr: SocketAddr,
    path: &str,
    headers: &[(String, String)],
) -> Result<u16, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let mut request = http::Request::get(path);
    // Probe headers first, then the defaults they did not set (the kubelet's order).
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let (has_host, has_agent, has_accept) = (has("host"), has("user-agent"), has("accept"));
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if !has_host {
        request = request.header(http::header::HOST, addr.to_string());
    }
    if !has_agent {
        request = request.header(http::header::USER_AGENT, PROBE_USER_AGENT);
    }
    if !has_accept {
        request = request.header(http::header::ACCEPT, "*/*");
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("invalid probe request: {e}"))?;
    let mut connection = std::pin::pin!(connection);
    let mut response = std::pin::pin!(sender.send_request(request));
    let ended = tokio::select! {
        biased;
        response = &mut response => {
            return response.map(|r| r.status().as_u16()).map_err(|e| e.to_string());
        }
        ended = &mut connection => ended,
    };
    // The connection ended first (the server answered and closed, say): the response may
    // still have been read.
    match response.await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(ended.err().map_or_else(|| e.to_string(), |e| e.to_string())),
    }
}

/// The kubelet's result logic for one probe of one container instance. Pure: times are
/// milliseconds since the container started.
#[derive(Debug, Clone)]
pub struct ProbeTracker {
    kind: ProbeKind,
    period_ms: u64,
    success_threshold: u32,
    failure_threshold: u32,
    /// The established result (`None`: unknown).
    result: Option<bool>,
    /// The latest outcome and how many times in a row it came.
    last: Option<bool>,
    run: u32,
    next_due_ms: u64,
    /// No more checks for this instance.
    done: bool,
}

impl ProbeTracker {
    pub fn new(kind: ProbeKind, probe: &Probe) -> Self {
        let or = |value: u32, default: u32| if value == 0 { default } else { value };
        Self {
            kind,
            period_ms: u64::from(or(probe.period_secs, 10)) * 1000,
            success_threshold: or(probe.success_threshold, 1),
            failure_threshold: or(probe.failure_threshold, 3),
            result: match kind {
                ProbeKind::Liveness => Some(true),
                ProbeKind::Readiness => Some(false),
                ProbeKind::Startup => None,
            },
            last: None,
            run: 0,
            next_due_ms: u64::from(probe.initial_delay_secs) * 1000,
            done: false,
        }
    }

    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    /// The established result (`None` while unknown).
    pub fn result(&self) -> Option<bool> {
        self.result
    }

    /// When the next check is due, or `None` when this probe is over for the instance.
    pub fn due_at_ms(&self) -> Option<u64> {
        (!self.done).then_some(self.next_due_ms)
    }

    /// Records a check that finished at `at_ms`. Returns the new result when it changed.
    pub fn record(&mut self, outcome: &ProbeOutcome, at_ms: u64) -> Option<bool> {
        self.next_due_ms = self.next_due_ms.saturating_add(self.period_ms).max(at_ms);
        let success = match outcome {
            ProbeOutcome::Success => true,
            ProbeOutcome::Failure(_) => false,
            ProbeOutcome::Unsupported(_) => {
                self.done = true;
                return None;
            }
        };
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.run < threshold {
            return None;
        }
        // The container is restarted after a liveness or startup failure; a started container
        // needs no more startup checks.
        match (self.kind, success) {
            (ProbeKind::Liveness | ProbeKind::Startup, false) | (ProbeKind::Startup, true) => {
                self.done = true
            }
            _ => {}
        }
        if self.result == Some(success) {
            return None;
        }
        self.result = Some(success);
        Some(success)
    }
}

/// The probes of one container instance, run by one task.
///
/// Checks run one at a time, the most overdue first; a check that hangs delays the others
/// by at most its timeout. Results go to a bounded channel: they are rare (changes only) and
/// must not be lost, so a full channel makes the task wait (its probes pause meanwhile),
/// giving up only when cancelled or when the receiver is gone.
pub struct ContainerProber<E> {
    pub name: String,
    /// Echoed in every [`PodEvent::ProbeResult`] (see `PodAction::StartProbes`).
    pub instance: u32,
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
    pub startup: Option<Probe>,
    pub executor: E,
    /// The wall clock stamped on results (Unix milliseconds).
    pub now_ms: fn() -> i64,
}

/// The system wall clock in Unix milliseconds.
pub fn system_now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl<E: ProbeExecutor> ContainerProber<E> {
    /// Probes until `cancel` fires or `events` is closed.
    pub async fn run(self, events: mpsc::Sender<PodEvent>, cancel: CancellationToken) {
        let origin = Instant::now();
        let mut probes: Vec<(ProbeTracker, Probe)> = [
            (ProbeKind::Startup, &self.startup),
            (ProbeKind::Liveness, &self.liveness),
            (ProbeKind::Readiness, &self.readiness),
        ]
        .into_iter()
        .filter_map(|(kind, probe)| {
            probe
                .as_ref()
                .map(|p| (ProbeTracker::new(kind, p), p.clone()))
        })
        .collect();
        loop {
            let started = probes
                .iter()
                .all(|(t, _)| t.kind() != ProbeKind::Startup || t.result() == Some(true));
            let next = probes
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| started || t.kind() == ProbeKind::Startup)
                .filter_map(|(i, (t, _))| t.due_at_ms().map(|due| (due, i)))
                .min();
            let Some((due_ms, index)) = next else {
                cancel.cancelled().await;
                return;
            };
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = tokio::time::sleep_until(origin + Duration::from_millis(due_ms)) => {}
            }
            let Some((tracker, probe)) = probes.get_mut(index) else {
                return;
            };
            let timeout = Duration::from_secs(u64::from(probe.timeout_secs.max(1)));
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                outcome = self.executor.check(&probe.action, timeout) => outcome,
            };
            let at_ms = u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
            match &outcome {
                ProbeOutcome::Unsupported(why) => tracing::warn!(
                    container = %self.name, probe = ?tracker.kind(), "probe not run: {why}"
                ),
                ProbeOutcome::Failure(why) => tracing::debug!(
                    container = %self.name, probe = ?tracker.kind(), "probe failed: {why}"
                ),
                ProbeOutcome::Success => {}
            }
            let Some(success) = tracker.record(&outcome, at_ms) else {
                continue;
            };
            let event = PodEvent::ProbeResult {
                name: self.name.clone(),
                instance: self.instance,
                kind: tracker.kind(),
                success,
                at_ms: (self.now_ms)(),
            };
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                sent = events.send(event) => if sent.is_err() { return },
            }
        }
    }
}

#[cfg(test)]
#[path = "probe_test.rs"]
mod tests;
