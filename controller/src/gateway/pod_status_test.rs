//! Table-driven tests of pod status JSON: the shape kubectl reads, what is kept from the
//! previous status, and QoS classes.

use edge_wire::link::PodPhase;
use serde_json::json;

use super::*;

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

fn cond(kind: &str, status: bool, ms: i64) -> PodCondition {
    PodCondition {
        kind: kind.into(),
        status,
        last_transition_ms: ms,
        reason: None,
        message: None,
    }
}

fn running(name: &str, ready: bool) -> ContainerStatusReport {
    ContainerStatusReport {
        name: name.into(),
        image: format!("{name}:1"),
        image_id: format!("sha256:{name}"),
        ready,
        started: true,
        restart_count: 0,
        state: ContainerState::Running { started_ms: T0 },
        last_state: None,
    }
}

fn pod(spec: Value, status: Value) -> Value {
    json!({ "metadata": { "name": "web", "namespace": "default" }, "spec": spec, "status": status })
}

#[test]
fn a_running_pod_has_the_kubelets_shape() {
    let report = PodStatusReport {
        uid: "u".into(),
        namespace: "default".into(),
        name: "web".into(),
        phase: PodPhase::Running,
        pod_ip: Some("10.42.0.7".into()),
        host_ip: Some("192.168.1.10".into()),
        start_time_ms: Some(T0),
        conditions: vec![
            cond("Initialized", true, T0),
            PodCondition {
                reason: Some("ContainersNotReady".into()),
                message: Some("containers with unready status: [b]".into()),
                ..cond("Ready", false, T0 + 1000)
            },
        ],
        init_containers: vec![ContainerStatusReport {
            name: "init".into(),
            image: "busybox:1".into(),
            image_id: "sha256:bb".into(),
            ready: false,
            started: false,
            restart_count: 0,
            state: ContainerState::Terminated {
                exit_code: 0,
                reason: "Completed".into(),
                message: None,
                started_ms: T0,
                finished_ms: T0 + 2000,
            },
            last_state: None,
        }],
        containers: vec![
            running("b", false),
            ContainerStatusReport {
                restart_count: 2,
                state: ContainerState::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some("back-off 20s".into()),
                },
                last_state: Some(ContainerState::Terminated {
                    exit_code: 137,
                    reason: "OOMKilled".into(),
                    message: Some("out of memory".into()),
                    started_ms: T0,
                    finished_ms: T0 + 5000,
                }),
                ready: false,
                started: false,
                ..running("a", false)
            },
        ],
        ..Default::default()
    };
    let spec = json!({
        "initContainers": [{ "name": "init", "image": "busybox:1" }],
        "containers": [{ "name": "a", "image": "a:1", "resources": { "requests": { "cpu": "100m" } } }, { "name": "b", "image": "b:1" }],
    });
    let got = status_json(&report, &pod(spec, json!({})));
    let want = json!({
        "phase": "Running",
        "conditions": [
            { "type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2023-11-14T22:13:20Z" },
            { "type": "Ready", "status": "False", "lastProbeTime": null, "lastTransitionTime": "2023-11-14T22:13:21Z",
              "reason": "ContainersNotReady", "message": "containers with unready status: [b]" },
        ],
        "hostIP": "192.168.1.10",
        "hostIPs": [{ "ip": "192.168.1.10" }],
        "podIP": "10.42.0.7",
        "podIPs": [{ "ip": "10.42.0.7" }],
        "startTime": "2023-11-14T22:13:20Z",
        "initContainerStatuses": [{
            "name": "init",
            "state": { "terminated": { "exitCode": 0, "reason": "Completed", "startedAt": "2023-11-14T22:13:20Z", "finishedAt": "2023-11-14T22:13:22Z" } },
            "lastState": {}, "ready": false, "restartCount": 0, "image": "busybox:1", "imageID": "sha256:bb", "started": false,
        }],
        "containerStatuses": [
            {
                "name": "a",
                "state": { "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 20s" } },
                "lastState": { "terminated": { "exitCode": 137, "reason": "OOMKilled", "message": "out of memory",
                    "startedAt": "2023-11-14T22:13:20Z", "finishedAt": "2023-11-14T22:13:25Z" } },
                "ready": false, "restartCount": 2, "image": "a:1", "imageID": "sha256:a", "started": false,
            },
            {
                "name": "b",
                "state": { "running": { "startedAt": "2023-11-14T22:13:20Z" } },
                "lastState": {}, "ready": false, "restartCount": 0, "image": "b:1", "imageID": "sha256:b", "started": true,
            },
        ],
        "qosClass": "Burstable",
    });
    assert_eq!(got, want);
    // Field order matters to humans reading `kubectl get -o yaml`: it is the kubelet's.
    let keys: Vec<&String> = got
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let want_keys: Vec<&String> = want
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, want_keys);
}

