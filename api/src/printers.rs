//! Server-side `Table` objects as `kubectl get` shows them, and rendering of tables to text.

mod cluster;
mod render;
mod workloads;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

pub use render::{RenderOptions, kind_prefix, render_table};
pub use workloads::pod_status;

use crate::meta;
use crate::resource::ResourceInfo;

/// One column of a table: name as kubectl shows it (upper-cased when rendered), JSON type,
/// format, and priority (0 always shown, 1 only with `-o wide`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: u8,
}

pub(crate) const fn col(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 0,
    }
}

pub(crate) const fn wide(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 1,
    }
}

pub(crate) const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};

pub(crate) const AGE: Column = col(
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// The columns and the cells of one row for a resource.
pub(crate) type RowFn = fn(&Value, Timestamp) -> Vec<Value>;

fn columns_for(info: &ResourceInfo) -> (Vec<Column>, RowFn) {
    match (info.group, info.kind) {
        ("", "Pod") => workloads::pods(),
        ("apps", "Deployment") => workloads::deployments(),
        ("apps", "ReplicaSet") => workloads::replica_sets(),
        ("apps", "DaemonSet") => workloads::daemon_sets(),
        ("apps", "StatefulSet") => workloads::stateful_sets(),
        ("apps", "ControllerRevision") => workloads::controller_revisions(),
        ("batch", "Job") => workloads::jobs(),
        ("batch", "CronJob") => workloads::cron_jobs(),
        ("", "Service") => cluster::services(),
        ("", "Endpoints") => cluster::endpoints(),
        ("discovery.k8s.io", "EndpointSlice") => cluster::endpoint_slices(),
        ("", "ConfigMap") => cluster::config_maps(),
        ("", "Secret") => cluster::secrets(),
        ("", "Namespace") => cluster::namespaces(),
        ("", "Node") => cluster::nodes(),
        ("", "Event") | ("events.k8s.io", "Event") => cluster::events(),
        ("coordination.k8s.io", "Lease") => cluster::leases(),
        ("", "PersistentVolumeClaim") => cluster::pvcs(),
        ("", "PersistentVolume") => cluster::pvs(),
        ("", "ServiceAccount") => cluster::service_accounts(),
        _ => (vec![NAME, AGE], |obj, now| {
            vec![name_cell(obj), json!(meta::age(obj, now))]
        }),
    }
}

pub(crate) fn name_cell(obj: &Value) -> Value {
    json!(meta::name(obj).unwrap_or_default())
}

/// Builds a `meta.k8s.io/v1` `Table` of `objects` (all of resource `info`) with kubectl's
/// columns; each row carries the object's metadata as `PartialObjectMetadata`.
pub fn table(info: &ResourceInfo, objects: &[Value], now: Timestamp) -> Value {
    let (columns, row) = columns_for(info);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut metadata = obj.get("metadata").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
            metadata.remove("managedFields");
            json!({
                "cells": row(obj, now),
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": definitions,
        "rows": rows
    })
}

/// `<none>` for empty strings, as kubectl prints missing values.
pub(crate) fn or_none(s: &str) -> Value {
    if s.is_empty() {
        json!("<none>")
    } else {
        json!(s)
    }
}

/// A string at a JSON pointer, or `""`.
pub(crate) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// An integer at a JSON pointer, or 0.
pub(crate) fn int_at(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or_default()
}

/// The array at a JSON pointer, or empty.
pub(crate) fn arr_at<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A timestamp at a JSON pointer.
pub(crate) fn time_at(obj: &Value, pointer: &str) -> Option<Timestamp> {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// `k=v,k=v` for a map of labels, sorted by key; `<none>` when empty.
pub(crate) fn labels_string(map: Option<&Value>) -> Value {
    let mut parts: Vec<String> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    or_none(&parts.join(","))
}

#[cfg(test)]
#[path = "printers/printers_test.rs"]
mod tests;
