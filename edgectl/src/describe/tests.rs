//! Tests of describe output on sample objects.

use serde_json::json;

use super::*;

fn now() -> jiff::Timestamp {
    "2025-01-01T12:00:00Z".parse().expect("time")
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d9f8-abcde", "namespace": "default", "uid": "u1",
                     "labels": {"pod-template-hash": "7d9f8", "app": "web"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8", "controller": true, "uid": "u0"}],
                     "creationTimestamp": "2025-01-01T11:00:00Z"},
        "spec": {"nodeName": "pi-1", "containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.2", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
                   "startTime": "2025-01-01T11:00:01Z",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0, "image": "nginx:1.25", "imageID": "", "containerID": "wasm://1",
                                          "state": {"running": {"startedAt": "2025-01-01T11:00:02Z"}}}]}
    })
}

#[test]
fn pod_description() {
    let events = vec![
        json!({"type": "Normal", "reason": "Scheduled", "message": "Successfully assigned default/web to pi-1",
                             "source": {"component": "default-scheduler"}, "lastTimestamp": "2025-01-01T11:59:50Z"}),
    ];
    let text = describe(&pod(), &events, &[], now());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Name:             web-7d9f8-abcde");
    assert_eq!(lines[1], "Namespace:        default");
    assert!(lines.contains(&"Node:             pi-1/10.0.0.2"), "{text}");
    assert!(
        lines.contains(&"Start Time:       Wed, 01 Jan 2025 11:00:01 +0000"),
        "{text}"
    );
    assert!(lines.contains(&"Labels:           app=web"), "{text}");
    assert!(
        lines.contains(&"                  pod-template-hash=7d9f8"),
        "{text}"
    );
    assert!(lines.contains(&"Status:           Running"), "{text}");
    assert!(
        lines.contains(&"Controlled By:  ReplicaSet/web-7d9f8"),
        "{text}"
    );
    assert!(lines.contains(&"    Image:          nginx:1.25"), "{text}");
    assert!(lines.contains(&"    Port:           80/TCP"), "{text}");
    assert!(lines.contains(&"    State:          Running"), "{text}");
    assert!(text.contains("  Normal  Scheduled  10s   default-scheduler  Successfully assigned default/web to pi-1"), "{text}");
}

#[test]
fn deployment_description() {
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": "2025-01-01T11:00:00Z",
                     "annotations": {"deployment.kubernetes.io/revision": "1", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
        "status": {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2, "unavailableReplicas": 1,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}
    });
    let text = describe(&deployment, &[], &[], now());
    assert!(text.contains("Replicas:               3 desired | 3 updated | 3 total | 2 available | 1 unavailable\n"), "{text}");
    assert!(text.contains("Selector:               app=web\n"), "{text}");
    assert!(
        text.contains("Annotations:            deployment.kubernetes.io/revision: 1\n"),
        "{text}"
    );
    assert!(!text.contains("last-applied"), "{text}");
    assert!(
        text.contains("Pod Template:\n  Labels:  app=web\n  Containers:\n   nginx:\n")
            || text.contains("  Containers:\n    nginx:\n"),
        "{text}"
    );
    assert!(
        text.contains("  Available  True    MinimumReplicasAvailable\n"),
        "{text}"
    );
    assert!(
        text.ends_with("  Available  True    MinimumReplicasAvailable\nEvents:      <none>\n"),
        "{text}"
    );
}

#[test]
fn secrets_show_sizes_not_values() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
                        "type": "Opaque", "data": {"password": "aHVudGVyMg=="}});
    let text = describe(&secret, &[], &[], now());
    assert!(text.contains("password:  7 bytes"), "{text}");
    assert!(
        !text.contains("aHVudGVyMg") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn generic_fallback() {
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "l", "namespace": "kube-system"},
                       "spec": {"holderIdentity": "c1", "leaseDurationSeconds": 15}});
    let text = describe(&lease, &[], &[], now());
    assert!(text.starts_with("Name:         l\nNamespace:    kube-system\nLabels:       <none>\nAnnotations:  <none>\nAPI Version:  coordination.k8s.io/v1\nKind:         Lease\nSpec:\n"), "{text}");
    assert!(text.contains("  Holder Identity:         c1\n"), "{text}");
    assert!(
        text.ends_with("Events:                    <none>\n")
            || text.ends_with("Events:  <none>\n"),
        "{text}"
    );
}