#[test]
fn what_is_kept_from_the_previous_status() {
    struct Case {
        name: &'static str,
        report: PodStatusReport,
        previous: Value,
        check: Vec<(&'static str, Value)>,
    }
    let scheduled = json!({ "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2020-01-01T00:00:00Z" });
    let cases = [
        Case {
            name: "terminal phase stays",
            report: PodStatusReport {
                phase: PodPhase::Running,
                ..Default::default()
            },
            previous: json!({ "phase": "Succeeded" }),
            check: vec![("/phase", json!("Succeeded"))],
        },
        Case {
            name: "non-terminal phase follows the report",
            report: PodStatusReport {
                phase: PodPhase::Failed,
                reason: Some("DeadlineExceeded".into()),
                message: Some("too long".into()),
                ..Default::default()
            },
            previous: json!({ "phase": "Running" }),
            check: vec![
                ("/phase", json!("Failed")),
                ("/reason", json!("DeadlineExceeded")),
                ("/message", json!("too long")),
            ],
        },
        Case {
            name: "start time and addresses kept when the report has none",
            report: PodStatusReport {
                start_time_ms: Some(T0),
                ..Default::default()
            },
            previous: json!({ "startTime": "2020-01-01T00:00:00Z", "podIP": "10.0.0.1", "podIPs": [{ "ip": "10.0.0.1" }], "hostIP": "192.168.0.1" }),
            check: vec![
                ("/startTime", json!("2020-01-01T00:00:00Z")),
                ("/podIP", json!("10.0.0.1")),
                ("/podIPs", json!([{ "ip": "10.0.0.1" }])),
                ("/hostIP", json!("192.168.0.1")),
                ("/hostIPs", Value::Null),
            ],
        },
        Case {
            name: "reported addresses win",
            report: PodStatusReport {
                pod_ip: Some("10.0.0.2".into()),
                ..Default::default()
            },
            previous: json!({ "podIP": "10.0.0.1", "podIPs": [{ "ip": "10.0.0.1" }] }),
            check: vec![
                ("/podIP", json!("10.0.0.2")),
                ("/podIPs", json!([{ "ip": "10.0.0.2" }])),
                ("/startTime", Value::Null),
            ],
        },
        Case {
            name: "PodScheduled and foreign conditions kept, stale kubelet ones dropped",
            report: PodStatusReport {
                conditions: vec![cond("Ready", true, T0)],
                ..Default::default()
            },
            previous: json!({ "conditions": [
                scheduled.clone(),
                { "type": "ContainersReady", "status": "False" },
                { "type": "example.com/gate", "status": "True" },
            ] }),
            check: vec![
                ("/conditions/0/type", json!("Ready")),
                ("/conditions/1", scheduled.clone()),
                ("/conditions/2/type", json!("example.com/gate")),
                ("/conditions/3", Value::Null),
            ],
        },
        Case {
            name: "a reported PodScheduled replaces the previous one",
            report: PodStatusReport {
                conditions: vec![cond("PodScheduled", true, T0)],
                ..Default::default()
            },
            previous: json!({ "conditions": [{ "type": "PodScheduled", "status": "False", "lastTransitionTime": "2020-01-01T00:00:00Z" }] }),
            check: vec![
                (
                    "/conditions/0/lastTransitionTime",
                    json!("2023-11-14T22:13:20Z"),
                ),
                ("/conditions/1", Value::Null),
            ],
        },
        Case {
            name: "unchanged condition keeps its transition time",
            report: PodStatusReport {
                conditions: vec![cond("Ready", true, T0)],
                ..Default::default()
            },
            previous: json!({ "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z" }] }),
            check: vec![(
                "/conditions/0/lastTransitionTime",
                json!("2020-01-01T00:00:00Z"),
            )],
        },
        Case {
            name: "changed condition takes the reported time; unknown time is null",
            report: PodStatusReport {
                conditions: vec![cond("Ready", false, T0), cond("Initialized", true, 0)],
                ..Default::default()
            },
            previous: json!({ "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z" }] }),
            check: vec![
                (
                    "/conditions/0/lastTransitionTime",
                    json!("2023-11-14T22:13:20Z"),
                ),
                ("/conditions/1/lastTransitionTime", Value::Null),
            ],
        },
        Case {
            name: "nominated node and QoS class kept",
            report: PodStatusReport::default(),
            previous: json!({ "nominatedNodeName": "edge-2", "qosClass": "Guaranteed" }),
            check: vec![
                ("/nominatedNodeName", json!("edge-2")),
                ("/qosClass", json!("Guaranteed")),
            ],
        },
        Case {
            name: "no previous status",
            report: PodStatusReport::default(),
            previous: Value::Null,
            check: vec![
                ("/phase", json!("Pending")),
                ("/conditions", json!([])),
                ("/containerStatuses", json!([])),
                ("/qosClass", json!("BestEffort")),
                ("/reason", Value::Null),
                ("/initContainerStatuses", Value::Null),
            ],
        },
    ];
    for case in cases {
        let got = status_json(&case.report, &pod(json!({}), case.previous));
        for (pointer, want) in &case.check {
            let value = got.pointer(pointer).cloned().unwrap_or(Value::Null);
            assert_eq!(&value, want, "{}: {pointer}", case.name);
        }
    }
}

