//! Table-driven tests of the scheduling core: parsing, every filter, every score, the choice.

use serde_json::{Value, json};

use super::filters::PodFilter;
use super::scores::{self, NodeScore, PodScorer};
use super::*;

const GI: i64 = 1024 * 1024 * 1024;
const MI: i64 = 1024 * 1024;

/// Deep-merges `patch` into `base` (objects merge, everything else replaces).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// A ready agent node offering both runtimes, 4 CPUs, 8Gi, 110 pods, amd64.
fn node(name: &str, patch: Value) -> Value {
    let mut n = json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "kubernetes.io/arch": "amd64",
            "edgeplane.io/runtime-wasm": "true",
            "edgeplane.io/runtime-oci": "true",
        }},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    });
    merge(&mut n, &patch);
    n
}

/// A pod in `default` with one container `app` (image `app:1`) and `patch` merged in.
fn pod(name: &str, patch: Value) -> Value {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    });
    merge(&mut p, &patch);
    p
}

fn requesting(name: &str, cpu: &str, memory: &str) -> Value {
    pod(
        name,
        json!({"spec": {"containers": [{"name": "app", "image": "app:1",
            "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}),
    )
}

fn bound(mut p: Value, node: &str) -> Value {
    p["spec"]["nodeName"] = json!(node);
    p
}

fn labeled(name: &str, labels: Value) -> Value {
    pod(name, json!({"metadata": {"labels": labels}}))
}

fn info(p: &Value) -> PodInfo {
    PodInfo::from_pod(p)
}

fn owned_by(name: &str, owner: &str) -> PodInfo {
    info(&pod(
        name,
        json!({"metadata": {"ownerReferences": [{"uid": owner, "controller": true}]}}),
    ))
}

#[test]
fn pod_info_parses() {
    struct Case {
        name: &'static str,
        pod: Value,
        check: fn(&PodInfo) -> bool,
    }
    let cases = [
        Case {
            name: "requests are summed over containers, overhead added",
            pod: pod(
                "p",
                json!({"spec": {"containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}},
                ], "overhead": {"cpu": "10m", "memory": "1Mi"}}}),
            ),
            check: |p| {
                p.requests
                    == Resources {
                        milli_cpu: 360,
                        memory: 64 * MI + GI + MI,
                    }
            },
        },
        Case {
            name: "an init container larger than the sum wins",
            pod: pod(
                "p",
                json!({"spec": {
                    "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                    "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
                }}),
            ),
            check: |p| p.requests.milli_cpu == 2000 && p.requests.memory == 0,
        },
        Case {
            name: "sidecar init containers add to the containers",
            pod: pod(
                "p",
                json!({"spec": {
                    "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                    "initContainers": [{"name": "s", "restartPolicy": "Always",
                        "resources": {"requests": {"cpu": "50m"}}}],
                }}),
            ),
            check: |p| p.requests.milli_cpu == 150,
        },
        Case {
            name: "limits stand in for missing requests",
            pod: pod(
                "p",
                json!({"spec": {"containers": [{"name": "a",
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "200m"}}}]}}),
            ),
            check: |p| p.requests.milli_cpu == 200 && p.requests.memory == GI,
        },
        Case {
            name: "non-zero requests default per container for scoring",
            pod: pod(
                "p",
                json!({"spec": {"containers": [
                    {"name": "a"},
                    {"name": "b", "resources": {"requests": {"cpu": "1"}}},
                ]}}),
            ),
            check: |p| {
                p.requests.milli_cpu == 1000
                    && p.requests.memory == 0
                    && p.non_zero_requests.milli_cpu == 1100
                    && p.non_zero_requests.memory == 2 * DEFAULT_MEMORY_REQUEST
            },
        },
        Case {
            name: "controller owner, runtime class, node name",
            pod: pod(
                "p",
                json!({"metadata": {"ownerReferences": [
                    {"uid": "other"}, {"uid": "rs-1", "controller": true}]},
                    "spec": {"runtimeClassName": "wasm", "nodeName": "n1"}}),
            ),
            check: |p| {
                p.owner_uid.as_deref() == Some("rs-1")
                    && p.runtime == Some(Runtime::Wasm)
                    && p.node_name.as_deref() == Some("n1")
                    && p.image_archs.is_none()
            },
        },
        Case {
            name: "unknown runtime class, defaults for namespace and labels",
            pod: json!({"metadata": {"name": "p"}, "spec": {"runtimeClassName": "gvisor"}}),
            check: |p| p.runtime.is_none() && p.namespace == "default" && p.labels == json!({}),
        },
        Case {
            name: "host ports get TCP and the wildcard address",
            pod: pod(
                "p",
                json!({"spec": {"containers": [{"name": "a", "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"},
                    {"containerPort": 9000},
                ]}]}}),
            ),
            check: |p| {
                p.host_ports
                    == [
                        HostPort {
                            protocol: "TCP".into(),
                            host_ip: "0.0.0.0".into(),
                            port: 8080,
                        },
                        HostPort {
                            protocol: "UDP".into(),
                            host_ip: "10.0.0.1".into(),
                            port: 53,
                        },
                    ]
            },
        },
        Case {
            name: "images of init containers and containers, normalized",
            pod: pod(
                "p",
                json!({"spec": {
                    "initContainers": [{"name": "i", "image": "registry:5000/init"}],
                    "containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "x@sha256:ab"}],
                }}),
            ),
            check: |p| p.images == ["registry:5000/init:latest", "nginx:latest", "x@sha256:ab"],
        },
        Case {
            name: "tolerations with unknown operators are dropped",
            pod: pod(
                "p",
                json!({"spec": {"tolerations": [
                    {"key": "a", "operator": "Exists"},
                    {"key": "b", "operator": "Lt"},
                    {"key": "c", "value": "v", "effect": "NoSchedule"},
                ]}}),
            ),
            check: |p| {
                p.tolerations.len() == 2
                    && p.tolerations[0].exists
                    && p.tolerations[1].effect == Some(TaintEffect::NoSchedule)
            },
        },
    ];
    for case in cases {
        let parsed = info(&case.pod);
        assert!((case.check)(&parsed), "{}: {parsed:#?}", case.name);
    }
}

