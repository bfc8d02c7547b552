//! QUIC endpoint configurations for the agent link, built from the rustls configurations in
//! [`crate::tls`] with the link's ALPN and transport settings.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use super::ALPN;

/// The agent sends a keep-alive this often, so NAT bindings stay open and a dead link is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A connection with no packets for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Errors of building QUIC configurations.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    #[error("the TLS configuration cannot be used for QUIC: {0}")]
    Tls(String),
}

fn transport() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    // The constant is far below QUIC's limit, so the conversion cannot fail.
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok());
    // Streams for logs and port-forwards; more are refused until one ends.
    transport.max_concurrent_bidi_streams(256u32.into());
    transport.max_concurrent_uni_streams(0u32.into());
    transport
}

/// The controller's endpoint configuration. Client certificates are optional at the TLS level
/// (a joining agent has none yet); the gateway decides what an unauthenticated connection may do.
pub fn server_config(mut tls: rustls::ServerConfig) -> Result<quinn::ServerConfig, QuicError> {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport()));
    // Agents behind NAT or on mobile links change addresses; keep their sessions.
    config.migration(true);
    Ok(config)
}

/// The agent's endpoint configuration.
pub fn client_config(mut tls: rustls::ClientConfig) -> Result<quinn::ClientConfig, QuicError> {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport()));
    Ok(config)
}

#[cfg(test)]
#[path = "quic_test.rs"]
mod tests;
