use super::*;
use serde_json::json;

fn pod(node: &str, phase: &str, ready: bool, created: &str) -> Value {
    json!({
        "metadata": {"name": format!("{node}-{phase}-{ready}-{created}"), "creationTimestamp": created},
        "spec": {"nodeName": node},
        "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" },
             "lastTransitionTime": "2026-01-01T00:00:00Z"}
        ]},
    })
}

#[test]
fn surplus_pods_go_in_kubernetes_order() {
    let t1 = "2026-01-01T00:00:01Z";
    let t2 = "2026-01-01T00:00:02Z";
    let mut pods = [
        pod("n1", "Running", true, t1),
        pod("n1", "Running", true, t2),
        pod("n1", "Running", false, t1),
        pod("n1", "Pending", false, t1),
        pod("", "Pending", false, t1),
    ];
    pods.sort_by(deletion_order);
    let names: Vec<&str> = pods.iter().map(|p| str_at(p, "/metadata/name")).collect();
    assert_eq!(
        names,
        [
            format!("-Pending-false-{t1}"),
            format!("n1-Pending-false-{t1}"),
            format!("n1-Running-false-{t1}"),
            format!("n1-Running-true-{t2}"),
            format!("n1-Running-true-{t1}"),
        ]
    );
}

#[test]
fn availability_waits_for_min_ready_seconds() {
    let p = pod("n1", "Running", true, "2026-01-01T00:00:00Z");
    let at = |s: &str| s.parse::<jiff::Timestamp>().expect("timestamp");
    let cases = [
        (0, "2026-01-01T00:00:00Z", true),
        (10, "2026-01-01T00:00:05Z", false),
        (10, "2026-01-01T00:00:10Z", true),
    ];
    for (min_ready, now, want) in cases {
        assert_eq!(
            is_pod_available(&p, min_ready, at(now)),
            want,
            "{min_ready} {now}"
        );
    }
    assert!(!is_pod_available(
        &pod("n1", "Running", false, ""),
        0,
        at("2026-01-01T00:00:00Z")
    ));
}

#[test]
fn int_or_percent_resolves_like_kubernetes() {
    let cases = [
        (json!(3), 10, true, 3),
        (json!("25%"), 10, true, 3),
        (json!("25%"), 10, false, 2),
        (json!("100%"), 4, false, 4),
        (json!("0%"), 4, true, 0),
        (json!("2"), 4, true, 2),
        (json!("x%"), 4, true, 1),
    ];
    for (value, total, up, want) in cases {
        assert_eq!(
            int_or_percent(Some(&value), total, up, 1),
            want,
            "{value} of {total}"
        );
    }
    assert_eq!(int_or_percent(None, 4, true, 1), 1);
}

#[test]
fn template_hash_is_stable_and_changes_with_template_or_collisions() {
    let a =
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"image": "a"}]}});
    let b =
        json!({"spec": {"containers": [{"image": "a"}]}, "metadata": {"labels": {"app": "web"}}});
    let c =
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"image": "b"}]}});
    assert_eq!(template_hash(&a, None), template_hash(&b, None));
    assert_ne!(template_hash(&a, None), template_hash(&c, None));
    assert_ne!(template_hash(&a, None), template_hash(&a, Some(1)));
    assert!(
        template_hash(&a, None)
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric())
    );
}

#[test]
fn pods_from_templates_carry_owner_and_labels() {
    let owner = json!({"metadata": {"name": "web", "namespace": "demo", "uid": "u1"}});
    let template = json!({
        "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    });
    let reference = owner_reference(&owner, "apps/v1", "ReplicaSet");
    let pod = pod_from_template(
        &owner,
        &template,
        reference,
        PodName::Generate("web-"),
        &[(POD_TEMPLATE_HASH, "h")],
    );
    assert_eq!(str_at(&pod, "/metadata/generateName"), "web-");
    assert_eq!(str_at(&pod, "/metadata/namespace"), "demo");
    assert_eq!(str_at(&pod, "/metadata/labels/app"), "web");
    assert_eq!(str_at(&pod, "/metadata/labels/pod-template-hash"), "h");
    assert_eq!(str_at(&pod, "/metadata/annotations/a"), "b");
    assert_eq!(controller_uid(&pod), Some("u1"));
    assert_eq!(str_at(&pod, "/spec/containers/0/image"), "i");
}
