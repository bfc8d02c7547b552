//! The edge agent end to end: a real controller and real `edge-agent` processes on 127.0.0.1.
//! Joining (and every bad join), node Ready and Unknown, Wasm pods pulled from the built-in
//! registry serving through hostPort and port-forward, logs, a crash loop, an OOM, an infinite
//! loop, probes failing and recovering, and the agent working on while the controller is down.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edge_e2e::{
    Agent, Controller, JoinCommand, binary, free_port, node_ready, poll, push_example, run,
    temp_dir,
};
use serde_json::{Value, json};

/// Short node timings so that Unknown and re-joins happen within a test.
const FAST_NODES: &[&str] = &["--node-grace-period", "6s", "--node-heartbeat", "1s"];
const WAIT: Duration = Duration::from_secs(90);

fn start_controller(dir: &Path) -> Controller {
    Controller::start_with(dir, free_port(), FAST_NODES)
}

/// `GET http://127.0.0.1:PORT/PATH` with curl: the status code and body, or `None` when
/// nothing answered.
fn http_get(port: u16, path: &str, max_time: u64) -> Option<(u16, String)> {
    let mut command = Command::new("curl");
    command.args([
        "-sS",
        "--max-time",
        &max_time.to_string(),
        "-w",
        "\n%{http_code}",
        &format!("http://127.0.0.1:{port}{path}"),
    ]);
    let out = run(command, None, Duration::from_secs(max_time + 5));
    if out.code != Some(0) {
        return None;
    }
    let (body, code) = out.stdout.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_owned()))
}

fn apply(controller: &Controller, object: &Value) {
    controller
        .edgectl_stdin(&["apply", "-f", "-"], &object.to_string())
        .success();
}

fn get_pod(controller: &Controller, name: &str) -> Option<Value> {
    let out = controller.edgectl(&["get", "pod", name, "-o", "json"]);
    (out.code == Some(0)).then(|| out.json())
}

/// Waits until `check` holds for the pod; panics with the pod and the logs otherwise.
#[track_caller]
fn wait_pod(
    controller: &Controller,
    agent: &Agent,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let found = poll(WAIT, || get_pod(controller, name).filter(|pod| check(pod)));
    match found {
        Some(pod) => pod,
        None => panic!(
            "pod {name}: {what} not reached in {WAIT:?}; last: {:#}\n--- agent log ---\n{}\n--- controller log ---\n{}",
            get_pod(controller, name).unwrap_or(Value::Null)["status"],
            agent.log_tail(60),
            controller.log_tail(40)
        ),
    }
}

fn unreachable_tainted(node: &Value) -> bool {
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["key"] == "node.kubernetes.io/unreachable")
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("")
}

fn condition(pod: &Value, kind: &str) -> String {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn container_status(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

/// A Wasm pod bound to `node` with one container.
fn wasm_pod(name: &str, node: &str, container: Value, restart_policy: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "nodeName": node,
            "runtimeClassName": "wasm",
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 2,
            "containers": [container]
        }
    })
}

