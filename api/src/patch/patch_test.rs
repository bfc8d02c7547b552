//! Tests of merge, JSON, strategic merge and three-way patches.

use serde_json::{Value, json};

use super::*;

#[test]
fn merge_patch_rfc7386() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (json!({"a": [1, 2]}), json!({"a": [3]}), json!({"a": [3]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
    ];
    for (mut target, patch, want) in cases {
        merge_patch(&mut target, &patch);
        assert_eq!(target, want, "{patch}");
    }
}

#[test]
fn json_patch_rfc6902() {
    let mut doc = json!({"spec": {"replicas": 1, "list": [1, 2]}});
    json_patch(
        &mut doc,
        &json!([
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "test", "path": "/spec/replicas", "value": 3}
        ]),
    )
    .expect("patch applies");
    assert_eq!(doc, json!({"spec": {"replicas": 3, "list": [2, 3]}}));

    let before = doc.clone();
    let err = json_patch(
        &mut doc,
        &json!([
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "test", "path": "/spec/replicas", "value": 5}
        ]),
    )
    .expect_err("test fails");
    assert!(matches!(err, PatchError::Apply(_)), "{err}");
    assert_eq!(doc, before, "a failed patch changes nothing");
    assert!(matches!(
        json_patch(&mut doc, &json!({"op": "add"})),
        Err(PatchError::Invalid(_))
    ));
    assert!(matches!(
        json_patch(&mut doc, &json!([{"op": "remove", "path": "/missing"}])),
        Err(PatchError::Apply(_))
    ));
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["a"]},
           "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                    "template": {"spec": {
                        "containers": [
                            {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                             "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                            {"name": "sidecar", "image": "envoy:1"}
                        ],
                        "volumes": [{"name": "v1", "emptyDir": {}}],
                        "tolerations": [{"key": "a", "operator": "Exists"}]}}}})
}

/// A check of one patch result.
type Check = Box<dyn Fn(&Value)>;

#[test]
fn strategic_merge_patch_cases() {
    let cases: Vec<(&str, Value, Check)> = vec![
        (
            "kubectl image change with $setElementOrder",
            json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],"containers":[{"image":"nginx:2","name":"app"}]}}}}),
            Box::new(|r| {
                let cs = &r["spec"]["template"]["spec"]["containers"];
                assert_eq!(cs[0]["image"], "nginx:2");
                assert_eq!(
                    cs[0]["env"][1]["value"], "2",
                    "other fields of the container are kept"
                );
                assert_eq!(cs[1]["name"], "sidecar");
            }),
        ),
        (
            "reorder and add a container",
            json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"init"},{"name":"sidecar"},{"name":"app"}],"containers":[{"name":"init","image":"busybox"}]}}}}),
            Box::new(|r| {
                let names: Vec<&str> = r["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .expect("list")
                    .iter()
                    .map(|c| c["name"].as_str().unwrap_or(""))
                    .collect();
                assert_eq!(names, ["init", "sidecar", "app"]);
            }),
        ),
        (
            "delete a container by key",
            json!({"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}),
            Box::new(|r| {
                assert_eq!(
                    r["spec"]["template"]["spec"]["containers"]
                        .as_array()
                        .map(Vec::len),
                    Some(1)
                )
            }),
        ),
        (
            "env merges by name and null deletes a field",
            json!({"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}],"ports":[{"containerPort":80,"protocol":null,"name":"http"}]}]}}}}),
            Box::new(|r| {
                let c = &r["spec"]["template"]["spec"]["containers"][0];
                assert_eq!(
                    c["env"],
                    json!([{"name":"A","value":"1"},{"name":"B","value":"3"},{"name":"C","value":"4"}])
                );
                assert_eq!(c["ports"], json!([{"containerPort":80,"name":"http"}]));
            }),
        ),
        (
            "tolerations replace",
            json!({"spec":{"template":{"spec":{"tolerations":[{"key":"b","operator":"Exists"}]}}}}),
            Box::new(|r| {
                assert_eq!(
                    r["spec"]["template"]["spec"]["tolerations"],
                    json!([{"key":"b","operator":"Exists"}])
                )
            }),
        ),
        (
            "volumes merge by name",
            json!({"spec":{"template":{"spec":{"volumes":[{"name":"v2","configMap":{"name":"c"}}]}}}}),
            Box::new(|r| {
                assert_eq!(
                    r["spec"]["template"]["spec"]["volumes"]
                        .as_array()
                        .map(Vec::len),
                    Some(2)
                )
            }),
        ),
        (
            "$retainKeys drops rollingUpdate for Recreate",
            json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}}),
            Box::new(|r| assert_eq!(r["spec"]["strategy"], json!({"type":"Recreate"}))),
        ),
        (
            "$patch replace on a map",
            json!({"spec":{"strategy":{"$patch":"replace","type":"Recreate"}}}),
            Box::new(|r| assert_eq!(r["spec"]["strategy"], json!({"type":"Recreate"}))),
        ),
        (
            "$patch delete on a map",
            json!({"spec":{"strategy":{"$patch":"delete"}}}),
            Box::new(|r| assert!(r["spec"].get("strategy").is_none())),
        ),
        (
            "$patch replace on a list",
            json!({"spec":{"template":{"spec":{"containers":[{"name":"only","image":"x"},{"$patch":"replace"}]}}}}),
            Box::new(|r| {
                assert_eq!(
                    r["spec"]["template"]["spec"]["containers"],
                    json!([{"name":"only","image":"x"}])
                )
            }),
        ),
        (
            "finalizers set-merge and $deleteFromPrimitiveList",
            json!({"metadata":{"finalizers":["b"],"$deleteFromPrimitiveList/finalizers":["a"]}}),
            Box::new(|r| assert_eq!(r["metadata"]["finalizers"], json!(["b"]))),
        ),
        (
            "finalizers union",
            json!({"metadata":{"finalizers":["b"]}}),
            Box::new(|r| assert_eq!(r["metadata"]["finalizers"], json!(["a", "b"]))),
        ),
        (
            "directives in a new subtree are applied, not copied",
            json!({"metadata":{"labels":{"$patch":"merge","app":"web"}}}),
            Box::new(|r| assert_eq!(r["metadata"]["labels"], json!({"app":"web"}))),
        ),
    ];
    for (what, patch, check) in cases {
        let result = strategic_merge_patch("Deployment", &deployment(), &patch)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        check(&result);
        assert_eq!(
            result["spec"]["replicas"], 1,
            "{what}: untouched fields stay"
        );
    }
}

