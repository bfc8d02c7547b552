//! The control plane's "done when": one controller driven by `edgectl` and raw HTTPS.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use edge_e2e::{
    ClientAuth, Controller, examples_dir, foreign_client_certificate, free_port, poll, temp_dir,
};
use serde_json::Value;

/// Starts a controller in `dir`, creates namespace `demo` and applies `examples/` to it.
fn controller_with_examples(dir: &Path) -> Controller {
    let controller = Controller::start(dir, free_port());
    controller
        .edgectl(&["create", "namespace", "demo"])
        .success()
        .stdout_has(&["namespace/demo created"]);
    let examples = examples_dir();
    let applied = controller
        .edgectl(&["apply", "-f", &examples.display().to_string()])
        .success();
    assert_eq!(
        sorted(applied.lines()),
        sorted(vec![
            "configmap/web-config created".into(),
            "deployment.apps/web created".into(),
            // The namespace exists already (created above, without last-applied state).
            applied
                .lines()
                .into_iter()
                .find(|l| l == "namespace/demo configured" || l == "namespace/demo unchanged")
                .unwrap_or_else(|| {
                    panic!(
                        "no `namespace/demo configured|unchanged`\n{}",
                        applied.report()
                    )
                }),
            "service/web created".into(),
        ]),
        "{}",
        applied.report()
    );
    controller
}

fn sorted(lines: Vec<String>) -> Vec<String> {
    let mut lines = lines;
    lines.sort();
    lines
}