#[test]
fn join_ready_unknown_and_every_bad_join() {
    let tmp = temp_dir("e2e-agent-join");
    let controller = start_controller(&tmp.path().join("controller"));
    let server = format!("127.0.0.1:{}", controller.port());
    let good = JoinCommand::create(&controller);

    // A first start without a token says how to join.
    Agent::try_join(&tmp.path().join("none"), &server, &[])
        .failure()
        .stderr_has("edgectl token create --print-join-command");
    // A wrong token, a wrong CA hash, a malformed hash.
    Agent::try_join(
        &tmp.path().join("bad-token"),
        &server,
        &[
            "--token",
            "abcdef.0123456789abcdef",
            "--ca-cert-hash",
            &good.ca_cert_hash,
            "--name",
            "bad-token",
        ],
    )
    .failure()
    .stderr_has("token");
    let wrong_pin = format!("sha256:{}", "ab".repeat(32));
    Agent::try_join(
        &tmp.path().join("bad-hash"),
        &server,
        &[
            "--token",
            &good.token,
            "--ca-cert-hash",
            &wrong_pin,
            "--name",
            "bad-hash",
        ],
    )
    .failure()
    .stderr_has("--ca-cert-hash");
    Agent::try_join(
        &tmp.path().join("bad-hash2"),
        &server,
        &[
            "--token",
            &good.token,
            "--ca-cert-hash",
            "md5:xyz",
            "--name",
            "bad-hash2",
        ],
    )
    .failure()
    .stderr_has("--ca-cert-hash");
    // An expired token.
    let short = controller
        .edgectl(&["token", "create", "--ttl", "1s", "--print-join-command"])
        .success();
    let token = short
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "--token")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    std::thread::sleep(Duration::from_millis(2500));
    Agent::try_join(
        &tmp.path().join("expired"),
        &server,
        &[
            "--token",
            &token,
            "--ca-cert-hash",
            &good.ca_cert_hash,
            "--name",
            "expired",
        ],
    )
    .failure()
    .stderr_has("expired");
    // Nothing above left a node behind.
    let nodes = controller
        .edgectl(&["get", "nodes", "-o", "json"])
        .success();
    assert_eq!(nodes.json()["items"], json!([]), "{}", nodes.report());

    // Two agents join and become Ready with their labels and capacity.
    let mut a = Agent::join(&controller, &tmp.path().join("a"), "edge-a");
    let mut b = Agent::join(&controller, &tmp.path().join("b"), "edge-b");
    let node = controller
        .edgectl(&["get", "node", "edge-a", "-o", "json"])
        .success()
        .json();
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/hostname"], "edge-a", "{node:#}");
    assert_eq!(labels["kubernetes.io/os"], "linux", "{node:#}");
    assert!(labels["kubernetes.io/arch"].is_string(), "{node:#}");
    assert!(node["status"]["capacity"]["cpu"].is_string(), "{node:#}");
    assert!(node["status"]["capacity"]["memory"].is_string(), "{node:#}");
    assert_eq!(node["status"]["capacity"]["pods"], "110", "{node:#}");
    let lease = controller
        .edgectl(&[
            "get",
            "lease",
            "edge-a",
            "-n",
            "kube-node-lease",
            "-o",
            "json",
        ])
        .success()
        .json();
    assert_eq!(lease["spec"]["holderIdentity"], "edge-a", "{lease:#}");
    controller
        .edgectl(&["get", "nodes"])
        .success()
        .stdout_has(&["edge-a", "edge-b", "Ready"]);

    // A name held by a live node is refused.
    let fresh = JoinCommand::create(&controller);
    Agent::try_join(
        &tmp.path().join("dup"),
        &server,
        &[
            "--token",
            &fresh.token,
            "--ca-cert-hash",
            &fresh.ca_cert_hash,
            "--name",
            "edge-a",
        ],
    )
    .failure()
    .stderr_has("held by a live agent");

    // A restart needs only --server and --data-dir.
    a.stop();
    a.restart();
    a.wait_ready(&controller);

    // A silent node turns Unknown and is tainted unreachable.
    b.kill9();
    let unknown = poll(WAIT, || {
        let node = controller
            .edgectl(&["get", "node", "edge-b", "-o", "json"])
            .success()
            .json();
        let tainted = unreachable_tainted(&node);
        (node_ready(&node) == "Unknown" && tainted).then_some(node)
    });
    assert!(
        unknown.is_some(),
        "edge-b never turned Unknown\n{}",
        controller.log_tail(40)
    );

    // The device is reinstalled (its data is gone) and joins again under its old name.
    drop(b);
    std::fs::remove_dir_all(tmp.path().join("b")).unwrap_or_else(|e| panic!("rm: {e}"));
    let b = Agent::join(&controller, &tmp.path().join("b"), "edge-b");
    let untainted = poll(WAIT, || {
        let node = controller
            .edgectl(&["get", "node", b.name(), "-o", "json"])
            .success()
            .json();
        let tainted = unreachable_tainted(&node);
        (!tainted && node_ready(&node) == "True").then_some(())
    });
    assert!(
        untainted.is_some(),
        "the unreachable taint stays after the rejoin\n{}",
        controller.log_tail(40)
    );
}

/// `edgectl port-forward` in the background; killed (by PID) on drop.
struct PortForward(Child);

