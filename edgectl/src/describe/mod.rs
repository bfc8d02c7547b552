//! kubectl-style `describe` text for objects: per-kind formatters and a generic fallback.

mod cluster;
mod controllers;
mod pod;
pub mod workloads;

use serde_json::Value;

use crate::tabwriter::TabWriter;

/// Lines at indentation levels, aligned as kubectl's describe output (Go tabwriter, padding 2).
pub struct Writer {
    table: TabWriter,
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            table: TabWriter::new(0, 2),
        }
    }

    /// Writes `text` (which may contain tabs and newlines) indented by two spaces per level.
    pub fn line(&mut self, level: usize, text: &str) {
        let indent = "  ".repeat(level);
        for line in text.split('\n') {
            self.table.write(&format!("{indent}{line}"));
        }
    }

    pub fn finish(self) -> String {
        self.table.render()
    }

    /// `Labels:` with one `key=value` per line, sorted, or `<none>`.
    pub fn labels(&mut self, level: usize, title: &str, map: Option<&Value>) {
        let mut pairs: Vec<String> = map
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", str_of(v)))
            .collect();
        pairs.sort();
        self.multiline(level, title, &pairs);
    }

    /// `Annotations:` with `key: value` per line, without the last-applied configuration, as kubectl.
    pub fn annotations(&mut self, level: usize, map: Option<&Value>) {
        let mut pairs: Vec<String> = map
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != crate::cmd::apply::LAST_APPLIED)
            .map(|(k, v)| format!("{k}: {}", str_of(v)))
            .collect();
        pairs.sort();
        self.multiline(level, "Annotations", &pairs);
    }

    fn multiline(&mut self, level: usize, title: &str, values: &[String]) {
        match values.split_first() {
            None => self.line(level, &format!("{title}:\t<none>")),
            Some((first, rest)) => {
                self.line(level, &format!("{title}:\t{first}"));
                for value in rest {
                    self.line(level, &format!("\t{value}"));
                }
            }
        }
    }

    /// The `Events:` section.
    pub fn events(&mut self, events: &[Value], now: jiff::Timestamp) {
        if events.is_empty() {
            self.line(0, "Events:\t<none>");
            return;
        }
        self.line(0, "Events:");
        self.line(1, "Type\tReason\tAge\tFrom\tMessage");
        self.line(1, "----\t------\t----\t----\t-------");
        for event in events {
            let time = [
                "/lastTimestamp",
                "/eventTime",
                "/firstTimestamp",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find_map(|p| event.pointer(p).and_then(Value::as_str))
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let mut age = edge_api::meta::age_since(time, now);
            let count = event.get("count").and_then(Value::as_u64).unwrap_or(1);
            if count > 1 {
                let first = event
                    .pointer("/firstTimestamp")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok());
                age = format!(
                    "{age} (x{count} over {})",
                    edge_api::meta::age_since(first, now)
                );
            }
            let from = [
                "/source/component",
                "/reportingComponent",
                "/reportingController",
            ]
            .iter()
            .find_map(|p| {
                event
                    .pointer(p)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or("");
            self.line(
                1,
                &format!(
                    "{}\t{}\t{age}\t{from}\t{}",
                    text(event, "/type"),
                    text(event, "/reason"),
                    text(event, "/message").trim()
                ),
            );
        }
    }
}

/// The string at `pointer`, or empty.
pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The value at `pointer` as text (numbers and booleans too), or `default`.
pub fn text_or(value: &Value, pointer: &str, default: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::Null) | None => default.to_string(),
        Some(Value::String(s)) if s.is_empty() => default.to_string(),
        Some(v) => str_of(v),
    }
}

fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// kubectl's describe time format: `Mon, 02 Jan 2006 15:04:05 +0000`.
pub fn format_time(value: &Value, pointer: &str) -> String {
    match value
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    {
        Some(t) => t.strftime("%a, %d %b %Y %H:%M:%S %z").to_string(),
        None => "<unset>".to_string(),
    }
}

