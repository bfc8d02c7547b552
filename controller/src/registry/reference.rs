//! Repository names, tags and digests, validated with the OCI distribution spec's grammar.
//!
//! These are the only values that become paths under `DATA_DIR/registry`; the grammar admits no
//! `..`, no empty component and no leading dot or slash, so a validated value cannot leave the
//! registry directory.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest as _, Sha256};

use super::error::RegistryError;

// The patterns are constants checked by the tests below, so compiling them cannot fail on
// anything a client sends.
/// The spec's `<name>`: slash-separated lowercase components.
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
        .expect("constant pattern")
});
/// The spec's `<reference>` when it is a tag.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("constant pattern"));
/// The spec's `<digest>`: `algorithm:encoded`.
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$").expect("constant pattern")
});

/// The longest repository name accepted; the spec asks clients to keep `host/name` under 255.
pub const MAX_NAME_LEN: usize = 255;

/// A valid repository name such as `edge/apps/hello`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(name: &str) -> Result<RepoName, RegistryError> {
        if name.len() > MAX_NAME_LEN || !NAME.is_match(name) {
            return Err(RegistryError::NameInvalid(name.to_string()));
        }
        Ok(RepoName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `sha256:<64 lowercase hex>` digest, the only algorithm this registry stores.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses any well-formed digest; well-formed ones of other algorithms are refused as
    /// unsupported rather than invalid, so the message says what to change.
    pub fn parse(text: &str) -> Result<Digest, RegistryError> {
        if !DIGEST.is_match(text) {
            return Err(RegistryError::DigestInvalid(format!(
                "{text:?} is not a digest (algorithm:hex)"
            )));
        }
        let (algorithm, encoded) = text.split_once(':').unwrap_or_default();
        if algorithm != "sha256" {
            return Err(RegistryError::DigestInvalid(format!(
                "digest algorithm {algorithm:?} is not supported: use sha256"
            )));
        }
        if encoded.len() != 64
            || !encoded
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(RegistryError::DigestInvalid(format!(
                "{text:?} is not a sha256 digest (64 lowercase hex digits)"
            )));
        }
        Ok(Digest {
            hex: encoded.to_string(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest a finished incremental hash describes.
    pub fn from_hasher(hasher: Sha256) -> Digest {
        Digest {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The 64 hex digits, which name the blob's file.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// `Ok` when `actual` is this digest, else `DIGEST_INVALID` naming both.
    pub fn verify(&self, actual: &Digest) -> Result<(), RegistryError> {
        if self == actual {
            Ok(())
        } else {
            Err(RegistryError::DigestInvalid(format!(
                "the content's digest is {actual}, not {self}"
            )))
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, RegistryError> {
        if text.contains(':') {
            return Digest::parse(text).map(Reference::Digest);
        }
        if TAG.is_match(text) {
            Ok(Reference::Tag(text.to_string()))
        } else {
            Err(RegistryError::ManifestInvalid(format!(
                "{text:?} is neither a tag ([a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}) nor a digest"
            )))
        }
    }
}

/// Whether `text` is a valid tag, for the `last` parameter of tag listings.
pub fn is_tag(text: &str) -> bool {
    TAG.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn repository_names() {
        let cases = [
            ("hello", true),
            ("edge/apps/hello", true),
            ("a.b_c__d-e---f/g", true),
            ("library/nginx", true),
            ("", false),
            ("Hello", false),
            ("a//b", false),
            ("/a", false),
            ("a/", false),
            ("..", false),
            ("a/../b", false),
            ("a/./b", false),
            ("_manifests", false),
            ("a/_layers", false),
            ("a___b", false),
            ("-a", false),
            ("a b", false),
        ];
        for (name, valid) in cases {
            assert_eq!(RepoName::parse(name).is_ok(), valid, "{name:?}");
        }
        assert!(RepoName::parse(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn references() {
        assert_eq!(
            Reference::parse("v1.0").expect("tag"),
            Reference::Tag("v1.0".into())
        );
        assert_eq!(
            Reference::parse("_latest-1").expect("tag"),
            Reference::Tag("_latest-1".into())
        );
        let digest = format!("sha256:{HEX}");
        assert_eq!(
            Reference::parse(&digest).expect("digest"),
            Reference::Digest(Digest { hex: HEX.into() })
        );
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "..",
            &"t".repeat(129),
            "sha256:xyz",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Reference::parse(&"t".repeat(128)).is_ok());
    }

    #[test]
    fn digests() {
        let cases = [
            (format!("sha256:{HEX}"), true),
            (format!("sha256:{}", HEX.to_uppercase()), false),
            (format!("sha256:{}", &HEX[1..]), false),
            (format!("sha512:{HEX}"), false),
            (format!("sha256:../{}", &HEX[3..]), false),
            ("sha256".to_string(), false),
            (HEX.to_string(), false),
        ];
        for (text, valid) in cases {
            assert_eq!(Digest::parse(&text).is_ok(), valid, "{text:?}");
        }
        match Digest::parse(&format!("sha512:{HEX}")) {
            Err(RegistryError::DigestInvalid(message)) => {
                assert!(message.contains("not supported"), "{message}")
            }
            other => panic!("sha512 must be refused as unsupported, got {other:?}"),
        }
    }

    #[test]
    fn digest_of_content_and_verification() {
        let empty = Digest::of(b"");
        assert_eq!(empty.to_string(), format!("sha256:{HEX}"));
        let mut hasher = Sha256::new();
        hasher.update(b"hello ");
        hasher.update(b"world");
        let incremental = Digest::from_hasher(hasher);
        assert_eq!(incremental, Digest::of(b"hello world"));
        assert!(incremental.verify(&Digest::of(b"hello world")).is_ok());
        match incremental.verify(&empty) {
            Err(err @ RegistryError::DigestInvalid(_)) => {
                assert_eq!(err.code(), "DIGEST_INVALID");
                assert_eq!(err.status(), 400);
            }
            other => panic!("a mismatch must be DIGEST_INVALID, got {other:?}"),
        }
    }
}
