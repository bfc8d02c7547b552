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

    // A new image rolls out to every node and is recorded as a revision; undo goes back.
    let v2 = push_example(&controller, "hello-http", "examples/hello:v2");
    let rolled_to = |image: &str| {
        let pods = pods(&controller, "relay");
        (images_of(&pods) == [image, image] && ready_count(&pods) == 2).then_some(())
    };
    controller
        .edgectl(&["set", "image", "daemonset/relay", &format!("hello={v2}")])
        .success();
    wait_for(&controller, "the relay pods on v2", || rolled_to(&v2));
    let history = controller
        .edgectl(&["rollout", "history", "daemonset/relay"])
        .success()
        .stdout;
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );
    controller
        .edgectl(&["rollout", "undo", "daemonset/relay"])
        .success();
    wait_for(&controller, "the relay pods back on v1", || {
        rolled_to(&hello)
    });
    let revisions = get_json(&controller, &["get", "controllerrevisions", "-o", "json"])
        .expect("controllerrevisions");
    let mut numbers: Vec<i64> = revisions["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["revision"].as_i64())
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        [2, 3],
        "the first revision is the newest again: {revisions:#}"
    );

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

/// Pods of `app` that are Ready and not terminating.
fn ready_count(pods: &[Value]) -> usize {
    pods.iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count()
}

fn images_of(pods: &[Value]) -> Vec<String> {
    let mut images: Vec<String> = pods
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    images.sort();
    images
}

fn deployment(image: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
            "template": wasm_template("web", image),
        }
    })
}

#[test]
fn deployment_scales_replaces_rolls_out_rolls_back_and_survives_a_dead_node() {
    let tmp = temp_dir("e2e-deployment");
    let controller = start(&tmp.path().join("controller"));
    let _a = Agent::join(&controller, &tmp.path().join("a"), "edge-a");
    let mut b = Agent::join(&controller, &tmp.path().join("b"), "edge-b");
    let v1 = push_example(&controller, "hello-http", "examples/hello:v1");
    let v2 = push_example(&controller, "hello-http", "examples/hello:v2");
    let ready = |n: usize| {
        let pods = pods(&controller, "web");
        (ready_count(&pods) == n
            && pods
                .iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .count()
                == n)
            .then_some(pods)
    };

    apply(&controller, &deployment(&v1, 3));
    wait_for(&controller, "3 ready replicas", || ready(3));
    // Spread over both nodes by owner.
    let nodes = running_on(&pods(&controller, "web"));
    assert!(
        nodes.contains(&"edge-a".to_owned()) && nodes.contains(&"edge-b".to_owned()),
        "{nodes:?}"
    );

    // Scale up and down.
    controller
        .edgectl(&["scale", "deployment", "web", "--replicas=5"])
        .success();
    wait_for(&controller, "5 ready replicas", || ready(5));
    controller
        .edgectl(&["scale", "deployment", "web", "--replicas=3"])
        .success();
    wait_for(&controller, "back to 3 replicas", || ready(3));

    // A deleted pod is replaced.
    let victim = pods(&controller, "web")[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    controller
        .edgectl(&["delete", "pod", &victim, "--wait=false"])
        .success();
    wait_for(&controller, "the deleted pod replaced", || {
        ready(3).filter(|pods| {
            pods.iter()
                .all(|p| p["metadata"]["name"] != victim.as_str())
        })
    });

    // Rolling update to v2: never fewer than replicas - maxUnavailable = 2 ready pods.
    apply(&controller, &deployment(&v2, 3));
    let mut lowest = usize::MAX;
    wait_for(&controller, "all pods on v2", || {
        let pods = pods(&controller, "web");
        lowest = lowest.min(ready_count(&pods));
        (images_of(&pods) == [v2.clone(), v2.clone(), v2.clone()] && ready_count(&pods) == 3)
            .then_some(())
    });
    assert!(
        lowest >= 2,
        "during the rollout only {lowest} pods were ready"
    );
    wait_for(
        &controller,
        "the deployment's status settled on 3 updated, available replicas",
        || {
            let status = controller
                .edgectl(&["get", "deployment", "web", "-o", "json"])
                .success()
                .json()["status"]
                .clone();
            (status["updatedReplicas"] == 3
                && status["availableReplicas"] == 3
                && status["replicas"] == 3)
                .then_some(())
        },
    );
    controller
        .kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success()
        .stdout_has(&["successfully rolled out"]);

    // Roll back with the real kubectl: the v1 template comes back.
    controller
        .kubectl(&["rollout", "undo", "deployment/web"])
        .success();
    wait_for(&controller, "all pods back on v1", || {
        let pods = pods(&controller, "web");
        (images_of(&pods) == [v1.clone(), v1.clone(), v1.clone()] && ready_count(&pods) == 3)
            .then_some(())
    });
    let history = controller
        .kubectl(&["rollout", "history", "deployment/web"])
        .success()
        .stdout;
    assert!(
        history.contains('3'),
        "revision 3 after the rollback: {history}"
    );

    // edge-b dies: after the grace period and the eviction timeout its pods are replaced on
    // edge-a.
    b.kill9();
    wait_for(&controller, "3 ready replicas, all on edge-a", || {
        ready(3).filter(|pods| running_on(pods) == ["edge-a", "edge-a", "edge-a"])
    });
}

/// A Job's status and the condition of `kind` ("" when it has none).
fn job_condition(job: &Value, kind: &str) -> String {
    job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .and_then(|c| c["reason"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn get_json(controller: &Controller, args: &[&str]) -> Option<Value> {
    let out = controller.edgectl(args);
    (out.code == Some(0)).then(|| out.json())
}

fn command_job(name: &str, image: &str, args: &[&str], backoff_limit: u32) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {
                "runtimeClassName": "wasm",
                "restartPolicy": "Never",
                "containers": [{"name": "work", "image": image, "args": args}],
            }},
        }
    })
}

