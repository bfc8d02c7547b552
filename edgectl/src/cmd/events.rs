//! `events` (kubectl's `events` verb) and the events part of `get events`: filtering by object
//! and type, ordering by the time an event was last seen, and kubectl's events table.

use anyhow::{Result, bail};
use clap::Args;
use futures::StreamExt;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Session;
use crate::client::{ListParams, RequestError};
use crate::output::{self, OutputFormat};
use crate::resources::ResourceType;
use crate::tabwriter::TabWriter;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only the events about this object, TYPE/NAME (e.g. pod/web-1).
    #[arg(long = "for", value_name = "TYPE/NAME")]
    pub for_object: Option<String>,
    /// Only events of these types, comma-separated: Normal, Warning.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// After listing, watch for new events.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Output format: json, yaml, name, jsonpath=TEMPLATE.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Do not print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Fetch large lists in chunks of this size.
    #[arg(long, default_value_t = 500)]
    pub chunk_size: u32,
}

/// kubectl's check of `--types`.
pub fn validate_types(types: &[String]) -> Result<()> {
    for t in types {
        if !t.eq_ignore_ascii_case("Normal") && !t.eq_ignore_ascii_case("Warning") {
            bail!("valid --types are Normal or Warning");
        }
    }
    Ok(())
}

/// Whether an event is of one of `types` (all types when none are given).
pub fn type_matches(event: &Value, types: &[String]) -> bool {
    let kind = text(event, "/type");
    types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(kind))
}

/// `--types` as a field selector: `type=Warning` for one type, nothing when both are wanted.
pub fn types_selector(types: &[String]) -> Option<String> {
    let normal = types.iter().any(|t| t.eq_ignore_ascii_case("Normal"));
    let warning = types.iter().any(|t| t.eq_ignore_ascii_case("Warning"));
    match (normal, warning) {
        (true, false) => Some("type=Normal".to_string()),
        (false, true) => Some("type=Warning".to_string()),
        _ => None,
    }
}

/// The clauses of several field selectors joined into one.
pub fn join_selectors<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    let parts: Vec<&str> = parts
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The field selector of `--for TYPE/NAME`, with the type resolved to its kind.
pub async fn for_selector(session: &mut Session, spec: &str) -> Result<String> {
    let (type_name, name) = match spec.split_once('/') {
        Some((t, n)) if !t.is_empty() && !n.is_empty() && !n.contains('/') => (t, n),
        _ => bail!("arguments in resource/name form must have a single resource and name"),
    };
    let resource = session.resolver.resolve(type_name).await?;
    Ok(format!(
        "involvedObject.kind={},involvedObject.name={name}",
        resource.kind
    ))
}

