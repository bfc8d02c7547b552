//! Tests of bootstrap tokens, their Secrets and control-plane tokens.

use std::collections::HashSet;

use super::*;

#[test]
fn generated_tokens_have_the_kubeadm_shape() {
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let token = BootstrapToken::generate();
        let text = token.to_string();
        assert_eq!(
            BootstrapToken::parse(&text).ok().as_ref(),
            Some(&token),
            "{text}"
        );
        assert!(seen.insert(text));
    }
}

#[test]
fn parse_cases() {
    let cases = [
        ("abcdef.0123456789abcdef", true),
        ("  abcdef.0123456789abcdef\n", true),
        ("ABCDEF.0123456789abcdef", false),
        ("abcde.0123456789abcdef", false),
        ("abcdef.0123456789abcde", false),
        ("abcdef0123456789abcdef", false),
        ("abcdef.0123456789abcdef.x", false),
        ("abc-ef.0123456789abcdef", false),
        ("", false),
    ];
    for (input, ok) in cases {
        assert_eq!(BootstrapToken::parse(input).is_ok(), ok, "{input:?}");
    }
}

#[test]
fn debug_hides_the_secret() {
    let token = BootstrapToken::parse("abcdef.0123456789abcdef").expect("valid token");
    let debug = format!("{token:?}");
    assert!(
        debug.contains("abcdef") && !debug.contains("0123456789abcdef"),
        "{debug}"
    );
    assert_eq!(token.secret_name(), "bootstrap-token-abcdef");
}

#[test]
fn secret_matches_only_its_hash() {
    let token = BootstrapToken::parse("abcdef.0123456789abcdef").expect("valid token");
    let other = BootstrapToken::parse("abcdef.0123456789abcdee").expect("valid token");
    // sha256("0123456789abcdef"), computed outside this code.
    let known = "9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f";
    assert_eq!(token.secret_sha256_hex(), known);
    assert!(token.secret_matches(known));
    assert!(!other.secret_matches(known));
    assert!(!token.secret_matches("not hex"));
    assert!(!token.secret_matches(&known[..62]));
}

#[test]
fn secret_object_round_trips_through_token_info() -> Result<(), TokenError> {
    let token = BootstrapToken::parse("abcdef.0123456789abcdef")?;
    let expires: jiff::Timestamp = "2030-01-02T03:04:05Z".parse().expect("timestamp");
    let secret = token_secret_object(&token, Some(expires), Some("edge-1 join"), true);
    assert_eq!(secret["metadata"]["name"], "bootstrap-token-abcdef");
    assert_eq!(secret["metadata"]["namespace"], "kube-system");
    assert_eq!(secret["type"], TOKEN_SECRET_TYPE);
    assert!(
        !secret.to_string().contains(&token.secret),
        "the plain secret is never stored"
    );
    assert_eq!(
        secret["data"]["expiration"],
        BASE64.encode("2030-01-02T03:04:05Z")
    );
    let info = token_info_from_secret(&secret)?;
    assert_eq!(
        info,
        TokenInfo {
            id: "abcdef".into(),
            expires: Some(expires),
            description: Some("edge-1 join".into()),
            usages: vec![USAGE_AUTHENTICATION.into(), USAGE_CONTROL_PLANE.into()],
            secret_sha256_hex: token.secret_sha256_hex(),
        }
    );
    assert!(info.has_usage(USAGE_CONTROL_PLANE));

    let plain = token_info_from_secret(&token_secret_object(&token, None, None, false))?;
    assert_eq!(plain.expires, None);
    assert_eq!(plain.description, None);
    assert_eq!(plain.usages, vec![USAGE_AUTHENTICATION.to_owned()]);
    Ok(())
}

#[test]
fn string_data_is_read_too() -> Result<(), TokenError> {
    let secret = serde_json::json!({
        "type": TOKEN_SECRET_TYPE,
        "metadata": {"name": "bootstrap-token-abcdef"},
        "stringData": {
            "token-id": "abcdef",
            "token-secret-sha256": "9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f",
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "false",
        }
    });
    let info = token_info_from_secret(&secret)?;
    assert_eq!(info.usages, vec![USAGE_AUTHENTICATION.to_owned()]);
    Ok(())
}

#[test]
fn malformed_secrets_are_rejected() {
    let token = BootstrapToken::parse("abcdef.0123456789abcdef").expect("valid token");
    let good = token_secret_object(&token, None, None, false);
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 6] = [
        ("wrong type", |s| s["type"] = "Opaque".into()),
        ("no id", |s| {
            s["data"].as_object_mut().map(|d| d.remove("token-id"));
        }),
        ("no hash", |s| {
            s["data"]
                .as_object_mut()
                .map(|d| d.remove("token-secret-sha256"));
        }),
        ("bad base64", |s| s["data"]["token-id"] = "!!!".into()),
        ("bad expiry", |s| {
            s["data"]["expiration"] = BASE64.encode("tomorrow").into()
        }),
        ("wrong name", |s| {
            s["metadata"]["name"] = "bootstrap-token-zzzzzz".into()
        }),
    ];
    for (what, edit) in edits {
        let mut secret = good.clone();
        edit(&mut secret);
        assert!(
            matches!(
                token_info_from_secret(&secret),
                Err(TokenError::InvalidSecret(_))
            ),
            "{what}"
        );
    }
}

#[test]
fn control_plane_token_round_trips() -> Result<(), TokenError> {
    let pin = format!("sha256:{}", "0a".repeat(32));
    let text = format!("K10{}::abcdef.0123456789abcdef", "0a".repeat(32));
    let parsed = ControlPlaneToken::parse(&text)?;
    assert_eq!(parsed.ca_pin, pin);
    assert_eq!(parsed.token.id, "abcdef");
    assert_eq!(parsed.to_string(), text);
    assert!(!format!("{parsed:?}").contains("0123456789abcdef"));
    let bad = [
        "abcdef.0123456789abcdef".to_owned(),
        format!("K10{}::abcdef.0123456789abcdef", "0a".repeat(31)),
        format!("K10{}:abcdef.0123456789abcdef", "0a".repeat(32)),
        format!("K10{}::abcdef", "0a".repeat(32)),
    ];
    for input in bad {
        assert!(ControlPlaneToken::parse(&input).is_err(), "{input}");
    }
    Ok(())
}
