//! The real `kubectl` against a controller, with the controller's own `admin.conf`.

use std::os::unix::fs::PermissionsExt;

use edge_e2e::{Controller, examples_dir, free_port, kubectl_binary, temp_dir};

fn sorted_lines(stdout: &str) -> Vec<String> {
    let mut lines: Vec<String> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn second_expected() -> Vec<&'static str> {
    vec![
        "configmap/web-config unchanged",
        "deployment.apps/web unchanged",
        "namespace/demo unchanged",
        "service/web unchanged",
    ]
}

#[test]
fn kubectl_drives_the_controller() {
    // Fail loudly, before starting anything, when kubectl is missing.
    let kubectl = kubectl_binary();
    eprintln!("using {}", kubectl.display());
    let tmp = temp_dir("e2e-kubectl");
    let controller = Controller::start(&tmp.path().join("c"), free_port());
    let examples = examples_dir();
    let examples_arg = examples.display().to_string();

    controller
        .kubectl(&["version"])
        .success()
        .stdout_has(&["Client Version:", "Server Version:"]);
    controller
        .kubectl(&["api-resources"])
        .success()
        .stdout_has(&[
            "NAME",
            "namespaces",
            "configmaps",
            "deployments",
            "apps/v1",
            "services",
        ]);
    let versions = controller.kubectl(&["api-versions"]).success();
    let versions_lines = sorted_lines(&versions.stdout);
    for expected in ["v1", "apps/v1"] {
        assert!(
            versions_lines.iter().any(|l| l == expected),
            "api-versions lacks {expected}\n{}",
            versions.report()
        );
    }
    controller.kubectl(&["get", "ns"]).success().stdout_has(&[
        "NAME",
        "STATUS",
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "Active",
    ]);

    // The namespace first: `apply -f DIR` goes in file-name order.
    let namespace = examples.join("namespace.yaml").display().to_string();
    controller
        .kubectl(&["apply", "-f", &namespace])
        .success()
        .stdout_has(&["namespace/demo created"]);
    let first = controller
        .kubectl(&["apply", "-f", &examples_arg])
        .success();
    assert_eq!(
        sorted_lines(&first.stdout),
        vec![
            "configmap/web-config created",
            "deployment.apps/web created",
            "namespace/demo unchanged",
            "service/web created",
        ],
        "{}",
        first.report()
    );
    let second = controller
        .kubectl(&["apply", "-f", &examples_arg])
        .success();
    assert_eq!(
        sorted_lines(&second.stdout),
        second_expected(),
        "{}",
        second.report()
    );

    // Both tools record the same last-applied bytes, so neither sees a change after the other.
    let edgectl_after = controller
        .edgectl(&["apply", "-f", &examples_arg])
        .success();
    assert_eq!(
        sorted_lines(&edgectl_after.stdout),
        second_expected(),
        "{}",
        edgectl_after.report()
    );
    let configmap_arg = examples.join("configmap.yaml").display().to_string();
    controller
        .kubectl(&["delete", "-f", &configmap_arg])
        .success();
    controller
        .edgectl(&["apply", "-f", &configmap_arg])
        .success()
        .stdout_has(&["configmap/web-config created"]);
    let kubectl_after = controller
        .kubectl(&["apply", "-f", &examples_arg])
        .success();
    assert_eq!(
        sorted_lines(&kubectl_after.stdout),
        second_expected(),
        "kubectl must find edgectl's apply unchanged\n{}",
        kubectl_after.report()
    );

    controller
        .kubectl(&["get", "deploy", "-n", "demo"])
        .success()
        .stdout_has(&["NAME", "READY", "web"]);
    controller
        .kubectl(&["get", "deploy", "web", "-n", "demo", "-o", "yaml"])
        .success()
        .stdout_has(&[
            "kind: Deployment",
            "name: web",
            "namespace: demo",
            "resourceVersion:",
            "replicas: 2",
            "image: nginx",
        ]);
    controller
        .kubectl(&["describe", "deploy", "web", "-n", "demo"])
        .success()
        .stdout_has(&["Name:", "web", "Namespace:", "demo", "Replicas:", "nginx"]);

    controller
        .kubectl(&["label", "deploy", "web", "-n", "demo", "tier=frontend"])
        .success()
        .stdout_has(&["deployment.apps/web labeled"]);
    let labelled = controller
        .kubectl(&[
            "get",
            "deploy",
            "-n",
            "demo",
            "-l",
            "tier=frontend",
            "-o",
            "name",
        ])
        .success();
    assert_eq!(
        sorted_lines(&labelled.stdout),
        vec!["deployment.apps/web"],
        "{}",
        labelled.report()
    );

    controller
        .kubectl(&["scale", "deploy", "web", "-n", "demo", "--replicas=3"])
        .success()
        .stdout_has(&["deployment.apps/web scaled"]);
    let replicas = controller
        .kubectl(&[
            "get",
            "deploy",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .success();
    assert_eq!(replicas.stdout.trim(), "3", "{}", replicas.report());

    // `kubectl edit` with a non-interactive editor.
    let editor = tmp.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nexec sed -i 's/GREETING: hello/GREETING: edited/' \"$1\"\n",
    )
    .unwrap_or_else(|err| panic!("cannot write {}: {err}", editor.display()));
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", editor.display()));
    let editor_arg = editor.display().to_string();
    controller
        .kubectl_env(
            &["edit", "cm", "web-config", "-n", "demo"],
            &[
                ("EDITOR", editor_arg.as_str()),
                ("KUBE_EDITOR", editor_arg.as_str()),
            ],
        )
        .success()
        .stdout_has(&["configmap/web-config edited"]);
    let greeting = controller
        .kubectl(&[
            "get",
            "cm",
            "web-config",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.GREETING}",
        ])
        .success();
    assert_eq!(greeting.stdout.trim(), "edited", "{}", greeting.report());

    controller
        .kubectl(&["get", "--raw", "/metrics"])
        .success()
        .stdout_has(&["apiserver_request_total"]);

    let configmap = examples.join("configmap.yaml").display().to_string();
    controller
        .kubectl(&["delete", "-f", &configmap])
        .success()
        .stdout_has(&["configmap \"web-config\" deleted"]);
    let remaining = controller.kubectl(&["get", "cm", "-n", "demo"]).success();
    assert!(
        !remaining.stdout.contains("web-config"),
        "web-config is still listed after delete\n{}",
        remaining.report()
    );

    // kubectl waits for the namespace to be gone before it returns.
    controller
        .kubectl(&["delete", "ns", "demo"])
        .success()
        .stdout_has(&["namespace \"demo\" deleted"]);
    controller
        .kubectl(&["get", "ns", "demo"])
        .failure()
        .stderr_has("not found");
    let leftover = controller.kubectl(&["get", "deploy,svc,cm", "-n", "demo", "-o", "name"]);
    assert!(
        leftover.stdout.trim().is_empty(),
        "objects of the deleted namespace remain\n{}",
        leftover.report()
    );

    // kubectl's generator verbs send protobuf bodies.
    controller
        .kubectl(&["create", "namespace", "pb"])
        .success()
        .stdout_has(&["namespace/pb created"]);
    let creates: [&[&str]; 3] = [
        &[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=edge",
        ],
        &[
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=key=s3cret",
        ],
        &[
            "create",
            "deployment",
            "idle",
            "--image=registry.local/idle:1",
            "--replicas=0",
        ],
    ];
    for args in creates {
        let args = [args, &["-n", "pb"]].concat();
        controller.kubectl(&args).success().stdout_has(&["created"]);
    }
    let jsonpath = |args: &[&str]| controller.kubectl(args).success().stdout;
    assert_eq!(
        jsonpath(&[
            "get",
            "cm",
            "settings",
            "-n",
            "pb",
            "-o",
            "jsonpath={.data.mode}"
        ]),
        "edge"
    );
    assert_eq!(
        jsonpath(&[
            "get",
            "secret",
            "token",
            "-n",
            "pb",
            "-o",
            "jsonpath={.data.key}"
        ]),
        "czNjcmV0"
    );
    assert_eq!(
        jsonpath(&[
            "get",
            "deploy",
            "idle",
            "-n",
            "pb",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.strategy.type}",
        ]),
        "0 registry.local/idle:1 RollingUpdate"
    );
}