#[test]
fn spec_containers_without_a_report_are_waiting() {
    let cases = [
        (
            "plain pod",
            json!({ "containers": [{ "name": "z", "image": "z:1" }, { "name": "a", "image": "a:1" }] }),
            vec![("a", "ContainerCreating"), ("z", "ContainerCreating")],
            vec![],
        ),
        (
            "pod with init containers",
            json!({ "initContainers": [{ "name": "second", "image": "i:2" }, { "name": "first", "image": "i:1" }],
                    "containers": [{ "name": "app", "image": "a:1" }] }),
            vec![("app", "PodInitializing")],
            vec![("second", "PodInitializing"), ("first", "PodInitializing")],
        ),
    ];
    for (name, spec, want_regular, want_init) in cases {
        let got = status_json(&PodStatusReport::default(), &pod(spec, json!({})));
        let summary = |key: &str| -> Vec<(String, String)> {
            got[key].as_array().map_or_else(Vec::new, |list| {
                list.iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or("").to_owned(),
                            c["state"]["waiting"]["reason"]
                                .as_str()
                                .unwrap_or("")
                                .to_owned(),
                        )
                    })
                    .collect()
            })
        };
        let own = |v: Vec<(&str, &str)>| -> Vec<(String, String)> {
            v.into_iter().map(|(a, b)| (a.into(), b.into())).collect()
        };
        assert_eq!(
            summary("containerStatuses"),
            own(want_regular),
            "{name}: containers"
        );
        assert_eq!(
            summary("initContainerStatuses"),
            own(want_init),
            "{name}: init containers, in spec order"
        );
        assert_eq!(
            got["containerStatuses"][0]["lastState"],
            json!({}),
            "{name}"
        );
        assert_eq!(got["containerStatuses"][0]["ready"], json!(false), "{name}");
    }
    // A reported container keeps the spec's image when it reports none, and one the spec lacks
    // is still listed.
    let report = PodStatusReport {
        containers: vec![
            ContainerStatusReport {
                image: String::new(),
                ..running("a", true)
            },
            running("extra", true),
        ],
        ..Default::default()
    };
    let got = status_json(
        &report,
        &pod(
            json!({ "containers": [{ "name": "a", "image": "spec/a:7" }] }),
            json!({}),
        ),
    );
    assert_eq!(got["containerStatuses"][0]["image"], json!("spec/a:7"));
    assert_eq!(got["containerStatuses"][1]["name"], json!("extra"));
}

