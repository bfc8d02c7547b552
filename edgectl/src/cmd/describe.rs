//! `describe TYPE [NAME]`: fetches the objects and their events and prints kubectl-style descriptions.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::get::{parse_resource_args, resolve_requests, validate_selectors};
use super::{AlreadyReported, Session};
use crate::client::ListParams;
use crate::output;

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// TYPE [NAME...] or TYPE/NAME.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// Describe the objects matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

pub async fn run(session: &mut Session, args: DescribeArgs) -> Result<()> {
    validate_selectors(args.selector.as_deref(), None)?;
    let requests = parse_resource_args(&args.resources)?;
    let mut failed = false;
    let mut objects = Vec::new();
    for (resource, names) in resolve_requests(session, &requests).await? {
        if names.is_empty() {
            let params = ListParams {
                label_selector: args.selector.clone(),
                ..ListParams::default()
            };
            let list_namespace = if resource.namespaced {
                session.list_namespace()
            } else {
                None
            };
            let list = session
                .client
                .list(
                    &resource.path(list_namespace, None),
                    &params,
                    "application/json",
                )
                .await?;
            let items = list
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if items.is_empty() {
                eprintln!("{}", super::get::no_resources_message(list_namespace));
            }
            for mut item in items {
                item["apiVersion"] = Value::String(resource.api_version());
                item["kind"] = Value::String(resource.kind.clone());
                objects.push(item);
            }
        }
        for name in names {
            match session
                .client
                .get(&resource.path(Some(session.namespace()), Some(&name)))
                .await
            {
                Ok(object) => objects.push(object),
                Err(err) => {
                    failed = true;
                    super::report_and_continue(&err.into());
                }
            }
        }
    }
    let now = jiff::Timestamp::now();
    let mut first = true;
    for object in objects {
        let events = events_for(session, &object).await;
        let pods = selected_pods(session, &object).await;
        let text = crate::describe::describe(&object, &events, &pods, now);
        output::print(&format!("{}{text}", if first { "" } else { "\n\n" }))?;
        first = false;
    }
    if failed {
        Err(AlreadyReported.into())
    } else {
        Ok(())
    }
}

/// The pods a DaemonSet or StatefulSet selects (by its `matchLabels`); none for other kinds
/// or when they cannot be read.
async fn selected_pods(session: &Session, object: &Value) -> Vec<Value> {
    let kind = object
        .pointer("/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let labels = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object);
    let (Some(labels), "DaemonSet" | "StatefulSet") = (labels, kind) else {
        return Vec::new();
    };
    let selector: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let params = ListParams {
        label_selector: Some(selector.join(",")),
        ..ListParams::default()
    };
    items(
        session,
        &format!("/api/v1/namespaces/{namespace}/pods"),
        &params,
    )
    .await
}

/// The items of a list; none when it cannot be read (describe still helps).
async fn items(session: &Session, path: &str, params: &ListParams) -> Vec<Value> {
    match session.client.list(path, params, "application/json").await {
        Ok(list) => list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// The events about an object, oldest first; none when they cannot be read (describe still helps).
async fn events_for(session: &Session, object: &Value) -> Vec<Value> {
    let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) else {
        return Vec::new();
    };
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let params = ListParams {
        field_selector: Some(format!("involvedObject.uid={uid}")),
        ..ListParams::default()
    };
    let path = format!("/api/v1/namespaces/{namespace}/events");
    let mut events = items(session, &path, &params).await;
    let time = |e: &Value| -> String {
        [
            "/lastTimestamp",
            "/eventTime",
            "/firstTimestamp",
            "/metadata/creationTimestamp",
        ]
        .iter()
        .find_map(|p| e.pointer(p).and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
    };
    events.sort_by_key(time);
    events
}
