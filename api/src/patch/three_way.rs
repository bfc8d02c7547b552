//! The three-way JSON merge patch used by client-side apply.

use serde_json::{Map, Value};

/// The annotation in which client-side apply keeps the last applied configuration.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata fields the server manages; apply never sets or deletes them.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// A copy without `status` and server-managed metadata.
fn without_server_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_METADATA {
                meta.remove(*field);
            }
        }
    }
    v
}

/// A JSON merge patch that takes `live` to `modified`: it sets what `modified` has and `live`
/// lacks or holds differently, and deletes (`null`) what `last_applied` had but `modified`
/// dropped, where `live` still has it. Fields only `live` has (set by the server or other
/// clients) are kept. `{}` means nothing to change. `status` and server-managed metadata
/// (`resourceVersion`, `uid`, `creationTimestamp`, `generation`, `managedFields`) are ignored.
pub fn three_way_merge_patch(
    last_applied: Option<&Value>,
    modified: &Value,
    live: &Value,
) -> Value {
    let last = last_applied.map(without_server_fields);
    let modified = without_server_fields(modified);
    let live = without_server_fields(live);
    let empty = Map::new();
    Value::Object(diff(
        last.as_ref().and_then(Value::as_object),
        modified.as_object().unwrap_or(&empty),
        live.as_object().unwrap_or(&empty),
    ))
}

fn diff(
    last: Option<&Map<String, Value>>,
    modified: &Map<String, Value>,
    live: &Map<String, Value>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, want) in modified {
        let have = live.get(key).filter(|v| !v.is_null());
        match (want, have) {
            (Value::Null, Some(_)) => {
                patch.insert(key.clone(), Value::Null);
            }
            (Value::Null, None) => {}
            (Value::Object(want_map), Some(Value::Object(have_map))) => {
                let last_map = last.and_then(|l| l.get(key)).and_then(Value::as_object);
                let sub = diff(last_map, want_map, have_map);
                if !sub.is_empty() {
                    patch.insert(key.clone(), Value::Object(sub));
                }
            }
            // A list is replaced whole by a merge patch, so it is only sent when the live list
            // does not already say everything the manifest says (server defaults such as a
            // port's `protocol: TCP` would otherwise make every apply look like a change).
            (Value::Array(_), Some(have @ Value::Array(_))) if covers(have, want) => {}
            (want, have) if have != Some(want) => {
                patch.insert(key.clone(), want.clone());
            }
            _ => {}
        }
    }
    for (key, was) in last.into_iter().flatten() {
        if modified.contains_key(key) {
            continue;
        }
        match (was, live.get(key)) {
            (_, None | Some(Value::Null)) => {}
            // Delete only what was applied, so keys others added to the map survive.
            (Value::Object(was_map), Some(Value::Object(live_map))) => {
                let sub = deletions(was_map, live_map);
                if sub.len() == live_map.len() && sub.values().all(Value::is_null) {
                    patch.insert(key.clone(), Value::Null);
                } else if !sub.is_empty() {
                    patch.insert(key.clone(), Value::Object(sub));
                }
            }
            _ => {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    patch
}

/// Nulls for every key of `was` that `live` still has, recursing into maps.
fn deletions(was: &Map<String, Value>, live: &Map<String, Value>) -> Map<String, Value> {
    diff(Some(was), &Map::new(), live)
}

/// Whether `live` says at least everything `want` says: objects may carry extra (defaulted)
/// keys, lists must match element by element.
fn covers(live: &Value, want: &Value) -> bool {
    match (live, want) {
        (Value::Object(l), Value::Object(w)) => w.iter().all(|(k, wv)| match l.get(k) {
            Some(lv) => covers(lv, wv),
            None => wv.is_null(),
        }),
        (Value::Array(l), Value::Array(w)) => {
            l.len() == w.len() && l.iter().zip(w).all(|(lv, wv)| covers(lv, wv))
        }
        (l, w) => l == w,
    }
}

#[cfg(test)]
mod covers_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaulted_lists_are_unchanged_and_edited_lists_are_sent() {
        let manifest = json!({"spec": {"ports": [{"port": 80}]}});
        let live = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}});
        assert_eq!(
            three_way_merge_patch(Some(&manifest), &manifest, &live),
            json!({})
        );
        let edited = json!({"spec": {"ports": [{"port": 81}]}});
        assert_eq!(
            three_way_merge_patch(Some(&manifest), &edited, &live),
            json!({"spec": {"ports": [{"port": 81}]}})
        );
        let more = json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}});
        assert_eq!(
            three_way_merge_patch(Some(&manifest), &more, &live),
            json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}})
        );
    }
}
