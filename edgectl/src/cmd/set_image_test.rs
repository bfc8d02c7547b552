use serde_json::{Value, json};

use super::*;

#[test]
fn set_image_arguments() {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (resources, images) = split_args(&strings(&[
        "deploy/web",
        "nginx=nginx:2",
        "side=busybox",
        "nginx=nginx:3",
    ]))
    .expect("parses");
    assert_eq!(resources, ["deploy/web"]);
    assert_eq!(
        images,
        [
            ("side".to_string(), "busybox".to_string()),
            ("nginx".to_string(), "nginx:3".to_string())
        ]
    );
    assert_eq!(
        split_args(&strings(&["deploy", "nginx=x", "web"]))
            .expect_err("resource after pair")
            .to_string(),
        "all resources must be specified before image changes: web"
    );
    assert_eq!(
        split_args(&strings(&["deploy/web", "nginx-"]))
            .expect_err("removal")
            .to_string(),
        "invalid image: nginx-"
    );
    let pair = |c: &str, i: &str| (c.to_string(), i.to_string());
    // Resources, pairs, --all, --selector, and the error.
    type Case = (
        Vec<String>,
        ImagePairs,
        bool,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            strings(&["deploy/web"]),
            vec![pair("a", "b")],
            false,
            None,
            None,
        ),
        (
            strings(&[]),
            vec![pair("a", "b")],
            false,
            None,
            Some(
                "one or more resources must be specified as <resource> <name> or <resource>/<name>",
            ),
        ),
        (
            strings(&["deploy/web"]),
            vec![],
            false,
            None,
            Some("at least one image update is required"),
        ),
        (
            strings(&["deploy"]),
            vec![pair("a", "b")],
            true,
            Some("app=web"),
            Some("cannot set --all and --selector at the same time"),
        ),
        (
            strings(&["deploy/web"]),
            vec![pair("*", "b"), pair("a", "c")],
            false,
            None,
            Some(
                "all containers are already specified by *, but saw more than one container_name=container_image pairs",
            ),
        ),
    ];
    for (resources, images, all, selector, want) in cases {
        let got = validate(&resources, &images, all, selector)
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), want, "{resources:?} {images:?}");
    }
}

#[test]
fn set_image_updates_matching_containers() {
    let template = |spec: Value| json!({"spec": {"template": {"spec": spec}}});
    let pair = |c: &str, i: &str| (c.to_string(), i.to_string());
    let path = pod_spec_path("apps", "Deployment").expect("deployments have templates");
    let two = template(json!({
        "initContainers": [{"name": "init", "image": "busybox:1"}],
        "containers": [{"name": "nginx", "image": "nginx:1"}, {"name": "side", "image": "side:1"}]}));
    let cases: Vec<(&str, ImagePairs, Option<Value>, Vec<&str>)> = vec![
        (
            "one container",
            vec![pair("nginx", "nginx:2")],
            Some(template(
                json!({"containers": [{"name": "nginx", "image": "nginx:2"}]}),
            )),
            vec![],
        ),
        (
            "an init container",
            vec![pair("init", "busybox:2")],
            Some(template(
                json!({"initContainers": [{"name": "init", "image": "busybox:2"}]}),
            )),
            vec![],
        ),
        (
            "every container",
            vec![pair("*", "all:9")],
            Some(template(json!({
                "initContainers": [{"name": "init", "image": "all:9"}],
                "containers": [{"name": "nginx", "image": "all:9"}, {"name": "side", "image": "all:9"}]}))),
            vec![],
        ),
        ("no change", vec![pair("nginx", "nginx:1")], None, vec![]),
        (
            "a missing container",
            vec![pair("nope", "x"), pair("side", "side:2")],
            Some(template(
                json!({"containers": [{"name": "side", "image": "side:2"}]}),
            )),
            vec!["nope"],
        ),
    ];
    for (name, images, patch, missing) in cases {
        let update = image_update(&two, path, &images);
        assert_eq!(update.patch, patch, "{name}");
        assert_eq!(update.missing, missing, "{name}");
    }
    let pod = json!({"spec": {"containers": [{"name": "c", "image": "old"}]}});
    let update = image_update(
        &pod,
        pod_spec_path("", "Pod").expect("pods"),
        &[pair("c", "new")],
    );
    assert_eq!(
        update.patch,
        Some(json!({"spec": {"containers": [{"name": "c", "image": "new"}]}}))
    );
    let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "old"}]}}}}}});
    let path = pod_spec_path("batch", "CronJob").expect("cron jobs");
    assert_eq!(
        image_update(&cron, path, &[pair("c", "new")]).patch,
        Some(
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "new"}]}}}}}})
        )
    );
    assert_eq!(pod_spec_path("", "Service"), None);
}
