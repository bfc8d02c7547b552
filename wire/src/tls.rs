//! rustls client and server configurations used by every Edgeplane component.
//!
//! All configurations use the ring provider explicitly, so no process-wide default
//! provider has to be installed. ALPN offers `h2` then `http/1.1`.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::pki::{self, PkiError};

/// ALPN protocols offered by clients and servers, preferred first.
pub const ALPN_HTTP: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Errors of building TLS configurations.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("cannot read the private key: {0}: pass a PEM private key")]
    BadKey(String),
    #[error("the CA certificate is not a usable trust anchor: {0}")]
    BadCa(String),
    #[error("cannot build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    #[error("no certificate in the presented chain has the pinned public key {pin}")]
    PinNotFound { pin: String },
}

/// The ring crypto provider every configuration is built with.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `cert_chain_pem` (leaf first, then the CA).
/// Client certificates are verified against `client_ca_pem` when presented but are
/// optional: anonymous clients complete the handshake and the API answers 401 itself.
/// A client presenting a certificate that does not verify fails the handshake.
pub fn server_config(
    cert_chain_pem: &str,
    key_pem: &str,
    client_ca_pem: &str,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let chain = pki::certs_from_pem(cert_chain_pem, "server certificate chain")?;
    let key = private_key(key_pem)?;
    let roots = Arc::new(root_store(client_ca_pem)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn();
    Ok(config)
}

/// A client configuration trusting only the CAs in `ca_pem`, presenting the
/// `(cert_pem, key_pem)` identity when given.
pub fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let roots = root_store(ca_pem)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = with_identity(builder, identity)?;
    config.alpn_protocols = alpn();
    Ok(config)
}

/// A client configuration for joining a cluster when only the CA pin
/// (`sha256:<hex>`) is known. It trusts a server whose presented chain contains a
/// certificate with that public key and whose leaf that certificate signed, valid now
/// and for the server name (DNS or IP address).
pub fn pinned_client_config(
    pin: &str,
    identity: Option<(&str, &str)>,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let verifier = PinnedCaVerifier {
        pin: pki::parse_pin(pin)?,
        provider: provider.clone(),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = with_identity(builder, identity)?;
    config.alpn_protocols = alpn();
    Ok(config)
}

/// The PEM of the certificate in `chain` whose public key has the pin `pin`; lets a
/// joining client keep the CA it was shown.
pub fn ca_from_chain(chain: &[CertificateDer<'_>], pin: &str) -> Result<String, TlsError> {
    let want = pki::parse_pin(pin)?;
    chain
        .iter()
        .find(|c| pki::spki_sha256(c).is_ok_and(|h| h == want))
        .map(|c| pki::pem_encode("CERTIFICATE", c))
        .ok_or_else(|| TlsError::PinNotFound {
            pin: pin.to_owned(),
        })
}

fn alpn() -> Vec<Vec<u8>> {
    ALPN_HTTP.iter().map(|p| p.to_vec()).collect()
}

fn private_key(key_pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::BadKey(e.to_string()))
}

fn root_store(ca_pem: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in pki::certs_from_pem(ca_pem, "CA certificate")? {
        roots
            .add(cert)
            .map_err(|e| TlsError::BadCa(e.to_string()))?;
    }
    Ok(roots)
}

fn with_identity(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    identity: Option<(&str, &str)>,
) -> Result<ClientConfig, TlsError> {
    Ok(match identity {
        Some((cert_pem, key_pem)) => builder.with_client_auth_cert(
            pki::certs_from_pem(cert_pem, "client certificate")?,
            private_key(key_pem)?,
        )?,
        None => builder.with_no_client_auth(),
    })
}

/// Verifies a server chain against the CA that the chain itself carries, accepted
/// only when that CA's public key matches the pin.
#[derive(Debug)]
struct PinnedCaVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| pki::spki_sha256(c).is_ok_and(|h| h == self.pin))
            .ok_or_else(|| {
                rustls::Error::General(
                    "the server did not present a CA with the pinned public key".into(),
                )
            })?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[path = "tls_test.rs"]
mod tests;