fn names(controller: &Controller, args: &[&str]) -> BTreeSet<String> {
    let mut full = vec!["get"];
    full.extend(args);
    full.extend(["-o", "name"]);
    controller
        .edgectl(&full)
        .success()
        .lines()
        .into_iter()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The items of `get ARGS -o json` (a `List`, or one object).
fn items(controller: &Controller, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend(args);
    full.extend(["-o", "json"]);
    let json = controller.edgectl(&full).success().json();
    match json.get("items") {
        Some(items) => items.clone(),
        None => json,
    }
}

/// What must not change when a request is rejected: the demo objects and the namespaces,
/// resource versions included.
fn snapshot(controller: &Controller) -> Value {
    let mut demo = items(controller, &["deploy,svc,cm", "-n", "demo"]);
    // The deployment controller writes a Deployment's status and revision annotation in the
    // background (bumping its resourceVersion): those are not the user's data this compares.
    for item in demo.as_array_mut().into_iter().flatten() {
        if item["kind"] == "Deployment" {
            if let Some(object) = item.as_object_mut() {
                object.remove("status");
            }
            if let Some(metadata) = item["metadata"].as_object_mut() {
                metadata.remove("resourceVersion");
                if let Some(annotations) = metadata
                    .get_mut("annotations")
                    .and_then(Value::as_object_mut)
                {
                    annotations.remove("deployment.kubernetes.io/revision");
                }
            }
        }
    }
    serde_json::json!({
        "demo": demo,
        "namespaces": items(controller, &["ns"]),
    })
}

fn resource_version(object: &Value) -> String {
    let rv = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no metadata.resourceVersion in {object}"));
    assert!(
        !rv.is_empty() && rv.chars().all(|c| c.is_ascii_digit()),
        "resourceVersion {rv:?} is not a store revision"
    );
    rv.to_string()
}

/// The example ConfigMap's `GREETING`, read through edgectl.
fn greeting(controller: &Controller) -> String {
    let out = controller
        .edgectl(&[
            "get",
            "cm",
            "web-config",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.GREETING}",
        ])
        .success();
    out.stdout.trim().to_string()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

#[test]
fn apply_twice_is_unchanged_and_an_edit_is_configured() {
    let tmp = temp_dir("e2e-apply");
    let controller = controller_with_examples(&tmp.path().join("c"));
    let examples = examples_dir().display().to_string();

    let before = snapshot(&controller);
    let again = controller.edgectl(&["apply", "-f", &examples]).success();
    assert_eq!(
        sorted(again.lines()),
        vec![
            "configmap/web-config unchanged",
            "deployment.apps/web unchanged",
            "namespace/demo unchanged",
            "service/web unchanged",
        ],
        "{}",
        again.report()
    );
    assert_eq!(
        before,
        snapshot(&controller),
        "an unchanged apply must not write (resourceVersions moved)"
    );

    // An edited copy changes exactly the edited object.
    let edited = tmp.path().join("edited");
    std::fs::create_dir(&edited).unwrap_or_else(|err| panic!("mkdir: {err}"));
    for name in [
        "namespace.yaml",
        "deployment.yaml",
        "service.yaml",
        "configmap.yaml",
    ] {
        let text = std::fs::read_to_string(examples_dir().join(name))
            .unwrap_or_else(|err| panic!("cannot read examples/{name}: {err}"));
        write(
            &edited.join(name),
            &text.replace("GREETING: hello", "GREETING: bonjour"),
        );
    }
    let configured = controller
        .edgectl(&["apply", "-f", &edited.display().to_string()])
        .success();
    assert_eq!(
        sorted(configured.lines()),
        vec![
            "configmap/web-config configured",
            "deployment.apps/web unchanged",
            "namespace/demo unchanged",
            "service/web unchanged",
        ],
        "{}",
        configured.report()
    );
    assert_eq!(greeting(&controller), "bonjour");
}

#[test]
fn get_describe_label_and_selectors_work() {
    let tmp = temp_dir("e2e-get");
    let controller = controller_with_examples(&tmp.path().join("c"));

    // Tables, names, YAML and JSON.
    controller
        .edgectl(&["get", "deploy,svc,cm", "-n", "demo"])
        .success()
        .stdout_has(&[
            "NAME",
            "deployment.apps/web",
            "service/web",
            "configmap/web-config",
        ]);
    assert_eq!(
        names(&controller, &["deploy,svc,cm", "-n", "demo"]),
        set(&["deployment.apps/web", "service/web", "configmap/web-config"])
    );
    let yaml = controller
        .edgectl(&["get", "deploy", "web", "-n", "demo", "-o", "yaml"])
        .success()
        .stdout_has(&[
            "kind: Deployment",
            "name: web",
            "resourceVersion:",
            "replicas: 2",
        ]);
    let deployment = controller
        .edgectl(&["get", "deploy", "web", "-n", "demo", "-o", "json"])
        .success()
        .json();
    let rv = resource_version(&deployment);
    assert!(
        yaml.stdout.contains(&rv),
        "YAML and JSON disagree on resourceVersion {rv}\n{}",
        yaml.report()
    );
    assert_eq!(deployment.pointer("/spec/replicas"), Some(&Value::from(2)));
    assert_eq!(
        deployment.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("nginx"))
    );

    controller
        .edgectl(&["describe", "deploy", "web", "-n", "demo"])
        .success()
        .stdout_has(&["Name:", "web", "Namespace:", "demo", "Replicas:", "nginx"]);
    controller
        .edgectl(&["describe", "cm", "web-config", "-n", "demo"])
        .success()
        .stdout_has(&["web-config", "GREETING", "hello"]);

    // Label and field selectors.
    assert_eq!(
        names(
            &controller,
            &["deploy,svc,cm", "-n", "demo", "-l", "app=web"]
        ),
        set(&["deployment.apps/web", "service/web"])
    );
    assert_eq!(
        names(
            &controller,
            &["deploy,svc,cm", "-n", "demo", "-l", "app!=web"]
        ),
        set(&["configmap/web-config"])
    );
    assert_eq!(
        names(
            &controller,
            &["svc,cm", "-n", "demo", "-l", "app in (web-config,other)"]
        ),
        set(&["configmap/web-config"])
    );
    assert_eq!(
        names(&controller, &["cm", "-n", "demo", "-l", "app=nothing"]),
        set(&[])
    );
    assert_eq!(
        names(
            &controller,
            &[
                "cm",
                "-n",
                "demo",
                "--field-selector",
                "metadata.name=web-config"
            ]
        ),
        set(&["configmap/web-config"])
    );

    // Flags may follow the positional arguments, as with kubectl.
    controller
        .edgectl(&["label", "cm", "web-config", "-n", "demo", "tier=config"])
        .success()
        .stdout_has(&["configmap/web-config labeled"]);
    assert_eq!(
        names(&controller, &["cm", "-n", "demo", "-l", "tier=config"]),
        set(&["configmap/web-config"])
    );
    controller
        .edgectl(&["annotate", "-n", "demo", "deploy", "web", "note=hi"])
        .success()
        .stdout_has(&["deployment.apps/web annotated"]);
    controller
        .edgectl(&[
            "get",
            "deploy",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.annotations.note}",
        ])
        .success()
        .stdout_has(&["hi"]);

    // The namespaces every cluster starts with.
    let namespaces = names(&controller, &["ns"]);
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "demo",
    ] {
        assert!(
            namespaces.contains(&format!("namespace/{ns}")),
            "{ns} missing from {namespaces:?}"
        );
    }
}

