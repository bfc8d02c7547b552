//! Tests of event filtering, ordering and kubectl's `events` table.

use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2025-01-01T12:00:00Z".parse().expect("time")
}

fn event(name: &str, kind: &str, last: &str, count: i64) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
           "metadata": {"name": name, "namespace": "default"},
           "involvedObject": {"kind": "Pod", "name": "web-1"},
           "type": kind, "reason": "Started", "message": format!("  {name} happened \n"),
           "firstTimestamp": "2025-01-01T11:50:00Z", "lastTimestamp": last, "count": count})
}

#[test]
fn types_are_validated_and_matched_without_case() {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases: [(&[&str], bool, Option<&str>); 5] = [
        (&[], true, None),
        (&["warning"], true, Some("type=Warning")),
        (&["Normal"], true, Some("type=Normal")),
        (&["Normal", "WARNING"], true, None),
        (&["Error"], false, None),
    ];
    for (types, valid, selector) in cases {
        let types = strings(types);
        assert_eq!(validate_types(&types).is_ok(), valid, "{types:?}");
        if valid {
            assert_eq!(types_selector(&types).as_deref(), selector, "{types:?}");
        }
    }
    let warning = event("a", "Warning", "2025-01-01T11:59:00Z", 1);
    assert!(type_matches(&warning, &strings(&["warning"])));
    assert!(!type_matches(&warning, &strings(&["Normal"])));
    assert!(type_matches(&warning, &[]));
    assert_eq!(
        validate_types(&strings(&["x"]))
            .expect_err("invalid")
            .to_string(),
        "valid --types are Normal or Warning"
    );
}

#[test]
fn selectors_join() {
    assert_eq!(
        join_selectors([Some("a=b"), None, Some("c=d")]).as_deref(),
        Some("a=b,c=d")
    );
    assert_eq!(join_selectors([None, Some("")]), None);
}

#[test]
fn events_sort_by_last_seen_and_show_repeats() {
    let mut events = vec![
        event("late", "Normal", "2025-01-01T11:59:50Z", 1),
        event("series", "Normal", "2025-01-01T11:00:00Z", 1),
        event("early", "Warning", "2025-01-01T11:55:00Z", 3),
    ];
    events[1]["series"] = json!({"count": 4, "lastObservedTime": "2025-01-01T11:58:00Z"});
    events[1]["eventTime"] = json!("2025-01-01T11:40:00Z");
    sort_events(&mut events);
    let names: Vec<&str> = events.iter().map(|e| text(e, "/metadata/name")).collect();
    assert_eq!(names, ["early", "series", "late"]);
    let cases = [
        (&events[0], "5m (x3 over 10m)"),
        (&events[1], "2m (x4 over 20m)"),
        (&events[2], "10m"),
    ];
    for (event, want) in cases {
        assert_eq!(interval(event, now()), want, "{event}");
    }
}

#[test]
fn kubectl_events_table() {
    let events = vec![
        event("a", "Warning", "2025-01-01T11:59:00Z", 1),
        event("b", "Normal", "2025-01-01T11:59:30Z", 1),
    ];
    let text = render_events(&events, false, true, now());
    assert_eq!(
        text,
        "LAST SEEN   TYPE      REASON    OBJECT      MESSAGE\n\
         10m         Warning   Started   Pod/web-1   a happened\n\
         10m         Normal    Started   Pod/web-1   b happened\n"
    );
    let text = render_events(&events[..1], true, false, now());
    assert_eq!(
        text,
        "default   10m   Warning   Started   Pod/web-1   a happened\n"
    );
    assert_eq!(
        no_events_message(Some("demo")),
        "No events found in demo namespace."
    );
    assert_eq!(no_events_message(None), "No events found.");
}
