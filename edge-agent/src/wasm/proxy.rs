//! Serving a `wasi:http/proxy` component: hyper HTTP/1.1 with keep-alive in front, a fresh
//! instance per request from the pre-instantiated component, as `wasmtime serve` does.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::container::StopSignal;
use super::host::{ContainerEnv, HostState};
use super::limits::Metered;
use super::{ExitReason, WasmError};
use crate::logs::LogStream;

/// Binds the container's port (before the container counts as started, so a port conflict is
/// a start error rather than an exit).
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, WasmError> {
    let listen_error = |source| WasmError::Listen { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(listen_error)?;
    // Rebinding the port of a container that just stopped must not wait for TIME_WAIT.
    socket.set_reuseaddr(true).map_err(listen_error)?;
    socket.bind(addr).map_err(listen_error)?;
    socket.listen(1024).map_err(listen_error)
}

/// One proxy container's server.
pub(crate) struct ProxyServer {
    env: Arc<ContainerEnv>,
    pre: ProxyPre<HostState>,
    /// Guest tasks, which may outlive their response's headers while they stream its body.
    guests: TaskTracker,
    /// Cancelled to end every connection and guest at once.
    kill: CancellationToken,
    /// Signalled when a guest went over the memory limit: the container ends as OOMKilled.
    oom: Notify,
}

/// How a guest task ended without answering.
enum GuestEnd {
    Killed,
    Failed,
    Deadline,
}

/// A request the guest did not answer: the status the client gets and what to log (if the
/// guest task did not log it already).
struct Failure {
    status: http::StatusCode,
    message: Option<String>,
}

impl Failure {
    fn internal(message: String) -> Failure {
        Failure {
            status: http::StatusCode::INTERNAL_SERVER_ERROR,
            message: Some(message),
        }
    }
}

enum Ending {
    Stop(Duration),
    Oom,
}

impl ProxyServer {
    pub(crate) fn new(env: Arc<ContainerEnv>, pre: ProxyPre<HostState>) -> Arc<Self> {
        Arc::new(ProxyServer {
            env,
            pre,
            guests: TaskTracker::new(),
            kill: CancellationToken::new(),
            oom: Notify::new(),
        })
    }

    /// Serves until stopped (gracefully: no new connections, in-flight requests may finish
    /// within the grace period) or until a guest runs out of memory.
    pub(crate) async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut stop: StopSignal,
    ) -> ExitReason {
        let graceful = GracefulShutdown::new();
        let ending = loop {
            tokio::select! {
                biased;
                grace = stop.requested() => break Ending::Stop(grace),
                () = self.oom.notified() => break Ending::Oom,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => self.clone().spawn_connection(stream, &graceful),
                    Err(e) => {
                        // Out of file descriptors, say: keep the port and try again shortly.
                        tracing::warn!(error = %e, "wasm proxy: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        };
        drop(listener);
        self.guests.close();
        match ending {
            Ending::Oom => {
                self.kill.cancel();
                self.guests.wait().await;
                ExitReason::OomKilled
            }
            Ending::Stop(grace) => {
                let drained = tokio::time::timeout(grace, async {
                    graceful.shutdown().await;
                    self.guests.wait().await;
                })
                .await
                .is_ok();
                if !drained {
                    self.kill.cancel();
                    self.guests.wait().await;
                }
                ExitReason::Stopped { forced: !drained }
            }
        }
    }

    fn spawn_connection(self: Arc<Self>, stream: TcpStream, graceful: &GracefulShutdown) {
        // Small response chunks must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let kill = self.kill.clone();
        let service = hyper::service::service_fn(move |request| {
            let server = self.clone();
            async move { Ok::<_, Infallible>(server.handle(request).await) }
        });
        let connection = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                () = kill.cancelled() => {}
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "wasm proxy: connection ended with an error");
                    }
                }
            }
        });
    }

    async fn handle(
        self: Arc<Self>,
        request: hyper::Request<Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        self.env.requests.fetch_add(1, Ordering::Relaxed);
        match self.dispatch(request).await {
            Ok(response) => response,
            Err(failure) => {
                if let Some(message) = &failure.message {
                    let _ = self.env.log.write_message(LogStream::Stderr, message);
                }
                let text = match failure.status {
                    http::StatusCode::GATEWAY_TIMEOUT => "504 Gateway Timeout\n",
                    _ => "500 Internal Server Error\n",
                };
                let body = Full::new(Bytes::from_static(text.as_bytes()))
                    .map_err(|never: Infallible| match never {})
                    .boxed_unsync();
                let mut response = hyper::Response::new(body);
                *response.status_mut() = failure.status;
                response
            }
        }
    }

    /// Runs the guest for one request. A request still running at the request deadline is
    /// interrupted: the guest yields at every epoch tick, so dropping its future ends it there
    /// and frees its instance, and the container serves the next request.
    async fn dispatch(
        self: &Arc<Self>,
        request: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>, Failure> {
        let (mut store, clock) = self
            .env
            .new_store()
            .map_err(|e| Failure::internal(e.to_string()))?;
        let (sender, receiver) = oneshot::channel();
        let (request, out) = {
            let mut http = store.data_mut().http();
            let request = http
                .new_incoming_request(Scheme::Http, request)
                .map_err(|e| Failure::internal(format!("{e:#}")))?;
            let out = http
                .new_response_outparam(sender)
                .map_err(|e| Failure::internal(format!("{e:#}")))?;
            (request, out)
        };
        let pre = self.pre.clone();
        let guest = Metered::new(
            async move {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, request, out)
                    .await
            },
            clock,
            self.env.cpu.clone(),
        );
        let server = self.clone();
        let timeout = self.env.request_timeout;
        let task = self.guests.spawn(async move {
            let result = tokio::select! {
                biased;
                () = server.kill.cancelled() => return Err(GuestEnd::Killed),
                result = tokio::time::timeout(timeout, guest) => match result {
                    Ok(result) => result,
                    Err(_) => return Err(GuestEnd::Deadline),
                },
            };
            if let Err(e) = &result {
                if server.env.memory.exceeded() {
                    server.oom.notify_one();
                }
                let _ = server
                    .env
                    .log
                    .write_message(LogStream::Stderr, &format!("request failed: {e:?}"));
            }
            result.map_err(|_| GuestEnd::Failed)
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(Failure::internal(format!(
                "request failed: guest answered {code:?}"
            ))),
            // The guest dropped the response without setting it: it failed (and its task
            // logged why), ran past the deadline, or returned without answering.
            Err(_) => match task.await {
                Ok(Ok(())) => Err(Failure::internal(
                    "request failed: guest returned without a response".into(),
                )),
                Ok(Err(GuestEnd::Deadline)) => Err(Failure {
                    status: http::StatusCode::GATEWAY_TIMEOUT,
                    message: Some(format!(
                        "request interrupted: still running after the request deadline of {}s",
                        timeout.as_secs_f64()
                    )),
                }),
                Ok(Err(GuestEnd::Killed | GuestEnd::Failed)) => Err(Failure {
                    status: http::StatusCode::INTERNAL_SERVER_ERROR,
                    message: None,
                }),
                Err(e) => Err(Failure::internal(format!(
                    "request failed: guest task ended: {e}"
                ))),
            },
        }
    }
}
