//! Table-driven tests of volume resolution: each source kind, items and modes, optional and
//! missing sources, downward API files and projected volumes.

use edge_api::meta;
use serde_json::{Value, json};

use super::super::downward::{format_map, go_quote};
use super::super::tests::{Objects, b64, config_map, pod_with, secret};
use super::super::{PodContext, RefKind};
use super::resolve_volumes;
use edge_wire::link::{VolumeFile, VolumeSource};

type Want = Result<(VolumeSource, bool), &'static str>;

fn file(path: &str, content: &str, mode: Option<u32>) -> VolumeFile {
    VolumeFile {
        path: path.into(),
        content: content.as_bytes().to_vec(),
        mode,
    }
}

fn files(files: Vec<VolumeFile>, default_mode: u32) -> Want {
    Ok((
        VolumeSource::Files {
            files,
            default_mode,
        },
        true,
    ))
}

fn objects() -> Objects {
    let mut cm = config_map("cm", json!({ "b.conf": "B", "a.conf": "A" }));
    cm["binaryData"] = json!({ "logo.png": b64("\u{1}PNG") });
    Objects::default()
        .with(RefKind::ConfigMap, cm)
        .with(RefKind::Secret, secret("tls", &[("tls.crt", "CERT"), ("tls.key", "KEY")]))
        .with(
            RefKind::PersistentVolumeClaim,
            json!({ "metadata": { "name": "data", "namespace": "default", "uid": "pvc-uid-1" } }),
        )
        .with(
            RefKind::PersistentVolumeClaim,
            json!({ "metadata": { "name": "web-cache", "namespace": "default", "uid": "pvc-uid-2" } }),
        )
}

fn resolve(volume: Value) -> Result<(VolumeSource, bool), String> {
    let mut pod = pod_with(json!({
        "volumes": [volume],
        "containers": [{ "name": "app", "image": "a:1", "resources": { "limits": { "memory": "128Mi" } } }],
    }));
    pod["metadata"]["labels"] = json!({ "app": "web", "tier": "front" });
    pod["metadata"]["annotations"] = json!({ "note": "line1\nline2" });
    let objects = objects();
    let ctx = PodContext {
        pod: &pod,
        namespace: meta::namespace(&pod).unwrap_or_default(),
        refs: &objects,
    };
    let resolved = resolve_volumes(&ctx);
    if let Some(e) = resolved.errors.values().next() {
        return Err(e.to_string());
    }
    let v = resolved.volumes.into_iter().next().ok_or("no volume")?;
    Ok((v.source, resolved.read_only.contains(&v.name)))
}

