//! Table-driven tests of container resolution: probes, security contexts, command expansion
//! and mounts.

use serde_json::{Value, json};

use super::tests::{Objects, config_map, only_container, pod_with, pod_with_container};
use super::*;

#[test]
fn probes_resolve_ports_and_defaults() {
    let http = |path: &str, port: u16, scheme: &str, headers: Vec<(String, String)>| {
        ProbeAction::HttpGet {
            path: path.into(),
            port,
            scheme: scheme.into(),
            headers,
        }
    };
    let with_defaults = |action| Probe {
        action,
        initial_delay_secs: 0,
        period_secs: 10,
        timeout_secs: 1,
        success_threshold: 1,
        failure_threshold: 3,
    };
    let cases = [
        (
            "numeric http port",
            json!({ "httpGet": { "path": "/healthz", "port": 8080 } }),
            Some(with_defaults(http("/healthz", 8080, "HTTP", vec![]))),
        ),
        (
            "named http port",
            json!({ "httpGet": { "port": "http", "scheme": "HTTPS",
            "httpHeaders": [{ "name": "X-Probe", "value": "1" }] } }),
            Some(with_defaults(http(
                "/",
                8080,
                "HTTPS",
                vec![("X-Probe".into(), "1".into())],
            ))),
        ),
        (
            "number as string",
            json!({ "tcpSocket": { "port": "9090" } }),
            Some(with_defaults(ProbeAction::TcpSocket { port: 9090 })),
        ),
        (
            "unknown port name fails the probe",
            json!({ "tcpSocket": { "port": "nope" } }),
            Some(with_defaults(ProbeAction::TcpSocket { port: 0 })),
        ),
        (
            "named tcp port",
            json!({ "tcpSocket": { "port": "metrics" } }),
            Some(with_defaults(ProbeAction::TcpSocket { port: 9100 })),
        ),
        (
            "exec",
            json!({ "exec": { "command": ["cat", "/tmp/ok"] } }),
            Some(with_defaults(ProbeAction::Exec {
                command: vec!["cat".into(), "/tmp/ok".into()],
            })),
        ),
        (
            "grpc is checked by tcp",
            json!({ "grpc": { "port": 50051 } }),
            Some(with_defaults(ProbeAction::TcpSocket { port: 50051 })),
        ),
        ("no handler", json!({ "periodSeconds": 5 }), None),
        (
            "explicit timings",
            json!({ "exec": { "command": ["true"] }, "initialDelaySeconds": 3,
            "periodSeconds": 7, "timeoutSeconds": 2, "successThreshold": 2, "failureThreshold": 9 }),
            Some(Probe {
                action: ProbeAction::Exec {
                    command: vec!["true".into()],
                },
                initial_delay_secs: 3,
                period_secs: 7,
                timeout_secs: 2,
                success_threshold: 2,
                failure_threshold: 9,
            }),
        ),
    ];
    for (name, probe, want) in cases {
        let c = json!({
            "ports": [{ "name": "http", "containerPort": 8080 }, { "name": "metrics", "containerPort": 9100 }],
            "livenessProbe": probe.clone(), "readinessProbe": probe.clone(), "startupProbe": probe,
        });
        let got = pod_run_spec(&pod_with_container(c), &Objects::default());
        let c = only_container(&got);
        assert_eq!(c.liveness, want, "{name}: liveness");
        assert_eq!(c.readiness, want, "{name}: readiness");
        assert_eq!(c.startup, want, "{name}: startup");
    }
}

