//! `top` end to end: a real controller and a real `edge-agent` running a Wasm HTTP pod; the
//! usage the agent reports with its heartbeats reaches `edgectl top` and the real `kubectl top`
//! through the `metrics.k8s.io/v1beta1` API, and is gone once the agent's session ends.

use std::time::Duration;

use edge_e2e::{Agent, Controller, Run, free_port, poll, push_example, temp_dir};
use serde_json::{Value, json};

/// Heartbeats every second, so that usage arrives within a test.
const FAST_NODES: &[&str] = &["--node-grace-period", "6s", "--node-heartbeat", "1s"];
const WAIT: Duration = Duration::from_secs(90);
const NODE: &str = "top-node";

/// Runs `command` until it succeeds with every one of `needles` on stdout; panics with the last
/// run and both logs otherwise.
#[track_caller]
fn wait_for(
    controller: &Controller,
    agent: &Agent,
    what: &str,
    command: impl Fn() -> Run,
    needles: &[&str],
) -> Run {
    let found = poll(WAIT, || {
        let run = command();
        (run.code == Some(0) && needles.iter().all(|n| run.stdout.contains(n))).then_some(run)
    });
    match found {
        Some(run) => run,
        None => panic!(
            "{what}: no success with {needles:?} in {WAIT:?}\n{}\n--- agent log ---\n{}\n--- controller log ---\n{}",
            command().report(),
            agent.log_tail(40),
            controller.log_tail(40)
        ),
    }
}

/// The data line of `name` in a table printed by `top`, split into cells.
#[track_caller]
fn row(run: &Run, name: &str) -> Vec<String> {
    run.stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cells| cells.iter().any(|c| c == name))
        .unwrap_or_else(|| panic!("no row for {name}\n{}", run.report()))
}

#[track_caller]
fn assert_units(cells: &[String], cpu: usize, memory: usize, run: &Run) {
    let (cpu, memory) = (&cells[cpu], &cells[memory]);
    let number = |s: &str, unit: &str| {
        s.strip_suffix(unit)
            .is_some_and(|n| n.parse::<u64>().is_ok())
    };
    assert!(
        number(cpu, "m"),
        "CPU {cpu:?} is not in millicores\n{}",
        run.report()
    );
    assert!(
        number(memory, "Mi"),
        "memory {memory:?} is not in MiB\n{}",
        run.report()
    );
}