#[test]
fn jobs_retry_within_their_backoff_limit_and_cronjobs_fire_every_minute() {
    let tmp = temp_dir("e2e-batch");
    let controller = start(&tmp.path().join("controller"));
    let _a = Agent::join(&controller, &tmp.path().join("a"), "edge-a");
    let command = push_example(&controller, "testdata-command", "testdata/command:v1");

    // The first run fails, the retry (after the 10 s pod-failure backoff) succeeds. The runs
    // are counted in a file on a hostPath that both pods mount.
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let mut flaky = command_job("flaky", &command, &["flaky", "/data/runs", "1"], 3);
    flaky["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "data", "mountPath": "/data"}]);
    flaky["spec"]["template"]["spec"]["volumes"] = json!([{"name": "data",
        "hostPath": {"path": runs.display().to_string(), "type": "Directory"}}]);
    apply(&controller, &flaky);
    // One that never succeeds and may not retry at all.
    apply(
        &controller,
        &command_job("doomed", &command, &["exit", "3"], 0),
    );

    let job = wait_for(&controller, "the flaky job complete", || {
        get_json(&controller, &["get", "job", "flaky", "-o", "json"])
            .filter(|j| !job_condition(j, "Complete").is_empty())
    });
    assert_eq!(job["status"]["succeeded"], 1, "{job:#}");
    assert_eq!(job["status"]["failed"], 1, "{job:#}");
    assert_eq!(
        std::fs::read_to_string(runs.join("runs")).ok().as_deref(),
        Some("2"),
        "ran twice"
    );
    let doomed = wait_for(&controller, "the doomed job failed", || {
        get_json(&controller, &["get", "job", "doomed", "-o", "json"])
            .filter(|j| !job_condition(j, "Failed").is_empty())
    });
    assert_eq!(job_condition(&doomed, "Failed"), "BackoffLimitExceeded");
    assert_eq!(doomed["status"]["failed"], 1, "{doomed:#}");
    // Finished pods keep no tracking finalizer.
    let pods = get_json(&controller, &["get", "pods", "-o", "json"]).expect("pods");
    for pod in pods["items"].as_array().into_iter().flatten() {
        assert!(
            pod["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{pod:#}"
        );
    }
    let table = controller.edgectl(&["get", "jobs"]).success().stdout;
    assert!(table.contains("flaky") && table.contains("1/1"), "{table}");

    // A CronJob on a one-minute schedule creates a Job that runs to completion.
    apply(
        &controller,
        &json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "default"},
            "spec": {
                "schedule": "*/1 * * * *",
                "jobTemplate": {"spec": {"template": {"spec": {
                    "runtimeClassName": "wasm",
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "tick", "image": command, "args": ["exit", "0"]}],
                }}}},
            }
        }),
    );
    let cronjob = poll(Duration::from_secs(150), || {
        get_json(&controller, &["get", "cronjob", "tick", "-o", "json"])
            .filter(|cj| cj["status"]["lastSuccessfulTime"].is_string())
    })
    .unwrap_or_else(|| {
        panic!(
            "the cronjob's first run did not succeed\n{}",
            controller.log_tail(60)
        )
    });
    let jobs = get_json(&controller, &["get", "jobs", "-o", "json"]).expect("jobs");
    let runs: Vec<&Value> = jobs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["metadata"]["ownerReferences"][0]["name"] == "tick")
        .collect();
    assert!(!runs.is_empty(), "{jobs:#}");
    let name = runs[0]["metadata"]["name"].as_str().unwrap_or_default();
    let minutes: i64 = name
        .strip_prefix("tick-")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("job name {name} is tick-<unix minutes>"));
    assert!(minutes > 29_000_000, "{name}");
    assert!(
        cronjob["status"]["lastScheduleTime"].is_string(),
        "{cronjob:#}"
    );
    let events = controller
        .edgectl(&["events", "--for", "cronjob/tick"])
        .success()
        .stdout;
    assert!(events.contains("SuccessfulCreate"), "{events}");
}