#[test]
fn smart_labels() {
    for (key, want) in [
        ("containerPort", "Container Port"),
        ("podIP", "Pod IP"),
        ("spec", "Spec"),
    ] {
        assert_eq!(smart_label(key), want, "{key}");
    }
}

/// Whether `text` has a line that reads `want` once column padding is squeezed, at the same
/// indentation.
fn has_line(text: &str, want: &str) -> bool {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let squeeze = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    text.lines()
        .any(|l| indent(l) == indent(want) && squeeze(l) == squeeze(want))
}

#[test]
fn job_and_cronjob_sections() {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "tick-1", "namespace": "default",
            "ownerReferences": [{"kind": "CronJob", "name": "tick", "controller": true}]},
        "spec": {"parallelism": 1, "completions": 1, "completionMode": "NonIndexed",
                 "suspend": false, "backoffLimit": 6,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                 "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {"startTime": "2026-06-01T10:00:00Z", "completionTime": "2026-06-01T10:00:42Z",
                   "succeeded": 1, "failed": 2, "ready": 0}});
    let text = describe(&job, &[], &[], now());
    for want in [
        "Controlled By: CronJob/tick",
        "Backoff Limit: 6",
        "Duration: 42s",
        "Pods Statuses: 0 Active (0 Ready) / 1 Succeeded / 2 Failed",
        "Pod Template:",
    ] {
        assert!(has_line(&text, want), "{want:?} in\n{text}");
    }
    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {"schedule": "*/1 * * * *", "concurrencyPolicy": "Forbid", "suspend": false,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
        "status": {"active": [{"name": "tick-1"}], "lastScheduleTime": "2026-06-01T10:00:00Z"}});
    let text = describe(&cj, &[], &[], now());
    for want in [
        "Schedule: */1 * * * *",
        "Concurrency Policy: Forbid",
        "Starting Deadline Seconds: <unset>",
        "Selector: <unset>",
        "Last Schedule Time: Mon, 01 Jun 2026 10:00:00 +0000",
        "Active Jobs: tick-1",
    ] {
        assert!(has_line(&text, want), "{want:?} in\n{text}");
    }
}

#[test]
fn daemonset_and_statefulset_sections() {
    let pods = [
        json!({"status": {"phase": "Running"}}),
        json!({"status": {"phase": "Pending"}}),
    ];
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "relay", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "relay"}},
                 "template": {"spec": {"nodeSelector": {"role": "gw"}, "containers": []}}},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2}});
    let text = describe(&ds, &[], &pods, now());
    for want in [
        "Selector: app=relay",
        "Node-Selector: role=gw",
        "Desired Number of Nodes Scheduled: 2",
        "Number of Nodes Misscheduled: 0",
        "Pods Status: 1 Running / 1 Waiting / 0 Succeeded / 0 Failed",
    ] {
        assert!(has_line(&text, want), "{want:?} in\n{text}");
    }
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "db"}},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                 "template": {"spec": {"containers": []}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                     "spec": {"accessModes": ["ReadWriteOnce"],
                              "resources": {"requests": {"storage": "1Gi"}}}}]},
        "status": {"replicas": 2}});
    let text = describe(&sts, &[], &pods, now());
    for want in [
        "Replicas: 3 desired | 2 total",
        "Update Strategy: RollingUpdate",
        "  Partition: 1",
        "Volume Claims:",
        "  Capacity: 1Gi",
        "  Access Modes: ReadWriteOnce",
    ] {
        assert!(has_line(&text, want), "{want:?} in\n{text}");
    }
}