#[test]
fn bad_input_is_rejected_and_leaves_the_store_unchanged() {
    let tmp = temp_dir("e2e-bad");
    let controller = controller_with_examples(&tmp.path().join("c"));
    let big = "x".repeat(1_600_000);
    // (case, verb, manifest, a word the one-line error must contain)
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "malformed YAML",
            "apply",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  namespace: demo\ndata: [unclosed\n"
                .into(),
            "yaml",
        ),
        (
            "unknown kind",
            "apply",
            "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata:\n  name: f\n  namespace: demo\n"
                .into(),
            "Frobnicator",
        ),
        (
            "wrong type",
            "apply",
            std::fs::read_to_string(examples_dir().join("deployment.yaml"))
                .unwrap_or_else(|err| panic!("{err}"))
                .replace("replicas: 2", "replicas: \"x\""),
            "spec.replicas",
        ),
        (
            "invalid name",
            "apply",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Foo_Bar\n  namespace: demo\ndata:\n  a: b\n"
                .into(),
            "Foo_Bar",
        ),
        (
            // `create` sends the object without a last-applied copy of itself, so the request
            // body stays under the transport limit and the object's own size is what is judged.
            "oversized ConfigMap",
            "create",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\n  namespace: demo\ndata:\n  big: {big}\n"
            ),
            "Too long",
        ),
        (
            // `apply` doubles the body with the last-applied annotation: refused before decoding,
            // with an error that names the file.
            "oversized apply",
            "apply",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\n  namespace: demo\ndata:\n  big: {big}\n"
            ),
            "oversized-apply.yaml",
        ),
    ];
    for (case, verb, manifest, word) in &cases {
        let before = snapshot(&controller);
        let file = tmp.path().join(format!("{}.yaml", case.replace(' ', "-")));
        write(&file, manifest);
        let run = controller
            .edgectl(&[verb, "-f", &file.display().to_string()])
            .failure()
            .stderr_has(word);
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "{case}: errors are one line on stderr\n{}",
            run.report()
        );
        eprintln!("{case}: {}", run.stderr.trim());
        let after = snapshot(&controller);
        assert_eq!(before, after, "{case}: the store changed\n{}", run.report());
    }

    // A replace carrying an old resourceVersion is a conflict and changes nothing.
    let old = controller
        .edgectl(&["get", "cm", "web-config", "-n", "demo", "-o", "json"])
        .success()
        .json();
    controller
        .edgectl(&["label", "-n", "demo", "cm", "web-config", "touched=yes"])
        .success()
        .stdout_has(&["configmap/web-config labeled"]);
    let before = snapshot(&controller);
    let mut stale = old.clone();
    stale["data"]["GREETING"] = Value::from("stale");
    let reply = controller.admin_request(
        "PUT",
        "/api/v1/namespaces/demo/configmaps/web-config",
        Some(&stale.to_string()),
    );
    let reply = reply.expect_status(409);
    assert_eq!(
        reply.json()["reason"],
        Value::from("Conflict"),
        "{}",
        reply.body
    );
    assert_eq!(
        before,
        snapshot(&controller),
        "a stale update changed the store"
    );
    assert_eq!(greeting(&controller), "hello");
}