/// `edgectl TYPE NAME -o json`'s `status`.
fn status_of(controller: &Controller, kind: &str, name: &str) -> Value {
    controller
        .edgectl(&["get", kind, name, "-o", "json"])
        .success()
        .json()["status"]
        .clone()
}

#[test]
fn edgectl_drives_deployments_and_drains_nodes() {
    let tmp = temp_dir("e2e-edgectl-workloads");
    let controller = start(&tmp.path().join("controller"));
    let _a = Agent::join(&controller, &tmp.path().join("a"), "edge-a");
    let _b = Agent::join(&controller, &tmp.path().join("b"), "edge-b");
    let v1 = push_example(&controller, "hello-http", "examples/hello:v1");
    let v2 = push_example(&controller, "hello-http", "examples/hello:v2");

    // create deployment names the container after the image and labels app=NAME.
    let out = controller
        .edgectl(&[
            "create",
            "deployment",
            "web",
            &format!("--image={v1}"),
            "--replicas=2",
        ])
        .success();
    assert_eq!(out.stdout.trim(), "deployment.apps/web created");
    let spec = controller
        .edgectl(&["get", "deployment", "web", "-o", "json"])
        .success()
        .json()["spec"]
        .clone();
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["name"], "hello",
        "{spec:#}"
    );
    let out = controller
        .edgectl(&["rollout", "status", "deployment/web", "--timeout=120s"])
        .success();
    assert!(
        out.stdout.contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    assert_eq!(running_on(&pods(&controller, "web")).len(), 2);

    // set image rolls out v2; history has two revisions; undo goes back to v1.
    let out = controller
        .edgectl(&["set", "image", "deployment/web", &format!("hello={v2}")])
        .success();
    assert_eq!(out.stdout.trim(), "deployment.apps/web image updated");
    controller
        .edgectl(&["rollout", "status", "deployment/web", "--timeout=120s"])
        .success();
    wait_for(&controller, "two v2 pods", || {
        (images_of(&pods(&controller, "web")) == [v2.clone(), v2.clone()]).then_some(())
    });
    let history = controller
        .edgectl(&["rollout", "history", "deployment/web"])
        .success()
        .stdout;
    assert!(
        history.contains("REVISION") && history.contains('2'),
        "{history}"
    );
    let out = controller
        .edgectl(&["rollout", "undo", "deployment/web"])
        .success();
    assert_eq!(out.stdout.trim(), "deployment.apps/web rolled back");
    controller
        .edgectl(&["rollout", "status", "deployment/web", "--timeout=120s"])
        .success();
    wait_for(&controller, "back on v1", || {
        (images_of(&pods(&controller, "web")) == [v1.clone(), v1.clone()]).then_some(())
    });
    let bad = controller
        .edgectl(&["rollout", "undo", "deployment/web", "--to-revision=99"])
        .failure();
    assert!(bad.stderr.contains("revision"), "{}", bad.stderr);

    // scale, then drain edge-b: its pods are replaced on edge-a and it takes no new ones.
    controller
        .edgectl(&["scale", "deployment/web", "--replicas=3"])
        .success();
    wait_for(&controller, "three pods running", || {
        (running_on(&pods(&controller, "web")).len() == 3).then_some(())
    });
    let out = controller
        .edgectl(&["drain", "edge-b", "--ignore-daemonsets", "--timeout=120s"])
        .success();
    assert!(out.stdout.contains("node/edge-b drained"), "{}", out.stdout);
    wait_for(&controller, "all pods on edge-a", || {
        (running_on(&pods(&controller, "web")) == ["edge-a", "edge-a", "edge-a"]).then_some(())
    });
    let node = controller
        .edgectl(&["get", "node", "edge-b", "-o", "json"])
        .success()
        .json();
    assert_eq!(node["spec"]["unschedulable"], true, "{node:#}");
    let out = controller.edgectl(&["uncordon", "edge-b"]).success();
    assert_eq!(out.stdout.trim(), "node/edge-b uncordoned");
    assert_eq!(status_of(&controller, "deployment", "web")["replicas"], 3);

    // Events of the deployment show in describe and in get events.
    let describe = controller
        .edgectl(&["describe", "deployment", "web"])
        .success()
        .stdout;
    assert!(describe.contains("ScalingReplicaSet"), "{describe}");
    let events = controller
        .edgectl(&["get", "events", "--for", "deployment/web"])
        .success()
        .stdout;
    assert!(events.contains("ScalingReplicaSet"), "{events}");
}