#[test]
fn node_info_parses() {
    struct Case {
        name: &'static str,
        node: Value,
        check: fn(&NodeInfo) -> bool,
    }
    let cases = [
        Case {
            name: "agent node",
            node: node("n", json!({})),
            check: |n| {
                n.ready
                    && n.allocatable
                        == Resources {
                            milli_cpu: 4000,
                            memory: 8 * GI,
                        }
                    && n.allocatable_pods == 110
                    && n.arch.as_deref() == Some("amd64")
                    && n.offers_oci
                    && n.offers_wasm
            },
        },
        Case {
            name: "no allocatable, no labels, no conditions",
            node: json!({"metadata": {"name": "bare"}}),
            check: |n| {
                !n.ready
                    && n.allocatable == Resources::default()
                    && n.allocatable_pods == DEFAULT_MAX_PODS
                    && n.arch.is_none()
                    && n.offers_oci
                    && n.offers_wasm
            },
        },
        Case {
            name: "wasm only, arch from nodeInfo, not ready",
            node: json!({"metadata": {"name": "n", "labels": {"edgeplane.io/runtime-wasm": "true"}},
                "status": {"nodeInfo": {"architecture": "arm64"},
                    "conditions": [{"type": "Ready", "status": "Unknown"}]}}),
            check: |n| {
                !n.ready && n.offers_wasm && !n.offers_oci && n.arch.as_deref() == Some("arm64")
            },
        },
        Case {
            name: "taints and cordon",
            node: node(
                "n",
                json!({"spec": {"unschedulable": true, "taints": [
                    {"key": "a", "value": "b", "effect": "NoSchedule"},
                    {"key": "c", "effect": "Bogus"},
                ]}}),
            ),
            check: |n| {
                n.unschedulable
                    && n.taints
                        == [Taint {
                            key: "a".into(),
                            value: "b".into(),
                            effect: TaintEffect::NoSchedule,
                        }]
            },
        },
    ];
    for case in cases {
        let parsed = NodeInfo::from_node(&case.node);
        assert!((case.check)(&parsed), "{}: {parsed:#?}", case.name);
    }
}

struct FilterCase {
    name: &'static str,
    nodes: Vec<Value>,
    bound: Vec<Value>,
    pod: PodInfo,
    /// Per node: "" when it fits, else its rejection reasons joined by "; ".
    expected: &'static [(&'static str, &'static str)],
}

fn check_filters(case: &FilterCase) {
    let state = ClusterState::new(&case.nodes, &case.bound);
    let filter = PodFilter::new(&case.pod, state.nodes(), state.affinity_pods);
    let got: Vec<(String, String)> = state
        .nodes()
        .iter()
        .map(|n| {
            let mut reasons = Vec::new();
            if let Err(rejection) = filter.check(n) {
                rejection.reasons(n, &case.pod, &mut reasons);
            }
            (n.name.clone(), reasons.join("; "))
        })
        .collect();
    let expected: Vec<(String, String)> = case
        .expected
        .iter()
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect();
    assert_eq!(got, expected, "{}", case.name);
}

fn with_tolerations(tolerations: Value) -> PodInfo {
    info(&pod("p", json!({"spec": {"tolerations": tolerations}})))
}

fn with_node_affinity(terms: Value) -> PodInfo {
    info(&pod(
        "p",
        json!({"spec": {"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}),
    ))
}

fn with_host_port(port: i64, protocol: &str, host_ip: &str) -> Value {
    pod(
        "p",
        json!({"spec": {"containers": [{"name": "a", "ports": [
            {"containerPort": port, "hostPort": port, "protocol": protocol, "hostIP": host_ip}]}]}}),
    )
}

fn with_runtime(runtime: Option<Runtime>, archs: Option<&[&str]>) -> PodInfo {
    let mut p = info(&pod("p", json!({})));
    p.runtime = runtime;
    p.image_archs = archs.map(|a| a.iter().map(|s| s.to_string()).collect());
    p
}

fn with_pod_affinity(kind: &str, labels: Value, topology_key: &str) -> Value {
    json!({"spec": {"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": topology_key}]}}}})
}

fn zoned(name: &str, zone: &str) -> Value {
    node(
        name,
        json!({"metadata": {"labels": {"topology.kubernetes.io/zone": zone}}}),
    )
}