#[test]
fn restarts_and_kill9_keep_acknowledged_state() {
    let tmp = temp_dir("e2e-restart");
    let mut controller = controller_with_examples(&tmp.path().join("c"));
    let before = snapshot(&controller);

    controller.stop();
    controller.restart();
    assert_eq!(
        before,
        snapshot(&controller),
        "a clean restart changed the objects"
    );

    // A write acknowledged just before SIGKILL survives it.
    controller
        .edgectl(&[
            "create",
            "configmap",
            "acked",
            "-n",
            "demo",
            "--from-literal=k=v",
        ])
        .success()
        .stdout_has(&["configmap/acked created"]);
    controller.kill9();
    controller.restart();
    controller
        .edgectl(&[
            "get",
            "cm",
            "acked",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.k}",
        ])
        .success()
        .stdout_has(&["v"]);
    assert_eq!(
        before["demo"].as_array().map(Vec::len).unwrap_or(0) + 1,
        items(&controller, &["deploy,svc,cm", "-n", "demo"])
            .as_array()
            .map(Vec::len)
            .unwrap_or(0),
        "after kill -9 the demo namespace should hold the examples plus `acked`"
    );
    // And the controller still takes writes after the crash.
    controller
        .edgectl(&["scale", "deploy", "web", "-n", "demo", "--replicas=3"])
        .success();
    controller
        .edgectl(&[
            "get",
            "deploy",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .success()
        .stdout_has(&["3"]);
}

#[test]
fn delete_and_namespace_deletion_remove_objects() {
    let tmp = temp_dir("e2e-delete");
    let controller = controller_with_examples(&tmp.path().join("c"));

    controller
        .edgectl(&["delete", "svc", "web", "-n", "demo"])
        .success()
        .stdout_has(&["service \"web\" deleted"]);
    controller
        .edgectl(&["get", "svc", "web", "-n", "demo"])
        .failure()
        .stderr_has("not found");
    let configmap = examples_dir().join("configmap.yaml").display().to_string();
    controller
        .edgectl(&["delete", "-f", &configmap])
        .success()
        .stdout_has(&["configmap \"web-config\" deleted"]);
    controller
        .edgectl(&["delete", "deploy", "-l", "app=web", "-n", "demo"])
        .success()
        .stdout_has(&["deployment.apps \"web\" deleted"]);
    assert_eq!(
        names(&controller, &["deploy,svc,cm", "-n", "demo"]),
        set(&[])
    );

    // Deleting a namespace removes what is in it.
    controller
        .edgectl(&["apply", "-f", &examples_dir().display().to_string()])
        .success();
    assert_eq!(
        names(&controller, &["deploy,svc,cm", "-n", "demo"]).len(),
        3
    );
    controller
        .edgectl(&["delete", "namespace", "demo"])
        .success()
        .stdout_has(&["namespace \"demo\" deleted"]);
    let lists = [
        "/apis/apps/v1/namespaces/demo/deployments",
        "/api/v1/namespaces/demo/services",
        "/api/v1/namespaces/demo/configmaps",
    ];
    let gone = poll(Duration::from_secs(30), || {
        let namespace_gone = controller
            .admin_request("GET", "/api/v1/namespaces/demo", None)
            .status
            == 404;
        let empty = lists.iter().all(|path| {
            let reply = controller.admin_request("GET", path, None);
            reply.status == 200 && reply.json()["items"].as_array().is_some_and(Vec::is_empty)
        });
        (namespace_gone && empty).then_some(())
    });
    assert!(
        gone.is_some(),
        "namespace demo or its contents still exist 30 s after deletion:\n{}",
        controller
            .edgectl(&["get", "ns,deploy,svc,cm", "-A"])
            .report()
    );
    controller
        .edgectl(&["get", "ns", "demo"])
        .failure()
        .stderr_has("not found");
}

#[test]
fn backup_restores_the_objects_on_a_new_controller() {
    let tmp = temp_dir("e2e-backup");
    let controller = controller_with_examples(&tmp.path().join("c"));
    let before = snapshot(&controller);
    let file = tmp.path().join("cluster.backup");
    controller
        .edgectl(&["backup", "save", &file.display().to_string()])
        .success();
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "backup save wrote no bytes to {}", file.display());

    let file_arg = file.display().to_string();
    let restored = Controller::start_with(
        &tmp.path().join("restored"),
        free_port(),
        &["--restore", &file_arg],
    );
    assert_eq!(
        before,
        snapshot(&restored),
        "the restored controller does not show the backed-up objects"
    );
    // The restored controller is a working cluster, not a read-only copy.
    restored
        .edgectl(&[
            "create",
            "configmap",
            "after-restore",
            "-n",
            "demo",
            "--from-literal=a=b",
        ])
        .success();
}

