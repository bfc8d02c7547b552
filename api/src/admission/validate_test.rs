//! Tests of admission validation: every rule, with the field named in the error.

use serde_json::{Value, json};

use super::*;
use crate::resource::resolve;
use crate::status::Status;

fn pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}})
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}})
}

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
}

fn config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "b"}})
}

fn secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "data": {"a": "Yg=="}})
}

fn job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default", "uid": "u"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
}

fn cron_job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "namespace": "default"},
           "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}})
}

fn stateful_set() -> Value {
    let mut d = deployment();
    d["kind"] = json!("StatefulSet");
    d["spec"]["serviceName"] = json!("web");
    d
}

/// A StatefulSet whose container mounts its claim template `data`.
fn stateful_set_with_claims() -> Value {
    let mut s = stateful_set();
    s["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "data", "mountPath": "/data"}]);
    s["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
    s
}

fn with(mut base: Value, patch: Value) -> Value {
    json_patch::merge(&mut base, &patch);
    base
}

fn validate(obj: &Value) -> Result<(), Invalid> {
    let info = resolve(obj["kind"].as_str().unwrap_or("")).expect("resource");
    let mut obj = obj.clone();
    default_object(info, &mut obj);
    validate_create(info, &obj)
}

#[test]
fn valid_objects_pass() {
    for obj in [
        pod(),
        deployment(),
        service(),
        config_map(),
        secret(),
        job(),
        cron_job(),
        with(cron_job(), json!({"spec": {"timeZone": "Europe/Berlin"}})),
        with(
            cron_job(),
            json!({"spec": {"schedule": "TZ=Europe/Berlin 0 9 * * MON-FRI"}}),
        ),
        stateful_set(),
        stateful_set_with_claims(),
        with(
            stateful_set_with_claims(),
            json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2, "maxUnavailable": "50%"}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                "ordinals": {"start": 5}}}),
        ),
    ] {
        if let Err(e) = validate(&obj) {
            panic!("{}: {}", obj["kind"], e.message());
        }
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}});
    validate(&ns).expect("namespace");
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1.local"}});
    validate(&node).expect("node");
    let generated = with(
        pod(),
        json!({"metadata": {"name": null, "generateName": "web-"}}),
    );
    validate(&generated).expect("generateName");
}

