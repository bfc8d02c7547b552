//! Facts about the host and process that both daemons (controller and agent) need.

use std::net::IpAddr;

/// The first non-loopback IPv4 address of the host: a daemon's default advertised address.
pub fn first_ipv4() -> Option<IpAddr> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .find(IpAddr::is_ipv4)
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT), the signals that stop a daemon cleanly.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