fn spread_pod(when: &str, max_skew: i64) -> PodInfo {
    info(&pod(
        "p",
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"topologySpreadConstraints": [
            {"maxSkew": max_skew, "topologyKey": "topology.kubernetes.io/zone",
             "whenUnsatisfiable": when, "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
    ))
}

#[test]
fn filters() {
    let plain = || info(&pod("p", json!({})));
    let taint = |key: &str, value: &str, effect: &str| {
        node(
            "t",
            json!({"spec": {"taints": [{"key": key, "value": value, "effect": effect}]}}),
        )
    };
    let web = || json!({"app": "web"});
    let cases = vec![
        FilterCase {
            name: "not ready",
            nodes: vec![
                node("a", json!({})),
                node(
                    "b",
                    json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
                ),
            ],
            bound: vec![],
            pod: plain(),
            expected: &[("a", ""), ("b", "node(s) were not ready")],
        },
        FilterCase {
            name: "cordoned",
            nodes: vec![node("a", json!({"spec": {"unschedulable": true}}))],
            bound: vec![],
            pod: plain(),
            expected: &[("a", "node(s) were unschedulable")],
        },
        FilterCase {
            name: "cordoned but tolerated",
            nodes: vec![node("a", json!({"spec": {"unschedulable": true}}))],
            bound: vec![],
            pod: with_tolerations(
                json!([{"key": UNSCHEDULABLE_TAINT_KEY, "operator": "Exists",
                "effect": "NoSchedule"}]),
            ),
            expected: &[("a", "")],
        },
        FilterCase {
            name: "untolerated NoSchedule taint",
            nodes: vec![taint("k", "v", "NoSchedule")],
            bound: vec![],
            pod: plain(),
            expected: &[("t", "node(s) had untolerated taint {k: v}")],
        },
        FilterCase {
            name: "untolerated NoExecute taint without value",
            nodes: vec![taint("node.kubernetes.io/unreachable", "", "NoExecute")],
            bound: vec![],
            pod: plain(),
            expected: &[(
                "t",
                "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",
            )],
        },
        FilterCase {
            name: "PreferNoSchedule does not filter",
            nodes: vec![taint("k", "v", "PreferNoSchedule")],
            bound: vec![],
            pod: plain(),
            expected: &[("t", "")],
        },
        FilterCase {
            name: "tolerated by Equal",
            nodes: vec![taint("k", "v", "NoSchedule")],
            bound: vec![],
            pod: with_tolerations(json!([{"key": "k", "value": "v", "effect": "NoSchedule"}])),
            expected: &[("t", "")],
        },
        FilterCase {
            name: "Equal with another value does not tolerate",
            nodes: vec![taint("k", "v", "NoSchedule")],
            bound: vec![],
            pod: with_tolerations(json!([{"key": "k", "value": "w"}])),
            expected: &[("t", "node(s) had untolerated taint {k: v}")],
        },
        FilterCase {
            name: "empty key with Exists tolerates everything",
            nodes: vec![taint("k", "v", "NoExecute")],
            bound: vec![],
            pod: with_tolerations(json!([{"operator": "Exists"}])),
            expected: &[("t", "")],
        },
        FilterCase {
            name: "toleration for another effect",
            nodes: vec![taint("k", "v", "NoExecute")],
            bound: vec![],
            pod: with_tolerations(
                json!([{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]),
            ),
            expected: &[("t", "node(s) had untolerated taint {k: v}")],
        },
        FilterCase {
            name: "node name",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![],
            pod: info(&pod("p", json!({"spec": {"nodeName": "b"}}))),
            expected: &[
                ("a", "node(s) didn't match the requested node name"),
                ("b", ""),
            ],
        },
        FilterCase {
            name: "node selector",
            nodes: vec![
                node("a", json!({"metadata": {"labels": {"disk": "ssd"}}})),
                node("b", json!({"metadata": {"labels": {"disk": "hdd"}}})),
                node("c", json!({})),
            ],
            bound: vec![],
            pod: info(&pod(
                "p",
                json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
            )),
            expected: &[
                ("a", ""),
                ("b", "node(s) didn't match Pod's node affinity/selector"),
                ("c", "node(s) didn't match Pod's node affinity/selector"),
            ],
        },
        FilterCase {
            name: "node affinity In, NotIn, Exists, DoesNotExist",
            nodes: vec![
                node(
                    "a",
                    json!({"metadata": {"labels": {"zone": "z1", "gpu": "1"}}}),
                ),
                node(
                    "b",
                    json!({"metadata": {"labels": {"zone": "z2", "gpu": "1"}}}),
                ),
                node(
                    "c",
                    json!({"metadata": {"labels": {"zone": "z1", "gpu": "1", "old": "y"}}}),
                ),
                node("d", json!({"metadata": {"labels": {"zone": "z1"}}})),
            ],
            bound: vec![],
            pod: with_node_affinity(json!([{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["z1", "z3"]},
                {"key": "zone", "operator": "NotIn", "values": ["z2"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "old", "operator": "DoesNotExist"},
            ]}])),
            expected: &[
                ("a", ""),
                ("b", "node(s) didn't match Pod's node affinity/selector"),
                ("c", "node(s) didn't match Pod's node affinity/selector"),
                ("d", "node(s) didn't match Pod's node affinity/selector"),
            ],
        },
        FilterCase {
            name: "node affinity Gt and Lt",
            nodes: vec![
                node("a", json!({"metadata": {"labels": {"cores": "8"}}})),
                node("b", json!({"metadata": {"labels": {"cores": "2"}}})),
                node("c", json!({"metadata": {"labels": {"cores": "many"}}})),
                node("d", json!({"metadata": {"labels": {"cores": "64"}}})),
            ],
            bound: vec![],
            pod: with_node_affinity(json!([{"matchExpressions": [
                {"key": "cores", "operator": "Gt", "values": ["4"]},
                {"key": "cores", "operator": "Lt", "values": ["16"]},
            ]}])),
            expected: &[
                ("a", ""),
                ("b", "node(s) didn't match Pod's node affinity/selector"),
                ("c", "node(s) didn't match Pod's node affinity/selector"),
                ("d", "node(s) didn't match Pod's node affinity/selector"),
            ],
        },
        FilterCase {
            name: "node affinity terms are ORed; matchFields on the name; empty terms match nothing",
            nodes: vec![
                node("a", json!({})),
                node("b", json!({"metadata": {"labels": {"edge": "true"}}})),
                node("c", json!({})),
            ],
            bound: vec![],
            pod: with_node_affinity(json!([
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}]},
                {"matchExpressions": [{"key": "edge", "operator": "In", "values": ["true"]}]},
                {},
            ])),
            expected: &[
                ("a", ""),
                ("b", ""),
                ("c", "node(s) didn't match Pod's node affinity/selector"),
            ],
        },
        FilterCase {
            name: "cpu, memory and pods",
            nodes: vec![
                node("fits", json!({})),
                node(
                    "small",
                    json!({"status": {"allocatable": {"cpu": "500m", "memory": "8Gi"}}}),
                ),
                node(
                    "tiny",
                    json!({"status": {"allocatable": {"cpu": "500m", "memory": "1Gi"}}}),
                ),
                node("full", json!({"status": {"allocatable": {"pods": "1"}}})),
            ],
            bound: vec![bound(pod("q", json!({})), "full")],
            pod: info(&requesting("p", "1", "2Gi")),
            expected: &[
                ("fits", ""),
                ("small", "Insufficient cpu"),
                ("tiny", "Insufficient cpu; Insufficient memory"),
                ("full", "Too many pods"),
            ],
        },
        FilterCase {
            name: "requests already placed count",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![bound(requesting("q", "3500m", "1Gi"), "a")],
            pod: info(&requesting("p", "1", "1Gi")),
            expected: &[("a", "Insufficient cpu"), ("b", "")],
        },
        FilterCase {
            name: "a node without allocatable takes only pods without requests",
            nodes: vec![json!({"metadata": {"name": "bare"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}})],
            bound: vec![],
            pod: plain(),
            expected: &[("bare", "")],
        },
        FilterCase {
            name: "a node without allocatable refuses requests",
            nodes: vec![json!({"metadata": {"name": "bare"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}})],
            bound: vec![],
            pod: info(&requesting("p", "1m", "0")),
            expected: &[("bare", "Insufficient cpu")],
        },
        FilterCase {
            name: "host ports",
            nodes: vec![
                node("any", json!({})),
                node("same-ip", json!({})),
                node("other-ip", json!({})),
                node("udp", json!({})),
            ],
            bound: vec![
                bound(with_host_port(8080, "TCP", ""), "any"),
                bound(with_host_port(8080, "TCP", "10.0.0.1"), "same-ip"),
                bound(with_host_port(8080, "TCP", "10.0.0.2"), "other-ip"),
                bound(with_host_port(8080, "UDP", ""), "udp"),
            ],
            pod: info(&with_host_port(8080, "TCP", "10.0.0.1")),
            expected: &[
                (
                    "any",
                    "node(s) didn't have free ports for the requested pod ports",
                ),
                (
                    "same-ip",
                    "node(s) didn't have free ports for the requested pod ports",
                ),
                ("other-ip", ""),
                ("udp", ""),
            ],
        },
        FilterCase {
            name: "OCI pods need the OCI runtime; unlabeled nodes offer both",
            nodes: vec![
                node("both", json!({})),
                node(
                    "wasm",
                    json!({"metadata": {"labels": {"edgeplane.io/runtime-oci": null}}}),
                ),
                json!({"metadata": {"name": "bare"},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            ],
            bound: vec![],
            pod: with_runtime(Some(Runtime::Oci), None),
            expected: &[
                ("both", ""),
                ("wasm", "node(s) didn't offer the pod's runtime (oci)"),
                ("bare", ""),
            ],
        },
        FilterCase {
            name: "Wasm pods need the Wasm runtime",
            nodes: vec![
                node(
                    "oci",
                    json!({"metadata": {"labels": {"edgeplane.io/runtime-wasm": null}}}),
                ),
                node(
                    "off",
                    json!({"metadata": {"labels": {"edgeplane.io/runtime-wasm": "false"}}}),
                ),
                node("both", json!({})),
            ],
            bound: vec![],
            pod: with_runtime(Some(Runtime::Wasm), None),
            expected: &[
                ("oci", "node(s) didn't offer the pod's runtime (wasm)"),
                ("off", "node(s) didn't offer the pod's runtime (wasm)"),
                ("both", ""),
            ],
        },
        FilterCase {
            name: "unknown runtime goes anywhere",
            nodes: vec![node(
                "oci",
                json!({"metadata": {"labels": {"edgeplane.io/runtime-wasm": null}}}),
            )],
            bound: vec![],
            pod: with_runtime(None, None),
            expected: &[("oci", "")],
        },
        FilterCase {
            name: "OCI image platforms",
            nodes: vec![
                node("x86", json!({})),
                node(
                    "pi",
                    json!({"metadata": {"labels": {"kubernetes.io/arch": "arm64"}}}),
                ),
            ],
            bound: vec![],
            pod: with_runtime(Some(Runtime::Oci), Some(&["linux/arm64/v8", "riscv64"])),
            expected: &[
                (
                    "x86",
                    "node(s) didn't match the image's platforms (linux/arm64/v8, linux/riscv64)",
                ),
                ("pi", ""),
            ],
        },
        FilterCase {
            name: "Wasm pods ignore image platforms",
            nodes: vec![node("x86", json!({}))],
            bound: vec![],
            pod: with_runtime(Some(Runtime::Wasm), Some(&["linux/arm64"])),
            expected: &[("x86", "")],
        },
        FilterCase {
            name: "required pod affinity",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![bound(labeled("db", json!({"app": "db"})), "a")],
            pod: info(&pod(
                "p",
                with_pod_affinity("podAffinity", json!({"app": "db"}), HOSTNAME_LABEL),
            )),
            expected: &[("a", ""), ("b", "node(s) didn't match pod affinity rules")],
        },
        FilterCase {
            name: "required pod affinity to a missing topology label",
            nodes: vec![node("a", json!({}))],
            bound: vec![bound(labeled("db", json!({"app": "db"})), "a")],
            pod: info(&pod(
                "p",
                with_pod_affinity("podAffinity", json!({"app": "db"}), "rack"),
            )),
            expected: &[("a", "node(s) didn't match pod affinity rules")],
        },
        FilterCase {
            name: "the first pod of a self-affine group goes anywhere",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![],
            pod: info(&{
                let mut p = pod("p", with_pod_affinity("podAffinity", web(), HOSTNAME_LABEL));
                p["metadata"]["labels"] = web();
                p
            }),
            expected: &[("a", ""), ("b", "")],
        },
        FilterCase {
            name: "pod affinity to pods in another namespace only",
            nodes: vec![node("a", json!({}))],
            bound: vec![bound(
                pod(
                    "db",
                    json!({"metadata": {"namespace": "other", "labels": {"app": "db"}}}),
                ),
                "a",
            )],
            pod: info(&pod(
                "p",
                with_pod_affinity("podAffinity", json!({"app": "db"}), HOSTNAME_LABEL),
            )),
            expected: &[("a", "node(s) didn't match pod affinity rules")],
        },
        FilterCase {
            name: "required pod anti-affinity by zone",
            nodes: vec![zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z2")],
            bound: vec![bound(labeled("w", web()), "a")],
            pod: info(&pod(
                "p",
                with_pod_affinity("podAntiAffinity", web(), "topology.kubernetes.io/zone"),
            )),
            expected: &[
                ("a", "node(s) didn't match pod anti-affinity rules"),
                ("b", "node(s) didn't match pod anti-affinity rules"),
                ("c", ""),
            ],
        },
        FilterCase {
            name: "existing pods' anti-affinity is symmetric",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![bound(
                pod(
                    "loner",
                    with_pod_affinity("podAntiAffinity", web(), HOSTNAME_LABEL),
                ),
                "a",
            )],
            pod: info(&labeled("p", web())),
            expected: &[
                (
                    "a",
                    "node(s) didn't satisfy existing pods anti-affinity rules",
                ),
                ("b", ""),
            ],
        },
        FilterCase {
            name: "topology spread DoNotSchedule",
            nodes: vec![zoned("a", "z1"), zoned("b", "z2"), node("c", json!({}))],
            bound: vec![bound(labeled("w1", web()), "a")],
            pod: spread_pod("DoNotSchedule", 1),
            expected: &[
                ("a", "node(s) didn't match pod topology spread constraints"),
                ("b", ""),
                (
                    "c",
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                ),
            ],
        },
        FilterCase {
            name: "topology spread within max skew",
            nodes: vec![zoned("a", "z1"), zoned("b", "z2")],
            bound: vec![bound(labeled("w1", web()), "a")],
            pod: spread_pod("DoNotSchedule", 2),
            expected: &[("a", ""), ("b", "")],
        },
        FilterCase {
            name: "topology spread ScheduleAnyway does not filter",
            nodes: vec![zoned("a", "z1"), zoned("b", "z2")],
            bound: vec![
                bound(labeled("w1", web()), "a"),
                bound(labeled("w2", web()), "a"),
            ],
            pod: spread_pod("ScheduleAnyway", 1),
            expected: &[("a", ""), ("b", "")],
        },
    ];
    for case in &cases {
        check_filters(case);
    }
}

struct ScoreCase {
    name: &'static str,
    nodes: Vec<Value>,
    bound: Vec<Value>,
    pod: PodInfo,
    plugin: fn(&NodeScore) -> i64,
    /// Per node, the normalized score of `plugin`.
    expected: &'static [(&'static str, i64)],
}

