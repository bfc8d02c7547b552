//! The HTTP clients of image pulls: the node's identity for the controller's registry, public
//! roots (plus the cluster CA) for every other registry.

use std::time::Duration;

use rustls::RootCertStore;

use super::error::PullerSetupError;

/// Connections that cannot be made in this time fail the pull (retried with back-off).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A response that stops sending for this long is abandoned; a partial download is resumed
/// by the next attempt. No overall timeout: a layer on a slow link takes what it takes.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The controller's built-in registry, which authenticates nodes by their node certificate.
#[derive(Clone)]
pub struct ControllerRegistry {
    /// `host:port` as image references name the registry (the API server's address).
    pub host_port: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ControllerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerRegistry")
            .field("host_port", &self.host_port)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The clients, and which registry gets which.
pub(crate) struct Transport {
    /// The controller's `host:port` (normalised) and a client presenting the node identity.
    controller: Option<(String, reqwest::Client)>,
    public: reqwest::Client,
    /// Registries spoken to over plain HTTP (normalised `host:port`s).
    plain_http: Vec<String>,
}

impl Transport {
    pub(crate) fn new(
        controller: Option<&ControllerRegistry>,
        plain_http: &[String],
    ) -> Result<Transport, PullerSetupError> {
        let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let controller = match controller {
            Some(c) => {
                // Registries inside the cluster may have certificates from the cluster CA too.
                for cert in edge_wire::pki::certs_from_pem(&c.ca_pem, "cluster CA")? {
                    roots
                        .add(cert)
                        .map_err(|e| PullerSetupError::BadCa(e.to_string()))?;
                }
                let tls = edge_wire::tls::client_config(
                    &c.ca_pem,
                    Some((c.cert_pem.as_str(), c.key_pem.as_str())),
                )?;
                let host_port = with_port(&c.host_port)
                    .ok_or_else(|| PullerSetupError::BadAddress(c.host_port.clone()))?;
                // The controller is reached directly, never through a proxy that would end TLS.
                let client = builder().no_proxy().use_preconfigured_tls(tls);
                Some((host_port, build(client)?))
            }
            None => None,
        };
        let provider = edge_wire::tls::provider();
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(edge_wire::tls::TlsError::from)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = edge_wire::tls::ALPN_HTTP
            .iter()
            .map(|p| p.to_vec())
            .collect();
        let public = build(builder().use_preconfigured_tls(tls))?;
        let plain_http = plain_http
            .iter()
            .map(|h| with_port(h).ok_or_else(|| PullerSetupError::BadAddress(h.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Transport {
            controller,
            public,
            plain_http,
        })
    }

    /// The client for requests to `host_port` (a registry, a token service or a redirect
    /// target's first hop).
    pub(crate) fn client_for(&self, host_port: &str) -> &reqwest::Client {
        match (&self.controller, with_port(host_port)) {
            (Some((controller, client)), Some(wanted)) if *controller == wanted => client,
            _ => &self.public,
        }
    }

    /// `https://host:port` or, for a registry configured as plain HTTP, `http://host:port`.
    pub(crate) fn base_url(&self, host_port: &str) -> String {
        let plain = with_port(host_port).is_some_and(|h| self.plain_http.contains(&h));
        if plain {
            format!("http://{host_port}")
        } else {
            format!("https://{host_port}")
        }
    }

    pub(crate) fn is_plain_http(&self, host_port: &str) -> bool {
        with_port(host_port).is_some_and(|h| self.plain_http.contains(&h))
    }
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("edgeplane-agent/", env!("CARGO_PKG_VERSION")))
}

fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, PullerSetupError> {
    builder
        .build()
        .map_err(|e| PullerSetupError::Client(super::error::error_chain(&e)))
}

/// `host:port` in lower case, with HTTPS's port when none is given; `None` when it is no address.
pub(crate) fn with_port(host_port: &str) -> Option<String> {
    let text = host_port.trim().to_ascii_lowercase();
    if text.is_empty() || text.contains(['/', ' ']) {
        return None;
    }
    let has_port = match text.rfind(']') {
        Some(bracket) => text[bracket..].contains(':'),
        None => text.contains(':'),
    };
    Some(if has_port {
        text
    } else {
        format!("{text}:443")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_compare_with_the_default_port() {
        assert_eq!(with_port("10.0.0.1").as_deref(), Some("10.0.0.1:443"));
        assert_eq!(
            with_port("Registry.local:5000").as_deref(),
            Some("registry.local:5000")
        );
        assert_eq!(with_port("[fd00::1]").as_deref(), Some("[fd00::1]:443"));
        assert_eq!(
            with_port("[fd00::1]:6443").as_deref(),
            Some("[fd00::1]:6443")
        );
        assert_eq!(with_port("a/b"), None);
        assert_eq!(with_port(""), None);
    }
}
