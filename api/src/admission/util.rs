//! Small accessors over `serde_json::Value` and field-path builders shared by admission code.

use serde_json::{Map, Value};

/// `path.key`, or `key` at the root (and `path` for an empty key).
pub(crate) fn child(path: &str, key: &str) -> String {
    match (path.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => path.to_string(),
        (false, false) => format!("{path}.{key}"),
    }
}

/// `path[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub(crate) fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

pub(crate) fn get_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key)?.as_i64()
}

/// The array at `key`, empty when absent or not an array.
pub(crate) fn get_arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The object at `key`, if it is one.
pub(crate) fn get_obj<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key)?.as_object()
}

/// Inserts `value` at `key` when the key is absent or null. Does nothing on non-objects.
pub(crate) fn default_field(v: &mut Value, key: &str, value: Value) {
    if let Some(map) = v.as_object_mut() {
        let slot = map.entry(key).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// The object at `key`, created when absent or null; `None` when it holds something else
/// (validation reports the wrong type later).
pub(crate) fn object_at<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    default_field(v, key, Value::Object(Map::new()));
    v.get_mut(key).filter(|c| c.is_object())
}

/// Every element of the array at `key`, mutably; nothing when absent.
pub(crate) fn each_mut<'a>(v: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    v.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}
