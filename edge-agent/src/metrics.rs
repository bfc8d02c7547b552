//! The agent's `/metrics` endpoint (Prometheus text format) on a local port: pods and
//! containers by phase, restarts, and per-container CPU and memory.

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use edge_wire::link::{ContainerUsage, PodUsage};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::link::PodHost;
use crate::status_board::StatusBoard;
use crate::supervisor::Supervisor;

/// Serves `/metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    supervisor: Arc<Supervisor>,
    board: Arc<StatusBoard>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let supervisor = supervisor.clone();
        let board = board.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let body = if req.uri().path() == "/metrics" {
                    Ok(render(&supervisor, &board))
                } else {
                    Err(())
                };
                async move {
                    match body {
                        Ok(text) => Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(text))),
                        Err(()) => Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from_static(b"not found\n"))),
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The metrics text.
pub fn render(supervisor: &Supervisor, board: &StatusBoard) -> String {
    let mut out = String::new();
    let statuses = board.all_quiet();
    let _ = writeln!(
        out,
        "# HELP edgeplane_agent_pods Pods on this node by phase."
    );
    let _ = writeln!(out, "# TYPE edgeplane_agent_pods gauge");
    for phase in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
        let n = statuses
            .iter()
            .filter(|s| s.phase.as_str() == phase)
            .count();
        let _ = writeln!(out, "edgeplane_agent_pods{{phase=\"{phase}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP edgeplane_agent_container_restarts_total Restarts of each container."
    );
    let _ = writeln!(
        out,
        "# TYPE edgeplane_agent_container_restarts_total counter"
    );
    for s in &statuses {
        for c in s.init_containers.iter().chain(&s.containers) {
            let _ = writeln!(
                out,
                "edgeplane_agent_container_restarts_total{{namespace=\"{}\",pod=\"{}\",container=\"{}\"}} {}",
                s.namespace, s.name, c.name, c.restart_count
            );
        }
    }
    let node = supervisor.node_status();
    container_gauge(
        &mut out,
        "edgeplane_agent_container_memory_bytes",
        "Linear memory of each running container.",
        &node.pod_usage,
        |c| c.memory_bytes,
    );
    container_gauge(
        &mut out,
        "edgeplane_agent_container_cpu_millicores",
        "CPU use of each running container.",
        &node.pod_usage,
        |c| c.cpu_millis,
    );
    let _ = writeln!(
        out,
        "# HELP edgeplane_agent_node_memory_used_bytes Memory in use on the node."
    );
    let _ = writeln!(out, "# TYPE edgeplane_agent_node_memory_used_bytes gauge");
    let _ = writeln!(
        out,
        "edgeplane_agent_node_memory_used_bytes {}",
        node.memory_used_bytes
    );
    out
}

/// One gauge with a sample per running container.
fn container_gauge(
    out: &mut String,
    name: &str,
    help: &str,
    pods: &[PodUsage],
    value: impl Fn(&ContainerUsage) -> u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for pod in pods {
        for c in &pod.containers {
            let _ = writeln!(
                out,
                "{name}{{namespace=\"{}\",pod=\"{}\",container=\"{}\"}} {}",
                pod.namespace,
                pod.name,
                c.name,
                value(c)
            );
        }
    }
}
