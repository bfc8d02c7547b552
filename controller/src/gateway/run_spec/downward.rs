//! The downward API: pod fields (`fieldRef`) and container resources (`resourceFieldRef`) as
//! the strings the kubelet gives environment variables and downward API files.

use std::fmt::Write as _;

use edge_api::quantity::parse_quantity;
use serde_json::Value;

use super::{ConfigError, PodContext, array, str_at};

/// The value of `fieldPath` for the pod: `metadata.name|namespace|uid`, `metadata.labels` and
/// `metadata.annotations` (whole maps as `k="v"` lines), `metadata.labels['k']`,
/// `metadata.annotations['k']`, `spec.nodeName`, `spec.serviceAccountName`, and
/// `status.podIP(s)` / `status.hostIP(s)` as far as the pod's status knows them (empty before).
pub(super) fn field_value(pod: &Value, path: &str) -> Result<String, ConfigError> {
    let metadata = &pod["metadata"];
    if let Some((map, key)) = subscripted(path) {
        let field = match map {
            "metadata.labels" => "labels",
            "metadata.annotations" => "annotations",
            _ => return Err(unsupported(path)),
        };
        return Ok(str_at(&metadata[field], key).unwrap_or_default().to_owned());
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let ips = |list: &str, single: &str| {
        let all: Vec<&str> = array(&pod["status"], list)
            .iter()
            .filter_map(|ip| str_at(ip, "ip"))
            .collect();
        if all.is_empty() {
            str_at(&pod["status"], single)
                .unwrap_or_default()
                .to_owned()
        } else {
            all.join(",")
        }
    };
    Ok(match path {
        "metadata.name" => text(&metadata["name"]),
        "metadata.namespace" => text(&metadata["namespace"]),
        "metadata.uid" => text(&metadata["uid"]),
        "metadata.labels" => format_map(&metadata["labels"]),
        "metadata.annotations" => format_map(&metadata["annotations"]),
        "spec.nodeName" => text(&pod["spec"]["nodeName"]),
        "spec.serviceAccountName" => text(&pod["spec"]["serviceAccountName"]),
        "status.podIP" => text(&pod["status"]["podIP"]),
        "status.hostIP" => text(&pod["status"]["hostIP"]),
        "status.podIPs" => ips("podIPs", "podIP"),
        "status.hostIPs" => ips("hostIPs", "hostIP"),
        _ => return Err(unsupported(path)),
    })
}

fn unsupported(path: &str) -> ConfigError {
    ConfigError::FieldPath {
        path: path.to_owned(),
    }
}

/// `metadata.labels['key']` → `("metadata.labels", "key")`.
fn subscripted(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (map, key) = inner.split_once("['")?;
    Some((map, key))
}

/// A label or annotation map as the kubelet writes it to a downward API file: `key="value"`
/// lines sorted by key, values quoted as Go's `%q` does, no trailing newline.
pub(super) fn format_map(map: &Value) -> String {
    let Some(map) = map.as_object() else {
        return String::new();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let lines: Vec<String> = keys
        .into_iter()
        .map(|k| format!("{k}={}", go_quote(map[k].as_str().unwrap_or_default())))
        .collect();
    lines.join("\n")
}

/// A string quoted as Go's `strconv.Quote`, for the characters that matter here: quotes,
/// backslashes and control characters are escaped, printable text is kept.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of `resource` (`limits.cpu`, `requests.memory`, `limits.ephemeral-storage`, ...)
/// of `container`, divided by `divisor` and rounded up. A limit the container does not set is
/// the node's allocatable amount, as the kubelet reports it.
pub(super) fn resource_value(
    ctx: &PodContext,
    container: &Value,
    resource: &str,
    divisor: Option<&str>,
) -> Result<String, ConfigError> {
    let (section, name) = resource
        .split_once('.')
        .filter(|(s, n)| {
            matches!(*s, "limits" | "requests")
                && (matches!(*n, "cpu" | "memory" | "ephemeral-storage")
                    || n.starts_with("hugepages-"))
        })
        .ok_or_else(|| ConfigError::Resource {
            resource: resource.to_owned(),
        })?;
    let set = str_at(&container["resources"][section], name).and_then(|q| parse_quantity(q).ok());
    let amount = match set {
        Some(q) => Some(q),
        None if section == "limits" && !name.starts_with("hugepages-") => {
            node_allocatable(ctx, name)
        }
        None => None,
    };
    let bad_divisor = || ConfigError::Divisor {
        resource: resource.to_owned(),
        divisor: divisor.unwrap_or_default().to_owned(),
    };
    let divisor = parse_quantity(divisor.filter(|d| !d.is_empty()).unwrap_or("1"))
        .map_err(|_| bad_divisor())?;
    // CPU counts in millicores (so that a divisor of `1m` works); the rest in whole units.
    let (value, unit) = if name == "cpu" {
        (amount.map_or(0, |q| q.milli_value()), divisor.milli_value())
    } else {
        (amount.map_or(0, |q| q.value()), divisor.value())
    };
    if unit <= 0 {
        return Err(bad_divisor());
    }
    Ok(ceil_div(value, unit).to_string())
}

fn node_allocatable(ctx: &PodContext, name: &str) -> Option<edge_api::quantity::Quantity> {
    let node_name = str_at(ctx.spec(), "nodeName")?;
    let node = ctx.refs.node(node_name)?;
    parse_quantity(str_at(&node["status"]["allocatable"], name)?).ok()
}

fn ceil_div(n: i64, d: i64) -> i64 {
    let q = n / d;
    if n % d != 0 && n > 0 { q + 1 } else { q }
}
