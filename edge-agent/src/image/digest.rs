//! Content digests (`sha256:<64 lowercase hex>`), validated before they ever name a file.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// The only algorithm accepted: every registry and client in use writes sha256.
const PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;
/// How much of a rejected digest an error message repeats; a hostile manifest can make it huge.
const SHOWN_CHARS: usize = 80;

/// A validated `sha256:<hex>` digest. Its hex part is safe to use as a file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// A string that is not a `sha256:` digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {0:?}: expected sha256: and 64 lowercase hex digits")]
pub struct InvalidDigest(pub String);

impl Digest {
    /// Accepts exactly `sha256:` followed by 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Digest, InvalidDigest> {
        let valid = text.strip_prefix(PREFIX).is_some_and(|hex| {
            hex.len() == HEX_LEN
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if valid {
            Ok(Digest(text.to_owned()))
        } else {
            Err(InvalidDigest(text.chars().take(SHOWN_CHARS).collect()))
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::finish(Sha256::new_with_prefix(bytes))
    }

    /// The digest of everything fed to `hasher`.
    pub fn finish(hasher: Sha256) -> Digest {
        Digest(format!("{PREFIX}{}", hex::encode(hasher.finalize())))
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_sha256_is_accepted() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(
            Digest::parse(&format!("sha256:{hex}")).map(|d| d.hex().to_owned()),
            Ok(hex.clone())
        );
        for bad in [
            String::new(),
            hex.clone(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha512:{hex}"),
            format!("sha256:{}", &hex[1..]),
            format!("sha256:{hex}0"),
            format!("sha256:../../{}", &hex[6..]),
            format!("sha256:{}/", &hex[1..]),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn error_does_not_repeat_a_huge_input() {
        let huge = "x".repeat(1 << 20);
        let message = Digest::parse(&huge).err().map(|e| e.to_string());
        assert!(message.is_some_and(|m| m.len() < 200));
    }

    #[test]
    fn digest_of_known_content() {
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
