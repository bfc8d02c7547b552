//! A three-controller control plane: acknowledged writes survive a kill -9 of the Raft leader,
//! and the killed controller catches up when it comes back.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use edge_e2e::{Controller, free_port, poll, temp_dir};

/// Configmaps written in total; the leader is killed half-way.
const WRITES: usize = 60;
/// How long one write may keep failing (an election, forwarding) before the test fails.
const WRITE_RETRY: Duration = Duration::from_secs(20);

/// The index of the one running controller whose metrics say it leads the store.
fn leader(nodes: &[Controller]) -> Option<usize> {
    let leaders: Vec<usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.is_running())
        .filter(|(_, node)| {
            let reply = node.admin_request("GET", "/metrics", None);
            reply.status == 200
                && reply
                    .body
                    .lines()
                    .any(|l| l.trim() == "edgeplane_store_is_leader 1")
        })
        .map(|(i, _)| i)
        .collect();
    match leaders.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn configmaps(node: &Controller) -> Option<BTreeSet<String>> {
    let run = node.edgectl(&[
        "get",
        "cm",
        "-n",
        "default",
        "-o",
        "name",
        "--request-timeout",
        "10s",
    ]);
    (run.code == Some(0)).then(|| {
        run.lines()
            .into_iter()
            .filter_map(|l| l.strip_prefix("configmap/").map(str::to_string))
            .filter(|name| name.starts_with("cm-"))
            .collect()
    })
}

/// Waits until `node` lists every acknowledged configmap; panics naming the missing ones.
fn assert_has_all(node: &Controller, acked: &BTreeSet<String>, within: Duration, what: &str) {
    let mut last = None;
    let found = poll(within, || {
        let listed = configmaps(node)?;
        let complete = acked.is_subset(&listed);
        last = Some(listed);
        complete.then_some(())
    });
    if found.is_none() {
        let missing: Vec<&String> = match &last {
            Some(listed) => acked.difference(listed).collect(),
            None => acked.iter().collect(),
        };
        panic!(
            "{what} (port {}) lacks {} acknowledged configmaps after {within:?}: {missing:?} (listing worked: {})",
            node.port(),
            missing.len(),
            last.is_some()
        );
    }
}

#[test]
fn acknowledged_writes_survive_killing_the_leader() {
    let tmp = temp_dir("e2e-ha");
    let a = Controller::start_with(&tmp.path().join("a"), free_port(), &["--name", "a"]);
    let token = a
        .edgectl(&["token", "create", "--control-plane"])
        .success()
        .stdout
        .trim()
        .to_string();
    assert!(
        token.starts_with("K10") && token.contains("::"),
        "not a control-plane token: {token:?}"
    );
    let join = a.url("");
    let b = Controller::start_with(
        &tmp.path().join("b"),
        free_port(),
        &["--name", "b", "--join", &join, "--token", &token],
    );
    let c = Controller::start_with(
        &tmp.path().join("c"),
        free_port(),
        &["--name", "c", "--join", &join, "--token", &token],
    );
    let mut nodes = vec![a, b, c];
    for node in &nodes {
        node.edgectl(&["get", "ns"])
            .success()
            .stdout_has(&["default", "kube-system"]);
    }
    let voters = poll(Duration::from_secs(30), || {
        nodes[0]
            .metrics()
            .contains("edgeplane_store_members{role=\"voter\"} 3")
            .then_some(())
    });
    assert!(
        voters.is_some(),
        "controller a never reported 3 voters:\n{}",
        nodes[0].metrics()
    );

    let mut acked = BTreeSet::new();
    let mut turn = 0;
    let mut killed = None;
    let mut kill_time = None;
    let mut first_write_after_kill = None;
    for i in 0..WRITES {
        if i == WRITES / 2 {
            let index = poll(Duration::from_secs(20), || leader(&nodes))
                .unwrap_or_else(|| panic!("no single leader among the three controllers"));
            eprintln!(
                "killing the leader, controller on port {}",
                nodes[index].port()
            );
            nodes[index].kill9();
            killed = Some(index);
            kill_time = Some(Instant::now());
        }
        let name = format!("cm-{i}");
        let literal = format!("--from-literal=i={i}");
        let started = Instant::now();
        loop {
            let live: Vec<usize> = (0..nodes.len())
                .filter(|k| nodes[*k].is_running())
                .collect();
            let node = &nodes[live[turn % live.len()]];
            turn += 1;
            let run = node.edgectl(&[
                "create",
                "configmap",
                &name,
                "-n",
                "default",
                &literal,
                "--request-timeout",
                "5s",
            ]);
            // "already exists" on a retry means an earlier, unacknowledged attempt committed.
            if run.code == Some(0) || run.stderr.contains("already exists") {
                acked.insert(name.clone());
                if kill_time.is_some() && first_write_after_kill.is_none() {
                    first_write_after_kill = kill_time.map(|t| t.elapsed());
                }
                break;
            }
            assert!(
                started.elapsed() < WRITE_RETRY,
                "writing {name} kept failing for {WRITE_RETRY:?}; last attempt:\n{}",
                run.report()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!(
        "{} writes acknowledged; first write after the kill took {first_write_after_kill:?}",
        acked.len()
    );
    assert_eq!(acked.len(), WRITES);
    let killed = killed.unwrap_or_else(|| panic!("the leader was never killed"));

    for (i, node) in nodes.iter().enumerate() {
        if i != killed {
            assert_has_all(
                node,
                &acked,
                Duration::from_secs(10),
                "a surviving controller",
            );
        }
    }
    let new_leader = poll(Duration::from_secs(20), || leader(&nodes));
    assert!(
        new_leader.is_some_and(|l| l != killed),
        "the survivors did not settle on a new leader"
    );

    nodes[killed].restart();
    assert_has_all(
        &nodes[killed],
        &acked,
        Duration::from_secs(60),
        "the restarted former leader",
    );
    // It rejoined as a voter and takes writes again.
    nodes[killed]
        .edgectl(&[
            "create",
            "configmap",
            "after-rejoin",
            "-n",
            "default",
            "--from-literal=a=b",
        ])
        .success();
    for node in &nodes {
        node.edgectl(&["get", "cm", "after-rejoin", "-n", "default"])
            .success();
    }
}
