//! Bootstrap tokens (`abcdef.0123456789abcdef`): generation, parsing and hashing.
//!
//! Tokens work as kubeadm's, with one difference: the Secret in `kube-system` keeps
//! only the SHA-256 of the token secret, so reading Secrets does not yield tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// The `type` of bootstrap token Secrets.
pub const TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The usage that lets a token authenticate a joining agent.
pub const USAGE_AUTHENTICATION: &str = "usage-bootstrap-authentication";
/// The usage that lets a token join a controller to the control plane.
pub const USAGE_CONTROL_PLANE: &str = "usage-edgeplane-control-plane";
/// The namespace that holds bootstrap token Secrets.
pub const TOKEN_NAMESPACE: &str = "kube-system";

const ID_LEN: usize = 6;
const SECRET_LEN: usize = 16;
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Errors of token parsing and of reading token Secrets.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "malformed bootstrap token: expected <6 chars [a-z0-9]>.<16 chars [a-z0-9]>, as printed by `edgectl token create`"
    )]
    Malformed,
    #[error(
        "malformed control-plane token: expected K10<64 hex digits>::<id>.<secret>, as printed by `edgectl token create --control-plane`"
    )]
    MalformedControlPlane,
    #[error("invalid bootstrap token secret: {0}")]
    InvalidSecret(String),
    #[error("the system random generator failed")]
    Random,
}

/// A bootstrap token. `Display` gives the `id.secret` form; `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    pub id: String,
    pub secret: String,
}

impl BootstrapToken {
    /// A new random token from the system's secure random generator.
    pub fn generate() -> Self {
        // SystemRandom only fails when the OS has no entropy source at all; nothing
        // can be done then but stop.
        Self::try_generate().expect("the operating system's random generator failed")
    }

    /// Like `generate`, returning an error instead of panicking.
    pub fn try_generate() -> Result<Self, TokenError> {
        let rng = SystemRandom::new();
        Ok(BootstrapToken {
            id: random_string(&rng, ID_LEN)?,
            secret: random_string(&rng, SECRET_LEN)?,
        })
    }

