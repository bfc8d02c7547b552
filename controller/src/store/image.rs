//! The snapshot image: every object plus the applied state, in a self-describing, checksummed
//! format used both for Raft snapshots and for backups.
//!
//! Layout: `EDGESNAP` magic (8 bytes), format version (u32 LE), body length (u64 LE), the
//! postcard-encoded body, then the SHA-256 of everything before it (32 bytes). A reader checks
//! the magic, the version, the exact length and the checksum before decoding the body, so a
//! truncated or corrupted file is rejected with a precise reason rather than half-restored.

use openraft::{BasicNode, LogId, StoredMembership};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"EDGESNAP";
/// Version 2 added the store revision (version 1 images took it from the applied log index).
const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 8;
const CHECKSUM_LEN: usize = 32;

/// Why bytes are not a valid snapshot image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("not an Edgeplane store backup (bad magic header)")]
    BadMagic,
    #[error(
        "backup format version {0} is not supported by this controller (supports {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("backup is truncated: expected {expected} bytes, got {actual}")]
    Truncated { expected: u64, actual: u64 },
    #[error("backup has {0} unexpected trailing bytes")]
    TrailingBytes(u64),
    #[error("backup checksum mismatch: the file is corrupt")]
    ChecksumMismatch,
    #[error("backup body is malformed: {0}")]
    Malformed(String),
}

/// One object in an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageObject {
    pub key: String,
    pub revision: u64,
    pub bytes: Vec<u8>,
}

/// The decoded body of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotImage {
    pub last_applied: Option<LogId<u64>>,
    /// The store revision the image was taken at.
    pub revision: u64,
    pub membership: StoredMembership<u64, BasicNode>,
    /// In key order.
    pub objects: Vec<ImageObject>,
}

impl SnapshotImage {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, ImageError> {
        let body = postcard::to_stdvec(self).map_err(|e| ImageError::Malformed(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + CHECKSUM_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        let actual = bytes.len() as u64;
        let truncated = |expected: usize| ImageError::Truncated {
            expected: expected as u64,
            actual,
        };
        if bytes.len() < MAGIC.len() {
            return Err(if MAGIC.starts_with(bytes) {
                truncated(HEADER_LEN)
            } else {
                ImageError::BadMagic
            });
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(ImageError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(truncated(HEADER_LEN));
        }
        let mut version = [0u8; 4];
        version.copy_from_slice(&bytes[8..12]);
        let version = u32::from_le_bytes(version);
        if version != FORMAT_VERSION {
            return Err(ImageError::UnsupportedVersion(version));
        }
        let mut body_len = [0u8; 8];
        body_len.copy_from_slice(&bytes[12..HEADER_LEN]);
        let body_len = u64::from_le_bytes(body_len);
        let expected = (HEADER_LEN as u64)
            .saturating_add(body_len)
            .saturating_add(CHECKSUM_LEN as u64);
        if actual < expected {
            return Err(ImageError::Truncated { expected, actual });
        }
        if actual > expected {
            return Err(ImageError::TrailingBytes(actual - expected));
        }
        // `expected` fits in memory because it equals the slice length.
        let split = HEADER_LEN + body_len as usize;
        let (covered, checksum) = bytes.split_at(split);
        if Sha256::digest(covered).as_slice() != checksum {
            return Err(ImageError::ChecksumMismatch);
        }
        postcard::from_bytes(&covered[HEADER_LEN..])
            .map_err(|e| ImageError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SnapshotImage {
        SnapshotImage {
            last_applied: Some(LogId::new(openraft::CommittedLeaderId::new(3, 1), 42)),
            revision: 40,
            membership: StoredMembership::default(),
            objects: vec![ImageObject {
                key: "/registry/core/pods/default/a".into(),
                revision: 40,
                bytes: br#"{"a":1}"#.to_vec(),
            }],
        }
    }

    #[test]
    fn round_trip() {
        let image = sample();
        let bytes = image.encode().expect("encode");
        assert_eq!(SnapshotImage::decode(&bytes), Ok(image));
    }

    #[test]
    fn rejects_damage() {
        let bytes = sample().encode().expect("encode");
        type Check = fn(&ImageError) -> bool;
        let cases: Vec<(Vec<u8>, Check)> = vec![
            (Vec::new(), |e| matches!(e, ImageError::Truncated { .. })),
            (b"NOTASNAPSHOT".to_vec(), |e| *e == ImageError::BadMagic),
            (bytes[..10].to_vec(), |e| {
                matches!(e, ImageError::Truncated { .. })
            }),
            (bytes[..bytes.len() - 1].to_vec(), |e| {
                matches!(e, ImageError::Truncated { .. })
            }),
            ([bytes.as_slice(), b"x"].concat(), |e| {
                *e == ImageError::TrailingBytes(1)
            }),
            (
                {
                    let mut b = bytes.clone();
                    b[HEADER_LEN + 2] ^= 0xff;
                    b
                },
                |e| *e == ImageError::ChecksumMismatch,
            ),
            (
                {
                    let mut b = bytes.clone();
                    b[8] = 9;
                    b
                },
                |e| *e == ImageError::UnsupportedVersion(9),
            ),
        ];
        for (i, (input, check)) in cases.into_iter().enumerate() {
            let err = SnapshotImage::decode(&input).expect_err("damaged image must be rejected");
            assert!(check(&err), "case {i}: unexpected error {err:?}");
        }
    }
}
