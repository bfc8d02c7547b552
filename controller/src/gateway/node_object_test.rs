//! Table-driven tests of Node objects, node status updates and node leases.

use serde_json::json;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

fn info() -> NodeInfo {
    NodeInfo {
        agent_version: "0.1.0".into(),
        hostname: "Pi-Kitchen".into(),
        os: "linux".into(),
        arch: "arm64".into(),
        arch_variant: String::new(),
        kernel_version: "6.6.31-v8+".into(),
        os_image: "Debian GNU/Linux 12 (bookworm)".into(),
        instance_type: Some("Raspberry Pi 4 Model B Rev 1.4".into()),
        capacity: Resources {
            cpu_millis: 4000,
            memory_bytes: 8_204_664_832,
            pods: 110,
            ephemeral_storage_bytes: 62_671_097_856,
        },
        allocatable: Resources {
            cpu_millis: 3500,
            memory_bytes: 7_000_000_001,
            pods: 110,
            ephemeral_storage_bytes: 0,
        },
        labels: vec![
            ("site".into(), "kitchen".into()),
            ("kubernetes.io/os".into(), "linux".into()),
        ],
        taints: vec![
            "edge=true:NoSchedule".into(),
            "dedicated:PreferNoSchedule".into(),
            "bad:Sometimes".into(),
            "=v:NoExecute".into(),
        ],
        runtimes: vec!["wasm".into(), "oci".into()],
        addresses: vec![("InternalIP".into(), "192.168.1.20".into())],
        metrics_port: 10250,
    }
}

#[test]
fn a_new_node() {
    let now = at("2024-05-01T10:00:00Z");
    let got = node_object("pi-kitchen", &info(), None, now);
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({ "type": kind, "status": status, "lastHeartbeatTime": "2024-05-01T10:00:00Z",
            "lastTransitionTime": "2024-05-01T10:00:00Z", "reason": reason, "message": message })
    };
    let want = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "pi-kitchen",
            "labels": {
                "beta.kubernetes.io/arch": "arm64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "arm64",
                "kubernetes.io/hostname": "pi-kitchen",
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "Raspberry-Pi-4-Model-B-Rev-1.4",
                "edgeplane.io/runtime-wasm": "true",
                "edgeplane.io/runtime-oci": "true",
                "site": "kitchen",
            },
        },
        "spec": { "taints": [
            { "key": "edge", "effect": "NoSchedule", "value": "true" },
            { "key": "dedicated", "effect": "PreferNoSchedule" },
        ] },
        "status": {
            "capacity": { "cpu": "4", "ephemeral-storage": "61202244Ki", "memory": "8012368Ki", "pods": "110" },
            "allocatable": { "cpu": "3500m", "ephemeral-storage": "0", "memory": "7000000001", "pods": "110" },
            "addresses": [{ "type": "InternalIP", "address": "192.168.1.20" }, { "type": "Hostname", "address": "Pi-Kitchen" }],
            "daemonEndpoints": { "kubeletEndpoint": { "Port": 10250 } },
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": "6.6.31-v8+", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "edgeplane://0.1.0", "kubeletVersion": "v0.1.0", "kubeProxyVersion": "v0.1.0",
                "operatingSystem": "linux", "architecture": "arm64",
            },
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "edge-agent has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "edge-agent has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "edge-agent has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "edge-agent is posting ready status"),
            ],
        },
    });
    assert_eq!(got, want);
}