/// The live (not deleting) pods of app `db` by name, in name order.
fn stateful_pods(controller: &Controller) -> Vec<Value> {
    let mut pods: Vec<Value> = pods(controller, "db")
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    pods.sort_by_key(|p| {
        p["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    pods
}

fn names(pods: &[Value]) -> Vec<&str> {
    pods.iter()
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect()
}

/// `names` once exactly those pods exist and all are ready.
fn ready_set(controller: &Controller, want: &[&str]) -> Option<Vec<Value>> {
    let pods = stateful_pods(controller);
    (names(&pods) == want && ready_count(&pods) == want.len()).then_some(pods)
}

fn statefulset(image: &str, replicas: u32) -> Value {
    let mut template = wasm_template("db", image);
    template["spec"]["containers"][0]["args"] = json!(["stamp", "/data/stamps"]);
    template["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "data", "mountPath": "/data"}]);
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": template,
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "16Mi"}}}}],
        }
    })
}

/// What the pod's container wrote to its claim's directory on the agent that runs it.
fn stamps(agents: &[&Agent], claim: &Value) -> String {
    let node = claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]
        .as_str()
        .unwrap_or_else(|| panic!("claim not pinned: {claim:#}"));
    let agent = agents
        .iter()
        .find(|a| a.name() == node)
        .unwrap_or_else(|| panic!("no agent {node}"));
    let uid = claim["metadata"]["uid"].as_str().expect("claim uid");
    let file = agent.data_dir().join("volumes").join(uid).join("stamps");
    std::fs::read_to_string(&file).unwrap_or_default()
}

