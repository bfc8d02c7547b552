//! Tests of probes: the threshold logic, the checks against a local server on 127.0.0.1, and
//! the probe task's timing under a paused clock.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_wire::link::{Probe, ProbeAction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const LOCALHOST: std::net::IpAddr = std::net::IpAddr::V4(Ipv4Addr::LOCALHOST);

fn probe_on(port: u16, initial_delay_secs: u32, period_secs: u32) -> Probe {
    Probe {
        action: ProbeAction::TcpSocket { port },
        initial_delay_secs,
        period_secs,
        timeout_secs: 1,
        success_threshold: 1,
        failure_threshold: 3,
    }
}

fn thresholds(success_threshold: u32, failure_threshold: u32) -> Probe {
    Probe {
        success_threshold,
        failure_threshold,
        ..probe_on(1, 0, 10)
    }
}

const S: ProbeOutcome = ProbeOutcome::Success;

fn f() -> ProbeOutcome {
    ProbeOutcome::Failure("refused".to_owned())
}

#[test]
fn tracker_reports_only_established_changes() {
    struct Case {
        kind: ProbeKind,
        probe: Probe,
        outcomes: Vec<ProbeOutcome>,
        results: Vec<Option<bool>>,
        done: bool,
    }
    let cases = [
        Case {
            kind: ProbeKind::Readiness,
            probe: thresholds(1, 3),
            outcomes: vec![S, S, f(), f(), f(), f(), S],
            results: vec![Some(true), None, None, None, Some(false), None, Some(true)],
            done: false,
        },
        Case {
            kind: ProbeKind::Readiness,
            probe: thresholds(2, 1),
            outcomes: vec![S, f(), S, S, S, f()],
            // Readiness starts as failure, so the first failure changes nothing.
            results: vec![None, None, None, Some(true), None, Some(false)],
            done: false,
        },
        Case {
            kind: ProbeKind::Liveness,
            probe: thresholds(1, 3),
            outcomes: vec![f(), f(), S, f(), f(), f()],
            results: vec![None, None, None, None, None, Some(false)],
            done: true,
        },
        Case {
            kind: ProbeKind::Startup,
            probe: thresholds(1, 30),
            outcomes: vec![f(), f(), S],
            results: vec![None, None, Some(true)],
            done: true,
        },
        Case {
            kind: ProbeKind::Startup,
            probe: thresholds(1, 2),
            outcomes: vec![f(), f()],
            results: vec![None, Some(false)],
            done: true,
        },
        Case {
            kind: ProbeKind::Readiness,
            probe: thresholds(1, 3),
            outcomes: vec![ProbeOutcome::Unsupported("exec".to_owned())],
            results: vec![None],
            done: true,
        },
        // Zero thresholds read as the API defaults (1 and 3).
        Case {
            kind: ProbeKind::Readiness,
            probe: thresholds(0, 0),
            outcomes: vec![S, f(), f(), f()],
            results: vec![Some(true), None, None, Some(false)],
            done: false,
        },
    ];
    for (n, case) in cases.into_iter().enumerate() {
        let mut tracker = ProbeTracker::new(case.kind, &case.probe);
        let results: Vec<_> = case
            .outcomes
            .iter()
            .enumerate()
            .map(|(i, outcome)| tracker.record(outcome, i as u64 * 10_000))
            .collect();
        assert_eq!(results, case.results, "case {n} ({:?})", case.kind);
        assert_eq!(tracker.due_at_ms().is_none(), case.done, "case {n}");
    }
}

#[test]
fn tracker_schedules_after_the_initial_delay_every_period() {
    let mut tracker = ProbeTracker::new(ProbeKind::Liveness, &probe_on(1, 5, 10));
    assert_eq!(tracker.due_at_ms(), Some(5_000));
    tracker.record(&S, 5_000);
    assert_eq!(tracker.due_at_ms(), Some(15_000));
    // A check that finished late is followed at once by the next.
    tracker.record(&S, 40_000);
    assert_eq!(tracker.due_at_ms(), Some(40_000));
    // A zero period is the default 10 s.
    let mut tracker = ProbeTracker::new(ProbeKind::Readiness, &probe_on(1, 0, 0));
    tracker.record(&S, 0);
    assert_eq!(tracker.due_at_ms(), Some(10_000));
}

/// How the local server answers.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Hang,
}

/// A one-connection-at-a-time HTTP server on 127.0.0.1; returns its port and the requests
/// it received.
async fn serve(answer: Answer) -> Result<(u16, mpsc::UnboundedReceiver<String>), std::io::Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = listener.local_addr()?.port();
    let (requests, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = requests.send(String::from_utf8_lossy(&head).into_owned());
            match answer {
                Answer::Status(code) => {
                    let response = format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                }
                Answer::Hang => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
        }
    });
    Ok((port, received))
}

fn http_get(port: u16, path: &str) -> ProbeAction {
    ProbeAction::HttpGet {
        path: path.to_owned(),
        port,
        scheme: "HTTP".to_owned(),
        headers: vec![("X-Probe".to_owned(), "yes".to_owned())],
    }
}

