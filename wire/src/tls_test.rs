//! Tests of the TLS configurations, with in-memory handshakes between rustls peers.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConnection, ServerConnection};

use super::*;
use crate::pki::{CertRequest, CertificateAuthority, IssuedCert};

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Cluster {
    ca: CertificateAuthority,
    server: IssuedCert,
}

fn cluster() -> Result<Cluster, PkiError> {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let server = ca.issue(&CertRequest {
        common_name: "system:controller:c1".into(),
        dns_names: vec!["localhost".into()],
        ip_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        server_auth: true,
        ..CertRequest::default()
    })?;
    Ok(Cluster { ca, server })
}

fn user(ca: &CertificateAuthority, name: &str, groups: &[&str]) -> Result<IssuedCert, PkiError> {
    ca.issue(&CertRequest {
        common_name: name.into(),
        organizations: groups.iter().map(|g| (*g).to_owned()).collect(),
        client_auth: true,
        validity: Duration::from_secs(600),
        ..CertRequest::default()
    })
}

impl Cluster {
    fn server_config(&self, with_ca_in_chain: bool) -> Result<ServerConfig, TlsError> {
        let mut chain = self.server.cert_pem.clone();
        if with_ca_in_chain {
            chain.push_str(self.ca.cert_pem());
        }
        server_config(&chain, &self.server.key_pem, self.ca.cert_pem())
    }
}

/// The client certificates the server saw and the negotiated ALPN protocol.
type Handshake = (Option<Vec<CertificateDer<'static>>>, Option<Vec<u8>>);

/// Runs a handshake in memory. Returns the client certificates the server saw and
/// the negotiated ALPN protocol.
fn handshake(
    client: ClientConfig,
    server: ServerConfig,
    name: &str,
) -> Result<Handshake, rustls::Error> {
    let name =
        ServerName::try_from(name.to_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut client = ClientConnection::new(Arc::new(client), name)?;
    let mut server = ServerConnection::new(Arc::new(server))?;
    for _ in 0..10 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client
                .write_tls(&mut buf)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        }
        let mut slice = &buf[..];
        while !slice.is_empty() {
            server
                .read_tls(&mut slice)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            server.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server
                .write_tls(&mut buf)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        }
        let mut slice = &buf[..];
        while !slice.is_empty() {
            client
                .read_tls(&mut slice)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            client.process_new_packets()?;
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            let peer = server.peer_certificates().map(|c| c.to_vec());
            return Ok((peer, server.alpn_protocol().map(<[u8]>::to_vec)));
        }
    }
    Err(rustls::Error::General("handshake did not finish".into()))
}

#[test]
fn client_certificate_reaches_the_server() -> TestResult {
    let c = cluster()?;
    let alice = user(&c.ca, "alice", &["system:masters", "edgeplane:view"])?;
    let client = client_config(c.ca.cert_pem(), Some((&alice.cert_pem, &alice.key_pem)))?;
    let (peer, alpn) = handshake(client, c.server_config(true)?, "localhost")?;
    let peer = peer.ok_or("the server saw no client certificate")?;
    let subject = pki::cert_subject(&peer[0])?;
    assert_eq!(subject.common_name, "alice");
    assert_eq!(
        subject.organizations,
        vec!["system:masters", "edgeplane:view"]
    );
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    Ok(())
}

#[test]
fn anonymous_clients_complete_the_handshake() -> TestResult {
    let c = cluster()?;
    let client = client_config(c.ca.cert_pem(), None)?;
    let (peer, _) = handshake(client, c.server_config(true)?, "127.0.0.1")?;
    assert!(peer.is_none());
    Ok(())
}

#[test]
fn certificate_from_a_foreign_ca_fails_the_handshake() -> TestResult {
    let c = cluster()?;
    let foreign = CertificateAuthority::generate("edgeplane-ca")?;
    let mallory = user(&foreign, "mallory", &["system:masters"])?;
    let client = client_config(c.ca.cert_pem(), Some((&mallory.cert_pem, &mallory.key_pem)))?;
    assert!(handshake(client, c.server_config(true)?, "localhost").is_err());
    Ok(())
}

