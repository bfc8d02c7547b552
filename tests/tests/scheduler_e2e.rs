//! The scheduler end to end: a real controller and two real agents on 127.0.0.1. Pods without a
//! node are placed by their node selectors and run; a pod that fits nowhere says why (the
//! `PodScheduled` condition and a `FailedScheduling` Event) and is placed as soon as a node
//! changes so that it fits; a cordoned node takes no new pods; a Wasm image named without a
//! runtime class is recognised from the built-in registry.

use std::time::Duration;

use edge_e2e::{Agent, Controller, free_port, poll, push_example, temp_dir};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

fn pod(name: &str, image: &str, node_selector: Value, runtime_class: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeSelector": node_selector,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "hello", "image": image}],
        }
    });
    if let Some(class) = runtime_class {
        pod["spec"]["runtimeClassName"] = json!(class);
    }
    pod
}

fn get_pod(controller: &Controller, name: &str) -> Value {
    controller
        .edgectl(&["get", "pod", name, "-o", "json"])
        .success()
        .json()
}

#[track_caller]
fn wait_pod(
    controller: &Controller,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    match poll(WAIT, || {
        Some(get_pod(controller, name)).filter(|p| check(p))
    }) {
        Some(pod) => pod,
        None => panic!(
            "pod {name}: {what} not reached; last: {:#}\n--- controller log ---\n{}",
            get_pod(controller, name),
            controller.log_tail(40)
        ),
    }
}

fn condition<'a>(pod: &'a Value, kind: &str) -> Option<&'a Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[test]
fn pods_are_placed_by_fit_and_unschedulable_ones_say_why() {
    let tmp = temp_dir("e2e-scheduler");
    let controller = Controller::start(&tmp.path().join("controller"), free_port());
    let _a = Agent::join(&controller, &tmp.path().join("a"), "edge-a");
    let _b = Agent::join(&controller, &tmp.path().join("b"), "edge-b");
    let hello = push_example(&controller, "hello-http", "examples/hello:v1");
    controller
        .edgectl(&["label", "node", "edge-b", "tier=gateway"])
        .success();

    // A selector picks the node; no runtime class: the registry says the image is Wasm.
    let apply = |object: &Value| {
        controller
            .edgectl_stdin(&["apply", "-f", "-"], &object.to_string())
            .success();
    };
    apply(&pod("picky", &hello, json!({"tier": "gateway"}), None));
    let placed = wait_pod(&controller, "picky", "Running on edge-b", |p| {
        p["status"]["phase"] == "Running"
    });
    assert_eq!(placed["spec"]["nodeName"], "edge-b");
    let scheduled = condition(&placed, "PodScheduled").expect("PodScheduled condition");
    assert_eq!(scheduled["status"], "True");

    // Nothing matches: the pod stays pending and says why, per node.
    apply(&pod(
        "nowhere",
        &hello,
        json!({"tier": "core"}),
        Some("wasm"),
    ));
    let pending = wait_pod(&controller, "nowhere", "PodScheduled=False", |p| {
        condition(p, "PodScheduled").is_some_and(|c| c["status"] == "False")
    });
    let reason = condition(&pending, "PodScheduled").expect("condition");
    assert_eq!(reason["reason"], "Unschedulable");
    assert_eq!(
        reason["message"],
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    assert!(pending["spec"]["nodeName"].is_null());
    let events = poll(WAIT, || {
        let list = controller
            .admin_request(
                "GET",
                "/api/v1/namespaces/default/events?fieldSelector=reason%3DFailedScheduling",
                None,
            )
            .expect_status(200)
            .json();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        items
            .into_iter()
            .find(|e| e["involvedObject"]["name"] == "nowhere")
    });
    let event = events.unwrap_or_else(|| {
        let all = controller
            .admin_request("GET", "/api/v1/namespaces/default/events", None)
            .json();
        panic!("no FailedScheduling event for nowhere: {all:#}")
    });
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["source"]["component"], "default-scheduler");

    // Labelling a node so that it fits places the waiting pod there.
    controller
        .edgectl(&["label", "node", "edge-a", "tier=core"])
        .success();
    let placed = wait_pod(&controller, "nowhere", "bound", |p| {
        p["spec"]["nodeName"] == "edge-a"
    });
    assert_eq!(
        condition(&placed, "PodScheduled").expect("condition")["status"],
        "True"
    );

    // A cordoned node takes no new pods: everything lands on the other one.
    controller
        .edgectl(&[
            "patch",
            "node",
            "edge-b",
            "-p",
            r#"{"spec":{"unschedulable":true}}"#,
        ])
        .success();
    for i in 0..4 {
        apply(&pod(
            &format!("spread-{i}"),
            &hello,
            json!({}),
            Some("wasm"),
        ));
    }
    for i in 0..4 {
        let p = wait_pod(&controller, &format!("spread-{i}"), "bound", |p| {
            p["spec"]["nodeName"].is_string()
        });
        assert_eq!(p["spec"]["nodeName"], "edge-a", "spread-{i}");
    }
}