#[test]
fn volume_sources() {
    let cases: Vec<(&str, Value, Want)> = vec![
        (
            "emptyDir",
            json!({ "name": "v", "emptyDir": {} }),
            Ok((
                VolumeSource::EmptyDir {
                    memory: false,
                    size_limit_bytes: None,
                },
                false,
            )),
        ),
        (
            "memory emptyDir with a limit",
            json!({ "name": "v", "emptyDir": { "medium": "Memory", "sizeLimit": "64Mi" } }),
            Ok((
                VolumeSource::EmptyDir {
                    memory: true,
                    size_limit_bytes: Some(64 << 20),
                },
                false,
            )),
        ),
        (
            "huge pages are unsupported",
            json!({ "name": "v", "emptyDir": { "medium": "HugePages-2Mi" } }),
            Err(
                "volume type \"emptyDir medium HugePages-2Mi\" is not supported by edgeplane agents",
            ),
        ),
        (
            "hostPath",
            json!({ "name": "v", "hostPath": { "path": "/var/log", "type": "Directory" } }),
            Ok((
                VolumeSource::HostPath {
                    path: "/var/log".into(),
                    kind: "Directory".into(),
                },
                false,
            )),
        ),
        (
            "hostPath without type",
            json!({ "name": "v", "hostPath": { "path": "/x" } }),
            Ok((
                VolumeSource::HostPath {
                    path: "/x".into(),
                    kind: String::new(),
                },
                false,
            )),
        ),
        (
            "claim",
            json!({ "name": "v", "persistentVolumeClaim": { "claimName": "data" } }),
            Ok((
                VolumeSource::LocalClaim {
                    claim_uid: "pvc-uid-1".into(),
                },
                false,
            )),
        ),
        (
            "read-only claim",
            json!({ "name": "v", "persistentVolumeClaim": { "claimName": "data", "readOnly": true } }),
            Ok((
                VolumeSource::LocalClaim {
                    claim_uid: "pvc-uid-1".into(),
                },
                true,
            )),
        ),
        (
            "missing claim",
            json!({ "name": "v", "persistentVolumeClaim": { "claimName": "nope" } }),
            Err("persistentvolumeclaim \"nope\" not found"),
        ),
        (
            "generic ephemeral volume uses <pod>-<volume>",
            json!({ "name": "cache", "ephemeral": { "volumeClaimTemplate": {} } }),
            Ok((
                VolumeSource::LocalClaim {
                    claim_uid: "pvc-uid-2".into(),
                },
                false,
            )),
        ),
        (
            "ephemeral claim not created yet",
            json!({ "name": "scratch", "ephemeral": {} }),
            Err("persistentvolumeclaim \"web-scratch\" not found"),
        ),
        (
            "nfs is unsupported",
            json!({ "name": "v", "nfs": { "server": "s", "path": "/" } }),
            Err("volume type \"nfs\" is not supported by edgeplane agents"),
        ),
        (
            "config map: all keys sorted, binary data included",
            json!({ "name": "v", "configMap": { "name": "cm" } }),
            files(
                vec![
                    file("a.conf", "A", None),
                    file("b.conf", "B", None),
                    file("logo.png", "\u{1}PNG", None),
                ],
                0o644,
            ),
        ),
        (
            "config map: items with paths and modes, default mode",
            json!({ "name": "v", "configMap": { "name": "cm", "defaultMode": 0o600,
                "items": [{ "key": "b.conf", "path": "conf/b", "mode": 0o400 }, { "key": "logo.png", "path": "logo" }] } }),
            files(
                vec![
                    file("conf/b", "B", Some(0o400)),
                    file("logo", "\u{1}PNG", None),
                ],
                0o600,
            ),
        ),
        (
            "config map: missing item key",
            json!({ "name": "v", "configMap": { "name": "cm", "items": [{ "key": "zzz", "path": "z" }] } }),
            Err("configmap references non-existent config key: zzz"),
        ),
        (
            "config map: missing item key of an optional source is skipped",
            json!({ "name": "v", "configMap": { "name": "cm", "optional": true, "items": [{ "key": "zzz", "path": "z" }, { "key": "a.conf", "path": "a" }] } }),
            files(vec![file("a", "A", None)], 0o644),
        ),
        (
            "config map: missing",
            json!({ "name": "v", "configMap": { "name": "absent" } }),
            Err("configmap \"absent\" not found"),
        ),
        (
            "config map: missing and optional is empty",
            json!({ "name": "v", "configMap": { "name": "absent", "optional": true } }),
            files(vec![], 0o644),
        ),
        (
            "secret: all keys decoded",
            json!({ "name": "v", "secret": { "secretName": "tls", "defaultMode": 0o400 } }),
            files(
                vec![file("tls.crt", "CERT", None), file("tls.key", "KEY", None)],
                0o400,
            ),
        ),
        (
            "secret: items",
            json!({ "name": "v", "secret": { "secretName": "tls", "items": [{ "key": "tls.key", "path": "key.pem", "mode": 0o600 }] } }),
            files(vec![file("key.pem", "KEY", Some(0o600))], 0o644),
        ),
        (
            "secret: missing item key",
            json!({ "name": "v", "secret": { "secretName": "tls", "items": [{ "key": "ca.crt", "path": "ca" }] } }),
            Err("references non-existent secret key: ca.crt"),
        ),
        (
            "secret: missing",
            json!({ "name": "v", "secret": { "secretName": "absent" } }),
            Err("secret \"absent\" not found"),
        ),
        (
            "secret: missing and optional",
            json!({ "name": "v", "secret": { "secretName": "absent", "optional": true } }),
            files(vec![], 0o644),
        ),
        (
            "downward API",
            json!({ "name": "v", "downwardAPI": { "items": [
                { "path": "labels", "fieldRef": { "fieldPath": "metadata.labels" } },
                { "path": "annotations", "fieldRef": { "fieldPath": "metadata.annotations" }, "mode": 0o444 },
                { "path": "name", "fieldRef": { "fieldPath": "metadata.name" } },
                { "path": "ns", "fieldRef": { "fieldPath": "metadata.namespace" } },
                { "path": "uid", "fieldRef": { "fieldPath": "metadata.uid" } },
                { "path": "app", "fieldRef": { "fieldPath": "metadata.labels['app']" } },
                { "path": "mem", "resourceFieldRef": { "containerName": "app", "resource": "limits.memory", "divisor": "1Mi" } },
            ] } }),
            files(
                vec![
                    file("labels", "app=\"web\"\ntier=\"front\"", None),
                    file("annotations", "note=\"line1\\nline2\"", Some(0o444)),
                    file("name", "web", None),
                    file("ns", "default", None),
                    file("uid", "pod-uid", None),
                    file("app", "web", None),
                    file("mem", "128", None),
                ],
                0o644,
            ),
        ),
        (
            "downward API: bad field",
            json!({ "name": "v", "downwardAPI": { "items": [{ "path": "x", "fieldRef": { "fieldPath": "spec.volumes" } }] } }),
            Err("unsupported fieldPath: spec.volumes"),
        ),
        (
            "projected",
            json!({ "name": "v", "projected": { "defaultMode": 0o440, "sources": [
                { "configMap": { "name": "cm", "items": [{ "key": "a.conf", "path": "a" }] } },
                { "secret": { "name": "tls", "items": [{ "key": "tls.crt", "path": "crt", "mode": 0o400 }] } },
                { "downwardAPI": { "items": [{ "path": "ns", "fieldRef": { "fieldPath": "metadata.namespace" } }] } },
                { "serviceAccountToken": { "path": "token" } },
                { "secret": { "name": "absent", "optional": true } },
            ] } }),
            files(
                vec![
                    file("a", "A", None),
                    file("crt", "CERT", Some(0o400)),
                    file("ns", "default", None),
                ],
                0o440,
            ),
        ),
        (
            "projected: missing source",
            json!({ "name": "v", "projected": { "sources": [{ "configMap": { "name": "absent" } }] } }),
            Err("configmap \"absent\" not found"),
        ),
    ];
    for (name, volume, want) in cases {
        let got = resolve(volume);
        assert_eq!(got, want.map_err(str::to_owned), "{name}");
    }
}

#[test]
fn label_maps_are_written_as_the_kubelet_writes_them() {
    let cases = [
        (json!({}), ""),
        (json!(null), ""),
        (json!({ "b": "2", "a": "1" }), "a=\"1\"\nb=\"2\""),
        (
            json!({ "k": "quote \" and \\ back" }),
            "k=\"quote \\\" and \\\\ back\"",
        ),
        (json!({ "k": "tab\there\u{1}" }), "k=\"tab\\there\\x01\""),
        (json!({ "k": "ünïcode ✓" }), "k=\"ünïcode ✓\""),
    ];
    for (map, want) in cases {
        assert_eq!(format_map(&map), want, "{map}");
    }
    assert_eq!(go_quote("\u{85}"), "\"\\u0085\"");
}
