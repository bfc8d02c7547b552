//! Workload controllers end to end: a real controller and real agents on 127.0.0.1 running Wasm
//! pods. DaemonSets follow agents as they join; a dead agent's node is tainted and its pods
//! are evicted after the (shortened) eviction timeout, while DaemonSet pods stay.

use std::path::Path;
use std::time::Duration;

use edge_e2e::{Agent, Controller, free_port, poll, push_example, temp_dir};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);
/// Short node timings so that a dead agent is noticed, and its pods evicted, within a test.
const FAST: &[&str] = &[
    "--node-grace-period",
    "6s",
    "--node-heartbeat",
    "1s",
    "--pod-eviction-timeout",
    "5s",
];

fn start(dir: &Path) -> Controller {
    Controller::start_with(dir, free_port(), FAST)
}

fn apply(controller: &Controller, object: &Value) {
    controller
        .edgectl_stdin(&["apply", "-f", "-"], &object.to_string())
        .success();
}

/// The pods in `default` with label `app=APP`.
fn pods(controller: &Controller, app: &str) -> Vec<Value> {
    let out = controller.edgectl(&["get", "pods", "-l", &format!("app={app}"), "-o", "json"]);
    if out.code != Some(0) {
        return Vec::new();
    }
    out.json()["items"].as_array().cloned().unwrap_or_default()
}

fn running_on(pods: &[Value]) -> Vec<String> {
    let mut nodes: Vec<String> = pods
        .iter()
        .filter(|p| {
            p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    nodes
}

#[track_caller]
fn wait_for<T>(controller: &Controller, what: &str, check: impl FnMut() -> Option<T>) -> T {
    match poll(WAIT, check) {
        Some(value) => value,
        None => panic!(
            "{what}: not reached in {WAIT:?}\n--- controller log ---\n{}",
            controller.log_tail(60)
        ),
    }
}

fn wasm_template(app: &str, image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {
            "runtimeClassName": "wasm",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "hello", "image": image}],
        }
    })
}

#[test]
fn daemonset_follows_agents_and_a_dead_node_evicts_its_pods() {
    let tmp = temp_dir("e2e-daemonset");
    let controller = start(&tmp.path().join("controller"));
    let _a = Agent::join(&controller, &tmp.path().join("a"), "edge-a");
    let _b = Agent::join(&controller, &tmp.path().join("b"), "edge-b");
    let hello = push_example(&controller, "hello-http", "examples/hello:v1");
    apply(
        &controller,
        &json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "relay", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "relay"}},
                "template": wasm_template("relay", &hello),
            }
        }),
    );
    wait_for(&controller, "a relay pod on each of two nodes", || {
        (running_on(&pods(&controller, "relay")) == ["edge-a", "edge-b"]).then_some(())
    });

    // A third agent joins: the set follows it.
    let mut c = Agent::join(&controller, &tmp.path().join("c"), "edge-c");
    wait_for(&controller, "a relay pod on the third node", || {
        (running_on(&pods(&controller, "relay")) == ["edge-a", "edge-b", "edge-c"]).then_some(())
    });
    let status = controller
        .edgectl(&["get", "daemonset", "relay", "-o", "json"])
        .success()
        .json()["status"]
        .clone();
    assert_eq!(status["desiredNumberScheduled"], 3, "{status:#}");

    // A plain pod on edge-c, then edge-c dies: after the grace period its node is tainted
    // unreachable; after the eviction timeout the plain pod is deleted, the relay pod stays.
    let mut single = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "single", "namespace": "default", "labels": {"app": "single"}},
        "spec": wasm_template("single", &hello)["spec"].clone(),
    });
    single["spec"]["nodeName"] = json!("edge-c");
    apply(&controller, &single);
    wait_for(&controller, "the single pod running", || {
        (running_on(&pods(&controller, "single")) == ["edge-c"]).then_some(())
    });
    c.kill9();
    wait_for(&controller, "the single pod evicted", || {
        let pods = pods(&controller, "single");
        pods.iter()
            .all(|p| !p["metadata"]["deletionTimestamp"].is_null())
            .then_some(())
    });
    let relay_on_c = pods(&controller, "relay")
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == "edge-c")
        .collect::<Vec<_>>();
    assert_eq!(relay_on_c.len(), 1, "the DaemonSet pod stays on its node");
    assert!(
        relay_on_c[0]["metadata"]["deletionTimestamp"].is_null(),
        "the DaemonSet pod is not evicted"
    );
    let events = controller
        .admin_request("GET", "/api/v1/namespaces/default/events", None)
        .expect_status(200)
        .json();
    assert!(
        events["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["reason"] == "TaintManagerEviction"
                && e["involvedObject"]["name"] == "single"),
        "an eviction event: {events:#}"
    );
}