#[test]
fn qos_classes() {
    let c = |resources: Value| json!({ "name": "c", "image": "i", "resources": resources });
    let cases = [
        (
            "no resources",
            json!({ "containers": [c(json!({}))] }),
            "BestEffort",
        ),
        ("no containers", json!({}), "BestEffort"),
        (
            "zero requests count as none",
            json!({ "containers": [c(json!({ "requests": { "cpu": "0" } }))] }),
            "BestEffort",
        ),
        (
            "other resources do not count",
            json!({ "containers": [c(json!({ "limits": { "nvidia.com/gpu": "1" } }))] }),
            "BestEffort",
        ),
        (
            "requests only",
            json!({ "containers": [c(json!({ "requests": { "cpu": "100m" } }))] }),
            "Burstable",
        ),
        (
            "limits equal requests",
            json!({ "containers": [c(json!({ "requests": { "cpu": "1", "memory": "1Gi" }, "limits": { "cpu": "1000m", "memory": "1Gi" } }))] }),
            "Guaranteed",
        ),
        (
            "limits only (requests default to them)",
            json!({ "containers": [c(json!({ "limits": { "cpu": "1", "memory": "1Gi" } }))] }),
            "Guaranteed",
        ),
        (
            "limits differ from requests",
            json!({ "containers": [c(json!({ "requests": { "cpu": "500m", "memory": "1Gi" }, "limits": { "cpu": "1", "memory": "1Gi" } }))] }),
            "Burstable",
        ),
        (
            "only cpu limited",
            json!({ "containers": [c(json!({ "limits": { "cpu": "1" } }))] }),
            "Burstable",
        ),
        (
            "one container without limits",
            json!({ "containers": [c(json!({ "limits": { "cpu": "1", "memory": "1Gi" } })), c(json!({}))] }),
            "Burstable",
        ),
        (
            "init containers count",
            json!({ "containers": [c(json!({ "limits": { "cpu": "1", "memory": "1Gi" } }))], "initContainers": [c(json!({ "requests": { "cpu": "1" } }))] }),
            "Burstable",
        ),
        (
            "all guaranteed with init",
            json!({ "containers": [c(json!({ "limits": { "cpu": "1", "memory": "1Gi" } }))], "initContainers": [c(json!({ "limits": { "cpu": "2", "memory": "64Mi" } }))] }),
            "Guaranteed",
        ),
    ];
    for (name, spec, want) in cases {
        assert_eq!(qos_class(&spec), want, "{name}");
    }
}

#[test]
fn a_repeated_report_changes_nothing() {
    // The status writer skips the write when the status is unchanged, so converting the same
    // report against the status it produced must give that status again.
    let report = PodStatusReport {
        phase: PodPhase::Running,
        pod_ip: Some("10.42.0.9".into()),
        host_ip: Some("192.168.1.2".into()),
        start_time_ms: Some(T0),
        conditions: vec![cond("Ready", true, T0), cond("Initialized", true, T0)],
        containers: vec![running("z", true), running("a", true)],
        ..Default::default()
    };
    let previous = json!({ "conditions": [{ "type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z" }] });
    let spec =
        json!({ "containers": [{ "name": "z", "image": "z:1" }, { "name": "a", "image": "a:1" }] });
    let first = status_json(&report, &pod(spec.clone(), previous));
    let later = PodStatusReport {
        conditions: vec![
            cond("Ready", true, T0 + 9000),
            cond("Initialized", true, T0 + 9000),
        ],
        ..report.clone()
    };
    let second = status_json(&later, &pod(spec, first.clone()));
    assert_eq!(second, first);
}