#[test]
fn security_context_merges_container_over_pod() {
    let caps = |add: &[&str], drop: &[&str]| {
        (
            add.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            drop.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
    };
    let cases = [
        ("empty", json!({}), json!({}), SecuritySpec::default()),
        (
            "pod only",
            json!({ "runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": true, "fsGroup": 2000 }),
            json!({}),
            SecuritySpec {
                run_as_user: Some(1000),
                run_as_group: Some(3000),
                run_as_non_root: true,
                ..Default::default()
            },
        ),
        (
            "container wins",
            json!({ "runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": true }),
            json!({ "runAsUser": 0, "runAsNonRoot": false }),
            SecuritySpec {
                run_as_user: Some(0),
                run_as_group: Some(3000),
                run_as_non_root: false,
                ..Default::default()
            },
        ),
        (
            "container only fields",
            json!({ "readOnlyRootFilesystem": true }),
            json!({ "readOnlyRootFilesystem": true, "privileged": true,
                "capabilities": { "add": ["NET_ADMIN"], "drop": ["ALL"] } }),
            {
                let (add, drop) = caps(&["NET_ADMIN"], &["ALL"]);
                SecuritySpec {
                    read_only_root_filesystem: true,
                    privileged: true,
                    capabilities_add: add,
                    capabilities_drop: drop,
                    ..Default::default()
                }
            },
        ),
        (
            "out of range ids are left out",
            json!({ "runAsUser": -1 }),
            json!({ "runAsGroup": 5_000_000_000u64 }),
            SecuritySpec::default(),
        ),
    ];
    for (name, pod_sc, container_sc, want) in cases {
        let mut pod = pod_with_container(json!({ "securityContext": container_sc }));
        pod["spec"]["securityContext"] = pod_sc;
        let got = pod_run_spec(&pod, &Objects::default());
        assert_eq!(only_container(&got).security, want, "{name}");
    }
}

#[test]
fn command_and_args_expand_the_environment() {
    let c = json!({
        "env": [{ "name": "GREETING", "value": "hello" }, { "name": "EMPTY", "value": "" }],
        "command": ["echo", "$(GREETING)"],
        "args": ["$(GREETING) $(MISSING)", "$$(GREETING)", "[$(EMPTY)]"],
    });
    let got = pod_run_spec(&pod_with_container(c), &Objects::default());
    let c = only_container(&got);
    assert_eq!(c.command, ["echo", "hello"]);
    assert_eq!(c.args, ["hello $(MISSING)", "$(GREETING)", "[]"]);
}

#[test]
fn mounts() {
    struct Case {
        name: &'static str,
        mount: Value,
        want: Result<VolumeMount, &'static str>,
    }
    let mount = |volume: &str, path: &str, sub: Option<&str>, ro: bool| VolumeMount {
        volume: volume.into(),
        mount_path: path.into(),
        sub_path: sub.map(str::to_owned),
        read_only: ro,
    };
    let cases = [
        Case {
            name: "plain",
            mount: json!({ "name": "scratch", "mountPath": "/tmp" }),
            want: Ok(mount("scratch", "/tmp", None, false)),
        },
        Case {
            name: "read only with sub path",
            mount: json!({ "name": "scratch", "mountPath": "/d", "subPath": "x/y", "readOnly": true }),
            want: Ok(mount("scratch", "/d", Some("x/y"), true)),
        },
        Case {
            name: "config volumes are read-only",
            mount: json!({ "name": "cfg", "mountPath": "/etc/app" }),
            want: Ok(mount("cfg", "/etc/app", None, true)),
        },
        Case {
            name: "read-only claim",
            mount: json!({ "name": "data", "mountPath": "/data" }),
            want: Ok(mount("data", "/data", None, true)),
        },
        Case {
            name: "sub path expression",
            mount: json!({ "name": "scratch", "mountPath": "/logs", "subPathExpr": "$(POD)/logs" }),
            want: Ok(mount("scratch", "/logs", Some("web/logs"), false)),
        },
        Case {
            name: "sub path expression with an unknown variable",
            mount: json!({ "name": "scratch", "mountPath": "/l", "subPathExpr": "$(NOPE)/$(EMPTY)" }),
            want: Err("missing value for EMPTY, NOPE"),
        },
        Case {
            name: "sub path expression escaping the volume",
            mount: json!({ "name": "scratch", "mountPath": "/l", "subPathExpr": "../$(POD)" }),
            want: Err("expanded SubPath \"../web\" must be a relative path without '..'"),
        },
        Case {
            name: "failed volume",
            mount: json!({ "name": "missing-cm", "mountPath": "/m" }),
            want: Err(
                "MountVolume.SetUp failed for volume \"missing-cm\" : configmap \"absent\" not found",
            ),
        },
        Case {
            name: "undefined volume",
            mount: json!({ "name": "ghost", "mountPath": "/g" }),
            want: Err("volume \"ghost\" is not defined in the pod"),
        },
    ];
    let objects = Objects::default()
        .with(RefKind::ConfigMap, config_map("app", json!({ "k": "v" })))
        .with(
            RefKind::PersistentVolumeClaim,
            json!({ "metadata": { "name": "claim", "namespace": "default", "uid": "claim-uid" } }),
        );
    for case in cases {
        let mut pod = pod_with_container(json!({
            "env": [
                { "name": "POD", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                { "name": "EMPTY", "value": "" },
            ],
            "volumeMounts": [case.mount],
        }));
        pod["spec"]["volumes"] = json!([
            { "name": "scratch", "emptyDir": {} },
            { "name": "cfg", "configMap": { "name": "app" } },
            { "name": "data", "persistentVolumeClaim": { "claimName": "claim", "readOnly": true } },
            { "name": "missing-cm", "configMap": { "name": "absent" } },
        ]);
        let got = pod_run_spec(&pod, &objects);
        let c = only_container(&got);
        match case.want {
            Ok(want) => {
                assert_eq!(c.config_error, None, "{}", case.name);
                assert_eq!(c.mounts, vec![want], "{}", case.name);
            }
            Err(message) => assert_eq!(c.config_error.as_deref(), Some(message), "{}", case.name),
        }
        let volume_names: Vec<&str> = got.volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            volume_names,
            ["scratch", "cfg", "data"],
            "{}: the failed volume is left out",
            case.name
        );
    }
}

#[test]
fn a_failed_volume_concerns_only_containers_that_mount_it() {
    let pod = pod_with(json!({
        "volumes": [{ "name": "cfg", "configMap": { "name": "absent" } }],
        "containers": [
            { "name": "mounts", "image": "a:1", "volumeMounts": [{ "name": "cfg", "mountPath": "/c" }],
              "env": [{ "name": "X", "valueFrom": { "secretKeyRef": { "name": "nope", "key": "k" } } }] },
            { "name": "other", "image": "b:1" },
        ],
    }));
    let got = pod_run_spec(&pod, &Objects::default());
    // The volume error comes first: the kubelet mounts volumes before it resolves env.
    assert_eq!(
        got.containers[0].config_error.as_deref(),
        Some("MountVolume.SetUp failed for volume \"cfg\" : configmap \"absent\" not found")
    );
    assert_eq!(got.containers[1].config_error, None);
    assert!(got.volumes.is_empty());
}