fn check_scores(case: &ScoreCase) {
    let state = ClusterState::new(&case.nodes, &case.bound);
    let all: Vec<usize> = (0..state.len()).collect();
    let scorer = PodScorer::new(&case.pod, &state, &all);
    let mut node_scores: Vec<NodeScore> = all
        .iter()
        .map(|&i| scorer.score(i, &state.nodes()[i]))
        .collect();
    scores::normalize(&mut node_scores);
    let got: Vec<(String, i64)> = node_scores
        .iter()
        .map(|s| (state.nodes()[s.node].name.clone(), (case.plugin)(s)))
        .collect();
    let expected: Vec<(String, i64)> = case
        .expected
        .iter()
        .map(|(n, s)| (n.to_string(), *s))
        .collect();
    assert_eq!(got, expected, "{}", case.name);
}

fn sized(name: &str, cpu: &str, memory: &str) -> Value {
    node(
        name,
        json!({"status": {"allocatable": {"cpu": cpu, "memory": memory}}}),
    )
}

fn preferring(kind: &str, weight: i64, labels: Value) -> Value {
    json!({"spec": {"affinity": {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": weight, "podAffinityTerm": {"labelSelector": {"matchLabels": labels},
            "topologyKey": HOSTNAME_LABEL}}]}}}})
}

