//! Bootstrap token authentication against the token Secrets kept in kube-system.
//!
//! A token Secret (`bootstrap-token-<id>`) stores the SHA-256 of the token secret,
//! never the secret itself. Creation is `new_token`; the caller stores the Secret
//! through the API and shows the token once.

use std::time::Duration;

use edge_wire::token::{
    BootstrapToken, TokenInfo, USAGE_AUTHENTICATION, USAGE_CONTROL_PLANE, token_info_from_secret,
    token_secret_object,
};

use crate::auth::{BOOTSTRAP_GROUP, CONTROL_PLANE_JOINERS_GROUP, Identity};

/// The prefix of bootstrap token user names.
pub const BOOTSTRAP_USER_PREFIX: &str = "system:bootstrap:";

/// Why a presented bootstrap token is not accepted. The API answers 401 for all of
/// them alike; the messages are for logs and for the operator.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("bootstrap token {id} is unknown: create one with `edgectl token create`")]
    Unknown { id: String },
    #[error("bootstrap token {id} expired at {at}: create a new one with `edgectl token create`")]
    Expired { id: String, at: jiff::Timestamp },
    #[error("bootstrap token {id} does not match its secret: check the token you passed")]
    Mismatch { id: String },
    #[error(
        "bootstrap token {id} is not for authentication: create one with `edgectl token create`"
    )]
    NotForAuthentication { id: String },
    #[error("the Secret of bootstrap token {id} is invalid: {source}")]
    InvalidSecret {
        id: String,
        source: edge_wire::token::TokenError,
    },
}

/// Checks `presented` against its Secret (`None` when there is no such Secret).
/// The secret hash is compared in constant time, and checked before expiry and
/// usages so that someone without the secret learns nothing about the token.
pub fn authenticate(
    secret: Option<&serde_json::Value>,
    presented: &BootstrapToken,
    now: jiff::Timestamp,
) -> Result<Identity, TokenError> {
    let id = || presented.id.clone();
    let secret = secret.ok_or_else(|| TokenError::Unknown { id: id() })?;
    let info = token_info_from_secret(secret)
        .map_err(|source| TokenError::InvalidSecret { id: id(), source })?;
    if info.id != presented.id {
        return Err(TokenError::Unknown { id: id() });
    }
    if !presented.secret_matches(&info.secret_sha256_hex) {
        return Err(TokenError::Mismatch { id: id() });
    }
    if let Some(at) = info.expires.filter(|at| *at <= now) {
        return Err(TokenError::Expired { id: id(), at });
    }
    if !info.has_usage(USAGE_AUTHENTICATION) {
        return Err(TokenError::NotForAuthentication { id: id() });
    }
    let mut groups = vec![BOOTSTRAP_GROUP.to_owned()];
    if info.has_usage(USAGE_CONTROL_PLANE) {
        groups.push(CONTROL_PLANE_JOINERS_GROUP.to_owned());
    }
    Ok(Identity {
        user: format!("{BOOTSTRAP_USER_PREFIX}{}", presented.id),
        groups,
    })
}

/// A new random token and the Secret that records it, expiring `ttl` after `now`
/// (never when `ttl` is `None`).
pub fn new_token(
    ttl: Option<Duration>,
    description: Option<&str>,
    control_plane: bool,
    now: jiff::Timestamp,
) -> Result<(BootstrapToken, serde_json::Value), edge_wire::token::TokenError> {
    let token = BootstrapToken::try_generate()?;
    let expires = match ttl {
        Some(ttl) => Some(
            jiff::SignedDuration::try_from(ttl)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
                .ok_or_else(|| {
                    edge_wire::token::TokenError::InvalidSecret(format!(
                        "token TTL {}s is out of range",
                        ttl.as_secs()
                    ))
                })?,
        ),
        None => None,
    };
    let secret = token_secret_object(&token, expires, description, control_plane);
    Ok((token, secret))
}