#[test]
fn client_rejects_a_server_from_another_ca_or_name() -> TestResult {
    let c = cluster()?;
    let foreign = CertificateAuthority::generate("edgeplane-ca")?;
    let client = client_config(foreign.cert_pem(), None)?;
    assert!(handshake(client, c.server_config(true)?, "localhost").is_err());
    let client = client_config(c.ca.cert_pem(), None)?;
    assert!(handshake(client, c.server_config(true)?, "other.example").is_err());
    Ok(())
}

#[test]
fn pinned_client_config_cases() -> TestResult {
    let c = cluster()?;
    let pin = pki::ca_pin(c.ca.cert_pem())?;
    let foreign = CertificateAuthority::generate("edgeplane-ca")?;
    let wrong_pin = pki::ca_pin(foreign.cert_pem())?;
    // (pin, server sends the CA, server name, handshake succeeds)
    let cases = [
        (&pin, true, "127.0.0.1", true),
        (&pin, true, "localhost", true),
        (&pin, true, "10.0.0.1", false),
        (&pin, false, "127.0.0.1", false),
        (&wrong_pin, true, "127.0.0.1", false),
    ];
    for (pin, with_ca, name, ok) in cases {
        let client = pinned_client_config(pin, None)?;
        let result = handshake(client, c.server_config(with_ca)?, name);
        assert_eq!(
            result.is_ok(),
            ok,
            "pin {pin} ca {with_ca} name {name}: {result:?}"
        );
    }
    Ok(())
}

#[test]
fn pinned_client_rejects_a_leaf_signed_by_another_key() -> TestResult {
    // The server presents the real CA certificate but a leaf from an impostor CA.
    let c = cluster()?;
    let impostor = cluster()?;
    let chain = format!("{}{}", impostor.server.cert_pem, c.ca.cert_pem());
    let server = server_config(&chain, &impostor.server.key_pem, c.ca.cert_pem())?;
    let client = pinned_client_config(&pki::ca_pin(c.ca.cert_pem())?, None)?;
    assert!(handshake(client, server, "127.0.0.1").is_err());
    Ok(())
}

#[test]
fn pinned_client_can_present_an_identity() -> TestResult {
    let c = cluster()?;
    let node = user(&c.ca, "system:node:edge-1", &["system:nodes"])?;
    let client = pinned_client_config(
        &pki::ca_pin(c.ca.cert_pem())?,
        Some((&node.cert_pem, &node.key_pem)),
    )?;
    let (peer, _) = handshake(client, c.server_config(true)?, "127.0.0.1")?;
    assert!(peer.is_some());
    Ok(())
}

#[test]
fn ca_from_chain_finds_the_pinned_certificate() -> TestResult {
    let c = cluster()?;
    let chain = pki::certs_from_pem(
        &format!("{}{}", c.server.cert_pem, c.ca.cert_pem()),
        "chain",
    )?;
    let pin = pki::ca_pin(c.ca.cert_pem())?;
    assert_eq!(ca_from_chain(&chain, &pin)?, c.ca.cert_pem());
    let other = format!("sha256:{}", "00".repeat(32));
    assert!(matches!(
        ca_from_chain(&chain, &other),
        Err(TlsError::PinNotFound { .. })
    ));
    Ok(())
}

#[test]
fn bad_inputs_are_reported() -> TestResult {
    let c = cluster()?;
    assert!(matches!(
        server_config(&c.server.cert_pem, "not a key", c.ca.cert_pem()),
        Err(TlsError::BadKey(_))
    ));
    assert!(matches!(client_config("", None), Err(TlsError::Pki(_))));
    assert!(matches!(
        pinned_client_config("sha256:12", None),
        Err(TlsError::Pki(_))
    ));
    Ok(())
}
