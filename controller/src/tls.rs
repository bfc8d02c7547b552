//! The HTTPS listener: TLS handshakes, client-certificate identities, HTTP/1.1 and HTTP/2 serving.
//!
//! Each accepted connection runs in its own task: a TLS handshake bounded by
//! `HANDSHAKE_TIMEOUT`, then hyper's automatic HTTP/1.1 / HTTP/2 server with
//! upgrades (exec, port-forward, watch over websockets). Every request carries an
//! `auth::ClientCert` extension with the connection's verified certificate identity.
//!
//! **Connection cap:** at most `MAX_CONNECTIONS` connections (handshaking or
//! serving) at once. When full, the loop stops accepting until one closes; new
//! clients wait in the kernel's listen backlog rather than being cut off.
//!
//! **Shutdown:** on cancellation the listener closes, every connection is asked to
//! finish gracefully (HTTP/1.1 after the current response, HTTP/2 with GOAWAY),
//! and connections still open after `SHUTDOWN_GRACE` are aborted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::auth::{ClientCert, Identity};

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP/1.1 client may take to send request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long open connections get to finish after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` over TLS on `listener` until `shutdown` is cancelled, then lets open
/// connections finish (at most `SHUTDOWN_GRACE`) and returns.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connection tasks so the set only holds live ones.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        connections.spawn(serve_connection(
            tcp,
            peer,
            acceptor.clone(),
            app.clone(),
            shutdown.clone(),
            permit,
        ));
    }
    drop(listener);
    let open = connections.len();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open,
            left = connections.len(),
            "connections did not finish within the shutdown grace period; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: axum::Router,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let stream = tokio::select! {
        biased;
        () = shutdown.cancelled() => return,
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    let client_cert = ClientCert(peer_identity(&stream, peer).map(Arc::new));
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(client_cert.clone());
        let app = app.clone();
        async move { app.oneshot(request).await }
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// The identity of the verified client certificate, if the client sent one. rustls
/// has already checked it against the cluster CA; a certificate without a usable
/// subject is treated as anonymous.
fn peer_identity(
    stream: &tokio_rustls::server::TlsStream<TcpStream>,
    peer: SocketAddr,
) -> Option<Identity> {
    let leaf = stream.get_ref().1.peer_certificates()?.first()?;
    match Identity::from_certificate(leaf) {
        Ok(identity) => Some(identity),
        Err(error) => {
            tracing::warn!(%peer, %error, "client certificate has no usable identity; treating the client as anonymous");
            None
        }
    }
}

#[cfg(test)]
#[path = "tls_test.rs"]
mod tests;