#[test]
fn an_existing_node_keeps_what_others_manage() {
    let existing = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "pi-kitchen", "uid": "node-uid", "resourceVersion": "7",
            "labels": { "team": "home", "site": "garage", "edgeplane.io/runtime-oci": "true", "kubernetes.io/arch": "amd64" },
            "annotations": { "note": "kept" },
        },
        "spec": { "unschedulable": true, "podCIDR": "10.42.3.0/24",
            "taints": [{ "key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2024-05-01T09:00:00Z" }] },
        "status": {
            "images": [{ "names": ["app:1"], "sizeBytes": 1 }],
            "conditions": [
                { "type": "Ready", "status": "True", "lastHeartbeatTime": "2024-05-01T09:00:00Z", "lastTransitionTime": "2024-04-01T00:00:00Z", "reason": "KubeletReady" },
                { "type": "MemoryPressure", "status": "Unknown", "lastTransitionTime": "2024-05-01T09:30:00Z" },
                { "type": "DiskPressure", "status": "True", "lastTransitionTime": "2024-05-01T08:00:00Z" },
                { "type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated" },
            ],
        },
    });
    let mut node_info = info();
    node_info.runtimes = vec!["wasm".into()];
    let got = node_object(
        "pi-kitchen",
        &node_info,
        Some(&existing),
        at("2024-05-01T10:00:00Z"),
    );
    let cases = [
        ("/metadata/uid", json!("node-uid")),
        ("/metadata/resourceVersion", json!("7")),
        ("/metadata/annotations/note", json!("kept")),
        ("/metadata/labels/team", json!("home")),
        ("/metadata/labels/site", json!("kitchen")),
        ("/metadata/labels/kubernetes.io~1arch", json!("arm64")),
        ("/metadata/labels/edgeplane.io~1runtime-wasm", json!("true")),
        ("/metadata/labels/edgeplane.io~1runtime-oci", Value::Null),
        ("/spec/unschedulable", json!(true)),
        ("/spec/podCIDR", json!("10.42.3.0/24")),
        ("/spec/taints", existing["spec"]["taints"].clone()),
        ("/status/images", existing["status"]["images"].clone()),
        ("/status/conditions/0/type", json!("Ready")),
        (
            "/status/conditions/0/lastTransitionTime",
            json!("2024-04-01T00:00:00Z"),
        ),
        (
            "/status/conditions/0/lastHeartbeatTime",
            json!("2024-05-01T10:00:00Z"),
        ),
        ("/status/conditions/1/status", json!("False")),
        (
            "/status/conditions/1/lastTransitionTime",
            json!("2024-05-01T10:00:00Z"),
        ),
        ("/status/conditions/2/status", json!("True")),
        (
            "/status/conditions/2/lastTransitionTime",
            json!("2024-05-01T08:00:00Z"),
        ),
        ("/status/conditions/3/type", json!("NetworkUnavailable")),
        ("/status/conditions/4/type", json!("PIDPressure")),
        ("/status/capacity/cpu", json!("4")),
    ];
    for (pointer, want) in cases {
        assert_eq!(
            got.pointer(pointer).cloned().unwrap_or(Value::Null),
            want,
            "{pointer}"
        );
    }
}

#[test]
fn labels_that_would_be_refused_are_left_out() {
    let mut node_info = info();
    node_info.hostname = String::new();
    node_info.instance_type = Some("  ".into());
    node_info.labels = vec![
        ("good/key".into(), "v".into()),
        ("bad key".into(), "v".into()),
        ("k".into(), "bad value!".into()),
        ("empty".into(), String::new()),
    ];
    let got = node_object("Edge-7", &node_info, None, at("2024-05-01T10:00:00Z"));
    let labels = &got["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/hostname"], json!("edge-7"));
    assert_eq!(labels["good/key"], json!("v"));
    for absent in ["bad key", "k", "empty", "node.kubernetes.io/instance-type"] {
        assert_eq!(labels.get(absent), None, "{absent}");
    }
    assert_eq!(
        got["status"]["addresses"],
        json!([{ "type": "InternalIP", "address": "192.168.1.20" }])
    );
}

#[test]
fn quantities() {
    let cpu = [
        (0, "0"),
        (1000, "1"),
        (4000, "4"),
        (3500, "3500m"),
        (1, "1m"),
        (250, "250m"),
    ];
    for (millis, want) in cpu {
        assert_eq!(cpu_quantity(millis), want, "{millis}");
    }
    let bytes = [
        (0, "0"),
        (1024, "1Ki"),
        (1 << 30, "1048576Ki"),
        (1000, "1000"),
        (8_204_664_832, "8012368Ki"),
    ];
    for (n, want) in bytes {
        assert_eq!(bytes_quantity(n), want, "{n}");
    }
}

#[test]
fn taints_are_parsed() {
    let cases = [
        (
            "k=v:NoSchedule",
            Some(json!({ "key": "k", "effect": "NoSchedule", "value": "v" })),
        ),
        (
            "k:NoExecute",
            Some(json!({ "key": "k", "effect": "NoExecute" })),
        ),
        (
            "example.com/k=v:PreferNoSchedule",
            Some(json!({ "key": "example.com/k", "effect": "PreferNoSchedule", "value": "v" })),
        ),
        ("k=v", None),
        ("k=v:Never", None),
        (":NoSchedule", None),
        ("bad key:NoSchedule", None),
        ("k=bad value:NoSchedule", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_taint(text), want, "{text}");
    }
}