/// `Controlled By:  ReplicaSet/web-abc` when the object has a controller.
pub fn controlled_by(w: &mut Writer, object: &Value) {
    if let Some(owner) = edge_api::meta::controller_ref(object) {
        w.line(
            0,
            &format!(
                "Controlled By:\t{}/{}",
                text(owner, "/kind"),
                text(owner, "/name")
            ),
        );
    }
}

/// The heading every description starts with.
pub fn header(w: &mut Writer, object: &Value, namespaced: bool) {
    w.line(0, &format!("Name:\t{}", text(object, "/metadata/name")));
    if namespaced {
        w.line(
            0,
            &format!("Namespace:\t{}", text(object, "/metadata/namespace")),
        );
    }
}

/// The description of an object followed by its events; `pods` are the pods a DaemonSet or
/// StatefulSet selects (for its `Pods Status` line).
pub fn describe(object: &Value, events: &[Value], pods: &[Value], now: jiff::Timestamp) -> String {
    let mut w = Writer::new();
    match (text(object, "/apiVersion"), text(object, "/kind")) {
        ("v1", "Pod") => pod::describe(&mut w, object, now),
        ("apps/v1", "Deployment") => workloads::deployment(&mut w, object),
        ("apps/v1", "ReplicaSet") => workloads::replica_set(&mut w, object),
        ("apps/v1", "DaemonSet") => controllers::daemon_set(&mut w, object, pods),
        ("apps/v1", "StatefulSet") => controllers::stateful_set(&mut w, object, pods),
        ("batch/v1", "Job") => controllers::job(&mut w, object),
        ("batch/v1", "CronJob") => controllers::cron_job(&mut w, object),
        ("v1", "Service") => cluster::service(&mut w, object),
        ("v1", "ConfigMap") => cluster::config_map(&mut w, object),
        ("v1", "Secret") => cluster::secret(&mut w, object),
        ("v1", "Namespace") => cluster::namespace(&mut w, object),
        ("v1", "Node") => cluster::node(&mut w, object),
        _ => generic(&mut w, object),
    }
    w.events(events, now);
    w.finish()
}

/// Any other kind: the metadata kubectl shows, then every other field as indented `Key:  value`.
fn generic(w: &mut Writer, object: &Value) {
    header(w, object, object.pointer("/metadata/namespace").is_some());
    w.labels(0, "Labels", object.pointer("/metadata/labels"));
    w.annotations(0, object.pointer("/metadata/annotations"));
    w.line(0, &format!("API Version:\t{}", text(object, "/apiVersion")));
    w.line(0, &format!("Kind:\t{}", text(object, "/kind")));
    for (key, value) in object.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        fields(w, 0, key, value);
    }
}

fn fields(w: &mut Writer, level: usize, key: &str, value: &Value) {
    let label = smart_label(key);
    match value {
        Value::Object(map) if map.is_empty() => w.line(level, &format!("{label}:")),
        Value::Object(map) => {
            w.line(level, &format!("{label}:"));
            for (k, v) in map {
                fields(w, level + 1, k, v);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            w.line(level, &format!("{label}:"));
            for item in items {
                w.line(level + 1, &str_of(item));
            }
        }
        Value::Array(items) => {
            w.line(level, &format!("{label}:"));
            for item in items {
                match item.as_object() {
                    Some(map) => {
                        for (k, v) in map {
                            fields(w, level + 1, k, v);
                        }
                    }
                    None => w.line(level + 1, &str_of(item)),
                }
            }
        }
        other => w.line(level, &format!("{label}:\t{}", str_of(other))),
    }
}

/// `containerPort` → `Container Port`, as kubectl labels fields of unknown kinds.
pub fn smart_label(key: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let boundary = i > 0
            && c.is_uppercase()
            && (chars[i - 1].is_lowercase()
                || chars.get(i + 1).is_some_and(|n| n.is_lowercase())
                    && chars[i - 1].is_uppercase());
        if boundary {
            out.push(' ');
        }
        if i == 0 {
            out.extend(c.to_uppercase())
        } else {
            out.push(c)
        }
    }
    out
}

#[cfg(test)]
mod tests;