/// A port nothing listens on.
async fn closed_port() -> Result<u16, std::io::Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = listener.local_addr()?.port();
    drop(listener);
    Ok(port)
}

#[tokio::test]
async fn http_probes_succeed_on_2xx_and_3xx_only() -> TestResult {
    let runner = ProbeRunner::new(LOCALHOST);
    let timeout = Duration::from_millis(500);
    for (answer, expected) in [
        (Answer::Status(200), Ok(())),
        (Answer::Status(302), Ok(())),
        (
            Answer::Status(404),
            Err("HTTP probe failed with statuscode: 404"),
        ),
        (
            Answer::Status(500),
            Err("HTTP probe failed with statuscode: 500"),
        ),
        (Answer::Hang, Err("context deadline exceeded")),
    ] {
        let (port, _requests) = serve(answer).await?;
        let outcome = runner.check(&http_get(port, "/healthz"), timeout).await;
        match (expected, &outcome) {
            (Ok(()), ProbeOutcome::Success) => {}
            (Err(text), ProbeOutcome::Failure(message)) if message.contains(text) => {}
            (expected, outcome) => panic!("port {port}: expected {expected:?}, got {outcome:?}"),
        }
    }
    let port = closed_port().await?;
    let outcome = runner.check(&http_get(port, "/"), timeout).await;
    assert!(
        matches!(&outcome, ProbeOutcome::Failure(m) if m.contains("dial tcp 127.0.0.1:")),
        "{outcome:?}"
    );
    Ok(())
}

#[tokio::test]
async fn http_probes_send_the_kubelet_request() -> TestResult {
    let (port, mut requests) = serve(Answer::Status(200)).await?;
    let runner = ProbeRunner::new(LOCALHOST);
    let outcome = runner
        .check(&http_get(port, "healthz"), Duration::from_secs(5))
        .await;
    assert_eq!(outcome, ProbeOutcome::Success);
    let request = requests
        .recv()
        .await
        .ok_or("no request")?
        .to_ascii_lowercase();
    assert!(
        request.starts_with("get /healthz http/1.1\r\n"),
        "{request}"
    );
    for header in [
        "x-probe: yes\r\n".to_owned(),
        format!("host: 127.0.0.1:{port}\r\n"),
        "user-agent: kube-probe/1.37\r\n".to_owned(),
        "accept: */*\r\n".to_owned(),
    ] {
        assert!(
            request.contains(&header),
            "{header:?} missing from {request}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn tcp_exec_and_https_probes() -> TestResult {
    let runner = ProbeRunner::new(LOCALHOST);
    let timeout = Duration::from_millis(500);
    let (open, _requests) = serve(Answer::Status(200)).await?;
    let tcp = |port| ProbeAction::TcpSocket { port };
    assert_eq!(
        runner.check(&tcp(open), timeout).await,
        ProbeOutcome::Success
    );
    let closed = closed_port().await?;
    let outcome = runner.check(&tcp(closed), timeout).await;
    assert!(
        matches!(&outcome, ProbeOutcome::Failure(m) if m.starts_with(&format!("dial tcp 127.0.0.1:{closed}"))),
        "{outcome:?}"
    );
    let exec = ProbeAction::Exec {
        command: vec!["true".to_owned()],
    };
    let outcome = runner.check(&exec, timeout).await;
    assert!(
        matches!(&outcome, ProbeOutcome::Unsupported(m) if m.contains("Wasm containers cannot run commands")),
        "{outcome:?}"
    );
    let https = ProbeAction::HttpGet {
        path: "/".to_owned(),
        port: open,
        scheme: "HTTPS".to_owned(),
        headers: Vec::new(),
    };
    assert!(matches!(
        runner.check(&https, timeout).await,
        ProbeOutcome::Unsupported(_)
    ));
    Ok(())
}

/// An executor that answers from a script per port and records when it was called (ms
/// since the test started, on the paused clock).
#[derive(Clone)]
struct Scripted {
    scripts: Arc<Mutex<HashMap<u16, Vec<ProbeOutcome>>>>,
    calls: Arc<Mutex<Vec<(u16, u64)>>>,
    origin: Option<Instant>,
}

impl Scripted {
    fn new(scripts: &[(u16, Vec<ProbeOutcome>)]) -> Self {
        Self {
            scripts: Arc::new(Mutex::new(scripts.iter().cloned().collect())),
            calls: Arc::default(),
            origin: Some(Instant::now()),
        }
    }

    fn calls(&self, port: u16) -> Vec<u64> {
        let calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        calls
            .into_iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, t)| t)
            .collect()
    }
}

impl ProbeExecutor for Scripted {
    async fn check(&self, action: &ProbeAction, _timeout: Duration) -> ProbeOutcome {
        let ProbeAction::TcpSocket { port } = action else {
            return ProbeOutcome::Unsupported("scripted probes are tcpSocket".to_owned());
        };
        let at = self.origin.map_or(0, |o| o.elapsed().as_millis() as u64);
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((*port, at));
        }
        let next = self.scripts.lock().ok().and_then(|mut s| {
            let script = s.get_mut(port)?;
            (!script.is_empty()).then(|| script.remove(0))
        });
        next.unwrap_or(ProbeOutcome::Success)
    }
}