#[test]
fn scores() {
    let web = || json!({"app": "web"});
    let prefer_no_schedule = |name: &str, keys: &[&str]| {
        let taints: Vec<Value> = keys
            .iter()
            .map(|k| json!({"key": k, "effect": "PreferNoSchedule"}))
            .collect();
        node(name, json!({"spec": {"taints": taints}}))
    };
    let with_image = |name: &str, size: i64| {
        node(
            name,
            json!({"status": {"images": [{"names": ["app:1", "registry/app@sha256:1"], "sizeBytes": size}]}}),
        )
    };
    let cases = vec![
        ScoreCase {
            name: "least allocated",
            nodes: vec![sized("big", "4", "8Gi"), sized("narrow", "2", "8Gi")],
            bound: vec![],
            pod: info(&requesting("p", "1", "2Gi")),
            plugin: |s| s.least_allocated,
            expected: &[("big", 75), ("narrow", 62)],
        },
        ScoreCase {
            name: "least allocated counts defaults for pods without requests",
            nodes: vec![sized("a", "1", "1000Mi")],
            bound: vec![bound(pod("q", json!({})), "a")],
            pod: info(&pod("p", json!({}))),
            plugin: |s| s.least_allocated,
            expected: &[("a", 70)],
        },
        ScoreCase {
            name: "balanced allocation",
            nodes: vec![sized("even", "4", "4Gi"), sized("skewed", "2", "4Gi")],
            bound: vec![],
            pod: info(&requesting("p", "1", "1Gi")),
            plugin: |s| s.balanced_allocation,
            expected: &[("even", 100), ("skewed", 87)],
        },
        ScoreCase {
            name: "balanced allocation skips best-effort pods",
            nodes: vec![sized("a", "4", "4Gi")],
            bound: vec![],
            pod: info(&pod("p", json!({}))),
            plugin: |s| s.balanced_allocation,
            expected: &[("a", 0)],
        },
        ScoreCase {
            name: "preferred node affinity",
            nodes: vec![
                node("a", json!({"metadata": {"labels": {"a": "1"}}})),
                node("b", json!({"metadata": {"labels": {"b": "1"}}})),
                node("ab", json!({"metadata": {"labels": {"a": "1", "b": "1"}}})),
                node("none", json!({})),
            ],
            bound: vec![],
            pod: info(&pod(
                "p",
                json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}},
                    {"weight": 30, "preference": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}},
                ]}}}}),
            )),
            plugin: |s| s.node_affinity,
            expected: &[("a", 25), ("b", 75), ("ab", 100), ("none", 0)],
        },
        ScoreCase {
            name: "PreferNoSchedule taints",
            nodes: vec![
                prefer_no_schedule("two", &["x", "y"]),
                prefer_no_schedule("one", &["x"]),
                prefer_no_schedule("tolerated", &["z"]),
                prefer_no_schedule("none", &[]),
            ],
            bound: vec![],
            pod: with_tolerations(
                json!([{"key": "z", "operator": "Exists", "effect": "PreferNoSchedule"}]),
            ),
            plugin: |s| s.taint_toleration,
            expected: &[("two", 0), ("one", 50), ("tolerated", 100), ("none", 100)],
        },
        ScoreCase {
            name: "preferred pod affinity",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![bound(labeled("w", web()), "b")],
            pod: info(&pod("p", preferring("podAffinity", 50, web()))),
            plugin: |s| s.inter_pod_affinity,
            expected: &[("a", 0), ("b", 100)],
        },
        ScoreCase {
            name: "preferred pod anti-affinity",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![bound(labeled("w", web()), "b")],
            pod: info(&pod("p", preferring("podAntiAffinity", 50, web()))),
            plugin: |s| s.inter_pod_affinity,
            expected: &[("a", 100), ("b", 0)],
        },
        ScoreCase {
            name: "existing pods' affinity terms attract the pod",
            nodes: vec![node("a", json!({})), node("b", json!({}))],
            bound: vec![bound(
                pod("cache", preferring("podAffinity", 5, web())),
                "a",
            )],
            pod: info(&labeled("p", web())),
            plugin: |s| s.inter_pod_affinity,
            expected: &[("a", 100), ("b", 0)],
        },
        ScoreCase {
            name: "default spreading of a controller's pods",
            nodes: vec![
                node("a", json!({})),
                node("b", json!({})),
                node("c", json!({})),
            ],
            bound: vec![
                bound(
                    pod(
                        "r1",
                        json!({"metadata": {"ownerReferences": [{"uid": "rs", "controller": true}]}}),
                    ),
                    "a",
                ),
                bound(
                    pod(
                        "r2",
                        json!({"metadata": {"ownerReferences": [{"uid": "rs", "controller": true}]}}),
                    ),
                    "a",
                ),
                bound(
                    pod(
                        "o",
                        json!({"metadata": {"ownerReferences": [{"uid": "other", "controller": true}]}}),
                    ),
                    "b",
                ),
            ],
            pod: owned_by("p", "rs"),
            // ln(5) = 1.61 per pod plus maxSkew - 1 = 2: a = round(5.22) = 5, b = c = 2.
            plugin: |s| s.topology_spread.unwrap_or(-1),
            expected: &[("a", 40), ("b", 100), ("c", 100)],
        },
        ScoreCase {
            name: "no spreading without a controller",
            nodes: vec![node("a", json!({}))],
            bound: vec![],
            pod: info(&pod("p", json!({}))),
            plugin: |s| s.topology_spread.unwrap_or(-1),
            expected: &[("a", 100)],
        },
        ScoreCase {
            name: "topology spread ScheduleAnyway by zone",
            nodes: vec![
                zoned("a", "z1"),
                zoned("b", "z1"),
                zoned("c", "z2"),
                node("d", json!({})),
            ],
            bound: vec![bound(labeled("w1", web()), "b")],
            pod: spread_pod("ScheduleAnyway", 1),
            // Two zones: weight ln(4) = 1.39; z1 = round(1.39) = 1, z2 = 0; d lacks the key.
            plugin: |s| s.topology_spread.unwrap_or(-1),
            expected: &[("a", 0), ("b", 0), ("c", 100), ("d", 0)],
        },
        ScoreCase {
            name: "image locality",
            nodes: vec![with_image("has", 500 * MI), node("lacks", json!({}))],
            bound: vec![],
            pod: info(&pod("p", json!({}))),
            // 500MB on half the nodes = 250MB: (250 - 23) * 100 / (1000 - 23) = 23.
            plugin: |s| s.image_locality,
            expected: &[("has", 23), ("lacks", 0)],
        },
        ScoreCase {
            name: "small images do not count",
            nodes: vec![with_image("has", 5 * MI)],
            bound: vec![],
            pod: info(&pod("p", json!({}))),
            plugin: |s| s.image_locality,
            expected: &[("has", 0)],
        },
    ];
    for case in &cases {
        check_scores(case);
    }
}