fn time_at(event: &Value, pointer: &str) -> Option<Timestamp> {
    event
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

/// The time kubectl sorts an event by: its series' last observation, else its last
/// timestamp, else its event time.
pub fn event_time(event: &Value) -> Option<Timestamp> {
    if event.get("series").is_some_and(Value::is_object) {
        return time_at(event, "/series/lastObservedTime");
    }
    time_at(event, "/lastTimestamp").or_else(|| time_at(event, "/eventTime"))
}

/// Oldest first; events without a time come first, as kubectl's zero time does.
pub fn sort_events(events: &mut [Value]) {
    events.sort_by_key(event_time);
}

/// The `LAST SEEN` (`describe`'s `Age`) text: `5m`, or `2m (x3 over 10m)` for a repeated event.
pub fn interval(event: &Value, now: Timestamp) -> String {
    let since = |t: Option<Timestamp>| edge_api::meta::age_since(t, now);
    let first = match time_at(event, "/eventTime") {
        Some(t) => since(Some(t)),
        None => since(time_at(event, "/firstTimestamp")),
    };
    if let Some(series) = event.get("series").filter(|s| s.is_object()) {
        let count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
        return format!(
            "{} (x{count} over {first})",
            since(time_at(event, "/series/lastObservedTime"))
        );
    }
    let count = event.get("count").and_then(Value::as_i64).unwrap_or(0);
    if count > 1 {
        return format!(
            "{} (x{count} over {first})",
            since(time_at(event, "/lastTimestamp"))
        );
    }
    first
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// kubectl `events`' table: `[NAMESPACE] LAST SEEN TYPE REASON OBJECT MESSAGE`, the object as
/// `Kind/name`.
pub fn render_events(
    events: &[Value],
    all_namespaces: bool,
    headers: bool,
    now: Timestamp,
) -> String {
    let mut table = TabWriter::new(6, 3);
    if headers {
        let mut row = Vec::new();
        if all_namespaces {
            row.push("NAMESPACE".to_string());
        }
        row.extend(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"].map(str::to_string));
        table.row(row);
    }
    for event in events {
        let mut row = Vec::new();
        if all_namespaces {
            row.push(text(event, "/metadata/namespace").to_string());
        }
        row.push(interval(event, now));
        row.push(text(event, "/type").to_string());
        row.push(text(event, "/reason").to_string());
        row.push(format!(
            "{}/{}",
            text(event, "/involvedObject/kind"),
            text(event, "/involvedObject/name")
        ));
        row.push(text(event, "/message").trim().to_string());
        table.row(row);
    }
    table.render()
}

/// kubectl's message when nothing matched.
pub fn no_events_message(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No events found in {ns} namespace."),
        None => "No events found.".to_string(),
    }
}

fn events_type() -> ResourceType {
    match edge_api::resource::by_kind("v1", "Event") {
        Some(info) => ResourceType::from(info),
        // The built-in table always serves core events; this keeps the path right regardless.
        None => ResourceType {
            group: String::new(),
            version: "v1".into(),
            kind: "Event".into(),
            plural: "events".into(),
            singular: "event".into(),
            namespaced: true,
            short_names: vec!["ev".into()],
            categories: Vec::new(),
            has_scale: false,
        },
    }
}

/// Whether `resource` is one of the two Event resources.
pub fn is_events(resource: &ResourceType) -> bool {
    resource.kind == "Event" && (resource.group.is_empty() || resource.group == "events.k8s.io")
}

/// Lists the events of a collection, every page, with `apiVersion` and `kind` set.
pub async fn list(
    session: &Session,
    resource: &ResourceType,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<Vec<Value>> {
    let list = session
        .client
        .list(&resource.path(namespace, None), params, "application/json")
        .await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut e| {
            if let Value::Object(map) = &mut e {
                map.entry("apiVersion")
                    .or_insert_with(|| json!(resource.api_version()));
                map.entry("kind").or_insert_with(|| json!(resource.kind));
            }
            e
        })
        .collect())
}

/// The `Table` of `get events`: built here from the events, ordered by last seen, because the
/// server's rows carry no times to sort by.
pub async fn sorted_table(
    session: &Session,
    resource: &ResourceType,
    params: &ListParams,
) -> Result<Value> {
    let mut events = list(session, resource, session.list_namespace(), params).await?;
    sort_events(&mut events);
    let info = edge_api::resource::by_kind(&resource.api_version(), &resource.kind)
        .or_else(|| edge_api::resource::by_kind("v1", "Event"));
    Ok(match info {
        Some(info) => edge_api::printers::table(info, &events, Timestamp::now()),
        None => super::get::as_table(json!({"items": events})),
    })
}

pub async fn run(session: &mut Session, args: EventsArgs) -> Result<()> {
    validate_types(&args.types)?;
    let format = OutputFormat::parse(args.output.as_deref())?;
    if matches!(format, OutputFormat::Wide) {
        bail!(
            "unable to match a printer suitable for the output format \"wide\", allowed formats are: json,jsonpath,name,yaml"
        );
    }
    let field_selector = match &args.for_object {
        Some(spec) => Some(for_selector(session, spec).await?),
        None => None,
    };
    let resource = events_type();
    let namespace = session.list_namespace().map(str::to_string);
    let params = ListParams {
        field_selector,
        limit: Some(args.chunk_size).filter(|n| *n > 0),
        ..ListParams::default()
    };
    let all_namespaces = session.all_namespaces();
    if args.watch {
        return watch(
            session,
            &resource,
            namespace.as_deref(),
            &params,
            &args,
            &format,
        )
        .await;
    }
    let mut events: Vec<Value> = list(session, &resource, namespace.as_deref(), &params)
        .await?
        .into_iter()
        .filter(|e| type_matches(e, &args.types))
        .collect();
    if events.is_empty() {
        eprintln!("{}", no_events_message(namespace.as_deref()));
        return Ok(());
    }
    sort_events(&mut events);
    match format {
        OutputFormat::Table => output::print(&render_events(
            &events,
            all_namespaces,
            !args.no_headers,
            Timestamp::now(),
        )),
        other => output::print_objects(&other, events, false),
    }
}

/// kubectl's `events -w`: every event the watch sends (existing ones first), except deletions.
async fn watch(
    session: &Session,
    resource: &ResourceType,
    namespace: Option<&str>,
    params: &ListParams,
    args: &EventsArgs,
    format: &OutputFormat,
) -> Result<()> {
    let path = resource.path(namespace, None);
    let mut headers = !args.no_headers;
    let mut version: Option<String> = None;
    loop {
        let watch_params = ListParams {
            resource_version: version.clone(),
            limit: None,
            ..params.clone()
        };
        let mut stream = match session
            .client
            .watch(&path, &watch_params, "application/json")
            .await
        {
            Ok(stream) => Box::pin(stream),
            Err(RequestError::Api(api)) if api.code() == 410 => {
                version = None;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(event) => event,
                Err(RequestError::Transport(_)) => break,
                Err(err) => return Err(err.into()),
            };
            if let Some(rv) = event
                .object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
            {
                version = Some(rv.to_string());
            }
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" if type_matches(&event.object, &args.types) => {
                    let text = match format {
                        OutputFormat::Table => render_events(
                            std::slice::from_ref(&event.object),
                            session.all_namespaces(),
                            headers,
                            Timestamp::now(),
                        ),
                        other => output::render_document(other, &event.object)?,
                    };
                    headers = false;
                    output::print(&text)?;
                }
                "ERROR" => {
                    let code = event.object.get("code").and_then(Value::as_u64);
                    if code == Some(410) {
                        version = None;
                        break;
                    }
                    bail!("watch failed: {}", text(&event.object, "/message").trim());
                }
                _ => {}
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
#[path = "events_test.rs"]
mod tests;
