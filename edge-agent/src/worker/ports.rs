//! Host ports: a container port with `hostPort` is also served on the node's address, by a
//! TCP relay to where the container listens. The relay stops when its handle is dropped.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, DropGuard};

/// A running relay from a host port to a container.
pub struct HostPortProxy {
    _stop: DropGuard,
}

impl HostPortProxy {
    /// Listens on `listen` and relays every connection to `target`.
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> std::io::Result<HostPortProxy> {
        let listener = TcpListener::bind(listen).await?;
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    biased;
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let token = token.clone();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                    }
                });
            }
        });
        Ok(HostPortProxy {
            _stop: stop.drop_guard(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn relays_and_stops_when_dropped() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.expect("test step");
        let target = upstream.local_addr().expect("test step");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = upstream.accept().await {
                let mut buf = [0u8; 4];
                if s.read_exact(&mut buf).await.is_ok() {
                    let _ = s.write_all(&buf).await;
                }
            }
        });
        let free = TcpListener::bind("127.0.0.1:0").await.expect("test step");
        let listen = free.local_addr().expect("test step");
        drop(free);
        let proxy = HostPortProxy::start(listen, target)
            .await
            .expect("test step");
        let mut client = TcpStream::connect(listen).await.expect("test step");
        client.write_all(b"ping").await.expect("test step");
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).await.expect("test step");
        assert_eq!(&buf, b"ping");
        drop(proxy);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(TcpStream::connect(listen).await.is_err());
    }
}
