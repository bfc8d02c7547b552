//! rustls client configurations for edgectl, including the `--insecure-skip-tls-verify` one.

use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Builds the TLS configuration: the cluster CA (or no verification at all when asked), plus the client identity.
pub fn client_config(
    ca_pem: Option<&str>,
    identity: Option<(&str, &str)>,
    insecure: bool,
) -> Result<rustls::ClientConfig> {
    let mut config = match (insecure, ca_pem) {
        (false, Some(ca)) => edge_wire::tls::client_config(ca, identity)
            .context("cannot build the TLS configuration")?,
        (false, None) => anyhow::bail!(
            "the kubeconfig has no certificate authority for this cluster; add certificate-authority-data or pass --insecure-skip-tls-verify"
        ),
        (true, _) => insecure_config(identity)?,
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn insecure_config(identity: Option<(&str, &str)>) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("cannot build the TLS configuration")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer { provider }));
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_pem, key_pem)) => {
            let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .context("cannot read the client certificate from the kubeconfig")?;
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .context("cannot read the client key from the kubeconfig")?;
            builder
                .with_client_auth_cert(certs, key)
                .context("the client certificate and key do not match")
        }
    }
}

/// Accepts any server certificate while still checking handshake signatures, for `--insecure-skip-tls-verify`.
#[derive(Debug)]
struct AcceptAnyServer {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