    /// Parses `id.secret`.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let (id, secret) = s.trim().split_once('.').ok_or(TokenError::Malformed)?;
        if !valid_part(id, ID_LEN) || !valid_part(secret, SECRET_LEN) {
            return Err(TokenError::Malformed);
        }
        Ok(BootstrapToken {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The lowercase hex SHA-256 of the secret, as kept in the token Secret.
    pub fn secret_sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Whether this token's secret hashes to `sha256_hex`, compared in constant time.
    pub fn secret_matches(&self, sha256_hex: &str) -> bool {
        let mut stored = [0u8; 32];
        if hex::decode_to_slice(sha256_hex.trim(), &mut stored).is_err() {
            return false;
        }
        let presented: [u8; 32] = Sha256::digest(self.secret.as_bytes()).into();
        constant_time_eq(&presented, &stored)
    }

    /// The name of this token's Secret: `bootstrap-token-<id>`.
    pub fn secret_name(&self) -> String {
        secret_name(&self.id)
    }
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl std::str::FromStr for BootstrapToken {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, TokenError> {
        Self::parse(s)
    }
}

/// The Secret name of the token with id `id`.
pub fn secret_name(id: &str) -> String {
    format!("bootstrap-token-{id}")
}

/// The v1 Secret that records `token` in `kube-system`; only the secret's hash is kept.
pub fn token_secret_object(
    token: &BootstrapToken,
    expires: Option<jiff::Timestamp>,
    description: Option<&str>,
    control_plane: bool,
) -> serde_json::Value {
    let mut data = serde_json::Map::new();
    let mut put = |key: &str, value: &str| {
        data.insert(key.to_owned(), BASE64.encode(value).into());
    };
    put("token-id", &token.id);
    put("token-secret-sha256", &token.secret_sha256_hex());
    if let Some(at) = expires {
        put("expiration", &at.to_string());
    }
    if let Some(d) = description {
        put("description", d);
    }
    put(USAGE_AUTHENTICATION, "true");
    if control_plane {
        put(USAGE_CONTROL_PLANE, "true");
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": token.secret_name(), "namespace": TOKEN_NAMESPACE },
        "type": TOKEN_SECRET_TYPE,
        "data": data,
    })
}

/// What a token Secret says about its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub expires: Option<jiff::Timestamp>,
    pub description: Option<String>,
    /// The `usage-*` keys whose value is `"true"`, sorted.
    pub usages: Vec<String>,
    pub secret_sha256_hex: String,
}

impl TokenInfo {
    /// Whether the token carries `usage`.
    pub fn has_usage(&self, usage: &str) -> bool {
        self.usages.iter().any(|u| u == usage)
    }
}

/// Reads a bootstrap token Secret (from `data`, base64, or `stringData`).
pub fn token_info_from_secret(secret: &serde_json::Value) -> Result<TokenInfo, TokenError> {
    let bad = |what: &str| TokenError::InvalidSecret(what.to_owned());
    if secret.get("type").and_then(|t| t.as_str()) != Some(TOKEN_SECRET_TYPE) {
        return Err(bad(&format!(
            "the Secret's type is not {TOKEN_SECRET_TYPE}"
        )));
    }
    let mut fields = std::collections::BTreeMap::<String, String>::new();
    if let Some(data) = secret.get("data").and_then(|d| d.as_object()) {
        for (key, value) in data {
            let encoded = value
                .as_str()
                .ok_or_else(|| bad(&format!("data.{key} is not a string")))?;
            let bytes = BASE64
                .decode(encoded)
                .map_err(|_| bad(&format!("data.{key} is not base64")))?;
            let text =
                String::from_utf8(bytes).map_err(|_| bad(&format!("data.{key} is not UTF-8")))?;
            fields.insert(key.clone(), text);
        }
    }
    if let Some(data) = secret.get("stringData").and_then(|d| d.as_object()) {
        for (key, value) in data {
            if let Some(text) = value.as_str() {
                fields.insert(key.clone(), text.to_owned());
            }
        }
    }
    let id = fields
        .get("token-id")
        .cloned()
        .ok_or_else(|| bad("token-id is missing"))?;
    if !valid_part(&id, ID_LEN) {
        return Err(bad("token-id is not 6 characters [a-z0-9]"));
    }
    let name = secret.pointer("/metadata/name").and_then(|n| n.as_str());
    if let Some(name) = name.filter(|n| *n != secret_name(&id)) {
        return Err(bad(&format!(
            "the Secret is named {name}, not {}",
            secret_name(&id)
        )));
    }
    let secret_sha256_hex = fields
        .get("token-secret-sha256")
        .cloned()
        .ok_or_else(|| bad("token-secret-sha256 is missing"))?;
    if secret_sha256_hex.len() != 64 || hex::decode(&secret_sha256_hex).is_err() {
        return Err(bad("token-secret-sha256 is not 64 hex digits"));
    }
    let expires = match fields.get("expiration") {
        Some(text) => Some(
            text.parse::<jiff::Timestamp>()
                .map_err(|e| bad(&format!("expiration {text:?} is not RFC 3339: {e}")))?,
        ),
        None => None,
    };
    let usages = fields
        .iter()
        .filter(|(k, v)| k.starts_with("usage-") && v.as_str() == "true")
        .map(|(k, _)| k.clone())
        .collect();
    Ok(TokenInfo {
        id,
        expires,
        description: fields.get("description").cloned(),
        usages,
        secret_sha256_hex,
    })
}

/// A token to join a controller to the control plane, K3s style:
/// `K10<CA pin hex>::<id>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlPlaneToken {
    /// `sha256:<hex>` of the cluster CA's public key.
    pub ca_pin: String,
    pub token: BootstrapToken,
}

impl ControlPlaneToken {
    /// Parses `K10<64 hex digits>::<id>.<secret>`.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let rest = s
            .trim()
            .strip_prefix("K10")
            .ok_or(TokenError::MalformedControlPlane)?;
        let (pin_hex, token) = rest
            .split_once("::")
            .ok_or(TokenError::MalformedControlPlane)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(pin_hex, &mut digest)
            .map_err(|_| TokenError::MalformedControlPlane)?;
        Ok(ControlPlaneToken {
            ca_pin: format!("sha256:{}", hex::encode(digest)),
            token: BootstrapToken::parse(token)?,
        })
    }
}

impl fmt::Display for ControlPlaneToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.ca_pin.strip_prefix("sha256:").unwrap_or(&self.ca_pin);
        write!(f, "K10{hex}::{}", self.token)
    }
}

impl fmt::Debug for ControlPlaneToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlPlaneToken")
            .field("ca_pin", &self.ca_pin)
            .field("token", &self.token)
            .finish()
    }
}

impl std::str::FromStr for ControlPlaneToken {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, TokenError> {
        Self::parse(s)
    }
}

fn valid_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn random_string(rng: &SystemRandom, len: usize) -> Result<String, TokenError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        rng.fill(&mut buf).map_err(|_| TokenError::Random)?;
        // Rejection sampling: 252 is the largest multiple of 36 below 256, so every
        // character is equally likely.
        for b in buf.iter().filter(|b| **b < 252) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b % 36)]));
        }
    }
    Ok(out)
}

/// Compares two digests without an early exit, so timing does not reveal how many
/// leading bytes match.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
#[path = "token_test.rs"]
mod tests;
