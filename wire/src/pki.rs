//! Certificate authority, certificate issuing and CA public-key pins.
//!
//! Every key is ECDSA P-256. A certificate's subject carries the user in the common
//! name and the groups in organisation attributes, as Kubernetes reads them. rcgen
//! writes at most one attribute of each type, so subjects with organisations are
//! encoded here (see `der`) and the to-be-signed part is re-signed by the CA.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PublicKeyData, SanType, SerialNumber, SigningKey,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::der;

/// How long a generated cluster CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Certificates start this long before they are made, so that a peer whose clock
/// is a little behind still accepts them.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// The longest validity accepted in a `CertRequest` (100 years).
const MAX_VALIDITY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Errors of certificate and key handling.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("no PEM certificate found in the {what}: expected a -----BEGIN CERTIFICATE----- block")]
    NoCertificate { what: &'static str },
    #[error("cannot read PEM data of the {what}: {detail}")]
    Pem { what: &'static str, detail: String },
    #[error("cannot parse certificate: {0}")]
    BadCertificate(String),
    #[error("cannot parse private key: {0}: pass a PEM PKCS#8 key (-----BEGIN PRIVATE KEY-----)")]
    BadKey(String),
    #[error("the private key does not belong to the certificate: pass the key created with it")]
    KeyMismatch,
    #[error(
        "the certificate is not a CA (basicConstraints CA:TRUE is missing): pass the cluster CA"
    )]
    NotCa,
    #[error("the certificate was not issued by this cluster's CA")]
    NotIssuedByCa,
    #[error("the certificate has no subject common name")]
    NoCommonName,
    #[error(
        "invalid CA pin {pin:?}: expected sha256:<64 hex digits>, as printed when the token was created"
    )]
    BadPin { pin: String },
    #[error("invalid certificate request: {0}")]
    BadRequest(String),
    #[error("invalid certificate signing request: {0}")]
    BadCsr(rcgen::Error),
    #[error("cannot create certificate: {0}")]
    Sign(#[from] rcgen::Error),
}

/// What a certificate is issued for. `Default` gives a one-year certificate with no
/// names and no usages: set `common_name` and at least one usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRequest {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub server_auth: bool,
    pub client_auth: bool,
    pub validity: Duration,
}

impl Default for CertRequest {
    fn default() -> Self {
        CertRequest {
            common_name: String::new(),
            organizations: Vec::new(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            server_auth: false,
            client_auth: false,
            validity: Duration::from_secs(365 * 24 * 3600),
        }
    }
}

/// A certificate and its new private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The identity fields of a certificate's subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSubject {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub not_after: jiff::Timestamp,
}

