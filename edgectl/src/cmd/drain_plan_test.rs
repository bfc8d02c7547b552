//! Tests of drain's pod classification, messages, eviction discovery and failure reports.

use serde_json::json;

use super::*;

fn pod(name: &str, owner_kind: Option<&str>) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"nodeName": "edge-1", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}});
    if let Some(kind) = owner_kind {
        pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind,
            "name": format!("{name}-owner"), "uid": "owner-uid", "controller": true}]);
    }
    pod
}

fn with_empty_dir(mut pod: Value) -> Value {
    pod["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
    pod
}

fn finished(mut pod: Value, phase: &str) -> Value {
    pod["status"]["phase"] = json!(phase);
    pod
}

fn mirror(mut pod: Value) -> Value {
    pod["metadata"]["annotations"] = json!({MIRROR_ANNOTATION: "abc"});
    pod
}

const NO_FLAGS: PodFilters = PodFilters {
    force: false,
    ignore_daemonsets: false,
    delete_emptydir_data: false,
};
const FORCE: PodFilters = PodFilters {
    force: true,
    ignore_daemonsets: false,
    delete_emptydir_data: false,
};
const IGNORE_DS: PodFilters = PodFilters {
    force: false,
    ignore_daemonsets: true,
    delete_emptydir_data: false,
};
const EMPTYDIR: PodFilters = PodFilters {
    force: false,
    ignore_daemonsets: false,
    delete_emptydir_data: true,
};
const EMPTYDIR_FORCE: PodFilters = PodFilters {
    force: true,
    ignore_daemonsets: false,
    delete_emptydir_data: true,
};

fn exists(_: &str, _: &str) -> DaemonSetLookup {
    DaemonSetLookup::Exists
}

fn missing(_: &str, name: &str) -> DaemonSetLookup {
    DaemonSetLookup::NotFound(format!("daemonsets.apps {name:?} not found"))
}

#[test]
fn pod_classification() {
    type Lookup = fn(&str, &str) -> DaemonSetLookup;
    let cases: Vec<(&str, Value, PodFilters, Lookup, bool, Reason, &str)> = vec![
        (
            "replicated pod goes",
            pod("web", Some("ReplicaSet")),
            NO_FLAGS,
            exists,
            true,
            Reason::Okay,
            "",
        ),
        (
            "bare pod needs --force",
            pod("solo", None),
            NO_FLAGS,
            exists,
            false,
            Reason::Error,
            UNMANAGED_FATAL,
        ),
        (
            "bare pod with --force",
            pod("solo", None),
            FORCE,
            exists,
            true,
            Reason::Warning,
            UNMANAGED_WARNING,
        ),
        (
            "daemon pod needs --ignore-daemonsets",
            pod("proxy", Some("DaemonSet")),
            NO_FLAGS,
            exists,
            false,
            Reason::Error,
            DAEMONSET_FATAL,
        ),
        (
            "daemon pod is ignored, not deleted",
            pod("proxy", Some("DaemonSet")),
            IGNORE_DS,
            exists,
            false,
            Reason::Warning,
            DAEMONSET_WARNING,
        ),
        (
            "orphaned daemon pod refused without --force",
            pod("proxy", Some("DaemonSet")),
            IGNORE_DS,
            missing,
            false,
            Reason::Error,
            "daemonsets.apps \"proxy-owner\" not found",
        ),
        // kubectl's later filters overwrite the orphan's warning, so it is deleted silently.
        (
            "orphaned daemon pod deleted with --force",
            pod("proxy", Some("DaemonSet")),
            FORCE,
            missing,
            true,
            Reason::Okay,
            "",
        ),
        (
            "finished daemon pod goes",
            finished(pod("proxy", Some("DaemonSet")), "Succeeded"),
            NO_FLAGS,
            exists,
            true,
            Reason::Okay,
            "",
        ),
        (
            "mirror pod is skipped without --force",
            mirror(pod("etcd", None)),
            NO_FLAGS,
            exists,
            false,
            Reason::Skip,
            "",
        ),
        (
            "local storage needs --delete-emptydir-data",
            with_empty_dir(pod("cache", Some("ReplicaSet"))),
            NO_FLAGS,
            exists,
            false,
            Reason::Error,
            LOCAL_STORAGE_FATAL,
        ),
        (
            "local storage warning is dropped for a replicated pod",
            with_empty_dir(pod("cache", Some("ReplicaSet"))),
            EMPTYDIR,
            exists,
            true,
            Reason::Okay,
            "",
        ),
        (
            "bare pod with local storage and both flags",
            with_empty_dir(pod("cache", None)),
            EMPTYDIR_FORCE,
            exists,
            true,
            Reason::Warning,
            UNMANAGED_WARNING,
        ),
        (
            "bare pod with local storage, only emptydir flag",
            with_empty_dir(pod("cache", None)),
            EMPTYDIR,
            exists,
            false,
            Reason::Error,
            UNMANAGED_FATAL,
        ),
        (
            "finished bare pod goes",
            finished(pod("done", None), "Failed"),
            NO_FLAGS,
            exists,
            true,
            Reason::Okay,
            "",
        ),
        (
            "finished pod with local storage goes",
            finished(with_empty_dir(pod("done", None)), "Succeeded"),
            NO_FLAGS,
            exists,
            true,
            Reason::Okay,
            "",
        ),
        (
            "job pod goes",
            pod("batch", Some("Job")),
            NO_FLAGS,
            exists,
            true,
            Reason::Okay,
            "",
        ),
    ];
    for (name, pod, filters, lookup, delete, reason, message) in cases {
        let verdict = classify(&pod, filters, &lookup);
        assert_eq!(
            verdict,
            Verdict {
                delete,
                reason,
                message: message.to_string()
            },
            "{name}"
        );
    }
}

#[test]
fn plan_messages_use_kubectls_wording() {
    let pods = vec![
        pod("web", Some("ReplicaSet")),
        pod("proxy-a", Some("DaemonSet")),
        pod("solo", None),
        pod("proxy-b", Some("DaemonSet")),
        with_empty_dir(pod("cache", Some("StatefulSet"))),
        mirror(pod("etcd", None)),
    ];
    let plan = DrainPlan::new(pods.clone(), NO_FLAGS, &exists);
    assert_eq!(
        plan.errors(),
        [
            "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/proxy-a, default/proxy-b",
            "cannot delete Pods declare no controller (use --force to override): default/solo",
            "cannot delete Pods with local storage (use --delete-emptydir-data to override): default/cache",
        ]
    );
    assert_eq!(plan.warnings(), None);

    let flags = PodFilters {
        force: true,
        ignore_daemonsets: true,
        delete_emptydir_data: true,
    };
    let plan = DrainPlan::new(pods, flags, &exists);
    assert!(plan.errors().is_empty());
    assert_eq!(
        plan.warnings().as_deref(),
        Some(
            "ignoring DaemonSet-managed Pods: default/proxy-a, default/proxy-b; deleting Pods that declare no controller: default/solo"
        )
    );
    let names: Vec<&str> = plan
        .pods()
        .into_iter()
        .map(|p| str_at(p, "/metadata/name"))
        .collect();
    assert_eq!(names, ["web", "solo", "cache"]);
}

#[test]
fn only_unfinished_daemon_pods_need_their_daemonset() {
    let mut other_ns = pod("proxy-c", Some("DaemonSet"));
    other_ns["metadata"]["namespace"] = json!("kube-system");
    other_ns["metadata"]["ownerReferences"][0]["name"] = json!("proxy-a-owner");
    let pods = vec![
        pod("proxy-a", Some("DaemonSet")),
        pod("proxy-a", Some("DaemonSet")),
        finished(pod("proxy-b", Some("DaemonSet")), "Succeeded"),
        pod("web", Some("ReplicaSet")),
        other_ns,
    ];
    assert_eq!(
        daemonsets_to_check(&pods),
        [
            ("default".to_string(), "proxy-a-owner".to_string()),
            ("kube-system".to_string(), "proxy-a-owner".to_string()),
        ]
    );
}

#[test]
fn eviction_support_comes_from_the_core_resource_list() {
    let without = json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "kind": "Pod", "namespaced": true},
        {"name": "pods/status", "kind": "Pod", "namespaced": true},
    ]});
    assert_eq!(eviction_api_version(&without), None);
    let with = json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "kind": "Pod"},
        {"name": "pods/eviction", "kind": "Eviction", "group": "policy", "version": "v1"},
    ]});
    assert_eq!(eviction_api_version(&with).as_deref(), Some("policy/v1"));
    let unversioned = json!({"resources": [{"name": "pods/eviction", "kind": "Eviction"}]});
    assert_eq!(eviction_api_version(&unversioned), None);
}