#[test]
fn authentication_and_authorisation() {
    let tmp = temp_dir("e2e-auth");
    let controller = Controller::start(&tmp.path().join("c"), free_port());

    // Anonymous: health endpoints only.
    for path in ["/healthz", "/livez", "/readyz"] {
        controller
            .request_insecure("GET", path, &ClientAuth::Anonymous)
            .expect_status(200);
    }
    for path in [
        "/api/v1/namespaces",
        "/metrics",
        "/apis/apps/v1/deployments",
    ] {
        controller
            .request_insecure("GET", path, &ClientAuth::Anonymous)
            .expect_status(401);
    }

    // A certificate from a foreign CA, even one claiming system:masters, gets nothing.
    let (cert, key) = foreign_client_certificate(&tmp.path().join("foreign"));
    let reply = controller.request_insecure(
        "GET",
        "/api/v1/namespaces",
        &ClientAuth::Certificate { cert, key },
    );
    eprintln!(
        "foreign certificate: HTTP {} {}",
        reply.status,
        reply.run.stderr.trim()
    );
    assert!(
        reply.status == 0 || reply.status == 401,
        "a foreign client certificate must fail the TLS handshake or get 401, got HTTP {}\n{}",
        reply.status,
        reply.run.report()
    );

    // The view role reads but does not write, and does not read secrets.
    let view = tmp.path().join("view.conf");
    controller
        .edgectl(&[
            "kubeconfig",
            "user",
            "--name",
            "v",
            "--role",
            "view",
            "-o",
            &view.display().to_string(),
        ])
        .success();
    controller
        .edgectl_as(&view, &["get", "ns"])
        .success()
        .stdout_has(&["default", "kube-system"]);
    controller.edgectl_as(&view, &["get", "cm", "-A"]).success();
    controller
        .edgectl_as(&view, &["create", "namespace", "nope"])
        .failure()
        .stderr_has("forbidden");
    controller
        .edgectl_as(&view, &["get", "secrets", "-n", "kube-system"])
        .failure()
        .stderr_has("forbidden");
    controller
        .edgectl(&["get", "ns", "nope"])
        .failure()
        .stderr_has("not found");
    let view_creds = edge_e2e::KubeconfigCredentials::extract(&view, &tmp.path().join("view-pem"));
    controller
        .request_insecure(
            "POST",
            "/api/v1/namespaces",
            &ClientAuth::Certificate {
                cert: view_creds.cert,
                key: view_creds.key,
            },
        )
        .expect_status(403);

    // An expired bootstrap token is refused, and the refusal says why.
    let token = controller
        .edgectl(&["token", "create", "--ttl", "1s"])
        .success()
        .stdout
        .trim()
        .to_string();
    let (id, secret) = token
        .split_once('.')
        .unwrap_or_else(|| panic!("`token create` printed {token:?}, not ID.SECRET"));
    assert!(
        id.len() == 6 && secret.len() == 16,
        "malformed token {token:?}"
    );
    controller
        .edgectl(&["token", "list"])
        .success()
        .stdout_has(&["TOKEN-ID", id]);
    std::thread::sleep(Duration::from_secs(2));
    let reply = controller
        .request_insecure(
            "GET",
            "/api/v1/namespaces",
            &ClientAuth::Bearer(token.clone()),
        )
        .expect_status(401);
    assert!(
        reply.body.contains("expired"),
        "the 401 does not say the token expired: {}",
        reply.body
    );
    controller.edgectl(&["token", "delete", id]).success();
    let listed = controller.edgectl(&["token", "list"]).success();
    assert!(
        !listed.stdout.contains(id),
        "token {id} still listed\n{}",
        listed.report()
    );

    // Metrics, for the administrator.
    controller.edgectl(&["get", "ns"]).success();
    let metrics = controller.metrics();
    assert!(
        metrics.contains("apiserver_request_total{"),
        "/metrics has no apiserver_request_total:\n{metrics}"
    );
    assert!(
        metrics.contains("edgeplane_store_is_leader 1"),
        "a single controller should lead its store:\n{metrics}"
    );
}

