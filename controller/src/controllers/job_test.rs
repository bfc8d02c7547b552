//! Tests of the Job controller's plan: how many pods it creates or deletes for parallelism
//! and completions, Indexed Jobs, the pod-failure backoff, the backoff limit, the active
//! deadline, suspension, the TTL after finishing and pods left with a finalizer.

use serde_json::json;

use super::*;
use crate::controllers::job_index::{format_indexes, parse_indexes};

#[path = "job_fixtures_test.rs"]
mod fixtures;
use fixtures::*;

fn created(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .flat_map(|a| match a {
            Action::CreatePods { pods, .. } => pods.clone(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn pods_for_parallelism_and_completions() {
    struct Case {
        name: &'static str,
        spec: Value,
        succeeded: i64,
        pods: Vec<Phase>,
        want: Vec<&'static str>,
    }
    let running = Phase::Running;
    let cases = [
        Case {
            name: "fresh job starts parallelism pods",
            spec: json!({"completions": 5, "parallelism": 2}),
            succeeded: 0,
            pods: vec![],
            want: vec!["create 2", "status"],
        },
        Case {
            name: "no more than the remaining completions",
            spec: json!({"completions": 5, "parallelism": 3}),
            succeeded: 4,
            pods: vec![],
            want: vec!["create 1", "status"],
        },
        Case {
            name: "enough running",
            spec: json!({"completions": 5, "parallelism": 3}),
            succeeded: 0,
            pods: vec![running, running, running],
            want: vec!["status"],
        },
        Case {
            name: "surplus pods go without being counted",
            spec: json!({"completions": 5, "parallelism": 2}),
            succeeded: 0,
            pods: vec![running, running, running],
            want: vec!["delete p0 strip", "status"],
        },
        Case {
            name: "work queue starts parallelism pods",
            spec: json!({"completions": null, "parallelism": 3}),
            succeeded: 0,
            pods: vec![],
            want: vec!["create 3", "status"],
        },
        Case {
            name: "work queue with a success starts no more",
            spec: json!({"completions": null, "parallelism": 3}),
            succeeded: 1,
            pods: vec![running],
            want: vec!["status"],
        },
        Case {
            name: "parallelism zero starts nothing",
            spec: json!({"completions": 3, "parallelism": 0}),
            succeeded: 0,
            pods: vec![],
            want: vec!["status"],
        },
    ];
    for case in cases {
        let status = json!({"succeeded": case.succeeded});
        let j = job("pi", case.spec, status);
        let mut objects = vec![j.clone()];
        for (i, phase) in case.pods.iter().enumerate() {
            objects.push(pod(&j, &format!("p{i}"), *phase, now()));
        }
        let actions = plan(&snapshot(&objects), now());
        assert_eq!(kinds(&actions), case.want, "{}", case.name);
    }
}

#[test]
fn created_pods_carry_the_finalizer_and_owner() {
    let j = job("pi", json!({"completions": 3, "parallelism": 2}), json!({}));
    let actions = plan(&snapshot(std::slice::from_ref(&j)), now());
    let pods = created(&actions);
    assert_eq!(pods.len(), 2);
    for p in &pods {
        assert_eq!(p["metadata"]["generateName"], "pi-");
        assert_eq!(p["metadata"]["finalizers"], json!([TRACKING]));
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "uid-pi");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Job");
        assert_eq!(
            p["metadata"]["labels"]["batch.kubernetes.io/job-name"],
            "pi"
        );
        assert!(p["spec"].get("hostname").is_none());
    }
    let status = written_status(&actions).expect("status written");
    assert_eq!(status["active"], 2);
    assert_eq!(status["startTime"], NOW);
    assert_eq!(status["ready"], 0);
    assert_eq!(status["uncountedTerminatedPods"], json!({}));
}

const TRACKING: &str = crate::controllers::job_status::TRACKING_FINALIZER;

#[test]
fn indexed_pods_get_their_index() {
    let j = job(
        "idx",
        json!({"completionMode": "Indexed", "completions": 4, "parallelism": 2}),
        json!({"completedIndexes": "0"}),
    );
    // Index 0 is done, index 1 runs: index 2 is the next to start.
    let objects = vec![j.clone(), indexed_pod(&j, "idx-1-a", 1, Phase::Running)];
    let pods = created(&plan(&snapshot(&objects), now()));
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(p["metadata"]["generateName"], "idx-2-");
    assert_eq!(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"],
        "2"
    );
    assert_eq!(
        p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
        "2"
    );
    assert_eq!(p["spec"]["hostname"], "idx-2");
    assert_eq!(
        p["spec"]["containers"][0]["env"],
        json!([{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}])
    );
}

#[test]
fn indexed_job_keeps_a_set_hostname_and_env() {
    let j = job(
        "idx",
        json!({"completionMode": "Indexed", "completions": 1, "template": {"spec": {
            "hostname": "fixed",
            "containers": [{"name": "work", "image": "busybox",
                            "env": [{"name": "JOB_COMPLETION_INDEX", "value": "mine"}]}]}}}),
        json!({}),
    );
    let p = job_pod(&j, Some(0));
    assert_eq!(p["spec"]["hostname"], "fixed");
    assert_eq!(
        p["spec"]["containers"][0]["env"],
        json!([{"name": "JOB_COMPLETION_INDEX", "value": "mine"}])
    );
}

#[test]
fn indexed_duplicates_and_strays_are_removed() {
    let j = job(
        "idx",
        json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3}),
        json!({}),
    );
    let objects = vec![
        j.clone(),
        indexed_pod(&j, "a", 0, Phase::Ready),
        indexed_pod(&j, "b", 0, Phase::Pending),
        indexed_pod(&j, "c", 1, Phase::Ready),
        indexed_pod(&j, "d", 7, Phase::Ready),
    ];
    let actions = plan(&snapshot(&objects), now());
    // The pending duplicate of index 0 and the out-of-range pod go; nothing is created in
    // the same pass.
    assert_eq!(kinds(&actions), ["delete b,d strip", "status"]);
}

#[test]
fn completed_indexes_notation() {
    let cases: &[(&[i64], &str)] = &[
        (&[], ""),
        (&[4], "4"),
        (&[3, 4], "3,4"),
        (&[0, 1, 2, 4], "0-2,4"),
        (&[0, 1, 2, 5, 6, 8, 9, 10], "0-2,5,6,8-10"),
    ];
    for (indexes, text) in cases {
        let set = indexes.iter().copied().collect();
        assert_eq!(format_indexes(&set), *text);
        assert_eq!(parse_indexes(text, 100), set, "{text}");
    }
    let parsed: Vec<i64> = parse_indexes("0-2,4,x,7-5,9", 5).into_iter().collect();
    assert_eq!(parsed, [0, 1, 2, 4]);
}

#[test]
fn long_names_keep_the_index_in_the_prefix() {
    let name = "a".repeat(63);
    let j = job(
        &name,
        json!({"completionMode": "Indexed", "completions": 20}),
        json!({}),
    );
    let p = job_pod(&j, Some(12));
    let prefix = p["metadata"]["generateName"].as_str().expect("prefix");
    assert_eq!(prefix.len(), 58);
    assert!(prefix.ends_with("a-12-"), "{prefix}");
}

#[test]
fn failure_backoff_delays_replacements() {
    // (failures finished at these offsets from now, successes at, creates a pod?)
    let cases: &[(&str, &[i64], &[i64], bool)] = &[
        ("no failures", &[], &[], true),
        ("one failure 5 s ago waits 10 s", &[-5], &[], false),
        ("one failure 10 s ago may go", &[-10], &[], true),
        ("two failures wait 20 s", &[-60, -15], &[], false),
        ("two failures, 20 s passed", &[-60, -20], &[], true),
        ("three failures wait 40 s", &[-90, -60, -39], &[], false),
        ("a success resets the count", &[-90, -60, -12], &[-30], true),
        (
            "the pause stops growing at 6 min",
            &[-900, -800, -700, -600, -500, -400, -361],
            &[],
            true,
        ),
        (
            "6 min not yet over",
            &[-900, -800, -700, -600, -500, -400, -359],
            &[],
            false,
        ),
    ];
    for (name, failures, successes, creates) in cases {
        let j = job(
            "bo",
            json!({"completions": 10, "parallelism": 1, "backoffLimit": 100}),
            json!({}),
        );
        let mut objects = vec![j.clone()];
        for (i, at_offset) in failures.iter().enumerate() {
            objects.push(without_finalizer(pod(
                &j,
                &format!("f{i}"),
                Phase::Failed,
                at(*at_offset),
            )));
        }
        for (i, at_offset) in successes.iter().enumerate() {
            objects.push(without_finalizer(pod(
                &j,
                &format!("s{i}"),
                Phase::Succeeded,
                at(*at_offset),
            )));
        }
        let actions = plan(&snapshot(&objects), now());
        assert_eq!(!created(&actions).is_empty(), *creates, "{name}");
    }
}

#[test]
fn backoff_limit_fails_the_job() {
    let j = job(
        "bl",
        json!({"completions": 3, "parallelism": 2, "backoffLimit": 1}),
        json!({"failed": 1, "startTime": NOW}),
    );
    let objects = vec![
        j.clone(),
        pod(&j, "broken", Phase::Failed, at(-1)),
        pod(&j, "busy", Phase::Ready, now()),
    ];
    let actions = plan(&snapshot(&objects), now());
    // The running pod goes with its finalizer, so it is counted as failed too.
    assert_eq!(
        kinds(&actions),
        ["delete busy keep", "status", "unfinalize broken,busy"]
    );
    let status = written_status(&actions).expect("status");
    assert_eq!(
        condition_summary(&status),
        ["FailureTarget=True BackoffLimitExceeded"]
    );
    assert_eq!(
        status["uncountedTerminatedPods"]["failed"],
        json!(["uid-broken", "uid-busy"])
    );
    assert_eq!(status["active"], json!(null));
    assert_eq!(status["terminating"], 1);
}

#[test]
fn restarts_count_toward_the_limit_with_on_failure() {
    for (restarts, fails) in [(1, false), (2, true)] {
        let j = job(
            "of",
            json!({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}),
            json!({"startTime": NOW}),
        );
        let mut p = pod(&j, "p", Phase::Ready, now());
        p["status"]["containerStatuses"][0]["restartCount"] = json!(restarts);
        let actions = plan(&snapshot(&[j, p]), now());
        let failing = written_status(&actions)
            .is_some_and(|s| condition_summary(&s) == ["FailureTarget=True BackoffLimitExceeded"]);
        assert_eq!(failing, fails, "{restarts} restarts");
    }
}

#[test]
fn active_deadline_fails_the_job() {
    for (started, fails) in [(-59, false), (-60, true)] {
        let j = job(
            "dl",
            json!({"activeDeadlineSeconds": 60}),
            json!({"startTime": text(at(started)), "active": 1, "ready": 1, "terminating": 0,
                   "uncountedTerminatedPods": {}}),
        );
        let objects = vec![j.clone(), pod(&j, "p", Phase::Ready, now())];
        let actions = plan(&snapshot(&objects), now());
        if fails {
            assert_eq!(kinds(&actions), ["delete p keep", "status", "unfinalize p"]);
            let status = written_status(&actions).expect("status");
            assert_eq!(
                condition_summary(&status),
                ["FailureTarget=True DeadlineExceeded"]
            );
        } else {
            assert!(actions.is_empty(), "{started}: {:?}", kinds(&actions));
        }
    }
}

#[test]
fn suspend_deletes_pods_and_resume_restarts_the_clock() {
    let j = job(
        "sus",
        json!({"suspend": true, "completions": 2, "parallelism": 2}),
        json!({"startTime": text(at(-300)), "active": 2}),
    );
    let objects = vec![
        j.clone(),
        pod(&j, "a", Phase::Ready, now()),
        pod(&j, "b", Phase::Running, now()),
    ];
    let actions = plan(&snapshot(&objects), now());
    assert_eq!(kinds(&actions), ["delete a,b strip", "status"]);
    let status = written_status(&actions).expect("status");
    assert_eq!(condition_summary(&status), ["Suspended=True JobSuspended"]);
    assert_eq!(status_events(&actions), ["Suspended"]);
    assert_eq!(status["startTime"], text(at(-300)));

    // Resumed: the condition turns False, the start time is now, pods come back.
    let mut resumed = j.clone();
    resumed["spec"]["suspend"] = json!(false);
    resumed["status"] = status;
    let actions = plan(&snapshot(&[resumed]), now());
    assert_eq!(kinds(&actions), ["create 2", "status"]);
    let status = written_status(&actions).expect("status");
    assert_eq!(condition_summary(&status), ["Suspended=False JobResumed"]);
    assert_eq!(status["startTime"], NOW);
    assert_eq!(status_events(&actions), ["Resumed"]);
}

#[test]
fn a_job_created_suspended_has_not_started() {
    let j = job("later", json!({"suspend": true}), json!({}));
    let actions = plan(&snapshot(&[j]), now());
    assert_eq!(kinds(&actions), ["status"]);
    let status = written_status(&actions).expect("status");
    assert!(status.get("startTime").is_none());
    assert_eq!(condition_summary(&status), ["Suspended=True JobSuspended"]);
}

#[test]
fn suspended_job_ignores_its_deadline() {
    let j = job(
        "sus",
        json!({"suspend": true, "activeDeadlineSeconds": 1}),
        json!({"startTime": text(at(-300))}),
    );
    let status = written_status(&plan(&snapshot(&[j]), now())).expect("status");
    assert_eq!(condition_summary(&status), ["Suspended=True JobSuspended"]);
}

#[test]
fn ttl_after_finished_deletes_the_job() {
    for (finished, ttl, deletes) in [(-100, 100, true), (-99, 100, false), (0, 0, true)] {
        let j = job(
            "done",
            json!({"ttlSecondsAfterFinished": ttl}),
            json!({"conditions": [
                {"type": "Complete", "status": "True", "lastTransitionTime": text(at(finished))}]}),
        );
        let actions = plan(&snapshot(&[j]), now());
        let want: &[&str] = if deletes { &["delete job"] } else { &[] };
        assert_eq!(kinds(&actions), want, "finished {finished}, ttl {ttl}");
    }
    // Without a TTL a finished Job stays.
    let j = job(
        "kept",
        json!({}),
        json!({"conditions": [{"type": "Failed", "status": "True",
                               "lastTransitionTime": text(at(-100_000))}]}),
    );
    assert!(plan(&snapshot(&[j]), now()).is_empty());
}

#[test]
fn finalizers_of_orphans_and_finished_jobs_go() {
    let gone = job("gone", json!({}), json!({}));
    let done = job(
        "done",
        json!({}),
        json!({"conditions": [{"type": "Complete", "status": "True",
                               "lastTransitionTime": NOW}]}),
    );
    let mut foreign = pod(&gone, "foreign", Phase::Running, now());
    foreign["metadata"]["ownerReferences"][0]["kind"] = json!("ReplicaSet");
    foreign["metadata"]["ownerReferences"][0]["apiVersion"] = json!("apps/v1");
    let mut loose = pod(&gone, "loose", Phase::Succeeded, now());
    loose["metadata"]["ownerReferences"] = json!([]);
    let objects = vec![
        done.clone(),
        pod(&gone, "of-gone", Phase::Succeeded, now()),
        pod(&done, "of-done", Phase::Succeeded, now()),
        foreign,
        loose,
    ];
    let actions = plan(&snapshot(&objects), now());
    assert_eq!(kinds(&actions), ["unfinalize loose,of-done,of-gone"]);
    assert!(matches!(
        &actions[0],
        Action::RemoveFinalizers { job: None, .. }
    ));
}

#[test]
fn too_many_finished_pods_are_recorded_in_batches() {
    let j = job(
        "big",
        json!({"completions": 600, "parallelism": 600}),
        json!({}),
    );
    let mut objects = vec![j.clone()];
    for i in 0..600 {
        objects.push(pod(&j, &format!("p{i:03}"), Phase::Succeeded, now()));
    }
    let actions = plan(&snapshot(&objects), now());
    let status = written_status(&actions).expect("status");
    let recorded = status["uncountedTerminatedPods"]["succeeded"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(recorded, MAX_UNCOUNTED);
    // All succeeded, so success is met, but the Job is not Complete before all are counted.
    assert_eq!(
        condition_summary(&status),
        ["SuccessCriteriaMet=True CompletionsReached"]
    );
}
