//! Tests of the CA, certificate issuing, CSR signing and CA pins.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair, PublicKeyData as _};
use sha2::{Digest as _, Sha256};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::*;

fn server_request() -> CertRequest {
    CertRequest {
        common_name: "system:controller:c1".into(),
        organizations: vec!["edgeplane:controllers".into()],
        dns_names: vec!["localhost".into(), "kubernetes.default.svc".into()],
        ip_addresses: vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        server_auth: true,
        client_auth: true,
        validity: Duration::from_secs(3600),
    }
}

fn der_of(pem: &str) -> Vec<u8> {
    first_cert(pem, "test").expect("test certificate").to_vec()
}

#[test]
fn ca_pin_is_the_sha256_of_the_spki_der() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let der = der_of(ca.cert_pem());
    let (_, parsed) = X509Certificate::from_der(&der)?;
    let from_cert = hex::encode(Sha256::digest(parsed.tbs_certificate.subject_pki.raw));
    // The same digest computed from the private key's public half, not the certificate.
    let from_key = hex::encode(Sha256::digest(
        KeyPair::from_pem(ca.key_pem())?.subject_public_key_info(),
    ));
    let pin = ca_pin(ca.cert_pem())?;
    assert_eq!(pin, format!("sha256:{from_cert}"));
    assert_eq!(pin, format!("sha256:{from_key}"));
    assert_eq!(ca.pin(), pin);
    assert_eq!(hex::encode(parse_pin(&pin)?), from_cert);
    Ok(())
}

#[test]
fn parse_pin_cases() {
    let good = format!("sha256:{}", "ab".repeat(32));
    let cases: &[(&str, bool)] = &[
        (&good, true),
        (&"ab".repeat(32), false),
        ("sha256:", false),
        (&format!("sha256:{}", "ab".repeat(31)), false),
        (&format!("sha256:{}", "zz".repeat(32)), false),
        (&format!("md5:{}", "ab".repeat(32)), false),
    ];
    for (input, ok) in cases {
        assert_eq!(parse_pin(input).is_ok(), *ok, "{input}");
    }
}

#[test]
fn generated_ca_reloads_from_pem() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let again = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem())?;
    assert_eq!(again.cert_pem(), ca.cert_pem());
    let subject = cert_subject(&der_of(ca.cert_pem()))?;
    assert_eq!(subject.common_name, "edgeplane-ca");
    let left = subject.not_after.as_second() - jiff::Timestamp::now().as_second();
    let ten_years = i64::try_from(CA_VALIDITY.as_secs())?;
    assert!((ten_years - 60..=ten_years).contains(&left), "{left}s left");
    Ok(())
}

#[test]
fn from_pem_rejects_wrong_key_and_non_ca() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("a")?;
    let other = CertificateAuthority::generate("b")?;
    assert!(matches!(
        CertificateAuthority::from_pem(ca.cert_pem(), other.key_pem()),
        Err(PkiError::KeyMismatch)
    ));
    let leaf = ca.issue(&server_request())?;
    assert!(matches!(
        CertificateAuthority::from_pem(&leaf.cert_pem, &leaf.key_pem),
        Err(PkiError::NotCa)
    ));
    assert!(matches!(
        CertificateAuthority::from_pem("garbage", ca.key_pem()),
        Err(PkiError::NoCertificate { .. })
    ));
    Ok(())
}

#[test]
fn issued_certificate_carries_the_request() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let mut req = server_request();
    req.organizations = vec![
        "system:masters".into(),
        "edgeplane:view".into(),
        "ops".into(),
    ];
    let issued = ca.issue(&req)?;
    let subject = cert_subject(&der_of(&issued.cert_pem))?;
    assert_eq!(subject.common_name, "system:controller:c1");
    assert_eq!(subject.organizations, req.organizations);
    let (dns, ips) = cert_sans(&issued.cert_pem)?;
    assert_eq!(dns, req.dns_names);
    assert_eq!(ips, req.ip_addresses);
    ca.check_issued(&issued.cert_pem, &issued.key_pem)?;

    let der = der_of(&issued.cert_pem);
    let (_, parsed) = X509Certificate::from_der(&der)?;
    let (_, ca_parsed) = X509Certificate::from_der(ca.cert_der())?;
    assert!(
        parsed
            .verify_signature(Some(ca_parsed.public_key()))
            .is_ok()
    );
    assert_eq!(parsed.issuer().as_raw(), ca_parsed.subject().as_raw());
    let eku = parsed.extended_key_usage()?.expect("extendedKeyUsage");
    assert!(eku.value.server_auth && eku.value.client_auth);
    assert!(!parsed.is_ca());
    Ok(())
}