/// The cluster CA: its certificate and the private key that signs with it.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
    /// The CA's own expiry, in Unix seconds; no certificate it issues outlives it.
    not_after: i64,
    pin: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl CertificateAuthority {
    /// Creates a new self-signed CA with an ECDSA P-256 key, valid for ten years.
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        if common_name.trim().is_empty() {
            return Err(PkiError::BadRequest("the CA needs a common name".into()));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = offset_time(now - BACKDATE)?;
        params.not_after = offset_time(now + CA_VALIDITY)?;
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key)?;
        Self::from_pem(&cert.pem(), &key.serialize_pem())
    }

    /// Loads a CA from its PEM certificate and PKCS#8 PEM private key, checking that
    /// the certificate is a CA and that the key belongs to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = first_cert(cert_pem, "CA certificate")?;
        let (_, x509) = X509Certificate::from_der(&cert_der)
            .map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        if !x509.is_ca() {
            return Err(PkiError::NotCa);
        }
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::BadKey(e.to_string()))?;
        if key.subject_public_key_info() != x509.public_key().raw {
            return Err(PkiError::KeyMismatch);
        }
        let not_after = x509.validity().not_after.timestamp();
        let pin = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(x509.public_key().raw))
        );
        Ok(CertificateAuthority {
            pin,
            cert_pem: pem_encode("CERTIFICATE", &cert_der),
            key_pem: key.serialize_pem(),
            cert_der,
            key,
            not_after,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The CA pin, `sha256:<hex>` of the CA's SubjectPublicKeyInfo (see `ca_pin`).
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Creates a new key pair and a certificate for it signed by this CA.
    pub fn issue(&self, req: &CertRequest) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert_pem = self.sign_public_key(&key, req)?;
        Ok(IssuedCert {
            cert_pem,
            key_pem: key.serialize_pem(),
        })
    }

    /// Signs the public key of a PEM certificate signing request. The CSR's own
    /// signature is checked; its subject, names and usages are ignored: they come
    /// from `req`, which the caller decides.
    pub fn sign_csr(&self, csr_pem: &str, req: &CertRequest) -> Result<String, PkiError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(PkiError::BadCsr)?;
        self.sign_public_key(&csr.public_key, req)
    }

    /// Checks that `cert_pem` was signed by this CA and that `key_pem` is its key.
    pub fn check_issued(&self, cert_pem: &str, key_pem: &str) -> Result<(), PkiError> {
        let der = first_cert(cert_pem, "certificate")?;
        let (_, cert) =
            X509Certificate::from_der(&der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        let (_, ca) = X509Certificate::from_der(&self.cert_der)
            .map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        if cert.issuer().as_raw() != ca.subject().as_raw()
            || cert.verify_signature(Some(ca.public_key())).is_err()
        {
            return Err(PkiError::NotIssuedByCa);
        }
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::BadKey(e.to_string()))?;
        if key.subject_public_key_info() != cert.public_key().raw {
            return Err(PkiError::KeyMismatch);
        }
        Ok(())
    }

    fn sign_public_key(
        &self,
        public_key: &impl PublicKeyData,
        req: &CertRequest,
    ) -> Result<String, PkiError> {
        let params = self.leaf_params(req)?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, &self.key)?;
        let cert = params.signed_by(public_key, &issuer)?;
        if req.organizations.is_empty() {
            return Ok(cert.pem());
        }
        let name = der::name(&req.organizations, &req.common_name);
        let der = der::replace_subject(cert.der(), &name, |tbs| self.key.sign(tbs))?;
        // The re-signed certificate must still verify against the CA before it leaves here.
        let (_, parsed) =
            X509Certificate::from_der(&der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        let (_, ca) = X509Certificate::from_der(&self.cert_der)
            .map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        parsed
            .verify_signature(Some(ca.public_key()))
            .map_err(|e| PkiError::BadCertificate(format!("re-signed certificate: {e}")))?;
        Ok(pem_encode("CERTIFICATE", &der))
    }

    fn leaf_params(&self, req: &CertRequest) -> Result<CertificateParams, PkiError> {
        if req.common_name.trim().is_empty() {
            return Err(PkiError::BadRequest("a common name is required".into()));
        }
        if !req.server_auth && !req.client_auth {
            return Err(PkiError::BadRequest(
                "request server_auth, client_auth or both".into(),
            ));
        }
        if req.validity.is_zero() || req.validity > MAX_VALIDITY {
            return Err(PkiError::BadRequest(format!(
                "validity {}s is out of range: use between 1 second and 100 years",
                req.validity.as_secs()
            )));
        }
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, req.common_name.as_str());
        for name in &req.dns_names {
            let ia5 = name
                .as_str()
                .try_into()
                .map_err(|_| PkiError::BadRequest(format!("DNS name {name:?} is not ASCII")))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        for ip in &req.ip_addresses {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if req.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if req.client_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.use_authority_key_identifier_extension = true;
        params.not_before = offset_time(now - BACKDATE)?;
        let wanted = unix_seconds(now + req.validity);
        params.not_after = time::OffsetDateTime::from_unix_timestamp(wanted.min(self.not_after))
            .map_err(|e| PkiError::BadRequest(e.to_string()))?;
        params.serial_number = Some(random_serial()?);
        Ok(params)
    }
}

