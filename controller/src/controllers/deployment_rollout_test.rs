//! Whole rollouts in a simulated cluster: the availability floor and surge ceiling hold at
//! every pass, and the cluster settles with no writes left.

use super::*;

/// Rolls `replicas` out from `v1` to `v2` (and to `v3` after `rollover_after` passes, when
/// given) in a simulated cluster, once for each spread of pod start-up times, checking at
/// every pass that at least replicas - maxUnavailable pods are available and at most
/// replicas + maxSurge are asked for.
fn roll_out(
    replicas: i64,
    surge: Value,
    unavailable: Value,
    ready_after: i64,
    rollover_after: Option<usize>,
) {
    for jitter in [1, 3, 7] {
        let d = with(
            deploy(replicas, "v1"),
            "/spec/strategy/rollingUpdate",
            json!({"maxSurge": surge, "maxUnavailable": unavailable}),
        );
        roll_out_with(d, ready_after, jitter, rollover_after);
    }
}

fn roll_out_with(d: Value, ready_after: i64, jitter: u64, rollover_after: Option<usize>) {
    let replicas = int_at(&d, "/spec/replicas", 1);
    let label = format!(
        "{replicas} replicas, {}, minReadySeconds {}, ready after {ready_after} (+{jitter})",
        d["spec"]["strategy"],
        int_at(&d, "/spec/minReadySeconds", 0),
    );
    let mut cluster = Cluster::new(ready_after);
    cluster.jitter = jitter;
    cluster.create(d);
    cluster.settle(200, &mut |_| {});
    assert_eq!(
        cluster.pods_of("web"),
        (replicas, replicas),
        "{label}: first rollout"
    );

    let floor = {
        let snapshot = cluster.snapshot();
        let d = &snapshot.objects[0].1;
        let (names, pods) = (HashSet::new(), HashMap::new());
        let around = rollout::Surroundings {
            names: &names,
            pods: &pods,
        };
        let r = rollout::Rollout::new(d, Vec::new(), around, now());
        (replicas - r.max_unavailable, replicas + r.max_surge)
    };
    let mut check = |c: &Cluster| {
        let (pods, available) = c.pods_of("web");
        assert!(
            available >= floor.0,
            "{label}: {available} available pods at {}s, floor {}",
            c.clock,
            floor.0
        );
        let asked: i64 = c
            .replica_sets()
            .iter()
            .map(|s| int_at(s, "/spec/replicas", 0))
            .sum();
        assert!(
            asked <= floor.1,
            "{label}: {asked} replicas asked at {}s, ceiling {}",
            c.clock,
            floor.1
        );
        assert!(pods <= floor.1 + replicas, "{label}: {pods} pods");
    };
    cluster.change_deployment("web", |d| d["spec"]["template"] = template("web", "v2"));
    let mut last = "v2";
    if let Some(after) = rollover_after {
        for _ in 0..after {
            cluster.pass(&mut check);
        }
        cluster.change_deployment("web", |d| d["spec"]["template"] = template("web", "v3"));
        last = "v3";
    }
    cluster.settle(500, &mut check);

    // Settled: the new replica set has every pod, old ones none, and the status says so.
    let sets = cluster.replica_sets();
    for set in &sets {
        let want = if str_at(set, "/metadata/name") == rs_name(last) {
            replicas
        } else {
            0
        };
        assert_eq!(
            int_at(set, "/spec/replicas", -1),
            want,
            "{label}: {}",
            str_at(set, "/metadata/name")
        );
    }
    assert_eq!(cluster.pods_of("web"), (replicas, replicas), "{label}");
    let d = cluster.get("Deployment", "web");
    let status = &d["status"];
    assert!(
        int_at(d, "/status/observedGeneration", 0) >= int_at(d, "/metadata/generation", 1),
        "{label}"
    );
    for field in [
        "replicas",
        "updatedReplicas",
        "availableReplicas",
        "readyReplicas",
    ] {
        assert_eq!(status[field], json!(replicas), "{label}: {field}");
    }
    assert_eq!(
        str_at(condition_of(status, "Progressing"), "/reason"),
        "NewReplicaSetAvailable",
        "{label}"
    );
    assert_eq!(
        str_at(condition_of(status, "Available"), "/status"),
        "True",
        "{label}"
    );
    let revision = if rollover_after.is_some() { "3" } else { "2" };
    assert_eq!(
        str_at(
            d,
            "/metadata/annotations/deployment.kubernetes.io~1revision"
        ),
        revision,
        "{label}"
    );
    // And a settled cluster costs no writes.
    let snapshot = cluster.snapshot();
    assert_eq!(plan(&snapshot, cluster.now()), vec![], "{label}");
    assert_eq!(
        crate::controllers::replicaset::plan(&snapshot, cluster.now()),
        vec![],
        "{label}"
    );
}