const STARTUP: u16 = 1;
const LIVENESS: u16 = 2;
const READINESS: u16 = 3;

fn prober(
    executor: Scripted,
    liveness: Option<Probe>,
    readiness: Option<Probe>,
    startup: Option<Probe>,
) -> ContainerProber<Scripted> {
    ContainerProber {
        name: "app".to_owned(),
        instance: 4,
        liveness,
        readiness,
        startup,
        executor,
        now_ms: || 1_700_000_000_000,
    }
}

/// Receives the next result: (kind, success, ms since `origin` on the paused clock).
async fn next_result(
    events: &mut mpsc::Receiver<PodEvent>,
    origin: Instant,
) -> Result<(ProbeKind, bool, u64), Box<dyn std::error::Error>> {
    match events.recv().await.ok_or("probe task ended")? {
        PodEvent::ProbeResult {
            name,
            instance,
            kind,
            success,
            at_ms,
        } => {
            assert_eq!(
                (name.as_str(), instance, at_ms),
                ("app", 4, 1_700_000_000_000)
            );
            Ok((kind, success, origin.elapsed().as_millis() as u64))
        }
        other => Err(format!("unexpected event {other:?}").into()),
    }
}

#[tokio::test(start_paused = true)]
async fn liveness_fails_after_the_threshold_then_holds() -> TestResult {
    let origin = Instant::now();
    let executor = Scripted::new(&[(LIVENESS, vec![f(), f(), f()])]);
    let (sender, mut events) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        prober(
            executor.clone(),
            Some(probe_on(LIVENESS, 5, 10)),
            None,
            None,
        )
        .run(sender, cancel.clone()),
    );
    assert_eq!(
        next_result(&mut events, origin).await?,
        (ProbeKind::Liveness, false, 25_000)
    );
    tokio::time::sleep(Duration::from_secs(600)).await;
    // Checked at 5, 15 and 25 s, then held for the restart.
    assert_eq!(executor.calls(LIVENESS), [5_000, 15_000, 25_000]);
    cancel.cancel();
    task.await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn startup_gates_liveness_and_readiness() -> TestResult {
    let origin = Instant::now();
    let executor = Scripted::new(&[(STARTUP, vec![f(), f(), S])]);
    let (sender, mut events) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        prober(
            executor.clone(),
            Some(probe_on(LIVENESS, 0, 10)),
            Some(probe_on(READINESS, 0, 10)),
            Some(probe_on(STARTUP, 0, 1)),
        )
        .run(sender, cancel.clone()),
    );
    assert_eq!(
        next_result(&mut events, origin).await?,
        (ProbeKind::Startup, true, 2_000)
    );
    assert_eq!(
        next_result(&mut events, origin).await?,
        (ProbeKind::Readiness, true, 2_000)
    );
    tokio::time::sleep(Duration::from_millis(25_500)).await;
    assert_eq!(executor.calls(STARTUP), [0, 1_000, 2_000]);
    // Checked at once when started (the kubelet triggers readiness then), then on the
    // probe's own 10 s grid.
    assert_eq!(executor.calls(LIVENESS), [2_000, 10_000, 20_000]);
    assert_eq!(executor.calls(READINESS), [2_000, 10_000, 20_000]);
    cancel.cancel();
    task.await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_the_task_even_when_the_channel_is_full() -> TestResult {
    // Readiness flips every check; nobody reads the one-slot channel.
    let flips = (0..10).map(|i| if i % 2 == 0 { S } else { f() }).collect();
    let executor = Scripted::new(&[(READINESS, flips)]);
    let readiness = Probe {
        failure_threshold: 1,
        ..probe_on(READINESS, 0, 1)
    };
    let (sender, events) = mpsc::channel(1);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        prober(executor.clone(), None, Some(readiness), None).run(sender, cancel.clone()),
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    // One result fills the channel, the next waits: no further checks meanwhile.
    assert_eq!(executor.calls(READINESS), [0, 1_000]);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(1), task).await??;
    drop(events);
    Ok(())
}

#[tokio::test]
async fn a_real_readiness_probe_reports_ready() -> TestResult {
    let (port, _requests) = serve(Answer::Status(200)).await?;
    let readiness = Probe {
        action: http_get(port, "/ready"),
        ..probe_on(port, 0, 10)
    };
    let (sender, mut events) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        ContainerProber {
            name: "app".to_owned(),
            instance: 0,
            liveness: None,
            readiness: Some(readiness),
            startup: None,
            executor: ProbeRunner::new(LOCALHOST),
            now_ms: system_now_ms,
        }
        .run(sender, cancel.clone()),
    );
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await?
        .ok_or("probe task ended")?;
    assert!(
        matches!(
            event,
            PodEvent::ProbeResult {
                kind: ProbeKind::Readiness,
                success: true,
                instance: 0,
                ..
            }
        ),
        "{event:?}"
    );
    cancel.cancel();
    task.await?;
    Ok(())
}