#[test]
fn status_reports_move_conditions() {
    let t0 = at("2024-05-01T10:00:00Z");
    let node = node_object("n", &info(), None, t0);
    struct Step {
        at: &'static str,
        memory: bool,
        disk: bool,
        want: [(&'static str, &'static str, &'static str); 2],
    }
    // (type, status, lastTransitionTime) for MemoryPressure and DiskPressure after each step.
    let steps = [
        Step {
            at: "2024-05-01T10:00:10Z",
            memory: false,
            disk: false,
            want: [
                ("MemoryPressure", "False", "2024-05-01T10:00:00Z"),
                ("DiskPressure", "False", "2024-05-01T10:00:00Z"),
            ],
        },
        Step {
            at: "2024-05-01T10:00:20Z",
            memory: true,
            disk: false,
            want: [
                ("MemoryPressure", "True", "2024-05-01T10:00:20Z"),
                ("DiskPressure", "False", "2024-05-01T10:00:00Z"),
            ],
        },
        Step {
            at: "2024-05-01T10:00:30Z",
            memory: true,
            disk: true,
            want: [
                ("MemoryPressure", "True", "2024-05-01T10:00:20Z"),
                ("DiskPressure", "True", "2024-05-01T10:00:30Z"),
            ],
        },
        Step {
            at: "2024-05-01T10:00:40Z",
            memory: false,
            disk: true,
            want: [
                ("MemoryPressure", "False", "2024-05-01T10:00:40Z"),
                ("DiskPressure", "True", "2024-05-01T10:00:30Z"),
            ],
        },
    ];
    let mut node = node;
    for step in steps {
        let report = NodeStatusReport {
            memory_pressure: step.memory,
            disk_pressure: step.disk,
            ..Default::default()
        };
        node = apply_node_status(&node, &report, at(step.at));
        let conditions = node["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(conditions.len(), 4, "{}", step.at);
        for c in &conditions {
            assert_eq!(
                c["lastHeartbeatTime"],
                json!(format_timestamp(at(step.at))),
                "{}: heartbeat",
                step.at
            );
        }
        for (kind, status, transition) in step.want {
            let c = conditions
                .iter()
                .find(|c| c["type"] == json!(kind))
                .cloned()
                .unwrap_or(Value::Null);
            assert_eq!(
                (c["status"].clone(), c["lastTransitionTime"].clone()),
                (json!(status), json!(transition)),
                "{}: {kind}",
                step.at
            );
        }
        let reason = conditions
            .iter()
            .find(|c| c["type"] == json!("MemoryPressure"))
            .map(|c| c["reason"].clone());
        let want_reason = if step.memory {
            "KubeletHasInsufficientMemory"
        } else {
            "KubeletHasSufficientMemory"
        };
        assert_eq!(reason, Some(json!(want_reason)), "{}", step.at);
    }
    // A node the lifecycle controller marked unknown becomes ready again, with a new transition.
    node["status"]["conditions"][3] = json!({ "type": "Ready", "status": "Unknown", "lastTransitionTime": "2024-05-01T11:00:00Z" });
    let node = apply_node_status(
        &node,
        &NodeStatusReport::default(),
        at("2024-05-01T11:05:00Z"),
    );
    assert_eq!(node["status"]["conditions"][3]["status"], json!("True"));
    assert_eq!(
        node["status"]["conditions"][3]["lastTransitionTime"],
        json!("2024-05-01T11:05:00Z")
    );
    // A node without a status gets one.
    let bare = apply_node_status(
        &json!({ "metadata": { "name": "n" } }),
        &NodeStatusReport::default(),
        t0,
    );
    assert_eq!(
        bare["status"]["conditions"].as_array().map(Vec::len),
        Some(4)
    );
}

#[test]
fn leases() {
    let now = at("2024-05-01T10:00:00.123456789Z");
    let got = node_lease("pi", "node-uid", 40, now);
    assert_eq!(
        got,
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "pi",
                "namespace": "kube-node-lease",
                "ownerReferences": [{ "apiVersion": "v1", "kind": "Node", "name": "pi", "uid": "node-uid" }],
            },
            "spec": { "holderIdentity": "pi", "leaseDurationSeconds": 40, "renewTime": "2024-05-01T10:00:00.123456Z" },
        })
    );
    let without_uid = node_lease("pi", "", 40, at("2024-05-01T10:00:00Z"));
    assert_eq!(without_uid["metadata"].get("ownerReferences"), None);
    assert_eq!(
        without_uid["spec"]["renewTime"],
        json!("2024-05-01T10:00:00.000000Z")
    );
}
