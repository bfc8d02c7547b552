//! Tests of the resource metrics API: quantities, paths, object shapes, selectors, discovery.

use super::*;
use edge_wire::link::ContainerUsage;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().expect("a timestamp")
}

fn usage() -> NodeUsage {
    NodeUsage {
        timestamp: at("2025-03-04T05:06:07.891Z"),
        window: Duration::from_millis(1_002),
        cpu_millis: 250,
        memory_bytes: 12_345 * 1024,
        pods: vec![PodUsage {
            uid: "uid-1".into(),
            namespace: "default".into(),
            name: "web".into(),
            containers: vec![
                ContainerUsage {
                    name: "app".into(),
                    cpu_millis: 3,
                    memory_bytes: 5 << 20,
                },
                ContainerUsage {
                    name: "side".into(),
                    cpu_millis: 0,
                    memory_bytes: 1500,
                },
            ],
        }],
    }
}

#[test]
fn quantities_are_canonical() {
    let cpu = [
        (0, "0"),
        (1, "1m"),
        (250, "250m"),
        (1000, "1"),
        (2500, "2500m"),
    ];
    for (millis, want) in cpu {
        assert_eq!(cpu_quantity(millis), want, "{millis}m");
    }
    let memory = [
        (0, "0"),
        (1500, "1500"),
        (1024, "1Ki"),
        (12_345 * 1024, "12345Ki"),
        (64 << 20, "64Mi"),
        (3 << 30, "3Gi"),
        ((64 << 20) + 4096, "65540Ki"),
    ];
    for (bytes, want) in memory {
        assert_eq!(memory_quantity(bytes), want, "{bytes} bytes");
    }
    let windows = [
        (10_000, "10s"),
        (1_002, "1.002s"),
        (1_500, "1.5s"),
        (0, "0s"),
    ];
    for (millis, want) in windows {
        assert_eq!(go_duration(Duration::from_millis(millis)), want);
    }
}

#[test]
fn paths_name_nodes_and_pods() {
    let nodes = |name: Option<&str>| MetricsTarget::Nodes {
        name: name.map(str::to_owned),
    };
    let pods = |ns: Option<&str>, name: Option<&str>| MetricsTarget::Pods {
        namespace: ns.map(str::to_owned),
        name: name.map(str::to_owned),
    };
    let cases = [
        ("nodes", Some(nodes(None))),
        ("nodes/", Some(nodes(None))),
        ("nodes/edge-1", Some(nodes(Some("edge-1")))),
        ("pods", Some(pods(None, None))),
        ("namespaces/default/pods", Some(pods(Some("default"), None))),
        (
            "namespaces/default/pods/web",
            Some(pods(Some("default"), Some("web"))),
        ),
        ("nodes/a/b", None),
        ("pods/web", None),
        ("namespaces//pods", None),
        ("namespaces/default/nodes", None),
        ("", None),
    ];
    for (path, want) in cases {
        assert_eq!(MetricsTarget::parse(path), want, "{path:?}");
    }
    let attrs = pods(Some("default"), Some("web"));
    let attrs = attrs.attributes();
    assert_eq!(
        (attrs.verb, attrs.group, attrs.resource, attrs.namespace),
        ("get", GROUP, "pods", Some("default"))
    );
    assert_eq!(nodes(None).attributes().verb, "list");
}

#[test]
fn node_metrics_have_metrics_server_shape() {
    let now = at("2025-03-04T05:06:09Z");
    let labels = json!({"kubernetes.io/hostname": "edge-1"});
    let object = node_metrics("edge-1", Some(&labels), &usage(), now);
    assert_eq!(
        object,
        json!({
            "kind": "NodeMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {
                "name": "edge-1",
                "creationTimestamp": "2025-03-04T05:06:09Z",
                "labels": {"kubernetes.io/hostname": "edge-1"},
            },
            "timestamp": "2025-03-04T05:06:07Z",
            "window": "1.002s",
            "usage": {"cpu": "250m", "memory": "12345Ki"},
        })
    );
    let list = metrics_list("NodeMetricsList", vec![object]);
    assert_eq!(list["kind"], "NodeMetricsList");
    assert_eq!(list["items"][0]["metadata"]["name"], "edge-1");
}