#[test]
fn schedule_picks_the_best_node() {
    struct Case {
        name: &'static str,
        nodes: Vec<Value>,
        bound: Vec<Value>,
        pod: PodInfo,
        expected: &'static str,
    }
    let cases = [
        Case {
            name: "the emptier node",
            nodes: vec![node("busy", json!({})), node("idle", json!({}))],
            bound: vec![bound(requesting("q", "3", "6Gi"), "busy")],
            pod: info(&requesting("p", "100m", "128Mi")),
            expected: "idle",
        },
        Case {
            name: "the only feasible node",
            nodes: vec![
                node("a", json!({"spec": {"unschedulable": true}})),
                node("b", json!({})),
            ],
            bound: vec![],
            pod: info(&pod("p", json!({}))),
            expected: "b",
        },
        Case {
            name: "preferred node affinity beats free resources",
            nodes: vec![
                node("idle", json!({})),
                node("edge", json!({"metadata": {"labels": {"site": "garage"}}})),
            ],
            bound: vec![bound(requesting("q", "2", "4Gi"), "edge")],
            pod: info(&pod(
                "p",
                json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": {"matchExpressions": [{"key": "site", "operator": "In", "values": ["garage"]}]}},
                ]}}}}),
            )),
            expected: "edge",
        },
        Case {
            name: "an untolerated PreferNoSchedule taint repels",
            nodes: vec![
                node(
                    "tainted",
                    json!({"spec": {"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}}),
                ),
                node("busy", json!({})),
            ],
            bound: vec![bound(requesting("q", "2", "4Gi"), "busy")],
            pod: info(&pod("p", json!({}))),
            expected: "busy",
        },
    ];
    for case in cases {
        let mut state = ClusterState::new(&case.nodes, &case.bound);
        let index = schedule(&case.pod, &mut state).expect(case.name);
        assert_eq!(state.nodes()[index].name, case.expected, "{}", case.name);
    }
}

#[test]
fn fit_error_messages() {
    let unreachable = |name: &str| {
        node(
            name,
            json!({"spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}}),
        )
    };
    let cases: Vec<(&str, Vec<Value>, PodInfo, &str)> = vec![
        (
            "no nodes",
            vec![],
            info(&pod("p", json!({}))),
            "no nodes available to schedule pods",
        ),
        (
            "kube-scheduler's example",
            vec![
                sized("small", "100m", "8Gi"),
                unreachable("gone1"),
                unreachable("gone2"),
            ],
            info(&requesting("p", "1", "1Mi")),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint \
             {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 3 \
             Preemption is not helpful for scheduling.",
        ),
        (
            "one node counted under several reasons; sorted as strings",
            vec![
                sized("a", "100m", "1Mi"),
                node("b", json!({"spec": {"unschedulable": true}})),
                node("c", json!({"status": {"conditions": []}})),
            ],
            info(&requesting("p", "1", "1Gi")),
            "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, \
             1 node(s) were not ready, 1 node(s) were unschedulable. preemption: 0/3 nodes are \
             available: 3 Preemption is not helpful for scheduling.",
        ),
        (
            "runtime",
            vec![node(
                "oci",
                json!({"metadata": {"labels": {"edgeplane.io/runtime-wasm": null}}}),
            )],
            with_runtime(Some(Runtime::Wasm), None),
            "0/1 nodes are available: 1 node(s) didn't offer the pod's runtime (wasm). \
             preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
        ),
    ];
    for (name, nodes, pod, expected) in cases {
        let mut state = ClusterState::new(&nodes, &[]);
        let err = schedule(&pod, &mut state).expect_err(name);
        assert_eq!(err.to_string(), expected, "{name}");
        assert_eq!(err.num_all_nodes, nodes.len(), "{name}");
    }
}

#[test]
fn assume_and_forget() {
    let nodes = [sized("only", "1", "1Gi")];
    let mut state = ClusterState::new(&nodes, &[]);
    let first = info(&requesting("first", "800m", "512Mi"));
    let second = info(&requesting("second", "800m", "512Mi"));

    let index = schedule(&first, &mut state).expect("first fits");
    state.assume(index, &first);
    state.assume(index, &first); // A second assume of the same pod is not counted twice.
    assert_eq!(state.nodes()[index].pod_count(), 1);
    assert_eq!(state.nodes()[index].requested().milli_cpu, 800);
    let err = schedule(&second, &mut state).expect_err("the node is full");
    assert!(err.to_string().contains("1 Insufficient cpu"), "{err}");

    state.forget(index, &first);
    state.forget(index, &first); // Forgetting twice changes nothing.
    assert_eq!(state.nodes()[index].requested(), Resources::default());
    assert_eq!(state.nodes()[index].pod_count(), 0);
    assert_eq!(schedule(&second, &mut state), Ok(index));

    let with_ports = info(&with_host_port(80, "TCP", ""));
    state.assume(index, &with_ports);
    assert_eq!(state.nodes()[index].used_ports().len(), 1);
    state.forget(index, &with_ports);
    assert!(state.nodes()[index].used_ports().is_empty());

    let anti = info(&pod(
        "anti",
        with_pod_affinity("podAntiAffinity", json!({"app": "web"}), HOSTNAME_LABEL),
    ));
    state.assume(index, &anti);
    assert_eq!(state.affinity_pods, 1);
    state.forget(index, &anti);
    assert_eq!(state.affinity_pods, 0);
}

#[test]
fn cluster_state_counts_only_bound_running_pods() {
    let nodes = [
        node("a", json!({})),
        node("a", json!({"spec": {"unschedulable": true}})),
    ];
    let pods = [
        bound(requesting("running", "1", "1Gi"), "a"),
        bound(pod("done", json!({"status": {"phase": "Succeeded"}})), "a"),
        bound(pod("failed", json!({"status": {"phase": "Failed"}})), "a"),
        bound(pod("elsewhere", json!({})), "unknown"),
        pod("pending", json!({})),
    ];
    let state = ClusterState::new(&nodes, &pods);
    assert_eq!(state.len(), 1);
    let a = state
        .node(state.node_index("a").expect("node a"))
        .expect("node a");
    assert!(a.unschedulable, "the later node object wins");
    assert_eq!(a.pod_count(), 1);
    assert_eq!(a.requested().milli_cpu, 1000);
}

#[test]
fn feasible_nodes_to_find() {
    let cases = [
        (0, 0),
        (1, 1),
        (99, 99),
        (100, 100),
        (200, 100),
        (1000, 420),
        (5000, 500),
        (6000, 300),
        (100_000, 5000),
    ];
    for (nodes, expected) in cases {
        assert_eq!(num_feasible_nodes_to_find(nodes), expected, "{nodes} nodes");
    }
}

#[test]
fn large_clusters_score_a_sample_and_still_place_every_pod() {
    // Every tenth node is feasible; the rest carry an untolerated taint.
    let nodes: Vec<Value> = (0..1000)
        .map(|i| {
            let taints = if i % 10 == 0 {
                json!([])
            } else {
                json!([{"key": "k", "effect": "NoSchedule"}])
            };
            node(&format!("n{i:04}"), json!({"spec": {"taints": taints}}))
        })
        .collect();
    let mut state = ClusterState::new(&nodes, &[]);
    let mut used = std::collections::HashSet::new();
    for i in 0..300 {
        let p = info(&requesting(&format!("p{i}"), "100m", "64Mi"));
        let index = schedule(&p, &mut state).expect("a feasible node exists");
        assert_eq!(index % 10, 0, "pod {i} went to an infeasible node");
        // Only 100 nodes are feasible, fewer than the 420 to find: all of them were scored.
        assert_eq!(state.scores.len(), 100);
        state.assume(index, &p);
        used.insert(index);
    }
    assert_eq!(used.len(), 100, "pods spread over every feasible node");

    let open: Vec<Value> = (0..1000)
        .map(|i| node(&format!("n{i:04}"), json!({})))
        .collect();
    let mut state = ClusterState::new(&open, &[]);
    let mut starts = std::collections::HashSet::new();
    for i in 0..5 {
        let p = info(&requesting(&format!("p{i}"), "100m", "64Mi"));
        starts.insert(state.next_start);
        let index = schedule(&p, &mut state).expect("fits");
        assert_eq!(state.scores.len(), 420, "only the sample is scored");
        state.assume(index, &p);
    }
    assert_eq!(starts.len(), 5, "each search starts elsewhere");

    // The single feasible node is found wherever the search starts.
    let mut lonely: Vec<Value> = (0..1000)
        .map(|i| {
            node(
                &format!("n{i:04}"),
                json!({"spec": {"unschedulable": true}}),
            )
        })
        .collect();
    lonely[999] = node("last", json!({}));
    let mut state = ClusterState::new(&lonely, &[]);
    for i in 0..3 {
        let p = info(&pod(&format!("p{i}"), json!({})));
        assert_eq!(schedule(&p, &mut state), Ok(999));
    }
}

#[test]
fn a_replica_set_spreads_over_equal_nodes() {
    let nodes: Vec<Value> = (0..10).map(|i| node(&format!("n{i}"), json!({}))).collect();
    let mut state = ClusterState::new(&nodes, &[]);
    let mut placed = vec![0; 10];
    for i in 0..10 {
        let p = owned_by(&format!("web-{i}"), "rs-web");
        let index = schedule(&p, &mut state).expect("fits");
        state.assume(index, &p);
        placed[index] += 1;
    }
    assert_eq!(placed, vec![1; 10]);
}

#[test]
fn ties_rotate_over_equal_nodes() {
    // Pods too small to change any score still take turns among equal nodes.
    let nodes: Vec<Value> = (0..3)
        .map(|i| sized(&format!("n{i}"), "1000", "1000Ti"))
        .collect();
    let mut state = ClusterState::new(&nodes, &[]);
    let chosen: Vec<usize> = (0..3)
        .map(|i| {
            let p = info(&requesting(&format!("p{i}"), "1m", "1"));
            schedule(&p, &mut state).expect("fits")
        })
        .collect();
    let mut sorted = chosen.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![0, 1, 2], "{chosen:?}");
}
