//! Helpers on object metadata, and kubectl-style ages.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

fn metadata_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name`.
pub fn name(obj: &Value) -> Option<&str> {
    metadata_str(obj, "name")
}

/// `metadata.namespace`.
pub fn namespace(obj: &Value) -> Option<&str> {
    metadata_str(obj, "namespace")
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> Option<&str> {
    metadata_str(obj, "uid")
}

/// `metadata.resourceVersion`.
pub fn resource_version(obj: &Value) -> Option<&str> {
    metadata_str(obj, "resourceVersion")
}

/// `metadata.generateName`.
pub fn generate_name(obj: &Value) -> Option<&str> {
    metadata_str(obj, "generateName")
}

/// `metadata.generation`.
pub fn generation(obj: &Value) -> Option<i64> {
    obj.get("metadata")?.get("generation")?.as_i64()
}

/// `metadata.labels` as a map.
pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.get("labels")?.as_object()
}

/// One label's value.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    labels(obj)?.get(key)?.as_str()
}

/// `metadata.annotations` as a map.
pub fn annotations(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.get("annotations")?.as_object()
}

/// One annotation's value.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    annotations(obj)?.get(key)?.as_str()
}

/// `metadata` as a mutable map, created (and replacing a non-object) when needed.
/// Does nothing useful if `obj` itself is not an object.
pub fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
}

fn set_in(obj: &mut Value, field: &str, key: &str, value: &str) {
    if let Some(meta) = metadata_mut(obj) {
        let m = meta
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if !m.is_object() {
            *m = Value::Object(Map::new());
        }
        if let Some(m) = m.as_object_mut() {
            m.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
}

/// Sets one annotation, creating `metadata.annotations` if needed.
pub fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    set_in(obj, "annotations", key, value);
}

/// Removes one annotation, returning its old value.
pub fn remove_annotation(obj: &mut Value, key: &str) -> Option<Value> {
    obj.get_mut("metadata")?
        .get_mut("annotations")?
        .as_object_mut()?
        .remove(key)
}

/// Sets one label, creating `metadata.labels` if needed.
pub fn set_label(obj: &mut Value, key: &str, value: &str) {
    set_in(obj, "labels", key, value);
}

/// `metadata.ownerReferences`, empty when absent.
pub fn owner_references(obj: &Value) -> &[Value] {
    obj.get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The owner reference with `controller: true`, if any.
pub fn controller_ref(obj: &Value) -> Option<&Value> {
    owner_references(obj)
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// The pod template a ControllerRevision records: its data is a strategic merge patch that
/// replaces the template (`{"spec": {"template": {..., "$patch": "replace"}}}`).
pub fn revision_template(controller_revision: &Value) -> Value {
    let mut template = controller_revision
        .pointer("/data/spec/template")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    template
}

/// `metadata.finalizers` as strings, empty when absent.
pub fn finalizers(obj: &Value) -> Vec<&str> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `metadata.deletionTimestamp`, parsed; `None` when absent or unparseable.
pub fn deletion_timestamp(obj: &Value) -> Option<Timestamp> {
    metadata_str(obj, "deletionTimestamp")?.parse().ok()
}

/// `metadata.creationTimestamp`, parsed; `None` when absent or unparseable.
pub fn creation_timestamp(obj: &Value) -> Option<Timestamp> {
    metadata_str(obj, "creationTimestamp")?.parse().ok()
}

/// Formats a timestamp as Kubernetes does (`2024-01-02T03:04:05Z`, whole seconds).
pub fn format_timestamp(t: Timestamp) -> String {
    let whole = Timestamp::from_second(t.as_second()).unwrap_or(t);
    whole.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The age of an object at `now` as kubectl prints it, `<unknown>` without a creation time.
pub fn age(obj: &Value, now: Timestamp) -> String {
    age_since(creation_timestamp(obj), now)
}

/// The time since `then` as kubectl prints it, `<unknown>` when `then` is `None`.
pub fn age_since(then: Option<Timestamp>, now: Timestamp) -> String {
    match then {
        Some(t) => human_age(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// A duration as kubectl prints ages: `5s`, `2m3s`, `10m`, `3h4m`, `2d3h`, `45d`, `3y12d`.
/// Up to a second in the future counts as `0s` to allow for clock skew.
pub fn human_age(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        let years = hours / 24 / 365;
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Kubernetes' semantic equality of JSON objects as controllers compare pod templates: a
/// missing field equals an empty one (`null`, `{}`, `[]`, or an object of such).
pub fn semantically_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.iter().all(|(k, v)| match y.get(k) {
                Some(w) => semantically_equal(v, w),
                None => is_empty(v),
            }) && y.iter().all(|(k, w)| x.contains_key(k) || is_empty(w))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| semantically_equal(v, w))
        }
        _ => a == b || (is_empty(a) && is_empty(b)),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn human_ages() {
        let cases: &[(i64, &str)] = &[
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (123, "2m3s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600 + 4 * 60, "3h4m"),
            (5 * 3600, "5h"),
            (20 * 3600, "20h"),
            (2 * 86400 + 3 * 3600, "2d3h"),
            (7 * 86400, "7d"),
            (45 * 86400, "45d"),
            (3 * 365 * 86400 + 12 * 86400, "3y12d"),
            (2 * 365 * 86400, "2y"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(
                human_age(SignedDuration::from_secs(*secs)),
                *want,
                "{secs}s"
            );
        }
    }

    #[test]
    fn accessors() {
        let mut obj = json!({
            "metadata": {
                "name": "a", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "labels": {"app": "web"},
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "ownerReferences": [{"uid": "o", "controller": true}]
            }
        });
        assert_eq!(name(&obj), Some("a"));
        assert_eq!(namespace(&obj), Some("ns"));
        assert_eq!(uid(&obj), Some("u"));
        assert_eq!(resource_version(&obj), Some("7"));
        assert_eq!(label(&obj, "app"), Some("web"));
        assert_eq!(owner_references(&obj).len(), 1);
        assert!(controller_ref(&obj).is_some());
        assert_eq!(deletion_timestamp(&obj), None);
        let now: Timestamp = "2024-01-01T00:02:03Z".parse().expect("ts");
        assert_eq!(age(&obj, now), "2m3s");
        set_annotation(&mut obj, "k", "v");
        assert_eq!(annotation(&obj, "k"), Some("v"));
        assert_eq!(remove_annotation(&mut obj, "k"), Some(json!("v")));
        let mut bare = json!({});
        set_label(&mut bare, "a", "b");
        assert_eq!(bare, json!({"metadata": {"labels": {"a": "b"}}}));
        assert_eq!(owner_references(&bare), &[] as &[Value]);
        assert_eq!(format_timestamp(now), "2024-01-01T00:02:03Z");
    }
}
