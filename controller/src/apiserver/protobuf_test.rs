//! Tests of protobuf body decoding: bodies captured from kubectl 1.37 against the JSON kubectl
//! prints for the same command, hand-encoded bodies for each kind of field, and bad input.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::*;

fn testdata(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/src/apiserver/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A protobuf message under construction, field by field.
#[derive(Default, Clone)]
struct Pb(Vec<u8>);

impl Pb {
    fn key(mut self, number: u32, wire: u8) -> Self {
        put_varint(&mut self.0, u64::from(number << 3 | u32::from(wire)));
        self
    }

    fn varint(self, number: u32, value: u64) -> Self {
        let mut pb = self.key(number, 0);
        put_varint(&mut pb.0, value);
        pb
    }

    fn bytes(self, number: u32, bytes: &[u8]) -> Self {
        let mut pb = self.key(number, 2);
        put_varint(&mut pb.0, bytes.len() as u64);
        pb.0.extend_from_slice(bytes);
        pb
    }

    fn str(self, number: u32, s: &str) -> Self {
        self.bytes(number, s.as_bytes())
    }

    fn msg(self, number: u32, message: Pb) -> Self {
        self.bytes(number, &message.0)
    }

    /// A `map<string, V>` entry whose value is a message.
    fn entry(self, number: u32, key: &str, value: Pb) -> Self {
        self.msg(number, Pb::default().str(1, key).msg(2, value))
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// `k8s\0` and a `runtime.Unknown` holding `raw`.
fn envelope(api_version: &str, kind: &str, raw: Pb) -> Vec<u8> {
    let unknown = Pb::default()
        .msg(1, Pb::default().str(1, api_version).str(2, kind))
        .msg(2, raw);
    [b"k8s\0".as_slice(), &unknown.0].concat()
}

fn decoded(body: &[u8]) -> Value {
    decode(body).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

#[test]
fn schema_covers_every_served_kind() {
    let schema = match SCHEMA.as_ref() {
        Ok(schema) => schema,
        Err(e) => panic!("{e}"),
    };
    for info in edge_api::resource::all() {
        let name = message_name(&info.api_version(), info.kind);
        assert!(schema.messages.contains_key(name.as_str()), "{name}");
    }
}

#[test]
fn kubectl_bodies_decode_to_the_json_kubectl_prints() {
    // Each .pb is what kubectl 1.37 sent for the command; each .json is what
    // `kubectl <same command> --dry-run=client -o json` prints.
    for case in [
        "create-namespace",
        "create-configmap",
        "create-secret-generic",
        "create-service-clusterip",
        "create-deployment-replicas0",
        "create-job",
        "create-cronjob",
        "create-serviceaccount",
    ] {
        let want: Value = serde_json::from_slice(&testdata(&format!("{case}.json")))
            .unwrap_or_else(|e| panic!("{case}.json: {e}"));
        assert_eq!(decoded(&testdata(&format!("{case}.pb"))), want, "{case}");
    }
}

#[test]
fn pod_fields_map_to_kubernetes_json() {
    let metadata = Pb::default()
        .str(1, "web")
        .str(3, "")
        .varint(7, 0)
        .msg(8, Pb::default().varint(1, 1_767_323_045))
        .msg(11, Pb::default().str(1, "tier").str(2, ""))
        .varint(999, 7);
    let probe = Pb::default()
        .msg(
            1,
            Pb::default().msg(
                2,
                Pb::default()
                    .str(1, "/healthz")
                    .msg(2, Pb::default().varint(1, 1).str(3, "http")),
            ),
        )
        .varint(4, 0);
    let container = Pb::default()
        .str(1, "nginx")
        .str(2, "nginx:1.27")
        .msg(6, Pb::default().varint(3, 8080).str(4, "TCP"))
        .msg(
            8,
            Pb::default()
                .entry(1, "cpu", Pb::default().str(1, "500m"))
                .entry(1, "memory", Pb::default().str(1, "128Mi")),
        )
        .msg(10, probe)
        .msg(15, Pb::default().varint(2, 0).varint(4, 0))
        .str(14, "")
        .varint(16, 0);
    let spec = Pb::default()
        .msg(
            1,
            Pb::default()
                .str(1, "scratch")
                .msg(2, Pb::default().msg(2, Pb::default())),
        )
        .msg(2, container)
        .str(3, "")
        .varint(4, 0)
        .varint(11, 0)
        .msg(14, Pb::default().bytes(4, &[1, 2]))
        .varint(25, (-5i64) as u64)
        .varint(30, 0);
    let status = Pb::default().msg(7, Pb::default());
    let pod = Pb::default().msg(1, metadata).msg(2, spec).msg(3, status);
    assert_eq!(
        decoded(&envelope("v1", "Pod", pod)),
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": "web",
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "labels": {"tier": ""},
            },
            "spec": {
                "volumes": [{"name": "scratch", "emptyDir": {}}],
                "containers": [{
                    "name": "nginx",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                    "securityContext": {"privileged": false, "runAsUser": 0},
                }],
                "terminationGracePeriodSeconds": 0,
                "securityContext": {"supplementalGroups": [1, 2]},
                "priority": -5,
                "enableServiceLinks": false,
            },
            "status": {},
        })
    );
}

#[test]
fn special_types_map_to_their_json_forms() {
    let lease = Pb::default().msg(1, Pb::default().str(1, "leader")).msg(
        2,
        Pb::default().str(1, "").varint(2, 15).msg(
            3,
            Pb::default()
                .varint(1, 1_767_323_045)
                .varint(2, 123_456_789),
        ),
    );
    assert_eq!(
        decoded(&envelope("coordination.k8s.io/v1", "Lease", lease)),
        json!({
            "kind": "Lease",
            "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": "leader"},
            "spec": {
                "holderIdentity": "",
                "leaseDurationSeconds": 15,
                "acquireTime": "2026-01-02T03:04:05.123456Z",
            },
        })
    );

    let revision = Pb::default()
        .msg(1, Pb::default().str(1, "web-1"))
        .msg(2, Pb::default().bytes(1, br#"{"spec":{"x":1}}"#))
        .varint(3, 1);
    assert_eq!(
        decoded(&envelope("apps/v1", "ControllerRevision", revision))["data"],
        json!({"spec": {"x": 1}})
    );

    let secret = Pb::default()
        .msg(1, Pb::default().str(1, "s"))
        .msg(2, Pb::default().str(1, "key").bytes(2, &[0xff, 0x00, b'a']))
        .msg(2, Pb::default().str(1, "empty"))
        .varint(5, 0);
    assert_eq!(
        decoded(&envelope("v1", "Secret", secret)),
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "s"},
            "data": {"key": "/wBh", "empty": ""},
            "immutable": false,
        })
    );
}