#[test]
fn rolling_updates_keep_the_availability_floor() {
    let cases: Vec<(i64, Value, Value, i64)> = vec![
        (4, json!("25%"), json!("25%"), 2),
        (10, json!(3), json!(2), 3),
        (10, json!("25%"), json!("25%"), 0),
        (3, json!(0), json!(1), 1),
        (3, json!(1), json!(0), 2),
        (1, json!("25%"), json!("25%"), 1),
        (1, json!(0), json!("10%"), 1),
        (5, json!("100%"), json!(0), 1),
        (7, json!("50%"), json!("50%"), 4),
    ];
    for (replicas, surge, unavailable, ready_after) in cases {
        roll_out(replicas, surge, unavailable, ready_after, None);
    }
}

#[test]
fn min_ready_seconds_hold_back_the_rollout() {
    for jitter in [1, 4] {
        let d = with(deploy(6, "v1"), "/spec/minReadySeconds", json!(3));
        roll_out_with(d, 1, jitter, None);
        let d = with(deploy(6, "v1"), "/spec/minReadySeconds", json!(2));
        let d = with(
            d,
            "/spec/strategy/rollingUpdate",
            json!({"maxSurge": 0, "maxUnavailable": 2}),
        );
        roll_out_with(d, 2, jitter, Some(4));
    }
}

#[test]
fn a_rollover_mid_rollout_keeps_the_floor_too() {
    roll_out(6, json!("25%"), json!("25%"), 2, Some(3));
    roll_out(10, json!(2), json!(0), 1, Some(5));
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let mut cluster = Cluster::new(1);
    cluster.create(with(
        deploy(3, "v1"),
        "/spec/strategy",
        json!({"type": "Recreate"}),
    ));
    cluster.settle(100, &mut |_| {});
    cluster.change_deployment("web", |d| d["spec"]["template"] = template("web", "v2"));
    let (old, new) = (rs_name("v1"), rs_name("v2"));
    cluster.settle(100, &mut |c: &Cluster| {
        let pods_of = |set: &str| {
            c.objects
                .iter()
                .filter(|o| {
                    str_at(o, "/kind") == "Pod"
                        && str_at(o, "/metadata/name").starts_with(&format!("{set}-"))
                })
                .count()
        };
        assert!(
            pods_of(&old) == 0 || pods_of(&new) == 0,
            "old and new pods together at {}s",
            c.clock
        );
    });
    assert_eq!(
        int_at(cluster.get("ReplicaSet", &new), "/spec/replicas", -1),
        3
    );
    assert_eq!(
        int_at(cluster.get("ReplicaSet", &old), "/spec/replicas", -1),
        0
    );
    assert_eq!(cluster.pods_of("web"), (3, 3));
}

#[test]
fn scaling_and_pausing_in_a_simulated_cluster() {
    let mut cluster = Cluster::new(1);
    cluster.create(deploy(3, "v1"));
    cluster.settle(100, &mut |_| {});
    cluster.change_deployment("web", |d| d["spec"]["replicas"] = json!(6));
    cluster.settle(100, &mut |_| {});
    assert_eq!(cluster.pods_of("web"), (6, 6));
    assert_eq!(
        cluster.replica_sets().len(),
        1,
        "scaling makes no new replica set"
    );
    // Paused: a template change waits, a scale does not.
    cluster.change_deployment("web", |d| {
        d["spec"]["paused"] = json!(true);
        d["spec"]["template"] = template("web", "v2");
        d["spec"]["replicas"] = json!(2);
    });
    cluster.settle(100, &mut |_| {});
    assert_eq!(cluster.replica_sets().len(), 1, "no rollout while paused");
    assert_eq!(cluster.pods_of("web"), (2, 2));
    assert_eq!(
        str_at(
            condition_of(&cluster.get("Deployment", "web")["status"], "Progressing"),
            "/reason"
        ),
        "DeploymentPaused"
    );
    cluster.change_deployment("web", |d| d["spec"]["paused"] = json!(false));
    cluster.settle(100, &mut |_| {});
    assert_eq!(cluster.replica_sets().len(), 2);
    assert_eq!(
        int_at(
            cluster.get("ReplicaSet", &rs_name("v2")),
            "/spec/replicas",
            -1
        ),
        2
    );
}