#[test]
fn each_rule_names_its_field() {
    let long_annotation = "x".repeat(MAX_ANNOTATIONS_BYTES + 1);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "typed shape",
            with(deployment(), json!({"spec": {"replicas": "x"}})),
            "spec.replicas",
            "invalid type: string \"x\", expected i32",
        ),
        (
            "typed shape nested",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "b", "ports": [{"containerPort": "80"}]}]}}),
            ),
            "spec.containers[0].ports[0].containerPort",
            "invalid type: string \"80\"",
        ),
        (
            "apiVersion",
            with(pod(), json!({"apiVersion": "v2"})),
            "apiVersion",
            "Invalid value: \"v2\": must be v1",
        ),
        (
            "name required",
            with(pod(), json!({"metadata": {"name": null}})),
            "metadata.name",
            "Required value: name or generateName is required",
        ),
        (
            "name syntax",
            with(pod(), json!({"metadata": {"name": "Web_1"}})),
            "metadata.name",
            "Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain",
        ),
        (
            "generateName",
            with(
                pod(),
                json!({"metadata": {"name": null, "generateName": "Web-"}}),
            ),
            "metadata.generateName",
            "RFC 1123 subdomain",
        ),
        (
            "namespace name label",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}),
            "metadata.name",
            "RFC 1123 label",
        ),
        (
            "service name dns-1035",
            with(service(), json!({"metadata": {"name": "1web"}})),
            "metadata.name",
            "DNS-1035 label",
        ),
        (
            "namespace required",
            with(pod(), json!({"metadata": {"namespace": null}})),
            "metadata.namespace",
            "Required value",
        ),
        (
            "namespace syntax",
            with(pod(), json!({"metadata": {"namespace": "Bad"}})),
            "metadata.namespace",
            "RFC 1123 label",
        ),
        (
            "cluster scoped namespace",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"}}),
            "metadata.namespace",
            "Forbidden: not allowed on this type",
        ),
        (
            "label key",
            with(pod(), json!({"metadata": {"labels": {"bad key": "v"}}})),
            "metadata.labels",
            "Invalid value: \"bad key\": name part must consist",
        ),
        (
            "label value",
            with(pod(), json!({"metadata": {"labels": {"k": "-v"}}})),
            "metadata.labels",
            "Invalid value: \"-v\": a valid label must be",
        ),
        (
            "annotation key",
            with(pod(), json!({"metadata": {"annotations": {"a/b/c": "v"}}})),
            "metadata.annotations",
            "a qualified name must consist",
        ),
        (
            "annotation size",
            with(
                pod(),
                json!({"metadata": {"annotations": {"big": long_annotation}}}),
            ),
            "metadata.annotations",
            "Too long: must have at most 262144 bytes",
        ),
        (
            "owner reference",
            with(
                pod(),
                json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x"}]}}),
            ),
            "metadata.ownerReferences[0].uid",
            "Required value",
        ),
        (
            "containers required",
            with(pod(), json!({"spec": {"containers": []}})),
            "spec.containers",
            "Required value",
        ),
        (
            "container name",
            with(pod(), json!({"spec": {"containers": [{"image": "nginx"}]}})),
            "spec.containers[0].name",
            "Required value",
        ),
        (
            "container image",
            with(pod(), json!({"spec": {"containers": [{"name": "a"}]}})),
            "spec.containers[0].image",
            "Required value",
        ),
        (
            "container duplicate",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}}),
            ),
            "spec.containers[1].name",
            "Duplicate value: \"a\"",
        ),
        (
            "container port range",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}]}}),
            ),
            "spec.containers[0].ports[0].containerPort",
            "Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        (
            "container port zero",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 0}]}]}}),
            ),
            "spec.containers[0].ports[0].containerPort",
            "must be between 1 and 65535",
        ),
        (
            "port protocol",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 1, "protocol": "ICMP"}]}]}}),
            ),
            "spec.containers[0].ports[0].protocol",
            "Unsupported value: \"ICMP\"",
        ),
        (
            "restart policy",
            with(pod(), json!({"spec": {"restartPolicy": "Sometimes"}})),
            "spec.restartPolicy",
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ),
        (
            "volume mount",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]}}),
            ),
            "spec.containers[0].volumeMounts[0].name",
            "not found",
        ),
        (
            "resources",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}}),
            ),
            "spec.containers[0].resources.requests[cpu]",
            "must be less than or equal to cpu limit of 1",
        ),
        (
            "quantity",
            with(
                pod(),
                json!({"spec": {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"memory": "lots"}}}]}}),
            ),
            "spec.containers[0].resources.limits[memory]",
            "quantities must match",
        ),
        (
            "replicas",
            with(deployment(), json!({"spec": {"replicas": -1}})),
            "spec.replicas",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            "selector required",
            with(deployment(), json!({"spec": {"selector": null}})),
            "spec.selector",
            "Required value",
        ),
        (
            "selector empty",
            with(
                deployment(),
                json!({"spec": {"selector": {"matchLabels": null}}}),
            ),
            "spec.selector",
            "empty selector is invalid",
        ),
        (
            "selector mismatch",
            with(
                deployment(),
                json!({"spec": {"selector": {"matchLabels": {"app": "db"}}}}),
            ),
            "spec.template.metadata.labels",
            "`selector` does not match template `labels`",
        ),
        (
            "deployment restart",
            with(
                deployment(),
                json!({"spec": {"template": {"spec": {"restartPolicy": "Never"}}}}),
            ),
            "spec.template.spec.restartPolicy",
            "Unsupported value: \"Never\": supported values: \"Always\"",
        ),
        (
            "template container",
            with(
                deployment(),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}}),
            ),
            "spec.template.spec.containers[0].image",
            "Required value",
        ),
        (
            "strategy type",
            with(
                deployment(),
                json!({"spec": {"strategy": {"type": "BlueGreen"}}}),
            ),
            "spec.strategy.type",
            "Unsupported value",
        ),
        (
            "rolling update zero",
            with(
                deployment(),
                json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}}}),
            ),
            "spec.strategy.rollingUpdate.maxUnavailable",
            "may not be 0 when `maxSurge` is 0",
        ),
        (
            "statefulset policy",
            with(
                stateful_set(),
                json!({"spec": {"podManagementPolicy": "Random"}}),
            ),
            "spec.podManagementPolicy",
            "Unsupported value",
        ),
        (
            "statefulset mount of no volume or claim",
            with(
                stateful_set_with_claims(),
                json!({"spec": {"volumeClaimTemplates": null}}),
            ),
            "spec.template.spec.containers[0].volumeMounts[0].name",
            "not found in spec.volumes",
        ),
        (
            "statefulset claim without a name",
            with(
                stateful_set_with_claims(),
                json!({"spec": {"volumeClaimTemplates": [{"metadata": {},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
            ),
            "spec.volumeClaimTemplates[0].metadata.name",
            "Required value",
        ),
        (
            "statefulset claim without storage",
            with(
                stateful_set_with_claims(),
                json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
            ),
            "spec.volumeClaimTemplates[0].spec.resources[storage]",
            "Required value",
        ),
        (
            "statefulset claim with a bad name",
            with(
                stateful_set(),
                json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "Data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
            ),
            "spec.volumeClaimTemplates[0].metadata.name",
            "Invalid value",
        ),
        (
            "statefulset negative partition",
            with(
                stateful_set(),
                json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": -1}}}}),
            ),
            "spec.updateStrategy.rollingUpdate.partition",
            "must be greater than or equal to 0",
        ),
        (
            "statefulset zero budget",
            with(
                stateful_set(),
                json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}}}}),
            ),
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            "must be greater than 0",
        ),
        (
            "statefulset retention policy",
            with(
                stateful_set(),
                json!({"spec": {"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Keep"}}}),
            ),
            "spec.persistentVolumeClaimRetentionPolicy.whenScaled",
            "Unsupported value",
        ),
        (
            "statefulset negative start",
            with(stateful_set(), json!({"spec": {"ordinals": {"start": -1}}})),
            "spec.ordinals.start",
            "must be greater than or equal to 0",
        ),
        (
            "job restart",
            with(
                job(),
                json!({"spec": {"template": {"spec": {"restartPolicy": "Always"}}}}),
            ),
            "spec.template.spec.restartPolicy",
            "supported values: \"OnFailure\", \"Never\"",
        ),
        (
            "job backoff",
            with(job(), json!({"spec": {"backoffLimit": -1}})),
            "spec.backoffLimit",
            "must be greater than or equal to 0",
        ),
        (
            "cron schedule",
            with(cron_job(), json!({"spec": {"schedule": "61 * * * *"}})),
            "spec.schedule",
            "Invalid value: \"61 * * * *\"",
        ),
        (
            "cron schedule required",
            with(cron_job(), json!({"spec": {"schedule": null}})),
            "spec.schedule",
            "Required value",
        ),
        (
            "cron schedule message",
            with(cron_job(), json!({"spec": {"schedule": "*/0 * * * *"}})),
            "spec.schedule",
            "step of range should be a positive number: */0",
        ),
        (
            "cron time zone unknown",
            with(cron_job(), json!({"spec": {"timeZone": "Mars/Olympus"}})),
            "spec.timeZone",
            "unknown time zone Mars/Olympus",
        ),
        (
            "cron time zone local",
            with(cron_job(), json!({"spec": {"timeZone": "Local"}})),
            "spec.timeZone",
            "must be an explicit time zone",
        ),
        (
            "cron time zone and TZ",
            with(
                cron_job(),
                json!({"spec": {"timeZone": "Europe/Berlin", "schedule": "TZ=UTC 0 9 * * *"}}),
            ),
            "spec.schedule",
            "cannot use both timeZone field and TZ or CRON_TZ in schedule",
        ),
        (
            "cron concurrency",
            with(
                cron_job(),
                json!({"spec": {"concurrencyPolicy": "Sometimes"}}),
            ),
            "spec.concurrencyPolicy",
            "Unsupported value",
        ),
        (
            "cron job template restart",
            with(
                cron_job(),
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Always"}}}}}}),
            ),
            "spec.jobTemplate.spec.template.spec.restartPolicy",
            "Unsupported value",
        ),
        (
            "service ports required",
            with(service(), json!({"spec": {"ports": []}})),
            "spec.ports",
            "Required value",
        ),
        (
            "service port range",
            with(service(), json!({"spec": {"ports": [{"port": 0}]}})),
            "spec.ports[0].port",
            "must be between 1 and 65535",
        ),
        (
            "service target port",
            with(
                service(),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 99999}]}}),
            ),
            "spec.ports[0].targetPort",
            "must be between 1 and 65535",
        ),
        (
            "service port names",
            with(
                service(),
                json!({"spec": {"ports": [{"port": 80}, {"port": 81, "name": "b"}]}}),
            ),
            "spec.ports[0].name",
            "Required value",
        ),
        (
            "service duplicate port",
            with(
                service(),
                json!({"spec": {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]}}),
            ),
            "spec.ports[1]",
            "Duplicate value: \"80/TCP\"",
        ),
        (
            "service type",
            with(service(), json!({"spec": {"type": "Magic"}})),
            "spec.type",
            "Unsupported value",
        ),
        (
            "service nodePort on ClusterIP",
            with(
                service(),
                json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
            ),
            "spec.ports[0].nodePort",
            "Forbidden: may not be used when `type` is 'ClusterIP'",
        ),
        (
            "service clusterIP",
            with(service(), json!({"spec": {"clusterIP": "10.0.0.300"}})),
            "spec.clusterIP",
            "must be a valid IP address",
        ),
        (
            "external name",
            with(
                service(),
                json!({"spec": {"type": "ExternalName", "ports": null}}),
            ),
            "spec.externalName",
            "Required value",
        ),
        (
            "configmap key",
            with(config_map(), json!({"data": {"a/b": "x"}})),
            "data[a/b]",
            "a valid config key must consist",
        ),
        (
            "configmap dup",
            with(config_map(), json!({"binaryData": {"a": "Yg=="}})),
            "data[a]",
            "duplicate of key present in binaryData",
        ),
        (
            "secret key",
            with(secret(), json!({"data": {"bad key": "Yg=="}})),
            "data[bad key]",
            "a valid config key",
        ),
        (
            "secret base64",
            with(secret(), json!({"data": {"a": "not base64!"}})),
            "data.a",
            "illegal base64 data: Invalid symbol 32, offset 3",
        ),
        (
            "tls secret",
            with(secret(), json!({"type": "kubernetes.io/tls"})),
            "data[tls.crt]",
            "Required value",
        ),
        (
            "bootstrap token secret",
            with(
                secret(),
                json!({"type": "bootstrap.kubernetes.io/token", "data": {"token-id": "YWJjZGVm", "token-secret": "c2VjcmV0"}}),
            ),
            "data[token-secret]",
            "Forbidden: bootstrap token secrets store only token-secret-sha256",
        ),
        (
            "bootstrap token stringData",
            with(
                secret(),
                json!({"type": "bootstrap.kubernetes.io/token", "stringData": {"token-id": "abcdef", "token-secret": "0123456789abcdef"}}),
            ),
            "data[token-secret]",
            "Forbidden",
        ),
        (
            "namespace finalizer",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}, "spec": {"finalizers": ["a/b/c"]}}),
            "spec.finalizers[0]",
            "Invalid value",
        ),
        (
            "pvc access modes",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
            "spec.accessModes",
            "Required value",
        ),
        (
            "pvc storage",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"}, "spec": {"accessModes": ["ReadWriteOnce"]}}),
            "spec.resources[storage]",
            "Required value",
        ),
        (
            "endpoint slice",
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "e", "namespace": "d"}, "addressType": "IPX", "endpoints": []}),
            "addressType",
            "Unsupported value",
        ),
    ];
    for (what, obj, field, message) in cases {
        let err = match validate(&obj) {
            Ok(()) => panic!("{what}: expected an error on {field}"),
            Err(e) => e,
        };
        let cause = err
            .causes
            .iter()
            .find(|c| c.field == field)
            .unwrap_or_else(|| panic!("{what}: no error on {field}: {}", err.message()));
        assert!(
            cause.to_string().contains(message),
            "{what}: {cause} does not contain {message:?}"
        );
    }
}

#[test]
fn object_size_limit() {
    let big = with(
        config_map(),
        json!({"data": {"a": "x".repeat(MAX_OBJECT_BYTES)}}),
    );
    let err = validate(&big).expect_err("too big");
    assert_eq!(err.causes[0].kind, FieldErrorKind::TooLong);
    assert_eq!(
        err.message(),
        format!("Too long: must have at most {MAX_OBJECT_BYTES} bytes")
    );
}

#[test]
fn invalid_status_message() {
    let err =
        validate(&with(deployment(), json!({"spec": {"replicas": -1}}))).expect_err("invalid");
    let status = Status::invalid("apps", "Deployment", "web", &err).to_value();
    assert_eq!(
        status["message"],
        "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}