#[test]
fn strategic_merge_patch_service_ports_and_errors() {
    let svc = json!({"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let r = strategic_merge_patch(
        "Service",
        &svc,
        &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
    )
    .expect("patch");
    assert_eq!(
        r["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );
    let missing = strategic_merge_patch(
        "Deployment",
        &deployment(),
        &json!({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}),
    );
    assert!(
        matches!(missing, Err(PatchError::MissingMergeKey { ref key, .. }) if key == "name"),
        "{missing:?}"
    );
    let unknown = strategic_merge_patch(
        "Deployment",
        &deployment(),
        &json!({"spec": {"$patch": "explode"}}),
    );
    assert!(matches!(unknown, Err(PatchError::UnknownDirective { .. })));
    assert!(strategic_merge_patch("Pod", &json!({}), &json!([1])).is_err());
}

#[test]
fn three_way_patches() {
    let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "resourceVersion": "42", "uid": "u", "creationTimestamp": "2024-01-01T00:00:00Z",
                     "labels": {"a": "1", "server": "x"}},
        "data": {"k": "v", "old": "o"}});
    let last = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v", "old": "o"}});
    let cases = [
        ("unchanged", last.clone(), json!({})),
        (
            "changed value",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v2", "old": "o"}}),
            json!({"data": {"k": "v2"}}),
        ),
        (
            "removed field",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}}),
            json!({"data": {"old": null}}),
        ),
        (
            "removed label keeps server label",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v", "old": "o"}}),
            json!({"metadata": {"labels": {"a": null}}}),
        ),
        (
            "added field",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v", "old": "o", "new": "n"}, "immutable": true}),
            json!({"data": {"new": "n"}, "immutable": true}),
        ),
    ];
    for (what, modified, want) in cases {
        assert_eq!(
            three_way_merge_patch(Some(&last), &modified, &live),
            want,
            "{what}"
        );
    }
    // Without a last-applied configuration nothing is deleted.
    let dropped = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    assert_eq!(three_way_merge_patch(None, &dropped, &live), json!({}));
    // Lists are replaced whole when they differ.
    let live_list = json!({"spec": {"args": ["a", "b"]}, "status": {"phase": "Running"}});
    assert_eq!(
        three_way_merge_patch(None, &json!({"spec": {"args": ["a"]}}), &live_list),
        json!({"spec": {"args": ["a"]}})
    );
    assert_eq!(
        three_way_merge_patch(None, &json!({"spec": {"args": ["a", "b"]}}), &live_list),
        json!({})
    );
}