#[test]
fn pod_metrics_list_every_container() {
    let now = at("2025-03-04T05:06:09Z");
    let usage = usage();
    let object = pod_metrics(&usage.pods[0], None, &usage, now);
    assert_eq!(
        object,
        json!({
            "kind": "PodMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "creationTimestamp": "2025-03-04T05:06:09Z",
            },
            "timestamp": "2025-03-04T05:06:07Z",
            "window": "10s",
            "containers": [
                {"name": "app", "usage": {"cpu": "3m", "memory": "5Mi"}},
                {"name": "side", "usage": {"cpu": "0", "memory": "1500"}},
            ],
        })
    );
}

#[test]
fn selectors_match_labels_and_metadata_fields() {
    let usage = usage();
    let now = at("2025-03-04T05:06:09Z");
    let labels = json!({"app": "web"});
    let object = pod_metrics(&usage.pods[0], Some(&labels), &usage, now);
    let selectors = |label: &str, field: &str| {
        let params: HashMap<String, String> = [
            ("labelSelector".to_owned(), label.to_owned()),
            ("fieldSelector".to_owned(), field.to_owned()),
        ]
        .into();
        Selectors::from_params(&params).expect("valid selectors")
    };
    let cases = [
        ("", "", true),
        ("app=web", "", true),
        ("app!=web", "", false),
        ("tier", "", false),
        ("", "metadata.name=web", true),
        ("", "metadata.namespace=other", false),
        ("app in (web,db)", "metadata.name!=api", true),
    ];
    for (label, field, want) in cases {
        assert_eq!(
            selectors(label, field).matches(&object),
            want,
            "{label:?} {field:?}"
        );
    }
    let bad: HashMap<String, String> = [("labelSelector".to_owned(), "a in (".to_owned())].into();
    assert_eq!(
        Selectors::from_params(&bad).err().map(|e| e.code()),
        Some(400)
    );
}

/// The group version's route sits beside `/apis/{*rest}`, which serves its discovery.
#[tokio::test]
async fn the_router_sends_only_paths_below_the_group_version_here() {
    use axum::routing::any;
    use tower::ServiceExt;
    let router = axum::Router::new()
        .route(
            "/apis/metrics.k8s.io/v1beta1/{*rest}",
            any(|| async { "metrics" }),
        )
        .route("/apis/{*rest}", any(|| async { "apis" }));
    let cases = [
        ("/apis/metrics.k8s.io/v1beta1/nodes", "metrics"),
        ("/apis/metrics.k8s.io/v1beta1/namespaces/a/pods", "metrics"),
        ("/apis/metrics.k8s.io/v1beta1", "apis"),
        ("/apis/metrics.k8s.io", "apis"),
        ("/apis/apps/v1/deployments", "apis"),
    ];
    for (path, want) in cases {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("a request");
        let response = router.clone().oneshot(request).await.expect("an answer");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("a body");
        assert_eq!(body, want.as_bytes(), "{path}");
    }
    assert!(PREFIX.starts_with("/apis/metrics.k8s.io/v1beta1/"));
}

#[tokio::test]
async fn discovery_lists_nodes_and_pods_read_only() {
    let response = super::super::discovery::group_version(GROUP, VERSION);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    let list: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(list["groupVersion"], "metrics.k8s.io/v1beta1");
    let resources: Vec<(Value, Value, Value, Value)> = list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["name"].clone(),
                r["kind"].clone(),
                r["namespaced"].clone(),
                r["verbs"].clone(),
            )
        })
        .collect();
    let verbs = json!(["get", "list"]);
    assert_eq!(
        resources,
        [
            (
                json!("nodes"),
                json!("NodeMetrics"),
                json!(false),
                verbs.clone()
            ),
            (json!("pods"), json!("PodMetrics"), json!(true), verbs),
        ]
    );
}

#[test]
fn missing_metrics_read_like_metrics_server() {
    assert_eq!(
        node_not_found("x").0.message,
        "nodemetrics.metrics.k8s.io \"x\" not found"
    );
    let pod = pod_not_found("default", "web");
    assert_eq!(pod.code(), 404);
    assert_eq!(
        pod.0.message,
        "podmetrics.metrics.k8s.io \"default/web\" not found"
    );
}