impl PortForward {
    fn start(controller: &Controller, target: &str, ports: &str) -> PortForward {
        let mut child = Command::new(binary("edgectl"))
            .arg("--kubeconfig")
            .arg(controller.kubeconfig())
            .args(["port-forward", target, ports])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start edgectl port-forward: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        assert!(
            line.starts_with("Forwarding from"),
            "port-forward printed {line:?}"
        );
        // Keep reading, so that its later lines never meet a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        PortForward(child)
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn wasm_pods_serve_log_crash_oom_spin_and_probe() {
    let tmp = temp_dir("e2e-agent-wasm");
    let controller = start_controller(&tmp.path().join("controller"));
    let agent = Agent::join(&controller, &tmp.path().join("agent"), "wasm-node");
    let hello = push_example(&controller, "hello-http", "examples/hello:v1");
    let command = push_example(&controller, "testdata-command", "testdata/command:v1");
    let http = push_example(&controller, "testdata-http", "testdata/http:v1");

    // An HTTP service with its greeting from a ConfigMap, on a hostPort and through port-forward.
    apply(
        &controller,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "greeting", "namespace": "default"},
                "data": {"GREETING": "Hello from the test"}}),
    );
    let host_port = free_port();
    apply(
        &controller,
        &wasm_pod(
            "hello",
            "wasm-node",
            json!({"name": "hello", "image": hello,
                   "ports": [{"containerPort": 8080, "hostPort": host_port}],
                   "envFrom": [{"configMapRef": {"name": "greeting"}}],
                   "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                       "periodSeconds": 1}}),
            "Always",
        ),
    );
    let pod = wait_pod(&controller, &agent, "hello", "Ready", |p| {
        condition(p, "Ready") == "True"
    });
    assert_eq!(phase(&pod), "Running");
    assert!(container_status(&pod)["imageID"].is_string(), "{pod:#}");
    let answer = http_get(host_port, "/", 10);
    assert_eq!(
        answer.as_ref().map(|(code, body)| (*code, body.trim())),
        Some((200, "Hello from the test from Edgeplane!")),
        "hostPort answer"
    );
    let local = free_port();
    let forward = PortForward::start(&controller, "pod/hello", &format!("{local}:8080"));
    for _ in 0..3 {
        let answer = http_get(local, "/", 10);
        assert_eq!(
            answer.map(|(code, _)| code),
            Some(200),
            "port-forward answer"
        );
    }
    drop(forward);

    // A command's output through logs (edgectl and the real kubectl). No runtimeClassName: the
    // image's `application/wasm` layer picks wasmtime. It sees its env (a Secret's key among
    // it), its configMap volume read-only at /data, and no network.
    apply(
        &controller,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "input", "namespace": "default"},
                "data": {"input.txt": "from a configmap"}}),
    );
    apply(
        &controller,
        &json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "default"},
                "stringData": {"token": "hunter2"}}),
    );
    let mut echo = wasm_pod(
        "echo",
        "wasm-node",
        json!({"name": "echo", "image": command, "args": ["echo", "one", "two"],
               "env": [{"name": "MODE", "value": "test"},
                       {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}],
               "volumeMounts": [{"name": "input", "mountPath": "/data"}]}),
        "Never",
    );
    echo["spec"]
        .as_object_mut()
        .map(|spec| spec.remove("runtimeClassName"));
    echo["spec"]["volumes"] = json!([{"name": "input", "configMap": {"name": "input"}}]);
    apply(&controller, &echo);
    let pod = wait_pod(&controller, &agent, "echo", "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
    assert_eq!(
        container_status(&pod)["state"]["terminated"]["exitCode"],
        0,
        "{pod:#}"
    );
    controller
        .edgectl(&["logs", "echo"])
        .success()
        .stdout_has(&[
            "args: echo echo one two",
            "MODE=test",
            "TOKEN=hunter2",
            "volume: from a configmap",
            "volume write: Operation not permitted",
            "to stderr",
        ]);
    // Following an exited container ends after its output, as with the kubelet.
    controller
        .edgectl(&["logs", "-f", "echo"])
        .success()
        .stdout_has(&["args: echo echo one two"]);
    controller
        .kubectl(&["logs", "echo", "--tail", "1"])
        .success()
        .stdout_has(&["no newline at the end"]);
    controller
        .edgectl(&["logs", "echo", "-c", "nope"])
        .failure()
        .stderr_has("container nope is not valid");
    let controller_addr = format!("127.0.0.1:{}", controller.port());
    apply(
        &controller,
        &wasm_pod(
            "net",
            "wasm-node",
            json!({"name": "net", "image": command, "args": ["connect", controller_addr]}),
            "Never",
        ),
    );
    wait_pod(&controller, &agent, "net", "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
    controller
        .edgectl(&["logs", "net"])
        .success()
        .stdout_has(&["connect: Permission denied"]);

    // A crash loop: exit 3 again and again, with backoff.
    apply(
        &controller,
        &wasm_pod(
            "crasher",
            "wasm-node",
            json!({"name": "crasher", "image": command, "args": ["exit", "3"]}),
            "Always",
        ),
    );
    let pod = wait_pod(&controller, &agent, "crasher", "CrashLoopBackOff", |p| {
        container_status(p)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            && container_status(p)["restartCount"].as_u64() >= Some(2)
    });
    assert_eq!(
        container_status(&pod)["lastState"]["terminated"]["exitCode"],
        3,
        "{pod:#}"
    );
    controller
        .edgectl(&["logs", "crasher", "--previous"])
        .success();

    // Out of memory: the limit caps linear memory and the container ends OOMKilled.
    apply(
        &controller,
        &wasm_pod(
            "hog",
            "wasm-node",
            json!({"name": "hog", "image": command, "args": ["oom"],
                   "resources": {"limits": {"memory": "32Mi"}}}),
            "Never",
        ),
    );
    let pod = wait_pod(&controller, &agent, "hog", "Failed", |p| {
        phase(p) == "Failed"
    });
    assert_eq!(
        container_status(&pod)["state"]["terminated"]["reason"],
        "OOMKilled",
        "{pod:#}"
    );

    // An infinite loop in a request is interrupted at the request deadline; the pod stays
    // healthy and serves the next request. A readiness probe follows a file on a hostPath.
    let probe_dir = tmp.path().join("probe");
    std::fs::create_dir_all(&probe_dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let spin_port = free_port();
    let mut pod = wasm_pod(
        "spinner",
        "wasm-node",
        json!({"name": "spinner", "image": http,
               "ports": [{"containerPort": 8080, "hostPort": spin_port}],
               "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
               "volumeMounts": [{"name": "probe", "mountPath": "/probe"}],
               "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                                   "periodSeconds": 1, "failureThreshold": 1}}),
        "Always",
    );
    pod["spec"]["volumes"] = json!([{"name": "probe",
        "hostPath": {"path": probe_dir.display().to_string(), "type": "Directory"}}]);
    apply(&controller, &pod);
    wait_pod(&controller, &agent, "spinner", "Ready", |p| {
        condition(p, "Ready") == "True"
    });
    // The agent runs with --wasm-request-timeout 3s.
    let spun = http_get(spin_port, "/spin", 20);
    assert_eq!(
        spun.as_ref().map(|(code, _)| *code),
        Some(504),
        "/spin must end at the request deadline, got {spun:?}"
    );
    assert_eq!(
        http_get(spin_port, "/", 10).map(|(code, _)| code),
        Some(200),
        "the next request after an interrupted loop"
    );
    std::fs::write(probe_dir.join("fail"), b"").unwrap_or_else(|e| panic!("write: {e}"));
    wait_pod(&controller, &agent, "spinner", "not Ready", |p| {
        condition(p, "Ready") == "False"
    });
    std::fs::remove_file(probe_dir.join("fail")).unwrap_or_else(|e| panic!("rm: {e}"));
    let pod = wait_pod(&controller, &agent, "spinner", "Ready again", |p| {
        condition(p, "Ready") == "True"
    });
    assert_eq!(container_status(&pod)["restartCount"], 0, "{pod:#}");

    // A failing liveness probe restarts the container; once it passes again, it stays up.
    let live_dir = tmp.path().join("live");
    std::fs::create_dir_all(&live_dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let mut pod = wasm_pod(
        "lively",
        "wasm-node",
        json!({"name": "lively", "image": http,
               "ports": [{"containerPort": 8080}],
               "volumeMounts": [{"name": "probe", "mountPath": "/probe"}],
               "livenessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                                  "periodSeconds": 1, "failureThreshold": 2}}),
        "Always",
    );
    pod["spec"]["volumes"] = json!([{"name": "probe",
        "hostPath": {"path": live_dir.display().to_string(), "type": "Directory"}}]);
    apply(&controller, &pod);
    wait_pod(&controller, &agent, "lively", "Running", |p| {
        phase(p) == "Running"
    });
    std::fs::write(live_dir.join("fail"), b"").unwrap_or_else(|e| panic!("write: {e}"));
    wait_pod(
        &controller,
        &agent,
        "lively",
        "restarted by liveness",
        |p| container_status(p)["restartCount"].as_u64() >= Some(1),
    );
    std::fs::remove_file(live_dir.join("fail")).unwrap_or_else(|e| panic!("rm: {e}"));
    let pod = wait_pod(&controller, &agent, "lively", "running again", |p| {
        container_status(p)["state"]["running"].is_object() && condition(p, "Ready") == "True"
    });
    let restarts = container_status(&pod)["restartCount"].clone();
    std::thread::sleep(Duration::from_secs(4));
    let pod = get_pod(&controller, "lively").unwrap_or_default();
    assert_eq!(
        container_status(&pod)["restartCount"],
        restarts,
        "no more restarts once the probe passes: {pod:#}"
    );

    // Deleting a pod stops it and frees its hostPort.
    controller.edgectl(&["delete", "pod", "hello"]).success();
    let gone = poll(WAIT, || {
        (get_pod(&controller, "hello").is_none() && http_get(host_port, "/", 2).is_none())
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "hello is still there\n{}",
        agent.log_tail(40)
    );
    let metrics = agent.metrics();
    assert!(metrics.contains("spinner"), "agent metrics:\n{metrics}");
}

#[test]
fn pods_run_on_while_the_controller_is_down() {
    let tmp = temp_dir("e2e-agent-offline");
    let mut controller = start_controller(&tmp.path().join("controller"));
    let mut agent = Agent::join(&controller, &tmp.path().join("agent"), "offline-node");
    let hello = push_example(&controller, "hello-http", "examples/hello:v1");
    let port = free_port();
    apply(
        &controller,
        &wasm_pod(
            "steady",
            "offline-node",
            json!({"name": "steady", "image": hello,
                   "ports": [{"containerPort": 8080, "hostPort": port}]}),
            "Always",
        ),
    );
    let pod = wait_pod(&controller, &agent, "steady", "Running", |p| {
        phase(p) == "Running"
    });
    let uid = pod["metadata"]["uid"].clone();
    assert_eq!(http_get(port, "/", 10).map(|(c, _)| c), Some(200));
    // A failing pod, to see restarts happen (and be reported) while offline.
    let command = push_example(&controller, "testdata-command", "testdata/command:v1");
    apply(
        &controller,
        &wasm_pod(
            "flaky",
            "offline-node",
            json!({"name": "flaky", "image": command, "args": ["exit", "1"]}),
            "Always",
        ),
    );
    let pod = wait_pod(&controller, &agent, "flaky", "a first restart", |p| {
        container_status(p)["restartCount"].as_u64() >= Some(1)
    });
    let flaky_uid = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let restarts_online = container_status(&pod)["restartCount"]
        .as_u64()
        .unwrap_or_default();

    // The controller goes away: the pod keeps serving, also across an agent restart.
    controller.stop();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(http_get(port, "/", 10).map(|(c, _)| c), Some(200));
    agent.stop();
    assert!(
        http_get(port, "/", 2).is_none(),
        "the agent stopped its pods"
    );
    agent.restart();
    let back = poll(WAIT, || http_get(port, "/", 2).filter(|(c, _)| *c == 200));
    assert!(
        back.is_some(),
        "the pod did not come back from local state\n{}",
        agent.log_tail(40)
    );

    // The controller returns: the node is Ready again, the pod is the same one, still running.
    controller.restart();
    agent.wait_ready(&controller);
    let pod = wait_pod(
        &controller,
        &agent,
        "steady",
        "Running after reconnect",
        |p| phase(p) == "Running",
    );
    assert_eq!(pod["metadata"]["uid"], uid);
    assert_eq!(http_get(port, "/", 10).map(|(c, _)| c), Some(200));
    // The failing pod went on restarting offline, and that status reached the API.
    wait_pod(&controller, &agent, "flaky", "restarts made offline", |p| {
        container_status(p)["restartCount"].as_u64() > Some(restarts_online)
    });
    let pods = controller.edgectl(&["get", "pods", "-o", "json"]).success();
    assert_eq!(
        pods.json()["items"].as_array().map(Vec::len),
        Some(2),
        "no duplicate or orphaned pods\n{}",
        pods.report()
    );

    // Changes made meanwhile converge: a deleted pod stops, a new one starts.
    controller.edgectl(&["delete", "pod", "steady"]).success();
    let stopped = poll(WAIT, || http_get(port, "/", 2).is_none().then_some(()));
    assert!(stopped.is_some(), "the deleted pod still serves");

    // A pod force-deleted while its agent is stopped leaves nothing behind on the node.
    let flaky_dir = agent.data_dir().join("pods").join(&flaky_uid);
    assert!(flaky_dir.is_dir(), "{} is missing", flaky_dir.display());
    agent.stop();
    controller
        .edgectl(&["delete", "pod", "flaky", "--grace-period=0"])
        .success();
    agent.restart();
    agent.wait_ready(&controller);
    let cleaned = poll(WAIT, || (!flaky_dir.exists()).then_some(()));
    assert!(
        cleaned.is_some(),
        "the force-deleted pod's data is still on the node\n{}",
        agent.log_tail(40)
    );
}