/// A new ECDSA P-256 key and a PEM certificate signing request for it, as an agent
/// sends to `CertificateAuthority::sign_csr`. Returns `(csr_pem, key_pem)`.
pub fn generate_csr(common_name: &str) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, key.serialize_pem()))
}

/// The CA pin of a PEM certificate: `sha256:<hex>` of its SubjectPublicKeyInfo DER,
/// exactly as kubeadm's `--discovery-token-ca-cert-hash`.
pub fn ca_pin(cert_pem: &str) -> Result<String, PkiError> {
    let der = first_cert(cert_pem, "CA certificate")?;
    Ok(format!("sha256:{}", hex::encode(spki_sha256(&der)?)))
}

/// The SHA-256 of a DER certificate's SubjectPublicKeyInfo.
pub fn spki_sha256(cert_der: &[u8]) -> Result<[u8; 32], PkiError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
    Ok(Sha256::digest(cert.public_key().raw).into())
}

/// Parses a CA pin `sha256:<64 hex digits>` into the digest.
pub fn parse_pin(s: &str) -> Result<[u8; 32], PkiError> {
    let bad = || PkiError::BadPin { pin: s.to_owned() };
    let hex_part = s.trim().strip_prefix("sha256:").ok_or_else(bad)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// The common name, organisations and expiry of a DER certificate.
pub fn cert_subject(cert_der: &[u8]) -> Result<CertSubject, PkiError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .ok_or(PkiError::NoCommonName)?
        .as_str()
        .map_err(|e| PkiError::BadCertificate(format!("common name: {e}")))?
        .to_owned();
    let organizations = subject
        .iter_organization()
        .map(|o| o.as_str().map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::BadCertificate(format!("organisation: {e}")))?;
    let not_after = jiff::Timestamp::from_second(cert.validity().not_after.timestamp())
        .map_err(|e| PkiError::BadCertificate(format!("notAfter: {e}")))?;
    Ok(CertSubject {
        common_name,
        organizations,
        not_after,
    })
}

/// The DNS names and IP addresses in the subjectAltName of a PEM certificate.
pub fn cert_sans(cert_pem: &str) -> Result<(Vec<String>, Vec<IpAddr>), PkiError> {
    let der = first_cert(cert_pem, "certificate")?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::BadCertificate(format!("subjectAltName: {e}")))?;
    for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(d) => dns.push((*d).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => ips.push(IpAddr::from(
                    <[u8; 4]>::try_from(*bytes).unwrap_or_default(),
                )),
                16 => ips.push(IpAddr::from(
                    <[u8; 16]>::try_from(*bytes).unwrap_or_default(),
                )),
                _ => {
                    return Err(PkiError::BadCertificate(
                        "subjectAltName has an IP address that is neither IPv4 nor IPv6".into(),
                    ));
                }
            },
            _ => {}
        }
    }
    Ok((dns, ips))
}

/// Every certificate in a PEM text, in order; an error if there is none.
pub fn certs_from_pem(
    pem: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Pem {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::NoCertificate { what });
    }
    Ok(certs)
}

/// The first certificate in a PEM text.
pub fn first_cert(pem: &str, what: &'static str) -> Result<CertificateDer<'static>, PkiError> {
    certs_from_pem(pem, what)?
        .into_iter()
        .next()
        .ok_or(PkiError::NoCertificate { what })
}

/// Encodes DER bytes as a PEM block with the given label (`CERTIFICATE`, ...).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::BadRequest("the system random generator failed".into()))?;
    // Positive and without a leading zero byte, so that it encodes in exactly 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn offset_time(t: SystemTime) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds(t))
        .map_err(|e| PkiError::BadRequest(format!("time out of range: {e}")))
}

#[cfg(test)]
#[path = "pki_test.rs"]
mod tests;