/// Whether a token Secret has expired at `now`, for cleaning up old tokens. Secrets
/// that cannot be read are not reported as expired.
pub fn is_expired(secret: &serde_json::Value, now: jiff::Timestamp) -> bool {
    token_info_from_secret(secret)
        .ok()
        .and_then(|info: TokenInfo| info.expires)
        .is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> BootstrapToken {
        BootstrapToken {
            id: "abcdef".into(),
            secret: "0123456789abcdef".into(),
        }
    }

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().expect("test timestamp")
    }

    #[test]
    fn authentication_cases() {
        let now = at("2030-01-01T00:00:00Z");
        let later = Some(at("2030-01-02T00:00:00Z"));
        let earlier = Some(at("2029-12-31T00:00:00Z"));
        let t = token();
        let agent = token_secret_object(&t, later, None, false);
        let joiner = token_secret_object(&t, None, Some("second controller"), true);
        let expired = token_secret_object(&t, earlier, None, false);
        let mut no_auth = agent.clone();
        if let Some(data) = no_auth["data"].as_object_mut() {
            data.remove(USAGE_AUTHENTICATION);
        }
        let other = BootstrapToken {
            id: "zzzzzz".into(),
            secret: t.secret.clone(),
        };
        let wrong_secret = BootstrapToken {
            id: t.id.clone(),
            secret: "0123456789abcdee".into(),
        };
        let broken = serde_json::json!({"type": "Opaque"});

        let ok = authenticate(Some(&agent), &t, now).expect("valid token");
        assert_eq!(ok.user, "system:bootstrap:abcdef");
        assert_eq!(ok.groups, vec![BOOTSTRAP_GROUP]);
        let cp = authenticate(Some(&joiner), &t, now).expect("valid token");
        assert_eq!(
            cp.groups,
            vec![BOOTSTRAP_GROUP, CONTROL_PLANE_JOINERS_GROUP]
        );

        let failures: [(Option<&serde_json::Value>, &BootstrapToken, &str); 6] = [
            (None, &t, "unknown"),
            (Some(&agent), &other, "unknown"),
            (Some(&agent), &wrong_secret, "mismatch"),
            (Some(&expired), &wrong_secret, "mismatch"),
            (Some(&expired), &t, "expired"),
            (Some(&no_auth), &t, "not-auth"),
        ];
        for (secret, presented, want) in failures {
            let got = authenticate(secret, presented, now);
            let kind = match &got {
                Err(TokenError::Unknown { .. }) => "unknown",
                Err(TokenError::Mismatch { .. }) => "mismatch",
                Err(TokenError::Expired { .. }) => "expired",
                Err(TokenError::NotForAuthentication { .. }) => "not-auth",
                Err(TokenError::InvalidSecret { .. }) => "invalid",
                Ok(_) => "ok",
            };
            assert_eq!(kind, want, "{presented:?}: {got:?}");
        }
        assert!(matches!(
            authenticate(Some(&broken), &t, now),
            Err(TokenError::InvalidSecret { .. })
        ));
    }

    #[test]
    fn expiry_message_says_what_to_do() {
        let t = token();
        let secret = token_secret_object(&t, Some(at("2029-12-31T00:00:00Z")), None, false);
        let err =
            authenticate(Some(&secret), &t, at("2030-01-01T00:00:00Z")).expect_err("expired token");
        assert_eq!(
            err.to_string(),
            "bootstrap token abcdef expired at 2029-12-31T00:00:00Z: create a new one with `edgectl token create`"
        );
    }

    #[test]
    fn new_token_expires_after_its_ttl() {
        let now = at("2030-01-01T00:00:00Z");
        let (token, secret) =
            new_token(Some(Duration::from_secs(86400)), None, false, now).expect("new token");
        assert!(authenticate(Some(&secret), &token, now).is_ok());
        assert!(!is_expired(&secret, now));
        let next_day = at("2030-01-02T00:00:00Z");
        assert!(is_expired(&secret, next_day));
        assert!(matches!(
            authenticate(Some(&secret), &token, next_day),
            Err(TokenError::Expired { .. })
        ));
        let (_, forever) = new_token(None, None, true, now).expect("new token");
        assert!(!is_expired(&forever, at("2999-01-01T00:00:00Z")));
    }
}