#[test]
fn leaf_never_outlives_the_ca_and_bad_requests_fail() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let ca_end = cert_subject(ca.cert_der())?.not_after;
    let mut req = server_request();
    req.validity = Duration::from_secs(50 * 365 * 86400);
    let long = ca.issue(&req)?;
    assert_eq!(cert_subject(&der_of(&long.cert_pem))?.not_after, ca_end);

    let bad = [
        CertRequest {
            common_name: String::new(),
            ..server_request()
        },
        CertRequest {
            server_auth: false,
            client_auth: false,
            ..server_request()
        },
        CertRequest {
            validity: Duration::ZERO,
            ..server_request()
        },
        CertRequest {
            dns_names: vec!["bücher.example".into()],
            ..server_request()
        },
    ];
    for req in bad {
        assert!(
            matches!(ca.issue(&req), Err(PkiError::BadRequest(_))),
            "{req:?}"
        );
    }
    Ok(())
}

#[test]
fn check_issued_rejects_foreign_certs_and_keys() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("a")?;
    let foreign = CertificateAuthority::generate("a")?;
    let cert = foreign.issue(&server_request())?;
    assert!(matches!(
        ca.check_issued(&cert.cert_pem, &cert.key_pem),
        Err(PkiError::NotIssuedByCa)
    ));
    let mine = ca.issue(&server_request())?;
    assert!(matches!(
        ca.check_issued(&mine.cert_pem, &cert.key_pem),
        Err(PkiError::KeyMismatch)
    ));
    Ok(())
}

#[test]
fn sign_csr_uses_the_request_not_the_csr_subject() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let agent_key = KeyPair::generate()?;
    let mut asked = CertificateParams::new(vec!["evil.example".to_owned()])?;
    asked
        .distinguished_name
        .push(rcgen::DnType::CommonName, "system:admin");
    let csr_pem = asked.serialize_request(&agent_key)?.pem()?;
    let req = CertRequest {
        common_name: "system:node:edge-1".into(),
        organizations: vec!["system:nodes".into()],
        client_auth: true,
        ..CertRequest::default()
    };
    let cert_pem = ca.sign_csr(&csr_pem, &req)?;
    ca.check_issued(&cert_pem, &agent_key.serialize_pem())?;
    let subject = cert_subject(&der_of(&cert_pem))?;
    assert_eq!(subject.common_name, "system:node:edge-1");
    assert_eq!(subject.organizations, vec!["system:nodes"]);
    assert_eq!(cert_sans(&cert_pem)?, (vec![], vec![]));
    Ok(())
}

#[test]
fn generated_csr_is_signed_for_its_key() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let (csr_pem, key_pem) = generate_csr("system:node:edge-2")?;
    let req = CertRequest {
        common_name: "system:node:edge-2".into(),
        organizations: vec!["system:nodes".into()],
        client_auth: true,
        ..CertRequest::default()
    };
    let cert_pem = ca.sign_csr(&csr_pem, &req)?;
    ca.check_issued(&cert_pem, &key_pem)?;
    Ok(())
}

#[test]
fn sign_csr_rejects_a_tampered_request() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let key = KeyPair::generate()?;
    let csr = CertificateParams::new(vec!["node".to_owned()])?.serialize_request(&key)?;
    let mut der = csr.der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01; // corrupt the signature
    let tampered = pem_encode("CERTIFICATE REQUEST", &der);
    let req = CertRequest {
        common_name: "x".into(),
        client_auth: true,
        ..CertRequest::default()
    };
    assert!(matches!(
        ca.sign_csr(&tampered, &req),
        Err(PkiError::BadCsr(_))
    ));
    assert!(matches!(
        ca.sign_csr("nonsense", &req),
        Err(PkiError::BadCsr(_))
    ));
    Ok(())
}

#[test]
fn serials_are_unique() -> anyhow_free::Result {
    let ca = CertificateAuthority::generate("edgeplane-ca")?;
    let a = der_of(&ca.issue(&server_request())?.cert_pem);
    let b = der_of(&ca.issue(&server_request())?.cert_pem);
    let (_, a) = X509Certificate::from_der(&a)?;
    let (_, b) = X509Certificate::from_der(&b)?;
    assert_ne!(a.raw_serial(), b.raw_serial());
    assert_eq!(a.raw_serial().len(), 16);
    Ok(())
}

/// A boxed error so tests can use `?` on any error type without anyhow.
mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
