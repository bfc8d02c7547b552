//! Just enough DER to write a certificate subject with several organisations and to
//! swap it into a certificate that rcgen produced, re-signing the result.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pki::PkiError;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const UTF8_STRING: u8 = 0x0c;
const BIT_STRING: u8 = 0x03;
const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
const OID_ORGANIZATION: [u8; 3] = [0x55, 0x04, 0x0a];

/// A tag-length-value with a definite length.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Header length and content length of the DER element at the start of `bytes`.
fn header(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > std::mem::size_of::<usize>() {
        return None;
    }
    let mut len = 0usize;
    for b in bytes.get(2..2 + n)? {
        len = (len << 8) | usize::from(*b);
    }
    Some((2 + n, len))
}

/// Total length (header + content) of the DER element at the start of `bytes`.
fn element_len(bytes: &[u8]) -> Option<usize> {
    let (h, c) = header(bytes)?;
    let total = h.checked_add(c)?;
    (total <= bytes.len()).then_some(total)
}

/// Where `inner`, a sub-slice of `outer`, starts in it.
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

fn attribute(oid: &[u8], value: &str) -> Vec<u8> {
    let mut seq = tlv(0x06, oid);
    seq.extend(tlv(UTF8_STRING, value.as_bytes()));
    tlv(SET, &tlv(SEQUENCE, &seq))
}

/// The Name `O=<org>, ..., CN=<common_name>`, one attribute per RDN, as Go and
/// kubeadm order them.
pub(crate) fn name(organizations: &[String], common_name: &str) -> Vec<u8> {
    let mut rdns = Vec::new();
    for org in organizations {
        rdns.extend(attribute(&OID_ORGANIZATION, org));
    }
    rdns.extend(attribute(&OID_COMMON_NAME, common_name));
    tlv(SEQUENCE, &rdns)
}

/// Replaces the subject of `cert_der` by `name` and signs the new to-be-signed part
/// with `sign`, keeping the signature algorithm.
pub(crate) fn replace_subject(
    cert_der: &[u8],
    name: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, rcgen::Error>,
) -> Result<Vec<u8>, PkiError> {
    let malformed = || PkiError::BadCertificate("unexpected DER layout".into());
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
    let tbs: &[u8] = cert.tbs_certificate.as_ref();
    let subject = cert.tbs_certificate.subject.as_raw();
    let (cert_header, _) = header(cert_der).ok_or_else(malformed)?;
    if offset_in(cert_der, tbs) != Some(cert_header) {
        return Err(malformed());
    }
    let (tbs_header, _) = header(tbs).ok_or_else(malformed)?;
    let subject_start = offset_in(tbs, subject).ok_or_else(malformed)?;
    if subject_start < tbs_header {
        return Err(malformed());
    }
    let mut tbs_content = Vec::with_capacity(tbs.len() + name.len());
    tbs_content.extend_from_slice(&tbs[tbs_header..subject_start]);
    tbs_content.extend_from_slice(name);
    tbs_content.extend_from_slice(&tbs[subject_start + subject.len()..]);
    let new_tbs = tlv(SEQUENCE, &tbs_content);

    let after_tbs = &cert_der[cert_header + tbs.len()..];
    let alg = &after_tbs[..element_len(after_tbs).ok_or_else(malformed)?];
    let signature = sign(&new_tbs)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend(signature);

    let mut content = new_tbs;
    content.extend_from_slice(alg);
    content.extend(tlv(BIT_STRING, &bits));
    Ok(tlv(SEQUENCE, &content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let encoded = tlv(SEQUENCE, &content);
            assert_eq!(header(&encoded), Some((encoded.len() - len, len)));
            assert_eq!(element_len(&encoded), Some(encoded.len()));
        }
    }

    #[test]
    fn truncated_input_is_rejected() {
        let encoded = tlv(SEQUENCE, &[1u8; 300]);
        assert_eq!(element_len(&encoded[..100]), None);
        assert_eq!(header(&[0x30]), None);
    }
}
