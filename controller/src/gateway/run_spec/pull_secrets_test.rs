//! Table-driven tests of registry credentials from `imagePullSecrets`.

use serde_json::{Value, json};

use super::super::tests::{Objects, b64, pod_with};
use super::super::{RefKind, pod_run_spec};

fn docker_secret(name: &str, kind: &str, key: &str, config: &Value) -> Value {
    json!({
        "metadata": { "name": name, "namespace": "default" },
        "type": kind,
        "data": { key: b64(&config.to_string()) },
    })
}

fn json_secret(name: &str, auths: Value) -> Value {
    docker_secret(
        name,
        "kubernetes.io/dockerconfigjson",
        ".dockerconfigjson",
        &json!({ "auths": auths }),
    )
}

#[test]
fn pull_credentials_from_docker_config_secrets() {
    let objects = Objects::default()
        .with(RefKind::Secret, json_secret("userpass", json!({
            "registry.local:5000": { "username": "u", "password": "p" },
            "https://ghcr.io/v2/": { "username": "gh", "password": "tok" },
        })))
        .with(RefKind::Secret, json_secret("auth", json!({
            "https://index.docker.io/v1/": { "auth": b64("hub:pa:ss") },
            "both.example": { "username": "ignored", "password": "ignored", "auth": b64("real:pw") },
            "bad.example": { "auth": "%%%" },
            "nocolon.example": { "auth": b64("justuser") },
        })))
        .with(RefKind::Secret, docker_secret("legacy", "kubernetes.io/dockercfg", ".dockercfg",
            &json!({ "http://old.example/": { "username": "o", "password": "p", "email": "o@example" } })))
        .with(RefKind::Secret, docker_secret("wrong-type", "Opaque", ".dockerconfigjson",
            &json!({ "auths": { "x.example": { "username": "a", "password": "b" } } })))
        .with(RefKind::Secret, json!({ "metadata": { "name": "garbage", "namespace": "default" },
            "type": "kubernetes.io/dockerconfigjson", "data": { ".dockerconfigjson": b64("not json") } }))
        .with(RefKind::Secret, json!({ "metadata": { "name": "nodata", "namespace": "default" },
            "type": "kubernetes.io/dockerconfigjson" }));
    let creds = |list: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        list.iter()
            .map(|(h, u, p)| ((*h).into(), (*u).into(), (*p).into()))
            .collect()
    };
    let cases = [
        ("none", vec![], creds(&[])),
        (
            "username and password, hosts sorted",
            vec!["userpass"],
            creds(&[("ghcr.io", "gh", "tok"), ("registry.local:5000", "u", "p")]),
        ),
        (
            "auth wins and splits at the first colon; bad entries skipped",
            vec!["auth"],
            creds(&[
                ("both.example", "real", "pw"),
                ("docker.io", "hub", "pa:ss"),
            ]),
        ),
        (
            "legacy dockercfg",
            vec!["legacy"],
            creds(&[("old.example", "o", "p")]),
        ),
        (
            "missing, mistyped and unreadable secrets are skipped",
            vec!["absent", "wrong-type", "garbage", "nodata"],
            creds(&[]),
        ),
        (
            "secrets in order",
            vec!["legacy", "userpass"],
            creds(&[
                ("old.example", "o", "p"),
                ("ghcr.io", "gh", "tok"),
                ("registry.local:5000", "u", "p"),
            ]),
        ),
    ];
    for (name, secrets, want) in cases {
        let refs: Vec<Value> = secrets.iter().map(|s| json!({ "name": s })).collect();
        let pod = pod_with(json!({ "imagePullSecrets": refs }));
        let got = pod_run_spec(&pod, &objects);
        assert_eq!(got.pull_credentials, want, "{name}");
        assert!(
            got.containers.iter().all(|c| c.config_error.is_none()),
            "{name}: a pull secret never blocks a container"
        );
    }
}
