//! Strategic merge patch over JSON objects, with the directives kubectl sends.

use serde_json::{Map, Value};

use super::PatchError;
use super::merge_keys::{ListStrategy, list_strategy};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to `target` (an object of `kind`), returning the result.
///
/// Lists merge by the merge keys of the core types (see [`list_strategy`]); `null` deletes a
/// key; `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<field>` and
/// `$deleteFromPrimitiveList/<field>` behave as in Kubernetes.
pub fn strategic_merge_patch(
    kind: &str,
    target: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Invalid(
            "a strategic merge patch must be a JSON object".to_string(),
        ));
    };
    let original = target.as_object().cloned().unwrap_or_default();
    let merger = Merger { kind };
    Ok(merger
        .merge_map(original, patch, &mut Vec::new())?
        .map_or(Value::Object(Map::new()), Value::Object))
}

struct Merger<'k> {
    kind: &'k str,
}

fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "<root>".to_string()
    } else {
        path.join(".")
    }
}

fn is_directive(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Removes directives from a value that is copied rather than merged.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| {
                    !i.as_object()
                        .is_some_and(|m| m.len() == 1 && m.contains_key(PATCH))
                })
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Merger<'_> {
    fn strategy(&self, path: &[String]) -> ListStrategy {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        list_strategy(self.kind, &names)
    }

    /// Merges `patch` into `original`; `None` means the map is deleted.
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        patch: &Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        match patch.get(PATCH).map(|d| d.as_str().unwrap_or_default()) {
            None | Some("merge") => {}
            Some("delete") => return Ok(None),
            Some("replace") => {
                return Ok(strip_directives(&Value::Object(patch.clone()))
                    .as_object()
                    .cloned());
            }
            Some(other) => {
                return Err(PatchError::UnknownDirective {
                    path: display_path(path),
                    directive: other.to_string(),
                });
            }
        }
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            let Some(retain) = retain.as_array() else {
                return Err(PatchError::Invalid(format!(
                    "{}: $retainKeys must be a list",
                    display_path(path)
                )));
            };
            original.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k)));
        }
        for (key, values) in patch {
            if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                let remove = values.as_array().cloned().unwrap_or_default();
                if let Some(Value::Array(items)) = original.get_mut(field) {
                    items.retain(|i| !remove.contains(i));
                }
            }
        }
        for (key, value) in patch {
            if is_directive(key) {
                continue;
            }
            if value.is_null() {
                original.remove(key);
                continue;
            }
            path.push(key.clone());
            let current = original.get_mut(key).map(Value::take);
            let merged = self.merge_value(current, value, path)?;
            path.pop();
            match merged {
                Some(v) => {
                    original.insert(key.clone(), v);
                }
                None => {
                    original.remove(key);
                }
            }
        }
        for (key, order) in patch {
            if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
                path.push(field.to_string());
                let strategy = self.strategy(path);
                path.pop();
                if let (Some(Value::Array(items)), Some(order)) =
                    (original.get_mut(field), order.as_array())
                {
                    reorder(items, order, strategy);
                }
            }
        }
        Ok(Some(original))
    }

    fn merge_value(
        &self,
        current: Option<Value>,
        patch: &Value,
        path: &mut Vec<String>,
    ) -> Result<Option<Value>, PatchError> {
        match patch {
            Value::Object(p) => {
                let original = match current {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                Ok(self.merge_map(original, p, path)?.map(Value::Object))
            }
            Value::Array(p) => {
                let original = match current {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                Ok(Some(Value::Array(self.merge_list(original, p, path)?)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn merge_list(
        &self,
        mut original: Vec<Value>,
        patch: &[Value],
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        let replace_all = patch.iter().any(|e| {
            e.get(PATCH).and_then(Value::as_str) == Some("replace")
                && e.as_object().is_some_and(|m| m.len() == 1)
        });
        if replace_all {
            return Ok(patch
                .iter()
                .filter(|e| e.get(PATCH).is_none())
                .map(strip_directives)
                .collect());
        }
        match self.strategy(path) {
            ListStrategy::Replace => Ok(patch.iter().map(strip_directives).collect()),
            ListStrategy::MergeSet => {
                for item in patch {
                    if !original.contains(item) {
                        original.push(item.clone());
                    }
                }
                Ok(original)
            }
            ListStrategy::MergeByKey(key) => {
                for item in patch {
                    let Some(map) = item.as_object() else {
                        return Err(PatchError::Invalid(format!(
                            "{}: expected objects in a list merged by {key:?}, found {item}",
                            display_path(path)
                        )));
                    };
                    let Some(id) = map.get(key) else {
                        return Err(PatchError::MissingMergeKey {
                            path: display_path(path),
                            key: key.to_string(),
                        });
                    };
                    let position = original.iter().position(|o| o.get(key) == Some(id));
                    match map.get(PATCH).and_then(Value::as_str) {
                        Some("delete") => {
                            original.retain(|o| o.get(key) != Some(id));
                            continue;
                        }
                        Some("replace") => {
                            let replacement = strip_directives(item);
                            match position {
                                Some(i) => original[i] = replacement,
                                None => original.push(replacement),
                            }
                            continue;
                        }
                        _ => {}
                    }
                    let existing = match position {
                        Some(i) => original[i].as_object().cloned().unwrap_or_default(),
                        None => Map::new(),
                    };
                    let merged = self.merge_map(existing, map, path)?;
                    match (position, merged) {
                        (Some(i), Some(m)) => original[i] = Value::Object(m),
                        (Some(i), None) => {
                            original.remove(i);
                        }
                        (None, Some(m)) => original.push(Value::Object(m)),
                        (None, None) => {}
                    }
                }
                Ok(original)
            }
        }
    }
}

/// Orders `items` as `$setElementOrder` lists them; items it does not mention keep their
/// relative order after the listed ones.
fn reorder(items: &mut Vec<Value>, order: &[Value], strategy: ListStrategy) {
    let identity = |item: &Value, entry: &Value| match strategy {
        ListStrategy::MergeByKey(key) => item.get(key).is_some() && item.get(key) == entry.get(key),
        _ => item == entry,
    };
    let mut rest = std::mem::take(items);
    for entry in order {
        if let Some(i) = rest.iter().position(|item| identity(item, entry)) {
            items.push(rest.remove(i));
        }
    }
    items.extend(rest);
}