#[test]
fn statefulset_keeps_names_order_storage_and_partitioned_updates() {
    let tmp = temp_dir("e2e-statefulset");
    let controller = start(&tmp.path().join("controller"));
    let a = Agent::join(&controller, &tmp.path().join("a"), "edge-a");
    let b = Agent::join(&controller, &tmp.path().join("b"), "edge-b");
    let agents = [&a, &b];
    let v1 = push_example(&controller, "testdata-command", "testdata/stamp:v1");
    let v2 = push_example(&controller, "testdata-command", "testdata/stamp:v2");

    apply(&controller, &statefulset(&v1, 3));
    let pods = wait_for(&controller, "db-0, db-1 and db-2 ready", || {
        ready_set(&controller, &["db-0", "db-1", "db-2"])
    });
    // OrderedReady: each pod was made only once the one before it was Ready.
    let created = |p: &Value| {
        p["metadata"]["creationTimestamp"]
            .as_str()
            .map(str::to_owned)
    };
    let ready_at = |p: &Value| {
        p["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_owned))
    };
    for pair in pods.windows(2) {
        assert!(
            created(&pair[1]) >= ready_at(&pair[0]),
            "{} made before {} was ready",
            pair[1]["metadata"]["name"],
            pair[0]["metadata"]["name"]
        );
    }
    // Each pod has its own claim, pinned to the pod's node, with the pod's own data.
    let claim = |name: &str| {
        get_json(&controller, &["get", "pvc", name, "-o", "json"])
            .unwrap_or_else(|| panic!("no claim {name}"))
    };
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().expect("name");
        assert_eq!(pod["spec"]["hostname"], name, "{pod:#}");
        assert_eq!(pod["spec"]["subdomain"], "db", "{pod:#}");
        let data = wait_for(&controller, "the claim pinned and stamped", || {
            let c = claim(&format!("data-{name}"));
            (c["status"]["phase"] == "Bound" && !stamps(&agents, &c).is_empty()).then_some(c)
        });
        assert_eq!(
            data["metadata"]["annotations"]["volume.kubernetes.io/selected-node"],
            pod["spec"]["nodeName"],
            "{data:#}"
        );
        assert_eq!(stamps(&agents, &data), format!("{name}\n"));
    }

    // A deleted pod comes back with its name, on its node, to its data.
    let db1 = &pods[1];
    controller
        .edgectl(&["delete", "pod", "db-1", "--wait=false"])
        .success();
    let back = wait_for(&controller, "db-1 made again", || {
        ready_set(&controller, &["db-0", "db-1", "db-2"])
            .and_then(|p| (p[1]["metadata"]["uid"] != db1["metadata"]["uid"]).then_some(p))
    });
    assert_eq!(back[1]["spec"]["nodeName"], db1["spec"]["nodeName"]);
    wait_for(&controller, "db-1 stamped its data again", || {
        (stamps(&agents, &claim("data-db-1")) == "db-1\ndb-1\n").then_some(())
    });

    // Scaling down removes the highest ordinals and keeps their claims.
    controller
        .edgectl(&["scale", "statefulset", "db", "--replicas=1"])
        .success();
    wait_for(&controller, "scaled down to db-0", || {
        ready_set(&controller, &["db-0"])
    });
    assert_eq!(stamps(&agents, &claim("data-db-2")), "db-2\n");
    let events = controller
        .edgectl(&["events", "--for", "statefulset/db"])
        .success()
        .stdout;
    for pod in ["db-1", "db-2"] {
        let deleted = format!("delete Pod {pod} in StatefulSet db successful");
        assert!(events.contains(&deleted), "{events}");
    }
    controller
        .edgectl(&["scale", "statefulset", "db", "--replicas=3"])
        .success();
    wait_for(&controller, "scaled up again", || {
        ready_set(&controller, &["db-0", "db-1", "db-2"])
    });
    assert_eq!(stamps(&agents, &claim("data-db-2")), "db-2\ndb-2\n");

    // A partitioned update changes only the ordinals at or above the partition.
    let mut update = statefulset(&v2, 3);
    update["spec"]["updateStrategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
    apply(&controller, &update);
    let image_of = |p: &Value| {
        p["spec"]["containers"][0]["image"]
            .as_str()
            .map(str::to_owned)
    };
    let images = |pods: &[Value]| pods.iter().filter_map(image_of).collect::<Vec<_>>();
    wait_for(&controller, "db-2 updated, the others not", || {
        ready_set(&controller, &["db-0", "db-1", "db-2"])
            .filter(|p| images(p) == [v1.clone(), v1.clone(), v2.clone()])
    });
    let status = wait_for(&controller, "status counts the update", || {
        let s = status_of(&controller, "statefulset", "db");
        (s["updatedReplicas"] == 1 && s["readyReplicas"] == 3).then_some(s)
    });
    assert_ne!(
        status["currentRevision"], status["updateRevision"],
        "{status:#}"
    );
    update["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = json!(0);
    apply(&controller, &update);
    wait_for(&controller, "every pod updated", || {
        ready_set(&controller, &["db-0", "db-1", "db-2"])
            .filter(|p| images(p) == [v2.clone(), v2.clone(), v2.clone()])
    });
    let status = wait_for(&controller, "the rollout complete", || {
        let s = status_of(&controller, "statefulset", "db");
        (s["updatedReplicas"] == 3 && s["currentRevision"] == s["updateRevision"]).then_some(s)
    });
    assert_eq!(status["currentReplicas"], 3, "{status:#}");
    // Updated pods stayed with their data.
    assert_eq!(stamps(&agents, &claim("data-db-0")), "db-0\ndb-0\n");
    let history = controller
        .edgectl(&["rollout", "history", "statefulset/db"])
        .success()
        .stdout;
    assert!(history.contains('1') && history.contains('2'), "{history}");
    controller
        .edgectl(&["rollout", "status", "statefulset/db", "--timeout=60s"])
        .success();
    let table = controller
        .edgectl(&["get", "statefulsets"])
        .success()
        .stdout;
    assert!(table.contains("db") && table.contains("3/3"), "{table}");

    // Deleting the set keeps its claims (retention Retain) and their data; a claim deleted
    // then has its volume removed from the node, and only that one.
    let kept = claim("data-db-0");
    let released = claim("data-db-2");
    controller
        .edgectl(&["delete", "statefulset", "db"])
        .success();
    wait_for(&controller, "the set's pods gone", || {
        self::pods(&controller, "db").is_empty().then_some(())
    });
    assert_eq!(stamps(&agents, &kept), "db-0\ndb-0\n");
    controller
        .edgectl(&["delete", "pvc", "data-db-2"])
        .success();
    wait_for(&controller, "the deleted claim's volume removed", || {
        stamps(&agents, &released).is_empty().then_some(())
    });
    assert_eq!(stamps(&agents, &kept), "db-0\ndb-0\n");
}
