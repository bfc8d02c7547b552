//! Table-driven tests of environment resolution: ordering, `$(VAR)` expansion, every
//! `valueFrom` kind, `envFrom`, and missing optional and required references.

use serde_json::{Value, json};

use super::super::tests::{Objects, config_map, pod_with, pod_with_container, secret};
use super::super::{ObjectLookup, RefKind, pod_run_spec};
use super::expand;

#[test]
fn expansion_follows_kubernetes() {
    let lookup = |name: &str| match name {
        "A" => Some("a".to_owned()),
        "EMPTY" => Some(String::new()),
        "MULTI" => Some("é$(A)".to_owned()),
        _ => None,
    };
    let cases = [
        ("", ""),
        ("plain", "plain"),
        ("$(A)", "a"),
        ("x$(A)y$(A)z", "xayaz"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),
        ("$(EMPTY)|", "|"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$a"),
        ("$$", "$"),
        ("$", "$"),
        ("a$", "a$"),
        ("$A", "$A"),
        ("$(A", "$(A"),
        ("$(", "$("),
        ("$()", "$()"),
        ("$(A)$(", "a$("),
        ("ü$(A)ü", "üaü"),
        ("$é", "$é"),
        // Values are not expanded again.
        ("$(MULTI)", "é$(A)"),
    ];
    for (input, want) in cases {
        assert_eq!(expand(input, lookup), want, "{input:?}");
    }
}

fn objects() -> Objects {
    Objects::default()
        .with(RefKind::ConfigMap, config_map("cm", json!({ "B": "from-cm-b", "A": "from-cm-a", "1st": "digit", "bad=key": "x" })))
        .with(RefKind::ConfigMap, config_map("other", json!({ "A": "other-a" })))
        .with(RefKind::Secret, secret("sec", &[("token", "t0ken"), ("USER", "admin")]))
        .with_node(json!({ "metadata": { "name": "edge-1" }, "status": { "allocatable": { "cpu": "3500m", "memory": "2Gi" } } }))
}

type Want = Result<&'static [(&'static str, &'static str)], &'static str>;

fn resolve(container: Value, refs: &dyn ObjectLookup) -> Result<Vec<(String, String)>, String> {
    let got = pod_run_spec(&pod_with_container(container), refs);
    let c = &got.containers[0];
    match &c.config_error {
        Some(e) => Err(e.clone()),
        None => Ok(c.env.clone()),
    }
}

fn check(name: &str, container: Value, want: Want, refs: &dyn ObjectLookup) {
    let got = resolve(container, refs);
    let got_ref: Result<Vec<(&str, &str)>, &str> = match &got {
        Ok(env) => Ok(env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()),
        Err(e) => Err(e.as_str()),
    };
    assert_eq!(got_ref, want.map(<[_]>::to_vec), "{name}");
}

#[test]
fn env_order_and_expansion() {
    let cases: Vec<(&str, Value, Want)> = vec![
        (
            "literal values in order",
            json!({ "env": [{ "name": "Z", "value": "1" }, { "name": "A", "value": "2" }] }),
            Ok(&[("Z", "1"), ("A", "2")]),
        ),
        (
            "references to earlier variables",
            json!({ "env": [{ "name": "HOST", "value": "db" }, { "name": "URL", "value": "pg://$(HOST):5432" }] }),
            Ok(&[("HOST", "db"), ("URL", "pg://db:5432")]),
        ),
        (
            "references to later variables stay",
            json!({ "env": [{ "name": "URL", "value": "$(HOST)" }, { "name": "HOST", "value": "db" }] }),
            Ok(&[("URL", "$(HOST)"), ("HOST", "db")]),
        ),
        (
            "escaped references",
            json!({ "env": [{ "name": "A", "value": "x" }, { "name": "B", "value": "$$(A) $(A)" }] }),
            Ok(&[("A", "x"), ("B", "$(A) x")]),
        ),
        (
            "a repeated name keeps its place and takes the last value",
            json!({ "env": [{ "name": "A", "value": "1" }, { "name": "B", "value": "$(A)" }, { "name": "A", "value": "3" }] }),
            Ok(&[("A", "3"), ("B", "1")]),
        ),
        (
            "self reference sees the previous value",
            json!({ "env": [{ "name": "PATH", "value": "/bin" }, { "name": "PATH", "value": "/opt:$(PATH)" }] }),
            Ok(&[("PATH", "/opt:/bin")]),
        ),
        (
            "envFrom comes first, sorted, and env overrides it in place",
            json!({ "envFrom": [{ "configMapRef": { "name": "cm" } }], "env": [{ "name": "A", "value": "mine:$(B)" }] }),
            Ok(&[
                ("1st", "digit"),
                ("A", "mine:from-cm-b"),
                ("B", "from-cm-b"),
            ]),
        ),
        (
            "a later envFrom source overrides an earlier one",
            json!({ "envFrom": [{ "configMapRef": { "name": "cm" }, "prefix": "P_" }, { "configMapRef": { "name": "other" }, "prefix": "P_" }] }),
            Ok(&[("P_1st", "digit"), ("P_A", "other-a"), ("P_B", "from-cm-b")]),
        ),
        (
            "secret envFrom decodes values",
            json!({ "envFrom": [{ "secretRef": { "name": "sec" }, "prefix": "S_" }] }),
            Ok(&[("S_USER", "admin"), ("S_token", "t0ken")]),
        ),
        (
            "an envFrom value is not expanded",
            json!({ "env": [{ "name": "X", "value": "1" }], "envFrom": [{ "configMapRef": { "name": "refs" } }] }),
            Ok(&[("V", "$(X)"), ("X", "1")]),
        ),
        (
            "entries without a name are skipped",
            json!({ "env": [{ "value": "x" }, { "name": "", "value": "y" }, { "name": "N" }] }),
            Ok(&[("N", "")]),
        ),
    ];
    let objects = objects().with(
        RefKind::ConfigMap,
        config_map("refs", json!({ "V": "$(X)" })),
    );
    for (name, container, want) in cases {
        check(name, container, want, &objects);
    }
}

#[test]
fn value_from_config_maps_and_secrets() {
    let cm_ref = |name: &str, key: &str, optional: Option<bool>| {
        let mut r = json!({ "name": name, "key": key });
        if let Some(o) = optional {
            r["optional"] = json!(o);
        }
        json!({ "env": [{ "name": "V", "valueFrom": { "configMapKeyRef": r } }, { "name": "AFTER", "value": "1" }] })
    };
    let secret_ref = |name: &str, key: &str, optional: bool| json!({ "env": [{ "name": "V", "valueFrom": { "secretKeyRef": { "name": name, "key": key, "optional": optional } } }] });
    let cases: Vec<(&str, Value, Want)> = vec![
        (
            "config map key",
            cm_ref("cm", "A", None),
            Ok(&[("V", "from-cm-a"), ("AFTER", "1")]),
        ),
        (
            "missing config map",
            cm_ref("nope", "A", None),
            Err("configmap \"nope\" not found"),
        ),
        (
            "missing config map, optional false",
            cm_ref("nope", "A", Some(false)),
            Err("configmap \"nope\" not found"),
        ),
        (
            "missing optional config map leaves the variable unset",
            cm_ref("nope", "A", Some(true)),
            Ok(&[("AFTER", "1")]),
        ),
        (
            "missing key",
            cm_ref("cm", "Q", None),
            Err("couldn't find key Q in ConfigMap default/cm"),
        ),
        (
            "missing optional key",
            cm_ref("cm", "Q", Some(true)),
            Ok(&[("AFTER", "1")]),
        ),
        (
            "secret key",
            secret_ref("sec", "token", false),
            Ok(&[("V", "t0ken")]),
        ),
        (
            "missing secret",
            secret_ref("gone", "token", false),
            Err("secret \"gone\" not found"),
        ),
        (
            "missing optional secret",
            secret_ref("gone", "token", true),
            Ok(&[]),
        ),
        (
            "missing secret key",
            secret_ref("sec", "nokey", false),
            Err("couldn't find key nokey in Secret default/sec"),
        ),
        (
            "invalid base64",
            secret_ref("broken", "k", false),
            Err("invalid base64 in key k of Secret default/broken"),
        ),
        (
            "envFrom missing config map",
            json!({ "envFrom": [{ "configMapRef": { "name": "nope" } }] }),
            Err("configmap \"nope\" not found"),
        ),
        (
            "envFrom missing optional config map",
            json!({ "envFrom": [{ "configMapRef": { "name": "nope", "optional": true } }], "env": [{ "name": "X", "value": "1" }] }),
            Ok(&[("X", "1")]),
        ),
        (
            "envFrom missing secret",
            json!({ "envFrom": [{ "secretRef": { "name": "nope" } }] }),
            Err("secret \"nope\" not found"),
        ),
        (
            "envFrom missing optional secret",
            json!({ "envFrom": [{ "secretRef": { "name": "nope", "optional": true } }] }),
            Ok(&[]),
        ),
        (
            "envFrom skips names that are not valid variables",
            json!({ "envFrom": [{ "configMapRef": { "name": "cm" }, "prefix": "" }, { "configMapRef": { "name": "weird" } }] }),
            Ok(&[
                ("1st", "digit"),
                ("A", "from-cm-a"),
                ("B", "from-cm-b"),
                ("ok", "1"),
            ]),
        ),
    ];
    let objects = objects()
        .with(RefKind::Secret, json!({ "metadata": { "name": "broken", "namespace": "default" }, "data": { "k": "!!notbase64" } }))
        .with(RefKind::ConfigMap, config_map("weird", json!({ "ok": "1", "tab\tkey": "2" })));
    for (name, container, want) in cases {
        check(name, container, want, &objects);
    }
}

#[test]
fn the_config_map_namespace_is_the_pods() {
    let objects = Objects::default().with(
        RefKind::ConfigMap,
        json!({ "metadata": { "name": "cm", "namespace": "elsewhere" }, "data": { "A": "1" } }),
    );
    let got = resolve(
        json!({ "envFrom": [{ "configMapRef": { "name": "cm" } }] }),
        &objects,
    );
    assert_eq!(got, Err("configmap \"cm\" not found".to_owned()));
}

#[test]
fn value_from_pod_fields() {
    let field = |path: &str| json!({ "env": [{ "name": "F", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": path } } }] });
    let cases: Vec<(&str, Want)> = vec![
        ("metadata.name", Ok(&[("F", "web")])),
        ("metadata.namespace", Ok(&[("F", "default")])),
        ("metadata.uid", Ok(&[("F", "pod-uid")])),
        ("metadata.labels['app']", Ok(&[("F", "shop")])),
        ("metadata.labels['missing']", Ok(&[("F", "")])),
        ("metadata.annotations['note']", Ok(&[("F", "say \"hi\"")])),
        (
            "metadata.labels",
            Ok(&[("F", "app=\"shop\"\ntier=\"front\"")]),
        ),
        ("spec.nodeName", Ok(&[("F", "edge-1")])),
        ("spec.serviceAccountName", Ok(&[("F", "robot")])),
        ("status.podIP", Ok(&[("F", "10.42.0.7")])),
        ("status.podIPs", Ok(&[("F", "10.42.0.7,fd00::7")])),
        ("status.hostIP", Ok(&[("F", "")])),
        (
            "spec.containers",
            Err("unsupported fieldPath: spec.containers"),
        ),
        (
            "metadata.finalizers['x']",
            Err("unsupported fieldPath: metadata.finalizers['x']"),
        ),
    ];
    for (path, want) in cases {
        let mut pod = pod_with_container(field(path));
        pod["metadata"]["labels"] = json!({ "tier": "front", "app": "shop" });
        pod["metadata"]["annotations"] = json!({ "note": "say \"hi\"" });
        pod["spec"]["serviceAccountName"] = json!("robot");
        pod["status"] =
            json!({ "podIP": "10.42.0.7", "podIPs": [{ "ip": "10.42.0.7" }, { "ip": "fd00::7" }] });
        let got = pod_run_spec(&pod, &Objects::default());
        let c = &got.containers[0];
        let got: Result<Vec<(&str, &str)>, &str> = match &c.config_error {
            Some(e) => Err(e.as_str()),
            None => Ok(c
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()),
        };
        assert_eq!(got, want.map(<[_]>::to_vec), "{path}");
    }
}

#[test]
fn value_from_container_resources() {
    let resource = |resource: &str, divisor: Option<Value>, container: Option<&str>| {
        let mut r = json!({ "resource": resource });
        if let Some(d) = divisor {
            r["divisor"] = d;
        }
        if let Some(c) = container {
            r["containerName"] = json!(c);
        }
        json!({
            "resources": { "requests": { "cpu": "250m", "memory": "64Mi" }, "limits": { "cpu": "1500m" } },
            "env": [{ "name": "R", "valueFrom": { "resourceFieldRef": r } }],
        })
    };
    let cases: Vec<(&str, Value, Want)> = vec![
        (
            "cpu request rounds up to cores",
            resource("requests.cpu", None, None),
            Ok(&[("R", "1")]),
        ),
        (
            "cpu request in millicores",
            resource("requests.cpu", Some(json!("1m")), None),
            Ok(&[("R", "250")]),
        ),
        (
            "cpu limit",
            resource("limits.cpu", None, None),
            Ok(&[("R", "2")]),
        ),
        (
            "memory request in bytes",
            resource("requests.memory", None, None),
            Ok(&[("R", "67108864")]),
        ),
        (
            "memory request in Mi",
            resource("requests.memory", Some(json!("1Mi")), None),
            Ok(&[("R", "64")]),
        ),
        (
            "numeric divisor",
            resource("requests.memory", Some(json!(1024)), None),
            Ok(&[("R", "65536")]),
        ),
        (
            "unset limit is the node's allocatable",
            resource("limits.memory", Some(json!("1Gi")), None),
            Ok(&[("R", "2")]),
        ),
        (
            "unset request is zero",
            resource("requests.ephemeral-storage", None, None),
            Ok(&[("R", "0")]),
        ),
        (
            "named container",
            resource("limits.cpu", Some(json!("1m")), Some("side")),
            Ok(&[("R", "3500")]),
        ),
        (
            "unknown container",
            resource("limits.cpu", None, Some("ghost")),
            Err("container \"ghost\" named by resourceFieldRef does not exist"),
        ),
        (
            "unknown resource",
            resource("limits.gpu", None, None),
            Err("unsupported container resource : limits.gpu"),
        ),
        (
            "zero divisor",
            resource("limits.cpu", Some(json!("0")), None),
            Err("invalid divisor \"0\" for limits.cpu"),
        ),
    ];
    for (name, container, want) in cases {
        let mut pod = pod_with_container(container);
        if let Some(list) = pod["spec"]["containers"].as_array_mut() {
            list.push(json!({ "name": "side", "image": "side:1" }));
        }
        let got = pod_run_spec(&pod, &objects());
        let c = &got.containers[0];
        let got: Result<Vec<(&str, &str)>, &str> = match &c.config_error {
            Some(e) => Err(e.as_str()),
            None => Ok(c
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()),
        };
        assert_eq!(got, want.map(<[_]>::to_vec), "{name}");
    }
}

#[test]
fn unset_limits_are_zero_without_the_node() {
    let pod = pod_with(json!({
        "nodeName": "unknown-node",
        "containers": [{ "name": "app", "image": "a:1",
            "env": [{ "name": "R", "valueFrom": { "resourceFieldRef": { "resource": "limits.cpu" } } }] }],
    }));
    let got = pod_run_spec(&pod, &objects());
    assert_eq!(
        got.containers[0].env,
        vec![("R".to_owned(), "0".to_owned())]
    );
}
