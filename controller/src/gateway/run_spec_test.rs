//! Table-driven tests of pod resolution: pod-level fields, containers, probes, security
//! contexts, mounts and references. Env, volumes and pull secrets have their own test files;
//! the fixtures here are shared with them.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::json;

use super::*;
use edge_wire::link::VolumeSource;

/// An in-memory [`ObjectLookup`].
#[derive(Default)]
pub(crate) struct Objects {
    objects: HashMap<(RefKind, String, String), Arc<Value>>,
    nodes: HashMap<String, Arc<Value>>,
}

impl Objects {
    pub(crate) fn with(mut self, kind: RefKind, obj: Value) -> Self {
        let ns = meta::namespace(&obj).unwrap_or("default").to_owned();
        let name = meta::name(&obj).unwrap_or_default().to_owned();
        self.objects.insert((kind, ns, name), Arc::new(obj));
        self
    }

    pub(crate) fn with_node(mut self, node: Value) -> Self {
        let name = meta::name(&node).unwrap_or_default().to_owned();
        self.nodes.insert(name, Arc::new(node));
        self
    }
}

impl ObjectLookup for Objects {
    fn get(&self, kind: RefKind, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(&(kind, namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    fn node(&self, name: &str) -> Option<Arc<Value>> {
        self.nodes.get(name).cloned()
    }
}

pub(crate) fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub(crate) fn config_map(name: &str, data: Value) -> Value {
    json!({ "metadata": { "name": name, "namespace": "default", "uid": format!("uid-{name}") }, "data": data })
}

/// A Secret with `data` given in plain text (stored base64, as the API stores it).
pub(crate) fn secret(name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(b64(v))))
        .collect();
    json!({ "metadata": { "name": name, "namespace": "default" }, "type": "Opaque", "data": data })
}

/// A pod `web` in `default` with one container `app` and the given spec fields merged in.
pub(crate) fn pod_with(spec: Value) -> Value {
    let mut pod = json!({
        "metadata": { "name": "web", "namespace": "default", "uid": "pod-uid", "resourceVersion": "42", "generation": 3 },
        "spec": { "nodeName": "edge-1", "containers": [{ "name": "app", "image": "registry.local/app:1.0" }] },
    });
    if let (Some(base), Some(extra)) = (pod["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    pod
}

/// A pod whose only container is `container` (name `app` and an image added when absent).
pub(crate) fn pod_with_container(container: Value) -> Value {
    let mut c = json!({ "name": "app", "image": "registry.local/app:1.0" });
    if let (Some(base), Some(extra)) = (c.as_object_mut(), container.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    pod_with(json!({ "containers": [c] }))
}

pub(crate) fn only_container(spec: &PodRunSpec) -> &ContainerRunSpec {
    &spec.containers[0]
}

#[test]
fn pod_level_fields() {
    struct Case {
        name: &'static str,
        metadata: Value,
        spec: Value,
        hostname: &'static str,
        subdomain: Option<&'static str>,
        restart: RestartPolicy,
        grace: u64,
        deadline: Option<u64>,
        host_network: bool,
        deleting: bool,
        revision: u64,
    }
    let base = || Case {
        name: "defaults",
        metadata: json!({}),
        spec: json!({}),
        hostname: "web",
        subdomain: None,
        restart: RestartPolicy::Always,
        grace: 30,
        deadline: None,
        host_network: false,
        deleting: false,
        revision: 3,
    };
    let long_name = format!("{}-x", "a".repeat(62));
    let cases = [
        Case {
            name: "defaults",
            ..base()
        },
        Case {
            name: "explicit fields",
            spec: json!({ "hostname": "h1", "subdomain": "svc", "restartPolicy": "OnFailure",
                "terminationGracePeriodSeconds": 5, "activeDeadlineSeconds": 600, "hostNetwork": true }),
            hostname: "h1",
            subdomain: Some("svc"),
            restart: RestartPolicy::OnFailure,
            grace: 5,
            deadline: Some(600),
            host_network: true,
            ..base()
        },
        Case {
            name: "never restarts",
            spec: json!({ "restartPolicy": "Never", "subdomain": "" }),
            restart: RestartPolicy::Never,
            ..base()
        },
        Case {
            name: "deleting with a deletion grace period",
            metadata: json!({ "deletionTimestamp": "2024-01-01T00:00:00Z", "deletionGracePeriodSeconds": 2 }),
            spec: json!({ "terminationGracePeriodSeconds": 60 }),
            grace: 2,
            deleting: true,
            ..base()
        },
        Case {
            name: "deletion grace period ignored while not deleting",
            metadata: json!({ "deletionGracePeriodSeconds": 2 }),
            spec: json!({ "terminationGracePeriodSeconds": 60 }),
            grace: 60,
            ..base()
        },
        Case {
            name: "deleting without a deletion grace period",
            metadata: json!({ "deletionTimestamp": "2024-01-01T00:00:00Z" }),
            deleting: true,
            ..base()
        },
        Case {
            name: "negative grace is zero",
            spec: json!({ "terminationGracePeriodSeconds": -1 }),
            grace: 0,
            ..base()
        },
        Case {
            name: "the revision is the generation, not the resourceVersion",
            metadata: json!({ "resourceVersion": "99", "generation": 7 }),
            revision: 7,
            ..base()
        },
        Case {
            name: "long pod name is cut to 63 without a trailing dash",
            metadata: json!({ "name": long_name }),
            hostname: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ..base()
        },
    ];
    for case in cases {
        let mut pod = pod_with(case.spec);
        if let (Some(m), Some(extra)) = (pod["metadata"].as_object_mut(), case.metadata.as_object())
        {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        let got = pod_run_spec(&pod, &Objects::default());
        let n = case.name;
        assert_eq!(got.hostname, case.hostname, "{n}: hostname");
        assert_eq!(got.subdomain.as_deref(), case.subdomain, "{n}: subdomain");
        assert_eq!(got.restart_policy, case.restart, "{n}: restart policy");
        assert_eq!(got.termination_grace_secs, case.grace, "{n}: grace");
        assert_eq!(got.active_deadline_secs, case.deadline, "{n}: deadline");
        assert_eq!(got.host_network, case.host_network, "{n}: host network");
        assert_eq!(got.deleting, case.deleting, "{n}: deleting");
        assert_eq!(got.revision, case.revision, "{n}: revision");
        assert_eq!(got.uid, "pod-uid", "{n}: uid");
        assert_eq!(got.namespace, "default", "{n}: namespace");
    }
}

#[test]
fn containers_keep_their_fields_and_order() {
    let pod = pod_with(json!({
        "initContainers": [{ "name": "init", "image": "busybox", "command": ["sh", "-c"], "args": ["echo hi"] }],
        "containers": [
            { "name": "a", "image": "nginx:1.25", "workingDir": "/srv",
              "ports": [{ "name": "http", "containerPort": 80 }, { "containerPort": 53, "protocol": "UDP", "hostPort": 5353 }, { "containerPort": 0 }] },
            { "name": "b", "image": "b:2", "workingDir": "" },
        ],
    }));
    let got = pod_run_spec(&pod, &Objects::default());
    assert_eq!(got.init_containers.len(), 1);
    let init = &got.init_containers[0];
    assert_eq!(
        (init.name.as_str(), init.command.clone(), init.args.clone()),
        (
            "init",
            vec!["sh".to_owned(), "-c".to_owned()],
            vec!["echo hi".to_owned()]
        )
    );
    let names: Vec<&str> = got.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(got.containers[0].working_dir.as_deref(), Some("/srv"));
    assert_eq!(got.containers[1].working_dir, None);
    assert_eq!(
        got.containers[0].ports,
        vec![
            PortSpec {
                name: Some("http".into()),
                container_port: 80,
                host_port: None,
                protocol: "TCP".into()
            },
            PortSpec {
                name: None,
                container_port: 53,
                host_port: Some(5353),
                protocol: "UDP".into()
            },
        ]
    );
    assert!(got.containers.iter().all(|c| c.config_error.is_none()));
}

#[test]
fn pull_policy_defaults_from_the_image() {
    let cases = [
        ("nginx", None, PullPolicy::Always),
        ("nginx:latest", None, PullPolicy::Always),
        ("nginx:1.25", None, PullPolicy::IfNotPresent),
        ("localhost:5000/app", None, PullPolicy::Always),
        ("localhost:5000/app:v1", None, PullPolicy::IfNotPresent),
        ("app@sha256:abcd", None, PullPolicy::IfNotPresent),
        ("nginx:1.25", Some("Always"), PullPolicy::Always),
        ("nginx", Some("Never"), PullPolicy::Never),
        ("nginx", Some("IfNotPresent"), PullPolicy::IfNotPresent),
    ];
    for (image, policy, want) in cases {
        let mut c = json!({ "image": image });
        if let Some(p) = policy {
            c["imagePullPolicy"] = json!(p);
        }
        let got = pod_run_spec(&pod_with_container(c), &Objects::default());
        assert_eq!(only_container(&got).pull_policy, want, "{image} {policy:?}");
    }
}

#[test]
fn resources_become_millicores_and_bytes() {
    let limits = |cr, cl, mr, ml| ContainerLimits {
        cpu_request_millis: cr,
        cpu_limit_millis: cl,
        memory_request_bytes: mr,
        memory_limit_bytes: ml,
    };
    let cases = [
        ("none", json!({}), limits(None, None, None, None)),
        (
            "requests and limits",
            json!({ "requests": { "cpu": "250m", "memory": "64Mi" }, "limits": { "cpu": "1", "memory": "1G" } }),
            limits(Some(250), Some(1000), Some(64 << 20), Some(1_000_000_000)),
        ),
        (
            "requests default to limits",
            json!({ "limits": { "cpu": "0.5", "memory": "128Mi" } }),
            limits(Some(500), Some(500), Some(128 << 20), Some(128 << 20)),
        ),
        (
            "fractions round up",
            json!({ "requests": { "cpu": "0.1m" } }),
            limits(Some(1), None, None, None),
        ),
        (
            "unparsable is left out",
            json!({ "limits": { "cpu": "lots" } }),
            limits(None, None, None, None),
        ),
        (
            "negative is left out",
            json!({ "requests": { "memory": "-1Mi" } }),
            limits(None, None, None, None),
        ),
    ];
    for (name, resources, want) in cases {
        let got = pod_run_spec(
            &pod_with_container(json!({ "resources": resources })),
            &Objects::default(),
        );
        assert_eq!(only_container(&got).limits, want, "{name}");
    }
}

#[test]
fn runtime_and_network_access() {
    let cases = [
        (None, None, RuntimeKind::Auto, false),
        (Some("wasm"), None, RuntimeKind::Wasm, false),
        (Some("wasm"), Some("true"), RuntimeKind::Wasm, true),
        (None, Some("true"), RuntimeKind::Auto, true),
        (Some("oci"), Some("true"), RuntimeKind::Oci, false),
        (Some("gvisor"), Some("yes"), RuntimeKind::Auto, false),
    ];
    for (class, annotation, runtime, allow) in cases {
        let mut pod = pod_with(json!({}));
        if let Some(class) = class {
            pod["spec"]["runtimeClassName"] = json!(class);
        }
        if let Some(a) = annotation {
            pod["metadata"]["annotations"] = json!({ ALLOW_NETWORK_ANNOTATION: a });
        }
        let got = pod_run_spec(&pod, &Objects::default());
        let c = only_container(&got);
        assert_eq!(
            (c.runtime, c.allow_network),
            (runtime, allow),
            "{class:?} {annotation:?}"
        );
    }
}

#[test]
fn references_lists_every_object_once_in_order() {
    let pod = pod_with(json!({
        "initContainers": [{ "name": "i", "envFrom": [{ "secretRef": { "name": "s-init" } }] }],
        "containers": [{
            "name": "c",
            "env": [
                { "name": "A", "valueFrom": { "configMapKeyRef": { "name": "cm-a", "key": "k" } } },
                { "name": "B", "valueFrom": { "secretKeyRef": { "name": "s-b", "key": "k" } } },
                { "name": "C", "valueFrom": { "configMapKeyRef": { "name": "cm-a", "key": "other" } } },
                { "name": "D", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
            ],
            "envFrom": [{ "configMapRef": { "name": "cm-from" } }, { "prefix": "X_" }],
        }],
        "volumes": [
            { "name": "v1", "configMap": { "name": "cm-vol" } },
            { "name": "v2", "secret": { "secretName": "s-vol" } },
            { "name": "v3", "persistentVolumeClaim": { "claimName": "pvc" } },
            { "name": "v4", "projected": { "sources": [
                { "configMap": { "name": "cm-proj" } }, { "secret": { "name": "s-proj" } }, { "serviceAccountToken": { "path": "t" } },
            ] } },
            { "name": "scratch", "ephemeral": { "volumeClaimTemplate": {} } },
            { "name": "e", "emptyDir": {} },
        ],
        "imagePullSecrets": [{ "name": "regcred" }, { "name": "s-vol" }],
    }));
    use RefKind::{ConfigMap as C, PersistentVolumeClaim as P, Secret as S};
    let want = [
        (S, "s-init"),
        (C, "cm-a"),
        (S, "s-b"),
        (C, "cm-from"),
        (C, "cm-vol"),
        (S, "s-vol"),
        (P, "pvc"),
        (C, "cm-proj"),
        (S, "s-proj"),
        (P, "web-scratch"),
        (S, "regcred"),
    ];
    let want: Vec<(RefKind, String)> = want.iter().map(|(k, n)| (*k, (*n).to_owned())).collect();
    assert_eq!(references(&pod), want);
    assert_eq!(references(&json!({})), vec![]);
}

#[test]
fn a_whole_pod_with_every_source_resolves() {
    let objects = Objects::default()
        .with(
            RefKind::ConfigMap,
            config_map("settings", json!({ "MODE": "prod", "file.conf": "x=1" })),
        )
        .with(RefKind::Secret, secret("creds", &[("password", "s3cret")]));
    let pod = pod_with(json!({
        "containers": [{
            "name": "app", "image": "app:1",
            "envFrom": [{ "configMapRef": { "name": "settings" }, "prefix": "CFG_" }],
            "env": [{ "name": "PASSWORD", "valueFrom": { "secretKeyRef": { "name": "creds", "key": "password" } } }],
            "volumeMounts": [{ "name": "conf", "mountPath": "/etc/app" }],
        }],
        "volumes": [{ "name": "conf", "configMap": { "name": "settings", "items": [{ "key": "file.conf", "path": "app.conf" }] } }],
    }));
    let got = pod_run_spec(&pod, &objects);
    let c = only_container(&got);
    assert_eq!(c.config_error, None);
    let env: Vec<(&str, &str)> = c
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("CFG_MODE", "prod"),
            ("CFG_file.conf", "x=1"),
            ("PASSWORD", "s3cret")
        ]
    );
    assert_eq!(
        got.volumes[0].source,
        VolumeSource::Files {
            files: vec![edge_wire::link::VolumeFile {
                path: "app.conf".into(),
                content: b"x=1".to_vec(),
                mode: None
            }],
            default_mode: 0o644,
        }
    );
}
