//! A container's environment as the kubelet builds it: `envFrom` first, then `env` in order with
//! `$(VAR)` references expanded and `valueFrom` resolved.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::{ConfigError, PodContext, RefKind, array, bool_at, data_value, downward, str_at};

/// Variables in the order they were first set; setting one again replaces its value in place,
/// as the kubelet's map of variables does.
#[derive(Default)]
struct OrderedEnv {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl OrderedEnv {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.index.get(name).map(|&i| self.vars[i].1.clone())
    }
}

/// The resolved environment of container `c`, or the first reason it cannot be resolved.
///
/// Keys of an `envFrom` source come in sorted order (the kubelet's order is a Go map's, so any
/// order is faithful; sorted is stable). Keys that are not valid variable names after the
/// prefix are skipped, as the kubelet skips them with an event.
pub(super) fn container_env(
    ctx: &PodContext,
    c: &Value,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = OrderedEnv::default();
    for from in array(c, "envFrom") {
        let prefix = str_at(from, "prefix").unwrap_or_default();
        let entries = if let Some(r) = from.get("configMapRef") {
            source_entries(ctx, RefKind::ConfigMap, r)?
        } else if let Some(r) = from.get("secretRef") {
            source_entries(ctx, RefKind::Secret, r)?
        } else {
            continue;
        };
        for (key, value) in entries {
            let name = format!("{prefix}{key}");
            if is_env_var_name(&name) {
                env.set(name, value);
            }
        }
    }
    for e in array(c, "env") {
        let Some(name) = str_at(e, "name").filter(|n| !n.is_empty()) else {
            continue;
        };
        let value = match e.get("valueFrom") {
            Some(from) => match value_from(ctx, c, from)? {
                Some(v) => v,
                // An optional reference to something missing leaves the variable unset.
                None => continue,
            },
            None => expand(str_at(e, "value").unwrap_or_default(), |n| env.get(n)),
        };
        env.set(name.to_owned(), value);
    }
    Ok(env.vars)
}

/// Every key of the ConfigMap or Secret an `envFrom` entry names, sorted; nothing when it is
/// missing and optional.
fn source_entries(
    ctx: &PodContext,
    kind: RefKind,
    r: &Value,
) -> Result<Vec<(String, String)>, ConfigError> {
    let name = str_at(r, "name").unwrap_or_default();
    let Some(obj) = ctx.lookup(kind, name) else {
        return if bool_at(r, "optional") {
            Ok(Vec::new())
        } else {
            Err(not_found(kind, name))
        };
    };
    let Some(data) = obj.get("data").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| {
            data_value(&obj, kind, ctx.namespace, name, k)
                .transpose()
                .map(|v| v.map(|bytes| (k.clone(), lossy(bytes))))
        })
        .collect()
}

/// The value of one `valueFrom`; `None` when it names something optional that is missing.
fn value_from(ctx: &PodContext, c: &Value, from: &Value) -> Result<Option<String>, ConfigError> {
    if let Some(r) = from.get("configMapKeyRef") {
        return key_ref(ctx, RefKind::ConfigMap, r);
    }
    if let Some(r) = from.get("secretKeyRef") {
        return key_ref(ctx, RefKind::Secret, r);
    }
    if let Some(f) = from.get("fieldRef") {
        let path = str_at(f, "fieldPath").unwrap_or_default();
        return downward::field_value(ctx.pod, path).map(Some);
    }
    if let Some(r) = from.get("resourceFieldRef") {
        let target = match str_at(r, "containerName").filter(|n| !n.is_empty()) {
            Some(name) => find_container(ctx, name)?,
            None => c,
        };
        let resource = str_at(r, "resource").unwrap_or_default();
        return downward::resource_value(ctx, target, resource, divisor(r).as_deref()).map(Some);
    }
    Ok(None)
}

/// A `resourceFieldRef`'s divisor, which may be written as a number.
pub(super) fn divisor(r: &Value) -> Option<String> {
    match r.get("divisor")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The container or init container named `name`.
pub(super) fn find_container<'a>(
    ctx: &PodContext<'a>,
    name: &str,
) -> Result<&'a Value, ConfigError> {
    ["containers", "initContainers"]
        .into_iter()
        .flat_map(|list| array(&ctx.pod["spec"], list))
        .find(|c| str_at(c, "name") == Some(name))
        .ok_or_else(|| ConfigError::NoSuchContainer {
            name: name.to_owned(),
        })
}

fn key_ref(ctx: &PodContext, kind: RefKind, r: &Value) -> Result<Option<String>, ConfigError> {
    let name = str_at(r, "name").unwrap_or_default();
    let key = str_at(r, "key").unwrap_or_default();
    let optional = bool_at(r, "optional");
    let Some(obj) = ctx.lookup(kind, name) else {
        return if optional {
            Ok(None)
        } else {
            Err(not_found(kind, name))
        };
    };
    match data_value(&obj, kind, ctx.namespace, name, key)? {
        Some(bytes) => Ok(Some(lossy(bytes))),
        None if optional => Ok(None),
        None => Err(missing_key(kind, ctx.namespace, name, key)),
    }
}

pub(super) fn not_found(kind: RefKind, name: &str) -> ConfigError {
    let name = name.to_owned();
    match kind {
        RefKind::ConfigMap => ConfigError::ConfigMapNotFound { name },
        RefKind::Secret => ConfigError::SecretNotFound { name },
        RefKind::PersistentVolumeClaim => ConfigError::ClaimNotFound { name },
    }
}

fn missing_key(kind: RefKind, namespace: &str, name: &str, key: &str) -> ConfigError {
    let (key, namespace, name) = (key.to_owned(), namespace.to_owned(), name.to_owned());
    match kind {
        RefKind::Secret => ConfigError::SecretKeyNotFound {
            key,
            namespace,
            name,
        },
        _ => ConfigError::ConfigMapKeyNotFound {
            key,
            namespace,
            name,
        },
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A variable name as the API server accepts it: printable ASCII other than `=`.
fn is_env_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

/// Expands `$(NAME)` references as Kubernetes does: a known name becomes its value, an unknown
/// one stays as written, `$$` is a literal `$`, and any other `$` is kept.
pub(super) fn expand(input: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match after.chars().next() {
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(end) => {
                    let name = &after[1..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A mount's `subPathExpr` expanded with the container's environment. Every reference must name
/// a variable with a non-empty value, and the result must stay inside the volume.
pub(super) fn expand_sub_path(
    expr: &str,
    env: &HashMap<&str, &str>,
) -> Result<String, ConfigError> {
    let mut missing = BTreeSet::new();
    let path = expand(expr, |name| match env.get(name) {
        Some(v) if !v.is_empty() => Some((*v).to_owned()),
        _ => {
            missing.insert(name.to_owned());
            Some(String::new())
        }
    });
    if !missing.is_empty() {
        let names: Vec<String> = missing.into_iter().collect();
        return Err(ConfigError::SubPathMissing {
            names: names.join(", "),
        });
    }
    if path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(ConfigError::SubPathInvalid { path });
    }
    Ok(path)
}

#[cfg(test)]
#[path = "env_test.rs"]
mod tests;
