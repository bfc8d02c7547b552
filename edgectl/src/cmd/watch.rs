//! `get -w`: the table, then one row per watch event; reconnects from the last resourceVersion and re-lists on 410.

use std::time::Duration;

use anyhow::{Result, bail};
use edge_api::printers::{RenderOptions, render_table};
use futures::StreamExt;
use serde_json::Value;

use super::Session;
use super::get::{GetArgs, as_table, no_resources_message, render_options};
use crate::client::{ListParams, RequestError, TABLE_ACCEPT, WatchEvent};
use crate::output::{self, OutputFormat};
use crate::resources::ResourceType;

/// What the watch loop does after an event.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Print this object (a one-row table or a plain object) and remember the version.
    Print(Value, Option<String>),
    /// Only remember the version (bookmarks).
    Remember(String),
    /// The version is too old: list again.
    Relist,
    Fail(String),
}

/// Decides what an event means, without doing any I/O.
pub fn classify(event: &WatchEvent) -> Next {
    let version = |object: &Value| {
        object
            .pointer("/metadata/resourceVersion")
            .or_else(|| object.pointer("/rows/0/object/metadata/resourceVersion"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match event.kind.as_str() {
        "BOOKMARK" => version(&event.object).map_or(Next::Remember(String::new()), Next::Remember),
        "ERROR" => {
            let code = event.object.get("code").and_then(Value::as_u64);
            let reason = event.object.get("reason").and_then(Value::as_str);
            if code == Some(410) || reason == Some("Expired") || reason == Some("Gone") {
                Next::Relist
            } else {
                Next::Fail(
                    event
                        .object
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("watch failed")
                        .to_string(),
                )
            }
        }
        _ => Next::Print(event.object.clone(), version(&event.object)),
    }
}

pub async fn run(
    session: &mut Session,
    args: &GetArgs,
    format: &OutputFormat,
    targets: &[(ResourceType, Vec<String>)],
) -> Result<()> {
    let [(resource, names)] = targets else {
        bail!(
            "watch is only supported on individual resources and resource collections, but {} resources were found",
            targets.len()
        );
    };
    if names.len() > 1 {
        bail!(
            "watch is only supported on individual resources and resource collections, but {} resources were found",
            names.len()
        );
    }
    let table = format.wants_table();
    let accept = if table {
        TABLE_ACCEPT
    } else {
        "application/json"
    };
    let namespace = if names.is_empty() {
        session.list_namespace().map(str::to_string)
    } else {
        Some(session.namespace().to_string())
    };
    let path = resource.path(namespace.as_deref(), None);
    let field_selector = match (names.first(), &args.field_selector) {
        (Some(name), Some(selector)) => Some(format!("metadata.name={name},{selector}")),
        (Some(name), None) => Some(format!("metadata.name={name}")),
        (None, selector) => selector.clone(),
    };
    let params = ListParams {
        label_selector: args.selector.clone(),
        field_selector,
        ..ListParams::default()
    };
    let mut printer = EventPrinter {
        format,
        options: render_options(format, session.all_namespaces(), args, false, resource),
        headers_printed: args.no_headers,
        columns: None,
    };

    let mut version = if args.watch_only {
        None
    } else {
        let (version, empty) =
            list_and_print(session, &path, &params, accept, &mut printer).await?;
        if empty && table {
            eprintln!(
                "{}",
                no_resources_message(namespace.as_deref().filter(|_| resource.namespaced))
            );
        }
        version
    };
    loop {
        let watch_params = ListParams {
            resource_version: version.clone(),
            ..params.clone()
        };
        let mut events = match session.client.watch(&path, &watch_params, accept).await {
            Ok(events) => Box::pin(events),
            Err(RequestError::Api(api)) if api.code() == 410 => {
                version = list_and_print(session, &path, &params, accept, &mut printer)
                    .await?
                    .0;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                // A broken connection: reconnect from the last version seen.
                Err(RequestError::Transport(_)) => break,
                Err(err) => return Err(err.into()),
            };
            match classify(&event) {
                Next::Print(object, seen) => {
                    printer.print(object)?;
                    version = seen.or(version);
                }
                Next::Remember(seen) if !seen.is_empty() => version = Some(seen),
                Next::Remember(_) => {}
                Next::Relist => {
                    version = list_and_print(session, &path, &params, accept, &mut printer)
                        .await?
                        .0;
                    break;
                }
                Next::Fail(message) => bail!("watch failed: {message}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Lists, prints everything, and returns the list's resourceVersion and whether it was empty.
async fn list_and_print(
    session: &Session,
    path: &str,
    params: &ListParams,
    accept: &str,
    printer: &mut EventPrinter<'_>,
) -> Result<(Option<String>, bool)> {
    let list = session.client.list(path, params, accept).await?;
    let version = list
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let empty;
    if printer.format.wants_table() {
        let table = as_table(list);
        empty = table
            .get("rows")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if !empty {
            printer.print(table)?;
        }
    } else {
        let items = list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        empty = items.is_empty();
        for item in items {
            printer.print(item)?;
        }
    }
    Ok((version, empty))
}

struct EventPrinter<'a> {
    format: &'a OutputFormat,
    options: RenderOptions,
    headers_printed: bool,
    /// The server sends column definitions with the first table only, as Kubernetes does.
    columns: Option<Value>,
}

impl EventPrinter<'_> {
    fn print(&mut self, object: Value) -> Result<()> {
        if !self.format.wants_table() {
            let text = crate::output::render_document(self.format, &object)?;
            return output::print(&text);
        }
        let mut table = as_table(object);
        match table.get("columnDefinitions") {
            Some(Value::Array(columns)) if !columns.is_empty() => {
                self.columns = Some(Value::Array(columns.clone()))
            }
            _ => {
                if let (Some(columns), Some(map)) = (&self.columns, table.as_object_mut()) {
                    map.insert("columnDefinitions".into(), columns.clone());
                }
            }
        }
        let options = RenderOptions {
            no_headers: self.headers_printed,
            ..self.options.clone()
        };
        self.headers_printed = true;
        output::print(&render_table(&table, &options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, object: Value) -> WatchEvent {
        WatchEvent {
            kind: kind.to_string(),
            object,
        }
    }

    #[test]
    fn events_are_classified() {
        let row = json!({"kind": "Table", "rows": [{"cells": ["web"], "object": {"metadata": {"resourceVersion": "12"}}}]});
        assert_eq!(
            classify(&event("ADDED", row.clone())),
            Next::Print(row, Some("12".into()))
        );
        let bookmark = json!({"kind": "Pod", "metadata": {"resourceVersion": "40"}});
        assert_eq!(
            classify(&event("BOOKMARK", bookmark)),
            Next::Remember("40".into())
        );
        let gone = json!({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"});
        assert_eq!(classify(&event("ERROR", gone)), Next::Relist);
        let other = json!({"kind": "Status", "code": 500, "message": "boom"});
        assert_eq!(classify(&event("ERROR", other)), Next::Fail("boom".into()));
    }
}