#[test]
fn binding_assigns_a_pending_pod_once() {
    let tmp = temp_dir("e2e-binding");
    let controller = Controller::start(&tmp.path().join("c"), free_port());
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},
        "spec":{"containers":[{"name":"app","image":"registry.local/app:1"}]}}"#;
    controller
        .admin_request("POST", "/api/v1/namespaces/default/pods", Some(pod))
        .expect_status(201);
    let binding_path = "/api/v1/namespaces/default/pods/web/binding";

    // Malformed bindings are refused and leave the pod unbound.
    for (body, status) in [
        (r#"{"target":{}}"#, 422),
        (r#"{"target":{"kind":"Pod","name":"edge-1"}}"#, 422),
        (
            r#"{"metadata":{"name":"other"},"target":{"name":"edge-1"}}"#,
            400,
        ),
        ("{not json", 400),
    ] {
        controller
            .admin_request("POST", binding_path, Some(body))
            .expect_status(status);
    }
    controller
        .admin_request(
            "POST",
            "/api/v1/namespaces/default/pods/absent/binding",
            Some(r#"{"target":{"name":"edge-1"}}"#),
        )
        .expect_status(404);
    let unbound = controller
        .admin_request("GET", "/api/v1/namespaces/default/pods/web", None)
        .expect_status(200)
        .json();
    assert!(unbound.pointer("/spec/nodeName").is_none(), "{unbound}");

    let binding = r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},
        "target":{"apiVersion":"v1","kind":"Node","name":"edge-1"}}"#;
    controller
        .admin_request("POST", binding_path, Some(binding))
        .expect_status(201);
    let bound = controller
        .admin_request("GET", "/api/v1/namespaces/default/pods/web", None)
        .expect_status(200)
        .json();
    assert_eq!(bound["spec"]["nodeName"], "edge-1", "{bound}");
    let scheduled = bound["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(scheduled["status"], "True", "{bound}");

    // A bound pod is never moved by a second binding.
    let again = controller
        .admin_request(
            "POST",
            binding_path,
            Some(r#"{"target":{"name":"edge-2"}}"#),
        )
        .expect_status(409);
    assert!(
        again.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("already assigned to node \"edge-1\"")),
        "{}",
        again.json()
    );
    let still = controller
        .admin_request("GET", "/api/v1/namespaces/default/pods/web", None)
        .json();
    assert_eq!(still["spec"]["nodeName"], "edge-1");
}
