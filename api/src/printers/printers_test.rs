//! Tests of tables and their rendering.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::resource::resolve;

fn now() -> Timestamp {
    "2024-06-01T12:00:00Z".parse().expect("timestamp")
}

fn cells(kind: &str, obj: Value) -> Vec<Value> {
    let t = table(resolve(kind).expect("resource"), &[obj], now());
    t["rows"][0]["cells"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn column_names(kind: &str) -> Vec<String> {
    let t = table(resolve(kind).expect("resource"), &[], now());
    t["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn pod_table() {
    assert_eq!(
        column_names("pods"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let pod = json!({
        "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": "2024-06-01T11:58:00Z", "managedFields": [{}]},
        "spec": {"nodeName": "edge-1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
             "lastState": {"terminated": {"finishedAt": "2024-06-01T11:59:00Z"}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}
    });
    assert_eq!(
        cells("pods", pod.clone()),
        [
            json!("web-1"),
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("2 (60s ago)"),
            json!("2m"),
            json!("10.0.0.5"),
            json!("edge-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    let t = table(resolve("pods").expect("pods"), &[pod], now());
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "web-1");
    assert!(
        t["rows"][0]["object"]["metadata"]
            .get("managedFields")
            .is_none()
    );
    assert_eq!(t["columnDefinitions"][5]["priority"], 1);
}

#[test]
fn pod_status_like_kubectl() {
    let cases = [
        (json!({"status": {"phase": "Pending"}}), "Pending"),
        (json!({"status": {}}), "Pending"),
        (
            json!({"status": {"phase": "Running", "containerStatuses": [{"ready": true, "state": {"running": {}}}]}}),
            "Running",
        ),
        (
            json!({"status": {"phase": "Failed", "reason": "Evicted"}}),
            "Evicted",
        ),
        (
            json!({"status": {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}),
            "ImagePullBackOff",
        ),
        (
            json!({"status": {"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}}),
            "Completed",
        ),
        (
            json!({"status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 3}}}]}}),
            "ExitCode:3",
        ),
        (
            json!({"status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "signal": 9}}}]}}),
            "Signal:9",
        ),
        (
            json!({"spec": {"initContainers": [{}, {}]}, "status": {"phase": "Pending", "initContainerStatuses": [
            {"state": {"terminated": {"exitCode": 0}}}, {"state": {"running": {}}}]}}),
            "Init:1/2",
        ),
        (
            json!({"spec": {"initContainers": [{}]}, "status": {"phase": "Pending", "initContainerStatuses": [
            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
            "Init:CrashLoopBackOff",
        ),
        (
            json!({"spec": {"initContainers": [{}]}, "status": {"phase": "Pending", "initContainerStatuses": [
            {"state": {"terminated": {"exitCode": 1}}}]}}),
            "Init:ExitCode:1",
        ),
        (
            json!({"metadata": {"deletionTimestamp": "2024-06-01T11:00:00Z"}, "status": {"phase": "Running"}}),
            "Terminating",
        ),
        (
            json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}),
            "SchedulingGated",
        ),
    ];
    for (pod, want) in cases {
        assert_eq!(workloads::pod_status(&pod), want, "{pod}");
    }
}

#[test]
fn deployment_and_service_tables() {
    assert_eq!(
        column_names("deploy"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let d = json!({
        "metadata": {"name": "web", "creationTimestamp": "2024-05-30T09:00:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1"}, {"name": "log", "image": "fluent"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        cells("deployments", d),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("2d3h"),
            json!("app,log"),
            json!("nginx:1,fluent"),
            json!("app=web")
        ]
    );
    assert_eq!(
        column_names("svc"),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    let s = json!({
        "metadata": {"name": "web", "creationTimestamp": "2024-06-01T11:59:55Z"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web", "tier": "fe"},
                 "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}
    });
    assert_eq!(
        cells("services", s),
        [
            json!("web"),
            json!("NodePort"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80:30080/TCP,53/UDP"),
            json!("5s"),
            json!("app=web,tier=fe")
        ]
    );
    let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.11", "ports": [{"port": 443}]}});
    assert_eq!(cells("svc", lb)[3], json!("<pending>"));
}

#[test]
fn other_tables() {
    let cm =
        json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
    assert_eq!(cells("cm", cm)[..2], [json!("c"), json!(3)]);
    let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": ""}});
    assert_eq!(
        cells("secrets", secret)[..3],
        [json!("s"), json!("Opaque"), json!(1)]
    );
    let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
    assert_eq!(cells("ns", ns)[..2], [json!("default"), json!("Active")]);
    let node = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.37.0"},
                   "addresses": [{"type": "InternalIP", "address": "192.168.1.5"}]}});
    let c = cells("nodes", node);
    assert_eq!(
        c[..3],
        [
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane")
        ]
    );
    assert_eq!(c[4], json!("v1.37.0"));
    assert_eq!(c[5], json!("192.168.1.5"));
    let event = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "BackOff", "message": " restarting ",
        "involvedObject": {"kind": "Pod", "name": "web-1"}, "count": 4,
        "firstTimestamp": "2024-06-01T11:00:00Z", "lastTimestamp": "2024-06-01T11:59:00Z"});
    let c = cells("ev", event);
    assert_eq!(
        c[..4],
        [
            json!("60s (x4 over 60m)"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web-1")
        ]
    );
    assert_eq!(c[6], json!("restarting"));
    let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 2},
        "status": {"succeeded": 2, "startTime": "2024-06-01T11:00:00Z", "completionTime": "2024-06-01T11:00:30Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}});
    assert_eq!(
        cells("jobs", job)[..4],
        [json!("j"), json!("Complete"), json!("2/2"), json!("30s")]
    );
    let generic = json!({"metadata": {"name": "x", "creationTimestamp": "2024-06-01T11:00:00Z"}});
    assert_eq!(
        cells("serviceaccounts", generic.clone()),
        [json!("x"), json!(0), json!("60m")]
    );
    assert_eq!(
        column_names("controllerrevisions"),
        ["Name", "Controller", "Revision", "Age"]
    );
}

#[test]
fn rendering() {
    let pods = resolve("pods").expect("pods");
    let objects = [
        json!({"metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": "2024-06-01T11:59:50Z", "labels": {"app": "web"}},
               "spec": {"containers": [{}]}, "status": {"phase": "Running", "podIP": "10.0.0.5",
               "containerStatuses": [{"ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
        json!({"metadata": {"name": "db", "namespace": "data", "creationTimestamp": "2024-06-01T09:00:00Z"},
               "spec": {"containers": [{}]}, "status": {"phase": "Pending"}}),
    ];
    let t = table(pods, &objects, now());
    let plain = render_table(&t, &RenderOptions::default());
    assert_eq!(
        plain,
        "NAME    READY   STATUS    RESTARTS   AGE\n\
         web-1   1/1     Running   0          10s\n\
         db      0/1     Pending   0          3h\n"
    );
    let opts = RenderOptions {
        with_namespace: true,
        no_headers: true,
        with_kind: true,
        kind: kind_prefix(pods),
        ..Default::default()
    };
    assert_eq!(
        render_table(&t, &opts),
        "default   pod/web-1   1/1   Running   0     10s\n\
         data      pod/db      0/1   Pending   0     3h\n"
    );
    let wide = render_table(
        &t,
        &RenderOptions {
            wide: true,
            show_labels: true,
            ..Default::default()
        },
    );
    let header = wide.lines().next().unwrap_or_default();
    assert_eq!(
        header,
        "NAME    READY   STATUS    RESTARTS   AGE   IP         NODE     NOMINATED NODE   READINESS GATES   LABELS"
    );
    assert!(
        wide.lines()
            .nth(1)
            .unwrap_or_default()
            .ends_with("<none>            app=web"),
        "{wide}"
    );
    assert_eq!(
        render_table(&table(pods, &[], now()), &RenderOptions::default()),
        ""
    );
    assert_eq!(
        kind_prefix(resolve("deploy").expect("deploy")),
        "deployment.apps"
    );
}
