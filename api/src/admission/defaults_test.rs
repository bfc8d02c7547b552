//! Tests of admission defaulting.

use serde_json::{Value, json};

use super::*;
use crate::resource::by_kind;

fn defaulted(obj: Value) -> Value {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let info = by_kind(&api_version, &kind).unwrap_or_else(|| panic!("{api_version} {kind}"));
    let mut obj = obj;
    default_object(info, &mut obj);
    obj
}

#[test]
fn pod_defaults() {
    let pod = defaulted(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [
            {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "nginx:latest"},
            {"name": "c", "image": "nginx:1.27"},
            {"name": "d", "image": "registry:5000/app"},
            {"name": "e", "image": "registry:5000/app:v2", "imagePullPolicy": "Never"},
            {"name": "f", "image": "app@sha256:abcd", "resources": {"limits": {"cpu": "1"}},
             "readinessProbe": {"httpGet": {"port": 80}}}
        ],
        "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}]}
    }));
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["securityContext"], json!({}));
    let policies: Vec<&str> = spec["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| c["imagePullPolicy"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        policies,
        [
            "Always",
            "Always",
            "IfNotPresent",
            "Always",
            "Never",
            "IfNotPresent"
        ]
    );
    let a = &spec["containers"][0];
    assert_eq!(a["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(a["terminationMessagePolicy"], "File");
    assert_eq!(a["ports"][0]["protocol"], "TCP");
    let f = &spec["containers"][5];
    assert_eq!(f["resources"]["requests"], json!({"cpu": "1"}));
    assert_eq!(
        f["readinessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
    assert_eq!(spec["volumes"][1]["configMap"]["defaultMode"], 420);
}

#[test]
fn explicit_values_are_kept() {
    let pod = defaulted(json!({
        "apiVersion": "v1", "kind": "Pod",
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "containers": []}
    }));
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 0);
}

#[test]
fn deployment_defaults() {
    let d = defaulted(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}}
    }));
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );

    let recreate = defaulted(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}}}),
    );
    assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn workload_defaults() {
    let rs = defaulted(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {}}));
    assert_eq!(rs["spec"]["replicas"], 1);
    let sts = defaulted(json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {}}));
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    let ds = defaulted(json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {}}));
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    let job = defaulted(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "uid": "u-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}}
    }));
    assert_eq!(job["spec"]["completions"], 1);
    assert_eq!(job["spec"]["parallelism"], 1);
    assert_eq!(job["spec"]["backoffLimit"], 6);
    assert_eq!(job["spec"]["completionMode"], "NonIndexed");
    assert_eq!(
        job["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "j"
    );
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    let cj = defaulted(
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {}}}}),
    );
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
    assert_eq!(cj["spec"]["jobTemplate"]["spec"]["backoffLimit"], 6);
}

#[test]
fn service_namespace_secret_defaults() {
    let svc = defaulted(json!({
        "apiVersion": "v1", "kind": "Service",
        "spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "UDP"}]}
    }));
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert_eq!(
        svc["spec"]["ports"][0],
        json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );
    assert_eq!(
        svc["spec"]["ports"][1],
        json!({"port": 443, "targetPort": "https", "protocol": "UDP"})
    );

    let ns =
        defaulted(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );

    let secret = defaulted(
        json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"user": "admin"}, "data": {"a": "Yg=="}}),
    );
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"], json!({"a": "Yg==", "user": "YWRtaW4="}));
    assert!(secret.get("stringData").is_none());
}

#[test]
fn wrong_types_are_left_for_validation() {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": "nonsense"});
    let info = by_kind("v1", "Pod").expect("pods");
    default_object(info, &mut pod);
    assert_eq!(pod["spec"], "nonsense");
    let mut not_object = json!([1, 2]);
    default_object(info, &mut not_object);
    assert_eq!(not_object, json!([1, 2]));
}
