//! Registry credentials from a pod's `imagePullSecrets`, read as the kubelet reads them.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{PodContext, RefKind, array, str_at};

const DOCKER_CONFIG_JSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
const DOCKERCFG_TYPE: &str = "kubernetes.io/dockercfg";
const DOCKERCFG_KEY: &str = ".dockercfg";

/// `(registry host, username, password)` for every registry of every pull secret, in the order
/// of `imagePullSecrets` and by host within a secret.
///
/// As the kubelet does, a missing or unreadable secret is skipped (the pull may still succeed
/// anonymously), only secrets of the two docker config types count, and an entry's `auth`
/// (base64 of `user:password`) wins over its `username` and `password`. Registry keys are reduced
/// to `host[:port]` (`https://index.docker.io/v1/` → `index.docker.io`), and Docker Hub's
/// aliases (`index.docker.io`, `registry-1.docker.io`) become `docker.io`, the host image
/// references name.
pub(super) fn pull_credentials(ctx: &PodContext) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for s in array(ctx.spec(), "imagePullSecrets") {
        let Some(secret) = str_at(s, "name").and_then(|n| ctx.lookup(RefKind::Secret, n)) else {
            continue;
        };
        let registries = match str_at(&secret, "type") {
            Some(DOCKER_CONFIG_JSON_TYPE) => secret_json(&secret, DOCKER_CONFIG_JSON_KEY)
                .and_then(|v| v.get("auths").and_then(Value::as_object).cloned()),
            Some(DOCKERCFG_TYPE) => {
                secret_json(&secret, DOCKERCFG_KEY).and_then(|v| v.as_object().cloned())
            }
            _ => None,
        };
        out.extend(registries.map(|r| credentials(&r)).unwrap_or_default());
    }
    out
}

/// A secret's `key`, base64-decoded and parsed as JSON.
fn secret_json(secret: &Value, key: &str) -> Option<Value> {
    let encoded = secret.get("data")?.get(key)?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The credentials of a docker config's registry map, sorted by host.
fn credentials(registries: &Map<String, Value>) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = registries
        .iter()
        .filter_map(|(key, entry)| {
            let (user, password) = match str_at(entry, "auth").filter(|a| !a.is_empty()) {
                Some(auth) => decode_auth(auth)?,
                None => (
                    str_at(entry, "username").unwrap_or_default().to_owned(),
                    str_at(entry, "password").unwrap_or_default().to_owned(),
                ),
            };
            Some((registry_host(key), user, password))
        })
        .collect();
    out.sort();
    out
}

/// `base64(user:password)` → `(user, password)`; `None` when it is not that.
fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A docker config key (`https://host:5000/v1/`, `host`, `host/path`) → `host[:port]`.
fn registry_host(key: &str) -> String {
    let no_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = no_scheme.split('/').next().unwrap_or(no_scheme);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

#[cfg(test)]
#[path = "pull_secrets_test.rs"]
mod tests;