#[test]
fn go_durations() {
    for (nanos, want) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-2_000_000_000, "-2s"),
    ] {
        assert_eq!(special::go_duration(nanos), want, "{nanos}");
    }
}

#[test]
fn bad_bodies_name_the_problem() {
    let namespace = testdata("create-namespace.pb");
    let gzip = [
        b"k8s\0".as_slice(),
        &Pb::default()
            .msg(1, Pb::default().str(1, "v1").str(2, "Namespace"))
            .msg(2, Pb::default())
            .str(3, "gzip")
            .0,
    ]
    .concat();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "json",
            br#"{"kind":"Namespace"}"#.to_vec(),
            400,
            "magic bytes",
        ),
        (
            "truncated",
            namespace[..namespace.len() - 12].to_vec(),
            400,
            "truncated",
        ),
        (
            "unknown kind",
            envelope("example.com/v1", "Widget", Pb::default()),
            415,
            "cannot decode Widget (example.com/v1)",
        ),
        ("gzip", gzip, 415, "content encoding \"gzip\""),
        (
            "no type meta",
            envelope("", "", Pb::default()),
            400,
            "no apiVersion and kind",
        ),
        (
            "wrong wire type",
            envelope(
                "v1",
                "Namespace",
                Pb::default().msg(1, Pb::default().varint(1, 5)),
            ),
            400,
            "at metadata.name: wire type Varint where Len was expected",
        ),
        (
            "bad utf-8",
            envelope(
                "v1",
                "Pod",
                Pb::default().msg(
                    2,
                    Pb::default().msg(2, Pb::default().bytes(2, &[0xc3, 0x28])),
                ),
            ),
            400,
            "at spec.containers[0].image: a string is not valid UTF-8",
        ),
        (
            "bad raw json",
            envelope(
                "apps/v1",
                "ControllerRevision",
                Pb::default().msg(2, Pb::default().bytes(1, b"{nope")),
            ),
            400,
            "at data: raw is not JSON",
        ),
        (
            "group wire type",
            [b"k8s\0".as_slice(), &[0x0b]].concat(),
            400,
            "unsupported wire type 3",
        ),
    ];
    let mut headers = HeaderMap::new();
    headers.insert("content-type", MEDIA_TYPE.parse().expect("static header"));
    for (name, body, code, needle) in cases {
        let err = match super::super::http::decode_body(&headers, &body) {
            Ok(value) => panic!("{name}: decoded to {value}"),
            Err(err) => err,
        };
        assert_eq!(err.code(), code, "{name}: {}", err.0.message);
        assert!(
            err.0.message.contains(needle),
            "{name}: {:?} does not contain {needle:?}",
            err.0.message
        );
    }
}

#[test]
fn decode_body_accepts_protobuf_with_a_charset() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        "application/vnd.kubernetes.protobuf; charset=utf-8"
            .parse()
            .expect("static header"),
    );
    let value = super::super::http::decode_body(&headers, &testdata("create-namespace.pb"))
        .unwrap_or_else(|e| panic!("{}", e.0.message));
    assert_eq!(value["metadata"]["name"], "foo");
}
