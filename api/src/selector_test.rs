//! Tests of label and field selectors.

use serde_json::json;

use super::*;

#[test]
fn label_selector_matching() {
    let labels = json!({"app": "web", "tier": "front", "env": "prod"});
    let cases = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app=db", false),
        ("app!=db", true),
        ("app!=web", false),
        ("missing!=x", true),
        ("env in (prod,staging)", true),
        ("env in (dev)", false),
        ("env notin (dev,staging)", true),
        ("env notin (prod)", false),
        ("missing notin (x)", true),
        ("tier", true),
        ("missing", false),
        ("!missing", true),
        ("!tier", false),
        ("app=web,tier=front", true),
        ("app=web,tier=back", false),
        ("app = web , env in ( prod , x )", true),
        ("app.kubernetes.io/name=web", false),
    ];
    for (sel, want) in cases {
        let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
        assert_eq!(s.matches(Some(&labels)), want, "{sel}");
    }
    assert!(LabelSelector::parse("").expect("empty").matches(None));
    assert!(!LabelSelector::parse("a=b").expect("a=b").matches(None));
    assert!(LabelSelector::parse("!a").expect("!a").matches(None));
}

#[test]
fn label_selector_errors() {
    for bad in [
        "a in b", "a in (b", "a=b,", "=b", "a b", "a=b c", "-a=b", "a in ()", "a=-b", "a/b/c=d",
        "a notin",
    ] {
        assert!(
            LabelSelector::parse(bad).is_err(),
            "{bad:?} should not parse"
        );
    }
}

#[test]
fn label_selector_display_round_trips() {
    let s = LabelSelector::parse("z=1,a==b,e!=f,g in (i,h),j notin (k),l,!m").expect("parse");
    assert_eq!(s.to_string(), "a=b,e!=f,g in (h,i),j notin (k),l,!m,z=1");
    assert_eq!(LabelSelector::parse(&s.to_string()).expect("reparse"), s);
}

#[test]
fn from_label_selector_object() {
    let v = json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "staging"]},
            {"key": "canary", "operator": "DoesNotExist"}
        ]
    });
    let s = LabelSelector::from_label_selector(&v).expect("selector");
    assert_eq!(s.to_string(), "app=web,!canary,env in (prod,staging)");
    assert!(s.matches(Some(&json!({"app": "web", "env": "prod"}))));
    assert!(!s.matches(Some(&json!({"app": "web", "env": "prod", "canary": "1"}))));
    assert!(
        LabelSelector::from_label_selector(&json!({}))
            .expect("empty")
            .is_empty()
    );
    let bad_op = json!({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]});
    assert!(LabelSelector::from_label_selector(&bad_op).is_err());
    let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
    assert!(LabelSelector::from_label_selector(&empty_in).is_err());
}

#[test]
fn field_selector_matching() {
    let pod = json!({
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"nodeName": "edge-1", "priority": 5},
        "status": {"phase": "Running"},
        "type": "Normal",
        "involvedObject": {"uid": "u-1"}
    });
    let cases = [
        ("", true),
        ("metadata.name=web-1", true),
        ("metadata.name==web-2", false),
        ("metadata.namespace!=kube-system", true),
        ("spec.nodeName=edge-1,status.phase=Running", true),
        ("spec.nodeName=", false),
        ("spec.missing=", true),
        ("spec.missing!=", false),
        ("status.phase!=Running", false),
        ("type=Normal", true),
        ("involvedObject.uid=u-1", true),
        ("spec.priority=5", true),
    ];
    for (sel, want) in cases {
        let s = FieldSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
        assert_eq!(s.matches(&pod), want, "{sel}");
    }
    assert!(FieldSelector::parse("metadata.name").is_err());
    assert!(FieldSelector::parse("=x").is_err());
    let escaped = FieldSelector::parse(r"metadata.name=a\,b").expect("escaped");
    assert_eq!(escaped.requirements[0].value, "a,b");
    assert_eq!(escaped.to_string(), r"metadata.name=a\,b");
}