#[test]
fn pods_are_gone_when_absent_or_replaced() {
    let awaited = vec![
        PodKey::of(&pod("stays", None)),
        PodKey::of(&pod("gone", None)),
        PodKey::of(&pod("replaced", None)),
    ];
    let mut replacement = pod("replaced", None);
    replacement["metadata"]["uid"] = json!("a-new-uid");
    let (gone, pending) = split_gone(awaited, &[pod("stays", None), replacement]);
    let names = |keys: &[PodKey]| keys.iter().map(|k| k.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&gone), ["gone", "replaced"]);
    assert_eq!(names(&pending), ["stays"]);
}

#[test]
fn durations_print_as_go_does() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_millis(500), "500ms"),
        (Duration::from_secs(30), "30s"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_secs(300), "5m0s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_secs(3723), "1h2m3s"),
    ];
    for (duration, want) in cases {
        assert_eq!(go_duration(duration), want, "{duration:?}");
    }
}

#[test]
fn failures_print_as_kubectl_aggregates() {
    let one = Failure::aggregate(vec!["cannot delete a: x/y".into()]);
    let two = Failure::aggregate(vec![
        "cannot delete a: x/y".into(),
        "cannot delete b: x/z".into(),
    ]);
    let timeout = Failure::single("timed out waiting for the condition".into());
    assert_eq!(one.to_string(), "cannot delete a: x/y");
    assert_eq!(
        two.to_string(),
        "[cannot delete a: x/y, cannot delete b: x/z]"
    );
    let cases: Vec<(Vec<Failure>, Vec<&str>)> = vec![
        (vec![], vec![]),
        (vec![one.clone()], vec!["cannot delete a: x/y"]),
        (
            vec![two.clone()],
            vec!["cannot delete a: x/y", "cannot delete b: x/z"],
        ),
        (
            vec![timeout.clone()],
            vec!["error: timed out waiting for the condition"],
        ),
        (
            vec![two, timeout],
            vec![
                "[cannot delete a: x/y, cannot delete b: x/z]",
                "timed out waiting for the condition",
            ],
        ),
    ];
    for (failures, want) in cases {
        assert_eq!(final_report(&failures), want, "{failures:?}");
    }
}