#[test]
fn top_shows_node_and_pod_usage_to_edgectl_and_kubectl() {
    let tmp = temp_dir("e2e-agent-top");
    let controller =
        Controller::start_with(&tmp.path().join("controller"), free_port(), FAST_NODES);
    let mut agent = Agent::join(&controller, &tmp.path().join("agent"), NODE);

    // Discovery offers the metrics API where kubectl looks for it.
    controller
        .kubectl(&["api-versions"])
        .success()
        .stdout_has(&["metrics.k8s.io/v1beta1"]);
    controller
        .kubectl(&["api-resources", "--api-group", "metrics.k8s.io"])
        .success()
        .stdout_has(&["NodeMetrics", "PodMetrics"]);

    // No pods: nothing to show, and no error.
    controller
        .edgectl(&["top", "pods"])
        .success()
        .stderr_has("No resources found in default namespace.");

    // The node, from its heartbeats.
    let nodes = wait_for(
        &controller,
        &agent,
        "edgectl top nodes",
        || controller.edgectl(&["top", "nodes"]),
        &[NODE],
    );
    assert!(
        nodes.stdout.starts_with("NAME ") && nodes.stdout.contains("CPU(%)"),
        "{}",
        nodes.report()
    );
    let cells = row(&nodes, NODE);
    assert_eq!(cells.len(), 5, "{}", nodes.report());
    assert_units(&cells, 1, 3, &nodes);
    assert!(
        cells[2].ends_with('%') && cells[4].ends_with('%'),
        "{}",
        nodes.report()
    );
    controller
        .edgectl(&["top", "node", NODE])
        .success()
        .stdout_has(&[NODE]);
    controller
        .edgectl(&[
            "top",
            "nodes",
            "-l",
            &format!("kubernetes.io/hostname={NODE}"),
        ])
        .success()
        .stdout_has(&[NODE]);
    controller
        .edgectl(&["top", "nodes", "-l", "kubernetes.io/hostname=elsewhere"])
        .failure()
        .stderr_has("metrics not available yet");
    controller
        .edgectl(&["top", "node", "nope"])
        .failure()
        .stderr_has("nodemetrics.metrics.k8s.io \"nope\" not found");
    let kubectl_nodes = wait_for(
        &controller,
        &agent,
        "kubectl top node",
        || controller.kubectl(&["top", "node"]),
        &[NODE, "CPU(cores)", "MEMORY(%)"],
    );
    assert_units(&row(&kubectl_nodes, NODE), 1, 3, &kubectl_nodes);

    // A Wasm HTTP pod.
    let image = push_example(&controller, "hello-http", "examples/hello:v1");
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hello", "namespace": "default", "labels": {"app": "hello"}},
        "spec": {
            "nodeName": NODE,
            "runtimeClassName": "wasm",
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]
        }
    });
    controller
        .edgectl_stdin(&["apply", "-f", "-"], &pod.to_string())
        .success();

    let pods = wait_for(
        &controller,
        &agent,
        "edgectl top pods",
        || controller.edgectl(&["top", "pods"]),
        &["hello"],
    );
    assert!(pods.stdout.starts_with("NAME "), "{}", pods.report());
    assert_units(&row(&pods, "hello"), 1, 2, &pods);
    let all = controller.edgectl(&["top", "pods", "-A"]).success();
    assert_eq!(row(&all, "hello")[0], "default", "{}", all.report());
    assert!(all.stdout.starts_with("NAMESPACE "), "{}", all.report());
    let containers = controller
        .edgectl(&["top", "pods", "hello", "--containers"])
        .success();
    assert!(
        containers.stdout.starts_with("POD "),
        "{}",
        containers.report()
    );
    assert_eq!(row(&containers, "web")[..2], ["hello", "web"]);
    controller
        .edgectl(&["top", "pods", "-l", "app=hello"])
        .success()
        .stdout_has(&["hello"]);
    controller
        .edgectl(&["top", "pods", "-l", "app=other"])
        .success()
        .stderr_has("No resources found in default namespace.");
    controller
        .edgectl(&["top", "pod", "nope"])
        .failure()
        .stderr_has("podmetrics.metrics.k8s.io \"default/nope\" not found");

    // The objects themselves, as metrics-server shapes them.
    let metrics = controller
        .admin_request(
            "GET",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/hello",
            None,
        )
        .expect_status(200)
        .json();
    assert_eq!(metrics["kind"], "PodMetrics", "{metrics:#}");
    assert_eq!(metrics["metadata"]["labels"], json!({"app": "hello"}));
    assert_eq!(metrics["containers"][0]["name"], "web", "{metrics:#}");
    for resource in ["cpu", "memory"] {
        assert!(
            metrics["containers"][0]["usage"][resource].is_string(),
            "{metrics:#}"
        );
    }
    assert!(metrics["timestamp"].is_string() && metrics["window"].is_string());
    let listed = controller
        .admin_request(
            "GET",
            &format!(
                "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=kubernetes.io/hostname%3D{NODE}"
            ),
            None,
        )
        .expect_status(200)
        .json();
    assert_eq!(listed["kind"], "NodeMetricsList", "{listed:#}");
    let names: Vec<&Value> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| &n["metadata"]["name"])
        .collect();
    assert_eq!(names, [&json!(NODE)], "{listed:#}");

    // The real kubectl.
    let kubectl_pods = wait_for(
        &controller,
        &agent,
        "kubectl top pod",
        || controller.kubectl(&["top", "pod"]),
        &["hello", "CPU(cores)", "MEMORY(bytes)"],
    );
    assert_units(&row(&kubectl_pods, "hello"), 1, 2, &kubectl_pods);
    controller
        .kubectl(&["top", "pod", "hello", "--containers"])
        .success()
        .stdout_has(&["POD", "hello", "web"]);
    controller
        .kubectl(&["top", "pod", "-A", "-l", "app=hello"])
        .success()
        .stdout_has(&["NAMESPACE", "default", "hello"]);

    // The view role may read metrics.
    let view = tmp.path().join("view.conf");
    controller
        .edgectl(&[
            "kubeconfig",
            "user",
            "--name",
            "watcher",
            "--role",
            "view",
            "-o",
            &view.display().to_string(),
        ])
        .success();
    controller
        .edgectl_as(&view, &["top", "pods"])
        .success()
        .stdout_has(&["hello"]);
    controller
        .edgectl_as(&view, &["top", "nodes"])
        .success()
        .stdout_has(&[NODE]);

    // A deleted pod's metrics go with it.
    controller
        .edgectl(&["delete", "pod", "hello", "--wait=false"])
        .success();
    let gone = poll(WAIT, || {
        let run = controller.edgectl(&["top", "pod", "hello"]);
        (run.code == Some(1) && run.stderr.contains("not found")).then_some(run)
    });
    assert!(
        gone.is_some(),
        "{}",
        controller.edgectl(&["top", "pod", "hello"]).report()
    );

    // Once the agent's session ends, its node has no metrics.
    agent.stop();
    let forgotten = poll(WAIT, || {
        let run = controller.edgectl(&["top", "nodes"]);
        (run.code == Some(1) && run.stderr.contains("metrics not available yet")).then_some(run)
    });
    assert!(
        forgotten.is_some(),
        "{}\n--- controller log ---\n{}",
        controller.edgectl(&["top", "nodes"]).report(),
        controller.log_tail(30)
    );
}
